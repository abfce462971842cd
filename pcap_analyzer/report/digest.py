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

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..capture.info import CaptureInfo
from ..pipeline import IN, OUT, Background, Chunk, Progress, Run
from ..vocabulary import LABEL_NAMES, PROTOS, REPORT_LEAVES_OUT, VERDICTS

if TYPE_CHECKING:
    import pandas as pd

# The modules that make tables are imported while the capture is being read (pandas takes a
# good part of a second to load).

_TCP, _UDP = PROTOS.index("tcp"), PROTOS.index("udp")
_BAD, _OFFLOADED = VERDICTS.index("bad"), VERDICTS.index("offloaded")
_TRUNCATED = 1 << LABEL_NAMES.index("truncated")
_BAD_L4 = (1 << LABEL_NAMES.index("bad_tcp_checksum")) | (1 << LABEL_NAMES.index("bad_udp_checksum"))
# The frames kept for what they say in a report: these columns of the frame ones, and of the analysis'.
_KEPT_IN = ("frame", "proto", "src")
_KEPT_OUT = ("stream", "side", "rel_seq", "rel_ack", "labels", "ip_checksum", "l4_checksum")
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
    """Takes in a run's chunks: counts, the labelled and checksum-failing frames, example rows."""

    def __init__(self, events: bool, leave_out: tuple) -> None:
        self.events = events
        # frames only labelled with these (and with no checksum to tell about) are counted, not kept
        self.leave_out = sum(1 << LABEL_NAMES.index(name) for name in leave_out if name in LABEL_NAMES)
        self.counts = {"packets": 0, "tcp_packets": 0, "udp_packets": 0, "truncated_frames": 0,
                       "malformed_frames": 0}
        self.verdicts = {"good": 0, "unverified": 0}
        self.kept: list[np.ndarray] = []
        self.examples: dict = {}            # kind of frame -> (in, out, times) columns of its first
        self._in = [IN[name] for name in _KEPT_IN]
        self._out = [OUT[name] for name in _KEPT_OUT]

    def take(self, c: Chunk) -> None:
        inp, out = c.inp, c.out
        proto, labels = inp[IN["proto"]], out[OUT["labels"]]
        self.counts["packets"] += len(c)
        self.counts["tcp_packets"] += int(np.count_nonzero(proto == _TCP))
        self.counts["udp_packets"] += int(np.count_nonzero(proto == _UDP))
        self.counts["truncated_frames"] += int(np.count_nonzero(labels & _TRUNCATED))
        self.counts["malformed_frames"] += int(np.count_nonzero(inp[IN["malformed"]] > 0))
        ip, l4 = out[OUT["ip_checksum"]], out[OUT["l4_checksum"]]
        for name in self.verdicts:
            v = VERDICTS.index(name)
            self.verdicts[name] += int(np.count_nonzero((ip == v) | (l4 == v)))
        told = labels if self.events else labels & ~self.leave_out
        rows = np.flatnonzero((told != 0) | (ip == _BAD) | (l4 == _BAD) | (ip == _OFFLOADED) | (l4 == _OFFLOADED))
        if not len(rows):
            return
        self.kept.append(np.concatenate([inp[self._in][:, rows], out[self._out][:, rows]]))
        # a kind of frame: its labels, and its sender when its TCP/UDP checksum is wrong (which
        # becomes offloaded when the sender turns out to offload)
        kind = labels[rows] * 2 ** 20 + np.where(labels[rows] & _BAD_L4, inp[IN["src"], rows] + 1, 0)
        _, first = np.unique(kind, return_index=True)
        for r, k in zip(rows[first].tolist(), kind[first].tolist()):
            if k not in self.examples and len(self.examples) < _MAX_EXAMPLES:
                self.examples[k] = (inp[:, r].copy(), out[:, r].copy(), c.times[:, r].copy())

    def frames(self) -> np.ndarray:
        """The kept frames' columns (_KEPT_IN then _KEPT_OUT, one column per frame)."""
        if not self.kept:
            return np.zeros((len(_KEPT_IN) + len(_KEPT_OUT), 0), dtype=np.int64)
        return np.concatenate(self.kept, axis=1)


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
    if progress is not None:
        run.count()         # the total the display shows (cheap: only a mapped file's are counted)
    step(run.progress("reading frames"))

    def read() -> None:
        for c in run.chunks(reuse=1, progress=lambda n: step(run.progress("reading frames"))):
            keeper.take(c)

    reading = Background(read)
    import pandas  # noqa: F401  (loads while the capture is read)

    from .. import tables  # noqa: F401
    from . import documents  # noqa: F401
    reading.result()
    step(run.progress("making the tables"))
    return digest_of(run, keeper, events, leave_out)


