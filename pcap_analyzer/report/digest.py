"""What a report shows of a capture, in memory bounded by its streams and notable frames: the :class:`Digest`.

:func:`.analysis.analyze` keeps every frame's row, which is what ``packets``
and the notebook want.  A report needs much less: the streams table,
counts, the checksum verdicts and the labelled frames grouped per label.
:func:`digest` reads the capture once, a chunk of frames at a time (the
same arrays reused), and keeps of each chunk only its counts and the few
columns of its labelled frames; of the first frame of each kind of
labelled frame it keeps the whole row, to explain it in a sentence.  At the
end, what the whole capture decided (who is client, which senders offload)
is applied to what was kept.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..capture.info import CaptureInfo
from ..pipeline import IN, OUT, TIMES, Background, Chunk, Progress, Run
from ..vocabulary import LABEL_NAMES, PROTOS, REPORT_LEAVES_OUT, VERDICTS
from .tally import ChecksumTally, LabelTally

if TYPE_CHECKING:
    import pandas as pd

# The modules that make tables are imported while the capture is being read (pandas takes a
# good part of a second to load).

_TCP, _UDP = PROTOS.index("tcp"), PROTOS.index("udp")
_BAD, _OFFLOADED = VERDICTS.index("bad"), VERDICTS.index("offloaded")
_TRUNCATED = 1 << LABEL_NAMES.index("truncated")
_BAD_L4 = (1 << LABEL_NAMES.index("bad_tcp_checksum")) | (1 << LABEL_NAMES.index("bad_udp_checksum"))
# The columns kept of a frame whose TCP/UDP checksum failed (its sender may turn out to offload), and
# of every labelled frame for a report that lists them all (``events``): (IN or OUT, name).
_KEPT = (("in", "frame"), ("in", "proto"), ("in", "src"), ("out", "stream"), ("out", "side"),
         ("out", "rel_seq"), ("out", "rel_ack"), ("out", "labels"), ("out", "ip_checksum"), ("out", "l4_checksum"))
_AT = {name: j for j, (_, name) in enumerate(_KEPT)}
# Whole rows kept as example candidates at most (one per kind of labelled frame).
_MAX_EXAMPLES = 20_000


@dataclass
class Digest:
    """What a report shows about one capture, without its frames."""

    info: CaptureInfo
    streams: pd.DataFrame
    facts: dict
    checksums: dict
    notable: pd.DataFrame
    events: pd.DataFrame | None

    def summary(self) -> dict:
        return self.facts


class _Keeper:
    """Takes in a run's chunks: counts, label and checksum tallies, example rows; the frames whose
    checksum verdict only the end of the capture settles; every labelled frame for ``events``."""

    def __init__(self, events: bool, leave_out: tuple) -> None:
        self.events = events
        # frames only labelled with these (and with no checksum to tell about) are counted, not shown
        self.leave_out = sum(1 << LABEL_NAMES.index(name) for name in leave_out if name in LABEL_NAMES)
        self.counts = {"packets": 0, "tcp_packets": 0, "udp_packets": 0, "truncated_frames": 0,
                       "malformed_frames": 0}
        self.labels = LabelTally(leave_out)
        self.checks = ChecksumTally()
        self.pending: list[np.ndarray] = []
        self.kept: list[np.ndarray] = []
        self.examples: dict = {}            # kind of frame -> (in, out, times) columns of its first
        self._rows = [(IN if where == "in" else OUT)[name] for where, name in _KEPT]
        self._from_out = np.array([where == "out" for where, _ in _KEPT])

    def _columns(self, c: Chunk, rows: np.ndarray) -> np.ndarray:
        kept = np.empty((len(_KEPT), len(rows)), dtype=np.int64)
        for j, (r, out) in enumerate(zip(self._rows, self._from_out)):
            kept[j] = (c.out if out else c.inp)[r, rows]
        return kept

    def take(self, c: Chunk) -> None:
        inp, out = c.inp, c.out
        frame, proto, src = inp[IN["frame"]], inp[IN["proto"]], inp[IN["src"]]
        labels, stream = out[OUT["labels"]], out[OUT["stream"]]
        self.counts["packets"] += len(c)
        self.counts["tcp_packets"] += int(np.count_nonzero(proto == _TCP))
        self.counts["udp_packets"] += int(np.count_nonzero(proto == _UDP))
        self.counts["truncated_frames"] += int(np.count_nonzero(labels & _TRUNCATED))
        self.counts["malformed_frames"] += int(np.count_nonzero(inp[IN["malformed"]] > 0))
        ip, l4 = out[OUT["ip_checksum"]], out[OUT["l4_checksum"]]
        pending = l4 == _BAD
        if pending.any():
            self.pending.append(self._columns(c, np.flatnonzero(pending)))
            now = np.flatnonzero(~pending)
            self.labels.add(frame[now], labels[now], proto[now], stream[now])
            self.checks.add(frame[now], ip[now], l4[now], src[now])
        else:
            self.labels.add(frame, labels, proto, stream)
            self.checks.add(frame, ip, l4, src)
        told = labels if self.events else labels & ~self.leave_out
        rows = np.flatnonzero((told != 0) | (ip == _BAD) | pending | (ip == _OFFLOADED) | (l4 == _OFFLOADED))
        if not len(rows):
            return
        if self.events:
            later = rows[~pending[rows]]
            if len(later):
                self.kept.append(self._columns(c, later))
        # a kind of frame: its labels, and its sender when its TCP/UDP checksum is wrong (which
        # becomes offloaded when the sender turns out to offload)
        kind = labels[rows] * 2 ** 20 + np.where(labels[rows] & _BAD_L4, src[rows] + 1, 0)
        _, first = np.unique(kind, return_index=True)
        for r, k in zip(rows[first].tolist(), kind[first].tolist()):
            if k not in self.examples and len(self.examples) < _MAX_EXAMPLES:
                self.examples[k] = (inp[:, r].copy(), out[:, r].copy(), c.times[:, r].copy())

    def settle(self, ending) -> None:
        """Add the frames whose checksum verdict waited for the end, with the end's decisions."""
        if not self.pending:
            return
        p = np.concatenate(self.pending, axis=1)
        self.pending = []
        ending.settle_columns(p[_AT["l4_checksum"]], p[_AT["src"]], p[_AT["labels"]])
        self.labels.add(p[_AT["frame"]], p[_AT["labels"]], p[_AT["proto"]], p[_AT["stream"]])
        self.checks.add(p[_AT["frame"]], p[_AT["ip_checksum"]], p[_AT["l4_checksum"]], p[_AT["src"]])
        if self.events:
            self.kept.append(p)

    def frames(self) -> np.ndarray:
        """The kept frames' columns (:data:`_KEPT`, one column per frame, in frame order)."""
        if not self.kept:
            return np.zeros((len(_KEPT), 0), dtype=np.int64)
        k = np.concatenate(self.kept, axis=1)
        return k[:, np.argsort(k[_AT["frame"]], kind="stable")]


