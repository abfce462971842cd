"""Grading a TCP lab submission: find the conversation, check the rubric, answer the lab.

An instructor hands in a student's capture of the TCP lab (an HTTP POST
upload, captured on the student's machine) and gets back, from
:func:`check`:

* the conversation that was graded (given with ``server``, else the TCP
  conversation with a complete handshake and the most payload);
* the rubric, one row per item with a verdict (``pass``, ``warn``, ``fail``
  or ``n.a.``) and its evidence as frame numbers;
* the lab's answers in raw and relative numbers: endpoints, the SYN and the
  SYN-ACK, the first six data segments with their ACKs, RTTs and the
  EstimatedRTT, the receiver's window, retransmissions, how much an ACK
  acknowledges, and the throughput.

Everything here is pure: it reads an :class:`~pcap_analyzer.analysis.Analysis`
and returns a :class:`CheckResult`; files, formats and processes are the
CLI's and :mod:`.batch`'s business.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .analysis import Analysis
from .explain import resend_cause
from .report.documents import checksum_facts
from .tables import rate_measurable
from .vocabulary import RESENDS

PASS, WARN, FAIL, NA = "pass", "warn", "fail", "n.a."
VERDICTS = (PASS, WARN, FAIL, NA)

# The rubric, in the order it is shown: key and what a pass means.
RUBRIC = (
    ("conversation", "a TCP conversation to grade is in the capture"),
    ("handshake", "complete three-way handshake: SYN, SYN-ACK with ack = client ISN + 1, ACK with ack = server ISN + 1"),
    ("random_isn", "initial sequence numbers look random: not 0, not equal"),
    ("ephemeral_port", "the client's port is an ephemeral one"),
    ("data_both_ways", "payload sent by the client and by the server"),
    ("teardown", "orderly teardown: FIN and its ACK both ways (a reset is explained)"),
    ("retransmissions", "retransmitted segments found, each with what triggered it"),
    ("duplicate_acks", "duplicate ACKs found, with the ACK each repeats"),
    ("checksums", "checksums right; offloaded ones explained, bad ones fail"),
)
RUBRIC_KEYS = tuple(key for key, _ in RUBRIC)

FIRST_SEGMENTS = 6   # the lab asks about the first six data segments
ALPHA = 0.125        # EstimatedRTT = (1 - ALPHA) * EstimatedRTT + ALPHA * SampleRTT
MOD32 = 1 << 32

# Client port ranges as the streams table names them.
PORT_RANGES = {"iana": "49152-65535", "linux": "32768-60999", "windows_legacy": "1025-5000"}

_EVIDENCE_COLUMNS = ["frame", "time_rel_s", "src", "sport", "dst", "dport", "flags", "seq", "ack", "rel_seq",
                     "rel_ack", "payload_len", "window_size", "labels"]
_MAX_EVIDENCE_FRAMES = 60
_MAX_FRAMES_IN_TEXT = 12

# The summary row of a submission (pcapan check -f csv): these columns, in this order.
SUMMARY_COLUMNS = (
    ["file", "overall", "error", "warnings", "stream", "client", "client_port", "server", "server_port"]
    + list(RUBRIC_KEYS)
    + ["client_isn", "server_isn", "syn_frame", "syn_ack_seq", "syn_ack_ack", "handshake_frames",
       "first_segments_rel_seq", "first_segments_len", "estimated_rtt_s", "min_receiver_window",
       "receiver_throttled", "retransmitted_segments", "fast_retransmissions", "duplicate_ack_count",
       "median_acked_bytes", "delayed_ack", "throughput_bytes_per_s"]
)


class CheckError(ValueError):
    """A request :func:`check` cannot answer (e.g. a malformed ``server``)."""


@dataclass
class CheckResult:
    """The graded submission: facts, rubric, lab answers and their evidence."""

    file: str
    stream: int | None
    facts: dict
    rubric: pd.DataFrame          # item, verdict, evidence, frames
    answers: pd.DataFrame         # question, raw, relative, answer, frames
    segments: pd.DataFrame        # the first six data segments from the client
    retransmissions: pd.DataFrame  # one row per retransmitted segment, with its trigger
    evidence: pd.DataFrame        # the packets cited, as the packets table has them
    summary: dict = field(default_factory=dict)  # one flat row (SUMMARY_COLUMNS)

    @property
    def overall(self) -> str:
        """``fail`` if any item fails, else ``warn`` if any warns, else ``pass``."""
        return overall_verdict(self.rubric["verdict"])

    def document(self) -> dict:
        """The sections a reporter renders (table, markdown, json)."""
        return {"submission": self.facts, "rubric": self.rubric, "answers": self.answers,
                "first_segments": self.segments, "retransmissions": self.retransmissions,
                "evidence": self.evidence}


def overall_verdict(verdicts) -> str:
    v = set(verdicts)
    return FAIL if FAIL in v else WARN if WARN in v else PASS


def parse_server(text: str) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address -> (address, port or None)."""
    text = text.strip()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise CheckError(f"--server {text!r}: expected [ADDRESS]:PORT")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise CheckError(f"--server {text!r}: give the server's IP address (optionally :PORT), "
                         "as the capture shows it") from None
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise CheckError(f"--server {text!r}: port must be a number from 1 to 65535")
        return address, int(port)
    return address, None


