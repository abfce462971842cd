"""Grading a TCP lab submission: find the conversation, grade it by the rubric, answer the lab.

An instructor hands in a student's capture of the TCP lab (an HTTP POST
upload, captured on the student's machine) and gets back, from
:func:`check`:

* the conversation that was graded (the rubric's or ``server``'s, else the
  TCP conversation with a complete handshake and the most payload);
* the rubric, one row per item with a verdict (``pass``, ``warn``, ``fail``,
  ``info`` for what is only reported, ``n.a.``), one line saying why and its
  frames;
* the lab's answers in raw and relative numbers (:mod:`.grading.answers`);
* warnings about where the capture was taken (segmentation offload, a local
  proxy or NAT: :mod:`.grading.capture_point`).

The pieces live in :mod:`pcap_analyzer.grading`; this module puts them
together.  Everything here reads an :class:`~pcap_analyzer.analysis.Analysis`
and returns a :class:`CheckResult`; files, formats and processes are the
CLI's and :mod:`.batch`'s business.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace

import pandas as pd

from .analysis import Analysis
from .grading import answers as lab
from .grading import capture_point, items
from .grading.conversation import Conversation, endpoint, frames_text, some
from .grading.rubric import DEFAULT, FAIL, ITEM_KEYS, NA, PASS, VERDICTS, Rubric, graded, \
    overall_verdict, score
from .grading.server import CheckError, parse_server  # noqa: F401  (part of this module's API)
from .grading.sheet import SUMMARY_COLUMNS, error_row, summary_row
from .grading.wire import read_headers

__all__ = ["ALPHA", "CheckError", "CheckResult", "RUBRIC_KEYS", "SUMMARY_COLUMNS", "VERDICTS", "check", "check_file",
           "error_row", "overall_verdict", "parse_server", "pick_conversation", "summary_row"]

RUBRIC_KEYS = ITEM_KEYS          # every item, in the order shown
ALPHA = DEFAULT.alpha            # the default rubric's EstimatedRTT weight

_EVIDENCE_COLUMNS = ["frame", "time_rel_s", "src", "sport", "dst", "dport", "flags", "seq", "ack", "rel_seq",
                     "rel_ack", "payload_len", "window_size", "labels"]
# What one capture shows on a terminal: the full lists are in -f json.
_SHOWN_ROWS = 10
_SHOWN_FRAMES = 8


@dataclass
class CheckResult:
    """The graded submission: facts, rubric, lab answers and their evidence."""

    file: str
    stream: int | None
    facts: dict
    rubric: pd.DataFrame          # item, verdict, evidence, frames (every frame)
    answers: pd.DataFrame         # question, raw, relative, answer, frames
    segments: pd.DataFrame        # the first data segments from the client
    retransmissions: pd.DataFrame  # one row per resent segment, with its cause and trigger
    evidence: pd.DataFrame        # the packets cited, as the packets table has them
    summary: dict = field(default_factory=dict)  # one flat row (SUMMARY_COLUMNS)

    @property
    def overall(self) -> str:
        """``fail`` if any item fails, else ``warn`` if any warns, else ``pass`` (``info`` never counts)."""
        return overall_verdict(self.rubric["verdict"])

    def rename(self, name: str) -> "CheckResult":
        """The result with *name* as its file's name everywhere (the path as the user gave it)."""
        self.file = self.facts["file"] = self.summary["file"] = name
        return self

    def stream_filter(self) -> str:
        """The Wireshark display filter showing the graded conversation."""
        return f"tcp.stream eq {self.stream}" if self.stream is not None else ""

    def document(self, full: bool = True) -> dict:
        """The sections a reporter renders.  *full* False (a terminal) shortens long frame lists and
        tables to what fits a screen or two, and says where the rest is (``-f json``)."""
        doc = {"submission": dict(self.facts), "rubric": self.rubric, "answers": self.answers,
               "first_segments": self.segments, "retransmissions": self.retransmissions,
               "evidence": self.evidence}
        if full:
            return doc
        rubric = self.rubric.copy()
        rubric["frames"] = rubric["frames"].map(lambda t: some(t.split(", "), _SHOWN_FRAMES) if t else t)
        answers = self.answers.copy()
        answers["frames"] = answers["frames"].map(
            lambda t: some([f for f in t.split(", ") if f.isdigit()], _SHOWN_FRAMES) if t else t)
        doc.update(rubric=rubric, answers=answers)
        cut = []
        for name, table in (("retransmissions", self.retransmissions), ("evidence", self.evidence)):
            if len(table) > _SHOWN_ROWS:
                doc[name] = table.head(_SHOWN_ROWS)
                cut.append(f"{_SHOWN_ROWS} of {len(table)} {name}")
        if cut:
            doc["submission"]["shown"] = "; ".join(cut) + ": every row and frame with -f json"
        return doc


