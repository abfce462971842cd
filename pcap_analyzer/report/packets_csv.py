"""``pcapan packets --format csv`` chunk by chunk: the packets table's csv text without the whole table.

The packets table of a big capture is mostly written to a file.  Here each
chunk of frames becomes a small packets table (with its sentences) and its
csv text as soon as it is analysed, so memory follows the chunk, not the
capture; the bytes are those of :func:`.analysis.analyze`'s table written by
:mod:`.csv_text` (the tests compare them on every sample capture).

A few values are only settled by the end of the capture: a stream's client
when no SYN said it, the senders that offload their checksums, whether a
stream had a SYN-ACK (a RST's sentence says "refuses" when not).  When the
output can be written again from where it started (a regular file not
opened for appending, the null device), the rows are written with what is
known so far and, in the rare capture whose end changes one of them,
written again with the end's facts.  Otherwise (a pipe) a first read finds
those facts and a second writes the rows.  A capture that cannot be read
twice (standard input, a FIFO) is not written this way: see :func:`streamable`.
"""
from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO, Callable

import numpy as np

from ..capture.info import CaptureInfo
from ..pipeline import IN, OUT, Chunk, Ending, Progress, Run
from ..vocabulary import PROTOS, VERDICTS

_BAD, _OFFLOADED = VERDICTS.index("bad"), VERDICTS.index("offloaded")
_TCP = PROTOS.index("tcp")
_RST = 0x04


def streamable(path: str | os.PathLike) -> bool:
    """Whether the capture at *path* can be read a second time (a regular file)."""
    return str(path) != "-" and os.path.isfile(path)


def write_csv(path: str | os.PathLike, out: BinaryIO, progress: Callable[[Progress], None] | None = None) -> CaptureInfo:
    """Write the packets table's csv text of the capture at *path* (see :func:`streamable`) to *out*;
    return the capture's info.  Raises :class:`.capture.info.CaptureError` for a file that is not a
    capture, before anything is written."""
    start = _rewind_point(out)
    if start is None:
        first = Run(path, in_flight=False)     # the facts of the end only
        for _ in first.chunks(reuse=1):
            pass
        final = first.ending()
        accepted = _accepted(first)
        run = Run(path)
        _Rows(run, lambda: final, lambda: accepted).write(out, progress)
        return run.info
    position, truncate = start
    run = Run(path)
    rows = _Rows(run, run.ending, lambda: _accepted(run))
    rows.write(out, progress)
    final = run.ending()
    if not rows.doubtful(final, _accepted(run)):
        return run.info
    # the end of the capture changed an earlier row: write them all again, knowing it
    accepted = _accepted(run)
    out.seek(position)
    if truncate:
        out.truncate()
    again = Run(path)
    _Rows(again, lambda: final, lambda: accepted).write(out, progress)
    return again.info


def _accepted(run: Run) -> np.ndarray:
    from ..tables import accepted_streams

    return accepted_streams(run)


class _Rows:
    """The rows of one read of a capture, each chunk settled by ``ending()`` and its RSTs explained
    with ``accepted()`` as they stand when the chunk is written; notes what may have been written
    before the end of the capture settled it."""

    def __init__(self, run: Run, ending: Callable[[], Ending], accepted: Callable[[], np.ndarray]) -> None:
        self.run = run
        self.ending = ending
        self.accepted = accepted
        self.clients: dict = {1: np.zeros(0, dtype=np.int8), 2: np.zeros(0, dtype=np.int8)}
        self.client_changed = False
        self.written_bad: set = set()           # senders some checksum of which was written as bad
        self.written_offloaded: set = set()     # ... as offloaded
        self.refused: list = []                 # TCP streams a RST of which was explained without a SYN-ACK
        self.time_base = run.info.time_base_ns

    def write(self, out: BinaryIO, progress: Callable[[Progress], None] | None) -> None:
        from .. import explain, schema, tables
        from .csv_text import frame_csv_blocks

        header = True
        for c in self.run.chunks(reuse=1):
            ending = self.ending()
            ending.settle(c)
            accepted = self.accepted()
            self._note(c, ending, accepted)
            p = tables.packets_table(c, ending, self.run.info, self.run.first_ts)
            p["explain"] = explain.explain(p, accepted=accepted)
            for block in frame_csv_blocks(schema.conform(p, schema.PACKET_COLUMNS), header=header):
                out.write(block)
            header = False
            if progress is not None:
                progress(self.run.progress("writing frames"))
        if header:      # no frame: the column names alone
            p = tables.packets_table(Chunk(*_no_columns(), {}), self.ending(), self.run.info, self.run.first_ts)
            p["explain"] = explain.explain(p)
            for block in frame_csv_blocks(schema.conform(p, schema.PACKET_COLUMNS)):
                out.write(block)

    def _note(self, c: Chunk, ending: Ending, accepted: np.ndarray) -> None:
        inp, out = c.inp, c.out
        proto, stream = inp[IN["proto"]], out[OUT["stream"]]
        for kind, code in ((1, 0), (2, 1)):
            s = np.unique(stream[(proto == code) & (stream >= 0)])
            if not len(s):
                continue
            now = ending.clients[kind][s].astype(np.int8)
            seen = self.clients[kind]
            if len(seen) <= s[-1]:
                seen = self.clients[kind] = np.concatenate([seen, np.full(s[-1] + 1 - len(seen), -2, np.int8)])
            before = seen[s]
            if ((before != -2) & (before != now)).any():
                self.client_changed = True
            seen[s] = now
        l4, src = out[OUT["l4_checksum"]], inp[IN["src"]]
        self.written_bad.update(np.unique(src[l4 == _BAD]).tolist())
        self.written_offloaded.update(np.unique(src[l4 == _OFFLOADED]).tolist())
        flags = inp[IN["tcp_flags"]]
        rst = np.unique(stream[(proto == _TCP) & (flags >= 0) & (flags & _RST != 0) & (stream >= 0)])
        if len(rst):
            self.refused.append(rst[~np.isin(rst, accepted)])

    def doubtful(self, final: Ending, accepted: np.ndarray) -> bool:
        """Whether the end of the capture (*final*; *accepted*, the TCP streams that had a SYN-ACK)
        changes a row written before it."""
        if self.client_changed or self.run.info.time_base_ns != self.time_base:
            return True
        for kind in (1, 2):
            seen = self.clients[kind]
            known = np.flatnonzero(seen != -2)
            if len(known) and (final.clients[kind][known].astype(np.int8) != seen[known]).any():
                return True
        offloaders = set(np.asarray(final.offloaders).tolist())
        if self.written_bad & offloaders or self.written_offloaded - offloaders:
            return True
        return any(np.isin(r, accepted).any() for r in self.refused)


def _no_columns() -> tuple:
    from ..pipeline import empty_columns

    return empty_columns(0)


def _rewind_point(out) -> tuple[int, bool] | None:
    """Where *out* stands and whether to cut it there when going back, if it can be written again
    from there: a regular file not opened for appending, the null device, or an in-memory file;
    None for anything else (a pipe, a terminal)."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None
    try:
        if fd is None:
            return (out.tell(), True) if getattr(out, "seekable", lambda: False)() else None
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            try:
                import fcntl
            except ImportError:     # no fcntl: whether it appends cannot be told
                return None
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
                return None
            return out.tell(), True
        if stat.S_ISCHR(mode) and os.path.samestat(os.fstat(fd), os.stat(os.devnull)):
            return 0, False
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return None