def check(a: Analysis, server: str | None = None, total_packets: int | None = None) -> CheckResult:
    """Grade the TCP lab conversation of *a*.

    *server* (``HOST`` or ``HOST:PORT``) names the server the student was
    asked to talk to; without it the TCP conversation with a complete
    handshake and the most payload is graded.  Raises :class:`CheckError`
    for a malformed *server*; a capture without the conversation is a
    result whose ``conversation`` item fails, not an error.  *a* may hold
    only the graded conversation's frames (see :func:`check_file`); then
    *total_packets* gives the capture's frame count.
    """
    file = a.info.name
    row, how = pick_conversation(a.streams, server)
    if row is None:
        return _no_conversation(a, file, how, len(a.packets) if total_packets is None else total_packets)
    stream = int(row["stream"])
    p = a.packets
    p = p[(p["proto"] == "tcp") & (p["stream"] == stream)].reset_index(drop=True)
    c = _Conversation(row, p)

    items = [(PASS, f"TCP stream {stream}, {c.client_text} -> {c.server_text}: {how}",
              [int(row["first_frame"])])]
    items += [_handshake(c), _random_isn(c), _ephemeral_port(c), _data_both_ways(c), _teardown(c)]
    retrans = _retransmission_table(c)
    items += [_retransmissions(c, retrans), _duplicate_acks(c), _checksums(c)]
    rubric = pd.DataFrame({
        "item": list(RUBRIC_KEYS),
        "verdict": [v for v, _, _ in items],
        "evidence": [text for _, text, _ in items],
        "frames": [_frames_text(frames) for _, _, frames in items],
    })

    segments = _first_segments(c)
    answers, key = _answers(c, segments, retrans)
    cited = sorted({f for _, _, frames in items for f in frames} | set(segments["frame"].dropna().astype(int))
                   | set(segments["ack_frame"].dropna().astype(int)))
    evidence = _evidence(a.packets, cited)
    overall = overall_verdict(rubric["verdict"])
    facts = {"file": file, "overall": overall, "conversation": f"TCP stream {stream}",
             "client": c.client_text, "server": c.server_text, "chosen": how,
             "packets": int(len(p)), "duration_s": round(float(row["duration_s"]), 6),
             "warnings": list(a.info.warnings),
             "labels": f"as Wireshark {a.wireshark} shows them"}
    summary = {"file": file, "overall": overall, "error": "", "warnings": facts["warnings"], "stream": stream,
               "client": c.client, "client_port": c.client_port, "server": c.server,
               "server_port": c.server_port, **dict(zip(RUBRIC_KEYS, rubric["verdict"])), **key}
    return CheckResult(file=file, stream=stream, facts=facts, rubric=rubric, answers=answers,
                       segments=segments, retransmissions=retrans, evidence=evidence,
                       summary=summary_row(summary))


def summary_row(values: dict) -> dict:
    """*values* in :data:`SUMMARY_COLUMNS` order, missing ones empty."""
    return {col: values.get(col, "") for col in SUMMARY_COLUMNS}


def error_row(file: str, message: str) -> dict:
    """The summary row of a submission that could not be graded."""
    return summary_row({"file": file, "overall": "error", "error": message, "warnings": []})


# --- choosing the conversation ------------------------------------------------

def pick_conversation(streams: pd.DataFrame, server: str | None = None) -> tuple[pd.Series | None, str]:
    """The streams-table row to grade and why it was chosen (or None and why not)."""
    tcp = streams[streams["proto"] == "tcp"] if len(streams) else streams
    if tcp.empty:
        return None, "the capture holds no TCP conversation"
    if server:
        host, port = parse_server(server)
        match = tcp["server"].astype(str).map(_same_address(host))
        if port is not None:
            match &= tcp["server_port"] == port
        candidates = tcp[match.fillna(False).astype(bool)]
        wanted = f"{host}:{port}" if port is not None else host
        if candidates.empty:
            seen = sorted({_endpoint(s, p) for s, p in zip(tcp["server"], tcp["server_port"])})
            return None, (f"no TCP conversation with server {wanted} "
                          f"(servers in the capture: {', '.join(seen[:8])})")
        how = f"the conversation with server {wanted}"
    else:
        candidates = tcp
        how = "the most likely conversation"
    ranked = candidates.assign(
        _complete=(candidates["handshake"].astype(str) == "complete"),
        _payload=candidates["client_bytes"].fillna(0) + candidates["server_bytes"].fillna(0),
    ).sort_values(["_complete", "_payload", "stream"], ascending=[False, False, True], kind="stable")
    row = ranked.iloc[0]
    if len(candidates) > 1:
        how += (f", of {len(candidates)}: " + ("complete handshake, then most payload" if row["_complete"]
                                               else "none has a complete handshake; most payload"))
    return row.drop(["_complete", "_payload"]), how


def _same_address(host: str):
    want = ipaddress.ip_address(host)

    def same(text: str) -> bool:
        try:
            return ipaddress.ip_address(text) == want
        except ValueError:
            return False
    return same


