"""Reading a capture once, front to back: its packets framed a chunk at a time.

The format is recognised by content (magic numbers), never by the file
name.  Damage is reported, not raised: a cut-off last record, a length the
file cannot hold or an inconsistent pcapng block ends the reading with a
warning in :class:`.info.CaptureInfo`, and every packet before it is kept.
Only a file that is not a capture at all raises :class:`.info.CaptureError`.
"""
from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..vocabulary import MAX_BLOCK_BYTES, MAX_RECORD_BYTES
from . import _framing, pcapng
from .info import CaptureError, CaptureInfo, named
from .sources import CutShort, Damage, open_bytes

# Packets per chunk: big enough that the per-chunk overhead vanishes, small
# enough that a chunk's columns stay a few tens of MB.
FRAMES_PER_CHUNK = 150_000

_PCAP_MAGICS = {
    # magic as read little-endian -> (byte order, nanosecond times, bytes after each record header)
    0xA1B2C3D4: ("<", False, 0),
    0xA1B23C4D: ("<", True, 0),
    0xD4C3B2A1: (">", False, 0),
    0x4D3CB2A1: (">", True, 0),
    0xA1B2CD34: ("<", False, 8),   # modified pcap (Kuznetsov's patch): 8 more bytes per record
    0x34CDB2A1: (">", False, 8),
}
_NATIVE = "<" if sys.byteorder == "little" else ">"
# Columns of a chunk's packet rows (see _framing.Framer.walk).
OFFSET, CAPTURED, ORIGINAL, INTERFACE, TIME, OPTIONS, OPTIONS_LEN = range(7)


@dataclass
class Packets:
    """A chunk of consecutive packets: their rows (see the column numbers above) in :attr:`buf`,
    valid until the next chunk is asked for."""

    buf: np.ndarray
    rows: np.ndarray
    first: int                  # frame number of the first
    comments: dict              # row -> comment text
    linktypes: np.ndarray       # link type by interface number (-1 unknown)

    def __len__(self) -> int:
        return len(self.rows)