def digest(path: str | os.PathLike, events: bool = False, leave_out: tuple = REPORT_LEAVES_OUT,
           progress: Callable[[Progress], None] | None = None) -> Digest:
    """Analyse the capture at *path* (``-``: standard input) and return what a report shows.

    *events* keeps one row per (frame, label) as well (for csv/json reports;
    that list grows with the labelled frames).  Raises
    :class:`pcap_analyzer.CaptureError` for a file that is not a capture.
    """
    step = progress or (lambda state: None)
    run = Run(path, in_flight=False)
    keeper = _Keeper(events, leave_out)
    # a display follows a mapped file's bytes: counting its frames first would read it twice
    step(run.progress("reading frames"))

    def read() -> None:
        for c in run.chunks(reuse=1, progress=lambda n: step(run.progress("reading frames"))):
            keeper.take(c)

    reading = Background(read)
    # Loading pandas makes a great many objects and no garbage: the cycle collector's passes over
    # them would only take the interpreter from the reading thread's Python steps meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        import pandas  # noqa: F401  (loads while the capture is read)

        from .. import tables  # noqa: F401
        from . import documents  # noqa: F401
    finally:
        if collecting:
            gc.enable()
    reading.result()
    step(run.progress("making the tables"))
    return digest_of(run, keeper, events, leave_out)