def check_file(path, server: str | None = None, progress=None) -> tuple[CheckResult, Analysis]:
    """Grade the capture at *path*.

    A capture file is read twice: the first read gives the streams table
    (:func:`.report.digest.digest`), the second keeps only the graded
    conversation's frames, so memory grows with the streams and that
    conversation, not with the capture.  What can be read only once (standard
    input, a pipe) is analysed whole.  Returns the result and an
    :class:`Analysis` holding the streams and the frames read.
    """
    from . import schema
    from .analysis import analyze, stream_frames
    from .report.digest import digest

    if not os.path.isfile(path):
        a = analyze(path, progress)
        return check(a, server), a
    d = digest(path, progress=progress)
    row, _how = pick_conversation(d.streams, server)
    packets = (stream_frames(path, "tcp", int(row["stream"]), progress) if row is not None
               else schema.conform(pd.DataFrame(), schema.PACKET_COLUMNS))
    a = Analysis(info=d.info, packets=packets, streams=d.streams, wireshark=d.facts["wireshark"])
    return check(a, server, total_packets=d.facts["packets"]), a


def _no_conversation(a: Analysis, file: str, why: str, total_packets: int) -> CheckResult:
    verdicts = [FAIL] + [NA] * (len(RUBRIC) - 1)
    rubric = pd.DataFrame({"item": list(RUBRIC_KEYS), "verdict": verdicts,
                           "evidence": [why] + ["no conversation to check"] * (len(RUBRIC) - 1),
                           "frames": [""] * len(RUBRIC)})
    facts = {"file": file, "overall": FAIL, "conversation": "none", "chosen": why,
             "packets": int(total_packets), "warnings": list(a.info.warnings)}
    summary = summary_row({"file": file, "overall": FAIL, "error": "", "warnings": facts["warnings"],
                           **dict(zip(RUBRIC_KEYS, verdicts))})
    empty = pd.DataFrame()
    return CheckResult(file=file, stream=None, facts=facts, rubric=rubric,
                       answers=pd.DataFrame(columns=["question", "raw", "relative", "answer", "frames"]),
                       segments=pd.DataFrame(columns=_SEGMENT_COLUMNS),
                       retransmissions=pd.DataFrame(columns=_RETRANSMISSION_COLUMNS),
                       evidence=empty, summary=summary)


# --- one conversation ---------------------------------------------------------

class _Conversation:
    """The graded stream's row and packets, with the views the checks share."""

    def __init__(self, row: pd.Series, p: pd.DataFrame) -> None:
        self.row = row
        self.p = p
        self.client, self.server = str(row["client"]), str(row["server"])
        self.client_port, self.server_port = int(row["client_port"]), int(row["server_port"])
        self.client_text = _endpoint(self.client, self.client_port)
        self.server_text = _endpoint(self.server, self.server_port)
        flags = p["flags"].fillna("").astype(str)
        self.has = {f: flags.str.contains(rf"\b{f}\b", regex=True) for f in ("SYN", "ACK", "FIN", "RST")}
        self.from_client = p["from_client"].fillna(False).astype(bool)
        self.labels = p["labels"].astype("string").fillna("").str.split(";")
        self.data = p["payload_len"].fillna(0) > 0

    def label(self, name: str) -> pd.Series:
        return self.labels.map(lambda ls: name in ls).astype(bool)

    def frame(self, n) -> pd.Series | None:
        if n is None or pd.isna(n):
            return None
        rows = self.p[self.p["frame"] == int(n)]
        return rows.iloc[0] if len(rows) else None

    def value(self, name: str):
        v = self.row[name]
        return None if pd.isna(v) else v


def _endpoint(addr, port) -> str:
    addr = str(addr)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _frames_text(frames) -> str:
    return ", ".join(str(f) for f in dict.fromkeys(int(f) for f in frames))


def _some(frames, limit: int = _MAX_FRAMES_IN_TEXT) -> str:
    frames = [int(f) for f in frames]
    text = ", ".join(map(str, frames[:limit]))
    return text + (f", ... ({len(frames) - limit} more)" if len(frames) > limit else "")


def _handshake(c: _Conversation):
    state = str(c.row["handshake"])
    syn, syn_ack, ack = (c.frame(c.row[k]) for k in ("syn_frame", "syn_ack_frame", "handshake_ack_frame"))
    frames = [int(f["frame"]) for f in (syn, syn_ack, ack) if f is not None]
    if state == "complete":
        cisn, sisn = int(c.row["client_isn"]), int(c.row["server_isn"])
        problems = []
        if int(syn_ack["ack"]) != (cisn + 1) % MOD32:
            problems.append(f"SYN-ACK ack {int(syn_ack['ack'])} is not client ISN + 1 = {(cisn + 1) % MOD32}")
        if int(ack["ack"]) != (sisn + 1) % MOD32:
            problems.append(f"ACK ack {int(ack['ack'])} is not server ISN + 1 = {(sisn + 1) % MOD32}")
        text = (f"SYN (frame {int(syn['frame'])}, seq {cisn}) -> SYN-ACK (frame {int(syn_ack['frame'])}, "
                f"seq {sisn}, ack {int(syn_ack['ack'])} = client ISN + 1) -> ACK (frame {int(ack['frame'])}, "
                f"ack {int(ack['ack'])} = server ISN + 1)")
        if problems:
            return FAIL, "; ".join(problems), frames
        return PASS, text, frames
    if state == "syn_ack_seen":
        return FAIL, (f"SYN (frame {frames[0]}) and SYN-ACK (frame {frames[-1]}) captured, but not the client's "
                      "ACK that completes the handshake: the capture stopped early or was split over "
                      "several files"), frames
    if state == "syn_only":
        return FAIL, f"only the SYN (frame {frames[0]}): the server never answered in this capture", frames
    first = c.p.iloc[0]
    return FAIL, (f"no SYN or SYN-ACK: the capture starts in the middle of the conversation (first frame "
                  f"{int(first['frame'])}, flags {first['flags']}, relative seq {first['rel_seq']}); start "
                  "capturing before the connection opens"), [int(first["frame"])]