class Reader:
    """A capture opened for reading (:meth:`chunks`); raises :class:`CaptureError` if it is none."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self.info = CaptureInfo(path=self.path)
        self.framer = _framing.Framer()
        self._window = open_bytes(self.path)
        self.info.compressed = self._window.compressed
        try:
            self._start = self._header()
            self._framed = self._start     # bytes framed so far
        except BaseException:
            self._window.close()
            raise

    def _error(self, why: str) -> CaptureError:
        return CaptureError(f"{named(self.path)}: {why}")

    def _more(self, pos: int, need: int) -> int:
        """:meth:`Window.more` before any packet: corrupt compressed data is not a capture.  Only
        what *need* asks is read: the rest is read ahead on the framing's thread."""
        try:
            return self._window.more(pos, need, ahead=False)
        except Damage as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Damage) -> CaptureError:
        """The error for bytes that stop before a capture's header could be read."""
        return self._error(f"gzip-compressed, but {exc}" if self._window.compressed else str(exc))

    def _header(self) -> int:
        w = self._window
        self._more(0, 24)
        if w.end == 0:
            raise self._error("compressed data holds nothing, not a pcap or pcapng file" if w.compressed
                              else "empty, not a pcap or pcapng file" if self.path == "-"
                              else "empty file, not a pcap or pcapng file")
        if w.end < 4:
            raise self._error("not a pcap or pcapng file")
        head = bytes(w.buf[:min(w.end, 24)])
        (magic,) = struct.unpack_from("<I", head)
        if magic in _PCAP_MAGICS:
            return self._pcap_header(head, *_PCAP_MAGICS[magic])
        if magic == pcapng.SHB:
            self.framer.pcapng = True
            self.info.file_format = "pcapng"
            pos = self._describing(0, first=True)
            if pos is None:
                raise self._error("not a pcap or pcapng file")
            return pos
        raise self._error("not a pcap or pcapng file")

    def _pcap_header(self, head: bytes, order: str, nano: bool, extra: int) -> int:
        if len(head) < 24:
            raise self._error("pcap file header is cut short")
        _major, _minor, _zone, _sigfigs, snaplen, linktype = struct.unpack(order + "HHiIII", head[4:24])
        linktype &= 0x0FFFFFFF    # the upper bits say whether frames end in a frame check sequence
        f = self.framer
        f.swap = order != _NATIVE
        f.nano = nano
        f.record_extra = extra
        f.linktype = linktype
        f.add_interface(linktype, 1_000_000_000 if nano else 1_000_000, 0, snaplen)
        self.info.clock(1_000_000_000 if nano else 1_000_000)
        self.info.file_format = "pcap-ns" if nano else "pcap"
        self.info.snaplen = snaplen
        self.info.linktypes[0] = linktype
        return 24

    def _describing(self, pos: int, first: bool = False) -> int | None:
        """Read the section header or interface description at *pos*; returns the position after it,
        or None when the capture ends or is damaged there (with a warning)."""
        w = self._window
        try:
            pos = w.more(pos, 12, ahead=not first)
            if w.end - pos < 12:
                return self._cut(first, "section header" if not first else "pcapng section header")
            head = bytes(w.buf[pos:pos + 12])
            (btype,) = struct.unpack_from("<I", head)
            if btype == pcapng.SHB:
                order = pcapng.block_order(head)
                if order is None:
                    if first:
                        raise self._error("not a pcap or pcapng file")
                    return self._damaged("bad section header (byte-order magic)")
                minimum = 28
            else:
                order = ">" if self.framer.swap != (_NATIVE == ">") else "<"
                minimum = 20
            length = pcapng.section_length(head, order)
            if length < minimum or length % 4 or length > MAX_BLOCK_BYTES:
                if first:
                    raise self._error(f"pcapng section header has a bad length ({length} bytes)")
                return self._damaged(f"block length {length} is not valid")
            pos = w.more(pos, length, ahead=not first)
            if w.end - pos < length:
                return self._cut(first, "section header" if btype == pcapng.SHB else "interface description")
        except Damage as exc:
            if first:
                raise self._unreadable(exc) from None
            return self._damaged(str(exc))
        block = bytes(w.buf[pos:pos + length])
        if struct.unpack_from(order + "I", block, length - 4)[0] != length:
            if first:
                raise self._error("pcapng section header: block lengths disagree")
            return self._damaged("block lengths disagree")
        if btype == pcapng.SHB:
            self.framer.new_section(order != _NATIVE)
            pcapng.read_section(block, order, self.info)
        else:
            number = self.framer.interfaces
            linktype, units, offset, snaplen = pcapng.read_interface(block, order, self.info,
                                                                     number - self.framer.section_first)
            self.framer.add_interface(linktype, units, offset, snaplen)
            self.info.clock(units)
            self.info.linktypes[number] = linktype
            if self.info.snaplen is None:
                self.info.snaplen = snaplen
        return pos + length

    def _cut(self, first: bool, what: str) -> None:
        if first:
            raise self._error(f"{what} is cut short")
        self.info.warn(f"capture truncated after frame {self.info.frames}: {what} cut short")
        return None

    def _damaged(self, why: str) -> None:
        self.info.warn(f"capture damaged after frame {self.info.frames}: {why}; stopped reading")
        return None

    @property
    def bytes_read(self) -> int:
        """Bytes of the capture read so far: framed (after inflating), or of a compressed file, the
        compressed bytes inflated (so that they count towards :attr:`size`)."""
        taken = self._window.file_taken
        return taken if taken is not None else self._framed

    @property
    def size(self) -> int | None:
        """The bytes of the file a mapped capture is read from, compressed or not (None for other
        sources: their size is not known before they end)."""
        return self._window.file_size

    def count_hint(self) -> int | None:
        """How many packets the capture holds, counted cheaply when it is a mapped file (None otherwise)."""
        w = self._window
        if not w.mapped:
            return None
        return int(self.framer.count(w.buf, self._start, w.end))

    def chunks(self, limit: int | None = None) -> Iterator[Packets]:
        """The capture's packets, at most *limit* (default FRAMES_PER_CHUNK) at a time, read once
        from start to end."""
        limit = limit or FRAMES_PER_CHUNK
        w = self._window
        f = self.framer
        rows = np.empty((max(1, limit), 7), dtype=np.int64)
        pos = self._start
        try:
            while True:
                k, status, pos = f.walk(w.buf, pos, w.end, limit, rows)
                if k:
                    first = self.info.frames + 1
                    self.info.frames += k
                    # the first packet chose it: the frames' times count from it from the start
                    self.info.time_base_ns = f.base_s * 1_000_000_000
                    self._framed = w.consumed + pos
                    yield self._packets(rows[:k], first)
                    w.release(pos)
                if status == _framing.LIMIT:
                    continue
                if status == _framing.META:
                    pos = self._describing(pos)
                    if pos is None:
                        break
                    continue
                if status == _framing.DAMAGED:
                    self._damaged(self._damage_text())
                    break
                # END or MORE: the bytes held are used up
                if w.eof:
                    if status == _framing.MORE:
                        self._truncated(w.end - pos)
                    break
                have = w.end - pos
                try:
                    pos = w.more(pos, have + 1)
                except CutShort as exc:
                    self.info.warn(f"capture truncated after frame {self.info.frames}: {exc}")
                    break
                except Damage as exc:
                    self.info.warn(f"capture damaged after frame {self.info.frames}: {exc}; stopped reading")
                    break
                if w.end - pos <= have and w.eof:
                    if have:
                        self._truncated(have)
                    break
        finally:
            self._finish()

    def _packets(self, rows: np.ndarray, first: int) -> Packets:
        comments: dict = {}
        opts = np.flatnonzero(rows[:, OPTIONS_LEN] > 0) if self.framer.pcapng else ()
        if len(opts):
            order = ">" if self.framer.swap != (_NATIVE == ">") else "<"
            buf = self._window.buf
            for r in opts.tolist():
                at, n = int(rows[r, OPTIONS]), int(rows[r, OPTIONS_LEN])
                texts, rest = pcapng.packet_options(bytes(buf[at:at + n]), order)
                if texts:
                    comments[r] = "\n".join(texts)
                    if len(texts) > 1:
                        self.info.packet_comments[first + r] = texts
                if rest:
                    self.info.packet_options[first + r] = rest
        return Packets(self._window.buf, rows, first, comments, np.array(self.framer.linktypes(), dtype=np.int64))

    def _truncated(self, left: int) -> None:
        f = self.framer
        if f.pcapng:
            what = "block header" if left < 8 else "last block"
        else:
            what = "record header" if left < 16 + f.record_extra else "last record"
        self.info.warn(f"capture truncated after frame {self.info.frames}: {what} cut short")

    def _damage_text(self) -> str:
        f = self.framer
        if f.damage == _framing.RECORD_TOO_LONG:
            return f"record claims {f.damage_value} bytes (limit {MAX_RECORD_BYTES})"
        if f.damage == _framing.BAD_BLOCK_LENGTH:
            return f"block length {f.damage_value} is not valid"
        return "block lengths disagree"

    def _finish(self) -> None:
        f, info = self.framer, self.info
        count, frame, value = f.odd(_framing.SHORT_BLOCK)
        if count:
            info.warn(f"{_times(count, 'packet block')} too short to hold a packet skipped "
                      f"(the first after frame {frame - 1})")
        count, frame, value = f.odd(_framing.CUT_BLOCK)
        if count:
            info.warn(f"frame {frame}: packet block claims {value} captured bytes, more than it holds; "
                      f"cut to the block" + (f" ({count:,} frames like it)" if count > 1 else ""))
        count, frame, value = f.odd(_framing.UNKNOWN_INTERFACE)
        if count:
            info.warn(f"capture damaged at frame {frame}: the packet names interface {value}, which its section "
                      "does not describe; read on with its link layer unknown"
                      + (f" ({count:,} frames like it)" if count > 1 else ""))
        info.time_base_ns = f.base_s * 1_000_000_000
        if f.base_s:
            info.warn("packet times lie outside the years 1677-2262 that a date can show: the time column is "
                      "empty, and times are counted from the first packet's second")
        if f.clamped:
            info.warn(f"{_times(f.clamped, 'frame')} with a time more than 292 years from the others: "
                      "held at the nearest time that can be counted")

    def close(self) -> None:
        self._window.close()


def _times(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' if n != 1 else ''}"
