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

A big classic pcap file can also be shared out among processes
(``digest(jobs=N)``): each reads the whole file, keeps one share of its
conversations (:class:`.fastpath.Split`) and runs the same chunked pass on
it; the shares' findings are then put together (:func:`_combined`), which
gives the same digest as one process.

Memory: the chunk being analysed, the next one read meanwhile on another
core and at most one more waiting (``chunk_frames`` rows each, about 2 KiB
a row), plus per stream a few KiB (counts, each side's state, the Zeek
state walk so far) and its segments still unacknowledged; the labelled
frames are kept only for machine formats (``events=True``).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from . import analysis, chunks, explain, fastpath, reader, rules, schema, streams, summary
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


_COUNTS = ("packets", "tcp_packets", "udp_packets", "truncated_frames", "malformed_frames")


def _consistent_min() -> int:
    """How many failing checksums make a sender an offloader (the checksum rule's setting)."""
    return next(r.consistent_min for r in rules.REGISTRY if isinstance(r, Checksums))


def _no_events() -> pd.DataFrame:
    return events_table(pd.DataFrame(columns=["frame", "proto", "stream", "rel_seq", "rel_ack", "labels"]))


class _Pass:
    """One read through the capture with the whole-capture facts assumed so far."""

    def __init__(self, path: str, roles: streams.RoleCarry, offloaders: frozenset, events: bool,
                 keep: Callable[[pd.DataFrame], pd.Series] | None = None,
                 split: fastpath.Split | None = None) -> None:
        self.path = path
        self.split = split
        self.info = reader.CaptureInfo(path=path)
        self.stream_carry = streams.StreamCarry()
        self.seed = roles
        self.roles = streams.RoleCarry()
        self.roles.update(roles)
        self.offloaders = offloaders
        self.keep = keep
        self.kept: list[pd.DataFrame] = []
        self.tally = ChecksumTally()
        self.consistent_min = _consistent_min()
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
        # the processes of a split already keep every core busy: a reading thread would only take turns
        for chunk in chunks.iter_packet_tables(self.path, self.info, chunk_frames, progress, self.split,
                                               read_ahead=False if self.split is not None else None):
            self.add(chunk)

    def add(self, chunk: pd.DataFrame) -> None:
        if self.first_ts is None:
            # times count from the capture's first frame, which a share may not hold
            self.first_ts = self.split.first_ts if self.split is not None else int(chunk["ts_ns"].iloc[0])
        # the display columns are for kept frames; a digest writes flags only where it explains
        p = analysis.label_frames(chunk, self.rules, self.stream_carry, self.roles, self.first_ts,
                                  display=self.keep is not None)
        if self.keep is not None:
            self.kept.append(p[self.keep(p).to_numpy()])
            return
        if self.first_time is None:
            self.first_time = pd.Timestamp(self.first_ts, unit="ns", tz="UTC")
        self.duration_s = (int(p["ts_ns"].iloc[-1]) - self.first_ts) / 1e9
        counts = analysis.frame_counts(p)
        self.counts = counts if self.counts is None else {k: v + counts[k] for k, v in self.counts.items()}
        self.stream_facts.add(p)
        self.checks.add(p)
        if self.events is not None:
            self.events.append(events_table(p))
        # frames labelled only with what the report leaves out need no sentence
        labels = p["labels"]
        shown = p[(labels.notna() & ~labels.isin(list(self.notable.leave_out))).to_numpy()]
        self.notable.add(self._explained(shown))

    def _explained(self, labelled: pd.DataFrame) -> pd.DataFrame:
        """*labelled* with the ``explain`` sentences the report may show as examples (others missing).

        A frame's sentence looks back only at frames of its own stream (the
        duplicate ACKs before a retransmission, the SYN-ACK of a refused
        connection), so the sentences are written for the streams of the
        wanted frames only, which is the same as writing them for all.
        """
        carried = len(self.last_dup_acks)
        both = pd.concat([self.last_dup_acks, labelled], ignore_index=True) if carried else labelled
        want = np.concatenate([np.zeros(carried, dtype=bool), self.notable.wanted(labelled)])
        stream = both["stream"].to_numpy(dtype=np.int64, na_value=-1)
        rows = np.flatnonzero(want | np.isin(stream, stream[want & (stream >= 0)]))
        sentences = np.full(len(both), None, dtype=object)
        if len(rows):
            told = both.iloc[rows]
            told = told.assign(flags=analysis.flag_text(told["tcp_flags"]))
            sentences[rows] = explain.explain(told).to_numpy(dtype=object, na_value=None)
        both = both.assign(explain=sentences)
        dups = both[both["dup_ack_num"].fillna(0).to_numpy() > 0]
        self.last_dup_acks = dups.drop_duplicates(["stream", "from_client"], keep="last").reset_index(drop=True)
        return both.iloc[carried:].reset_index(drop=True)

    def labelled_events(self) -> pd.DataFrame | None:
        """The (frame, label) rows kept so far, if kept and any."""
        parts = [e for e in self.events or [] if len(e)]
        return pd.concat(parts, ignore_index=True) if parts else None

    def digest(self, passes: int) -> Digest:
        table = schema.conform(self.stream_facts.table(), schema.STREAM_COLUMNS)
        counts = self.counts or dict.fromkeys(_COUNTS, 0)
        facts = analysis.capture_facts(self.info, counts, table, self.first_time, self.duration_s)
        events = self.labelled_events()
        if self.events is not None and events is None:
            events = _no_events()
        return Digest(info=self.info, streams=table, facts=facts, checksums=self.checks.facts(),
                      notable=self.notable.table(), events=events, passes=passes, roles=self.seed,
                      offloaders=self.offloaders)


