"""``pcapan packets --format csv`` straight from the engine: the table's csv text without the table.

The packets table of a big capture is mostly written to a file.  Here its
csv text is made chunk by chunk from the engine's columns, so neither the
table nor its text is ever whole in memory, and pandas is not needed: the
bytes are those :mod:`.report.csv_text` writes for the table of
:func:`.analysis.analyze` (the tests compare them on every sample and
development capture).

Some rows depend on what only the end of the capture decides (see
:mod:`.engine`: a stream's client, senders that offload checksums, and
which streams had a SYN-ACK, which the sentence of a refusing RST depends
on).  :func:`write_csv` reads the capture once when its output can be
written again from where it started (a regular file, the null device): it
writes the rows with what is known so far and, in the rare capture whose
end changes an earlier row, goes back and writes them again with the end's
facts.  Otherwise (a pipe), and in :func:`csv_blocks`, a first read, the
quickest the engine does (it numbers the streams and keeps nothing), finds
those facts and a second writes the rows.  While the compiled code formats
one chunk (its two halves at the same time), the engine reads the next, and
writes its sentences, on another thread.
"""
from __future__ import annotations

import io
import os
import queue
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator

import numpy as np

from . import _engine, engine, reader
from .analysis import _FLAG_TEXT
from .report.quoting import csv_quoting, quoted_cell, special_bytes
from .schema import PACKET_COLUMNS

_IN = {name: j for j, name in enumerate(_engine.IN_COLUMNS)}
_OUT = {name: j for j, name in enumerate(_engine.OUT_COLUMNS)}
_FLOAT = {name: j for j, name in enumerate(_engine.FLOAT_COLUMNS)}
# bytes of csv text made at a time
_BLOCK_BYTES = 16 << 20


def available() -> bool:
    """Whether the packets csv can be written this way (the engine is built, the csv module quotes as probed)."""
    return engine.available() and csv_quoting() is not None


def _header() -> bytes:
    return (",".join(c.name for c in PACKET_COLUMNS) + "\n").encode("utf-8")


def csv_blocks(path: str | os.PathLike, progress: Callable[[str], None] | None = None,
               chunk_frames: int = engine.CHUNK_FRAMES) -> tuple[reader.CaptureInfo, Iterator]:
    """The capture's info and its packets table's csv text in consecutive blocks (each to be written
    before the next is asked for).  The first read is done here (raising
    :class:`.reader.CaptureError` for a file that is not a capture); the rows are read as the blocks
    are asked for."""
    if progress is not None:
        progress("reading frames")
    first = engine.Pass(path, chunk_frames=chunk_frames, facts_only=True)
    first.run(progress=(lambda n: progress(f"reading frames ({n:,} so far)")) if progress else None)

    def blocks() -> Iterator:
        yield _header()
        if first.engine.packets:
            accepted = _engine.accepted_streams(first.engine)
            yield from _row_blocks(_rows_pass(first, first.second_pass()), lambda c: accepted, progress)
    return first.info, blocks()


def write_csv(path: str | os.PathLike, out: BinaryIO, progress: Callable[[str], None] | None = None,
              chunk_frames: int = engine.CHUNK_FRAMES) -> tuple[reader.CaptureInfo, int]:
    """Write the packets table's csv text of the capture at *path* to *out*; return the capture's
    info and how many times it was read.

    If *out* can be written again from where it stands (see :func:`_rewind_point`),
    the rows are written in one read with the facts known so far, and again
    in a second read only if the end of the capture changed one of them.
    Raises :class:`.reader.CaptureError` for a file that is not a capture,
    before anything is written.
    """
    start = _rewind_point(out)
    if start is None:
        info, blocks = csv_blocks(path, progress, chunk_frames)
        for block in blocks:
            out.write(block)
        return info, 2 if info.frames else 1
    position, truncate = start
    if progress is not None:
        progress("writing frames")
    run = engine.Pass(path, chunk_frames=chunk_frames)
    # TCP streams some RST of which was explained while they had had no SYN-ACK
    doubtful: list = []
    c_proto, c_flags, c_stream = _IN["proto"], _IN["tcp_flags"], _OUT["stream"]
    tcp = _engine.PROTOS.index("tcp")

    def accepted_so_far(c: engine.Chunk) -> np.ndarray:
        accepted = _engine.accepted_streams(run.engine)
        flags = c.inp[c_flags]
        streams = c.out[c_stream][(c.inp[c_proto] == tcp) & (flags >= 0) & (flags & 0x04 != 0)]
        streams = streams[(streams >= 0) & (streams < len(accepted))]
        if len(streams):
            doubtful.append(streams[accepted[streams] == 0])
        return accepted

    wrote = False
    for block in _row_blocks(run, accepted_so_far, progress):
        if not wrote:
            out.write(_header())
            wrote = True
        out.write(block)
    if not wrote:
        out.write(_header())
    if not run.engine.packets:
        return run.info, 1
    accepted = _engine.accepted_streams(run.engine)
    decided = run.second_pass()
    if decided is None and not any(accepted[d].any() for d in doubtful):
        return run.info, 1
    # the end of the capture changed an earlier row: write them all again, knowing it
    out.seek(position)
    if truncate:
        out.truncate()
    if progress is not None:
        progress("writing frames again")
    again = _rows_pass(run, decided)
    out.write(_header())
    for block in _row_blocks(again, lambda c: accepted, progress):
        out.write(block)
    return again.info, 2


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
            except ImportError:     # no fcntl (Windows): whether it appends cannot be told
                return None
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
                return None
            return out.tell(), True
        if stat.S_ISCHR(mode) and os.path.samestat(os.fstat(fd), os.stat(os.devnull)):
            return 0, False
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return None


