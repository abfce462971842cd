"""What each command shows: the sections of its document."""
from __future__ import annotations

import pandas as pd

from ..analysis import Analysis, capture_facts, frame_counts
from ..selection import stream_proto
from ..tables import events_table, filter_packets, kbit_per_s
from ..times import at_capture_precision
from ..vocabulary import REPORT_LEAVES_OUT
from .tally import ChecksumTally, LabelTally, checksum_line
from .terminal import Layout

# A report shows this many streams (the busiest); `pcapan streams` lists all.
_MAX_STREAMS_LISTED = 15


# What a person reads in a text table off a terminal (every cell whole); csv/json/markdown carry every
# column, and --wide shows them all.
PACKET_TABLE_COLUMNS = ["frame", "time_rel_s", "proto", "stream", "src", "sport", "dst", "dport", "flags",
                        "rel_seq", "rel_ack", "payload_len", "window_size", "phase", "labels", "explain"]

# On a terminal: what matters first, for the width there is (see report.terminal).  The packets: who
# sent what, in relative numbers, what it was labelled and the sentence saying what it does (under
# its row when there is no room beside it); then the rest of the table's terminal columns if they fit.
TERMINAL_LAYOUTS = {
    "packets": Layout(
        first=("frame", "time_rel_s", "stream", "from_client", "flags", "rel_seq", "rel_ack", "payload_len",
               "labels", "explain", "phase", "proto", "window_size", "src", "sport", "dst", "dport"),
        below=("labels", "explain"), headers={"from_client": "dir", "payload_len": "len"},
        values={"from_client": {True: "\u2192", False: "\u2190"}, "labels": lambda v: v.replace(";", ", ")},
        below_formats={"labels": "[{}]"}, below_join=" ", below_min={"labels": 24}, only_first=True),
    # the example sentence and the label's meaning under the label's row when they have no room beside it
    "notable_frames": Layout(below=("meaning", "example")),
}


def packets_document(a: Analysis, stream=None, proto=None, labels=None, for_table: bool = False,
                     where: str | None = None, columns: list[str] | None = None) -> dict:
    """The frames selected (see :func:`pcap_analyzer.tables.filter_packets`, which raises for a
    selection of nothing that exists): *columns* of them, the text table's (*for_table*) or all."""
    p = filter_packets(a.packets, stream, proto, labels, where).reset_index(drop=True)
    if columns is not None:
        p = p[list(columns)]
    elif for_table:
        p = p[PACKET_TABLE_COLUMNS]
    return {"packets": at_capture_precision(p, a.info)}


def streams_document(a, stream=None, proto=None, columns: list[str] | None = None,
                     overview: bool = False) -> dict:
    """The streams of *proto*, or stream *stream* (TCP's, else UDP's, without *proto*); *a* is an
    :class:`Analysis` or a report digest.  *columns* of the table, or all; with *overview* one short
    line per stream for a terminal, as the report gives it."""
    s = a.streams
    if stream is not None:
        proto = stream_proto(s, stream, proto)
        s = s[s["stream"] == stream]
    if proto and len(s):
        s = s[s["proto"] == proto]
    s = at_capture_precision(s.reset_index(drop=True), a.info)
    if overview:
        return {"streams": stream_overview(s).reset_index(drop=True)}
    return {"streams": s[list(columns)] if columns is not None else s}


def _endpoint(addr: pd.Series, port: pd.Series) -> pd.Series:
    a = addr.astype(str)
    return a.where(~a.str.contains(":"), "[" + a + "]") + ":" + port.astype(str)


def _handshake_text(s: pd.DataFrame) -> pd.Series:
    """"complete (1,2,3)": the verdict with the SYN, SYN-ACK and ACK frames."""
    frames = s[["syn_frame", "syn_ack_frame", "handshake_ack_frame"]].astype("string").fillna("-")
    text = s["handshake"].astype("string").fillna("")
    seen = s["handshake"].astype("string").isin(["complete", "syn_ack_seen", "syn_only"]).fillna(False)
    joined = frames["syn_frame"] + "," + frames["syn_ack_frame"] + "," + frames["handshake_ack_frame"]
    return text.where(~seen, text + " (" + joined + ")")