def _random_isn(c: _Conversation):
    cisn, sisn = c.value("client_isn"), c.value("server_isn")
    frames = [int(f) for f in (c.value("syn_frame"), c.value("syn_ack_frame")) if f is not None]
    if cisn is None and sisn is None:
        return NA, "no SYN or SYN-ACK captured, so the initial sequence numbers are unknown", []
    known = {name: int(v) for name, v in (("client", cisn), ("server", sisn)) if v is not None}
    text = ", ".join(f"{name} ISN {v}" for name, v in known.items())
    if any(v == 0 for v in known.values()):
        return FAIL, f"{text}: an ISN of 0 is predictable (RFC 6528 asks for unguessable ISNs)", frames
    if len(known) == 2 and cisn == sisn:
        return FAIL, f"{text}: both sides chose the same ISN", frames
    if len(known) == 1:
        return WARN, f"{text}; the other side's ISN was not captured", frames
    return PASS, f"{text}: non-zero and different, as random ISNs are", frames


def _ephemeral_port(c: _Conversation):
    ranges = c.value("client_port_range")
    frame = [int(c.p.iloc[0]["frame"])]
    if c.value("client_port_ephemeral") and ranges:
        named = ", ".join(f"{r} ({PORT_RANGES.get(r, '?')})" for r in str(ranges).split(";"))
        return PASS, f"client port {c.client_port} is ephemeral: in the {named} range", frame
    return WARN, (f"client port {c.client_port} is in no ephemeral range "
                  f"({', '.join(f'{k} {v}' for k, v in PORT_RANGES.items())}): a fixed port, or the roles "
                  "are not what the lab expects"), frame


def _data_both_ways(c: _Conversation):
    cb, sb = int(c.row["client_bytes"]), int(c.row["server_bytes"])
    first_c = c.p.loc[c.data & c.from_client, "frame"].head(1).tolist()
    first_s = c.p.loc[c.data & ~c.from_client, "frame"].head(1).tolist()
    text = f"client sent {cb} bytes of payload, server {sb}"
    if cb and sb:
        return PASS, f"{text} (first data frames {first_c[0]} and {first_s[0]})", first_c + first_s
    missing = " and ".join(w for w, b in (("the client", cb), ("the server", sb)) if not b)
    return FAIL, f"{text}: no payload from {missing} in this capture", first_c + first_s


def _teardown(c: _Conversation):
    p = c.p
    fins = {who: p[c.has["FIN"] & (c.from_client == is_client)] for who, is_client in (("client", True),
                                                                                       ("server", False))}
    rsts = p[c.has["RST"]]
    acked = {}
    for who, f in fins.items():
        if f.empty:
            continue
        end = int(f.iloc[0]["next_rel_seq"]) if pd.notna(f.iloc[0]["next_rel_seq"]) else None
        other = p[(c.from_client != (who == "client")) & c.has["ACK"] & (p["frame"] > f.iloc[0]["frame"])]
        hit = other[other["rel_ack"] >= end] if end is not None else other.iloc[0:0]
        acked[who] = int(hit.iloc[0]["frame"]) if len(hit) else None
    fin_frames = [int(f.iloc[0]["frame"]) for f in fins.values() if len(f)]
    ack_frames = [v for v in acked.values() if v is not None]
    if len(rsts):
        r = rsts.iloc[0]
        who = "client" if bool(r["from_client"]) else "server"
        before = [w for w, f in fins.items() if len(f) and int(f.iloc[0]["frame"]) < int(r["frame"])]
        after = ("after FINs from " + " and ".join(before)) if before else "without a FIN first"
        if len(before) == 2:
            return WARN, (f"FIN both ways, then RST from the {who} (frame {int(r['frame'])}): a segment arrived "
                          "for a connection that end had already closed, and a reset answered it; the "
                          "teardown itself was orderly"), fin_frames + [int(r["frame"])]
        why = ("the client aborted the connection instead of closing it (a program closing a socket with "
               "unread data, or with SO_LINGER 0, does this; so do browsers dropping a connection they no "
               "longer need)" if who == "client" else
               "the server refused or abandoned the connection (e.g. it received data after it had closed)")
        return FAIL, (f"ended by RST from the {who} (frame {int(r['frame'])}) {after}: {why}; no orderly "
                      "FIN/ACK teardown"), fin_frames + [int(r["frame"])]
    if len(fin_frames) == 2 and len(ack_frames) == 2:
        return PASS, (f"FIN from client (frame {int(fins['client'].iloc[0]['frame'])}, ACKed in frame "
                      f"{acked['client']}) and from server (frame {int(fins['server'].iloc[0]['frame'])}, ACKed "
                      f"in frame {acked['server']})"), sorted(fin_frames + ack_frames)
    if len(fin_frames) == 2:
        return WARN, ("FIN both ways, but the ACK of the last FIN is not in the capture (it was stopped a "
                      "moment too early)"), fin_frames + ack_frames
    if fin_frames:
        who = "client" if len(fins["client"]) else "server"
        return FAIL, (f"only the {who} sent a FIN (frame {fin_frames[0]}): the capture stopped before the "
                      "connection was closed both ways"), fin_frames
    return FAIL, (f"no FIN or RST: the capture stopped before the connection closed (last frame "
                  f"{int(p.iloc[-1]['frame'])})"), [int(p.iloc[-1]["frame"])]


