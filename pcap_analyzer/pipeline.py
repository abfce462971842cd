"""A capture through the compiled stages, a chunk of frames at a time: read, decode, analyse.

:class:`Run` reads the capture once, from start to end (a file, a FIFO,
standard input ...), and hands out each chunk's columns as the stages left
them (:class:`Chunk`; ``columns.FRAME``, ``columns.ANALYSIS``,
``columns.TIMES``).  Two things are only known at the end of a capture:
which side of each stream is its client, and which senders offload their
checksums.  :meth:`Run.ending` decides them once everything was read
(:class:`Ending`), and :meth:`Ending.settle` brings a chunk's columns in
line with them; the per-frame analysis itself does not depend on either.

Nothing here imports pandas: a command can start the run on a thread and
load the libraries that format its output meanwhile.
"""
from __future__ import annotations

import mmap
import os
import queue
import threading
from typing import Callable, Iterator, NamedTuple

import numpy as np

from . import columns
from .capture.reader import FRAMES_PER_CHUNK, Reader
from .tcp import _analysis
from .capture import _decode
from .vocabulary import LABEL_NAMES, OFFLOAD_CONSISTENT_MIN, VERDICTS

IN = {name: j for j, name in enumerate(columns.FRAME)}
OUT = {name: j for j, name in enumerate(columns.ANALYSIS)}
TIMES = {name: j for j, name in enumerate(columns.TIMES)}

_BAD, _OFFLOADED = VERDICTS.index("bad"), VERDICTS.index("offloaded")
_LABEL = {name: 1 << bit for bit, name in enumerate(LABEL_NAMES)}
# Columns of Analyser.facts.sender_table()
_SENT, _SENT_NOT_GOOD, _RECEIVED, _RECEIVED_NOT_GOOD = range(4)


class Chunk(NamedTuple):
    """Columns of consecutive frames: *inp* (``columns.FRAME``), *out* (``columns.ANALYSIS``), *times*
    (``columns.TIMES``), one column per frame; *comments* maps a column to its packet comment (whose
    ``comment`` value is 1; -1 elsewhere)."""

    inp: np.ndarray
    out: np.ndarray
    times: np.ndarray
    comments: dict

    def __len__(self) -> int:
        return self.inp.shape[1]


def empty_columns(frames: int, reuse: dict | None = None, slot: int = 0) -> tuple:
    """Columns for *frames* frames (kept in *reuse* under *slot* and given again while big enough).

    Big ones are anonymous memory maps: numpy asks for transparent huge pages on
    its own big arrays, and a kernel that compacts memory to find them can stall
    the first writes for a good part of a second.
    """
    if reuse is not None:
        have = reuse.get(slot)
        if have is not None and have[0].shape[1] >= frames:
            return tuple(a[:, :frames] for a in have)
    made = (_empty((len(columns.FRAME), frames), np.int64), _empty((len(columns.ANALYSIS), frames), np.int64),
            _empty((len(columns.TIMES), frames), np.float64))
    if reuse is not None:
        reuse[slot] = made
    return made


def _empty(shape: tuple, dtype) -> np.ndarray:
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size < 1 << 22:
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS), dtype=dtype).reshape(shape)


class Progress(NamedTuple):
    """Where a run stands, for a progress display; ``str()`` says it in words."""

    step: str                   # what is under way ("reading frames", "making the tables")
    frames: int                 # frames read so far
    total: int | None           # frames the capture holds, when counted (a mapped file's, by Run.count)
    bytes_read: int             # bytes read so far: framed, or of a compressed file, inflated
    size: int | None = None     # bytes of the file a mapped capture is read from (None: not known)

    def __str__(self) -> str:
        if not self.frames:
            return self.step
        if self.total is not None:
            return f"{self.step} ({self.frames:,} of {self.total:,} frames)"
        if self.size:
            return f"{self.step} ({self.frames:,} frames, {100 * self.bytes_read // self.size}% of the file)"
        return f"{self.step} ({self.frames:,} frames)"