def digest(path: str | os.PathLike, chunk_frames: int = CHUNK_FRAMES, events: bool = False,
           progress: Callable[[str], None] | None = None, jobs: int = 1) -> Digest:
    """Analyse the capture at *path* chunk by chunk and return what a report shows.

    *events* keeps one row per (frame, label) as well (for csv/json reports;
    that list grows with the labelled frames).  With *jobs* above 1, a
    classic pcap file of at least :data:`SPLIT_MIN_BYTES` is analysed by that
    many processes, each taking a share of the streams (see
    :func:`_split_digest`); the result is the same.  Raises
    :class:`.reader.CaptureError` for a file that is not a capture.
    """
    from . import engine

    if engine.available() and jobs <= 1:
        from . import results

        return results.digest(path, chunk_frames, events, progress)
    return digest_readably(path, chunk_frames, events, progress, jobs)


def digest_readably(path: str | os.PathLike, chunk_frames: int = CHUNK_FRAMES, events: bool = False,
                    progress: Callable[[str], None] | None = None, jobs: int = 1) -> Digest:
    """:func:`digest` by the readable pipeline, chunk by chunk (the tests' reference)."""
    step = progress or (lambda message: None)
    path = os.fspath(path)
    if jobs > 1 and _worth_splitting(path):
        d = _split_digest(path, jobs, chunk_frames, events, step)
        if d is not None:
            return d
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


# Smaller captures are analysed in one process: starting another costs more than it saves.
SPLIT_MIN_BYTES = 64 * 2**20


def _worth_splitting(path: str) -> bool:
    try:
        return os.path.getsize(path) >= SPLIT_MIN_BYTES and fastpath.can_read(path)
    except OSError:
        return False


@dataclass
class _Share:
    """What one process found in its share of a capture's streams (sent back to the first one)."""

    info: reader.CaptureInfo
    split: fastpath.Split
    counts: dict | None
    streams: pd.DataFrame
    checks: ChecksumDigest
    notable: EventDigest
    events: pd.DataFrame | None
    tally: ChecksumTally
    roles_turned: bool


def _analyse_share(path: str, split: fastpath.Split, offloaders: frozenset, chunk_frames: int, events: bool,
                   progress: Callable[[int], None] | None = None) -> _Share:
    run = _Pass(path, streams.RoleCarry(), offloaders, events, split=split)
    run.read(chunk_frames, progress)
    return _Share(run.info, split, run.counts, run.stream_facts.table(), run.checks, run.notable,
                  run.labelled_events(), run.tally, bool(run.roles.changed))


def _share_process(conn, path: str, split: fastpath.Split, offloaders: frozenset, chunk_frames: int,
                   events: bool) -> None:
    """In a forked process: analyse one share and send it back (or the error that stopped it)."""
    # Another thread of the first process (a progress display) may have held
    # the lock of stdout or stderr at the fork: this process writes nowhere
    # through them (a warning here would otherwise wait on that lock forever).
    sys.stdout = sys.stderr = open(os.devnull, "w")
    try:
        conn.send(("done", _analyse_share(path, split, offloaders, chunk_frames, events)))
    except BaseException as exc:  # the first process decides what to do about it
        try:
            conn.send(("error", exc))
        except Exception:
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def _run_shares(path: str, count: int, offloaders: frozenset, chunk_frames: int, events: bool,
                progress: Callable[[int], None]) -> list[_Share] | None:
    """Every share of the capture: share 0 here, the others in forked processes; None if one failed."""
    import multiprocessing

    # Forked, the other processes start with everything this one has loaded.
    # Only this process's own code runs in them (no lock another thread of
    # this process could hold is taken there), and nothing is read yet.
    ctx = multiprocessing.get_context("fork")
    workers = []
    for index in range(1, count):
        mine, theirs = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_share_process, daemon=True,
                           args=(theirs, path, fastpath.Split(index, count), offloaders, chunk_frames, events))
        proc.start()
        theirs.close()
        workers.append((proc, mine))
    results: list[_Share] | None = []
    try:
        results.append(_analyse_share(path, fastpath.Split(0, count), offloaders, chunk_frames, events, progress))
        for proc, conn in workers:
            try:
                status, value = conn.recv()
            except EOFError:                 # the process died (killed, out of memory)
                results = None
                continue
            if status == "error":
                if isinstance(value, reader.CaptureError):
                    raise value
                results = None
            elif results is not None:
                results.append(value)
    finally:
        for proc, conn in workers:
            conn.close()
            if proc.is_alive():
                proc.terminate()
            proc.join()
    return results