_RETRANSMISSION_COLUMNS = ["frame", "time_rel_s", "sender", "rel_seq", "seq", "len_bytes", "label", "cause",
                           "trigger", "original_frame", "since_original_s", "dup_ack_frames"]


def _retransmission_table(c: _Conversation) -> pd.DataFrame:
    p = c.p
    causes = resend_cause(p)
    dup = c.label("duplicate_ack")
    rows = []
    for i in np.flatnonzero(causes.notna().to_numpy()):
        r = p.iloc[i]
        cause = str(causes.iloc[i])
        sender_is_client = bool(r["from_client"])
        ls = c.labels.iloc[i]
        label = next(n for n in RESENDS if n in ls)
        original = r["rto_frame"]
        since = r["rto_s"]
        # the receiver's duplicate ACKs before this resend (and after the segment it resends, when
        # that is known) asking for data up to here: the evidence of a resend they asked for
        asks = p[dup & (c.from_client != sender_is_client) & (p["frame"] < r["frame"])
                 & (p["rel_ack"] <= r["rel_seq"])]
        if pd.notna(original):
            asks = asks[asks["frame"] > original]
        if cause == "fast":
            asks = asks[asks["rel_ack"] == r["rel_seq"]]
        elif cause == "recovery":
            asks = asks[asks["frame"] <= r["asked_frame"]]
        asked = asks["frame"].astype(int).tolist() if cause in ("fast", "recovery") else []
        if cause == "spurious":
            trigger = "the receiver had already acknowledged this data"
        elif cause == "fast":
            of = asks["dup_ack_of"].dropna().astype(int).unique().tolist()
            trigger = (f"{len(asked)} duplicate ACKs asked for it (frames {_some(asked, 6)}"
                       + (f", repeating ACK frame {of[0]}" if of else "") + ")")
        elif cause == "recovery":
            trigger = (f"loss recovery after the receiver's duplicate ACKs (frames {_some(asked, 6)}), "
                       "which report what is missing")
        elif cause == "timeout":
            trigger = (f"retransmission timeout: no ACK {float(since):.3f} s after the segment was first sent "
                       f"(frame {int(original)})")
        else:
            cause, trigger = "timeout", "retransmission timeout: no ACK for the earlier copy"
        rows.append({"frame": int(r["frame"]), "time_rel_s": float(r["time_rel_s"]),
                     "sender": "client" if sender_is_client else "server", "rel_seq": r["rel_seq"],
                     "seq": r["seq"], "len_bytes": r["payload_len"], "label": label, "cause": cause,
                     "trigger": trigger,
                     "original_frame": original, "since_original_s": since,
                     "dup_ack_frames": _some(asked, 6)})
    out = pd.DataFrame(rows, columns=_RETRANSMISSION_COLUMNS)
    return out.astype({"frame": "Int64", "rel_seq": "Int64", "seq": "Int64", "len_bytes": "Int64",
                       "original_frame": "Int64", "since_original_s": "float64", "time_rel_s": "float64"})


def _retransmissions(c: _Conversation, table: pd.DataFrame):
    if not c.data.any():
        return NA, "no data segments, so nothing could be retransmitted", []
    if table.empty:
        return PASS, "no retransmitted segments: every segment was sent once", []
    names = {"fast": "fast retransmissions after duplicate ACKs", "recovery": "resent in loss recovery after "
             "duplicate ACKs", "timeout": "after a retransmission timeout", "spurious": "spurious"}
    counts = table["cause"].value_counts()
    parts = [f"{n} {names[k]}" for k, n in counts.items()]
    text = (f"{len(table)} retransmitted segment{'s' if len(table) > 1 else ''} ({', '.join(parts)}); "
            "triggers in the retransmissions table")
    return PASS, text, table["frame"].astype(int).tolist()


