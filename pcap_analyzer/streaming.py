"""Reports in bounded memory: the capture read and analysed chunk by chunk.

:func:`.analysis.analyze` keeps every frame's row (about 2 KiB each), which
is what ``packets`` and the notebook want.  A report needs much less: the
streams table, counts, and the labelled frames grouped per label.  Here the
pipeline of :func:`.analysis.analyze` runs over chunks of consecutive
frames; every step that looks back (stream numbering, client/server roles,
the handshake, the sequence analysis) carries its per-stream state from
one chunk to the next, and the tables are added up as they go
(:class:`.summary.StreamFacts`, :class:`.report.documents.EventDigest`,
:class:`.report.documents.ChecksumDigest`).

Two facts are only known at the end of the capture: which senders offload
their checksums (all their checksums fail, everything they receive is
right) and, rarely, who the client of a stream is (a SYN after the stream's
first frames).  When either turns out to change an earlier chunk's
verdicts, the capture is read a second time with those facts given, so the
result always equals the whole-capture analysis (the tests compare them
with chunks of 1, 7 and 1000 frames).

Memory: the chunk being analysed, the next one read meanwhile on another
core and at most one more waiting (``chunk_frames`` rows each, about 2 KiB
a row), plus per stream a few KiB (counts, each side's state, the Zeek
state walk so far) and its segments still unacknowledged; the labelled
frames are kept only for machine formats (``events=True``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from . import analysis, chunks, explain, reader, rules, schema, streams, summary
from .report.documents import REPORT_LEAVES_OUT, ChecksumDigest, EventDigest, events_table
from .rules.checksums import Checksums, ChecksumTally

CHUNK_FRAMES = 150_000


@dataclass
class Digest:
    """What a report shows about one capture, without its frames."""

    info: reader.CaptureInfo
    streams: pd.DataFrame
    facts: dict
    checksums: dict
    notable: pd.DataFrame
    events: pd.DataFrame | None
    passes: int = 1
    # what the last pass assumed about the whole capture (to read it again the same way)
    roles: streams.RoleCarry | None = None
    offloaders: frozenset = frozenset()

    def summary(self) -> dict:
        return self.facts


class _Pass:
    """One read through the capture with the whole-capture facts assumed so far."""

    def __init__(self, path: str, roles: streams.RoleCarry, offloaders: frozenset, events: bool,
                 keep: Callable[[pd.DataFrame], pd.Series] | None = None) -> None:
        self.path = path
        self.info = reader.CaptureInfo(path=path)
        self.stream_carry = streams.StreamCarry()
        self.seed = roles
        self.roles = streams.RoleCarry()
        self.roles.update(roles)
        self.offloaders = offloaders
        self.keep = keep
        self.kept: list[pd.DataFrame] = []
        self.tally = ChecksumTally()
        consistent_min = next(r.consistent_min for r in rules.REGISTRY if isinstance(r, Checksums))
        self.consistent_min = consistent_min
        self.rules = rules.for_chunks(offloaders=offloaders, tally=self.tally)
        self.stream_facts = summary.StreamFacts()
        self.notable = EventDigest(leave_out=REPORT_LEAVES_OUT)
        self.checks = ChecksumDigest()
        self.counts: dict | None = None
        self.first_ts: int | None = None
        self.first_time = None
        self.duration_s = 0.0
        self.events: list[pd.DataFrame] | None = [] if events else None
        # per (stream, side): the last duplicate ACK so far, which an explanation
        # of a later retransmission looks back to
        self.last_dup_acks = pd.DataFrame()

    def read(self, chunk_frames: int, progress: Callable[[int], None] | None = None) -> None:
        """Read and add up the whole capture, a chunk at a time."""
        for chunk in chunks.iter_packet_tables(self.path, self.info, chunk_frames, progress):
            self.add(chunk)

    def add(self, chunk: pd.DataFrame) -> None:
        if self.first_ts is None:
            self.first_ts = int(chunk["ts_ns"].iloc[0])
        p = analysis.label_frames(chunk, self.rules, self.stream_carry, self.roles, self.first_ts)
        if self.keep is not None:
            self.kept.append(p[self.keep(p).to_numpy()])
            return
        if self.first_time is None:
            self.first_time = p["time"].iloc[0]
        self.duration_s = float(p["time_rel_s"].iloc[-1])
        counts = analysis.frame_counts(p)
        self.counts = counts if self.counts is None else {k: v + counts[k] for k, v in self.counts.items()}
        self.stream_facts.add(p)
        self.checks.add(p)
        labelled = p[p["labels"].notna()]
        if self.events is not None:
            self.events.append(events_table(labelled))
        # frames labelled only with what the report leaves out need no sentence
        shown = labelled[~labelled["labels"].isin(list(self.notable.leave_out))]
        self.notable.add(self._explained(shown))

    def _explained(self, labelled: pd.DataFrame) -> pd.DataFrame:
        carried = len(self.last_dup_acks)
        both = pd.concat([self.last_dup_acks, labelled], ignore_index=True) if carried else labelled
        both = both.assign(explain=explain.explain(both))
        dups = both[both["dup_ack_num"].fillna(0).to_numpy() > 0]
        self.last_dup_acks = dups.drop_duplicates(["stream", "from_client"], keep="last").reset_index(drop=True)
        return both.iloc[carried:].reset_index(drop=True)

    def digest(self, passes: int) -> Digest:
        table = schema.conform(self.stream_facts.table(), schema.STREAM_COLUMNS)
        counts = self.counts or dict.fromkeys(("packets", "tcp_packets", "udp_packets", "truncated_frames",
                                               "malformed_frames"), 0)
        facts = analysis.capture_facts(self.info, counts, table, self.first_time, self.duration_s)
        events = None
        if self.events is not None:
            parts = [e for e in self.events if len(e)]
            events = pd.concat(parts, ignore_index=True) if parts else events_table(pd.DataFrame(
                columns=["frame", "proto", "stream", "rel_seq", "rel_ack", "labels"]))
        return Digest(info=self.info, streams=table, facts=facts, checksums=self.checks.facts(),
                      notable=self.notable.table(), events=events, passes=passes, roles=self.seed,
                      offloaders=self.offloaders)


def digest(path: str | os.PathLike, chunk_frames: int = CHUNK_FRAMES, events: bool = False,
           progress: Callable[[str], None] | None = None) -> Digest:
    """Analyse the capture at *path* chunk by chunk and return what a report shows.

    *events* keeps one row per (frame, label) as well (for csv/json reports;
    that list grows with the labelled frames).  Raises
    :class:`.reader.CaptureError` for a file that is not a capture.
    """
    step = progress or (lambda message: None)
    path = os.fspath(path)
    roles = streams.RoleCarry()
    offloaders: frozenset = frozenset()
    for attempt in (1, 2):
        run = _Pass(path, roles, offloaders, events)
        label = "reading frames" if attempt == 1 else "reading frames again"
        step(label)
        run.read(chunk_frames, lambda n: step(f"{label} ({n:,} so far)"))
        found = run.tally.offloaders(run.consistent_min)
        turned = run.roles.changed
        if attempt == 2 or not (turned or run.tally.relabelled(found)):
            return run.digest(attempt)
        # An earlier chunk assumed what the end of the capture contradicts.
        roles = run.roles.decided(turned)
        offloaders = found
    raise AssertionError("unreachable")


def frames_of(path: str | os.PathLike, d: Digest, proto: str, stream: int,
              chunk_frames: int = CHUNK_FRAMES) -> pd.DataFrame:
    """Every frame of one stream, analysed as :func:`.analysis.analyze` would (``explain`` included).

    Reads the capture once more, chunk by chunk, making the same whole-capture
    assumptions as the pass that gave *d*, and keeps only that stream's rows.
    """
    run = _Pass(os.fspath(path), d.roles or streams.RoleCarry(), d.offloaders, False,
                keep=lambda p: (p["proto"] == proto) & (p["stream"] == stream).fillna(False))
    run.read(chunk_frames)
    parts = [k for k in run.kept if len(k)]
    if not parts:
        return schema.conform(pd.DataFrame(), schema.PACKET_COLUMNS)
    p = pd.concat(parts, ignore_index=True)
    p = p.assign(explain=explain.explain(p))
    return schema.conform(p, schema.PACKET_COLUMNS)