def _rows_pass(first: engine.Pass, decided: engine.Pass | None) -> engine.Pass:
    """The read that writes the rows: *decided* (``first.second_pass()``, given what *first* found out
    at the end of the capture), or a plain read of *first*'s capture when the end changed nothing."""
    return decided if decided is not None else engine.Pass(first.path, chunk_frames=first.chunk_frames)


def _row_blocks(run: engine.Pass, accepted: Callable[[engine.Chunk], np.ndarray], progress) -> Iterator:
    """The csv rows of the frames *run* reads, in blocks; ``accepted(chunk)``, asked on the engine's
    thread just after the chunk is analysed, says per TCP stream whether it had a SYN-ACK."""
    table: _Cells | None = None
    dups: list = []

    def sentences(c: engine.Chunk):
        # in frame order, on the engine's thread: a sentence may look back at earlier chunks
        return _engine.explain_column(c.inp, c.out, c.fout, accepted(c), run.engine.protos,
                                      run.engine.malformed_names, dups)

    halves = [np.empty(_BLOCK_BYTES, dtype=np.uint8), np.empty(_BLOCK_BYTES, dtype=np.uint8)]
    with ThreadPoolExecutor(1) as helper:
        for chunk, explained in _read_ahead(run, progress, sentences):
            if table is None:
                table = _Cells(run.engine.first_ts)
            specs = table.columns(chunk, run.engine, explained)
            n = chunk.inp.shape[1]
            # the chunk's first and second half of rows formatted at the same time, written in turn
            middle = n // 2
            first_half = helper.submit(lambda: list(_blocks(specs, 0, middle, halves, 0)))
            second_half = list(_blocks(specs, middle, n, halves, 1))
            yield from first_half.result()
            yield from second_half


def _blocks(specs: list, start: int, stop: int, buffers: list, k: int) -> Iterator:
    """The csv text of rows start:stop in blocks; a block longer than one buffer is copied out."""
    row = start
    while row < stop:
        done, size = _engine.csv_rows(specs, special_bytes(), row, stop, buffers[k])
        if done == row:      # one row longer than the buffer
            buffers[k] = np.empty(2 * len(buffers[k]), dtype=np.uint8)
            continue
        row = done
        # the whole half fits in the buffer as a rule: then no copy is needed
        yield memoryview(buffers[k])[:size] if row == stop else bytes(buffers[k][:size])