def _duplicate_acks(c: _Conversation):
    dup = c.p[c.label("duplicate_ack")]
    if not c.data.any():
        return NA, "no data segments, so no duplicate ACKs are expected", []
    if dup.empty:
        return PASS, "no duplicate ACKs: the receiver never had to ask for a segment again", []
    groups = []
    for of, g in dup.groupby("dup_ack_of", sort=True):
        groups.append(f"{len(g)} repeating ACK frame {int(of)} (ack {int(g.iloc[0]['rel_ack'])})")
    shown = "; ".join(groups[:6]) + (f"; ... {len(groups) - 6} more" if len(groups) > 6 else "")
    return PASS, f"{len(dup)} duplicate ACKs: {shown}", dup["frame"].astype(int).tolist()


def _checksums(c: _Conversation):
    facts = checksum_facts(c.p)
    ip, l4 = c.p["ip_checksum"].astype("string"), c.p["l4_checksum"].astype("string")
    bad = c.p.loc[((ip == "bad") | (l4 == "bad")).fillna(False), "frame"].astype(int).tolist()
    off = c.p.loc[((ip == "offloaded") | (l4 == "offloaded")).fillna(False), "frame"].astype(int).tolist()
    if bad:
        return FAIL, facts["meaning"], bad
    if off:
        return PASS, facts["meaning"], off[:3]
    return PASS, (f"{facts['ip_good']} IP header and {facts['tcp_udp_good']} TCP/UDP checksums correct. "
                  f"{facts['meaning']}"), []


# --- the lab's questions --------------------------------------------------------

_SEGMENT_COLUMNS = ["segment", "frame", "seq", "rel_seq", "len_bytes", "sent_s", "ack_frame", "ack_s",
                    "rtt_s", "estimated_rtt_s"]


def _first_segments(c: _Conversation) -> pd.DataFrame:
    """The client's first six data segments, the first ACK covering each, RTTs and EstimatedRTT."""
    p = c.p
    retrans = np.zeros(len(p), dtype=bool)
    for name in RESENDS:
        retrans |= c.label(name).to_numpy()
    segs = p[c.data & c.from_client & ~retrans].head(FIRST_SEGMENTS)
    acks = p[~c.from_client & c.has["ACK"] & p["rel_ack"].notna()]
    rows, estimated = [], None
    for k, (_, s) in enumerate(segs.iterrows(), start=1):
        end = int(s["rel_seq"]) + int(s["payload_len"])
        covering = acks[(acks["frame"] > s["frame"]) & (acks["rel_ack"] >= end)]
        ack = covering.iloc[0] if len(covering) else None
        rtt = float(ack["time_rel_s"] - s["time_rel_s"]) if ack is not None else None
        if rtt is not None:
            estimated = rtt if estimated is None else (1 - ALPHA) * estimated + ALPHA * rtt
        rows.append({"segment": k, "frame": int(s["frame"]), "seq": s["seq"], "rel_seq": s["rel_seq"],
                     "len_bytes": s["payload_len"], "sent_s": float(s["time_rel_s"]),
                     "ack_frame": None if ack is None else int(ack["frame"]),
                     "ack_s": None if ack is None else float(ack["time_rel_s"]),
                     "rtt_s": rtt, "estimated_rtt_s": estimated if rtt is not None else None})
    out = pd.DataFrame(rows, columns=_SEGMENT_COLUMNS)
    return out.astype({"segment": "Int64", "frame": "Int64", "seq": "Int64", "rel_seq": "Int64",
                       "len_bytes": "Int64", "sent_s": "float64", "ack_frame": "Int64", "ack_s": "float64",
                       "rtt_s": "float64", "estimated_rtt_s": "float64"})


def _window_answer(c: _Conversation) -> tuple[dict, dict]:
    p = c.p
    server = p[~c.from_client & p["window_size"].notna()]
    if server.empty:
        return ({"question": "minimum receive window advertised by the server", "raw": "", "relative": "",
                 "answer": "no packet from the server", "frames": ""}, {})
    low = server.loc[server["window_size"].idxmin()]
    throttle = p[(c.label("window_full") | c.label("zero_window"))]
    # A segment whose end reaches the window edge the server last advertised (ack + window).
    edge = (p["rel_ack"] + p["window_size"]).where(~c.from_client & c.has["ACK"]).ffill()
    sent = c.data & c.from_client & edge.notna()
    at_edge = p[sent & (p["next_rel_seq"] >= edge)]
    flight = p.loc[c.data & c.from_client, "bytes_in_flight"].dropna()
    frames = throttle["frame"].astype(int).tolist() + at_edge["frame"].astype(int).tolist()
    throttled = bool(frames)
    if throttled:
        why = []
        if len(throttle):
            why.append(f"window full / zero window in frames {_some(throttle['frame'])}")
        if len(at_edge):
            why.append(f"{len(at_edge)} segments reached the advertised window edge (frames {_some(at_edge['frame'])})")
        verdict = "yes: " + "; ".join(why)
    else:
        peak = f"; bytes in flight peaked at {int(flight.max())}" if len(flight) else ""
        verdict = f"no: no window_full or zero_window, no segment reached the window edge{peak}"
    row = {"question": "minimum receive window advertised by the server; did it throttle the sender?",
           "raw": int(low["window_size"]), "relative": "",
           "answer": f"{int(low['window_size'])} bytes (frame {int(low['frame'])}); throttled: {verdict}",
           "frames": _frames_text([int(low["frame"])] + frames[:_MAX_FRAMES_IN_TEXT])}
    return row, {"min_receiver_window": int(low["window_size"]), "receiver_throttled": throttled}