def _checksum_text(s: pd.DataFrame) -> pd.Series:
    bad = s["client_bad_checksums"].fillna(0) + s["server_bad_checksums"].fillna(0)
    off = s["client_offloaded_checksums"].fillna(0) + s["server_offloaded_checksums"].fillna(0)
    text = pd.Series("ok", index=s.index, dtype="string")
    text = text.where(off == 0, off.astype(str) + " offloaded")
    return text.where(bad == 0, bad.astype(str) + " bad" + (off > 0).map({True: ", ", False: ""})
                      + off.map(lambda v: f"{v} offloaded" if v else ""))


def stream_overview(s: pd.DataFrame) -> pd.DataFrame:
    """One short line per stream for people: who talked to whom, how it went."""
    if s.empty:
        return s
    total = s["client_bytes"] + s["server_bytes"]
    service = s["service"].map(lambda v: f" ({v})" if isinstance(v, str) else "")
    # Most telling first: a narrow terminal shows the columns from the left.
    return pd.DataFrame({
        "stream": s["proto"].astype(str) + " " + s["stream"].astype(str),
        "client": _endpoint(s["client"], s["client_port"]),
        "server": _endpoint(s["server"], s["server_port"]) + service,
        "state": s["conn_state"].astype("string"),
        "handshake": _handshake_text(s),
        "packets →/←": s["client_packets"].astype(str) + "/" + s["server_packets"].astype(str),
        "bytes →/←": s["client_bytes"].astype(str) + "/" + s["server_bytes"].astype(str),
        "retrans": _both(s, "retransmission"),
        "dup acks": _both(s, "duplicate_ack"),
        "zero win": _both(s, "zero_window"),
        # to the microsecond: a rate is given only over a duration that shows (never next to "0")
        "duration s": s["duration_s"].round(6),
        "kbit/s": kbit_per_s(total, s["duration_s"]).round(1),
        "initial rtt ms": (s["initial_rtt_s"] * 1000).round(3),
        "checksums": _checksum_text(s),
        "ephemeral": s["client_port_range"].fillna("no"),
    })


def _busiest(s: pd.DataFrame, limit: int = _MAX_STREAMS_LISTED) -> tuple[pd.DataFrame, int]:
    """The *limit* streams with most packets, in stream order, and how many were left out."""
    if len(s) <= limit:
        return s, 0
    packets = s["client_packets"].fillna(0) + s["server_packets"].fillna(0)
    keep = packets.sort_values(ascending=False, kind="stable").index[:limit]
    return s.loc[s.index.isin(keep)], len(s) - limit


def _both(s: pd.DataFrame, label: str) -> pd.Series:
    total = s[f"client_{label}"].fillna(0) + s[f"server_{label}"].fillna(0)
    return total.where(s["proto"] == "tcp")


def checksum_facts(packets: pd.DataFrame) -> dict:
    """Checksum verdict counts per layer and one sentence that says what they mean."""
    tally = ChecksumTally()
    tally.add_table(packets)
    return tally.facts()


def _capture_overview(facts: dict, checks: dict) -> dict:
    """The capture facts and checksum verdicts in a few lines, for people."""
    counted = f"{facts['packets']:,}"
    if "selection" in facts:
        counted += f" of the capture's {facts['capture_packets']:,} ({selection_text(facts['selection'])})"
    out = {
        "file": f"{facts['file']} ({facts['format']}; {', '.join(facts['link_types']) or 'no frames'})",
        "packets": f"{counted}: {facts['tcp_packets']:,} TCP in {facts['tcp_streams']:,} streams, "
                   f"{facts['udp_packets']:,} UDP in {facts['udp_streams']:,} streams",
        "time": f"{facts['first_time'] or '-'}, {facts['duration_s']:.3f} s",
        "cut short": f"{facts['truncated_frames']:,} frames by the snapshot length; "
                     f"{facts['malformed_frames']:,} frames with a malformed header",
        "checksums": checksum_line(checks),
        "labels": f"as Wireshark {facts['wireshark']} shows them",
    }
    if facts["warnings"]:
        out["warnings"] = "; ".join(facts["warnings"])
    return out


