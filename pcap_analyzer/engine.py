"""Captures read and analysed by the compiled engine (:mod:`._engine`), chunk by chunk.

This is how pcapan analyses a capture when its compiled engine is built (it
is, by ``pip install``): the file is read a chunk of frames at a time, each
chunk decoded into integer columns and analysed in one compiled pass that
carries every stream's state on to the next chunk.  Classic pcap files are
memory-mapped and framed and decoded in compiled code; the few frames that
decoder leaves out (and every frame of other formats) go through the
readable decoder of :mod:`.decode`.

Two facts are only known at the end of a capture: which senders offload
their checksums, and, rarely, that a stream's client turned out to be the
other side (a SYN after its first frames).  When either changes what earlier
frames were given, :func:`analysed` reads the capture a second time with
those facts decided, so the result is the whole-capture analysis.

Nothing here imports pandas: a command can start the pass and load the
libraries that format its output meanwhile.  :mod:`.results` turns a pass
into the packets, streams and report tables.
"""
from __future__ import annotations

import mmap
import os
import struct
import threading
from itertools import islice
from typing import Callable, Iterator, NamedTuple

import numpy as np

from . import reader
from .defrag import Defragmenter

try:
    from . import _engine
except ImportError:  # not built (no compiler at install time): the readable pipeline does the work
    _engine = None

# Frames per chunk: big enough that the per-chunk overhead vanishes, small
# enough that a chunk's columns stay a few tens of MB.
CHUNK_FRAMES = 150_000
# A sender failing at least this many checksums, and none it receives, offloads them
# (as rules.checksums.Checksums.consistent_min).
CONSISTENT_MIN = 3

# Link types the compiled decoder reads itself; other classic pcaps are framed
# in compiled code and decoded by the readable decoder.
_FAST_LINKTYPES = (1, 101, 228, 229)


def available() -> bool:
    """Whether the compiled engine is built (and not switched off with PCAPAN_NO_ENGINE=1)."""
    return _engine is not None and not os.environ.get("PCAPAN_NO_ENGINE")


class _Classic(NamedTuple):
    """An open classic pcap: its memory map and header facts."""

    mm: mmap.mmap
    big_endian: bool
    nano: bool
    snaplen: int
    linktype: int


def _open_classic(path: str) -> _Classic | None:
    """The classic, uncompressed pcap at *path*, mapped; None for anything else (read_frames decides)."""
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        head = f.read(24)
        if len(head) < 24:
            return None
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in reader._PCAP_MAGICS:
            return None
        order, nano = reader._PCAP_MAGICS[magic]
        snaplen, linktype = struct.unpack(order + "II", head[16:24])
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
    return _Classic(mm, order == ">", nano, snaplen, linktype & 0x0FFFFFF)


class Chunk(NamedTuple):
    """Columns of consecutive frames: *inp* in (engine.IN_COLUMNS), *out* and *fout* the analysis'
    (OUT_COLUMNS, FLOAT_COLUMNS); *comments* the texts column ``comment`` points into."""

    inp: np.ndarray
    out: np.ndarray
    fout: np.ndarray
    comments: list


def _decode_slow(engine, linktype: int, data: bytes, wire_len: int, inp: np.ndarray, i: int) -> None:
    from . import decode

    try:
        row = decode.decode_frame(linktype, data, wire_len)
    except (struct.error, IndexError, ValueError):
        # a layer the decoder follows failed in a way its checks did not foresee
        row = decode._row("other", malformed="link")
    engine.fill(inp, i, row)