def check(a: Analysis, server: str | None = None, total_packets: int | None = None,
          rubric: Rubric | None = None) -> CheckResult:
    """Grade the TCP lab conversation of *a* by *rubric* (default: the textbook lab's).

    *server* (``HOST`` or ``HOST:PORT``) names the server the student was
    asked to talk to (default: the rubric's); without either the TCP
    conversation with a complete handshake and the most payload is graded.
    Raises :class:`CheckError` for a malformed *server*; a capture without
    the conversation is a result whose ``conversation`` item fails, not an
    error.  *a* may hold only the graded conversation's frames (see
    :func:`check_file`); then *total_packets* gives the capture's frame count.
    """
    rubric = rubric or DEFAULT
    if server and server != rubric.server:
        rubric = replace(rubric, server=server)   # the server asked for is the one the lab names
    server = rubric.server
    file = a.info.name
    row, how = pick_conversation(a.streams, server)
    if row is None:
        return _no_conversation(a, file, how, len(a.packets) if total_packets is None else total_packets, rubric)
    stream = int(row["stream"])
    p = a.packets
    p = p[(p["proto"] == "tcp") & (p["stream"] == stream)].reset_index(drop=True)
    c = Conversation(row, p)
    wanted = [c.value("syn_frame"), c.value("syn_ack_frame")] + lab.first_segment_rows(c, rubric)["frame"].tolist()
    path = a.info.path
    c.wire = read_headers(path, [f for f in wanted if f is not None]) if path != "-" and os.path.isfile(path) else {}

    offloaded, proxy = capture_point.offload(c), capture_point.local_answer(c)
    retrans = lab.retransmission_table(c)
    found = {
        "conversation": (PASS, f"TCP stream {stream}, {c.client_text} -> {c.server_text}: {how}",
                         [int(row["first_frame"])]),
        "lab_server": items.lab_server(c, rubric),
        "handshake": items.handshake(c, rubric),
        "random_isn": items.random_isn(c, rubric),
        "ephemeral_port": items.ephemeral_port(c, rubric),
        "data_both_ways": items.data_both_ways(c, rubric),
        "upload": items.upload(c, rubric),
        "capture_point": items.capture_point(c, rubric, offloaded, proxy),
        "teardown": items.teardown(c, rubric),
        "retransmissions": items.retransmissions(c, rubric, retrans),
        "duplicate_acks": items.duplicate_acks(c, rubric),
        "checksums": items.checksums(c, rubric),
    }
    table = _rubric_table(rubric, found)
    segments = lab.first_segments(c, rubric)
    answers, key = lab.answers(c, rubric, segments, retrans, offloaded, proxy)
    cited = sorted({f for _, _, frames in found.values() for f in frames[:_SHOWN_FRAMES * 4]}
                   | set(segments["frame"].dropna().astype(int)) | set(segments["ack_frame"].dropna().astype(int)))
    evidence = _evidence(a.packets, cited)
    verdicts = dict(zip(table["item"], table["verdict"]))
    overall = overall_verdict(verdicts.values())
    warnings = list(a.info.warnings) + capture_point.summary(offloaded, proxy)
    facts = {"file": file, "overall": overall, "score": score(rubric, verdicts),
             "rubric": f"{rubric.title} ({rubric.source})",
             "conversation": f"TCP stream {stream}", "client": c.client_text, "server": c.server_text,
             "chosen": how, "packets": int(len(p)), "duration_s": round(float(row["duration_s"]), 6),
             "warnings": warnings, "labels": f"as Wireshark {a.wireshark} shows them"}
    summary = {"file": file, "overall": overall, "score": facts["score"], "error": "", "warnings": warnings,
               "stream": stream, "client": c.client, "client_port": c.client_port, "server": c.server,
               "server_port": c.server_port, **verdicts, **key}
    return CheckResult(file=file, stream=stream, facts=facts, rubric=table, answers=answers, segments=segments,
                       retransmissions=retrans, evidence=evidence, summary=summary_row(summary))