def report_document(a: Analysis, stream=None, labels=None, for_table: bool = True, where: str | None = None) -> dict:
    """Capture facts, streams and notable frames.

    For people (table/markdown) the streams are condensed and the events
    grouped per label; for machines (csv/json) the full rows are given.
    With a selection (a *stream*, *labels*, a *where* expression) every
    count, the checksum verdicts and the streams are those of the frames
    selected, and the facts say what was selected.
    """
    packets = filter_packets(a.packets, stream, None, labels, where)
    s = a.streams
    if stream is None and not labels and where is None:
        facts = a.summary()
    else:
        s = _streams_of(s, packets)
        times = packets["time_rel_s"]
        facts = capture_facts(a.info, frame_counts(packets), s, packets["time"].iloc[0] if len(packets) else None,
                              float(times.iloc[-1] - times.iloc[0]) if len(packets) else 0.0, a.wireshark)
        proto = stream_proto(a.packets, stream) if stream is not None else None
        facts["capture_packets"] = len(a.packets)
        facts["selection"] = {"proto": proto, "stream": stream, "labels": list(labels or []), "where": where}
    s = at_capture_precision(s, a.info)
    checks = checksum_facts(packets)
    if for_table:
        leave_out = tuple(x for x in REPORT_LEAVES_OUT if not labels or x not in labels)
        tally = LabelTally(leave_out=leave_out)
        tally.add_table(packets)
        return _report(facts, s, checks, tally.table(packets), None, True)
    return _report(facts, s, checks, None, events_table(packets), False)


def digest_document(d, for_table: bool = True) -> dict:
    """The report of a capture analysed chunk by chunk (a :class:`pcap_analyzer.report.digest.Digest`)."""
    return _report(d.facts, at_capture_precision(d.streams, d.info), d.checksums, d.notable, d.events, for_table)


def _streams_of(s: pd.DataFrame, packets: pd.DataFrame) -> pd.DataFrame:
    """The rows of streams table *s* of the streams *packets* belong to."""
    if s.empty:
        return s
    keys = pd.MultiIndex.from_arrays([packets["proto"].astype(str), packets["stream"]]).unique()
    rows = pd.MultiIndex.from_arrays([s["proto"].astype(str), s["stream"]])
    return s[rows.isin(keys)]


def selection_text(selection: dict) -> str:
    """What a report's frames were selected by, in words ("TCP stream 3; labels retransmission")."""
    parts = []
    if selection.get("stream") is not None:
        parts.append(f"{(selection.get('proto') or 'tcp').upper()} stream {selection['stream']}")
    if selection.get("labels"):
        parts.append(("label " if len(selection["labels"]) == 1 else "labels ") + ", ".join(selection["labels"]))
    if selection.get("where"):
        parts.append(f"where {selection['where']}")
    return "; ".join(parts)


def _report(facts: dict, s: pd.DataFrame, checks: dict, notable, ev, for_table: bool) -> dict:
    if for_table:
        shown, more = _busiest(s)
        overview = stream_overview(shown).reset_index(drop=True)
        if more:
            overview.loc[len(overview), ["stream", "client"]] = [
                "…", f"{more:,} more streams, fewer packets each (pcapan streams lists every one)"]
        return {"capture": _capture_overview(facts, checks), "streams": overview, "notable_frames": notable}
    return {"capture": facts, "streams": s.reset_index(drop=True), "checksums": checks, "events": ev}
