"""Where a capture's bytes come from: a file mapped into memory, or any stream read once, front to back.

A regular file is memory-mapped and framed where it lies (standard input
too, when it is redirected from a file and read from its start).  Anything
else -- a FIFO, a pipe on standard input (``-``), a process substitution -- is read
sequentially by a thread of its own, piece by piece; nothing is ever opened
twice or sought back.  gzip-compressed content (recognised by its first
bytes, never by the name) is inflated on that thread while the analysis
works on what came before.

:class:`Window` holds the bytes not yet framed as one array, so that a
record that straddles two pieces is read whole.
"""
from __future__ import annotations

import mmap
import os
import queue
import stat
import sys
import threading
from typing import Iterator

import numpy as np

try:
    import fcntl
except ImportError:     # not a POSIX system: pipes keep their default buffer
    fcntl = None

from .info import CaptureError, named

try:    # zlib-ng inflates about three times as fast as zlib, the same format and interface
    from zlib_ng import zlib_ng as zlib
except ImportError:     # a platform without its wheels: the standard library's
    import zlib

# Bytes read (or inflated) at a time from a stream.
PIECE_BYTES = 8 * 1024 * 1024
# Bytes of a stream held for the framing at once (so that its chunks are as large as a file's).
WINDOW_BYTES = 64 * 1024 * 1024
# Pieces read ahead of the analysis.
PIECES_AHEAD = 4
# Compressed bytes handed to the inflater at a time.
_INPUT_SLICE = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class Damage(Exception):
    """The bytes stop making sense part-way (corrupt compressed data): the message says how."""


class CutShort(Damage):
    """The bytes end before their own framing says they should (compressed data cut off)."""