def _classic_columns(pcap: _Classic, info: reader.CaptureInfo, engine, limit: int, reuse: int,
                     into: np.ndarray | None = None, ready: Callable[[int], None] | None = None) -> Iterator[tuple]:
    """(inp, count, comments) for chunks of up to *limit* frames of a classic pcap: *reuse* sets
    of arrays in turn (0: new ones for every chunk), or consecutive parts of *into* if given (each
    part written after ``ready(end of the part)`` returns)."""
    mm = pcap.mm
    buf = np.frombuffer(mm, dtype=np.uint8)
    try:
        info.file_format = "pcap-ns" if pcap.nano else "pcap"
        info.snaplen = pcap.snaplen
        info.linktypes[0] = pcap.linktype
        scale = 1 if pcap.nano else 1000
        defrag = Defragmenter()
        pos = 24
        done = 0
        released = 0
        fast = pcap.linktype in _FAST_LINKTYPES
        buffers: dict = {}
        turn = 0
        while True:
            k, pos, offs, caps, wires, secs, fracs, status, bad = _engine.frame_index(buf, pos, pcap.big_endian,
                                                                                       limit)
            offs, caps, wires = offs[:k], caps[:k], wires[:k]
            ts = secs[:k] * 1_000_000_000 + fracs[:k] * scale
            if into is not None:
                if ready is not None:
                    ready(done + k)
                inp = into[:, done:done + k]
            elif reuse:
                inp = _reused(buffers, turn % reuse, (len(_engine.IN_COLUMNS), k), np.int64)
                turn += 1
            else:
                inp = np.empty((len(_engine.IN_COLUMNS), k), dtype=np.int64)
            if fast:
                slow = engine.decode(buf, offs, caps, wires, ts, pcap.linktype, done + 1, inp)
            else:
                slow = np.arange(k)
                frame_columns(inp, np.arange(done + 1, done + 1 + k), ts, caps, wires, 0, pcap.linktype)
            if len(slow):
                from . import decode

                with decode.reassembling(defrag):
                    for i in slow.tolist():
                        o = int(offs[i])
                        _decode_slow(engine, pcap.linktype, bytes(buf[o: o + int(caps[i])]), int(wires[i]), inp, i)
            done += k
            info.frames = done
            if status == 1:
                info.warn(f"capture truncated after frame {done}: record header cut short")
            elif status == 2:
                info.warn(f"capture truncated after frame {done}: last record cut short")
            elif status == 3:
                info.warn(f"capture damaged after frame {done}: record claims {bad} bytes "
                          f"(limit {reader.MAX_RECORD_BYTES}); stopped reading")
            if status == 4:
                released = reader.release_pages(mm, released, pos)
            if k:
                yield inp, k, []
            if status != 4:
                return
    finally:
        del buf
        try:
            mm.close()
        except BufferError:
            pass


def _reused(buffers: dict, slot: int, shape: tuple, dtype) -> np.ndarray:
    """The array kept in *slot* of *buffers* if it has *shape*, else a new one kept there."""
    have = buffers.get(slot)
    if have is None or have.shape != shape:
        have = buffers[slot] = np.empty(shape, dtype=dtype)
    return have


def frame_columns(inp: np.ndarray, frame, ts, caps, wires, iface, linktype) -> None:
    """Write the frame-level fields (number, time, lengths, interface, link type) into *inp*."""
    col = _engine.IN_COLUMNS
    inp[col.index("frame")] = frame
    inp[col.index("ts_ns")] = ts
    inp[col.index("cap_len")] = caps
    inp[col.index("wire_len")] = wires
    inp[col.index("iface")] = iface
    inp[col.index("linktype_id")] = linktype
    inp[col.index("comment")] = -1


def _frame_columns(path: str, info: reader.CaptureInfo, engine, limit: int) -> Iterator[tuple]:
    """(inp, count, comments) for chunks of any capture the readable reader reads."""
    frames = reader.read_frames(path, info)
    defrag = Defragmenter()
    first = 1
    col = _engine.IN_COLUMNS
    c_comment = col.index("comment")
    while True:
        batch = list(islice(frames, limit))
        if not batch:
            return
        k = len(batch)
        inp = np.empty((len(col), k), dtype=np.int64)
        meta = np.array([(fr.ts_ns, len(fr.data), fr.wire_len, fr.iface, fr.linktype) for fr in batch],
                        dtype=np.int64).reshape(-1, 5)
        frame_columns(inp, np.arange(first, first + k), meta[:, 0], meta[:, 1], meta[:, 2], meta[:, 3], meta[:, 4])
        comments: list = []
        from . import decode

        with decode.reassembling(defrag):
            for i, fr in enumerate(batch):
                _decode_slow(engine, fr.linktype, fr.data, fr.wire_len, inp, i)
                if fr.comment is not None:
                    inp[c_comment, i] = len(comments)
                    comments.append(fr.comment)
        first += k
        yield inp, k, comments
        if k < limit:
            return


def _columns(frames: int) -> tuple:
    """Empty in, out and float columns for *frames* frames.

    Big ones are anonymous memory maps: numpy asks for transparent huge pages
    on its own big arrays, and a kernel that compacts memory to find them can
    stall the first writes for a good part of a second.
    """
    shapes = ((len(_engine.IN_COLUMNS), np.int64), (len(_engine.OUT_COLUMNS), np.int64),
              (len(_engine.FLOAT_COLUMNS), np.float64))
    return tuple(_empty((rows, frames), dtype) for rows, dtype in shapes)


def _empty(shape: tuple, dtype) -> np.ndarray:
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size < 1 << 22:
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, size), dtype=dtype).reshape(shape)