def _ack_answer(c: _Conversation) -> tuple[dict, dict]:
    p = c.p
    acks = p[~c.from_client & c.has["ACK"] & ~c.has["SYN"] & p["rel_ack"].notna()]
    before = acks["rel_ack"].cummax().shift(1)
    first_prev = p.loc[c.from_client & c.has["SYN"], "next_rel_seq"]
    before.iloc[:1] = first_prev.iloc[0] if len(first_prev) else np.nan
    # Bytes of data newly covered: an ACK that only covers the FIN acknowledges no data.
    data = p[c.data & c.from_client]
    data_end = (data["rel_seq"] + data["payload_len"]).max() if len(data) else np.nan
    newly = (acks["rel_ack"].clip(upper=data_end) - before).dropna()
    newly = newly[newly > 0]
    segment = p.loc[c.data & c.from_client, "payload_len"].median()
    if newly.empty or pd.isna(segment):
        return ({"question": "bytes a typical ACK acknowledges; does the receiver ACK every other segment?",
                 "raw": "", "relative": "", "answer": "no ACK of client data in the capture", "frames": ""}, {})
    median = float(newly.median())
    per_ack = newly / float(segment)
    two = int((per_ack >= 1.5).sum())
    delayed = median >= 1.5 * float(segment)
    frames = acks.loc[newly.index, "frame"].astype(int).tolist()
    answer = (f"median {median:.0f} bytes newly acknowledged per ACK ({median / float(segment):.1f} segments of "
              f"{float(segment):.0f} bytes); {two} of {len(newly)} ACKs cover two or more segments: "
              + ("yes, the receiver ACKs every other segment (delayed ACK)" if delayed
                 else "no, the receiver mostly ACKs every segment"))
    return ({"question": "bytes a typical ACK acknowledges; does the receiver ACK every other segment?",
             "raw": f"{median:.0f}", "relative": "", "answer": answer, "frames": _some(frames, 6)},
            {"median_acked_bytes": round(median), "delayed_ack": delayed})


def _throughput_answer(c: _Conversation) -> tuple[dict, dict]:
    p = c.p
    cb, sb = int(c.row["client_bytes"]), int(c.row["server_bytes"])
    sender_is_client = cb >= sb
    direction = "client -> server" if sender_is_client else "server -> client"
    sent = p[c.data & (c.from_client == sender_is_client)]
    q = "throughput of the transfer (bytes / duration)"
    if sent.empty:
        return {"question": q, "raw": "", "relative": "", "answer": "no data", "frames": ""}, {}
    first = sent.iloc[0]
    end = int((sent["rel_seq"] + sent["payload_len"]).max())  # the last data byte, not a FIN
    start_seq = int(sent["rel_seq"].min())
    total = end - start_seq
    acks = p[(c.from_client != sender_is_client) & c.has["ACK"] & (p["rel_ack"] >= end)]
    last = acks.iloc[0] if len(acks) else sent.iloc[-1]
    duration = float(last["time_rel_s"] - first["time_rel_s"])
    if not rate_measurable(duration):
        return ({"question": q, "raw": "", "relative": "", "frames": _frames_text([first["frame"]]),
                 "answer": f"{total} bytes {direction} in no measurable time"}, {})
    rate = total / duration
    how = "its ACK" if len(acks) else "the last data segment (its ACK is not captured)"
    return ({"question": q, "raw": f"{rate:.0f}", "relative": "",
             "answer": (f"{total} bytes {direction} (relative seq {start_seq} to {end}) in {duration:.6f} s, "
                        f"from the first data segment (frame {int(first['frame'])}) to {how} (frame "
                        f"{int(last['frame'])}): {rate:.0f} bytes/s = {rate * 8 / 1000:.1f} kbit/s"),
             "frames": _frames_text([first["frame"], last["frame"]])},
            {"throughput_bytes_per_s": round(rate)})