class Run:
    """One read of a capture through the stages; raises :class:`.capture.info.CaptureError` when the
    file is not a capture.  *in_flight* False leaves bytes in flight out (a report never reads it,
    and it costs a look at every unacknowledged segment); *only* (kind 1 TCP or 2 UDP, stream)
    analyses that stream alone past the numbering of every stream; *wireshark* is the release whose
    rules the labels follow (:func:`.vocabulary.wireshark_version`)."""

    def __init__(self, path: str | os.PathLike, in_flight: bool = True, only: tuple[int, int] | None = None,
                 wireshark: str | None = None) -> None:
        from .ports import service_name
        from .vocabulary import wireshark_code, wireshark_version

        # the Wireshark release whose rules the labels follow (None: PCAPAN_WIRESHARK, else the default)
        self.wireshark = wireshark_version(wireshark)

        _analysis.use_service_names(service_name)
        _keep_freed_memory()
        self.reader = Reader(path)
        self.info = self.reader.info
        self.decoder = _decode.Decoder()
        self.analyser = _analysis.Analyser(in_flight, only, wireshark_code(self.wireshark))
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self._total: list = []          # the frame count, once counted

    def count(self) -> int | None:
        """How many frames the capture holds, counted (once, before reading) when that is cheap:
        a mapped file's; None for other sources."""
        if not self._total:
            self._total.append(self.reader.count_hint())
        return self._total[0]

    def progress(self, step: str) -> Progress:
        """Where this run stands, in the middle of *step*."""
        return Progress(step, self.info.frames, self._total[0] if self._total else None, self.reader.bytes_read,
                        self.reader.size)

    def chunks(self, limit: int | None = None, reuse: int = 0,
               progress: Callable[[int], None] | None = None) -> Iterator[Chunk]:
        """Every frame of the capture, analysed, at most *limit* (default FRAMES_PER_CHUNK) at a
        time.  With *reuse* > 0 the chunks are written into *reuse* + 1 sets of arrays in turn (a
        chunk's arrays are then only valid until *reuse* more chunks were handed out)."""
        limit = limit or FRAMES_PER_CHUNK
        buffers: dict = {}
        turn = [0]
        # a chunk holds its set of arrays from its decoding until the caller asks for the next one
        # after it: with every set in use at once, the decoding of the next chunks goes on while
        # the caller analyses this one
        ahead = reuse + 1 if reuse else 2

        def place(k: int) -> tuple:
            slot = turn[0] % (reuse + 1) if reuse else 0
            turn[0] += 1
            return empty_columns(k, buffers if reuse else None, slot)

        for c in self._decoded(limit, place, ahead):
            yield self._analysed(c)
            if progress is not None:
                progress(self.info.frames)

    def _decoded(self, limit: int, place: Callable[[int], tuple], ahead: int) -> Iterator[Chunk]:
        """The capture's frames framed and decoded, on a thread of its own while the caller analyses
        the chunks before them (at most *ahead* chunks in advance).  *place(k)* gives the columns
        for the next k frames."""
        q: queue.Queue = queue.Queue()
        room = threading.Semaphore(ahead)
        stop = threading.Event()

        def produce() -> None:
            try:
                for packets in self.reader.chunks(limit):
                    while not room.acquire(timeout=0.1):
                        if stop.is_set():
                            return
                    if stop.is_set():
                        return
                    k = len(packets)
                    inp, out, times = place(k)
                    self.decoder.decode(packets.buf, packets.rows, packets.linktypes, packets.first, inp)
                    if packets.comments:
                        inp[IN["comment"], list(packets.comments)] = 1
                    q.put(Chunk(inp, out, times, packets.comments))
                q.put(None)
            except BaseException as exc:    # raised again where the chunks are taken
                q.put(exc)
            finally:
                self.reader.close()

        worker = threading.Thread(target=produce, name="pcapan-decode", daemon=True)
        worker.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                room.release()
        finally:
            stop.set()
            room.release()
            worker.join()

    def _analysed(self, c: Chunk) -> Chunk:
        k = len(c)
        self.analyser.analyse(c.inp, c.out, c.times, k)
        if k:
            ts = c.inp[IN["ts_ns"]]
            if self.first_ts is None:
                self.first_ts = int(ts[0])
            self.last_ts = int(ts[k - 1])
        return c

    def collect(self, progress: Callable[[int], None] | None = None) -> Chunk:
        """Every frame's columns in one chunk (a mapped file's frames are counted first, so that the
        columns are made once; other sources' chunks are joined at the end)."""
        total = self.count()
        if total is None:
            return concat(list(self.chunks(progress=progress)))
        inp, out, times = empty_columns(total)
        at = [0]

        def place(k: int) -> tuple:
            start = at[0]
            at[0] += k
            if start + k > total:       # more than counted (a later section): joined at the end
                return empty_columns(k)
            return inp[:, start:start + k], out[:, start:start + k], times[:, start:start + k]

        parts = []
        for c in self._decoded(FRAMES_PER_CHUNK, place, 2):
            parts.append(self._analysed(c))
            if progress is not None:
                progress(self.info.frames)
        done = min(sum(len(c) for c in parts), total)
        whole = [Chunk(inp[:, :done], out[:, :done], times[:, :done], {})]
        at = 0
        for c in parts:
            if at < done:
                whole[0].comments.update({at + j: text for j, text in c.comments.items()})
            else:
                whole.append(c)
            at += len(c)
        return concat(whole) if len(whole) > 1 else whole[0]

    def ending(self) -> "Ending":
        """What the whole capture decided (call after the last chunk)."""
        return Ending(self)

    def release(self) -> None:
        """Let go of the stages' state (all of it per stream) once everything needed was taken."""
        self.analyser = None
        self.decoder = None
        _give_back_memory()