def _read_ahead(run: engine.Pass, progress, then: Callable[[engine.Chunk], object]) -> Iterator[tuple]:
    """(chunk, then(chunk)) for the analysed chunks of *run*, the engine reading the next (and
    working out *then* of it) on its own thread meanwhile.

    The engine reads the chunks into three sets of arrays in turn (one
    being written out, one waiting, one being filled); at most one chunk
    waits, so a set is not filled again before the chunk it held has been
    written.
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    def hand(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read() -> None:
        try:
            def take(c: engine.Chunk) -> None:
                hand(((c, then(c)), None))

            run.run(take,
                    (lambda n: progress(f"writing frames ({n:,} so far)")) if progress else None, reuse=3)
            hand((None, None))
        except BaseException as exc:  # raised again where the chunks are taken
            hand((None, exc))

    thread = threading.Thread(target=read, name="pcapan-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is None:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class _Cells:
    """The columns of a chunk of frames as the compiled csv writer takes them (``_engine.csv_rows``),
    in :data:`.schema.PACKET_COLUMNS` order, with their texts as the packets table has them."""

    def __init__(self, first_ts: int) -> None:
        self.first_ts = first_ts
        self.flags = [quoted_cell(t) for t in _FLAG_TEXT.tolist()]
        self.verdicts = [b""] + [quoted_cell(v) for v in _engine.VERDICTS[1:]]
        self.fragments = [b""] + [quoted_cell(v) for v in _engine.FRAGMENTS[1:]]
        self.phases = [quoted_cell(p) for p in _engine.PHASES]
        self.labels: dict = {}          # label bits -> cell
        self.addresses: list = []       # the cells of the addresses, by id

    def columns(self, c: engine.Chunk, eng, explained: tuple) -> list:
        """The columns of chunk *c*; *explained* its sentences (``_engine.explain_column``)."""
        i, o, fl = c.inp, c.out, c.fout

        def inp(name):
            return np.ascontiguousarray(i[_IN[name]])

        def out(name):
            return np.ascontiguousarray(o[_OUT[name]])

        def number(a):
            return ("int", a, (a < 0).view(np.uint8))

        def coded(codes, cells, none=-1):
            return ("category", np.where(codes == none, -1, codes).astype(np.int64), cells)

        lt = inp("linktype_id")
        lt_codes, linktypes = _engine.factorize(lt)
        fc = out("from_client")
        flags = inp("tcp_flags")
        label_codes, sets = _engine.factorize(out("labels"))
        label_cells = [self._label_cell(int(m)) for m in sets.tolist()]
        label_codes = np.where(sets[label_codes] == 0, -1, label_codes)
        texts = eng.address_texts()
        self.addresses += [quoted_cell(a) for a in texts[len(self.addresses):]]
        addresses = self.addresses
        offsets, data, valid = explained
        return [
            number(inp("frame")),
            ("time", inp("ts_ns"), np.zeros(len(lt), dtype=np.uint8)),
            ("float", (inp("ts_ns") - self.first_ts) / 1e9),
            number(inp("iface")),
            coded(lt_codes, [quoted_cell(reader.linktype_name(int(v))) for v in linktypes.tolist()]),
            number(inp("cap_len")),
            number(inp("wire_len")),
            coded(inp("proto"), [quoted_cell(p) for p in eng.protos]),
            number(inp("ip_version")),
            coded(inp("src"), addresses),
            number(inp("sport")),
            coded(inp("dst"), addresses),
            number(inp("dport")),
            number(out("stream")),
            ("bool", (fc == 1).view(np.uint8), (fc < 0).view(np.uint8)),
            coded(np.where(flags >= 0, flags & 0x1FF, -1), self.flags),
            number(inp("seq")),
            number(inp("ack")),
            number(out("rel_seq")),
            number(out("rel_ack")),
            number(out("next_rel_seq")),
            number(inp("payload_len")),
            number(inp("window")),
            number(out("window_size")),
            number(inp("mss")),
            number(inp("wscale")),
            number(out("dup_ack_num")),
            number(out("dup_ack_of")),
            number(out("acks_frame")),
            ("float", np.ascontiguousarray(fl[_FLOAT["ack_rtt_s"]])),
            number(out("bytes_in_flight")),
            ("float", np.ascontiguousarray(fl[_FLOAT["rto_s"]])),
            number(out("rto_frame")),
            ("float", np.ascontiguousarray(fl[_FLOAT["initial_rtt_s"]])),
            coded(out("phase"), self.phases),
            ("category", label_codes.astype(np.int64), label_cells),
            coded(out("ip_checksum"), self.verdicts, 0),
            coded(out("l4_checksum"), self.verdicts, 0),
            coded(inp("fragment"), self.fragments, 0),
            coded(inp("malformed"), [b""] + [quoted_cell(m) for m in eng.malformed_names[1:]], 0),
            self._comments(inp("comment"), c.comments),
            ("text", offsets, data, (valid == 0).view(np.uint8)),
        ]

    def _label_cell(self, bits: int) -> bytes:
        cell = self.labels.get(bits)
        if cell is None:
            text = ";".join(name for b, name in enumerate(_engine.LABELS) if bits >> b & 1)
            cell = self.labels[bits] = quoted_cell(text)
        return cell

    @staticmethod
    def _comments(codes: np.ndarray, comments: list) -> tuple:
        """The ``comment`` column: each frame's pcapng comment (codes into *comments*, -1 none)."""
        if not comments:
            return ("text", np.zeros(len(codes) + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8),
                    np.ones(len(codes), dtype=np.uint8))
        texts = [comments[k].encode("utf-8") if k >= 0 else b"" for k in codes.tolist()]
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = np.frombuffer(b"".join(texts), dtype=np.uint8) if offsets[-1] else np.zeros(0, dtype=np.uint8)
        return ("text", offsets, data, (codes < 0).view(np.uint8))