def _split_digest(path: str, count: int, chunk_frames: int, events: bool,
                  step: Callable[[str], None]) -> Digest | None:
    """The digest of the capture analysed by *count* processes, each a share of its streams.

    Every step of the analysis looks at one stream at a time, except three
    that see the whole capture, and those are put together here: the
    stream numbers (in order of each stream's first frame, over all
    shares), the checksum tally that decides which senders offload, and the
    frame counts and times.  None -- analyse in one process instead -- when
    a share could not be analysed apart: a frame filed under a second flow
    (which may number a stream before its first frame), a stream whose
    client turned round late (a second pass needs one numbering), or a
    process that failed.
    """
    offloaders: frozenset = frozenset()
    consistent_min = _consistent_min()
    for attempt in (1, 2):
        label = "reading frames" if attempt == 1 else "reading frames again"
        step(label)
        parts = _run_shares(path, count, offloaders, chunk_frames, events,
                            lambda n: step(f"{label} ({n:,} so far)"))
        if parts is None or parts[0].split.first_ts is None or any(p.split.crosses or p.roles_turned
                                                                   for p in parts):
            return None
        tally = ChecksumTally()
        for p in parts:
            tally.merge(p.tally)
        found = tally.offloaders(consistent_min)
        if attempt == 2 or not tally.relabelled(found):
            return _combined(parts, attempt, offloaders, events)
        offloaders = found
    raise AssertionError("unreachable")


def _combined(parts: list[_Share], passes: int, offloaders: frozenset, events_wanted: bool) -> Digest:
    """One digest of the shares of a capture."""
    tables = [p.streams.assign(share=n) for n, p in enumerate(parts) if len(p.streams)]
    number: dict = {}
    table = pd.DataFrame()
    if tables:
        table = pd.concat(tables, ignore_index=True)
        # streams are numbered per protocol in order of their first frame, as one process numbers them
        table = table.sort_values(["proto", "first_frame"], kind="stable", key=lambda c: c != "tcp"
                                  if c.name == "proto" else c, ignore_index=True)
        new = table.groupby("proto", sort=False).cumcount().to_numpy()
        number = dict(zip(zip(table["share"].tolist(), table["proto"].tolist(), table["stream"].tolist()),
                          new.tolist()))
        table = table.assign(stream=new).drop(columns="share")
    counts = dict.fromkeys(_COUNTS, 0)
    for p in parts:
        for k in _COUNTS:
            counts[k] += p.counts[k] if p.counts else 0
    info = parts[0].info
    split = parts[0].split
    first_time = pd.to_datetime(split.first_ts, unit="ns", utc=True)
    duration_s = (split.last_ts - split.first_ts) / 1e9
    table = schema.conform(table, schema.STREAM_COLUMNS)
    facts = analysis.capture_facts(info, counts, table, first_time, duration_s)
    checks = ChecksumDigest()
    for p in parts:
        checks.merge(p.checks)
    notable = EventDigest.combined([p.notable for p in parts], lambda n, proto, stream: number[(n, proto, stream)])
    events = None
    if events_wanted:
        renumbered = []
        for n, p in enumerate(parts):
            if p.events is None:
                continue
            ev = p.events.copy()
            known = ev["stream"].notna().to_numpy()
            ev.loc[known, "stream"] = [number[(n, pr, st)] for pr, st in
                                       zip(ev.loc[known, "proto"].astype(str).tolist(),
                                           ev.loc[known, "stream"].astype(int).tolist())]
            renumbered.append(ev)
        events = pd.concat(renumbered, ignore_index=True).sort_values("frame", kind="stable", ignore_index=True) \
            if renumbered else _no_events()
    return Digest(info=info, streams=table, facts=facts, checksums=checks.facts(), notable=notable.table(),
                  events=events, passes=passes, roles=streams.RoleCarry(), offloaders=offloaders)


def frames_of(path: str | os.PathLike, d: Digest, proto: str, stream: int,
              chunk_frames: int = CHUNK_FRAMES) -> pd.DataFrame:
    """Every frame of one stream, analysed as :func:`.analysis.analyze` would (``explain`` included).

    Reads the capture once more, chunk by chunk, making the same whole-capture
    assumptions as the pass that gave *d*, and keeps only that stream's rows.
    """
    from . import engine

    if engine.available():
        from . import results

        return results.frames_of(path, d, proto, stream, chunk_frames)
    run = _Pass(os.fspath(path), d.roles or streams.RoleCarry(), d.offloaders, False,
                keep=lambda p: (p["proto"] == proto) & (p["stream"] == stream).fillna(False))
    run.read(chunk_frames)
    parts = [k for k in run.kept if len(k)]
    if not parts:
        return schema.conform(pd.DataFrame(), schema.PACKET_COLUMNS)
    p = pd.concat(parts, ignore_index=True)
    p = p.assign(explain=explain.explain(p))
    return schema.conform(p, schema.PACKET_COLUMNS)
