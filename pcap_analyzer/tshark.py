"""Side-by-side comparison with tshark, the reference we agree with.

Used by the oracle tests, ``scripts/record_tshark.py`` and
``scripts/compare_tshark.py``.  tshark is run with checksum validation on, so
its checksum verdicts can be compared too; the fields asked for are the ones
pcapan promises to match.

tshark's per-frame fields for the sample captures are recorded once
once per Wireshark release pcapan follows (``tests/oracle/tshark-4.0/``,
``tshark-4.4/``, ``tshark-4.6/``) and read back with :func:`load_record`, so
each release's rules are checked without tshark; :func:`fields` asks an
installed tshark, and :func:`find` finds one of a given release.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .vocabulary import LABELS

# Wireshark's analysis flag fields and the label pcapan gives each (from the vocabulary).
ANALYSIS_FLAGS = {label.wireshark: label.name for label in LABELS if label.wireshark}

BASE_FIELDS = ("frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "udp.stream",
               "tcp.checksum.status", "udp.checksum.status", "ip.checksum.status",
               "tcp.analysis.ack_rtt", "tcp.analysis.initial_rtt", "tcp.analysis.acks_frame",
               "tcp.analysis.duplicate_ack_num", "tcp.analysis.duplicate_ack_frame",
               "tcp.analysis.bytes_in_flight")

# Fields compared when present (see compare): tshark field -> packets column.
# Decoding facts, compared on every frame tshark shows them for.
DECODE_FIELDS = {
    "frame.len": "wire_len",
    "frame.cap_len": "cap_len",
    "tcp.len": "payload_len",
    "tcp.nxtseq": "next_rel_seq",
    "tcp.window_size_value": "window",
    "tcp.window_size": "window_size",
    "tcp.options.mss_val": "mss",
    "tcp.options.wscale.shift": "wscale",
}
# udp.length counts the 8-byte header that payload_len leaves out.
UDP_LENGTH = "udp.length"
# Numbers that come with the retransmission flags.
RTO_FIELDS = ("tcp.analysis.rto", "tcp.analysis.rto_frame")

EXTRA_FIELDS = tuple(DECODE_FIELDS) + (UDP_LENGTH,) + RTO_FIELDS

# Everything fields() asks for by default and the records hold.  Fields most
# frames have come first and the flags last, so that a record's rows can
# drop their trailing empty fields and stay short.
RECORD_FIELDS = (
    "frame.number", "frame.len", "frame.cap_len", "tcp.stream", "udp.stream",
    "ip.checksum.status", "tcp.checksum.status", "udp.checksum.status",
    "tcp.seq", "tcp.ack", "tcp.len", "tcp.nxtseq", "tcp.window_size_value", "tcp.window_size",
    "udp.length", "tcp.analysis.bytes_in_flight", "tcp.analysis.acks_frame", "tcp.analysis.ack_rtt",
    "tcp.analysis.initial_rtt", "tcp.options.mss_val", "tcp.options.wscale.shift",
    "tcp.analysis.duplicate_ack_num", "tcp.analysis.duplicate_ack_frame",
    "tcp.analysis.rto", "tcp.analysis.rto_frame",
    *ANALYSIS_FLAGS,
)

CHECKSUM_PREFS = ("-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                  "-o", "ip.check_checksum:TRUE")
# Every occurrence of a field, joined by "|": a frame may carry a field more than once (a tunnel's
# outer and inner UDP headers, the headers an ICMP error quotes).
FIELD_OPTIONS = ("-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=/t", "-E", "quote=n")
# Fields whose last occurrence is the frame's own: a tunnelled UDP datagram's inner header comes
# after the tunnel's outer one.  Of every other field the first occurrence is the frame's own.
LAST_OCCURRENCE = ("udp.stream", "udp.length")

# What tshark says on stderr (and exits 2) when the file itself is the
# problem; the rows before the damage are still printed.  Any other failure
# (a bad field name, a missing file) is ours to fix and is never lenient.
DAMAGE = {
    "damaged": "appears to be damaged or corrupt",
    "corrupt_compression": "cannot be decompressed; it may be damaged or corrupt",
    "cut_short": "appears to have been cut short in the middle of a packet",
    "not_a_capture": "isn't a capture file in a format TShark understands",
}

# Printed whenever tshark runs as root: about the machine, not the capture.
_ROOT_NOTICE = re.compile(r'^Running as user ".*" and group ".*"\. This could be dangerous\.$')


class TsharkError(RuntimeError):
    """tshark could not be run, or failed on a capture it should have read."""


def available(path: str = "tshark") -> bool:
    return shutil.which(path) is not None


def _stderr(text: str) -> str:
    lines = [ln.rstrip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln and not _ROOT_NOTICE.match(ln))


# Where a tshark of each release may be found besides PATH: an environment
# variable naming one or more binaries (separated by ":"), then the folders
# private builds are unpacked into.
TSHARK_ENV = "PCAPAN_TSHARK"
TSHARK_PLACES = ("tshark", "/usr/bin/tshark", "/opt/tshark-{v}/tshark", "/opt/wireshark-{v}/bin/tshark")


def find(version: str, environ: dict | None = None) -> str | None:
    """A tshark binary of Wireshark release *version* ("4.4"), checked with ``--version``; None if none."""
    import os

    env = (environ if environ is not None else os.environ).get(TSHARK_ENV, "")
    candidates = [c for c in env.split(os.pathsep) if c] + [p.format(v=version) for p in TSHARK_PLACES]
    for c in dict.fromkeys(candidates):
        if shutil.which(c) is None:
            continue
        try:
            major, minor, _ = tshark_version(c)
        except TsharkError:
            continue
        if f"{major}.{minor}" == version:
            return c
    return None


def damage(stderr: str) -> str | None:
    """The kind of damage tshark reported on stderr (a key of DAMAGE), or None."""
    for kind, words in DAMAGE.items():
        if words in stderr:
            return kind
    return None


@functools.lru_cache(maxsize=None)
def version_line(path: str = "tshark") -> str:
    """The first line of ``tshark --version``, e.g. ``TShark (Wireshark) 4.0.17 (...)``."""
    try:
        res = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                             errors="replace")
    except OSError as exc:
        raise TsharkError(f"cannot run {path}: {exc}") from exc
    first = res.stdout.splitlines()[0].strip() if res.stdout.strip() else ""
    if res.returncode != 0 or not first:
        raise TsharkError(f"{path} --version exited {res.returncode}: {_stderr(res.stderr)}")
    return first


def parse_version(line: str) -> tuple[int, int, int]:
    m = re.search(r"\b(\d+)\.(\d+)\.(\d+)\b", line)
    if not m:
        raise TsharkError(f"no version number in {line!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def tshark_version(path: str = "tshark") -> tuple[int, int, int]:
    """(major, minor, patch) of the tshark at *path* (a name on PATH or a file)."""
    return parse_version(version_line(path))


def release(path: str = "tshark") -> str:
    """"MAJOR.MINOR" of the tshark at *path*, e.g. "4.4"."""
    major, minor, _ = tshark_version(path)
    return f"{major}.{minor}"


def command(capture: str | Path, names, tshark: str = "tshark") -> list[str]:
    cmd = [tshark, "-n", "-r", str(capture), *CHECKSUM_PREFS, *FIELD_OPTIONS]
    for n in names:
        cmd += ["-e", n]
    return cmd


def _frame(lines, names) -> pd.DataFrame:
    width = len(names)
    rows = []
    for line in lines:
        if not line:
            continue
        r = line.split("\t")
        if len(r) > width:
            raise TsharkError(f"{len(r)} fields in a row where {width} were asked for: {line[:200]!r}")
        rows.append(r + [""] * (width - len(r)))
    table = pd.DataFrame(rows, columns=list(names), dtype=object)
    for name in table.columns:
        values = table[name]
        several = values.str.contains("|", regex=False)
        if several.any():
            pick = -1 if name in LAST_OCCURRENCE else 0
            table.loc[several, name] = values[several].str.split("|").str[pick]
    return table


@dataclass
class Run:
    """One tshark run over one capture."""
    fields: pd.DataFrame
    exit_status: int
    stderr: str           # without the notice tshark prints when run as root
    command: list[str]

    @property
    def damage(self) -> str | None:
        return damage(self.stderr)


def run(capture: str | Path, names=RECORD_FIELDS, tshark: str = "tshark", timeout: float = 300,
        cwd: str | Path | None = None) -> Run:
    """Run tshark on *capture* as it is, whatever its exit status (see :func:`fields`).

    *capture* is passed as given (relative to *cwd* when that is set), so
    tshark's messages name it the same way from any checkout.
    """
    names = list(dict.fromkeys(names))
    cmd = command(capture, names, tshark)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace",
                             cwd=cwd)
    except OSError as exc:
        raise TsharkError(f"cannot run {tshark}: {exc}") from exc
    return Run(_frame(res.stdout.splitlines(), names), res.returncode, _stderr(res.stderr), cmd)


def fields(path: str | Path, extra: tuple[str, ...] = (), timeout: float = 300, *,
           damaged_ok: bool = False, tshark: str = "tshark") -> pd.DataFrame:
    """tshark's per-frame fields for *path* (the frame's own occurrence of each field), all strings.

    Raises :class:`TsharkError` with tshark's stderr when tshark exits
    non-zero: rows from a failed run would be compared as if they were all
    of the capture.  With ``damaged_ok=True`` a capture that tshark reports
    as damaged, cut short or not a capture gives the rows printed before the
    damage instead (pcapan too reads a damaged capture up to the damage);
    other failures still raise.
    """
    r = run(path, list(RECORD_FIELDS) + list(extra), tshark=tshark, timeout=timeout)
    if r.exit_status != 0 and not (damaged_ok and r.damage):
        raise TsharkError(f"tshark exited {r.exit_status} on {path}: {r.stderr or '(no message)'}")
    return r.fields


# --- recorded runs ---------------------------------------------------------------------------

RECORD_SUFFIX = ".tsv"


def record_name(relative: str | Path) -> str:
    """File name of the record of the capture at *relative* (to the samples folder):
    ``crafted/tcp_analysis.pcap`` -> ``crafted__tcp_analysis.pcap.tsv``."""
    return "__".join(Path(relative).parts) + RECORD_SUFFIX


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Record:
    """A recorded tshark run: the rows as :func:`fields` gives them, and the facts of the run."""
    fields: pd.DataFrame
    version: str          # tshark's --version line
    names: list[str]      # the -e fields, in the command's order
    command: str
    capture: str          # path relative to the samples folder, "/"-separated
    sha256: str
    size: int
    exit_status: int
    stderr: str
    path: Path | None = None

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    @property
    def damage(self) -> str | None:
        return damage(self.stderr)


_HEADER_KEYS = ("tshark", "command", "fields", "capture", "sha256", "size", "exit", "stderr")


def format_record(r: Run, version: str, capture: str, digest: str, size: int) -> str:
    """The text of a record: ``#`` header lines, then one tab-separated line per frame.

    A row's trailing empty fields are left off (most frames have none of the
    analysis fields), which keeps the files small; :func:`load_record` puts
    them back.
    """
    head = {
        "tshark": version,
        "command": " ".join(("tshark", "-n", "-r", capture, *CHECKSUM_PREFS, *FIELD_OPTIONS))
                   + " -e FIELD ... (fields, in order)",
        "fields": " ".join(r.fields.columns),
        "capture": capture,
        "sha256": digest,
        "size": str(size),
        "exit": str(r.exit_status),
        # JSON keeps a message of several lines on one line, and round-trips.
        "stderr": json.dumps(r.stderr, ensure_ascii=False),
    }
    out = [f"# {k}: {head[k]}" for k in _HEADER_KEYS]
    for row in r.fields.itertuples(index=False):
        out.append("\t".join(row).rstrip("\t"))
    return "\n".join(out) + "\n"


def load_record(path: str | Path) -> Record:
    """Read a record written by ``scripts/record_tshark.py``."""
    path = Path(path)
    head: dict[str, str] = {}
    body: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("# ") and not body:
                key, sep, value = line[2:].partition(": ")
                if sep:
                    head[key] = value
            elif line:
                body.append(line)
    missing = [k for k in _HEADER_KEYS if k not in head]
    if missing:
        raise ValueError(f"{path}: not a tshark record (no {', '.join(missing)} header)")
    names = head["fields"].split(" ")
    return Record(fields=_frame(body, names), version=head["tshark"], names=names,
                  command=head["command"], capture=head["capture"], sha256=head["sha256"],
                  size=int(head["size"]), exit_status=int(head["exit"]),
                  stderr=json.loads(head["stderr"]), path=path)


# --- comparison -----------------------------------------------------------------------------

def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("", None), errors="coerce").astype("Int64")


@dataclass
class Comparison:
    frames: int = 0
    tcp_frames: int = 0
    udp_frames: int = 0
    checksum_frames: int = 0
    flag_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # label -> (tshark, pcapan)
    mismatches: dict[str, list[int]] = field(default_factory=dict)

    def add(self, what: str, frames) -> None:
        frames = [int(f) for f in frames]
        if frames:
            self.mismatches.setdefault(what, []).extend(frames)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def describe(self) -> str:
        if self.ok:
            return f"{self.tcp_frames} TCP and {self.udp_frames} UDP frames agree"
        return "; ".join(f"{k}: {len(v)} frames (first {v[:8]})" for k, v in self.mismatches.items())


def _differ(theirs: pd.Series, ours: pd.Series, where: pd.Series, tol: float) -> pd.Series:
    """Rows in *where* where tshark shows a value and ours is missing or further than *tol*."""
    shown = where & theirs.notna()
    return shown & ~((ours - theirs).abs() <= tol).fillna(False)


def compare(packets: pd.DataFrame, ts: pd.DataFrame, check_flags: bool = False,
            check_checksums: bool = False, release: str = "4.0") -> Comparison:
    """Compare pcapan's packet table with tshark's fields, frame by frame.

    *ts* is :func:`fields`' table or a :class:`Record`'s; fields it lacks
    (a narrower run) are not compared.  *release* is the Wireshark release
    that printed them ("4.0", "4.4", "4.6"): 4.0 calls a checksum left to
    the network card bad, 4.4 and later call it good ("partial"), and pcapan's
    ``offloaded`` is held to each.
    """
    offload_shown_good = release != "4.0"
    c = Comparison(frames=len(ts))
    t = pd.DataFrame({
        "frame": _num(ts["frame.number"]),
        "t_stream": _num(ts["tcp.stream"]),
        "t_seq": _num(ts["tcp.seq"]),
        "t_ack": _num(ts["tcp.ack"]),
        "u_stream": _num(ts["udp.stream"]),
    })
    for fname, label in ANALYSIS_FLAGS.items():
        t[label] = ts[fname] != ""
    p = packets.set_index("frame")
    m = t.join(p, on="frame", how="left")
    if len(p) != len(t):
        c.add("frame count", [len(p)])

    def theirs(col: str) -> pd.Series:
        return pd.to_numeric(ts[col].replace("", None), errors="coerce").reindex(m.index)

    def ours(col: str) -> pd.Series:
        return pd.to_numeric(m[col], errors="coerce").astype(float)

    # An ICMP error quoting a TCP/UDP header is an ICMP row for us (its
    # stream number is reserved as Wireshark does, see streams.assign).
    icmp = m["proto"].isin(["icmp", "icmpv6"])
    tcp = m["t_stream"].notna() & ~icmp
    c.tcp_frames = int(tcp.sum())
    ours_tcp = (m["proto"] == "tcp") & m["stream"].notna()
    c.add("tcp frame missed", m.loc[tcp & ~ours_tcp, "frame"])
    both = tcp & ours_tcp
    c.add("tcp.stream", m.loc[both & (m["t_stream"] != m["stream"]), "frame"])
    c.add("tcp.seq", m.loc[both & m["t_seq"].notna() & (m["t_seq"] != m["rel_seq"]), "frame"])
    c.add("tcp.ack", m.loc[both & m["t_ack"].notna() & (m["t_ack"] != m["rel_ack"]), "frame"])
    udp = m["u_stream"].notna() & ~tcp & ~icmp
    c.udp_frames = int(udp.sum())
    ours_udp = (m["proto"] == "udp") & m["stream"].notna()
    c.add("udp frame missed", m.loc[udp & ~ours_udp, "frame"])
    c.add("udp.stream", m.loc[udp & ours_udp & (m["u_stream"] != m["stream"]), "frame"])
    every = m["frame"].notna()
    for tcol, ours_col in DECODE_FIELDS.items():
        if tcol in ts.columns:
            where = every if tcol.startswith("frame.") else both
            c.add(tcol, m.loc[_differ(theirs(tcol), ours(ours_col), where, 0), "frame"])
    if UDP_LENGTH in ts.columns:
        c.add(UDP_LENGTH, m.loc[_differ(theirs(UDP_LENGTH) - 8, ours("payload_len"), udp & ours_udp, 0),
                                "frame"])
    if check_checksums:
        ours_l4 = m["l4_checksum"].astype("string")
        ours_ip = m["ip_checksum"].astype("string")
        for tcol, ours_v, what, proto in (("tcp.checksum.status", ours_l4, "tcp checksum", "tcp"),
                                          ("udp.checksum.status", ours_l4, "udp checksum", "udp"),
                                          ("ip.checksum.status", ours_ip, "ip checksum", None)):
            status = ts[tcol].str.split(",").str[0].reindex(m.index)
            verified = status.isin(["0", "1"]) & ours_v.isin(["good", "bad", "offloaded"]).fillna(False)
            if proto is not None:
                verified &= (m["proto"] == proto).fillna(False)
            c.checksum_frames += int(verified.sum())
            good = ours_v.isin(["good", "offloaded"]) if offload_shown_good else ours_v == "good"
            agree = (status == "1") == good
            c.add(what, m.loc[verified & ~agree.fillna(False), "frame"])
    if check_flags:
        # Numbers that come with the flags: times within 1 us, frames exactly.
        for tcol, ours_col, tol in (("tcp.analysis.ack_rtt", "ack_rtt_s", 1e-6),
                                    ("tcp.analysis.initial_rtt", "initial_rtt_s", 1e-6),
                                    ("tcp.analysis.acks_frame", "acks_frame", 0),
                                    ("tcp.analysis.duplicate_ack_num", "dup_ack_num", 0),
                                    ("tcp.analysis.duplicate_ack_frame", "dup_ack_of", 0),
                                    ("tcp.analysis.bytes_in_flight", "bytes_in_flight", 0),
                                    ("tcp.analysis.rto", "rto_s", 1e-6),
                                    ("tcp.analysis.rto_frame", "rto_frame", 0)):
            if tcol in ts.columns:
                c.add(ours_col, m.loc[_differ(theirs(tcol), ours(ours_col), both, tol), "frame"])
        labels = m["labels"].astype("string").fillna("").str.split(";")
        for label in ANALYSIS_FLAGS.values():
            has = labels.map(lambda ls, x=label: x in ls)
            t_n, o_n = int((both & m[label]).sum()), int((both & has).sum())
            prev = c.flag_counts.get(label, (0, 0))
            c.flag_counts[label] = (prev[0] + t_n, prev[1] + o_n)
            c.add(f"{label} (tshark only)", m.loc[both & m[label] & ~has, "frame"])
            c.add(f"{label} (pcapan only)", m.loc[both & ~m[label] & has, "frame"])
    return c