def _answers(c: _Conversation, segments: pd.DataFrame, retrans: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    rows, key = [], {}
    rows.append({"question": "client IP address and TCP port", "raw": c.client_text, "relative": "",
                 "answer": f"{c.client} port {c.client_port}", "frames": _frames_text([c.p.iloc[0]["frame"]])})
    rows.append({"question": "server IP address and TCP port", "raw": c.server_text, "relative": "",
                 "answer": f"{c.server} port {c.server_port}", "frames": _frames_text([c.p.iloc[0]["frame"]])})
    syn, syn_ack = c.frame(c.row["syn_frame"]), c.frame(c.row["syn_ack_frame"])
    if syn is not None:
        rows.append({"question": "sequence number of the SYN; what marks it as a SYN?", "raw": int(syn["seq"]),
                     "relative": int(syn["rel_seq"]),
                     "answer": (f"seq {int(syn['seq'])} (relative {int(syn['rel_seq'])}); the SYN flag is set "
                                f"(flags {syn['flags']})"), "frames": _frames_text([syn["frame"]])})
        key.update(client_isn=int(syn["seq"]), syn_frame=int(syn["frame"]))
    else:
        rows.append({"question": "sequence number of the SYN; what marks it as a SYN?", "raw": "", "relative": "",
                     "answer": "the SYN is not in the capture", "frames": ""})
    if syn_ack is not None:
        derived = (f"ack = client ISN + 1 = {int(c.row['client_isn'])} + 1 (the SYN takes one sequence number)"
                   if syn is not None else "ack = client ISN + 1 (the SYN itself is not captured)")
        rows.append({"question": "SYN-ACK: sequence and acknowledgement numbers; how was the ack derived?",
                     "raw": f"seq {int(syn_ack['seq'])} ack {int(syn_ack['ack'])}",
                     "relative": f"seq {int(syn_ack['rel_seq'])} ack {int(syn_ack['rel_ack'])}",
                     "answer": f"{derived}; SYN and ACK flags set (flags {syn_ack['flags']})",
                     "frames": _frames_text([syn_ack["frame"]])})
        key.update(server_isn=int(syn_ack["seq"]), syn_ack_seq=int(syn_ack["seq"]), syn_ack_ack=int(syn_ack["ack"]))
    else:
        rows.append({"question": "SYN-ACK: sequence and acknowledgement numbers; how was the ack derived?",
                     "raw": "", "relative": "", "answer": "the SYN-ACK is not in the capture", "frames": ""})
    hs = [c.value(k) for k in ("syn_frame", "syn_ack_frame", "handshake_ack_frame")]
    key["handshake_frames"] = _frames_text([f for f in hs if f is not None])

    if len(segments):
        first = segments.iloc[0]
        rows.append({"question": "first data segment from the client (the POST)", "raw": int(first["seq"]),
                     "relative": int(first["rel_seq"]),
                     "answer": f"frame {int(first['frame'])}, seq {int(first['seq'])} (relative "
                               f"{int(first['rel_seq'])}), {int(first['len_bytes'])} bytes",
                     "frames": _frames_text([first["frame"]])})
        rtts = segments["rtt_s"].dropna()
        last_est = segments["estimated_rtt_s"].dropna()
        rows.append({"question": f"first {FIRST_SEGMENTS} data segments: sequence numbers, send and ACK times, "
                                 f"RTT, EstimatedRTT (alpha {ALPHA})",
                     "raw": " ".join(str(int(v)) for v in segments["seq"]),
                     "relative": " ".join(str(int(v)) for v in segments["rel_seq"]),
                     "answer": (f"{len(segments)} segments (table first segments); sample RTTs "
                                + ", ".join(f"{v * 1000:.3f}" for v in rtts) + " ms"
                                + (f"; EstimatedRTT after the last: {last_est.iloc[-1] * 1000:.3f} ms"
                                   if len(last_est) else "")),
                     "frames": _frames_text(segments["frame"])})
        rows.append({"question": f"lengths of the first {FIRST_SEGMENTS} data segments",
                     "raw": " ".join(str(int(v)) for v in segments["len_bytes"]), "relative": "",
                     "answer": ", ".join(str(int(v)) for v in segments["len_bytes"]) + " bytes",
                     "frames": _frames_text(segments["frame"])})
        key.update(first_segments_rel_seq=" ".join(str(int(v)) for v in segments["rel_seq"]),
                   first_segments_len=" ".join(str(int(v)) for v in segments["len_bytes"]))
        if len(last_est):
            key["estimated_rtt_s"] = round(float(last_est.iloc[-1]), 9)
    else:
        rows.append({"question": "first data segment from the client (the POST)", "raw": "", "relative": "",
                     "answer": "the client sent no data in this capture", "frames": ""})

    window_row, window_key = _window_answer(c)
    rows.append(window_row)
    key.update(window_key)

    fast = int((retrans["label"] == "fast_retransmission").sum()) if len(retrans) else 0
    rows.append({"question": "retransmitted segments",
                 "raw": len(retrans), "relative": "",
                 "answer": (f"{len(retrans)} ({fast} fast retransmissions after duplicate ACKs); relative seqs "
                            + ", ".join(str(int(v)) for v in retrans["rel_seq"].head(_MAX_FRAMES_IN_TEXT))
                            + (" ..." if len(retrans) > _MAX_FRAMES_IN_TEXT else "")
                            if len(retrans) else "none: no segment was sent twice"),
                 "frames": _some(retrans["frame"]) if len(retrans) else ""})
    key.update(retransmitted_segments=len(retrans), fast_retransmissions=fast,
               duplicate_ack_count=int(c.label("duplicate_ack").sum()))

    for make in (_ack_answer, _throughput_answer):
        row, extra = make(c)
        rows.append(row)
        key.update(extra)
    answers = pd.DataFrame(rows, columns=["question", "raw", "relative", "answer", "frames"])
    answers["raw"] = answers["raw"].astype(str)
    answers["relative"] = answers["relative"].astype(str)
    return answers, key


def _evidence(packets: pd.DataFrame, frames: list[int]) -> pd.DataFrame:
    """The cited frames as the packets table has them (with ``explain`` when the table has it)."""
    cols = _EVIDENCE_COLUMNS + (["explain"] if "explain" in packets.columns else [])
    rows = packets[packets["frame"].isin(frames[:_MAX_EVIDENCE_FRAMES])]
    return rows[cols].reset_index(drop=True)