def _rubric_table(rubric: Rubric, found: dict) -> pd.DataFrame:
    rows = []
    for item in rubric.items:
        if not item.enabled:
            continue
        verdict, text, frames = found[item.key]
        verdict, text = graded(item, verdict, text)
        rows.append({"item": item.key, "verdict": verdict, "evidence": text, "frames": frames_text(frames)})
    return pd.DataFrame(rows, columns=["item", "verdict", "evidence", "frames"])


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
            seen = sorted({endpoint(s, p) for s, p in zip(tcp["server"], tcp["server_port"])})
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


def check_file(path, server: str | None = None, progress=None,
               rubric: Rubric | None = None) -> tuple[CheckResult, Analysis]:
    """Grade the capture at *path* by *rubric*.

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

    server = server or (rubric.server if rubric else None)
    if not os.path.isfile(path):
        a = analyze(path, progress)
        return check(a, server, rubric=rubric), a
    d = digest(path, progress=progress)
    row, _how = pick_conversation(d.streams, server)
    packets = (stream_frames(path, "tcp", int(row["stream"]), progress) if row is not None
               else schema.conform(pd.DataFrame(), schema.PACKET_COLUMNS))
    a = Analysis(info=d.info, packets=packets, streams=d.streams, wireshark=d.facts["wireshark"])
    return check(a, server, total_packets=d.facts["packets"], rubric=rubric), a


def _no_conversation(a: Analysis, file: str, why: str, total_packets: int, rubric: Rubric) -> CheckResult:
    keys = list(rubric.keys)
    verdicts = [FAIL] + [NA] * (len(keys) - 1)
    table = pd.DataFrame({"item": keys, "verdict": verdicts,
                          "evidence": [why] + ["no conversation to check"] * (len(keys) - 1),
                          "frames": [""] * len(keys)})
    facts = {"file": file, "overall": FAIL, "score": 0.0, "rubric": f"{rubric.title} ({rubric.source})",
             "conversation": "none",
             "chosen": why, "packets": int(total_packets), "warnings": list(a.info.warnings),
             "labels": f"as Wireshark {a.wireshark} shows them"}
    summary = summary_row({"file": file, "overall": FAIL, "score": 0.0, "error": "", "warnings": facts["warnings"],
                           **dict(zip(keys, verdicts))})
    return CheckResult(file=file, stream=None, facts=facts, rubric=table,
                       answers=pd.DataFrame(columns=lab.ANSWER_COLUMNS),
                       segments=pd.DataFrame(columns=lab.SEGMENT_COLUMNS),
                       retransmissions=pd.DataFrame(columns=lab.RETRANSMISSION_COLUMNS),
                       evidence=pd.DataFrame(), summary=summary)


def _evidence(packets: pd.DataFrame, frames: list[int]) -> pd.DataFrame:
    """The cited frames as the packets table has them (with ``explain`` when the table has it)."""
    cols = _EVIDENCE_COLUMNS + (["explain"] if "explain" in packets.columns else [])
    rows = packets[packets["frame"].isin(frames)]
    return rows[cols].reset_index(drop=True)