def digest_of(run: Run, keeper: _Keeper, events: bool, leave_out: tuple) -> Digest:
    import pandas as pd

    from .. import tables
    from ..analysis import capture_facts

    run.analyser.sequence = None      # its state is not asked for again
    ending = run.ending()
    keeper.settle(ending)
    accepted = tables.accepted_streams(run)
    parts = tables.stream_parts(run, ending)
    run.release()
    streams = tables.streams_table(run, ending, parts)
    del parts
    examples = _examples(keeper, ending, run, accepted)
    first_ts = run.first_ts
    first_time = tables.times_column(np.array([first_ts]), run.info, pd.RangeIndex(1)).iloc[0] \
        if first_ts is not None else None
    duration = (run.last_ts - first_ts) / 1e9 if first_ts is not None else 0.0
    facts = capture_facts(run.info, keeper.counts, streams, first_time, duration, run.wireshark)
    checks = keeper.checks.facts(host=lambda a: ending.address_texts(np.array([a]))[0])
    return Digest(info=run.info, streams=streams, facts=facts, checksums=checks,
                  notable=keeper.labels.table(examples),
                  events=tables.events_table(_frames_table(keeper.frames(), ending)) if events else None)


def _frames_table(kept: np.ndarray, ending) -> pd.DataFrame:
    """The kept frames (:data:`_KEPT` columns) as a small packets table (the columns events read)."""
    import pandas as pd

    from .. import tables
    from ..schema import categorical

    def col(name: str) -> np.ndarray:
        return kept[_AT[name]]

    index = pd.RangeIndex(kept.shape[1])
    fc = ending.client_sent(col("proto"), col("stream"), col("side"))
    return pd.DataFrame({
        "frame": tables.nullable(col("frame")),
        "proto": categorical(col("proto"), list(PROTOS), index),
        "src": categorical(*ending.address_codes(col("src")), index),
        "stream": tables.nullable(col("stream")),
        "from_client": pd.arrays.BooleanArray(fc == 1, fc < 0),
        "rel_seq": tables.nullable(col("rel_seq")),
        "rel_ack": tables.nullable(col("rel_ack")),
        "labels": tables.label_column(col("labels"), index),
        "ip_checksum": tables.none_first(col("ip_checksum"), VERDICTS, index),
        "l4_checksum": tables.none_first(col("l4_checksum"), VERDICTS, index),
    }, index=index)


def _examples(keeper: _Keeper, ending, run: Run, accepted: np.ndarray) -> pd.DataFrame:
    """The example candidates' rows, settled, as a packets table with their ``explain`` sentences."""
    from .. import explain, tables

    rows = sorted(keeper.examples.values(), key=lambda r: int(r[0][IN["frame"]]))
    if rows:
        c = Chunk(np.stack([r[0] for r in rows], axis=1), np.stack([r[1] for r in rows], axis=1),
                  np.stack([r[2] for r in rows], axis=1), {})
    else:
        c = Chunk(np.zeros((len(IN), 0), np.int64), np.zeros((len(OUT), 0), np.int64), np.zeros((len(TIMES), 0)), {})
    ending.settle(c)
    p = tables.packets_table(c, ending, run.info, run.first_ts)
    p["explain"] = explain.explain(p, accepted=accepted)
    return p
