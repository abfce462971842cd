#!/usr/bin/env python3
"""Compare pcapan with tshark on captures: stream, relative seq/ack (and flags).

    python scripts/compare_tshark.py [--flags] [--wireshark 4.4] [--cache DIR] CAPTURE_OR_DIR ...

Prints one line per capture that disagrees and a total: the share of TCP
frames whose stream and relative numbers match tshark's.  pcapan follows
the rules of --wireshark (default 4.6) and is compared with a tshark of that
release (found as pcap_analyzer.tshark.find does, or --tshark).  With
--cache, tshark's fields are kept per capture and release under DIR, so a
second run only runs pcapan.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pcap_analyzer import CaptureError, analyze, tshark  # noqa: E402
from pcap_analyzer.vocabulary import UnknownWireshark, wireshark_version  # noqa: E402

EXTS = (".pcap", ".pcapng", ".cap", ".gz", ".dmp", ".trace")


def captures(args):
    for a in args:
        if os.path.isdir(a):
            for root, _dirs, files in os.walk(a):
                for f in sorted(files):
                    if f.endswith(EXTS):
                        yield os.path.join(root, f)
        else:
            yield a


def tshark_fields(path: str, exe: str, cache: str | None):
    """tshark's fields for *path* (damaged captures up to the damage), from *cache* when kept there."""
    where = None
    if cache:
        st = os.stat(path)
        key = f"{tshark.version_line(exe)}|{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        where = os.path.join(cache, hashlib.sha256(key.encode()).hexdigest() + ".pkl")
        if os.path.exists(where):
            with open(where, "rb") as f:
                return pickle.load(f)
    # pcapan reads a damaged capture up to the damage; so does tshark.
    ts = tshark.fields(path, damaged_ok=True, tshark=exe)
    if where:
        tmp = f"{where}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(ts, f)
        os.replace(tmp, where)
    return ts


def one(job):
    path, flags, checksums, wireshark, exe, cache = job
    try:
        a = analyze(path, wireshark=wireshark)
    except CaptureError as exc:
        return path, None, str(exc)
    except Exception as exc:  # report, keep going
        return path, None, f"CRASH {type(exc).__name__}: {exc}"
    try:
        ts = tshark_fields(path, exe, cache)
    except Exception as exc:
        return path, None, f"tshark failed: {exc}"
    c = tshark.compare(a.packets, ts, check_flags=flags, check_checksums=checksums, release=wireshark)
    return path, c, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--flags", action="store_true", help="compare analysis flags too")
    ap.add_argument("--checksums", action="store_true", help="compare checksum verdicts too")
    ap.add_argument("--wireshark", default=None,
                    help="the release whose rules pcapan follows and whose tshark it is compared with "
                         "(default: PCAPAN_WIRESHARK, else 4.6)")
    ap.add_argument("--tshark", help="the tshark to compare with (default: one of --wireshark's release)")
    ap.add_argument("--cache", help="keep tshark's fields per capture in this folder")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count())
    ns = ap.parse_args()
    try:
        wireshark = wireshark_version(ns.wireshark)
    except UnknownWireshark as exc:
        ap.error(str(exc))
    exe = ns.tshark or tshark.find(wireshark)
    if exe is None:
        ap.error(f"no tshark {wireshark} found (give --tshark PATH or set {tshark.TSHARK_ENV})")
    if ns.cache:
        os.makedirs(ns.cache, exist_ok=True)
    print(f"pcapan with Wireshark {wireshark}'s rules against {tshark.version_line(exe)}")
    tcp = bad = ck_frames = ck_bad = 0
    flag_totals: dict[str, list[int]] = {}   # label -> [tshark, pcapan, tshark only, pcapan only]
    per_kind: dict[str, int] = {}
    with ProcessPoolExecutor(ns.jobs) as ex:
        for path, c, err in ex.map(one, [(p, ns.flags, ns.checksums, wireshark, exe, ns.cache) for p in captures(ns.paths)]):
            if c is None:
                if err and err.startswith("CRASH"):
                    print(f"{path}: {err}")
                continue
            tcp += c.tcp_frames
            for label, (t_n, o_n) in c.flag_counts.items():
                row = flag_totals.setdefault(label, [0, 0, 0, 0])
                row[0] += t_n
                row[1] += o_n
                row[2] += len(c.mismatches.get(f"{label} (tshark only)", []))
                row[3] += len(c.mismatches.get(f"{label} (pcapan only)", []))
            ck_frames += c.checksum_frames
            ck_bad += sum(len(v) for k, v in c.mismatches.items() if "checksum" in k)
            wrong = set()
            for k, v in c.mismatches.items():
                per_kind[k] = per_kind.get(k, 0) + len(v)
                if k != "frame count" and "checksum" not in k:
                    wrong.update(v)
            bad += len(wrong)
            if not c.ok:
                print(f"{path}: {c.describe()}")
    share = 100.0 * (tcp - bad) / tcp if tcp else 100.0
    print(f"TOTAL: {tcp} TCP frames, {bad} frames with a mismatch: {share:.3f}% agree")
    if flag_totals:
        print(f"{'flag':<26} {'tshark':>8} {'pcapan':>8} {'precision':>10} {'recall':>8}")
        for label, (t_n, o_n, fn, fp) in flag_totals.items():
            tp = t_n - fn
            prec = tp / (tp + fp) if tp + fp else 1.0
            rec = tp / t_n if t_n else 1.0
            print(f"{label:<26} {t_n:>8} {o_n:>8} {prec:>10.4f} {rec:>8.4f}")
    if ns.checksums:
        print(f"CHECKSUMS: {ck_frames} verdicts compared, {ck_bad} differ: "
              f"{100.0 * (ck_frames - ck_bad) / max(ck_frames, 1):.3f}% agree")
    for k, v in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