def _c_library():
    """The GNU C library's allocator controls, or None on another C library."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (OSError, AttributeError):
        return None


# mallopt parameters: keep up to this much freed memory, and serve blocks below this size from it
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_FREED_BYTES = 256 * 1024 * 1024
_MAP_ABOVE_BYTES = 32 * 1024 * 1024


def _keep_freed_memory() -> None:
    """While a capture is read, blocks of a few megabytes (a stream's pieces, an inflated piece)
    are freed and asked for again all the time; handed back to the system each time, every page
    would be zeroed and mapped anew (a tenth of the reading time of a compressed capture)."""
    libc = _c_library()
    if libc is not None:
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)
        libc.mallopt(_M_MMAP_THRESHOLD, _MAP_ABOVE_BYTES)


def _give_back_memory() -> None:
    """Return freed memory to the system: the stages keep per-stream state in many small blocks,
    which the C library otherwise holds on to for the process's next small allocations, while the
    tables made next are large arrays it takes from the system anew."""
    libc = _c_library()
    if libc is not None:
        libc.malloc_trim(0)


def concat(parts: list[Chunk]) -> Chunk:
    """One chunk of consecutive chunks."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return Chunk(*empty_columns(0), {})
    comments: dict = {}
    at = 0
    for c in parts:
        comments.update({at + j: text for j, text in c.comments.items()})
        at += len(c)
    return Chunk(np.concatenate([c.inp for c in parts], axis=1), np.concatenate([c.out for c in parts], axis=1),
                 np.concatenate([c.times for c in parts], axis=1), comments)


class Ending:
    """What only the end of a capture tells: each stream's client side, the senders that offload."""

    def __init__(self, run: Run) -> None:
        a = run.analyser
        self.run = run
        self.clients = {1: a.flows.clients(1), 2: a.flows.clients(2)}
        self.senders = a.facts.sender_table()
        self.offloaders = offloading_senders(self.senders)
        self._offloads = np.zeros(max(len(self.senders), run.decoder.address_count()) + 1, dtype=bool)
        self._offloads[self.offloaders] = True
        self._address_arrays = run.decoder.address_arrays()

    def address_texts(self, ids: np.ndarray) -> np.ndarray:
        """The addresses *ids* as text (an object array; None for -1)."""
        return address_texts(*self._address_arrays, ids)

    def address_codes(self, ids: np.ndarray) -> tuple[np.ndarray, list]:
        """(a code per element of *ids*, -1 for none; the address each code stands for): the
        addresses in use only, for a category column."""
        ids = np.asarray(ids, dtype=np.int64)
        used, codes = np.unique(ids, return_inverse=True)
        names = self.address_texts(used).tolist()
        if len(used) and used[0] < 0:
            codes = codes - 1
            names = names[1:]
        return codes.reshape(ids.shape), names

    def from_client(self, inp: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Per frame: 1 sent by its stream's client, 0 by the server, -1 not in a stream."""
        return self.client_sent(inp[IN["proto"]], out[OUT["stream"]], out[OUT["side"]])

    def client_sent(self, proto: np.ndarray, stream: np.ndarray, side: np.ndarray) -> np.ndarray:
        """:meth:`from_client` of frames given by their protocol, stream and side columns."""
        fc = np.full(len(stream), -1, dtype=np.int8)
        for kind, code in ((1, 0), (2, 1)):
            rows = np.flatnonzero((proto == code) & (stream >= 0))
            if len(rows):
                fc[rows] = (side[rows] == self.clients[kind][stream[rows]]).astype(np.int8)
        return fc

    def settle(self, c: Chunk) -> Chunk:
        """*c* with the checksums of offloading senders made offloaded (in place)."""
        if len(c):
            self.settle_columns(c.out[OUT["l4_checksum"]], c.inp[IN["src"]], c.out[OUT["labels"]])
        return c

    def settle_columns(self, l4: np.ndarray, src: np.ndarray, labels: np.ndarray) -> None:
        """:meth:`settle` of frames given by their TCP/UDP checksum verdicts, senders and labels."""
        if not len(self.offloaders):
            return
        hit = np.flatnonzero((l4 == _BAD) & (src >= 0))
        if len(hit):
            hit = hit[self._offloads[src[hit]]]
        if len(hit):
            l4[hit] = _OFFLOADED
            cleared = ~(_LABEL["bad_tcp_checksum"] | _LABEL["bad_udp_checksum"])
            labels[hit] = (labels[hit] & cleared) | _LABEL["checksum_offloaded"]


def address_texts(ver: np.ndarray, hi: np.ndarray, lo: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Addresses as text, IPv4 ones formatted column-wise (a capture may hold millions)."""
    import socket
    import struct

    import pyarrow as pa
    import pyarrow.compute as pc

    ids = np.asarray(ids, dtype=np.int64)
    out = np.full(len(ids), None, dtype=object)
    known = ids >= 0
    v4 = np.flatnonzero(known)[ver[ids[known]] == 4]
    if len(v4):
        value = lo[ids[v4]].astype(np.uint32)
        parts = [pc.cast(pa.array((value >> shift) & 0xFF), pa.string()) for shift in (24, 16, 8, 0)]
        out[v4] = pc.binary_join_element_wise(*parts, ".").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(known)[ver[ids[known]] == 6].tolist():
        a = ids[i]
        out[i] = socket.inet_ntop(socket.AF_INET6, struct.pack("!QQ", int(hi[a]), int(lo[a])))
    return out


def offloading_senders(senders: np.ndarray) -> np.ndarray:
    """Address ids whose TCP/UDP checksums all fail (at least OFFLOAD_CONSISTENT_MIN of them) while
    everything they receive checks out: the capture was taken on that host, before its network card
    filled them in (transmit checksum offload)."""
    if not len(senders):
        return np.zeros(0, dtype=np.int64)
    s = senders
    hit = ((s[:, _SENT] >= OFFLOAD_CONSISTENT_MIN) & (s[:, _SENT_NOT_GOOD] == s[:, _SENT])
           & (s[:, _RECEIVED] > 0) & (s[:, _RECEIVED_NOT_GOOD] == 0))
    return np.flatnonzero(hit)


class Background:
    """``job()`` run on a thread of its own (the stages let go of the interpreter meanwhile), so
    that this thread can load what formats the result; :meth:`result` waits for it."""

    def __init__(self, job: Callable[[], object]) -> None:
        self._value = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = job()
            except BaseException as exc:  # raised again in the thread that asks for the result
                self._error = exc

        self._thread = threading.Thread(target=run, name="pcapan-run", daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