def digest_of(run: Run, keeper: _Keeper, events: bool, leave_out: tuple) -> Digest:
    import pandas as pd

    from .. import tables
    from ..analysis import capture_facts
    from .documents import ChecksumDigest, EventDigest

    run.analyser.sequence = None      # its state is not asked for again
    ending = run.ending()
    kept = keeper.frames()
    at = {name: j for j, name in enumerate(_KEPT_IN + _KEPT_OUT)}
    # the kept frames with the whole capture's decisions applied (in the kept columns' layout)
    settled = ending.settle(Chunk(_spread(kept, at, IN, _KEPT_IN), _spread(kept, at, OUT, _KEPT_OUT),
                                  np.zeros((3, kept.shape[1])), {}))
    accepted = tables.accepted_streams(run)
    parts = tables.stream_parts(run, ending)
    run.release()
    streams = tables.streams_table(run, ending, parts)
    del parts
    frames = _frames_table(settled, ending)
    examples = _examples(keeper, ending, run, accepted)
    first_ts = run.first_ts
    first_time = tables.times_column(np.array([first_ts]), run.info, pd.RangeIndex(1)).iloc[0] \
        if first_ts is not None else None
    duration = (run.last_ts - first_ts) / 1e9 if first_ts is not None else 0.0
    facts = capture_facts(run.info, keeper.counts, streams, first_time, duration)
    notable = EventDigest(leave_out=leave_out)
    notable.add(frames, examples)
    checks = ChecksumDigest()
    checks.add(frames)
    checks.counts.update(keeper.verdicts)
    return Digest(info=run.info, streams=streams, facts=facts, checksums=checks.facts(), notable=notable.table(),
                  events=tables.events_table(frames) if events else None)


def _spread(kept: np.ndarray, at: dict, layout: dict, names: tuple) -> np.ndarray:
    """The kept columns *names* in a full columns array of *layout* (other rows -1)."""
    full = np.full((len(layout), kept.shape[1]), -1, dtype=np.int64)
    for name in names:
        full[layout[name]] = kept[at[name]]
    return full


def _frames_table(c: Chunk, ending) -> pd.DataFrame:
    """The kept frames as a small packets table (the columns a digest reads)."""
    import pandas as pd

    from .. import tables
    from ..schema import categorical

    inp, out = c.inp, c.out
    index = pd.RangeIndex(inp.shape[1])
    fc = ending.from_client(inp, out)
    return pd.DataFrame({
        "frame": tables.nullable(inp[IN["frame"]]),
        "proto": categorical(inp[IN["proto"]], list(PROTOS), index),
        "src": categorical(*ending.address_codes(inp[IN["src"]]), index),
        "stream": tables.nullable(out[OUT["stream"]]),
        "from_client": pd.arrays.BooleanArray(fc == 1, fc < 0),
        "rel_seq": tables.nullable(out[OUT["rel_seq"]]),
        "rel_ack": tables.nullable(out[OUT["rel_ack"]]),
        "labels": tables.label_column(out[OUT["labels"]], index),
        "ip_checksum": tables.none_first(out[OUT["ip_checksum"]], VERDICTS, index),
        "l4_checksum": tables.none_first(out[OUT["l4_checksum"]], VERDICTS, index),
    }, index=index)


def _examples(keeper: _Keeper, ending, run: Run, accepted: np.ndarray) -> pd.DataFrame:
    """The example candidates' rows, settled, as a packets table with their ``explain`` sentences."""
    from .. import explain, tables

    rows = sorted(keeper.examples.values(), key=lambda r: int(r[0][IN["frame"]]))
    if rows:
        c = Chunk(np.stack([r[0] for r in rows], axis=1), np.stack([r[1] for r in rows], axis=1),
                  np.stack([r[2] for r in rows], axis=1), {})
    else:
        c = Chunk(np.zeros((len(IN), 0), np.int64), np.zeros((len(OUT), 0), np.int64), np.zeros((3, 0)), {})
    ending.settle(c)
    p = tables.packets_table(c, ending, run.info, run.first_ts)
    p["explain"] = explain.explain(p, accepted=accepted)
    return p