class _Prefault:
    """Touches the pages of fresh columns, part by part, on a thread of its own.

    A whole capture's columns are hundreds of MiB of new memory; the kernel
    gives each page at its first write, at a cost comparable to the
    analysis of the frames written there.  This thread takes those first
    writes (zeros, as the pages already hold) ahead of the engine, on the
    other core; :meth:`wait` holds the engine back until its next part is
    done, so that the two never write the same part.
    """

    def __init__(self, columns: tuple, part: int) -> None:
        self._columns = columns
        self._part = part
        self._frames = columns[0].shape[1]
        self._done = 0
        self._cond = threading.Condition()
        threading.Thread(target=self._run, name="pcapan-prefault", daemon=True).start()

    def _run(self) -> None:
        try:
            for start in range(0, self._frames, self._part):
                for col in self._columns:
                    col[:, start:start + self._part] = 0  # numpy lets go of the interpreter meanwhile
                with self._cond:
                    self._done = min(start + self._part, self._frames)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._done = self._frames
                self._cond.notify_all()

    def wait(self, end: int) -> None:
        """Return once the frames before *end* have been touched."""
        with self._cond:
            self._cond.wait_for(lambda: self._done >= min(end, self._frames))


def concat(parts: list[Chunk]) -> Chunk:
    """One chunk of consecutive chunks (their ``comment`` codes renumbered)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        inp, out, fout = _columns(0)
        return Chunk(inp, out, fout, [])
    c_comment = _engine.IN_COLUMNS.index("comment")
    comments: list = []
    inps = []
    for c in parts:
        inp = c.inp
        if c.comments:
            inp = inp.copy()
            row = inp[c_comment]
            row[row >= 0] += len(comments)
            comments += c.comments
        inps.append(inp)
    return Chunk(np.concatenate(inps, axis=1), np.concatenate([c.out for c in parts], axis=1),
                 np.concatenate([c.fout for c in parts], axis=1), comments)


class Pass:
    """One read of a capture through the engine, with the whole-capture facts assumed so far.

    *given_roles*: (proto code, stream, client side) of streams whose client an
    earlier pass decided; *offloaders*: (version, high, low) keys of senders
    known to offload checksums; *leave_out*: labels the notable-frames tally
    skips; *per_frame* False: only the per-frame columns a report reads;
    *facts_only*: only what the end of the capture decides (see
    :meth:`second_pass`), the quickest read.
    """

    def __init__(self, path: str | os.PathLike, given_roles=(), offloaders=(), leave_out=(),
                 chunk_frames: int = CHUNK_FRAMES, per_frame: bool = True, facts_only: bool = False) -> None:
        if chunk_frames < 1:
            raise ValueError("chunk_frames must be at least 1")
        self.path = os.fspath(path)
        self.info = reader.CaptureInfo(path=self.path)
        self.given_roles = tuple(given_roles)
        self.offloader_keys = tuple(offloaders)
        self.leave_out = tuple(leave_out)
        self.chunk_frames = chunk_frames
        self.per_frame = per_frame
        self.engine = _engine.Engine(self.leave_out, self.given_roles, self.offloader_keys, per_frame, facts_only)
        self.collected: Chunk | None = None

    def run(self, keep: Callable[[Chunk], None] | None = None,
            progress: Callable[[int], None] | None = None, collect: bool = False,
            reuse: int | None = None) -> "Pass":
        """Read and analyse the whole capture; hand each analysed chunk to *keep*.

        The chunks' arrays are the keeper's own, unless *reuse* (default: 1
        when there is no keeper, else 0) has the chunks read into that many
        sets of arrays in turn (1: the same arrays every time).  With
        *collect*, :attr:`collected` is then one :class:`Chunk` of every frame
        (a classic pcap's frames are counted first and written into arrays
        made once for all of them).
        """
        if reuse is None:
            reuse = 1 if keep is None else 0
        reuse = 0 if collect else int(reuse)
        from .ports import service_name

        _engine.use_service_names(service_name)
        engine = self.engine
        pcap = _open_classic(self.path)
        into = outs = faulting = None
        if pcap is not None:
            if collect:
                buf = np.frombuffer(pcap.mm, dtype=np.uint8)
                total = _engine.record_count(buf, 24, pcap.big_endian)
                del buf
                outs = _columns(total)
                into = outs[0]
                faulting = _Prefault(outs, self.chunk_frames) if total > 2 * self.chunk_frames else None
            columns = _classic_columns(pcap, self.info, engine, self.chunk_frames, reuse=reuse,
                                       into=into, ready=faulting.wait if faulting is not None else None)
        else:
            columns = _frame_columns(self.path, self.info, engine, self.chunk_frames)
        buffers: dict = {}
        parts: list = []
        done = turn = 0
        for inp, k, comments in columns:
            if outs is not None:
                out, fout = outs[1][:, done:done + k], outs[2][:, done:done + k]
            elif reuse:
                slot = turn % reuse
                out = _reused(buffers, 2 * slot, (len(_engine.OUT_COLUMNS), k), np.int64)
                fout = _reused(buffers, 2 * slot + 1, (len(_engine.FLOAT_COLUMNS), k), np.float64)
                turn += 1
            else:
                out = np.empty((len(_engine.OUT_COLUMNS), k), dtype=np.int64)
                fout = np.empty((len(_engine.FLOAT_COLUMNS), k), dtype=np.float64)
            chunk = Chunk(inp, out, fout, comments)
            engine.analyse(chunk.inp, chunk.out, chunk.fout, k)
            if keep is not None:
                keep(chunk)
            if collect and outs is None:
                parts.append(chunk)
            done += k
            if progress is not None:
                progress(self.info.frames)
        if collect:
            self.collected = Chunk(outs[0][:, :done], outs[1][:, :done], outs[2][:, :done], []) \
                if outs is not None else concat(parts)
        return self

    def second_pass(self) -> "Pass | None":
        """The pass to read the capture again with what this one found out at its end, or None if
        nothing it found changes what it gave earlier frames."""
        turned = self.engine.turned()
        ids, relabel = self.engine.offloaders(CONSISTENT_MIN)
        if not turned and not relabel:
            return None
        keys = self.engine.address_keys()
        return Pass(self.path, given_roles=tuple(self.given_roles) + tuple(turned),
                    offloaders=[keys[a] for a in ids], leave_out=self.leave_out, chunk_frames=self.chunk_frames,
                    per_frame=self.per_frame)


def analysed(path: str | os.PathLike, keep: Callable[[], Callable[[Chunk], None]] | None = None,
             progress: Callable[[str], None] | None = None, leave_out=(),
             chunk_frames: int = CHUNK_FRAMES, per_frame: bool = True, collect: bool = False) -> tuple[Pass, int]:
    """The capture at *path* analysed to the end (read twice if needed: see the module docstring).

    *keep*, if given, is called at the start of each read for the function that
    takes that read's chunks; with *collect* the last pass keeps every frame's
    columns (:attr:`Pass.collected`).  Returns the last pass and how many reads it took.
    Raises :class:`.reader.CaptureError` for a file that is not a capture.
    """
    step = progress or (lambda message: None)
    run = Pass(path, leave_out=leave_out, chunk_frames=chunk_frames, per_frame=per_frame)
    for attempt in (1, 2):
        label = "reading frames" if attempt == 1 else "reading frames again"
        step(label)
        run.run(keep() if keep is not None else None, lambda n: step(f"{label} ({n:,} so far)"), collect)
        again = run.second_pass() if attempt == 1 else None
        if again is None:
            return run, attempt
        run = again
    raise AssertionError("unreachable")


def labelled_rows(rows: list) -> Callable[[Chunk], None]:
    """A chunk keeper that appends to *rows* what the events table needs of the labelled frames."""
    col, out = _engine.IN_COLUMNS, _engine.OUT_COLUMNS
    c_frame, c_proto = col.index("frame"), col.index("proto")
    c_stream, c_rel_seq, c_rel_ack, c_labels = (out.index(n) for n in ("stream", "rel_seq", "rel_ack", "labels"))

    def keep(c: Chunk) -> None:
        at = np.flatnonzero(c.out[c_labels])
        if len(at):
            rows.append((c.inp[c_frame][at], c.inp[c_proto][at], c.out[c_stream][at], c.out[c_rel_seq][at],
                         c.out[c_rel_ack][at], c.out[c_labels][at]))
    return keep


def report_reads(path: str | os.PathLike, events: bool = False, progress: Callable[[str], None] | None = None,
                 chunk_frames: int = CHUNK_FRAMES) -> tuple[Pass, int, list | None]:
    """What a report needs of the capture at *path*: the last pass, the number of reads, and (with
    *events*) the labelled frames' rows (see :func:`labelled_rows`).  :func:`.results.digest_of`
    makes the report's tables of them."""
    from .report import REPORT_LEAVES_OUT

    rows: list = []

    def keeper():
        rows.clear()
        return labelled_rows(rows)

    run, passes = analysed(path, keeper if events else None, progress, leave_out=REPORT_LEAVES_OUT,
                           chunk_frames=chunk_frames, per_frame=False)
    return run, passes, rows if events else None


class Background:
    """``job()`` run on a thread of its own (the engine lets go of the interpreter meanwhile), so
    that this thread can load what formats the result; :meth:`result` waits for it."""

    def __init__(self, job: Callable[[], object]) -> None:
        self._value = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = job()
            except BaseException as exc:  # raised again in the thread that asks for the result
                self._error = exc

        self._thread = threading.Thread(target=run, name="pcapan-engine", daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
