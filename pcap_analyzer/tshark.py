"""Side-by-side comparison with tshark, the reference we agree with.

Used by the conformance tests and ``scripts/compare_tshark.py``.  tshark is
run with checksum validation on, so its checksum verdicts can be compared
too; the fields asked for are the ones pcapan promises to match.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

import pandas as pd

# Wireshark's analysis flag fields and the label pcapan gives each.
ANALYSIS_FLAGS = {
    "tcp.analysis.retransmission": "retransmission",
    "tcp.analysis.fast_retransmission": "fast_retransmission",
    "tcp.analysis.spurious_retransmission": "spurious_retransmission",
    "tcp.analysis.out_of_order": "out_of_order",
    "tcp.analysis.lost_segment": "lost_segment",
    "tcp.analysis.ack_lost_segment": "ack_lost_segment",
    "tcp.analysis.duplicate_ack": "duplicate_ack",
    "tcp.analysis.zero_window": "zero_window",
    "tcp.analysis.zero_window_probe": "zero_window_probe",
    "tcp.analysis.zero_window_probe_ack": "zero_window_probe_ack",
    "tcp.analysis.window_update": "window_update",
    "tcp.analysis.window_full": "window_full",
    "tcp.analysis.keep_alive": "keep_alive",
    "tcp.analysis.keep_alive_ack": "keep_alive_ack",
    "tcp.analysis.reused_ports": "reused_ports",
}

BASE_FIELDS = ("frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "udp.stream",
               "tcp.checksum.status", "udp.checksum.status", "ip.checksum.status",
               "tcp.analysis.ack_rtt", "tcp.analysis.initial_rtt", "tcp.analysis.acks_frame",
               "tcp.analysis.duplicate_ack_num", "tcp.analysis.duplicate_ack_frame",
               "tcp.analysis.bytes_in_flight")

CHECKSUM_PREFS = ("-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                  "-o", "ip.check_checksum:TRUE")


def available() -> bool:
    return shutil.which("tshark") is not None


def fields(path: str, extra: tuple[str, ...] = (), timeout: float = 300) -> pd.DataFrame:
    """tshark's per-frame fields for *path* (first occurrence of each field)."""
    names = list(BASE_FIELDS) + list(ANALYSIS_FLAGS) + list(extra)
    cmd = ["tshark", "-n", "-r", str(path), *CHECKSUM_PREFS, "-T", "fields",
           "-E", "occurrence=f", "-E", "separator=\t", "-E", "quote=n"]
    for n in names:
        cmd += ["-e", n]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
    rows = [line.split("\t") for line in res.stdout.splitlines() if line]
    rows = [r + [""] * (len(names) - len(r)) for r in rows]
    df = pd.DataFrame(rows, columns=names)
    return df


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


def compare(packets: pd.DataFrame, ts: pd.DataFrame, check_flags: bool = False,
            check_checksums: bool = False) -> Comparison:
    """Compare pcapan's packet table with tshark's fields, frame by frame."""
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
    if check_checksums:
        ours_l4 = m["l4_checksum"].astype("string")
        ours_ip = m["ip_checksum"].astype("string")
        for tcol, ours, what, proto in (("tcp.checksum.status", ours_l4, "tcp checksum", "tcp"),
                                        ("udp.checksum.status", ours_l4, "udp checksum", "udp"),
                                        ("ip.checksum.status", ours_ip, "ip checksum", None)):
            theirs = ts[tcol].str.split(",").str[0].reindex(m.index)
            verified = theirs.isin(["0", "1"]) & ours.isin(["good", "bad", "offloaded"]).fillna(False)
            if proto is not None:
                verified &= (m["proto"] == proto).fillna(False)
            c.checksum_frames += int(verified.sum())
            agree = (theirs == "1") == (ours == "good")
            c.add(what, m.loc[verified & ~agree.fillna(False), "frame"])
    if check_flags:
        # Numbers that come with the flags: RTTs within 1 us, frames exactly.
        for tcol, ours_col, tol in (("tcp.analysis.ack_rtt", "ack_rtt_s", 1e-6),
                                    ("tcp.analysis.initial_rtt", "initial_rtt_s", 1e-6),
                                    ("tcp.analysis.acks_frame", "acks_frame", 0),
                                    ("tcp.analysis.duplicate_ack_num", "dup_ack_num", 0),
                                    ("tcp.analysis.duplicate_ack_frame", "dup_ack_of", 0),
                                    ("tcp.analysis.bytes_in_flight", "bytes_in_flight", 0)):
            theirs = pd.to_numeric(ts[tcol].replace("", None), errors="coerce").reindex(m.index)
            ours = pd.to_numeric(m[ours_col], errors="coerce").astype(float)
            shown = both & theirs.notna()
            differ = shown & ~((ours - theirs).abs() <= tol).fillna(False)
            c.add(ours_col, m.loc[differ, "frame"])
        labels = m["labels"].astype("string").fillna("").str.split(";")
        for label in ANALYSIS_FLAGS.values():
            ours = labels.map(lambda ls, x=label: x in ls)
            t_n, o_n = int((both & m[label]).sum()), int((both & ours).sum())
            prev = c.flag_counts.get(label, (0, 0))
            c.flag_counts[label] = (prev[0] + t_n, prev[1] + o_n)
            c.add(f"{label} (tshark only)", m.loc[both & m[label] & ~ours, "frame"])
            c.add(f"{label} (pcapan only)", m.loc[both & ~m[label] & ours, "frame"])
    return c
