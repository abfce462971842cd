#!/usr/bin/env python3
"""Record tshark's per-frame fields for every sample capture, once.

    python scripts/record_tshark.py [--tshark PATH] [CAPTURE ...]

Runs tshark (the one on PATH unless --tshark says otherwise) over every
capture under sample_captures/ (``.pcap``, ``.pcapng``, ``.gz``, broken ones
included) with checksum validation on, asking for the fields pcapan promises
to match (``pcap_analyzer.tshark.RECORD_FIELDS``), and writes one record per
capture into tests/oracle/tshark-MAJOR.MINOR/ (``crafted/x.pcap`` becomes
``crafted__x.pcap.tsv``).  The tests read the folder of every release pcapan
follows (4.0, 4.4, 4.6), each compared with pcapan following that release.

With CAPTURE arguments only those are recorded; without, records whose
capture is gone are removed too.  See tests/oracle/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pcap_analyzer import tshark  # noqa: E402
from pcap_analyzer.vocabulary import WIRESHARK_VERSIONS  # noqa: E402

CAPTURE_EXTS = (".pcap", ".pcapng", ".gz")


def captures(samples: Path) -> list[Path]:
    return sorted(p for p in samples.rglob("*") if p.is_file() and p.name.endswith(CAPTURE_EXTS))


def record_one(capture: Path, samples: Path, out: Path, version: str, exe: str) -> tuple[Path, tshark.Run]:
    rel = capture.relative_to(samples).as_posix()
    # Run from the samples folder with the relative path, so that tshark's
    # messages name the capture the same way from any checkout.
    r = tshark.run(rel, tshark.RECORD_FIELDS, tshark=exe, cwd=samples)
    if r.exit_status != 0 and not r.damage:
        raise tshark.TsharkError(f"tshark exited {r.exit_status} on {rel}: {r.stderr or '(no message)'}")
    text = tshark.format_record(r, version, rel, tshark.sha256(capture), capture.stat().st_size)
    dest = out / tshark.record_name(rel)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)
    return dest, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("captures", nargs="*", type=Path, help="only these captures (under --samples)")
    ap.add_argument("--tshark", default="tshark",
                    help="tshark to run (default: the one on PATH), e.g. /opt/tshark-4.4/tshark")
    ap.add_argument("--samples", type=Path, default=ROOT / "sample_captures")
    ap.add_argument("--out", type=Path, help="default: tests/oracle/tshark-MAJOR.MINOR")
    ns = ap.parse_args()

    version = tshark.version_line(ns.tshark)
    major, minor, _patch = tshark.parse_version(version)
    out = ns.out or ROOT / "tests" / "oracle" / f"tshark-{major}.{minor}"
    samples = ns.samples.resolve()
    if f"{major}.{minor}" not in WIRESHARK_VERSIONS:
        print(f"note: {version}; pcapan follows {', '.join(WIRESHARK_VERSIONS)} only, so the tests do not "
              f"read {out}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)

    todo = [p.resolve() for p in ns.captures] if ns.captures else captures(samples)
    outside = [p for p in todo if samples not in p.parents]
    if outside:
        ap.error(f"not under {samples}: {', '.join(map(str, outside))}")
    with ThreadPoolExecutor(os.cpu_count() or 1) as ex:
        done = list(ex.map(lambda p: record_one(p, samples, out, version, ns.tshark), todo))
    for dest, r in done:
        note = f" (exit {r.exit_status}: {r.damage})" if r.exit_status else ""
        print(f"{dest.relative_to(out)}: {len(r.fields)} frames{note}")

    if not ns.captures:
        wanted = {tshark.record_name(p.relative_to(samples)) for p in todo}
        for stale in sorted(out.glob("*" + tshark.RECORD_SUFFIX)):
            if stale.name not in wanted:
                stale.unlink()
                print(f"{stale.name}: removed (its capture is gone)")
    print(f"{len(done)} records in {out} from {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