def open_bytes(path: str) -> "Window":
    """The bytes of the capture at *path* (``-`` is standard input), inflated if gzip-compressed."""
    if path == "-":
        fd = os.dup(sys.stdin.fileno()) if _has_stdin() else -1
        if fd >= 0 and os.isatty(fd):
            os.close(fd)    # what would be read is what the user types: nothing a capture could be
            raise CaptureError("standard input is a terminal, not a capture: pipe one in or redirect it "
                               "(- < capture.pcap)")
        # standard input redirected from a file (`pcapan report - < x.pcapng`) is mapped like the
        # file, when it is read from its start; otherwise it is read as it comes
        if fd >= 0 and stat.S_ISREG(os.fstat(fd).st_mode) and os.lseek(fd, 0, os.SEEK_CUR) == 0:
            window = _mapped_window(fd, path)
            if window is not None:
                return window
        return _stream_window(fd, path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise CaptureError(f"{path}: is a directory, not a capture file")
    if stat.S_ISREG(mode):
        window = _mapped_window(fd, path)
        if window is not None:
            return window
    return _stream_window(fd, path)


def _mapped_window(fd: int, path: str) -> "Window | None":
    """The regular file open at *fd* mapped into memory (*fd* then closed), or None, *fd* left
    open to be read as a stream, when it cannot be mapped (an empty file)."""
    mapped = _map(fd)
    if mapped is None:
        return None
    os.close(fd)
    if mapped[:2] == _GZIP_MAGIC:
        fed = [0]
        return Window(_inflated(iter([memoryview(mapped)]), fed), path, compressed=True, keep=mapped, fed=fed)
    return Window(None, path, mapped=mapped)


def _has_stdin() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _map(fd: int) -> mmap.mmap | None:
    try:
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_SEQUENTIAL"):
        mapped.madvise(mmap.MADV_SEQUENTIAL)     # read ahead: the pages are read once, in order
    return mapped


def _stream_window(fd: int, path: str) -> "Window":
    raw = _read_pieces(fd, path)
    try:
        first = next(raw, b"")
    except Damage as exc:
        raise CaptureError(f"{named(path)}: {exc}") from None
    if first[:2] == _GZIP_MAGIC:
        return Window(_inflated(_chained(first, raw)), path, compressed=True)
    return Window(_ahead(_chained(first, raw)), path)


def _chained(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _read_pieces(fd: int, path: str) -> Iterator[bytes]:
    """The content of *fd* in pieces, then the descriptor closed."""
    try:
        if fd < 0:
            return
        _widen_pipe(fd)
        while True:
            # A pipe gives at most its buffer (64 KiB) per read: gather a whole piece, so the
            # framing gets chunks as large as from a file.
            piece = bytearray(PIECE_BYTES)
            view = memoryview(piece)
            filled = 0
            while filled < PIECE_BYTES:
                try:
                    n = os.readv(fd, [view[filled:]])
                except OSError as exc:
                    raise Damage(f"reading failed ({exc.strerror or exc})") from None
                if not n:
                    break
                filled += n
            view.release()
            if filled < PIECE_BYTES:
                del piece[filled:]
            if piece:
                yield piece
            if filled < PIECE_BYTES:
                return
    finally:
        if fd >= 0:
            os.close(fd)


def _widen_pipe(fd: int) -> None:
    """A pipe's buffer made as large as the system allows an unprivileged process (fewer reads)."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setsize is None:
        return
    try:
        fcntl.fcntl(fd, setsize, 1024 * 1024)
    except OSError:
        pass      # not a pipe, or the limit is lower: reads are smaller, nothing else changes


def _inflated(compressed: Iterator, taken: list | None = None) -> Iterator[bytes]:
    """gzip members inflated one after another (as gzip does), in pieces, on a thread of their own;
    *taken*[0] counts the compressed bytes handed to the inflater so far."""
    def run() -> Iterator[bytes]:
        inflater = zlib.decompressobj(wbits=31)
        fed = False          # the current member has had input
        done = 0
        for data in _slices(compressed):
            if taken is not None:
                taken[0] += len(data)
            while data:
                if not fed and len(data) >= 2 and bytes(data[:2]) != _GZIP_MAGIC and done:
                    return      # bytes after the last member, which gzip ignores too
                fed = True
                saved = inflater.copy()
                try:
                    piece = inflater.decompress(data, PIECE_BYTES)
                except zlib.error as exc:
                    # what inflates before the damage is kept: fed again in small steps
                    for piece in _salvaged(saved, data):
                        done += len(piece)
                        yield piece
                    raise Damage(f"compressed data is corrupt after {done:,} bytes ({exc})") from None
                data = inflater.unconsumed_tail
                if piece:
                    done += len(piece)
                    yield piece
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
                    fed = False
        if fed:
            raise CutShort(f"compressed data ends early, after {done:,} bytes")
    return _ahead(run())


def _salvaged(inflater, data) -> Iterator[bytes]:
    """What *inflater* makes of *data* before the point where it fails: the longest part of *data*
    it takes without an error, found by halving."""
    good, bad = 0, len(data)
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            inflater.copy().decompress(data[:middle])
            good = middle
        except zlib.error:
            bad = middle
    try:
        piece = inflater.decompress(data[:good])
    except zlib.error:
        return
    if piece:
        yield piece


def _slices(pieces: Iterator) -> Iterator[memoryview]:
    """*pieces* cut into slices of at most _INPUT_SLICE bytes, so that what one inflating call leaves
    over (copied each time) stays small."""
    for piece in pieces:
        view = memoryview(piece)
        for at in range(0, len(view), _INPUT_SLICE):
            yield view[at:at + _INPUT_SLICE]


class _End:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def _ahead(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """*pieces*, produced on a thread of its own up to PIECES_AHEAD ahead of the consumer."""
    q: queue.Queue = queue.Queue(PIECES_AHEAD)
    stop = threading.Event()

    def run() -> None:
        error = None
        try:
            for piece in pieces:
                while not stop.is_set():
                    try:
                        q.put(piece, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:    # handed to the consumer, which raises it where it reads
            error = exc
        q.put(_End(error))

    threading.Thread(target=run, name="pcapan-read", daemon=True).start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()


def release_pages(mm: mmap.mmap, start: int, end: int) -> int:
    """Unmap the whole pages of mm[start:end] from this process once they have been read.

    The file stays in the page cache; only this process's resident size
    stops growing with the part of the file already read.  Returns where
    the released part ends (the next *start*).
    """
    start -= start % mmap.PAGESIZE
    end -= end % mmap.PAGESIZE
    if end > start and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mm.madvise(mmap.MADV_DONTNEED, start, end - start)
        except OSError:
            return start
    return max(start, end)


class Window:
    """The capture's bytes not framed yet, as one array (:attr:`buf`, valid up to :attr:`end`).

    A mapped file is one window over the whole file.  A stream's pieces are
    appended as the framing needs them; :meth:`more` moves what is left to
    the front first, so the array only grows for a record longer than a piece.
    """

    def __init__(self, pieces: Iterator[bytes] | None, name: str, mapped: mmap.mmap | None = None,
                 compressed: bool = False, keep=None, fed: list | None = None) -> None:
        self.name = name
        self.compressed = compressed
        self._pieces = pieces
        self._mapped = mapped
        self._keep = keep          # the compressed file's map, while it is inflated
        self._fed = fed            # [compressed bytes of that map handed to the inflater so far]
        held = mapped if mapped is not None else keep
        self._file_size = len(held) if held is not None else None
        self._released = 0
        self._pending: Exception | None = None   # a stream's failure, met after enough was read
        self.consumed = 0          # bytes dropped from the front so far (for offsets in messages)
        if mapped is not None:
            self.buf = np.frombuffer(mapped, dtype=np.uint8)
            self.end = len(self.buf)
            self.eof = True
        else:
            self.buf = np.empty(WINDOW_BYTES + PIECE_BYTES, dtype=np.uint8)
            self.end = 0
            self.eof = False

    @property
    def file_size(self) -> int | None:
        """The bytes of the file a mapped capture is read from, compressed or not (None for a stream)."""
        return self._file_size

    @property
    def file_taken(self) -> int | None:
        """Of a mapped compressed file, the compressed bytes inflated so far (a little ahead of the
        framing); None otherwise."""
        return self._fed[0] if self._fed is not None else None

    @property
    def mapped(self) -> bool:
        return self._mapped is not None

    def more(self, pos: int, need: int = 1, ahead: bool = True) -> int:
        """Read on until at least *need* bytes from *pos* are held or the content ends; returns the
        position those bytes are at now.  With *ahead*, reads on until the window is full (so that
        the framing's chunks are as large as a file's); without, stops at *need* (a file header, read
        before the stages start, waits for one piece only).  Raises :class:`Damage` when the
        content is corrupt."""
        if self.eof or self.end - pos >= need:
            return pos
        left = self.end - pos
        if pos:
            self.buf[:left] = self.buf[pos:self.end]
            self.consumed += pos
            self.end = left
        if self._pending is not None:
            exc, self._pending = self._pending, None
            raise exc
        while (self.end < need or (ahead and self.end < WINDOW_BYTES)) and not self.eof:
            try:
                piece = next(self._pieces, None)
            except (Damage, CutShort) as exc:
                if self.end < need:
                    raise
                self._pending = exc    # what was read before it is framed first
                break
            if piece is None:
                self.eof = True
                break
            n = len(piece)
            if self.end + n > len(self.buf):
                grown = np.empty(max(2 * len(self.buf), self.end + n), dtype=np.uint8)
                grown[:self.end] = self.buf[:self.end]
                self.buf = grown
            self.buf[self.end:self.end + n] = np.frombuffer(piece, dtype=np.uint8)
            self.end += n
        return 0

    def release(self, pos: int) -> None:
        """The bytes before *pos* will not be read again (a mapped file's pages are let go)."""
        if self._mapped is not None:
            self._released = release_pages(self._mapped, self._released, pos)

    def close(self) -> None:
        if self._pieces is not None and hasattr(self._pieces, "close"):
            self._pieces.close()
        self.buf = np.zeros(0, dtype=np.uint8)
        for m in (self._mapped, self._keep):
            if m is not None:
                try:
                    m.close()
                except BufferError:
                    pass   # a view of it is still alive somewhere; the map goes with it
