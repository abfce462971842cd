"""Capture file reading: classic pcap, pcapng, and either one gzip-compressed.

The reader turns a file into a stream of raw frames; it knows nothing of
protocols.  The format is recognised by content (magic numbers), never by the
file name.  Framing is done here rather than with ``dpkt.pcap.Reader`` /
``dpkt.pcapng.Reader`` because those stop silently on a cut-off record, read
only the first pcapng interface, and round timestamps to floats; dpkt's
constants and block classes are still what we decode with.

Damage is reported, not raised: a cut-off last record, a record length the
file cannot hold, or an inconsistent pcapng block ends the reading with a
warning in :class:`CaptureInfo`, and every frame before it is kept.  Only a
file that is not a capture at all raises :class:`CaptureError`.
"""
from __future__ import annotations

import gzip
import io
import mmap
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, NamedTuple


# Largest record we accept: no real link layer has frames this big, and a
# larger claimed length is far more likely a damaged header than a packet.
MAX_RECORD_BYTES = 256 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_PCAP_MAGICS = {
    # magic as read little-endian -> (byte order prefix, nanosecond resolution)
    # dpkt.pcap's TCPDUMP_MAGIC, TCPDUMP_MAGIC_NANO, PMUDPCT_MAGIC, PMUDPCT_MAGIC_NANO (written out:
    # dpkt loads only for the files that need it, pcapng and frames the compiled decoder leaves)
    0xA1B2C3D4: ("<", False),
    0xA1B23C4D: ("<", True),
    0xD4C3B2A1: (">", False),
    0x4D3CB2A1: (">", True),
}
# Modified pcap (Kuznetsov patch): 24-byte records; same layout + 8 bytes.
_KUZNETZOV_MAGIC = 0xA1B2CD34

LINKTYPE_NAMES = {
    0: "null",
    1: "ethernet",
    9: "ppp",
    12: "raw",
    14: "raw",
    101: "raw",
    108: "loop",
    113: "linux_sll",
    228: "ipv4",
    229: "ipv6",
    276: "linux_sll2",
}


# pcapng's section header block type (dpkt.pcapng.PCAPNG_BT_SHB)
_PCAPNG_BT_SHB = 0x0A0D0D0A


class CaptureError(Exception):
    """The file cannot be read as a capture; the message is one line for people."""


class RawFrame(NamedTuple):
    ts_ns: int          # capture time, integer nanoseconds since the epoch
    wire_len: int       # original length on the wire
    linktype: int
    iface: int          # interface index (0 for classic pcap)
    data: bytes         # the captured bytes (cap_len = len(data))
    comment: str | None  # pcapng packet comment, if any


@dataclass
class CaptureInfo:
    """Facts about the file, filled in while it is read."""

    path: str
    file_format: str = ""            # "pcap", "pcap-ns", "pcapng"
    compressed: bool = False
    snaplen: int | None = None
    linktypes: dict[int, int] = field(default_factory=dict)  # iface -> linktype
    frames: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _open_bytes(path: str) -> tuple[BinaryIO, bool]:
    """Open *path*; transparently decompress gzip.  Returns (stream, compressed)."""
    try:
        f = open(path, "rb")
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open ({exc.strerror or exc})") from None
    head = f.read(2)
    f.seek(0)
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb"), True
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        return f, False
    # A memory map avoids copying the whole file; reads stay sequential.
    try:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return f, False
    f.close()
    return io.BufferedReader(_MmapRaw(mm)), False  # type: ignore[arg-type]


def release_pages(mm: mmap.mmap, start: int, end: int) -> int:
    """Unmap the whole pages of mm[start:end] from this process, once they have been read.

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


# Bytes read between two releases of the pages behind the read position.
_RELEASE_EVERY = 32 * 1024 * 1024


class _MmapRaw(io.RawIOBase):
    """Minimal raw stream over a memory map (so mmap and gzip share one code path)."""

    def __init__(self, mm: mmap.mmap) -> None:
        self._mm = mm
        self._released = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self._mm.read(len(b))
        n = len(data)
        b[:n] = data
        pos = self._mm.tell()
        if pos - self._released >= _RELEASE_EVERY:
            self._released = release_pages(self._mm, self._released, pos)
        return n

    def close(self) -> None:
        if not self.closed:
            self._mm.close()
        super().close()


def _read(f: BinaryIO, n: int) -> bytes:
    try:
        return f.read(n)
    except (EOFError, OSError, zlib.error):
        # A gzip stream cut short or corrupt: treat like the end of the file.
        return b""


def read_frames(path: str | os.PathLike, info: CaptureInfo | None = None) -> Iterator[RawFrame]:
    """Yield every frame of the capture at *path*, in file order.

    Raises :class:`CaptureError` before the first frame when the file is not a
    capture.  Damage later in the file ends the iteration with a warning
    recorded in *info*.
    """
    path = os.fspath(path)
    if info is None:
        info = CaptureInfo(path=path)
    f, info.compressed = _open_bytes(path)
    with f:
        head = _read(f, 4)
        if len(head) == 0:
            raise CaptureError(f"{path}: empty file, not a pcap or pcapng file")
        if len(head) < 4:
            raise CaptureError(f"{path}: not a pcap or pcapng file")
        (magic_le,) = struct.unpack("<I", head)
        if magic_le in _PCAP_MAGICS or magic_le in (_KUZNETZOV_MAGIC, _swap32(_KUZNETZOV_MAGIC)):
            yield from _read_pcap(f, head, info)
        elif magic_le == _PCAPNG_BT_SHB:
            yield from _read_pcapng(f, head, info)
        else:
            raise CaptureError(f"{path}: not a pcap or pcapng file")


def _swap32(v: int) -> int:
    return struct.unpack("<I", struct.pack(">I", v))[0]


def _read_pcap(f: BinaryIO, magic: bytes, info: CaptureInfo) -> Iterator[RawFrame]:
    (m,) = struct.unpack("<I", magic)
    if m in _PCAP_MAGICS:
        order, nano = _PCAP_MAGICS[m]
        extra = 0
    else:
        order, nano, extra = ("<" if m == _KUZNETZOV_MAGIC else ">"), False, 8
    rest = _read(f, 20)
    if len(rest) < 20:
        raise CaptureError(f"{info.path}: pcap file header is cut short")
    _vmaj, _vmin, _tz, _sig, snaplen, linktype = struct.unpack(order + "HHiIII", rest)
    # The upper bits of the link-type field carry FCS information (pcap spec).
    linktype &= 0x0FFFFFF
    info.file_format = "pcap-ns" if nano else "pcap"
    info.snaplen = snaplen
    info.linktypes[0] = linktype
    rec = struct.Struct(order + "IIII")
    scale = 1 if nano else 1000
    n = 0
    while True:
        hdr = _read(f, 16 + extra)
        if not hdr:
            break
        if len(hdr) < 16 + extra:
            info.warn(f"capture truncated after frame {n}: record header cut short")
            break
        sec, frac, caplen, wirelen = rec.unpack_from(hdr)
        if caplen > MAX_RECORD_BYTES:
            info.warn(
                f"capture damaged after frame {n}: record claims {caplen} bytes "
                f"(limit {MAX_RECORD_BYTES}); stopped reading"
            )
            break
        data = _read(f, caplen)
        if len(data) < caplen:
            info.warn(f"capture truncated after frame {n}: last record cut short")
            break
        n += 1
        yield RawFrame(sec * 1_000_000_000 + frac * scale, max(wirelen, caplen), linktype, 0, data, None)
    info.frames = n


def _pcapng_tsres(idb_opts) -> tuple[int, int]:
    """Return (units per second, offset seconds) from an IDB's options."""
    from dpkt import pcapng as _ng

    units, offset = 1_000_000, 0
    for opt in idb_opts:
        if opt.code == _ng.PCAPNG_OPT_IF_TSRESOL and opt.data:
            v = opt.data[0]
            units = (2 ** (v & 0x7F)) if v & 0x80 else (10 ** (v & 0x7F))
        elif opt.code == _ng.PCAPNG_OPT_IF_TSOFFSET and len(opt.data) == 8:
            offset = struct.unpack("<q", opt.data)[0]  # endianness fixed below
    return units, offset


def _epb_comment(block: bytes, start: int, end: int, order: str) -> str | None:
    """Find an opt_comment option in the option area block[start:end]."""
    from dpkt import pcapng as _ng

    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", block, pos)
        if code == 0:
            break
        value = block[pos + 4: pos + 4 + length]
        if code == _ng.PCAPNG_OPT_COMMENT:
            return value.decode("utf-8", "replace")
        pos += 4 + ((length + 3) & ~3)
    return None


def _read_pcapng(f: BinaryIO, magic: bytes, info: CaptureInfo) -> Iterator[RawFrame]:
    import dpkt
    from dpkt import pcapng as _ng

    info.file_format = "pcapng"
    order = "<"
    ifaces: list[tuple[int, int, int]] = []   # (linktype, units per second, offset s)
    iface_base = 0     # interface numbers restart in each section
    n = 0
    first = True
    pending = magic
    while True:
        head = pending + _read(f, 8 - len(pending))
        pending = b""
        if not head:
            break
        if len(head) < 8:
            info.warn(f"capture truncated after frame {n}: block header cut short")
            break
        btype = struct.unpack("<I", head[:4])[0]
        if btype == _ng.PCAPNG_BT_SHB:
            bom = _read(f, 4)
            if len(bom) < 4:
                if first:
                    raise CaptureError(f"{info.path}: pcapng section header is cut short")
                info.warn(f"capture truncated after frame {n}: section header cut short")
                break
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                if first:
                    raise CaptureError(f"{info.path}: not a pcap or pcapng file")
                info.warn(f"capture damaged after frame {n}: bad section header; stopped reading")
                break
            (blen,) = struct.unpack(order + "I", head[4:8])
            if blen < 28 or blen % 4 or blen > MAX_RECORD_BYTES:
                if first:
                    raise CaptureError(f"{info.path}: pcapng section header has a bad length")
                info.warn(f"capture damaged after frame {n}: bad section header length; stopped reading")
                break
            body = _read(f, blen - 12)
            if len(body) < blen - 12:
                if first:
                    raise CaptureError(f"{info.path}: pcapng section header is cut short")
                info.warn(f"capture truncated after frame {n}: section header cut short")
                break
            first = False
            iface_base += len(ifaces)
            ifaces = []
            continue
        (btype, blen) = struct.unpack(order + "II", head)
        if blen < 12 or blen % 4 or blen > MAX_RECORD_BYTES + 64:
            info.warn(
                f"capture damaged after frame {n}: block length {blen} is not valid; stopped reading"
            )
            break
        body = _read(f, blen - 8)
        if len(body) < blen - 8:
            info.warn(f"capture truncated after frame {n}: last block cut short")
            break
        (trailer,) = struct.unpack_from(order + "I", body, len(body) - 4)
        if trailer != blen:
            info.warn(f"capture damaged after frame {n}: block lengths disagree; stopped reading")
            break
        if btype == _ng.PCAPNG_BT_IDB:
            if len(body) < 12:
                info.warn(f"interface description block too short after frame {n}; ignored")
                ifaces.append((-1, 1_000_000, 0))
                continue
            linktype, _res, snaplen = struct.unpack_from(order + "HHI", body, 0)
            units, offset = 1_000_000, 0
            try:
                cls = _ng.InterfaceDescriptionBlockLE if order == "<" else _ng.InterfaceDescriptionBlock
                idb = cls(head + body)
                units, offset = _pcapng_tsres(idb.opts)
                if order == ">" and offset:
                    offset = _swap64_signed(offset)
            except (dpkt.UnpackError, struct.error, ValueError, IndexError):
                info.warn(f"interface {len(ifaces)}: options unreadable; default time resolution used")
            ifaces.append((linktype, units, offset))
            info.linktypes[iface_base + len(ifaces) - 1] = linktype
            if info.snaplen is None:
                info.snaplen = snaplen
            continue
        if btype in (_ng.PCAPNG_BT_EPB, _ng.PCAPNG_BT_PB, _ng.PCAPNG_BT_SPB):
            if btype == _ng.PCAPNG_BT_SPB:
                if len(body) < 8:
                    continue
                (wirelen,) = struct.unpack_from(order + "I", body, 0)
                iface, tsh, tsl = 0, 0, 0
                avail = len(body) - 8
                caplen = min(wirelen, avail)
                data_off = 4
            else:
                if len(body) < 24:
                    info.warn(f"frame {n + 1}: packet block too short; skipped")
                    continue
                if btype == _ng.PCAPNG_BT_EPB:
                    iface, tsh, tsl, caplen, wirelen = struct.unpack_from(order + "IIIII", body, 0)
                else:  # obsolete Packet Block: 16-bit interface id + drops count
                    iface, _drops, tsh, tsl, caplen, wirelen = struct.unpack_from(order + "HHIIII", body, 0)
                data_off = 20
            if data_off + caplen > len(body) - 4:
                info.warn(f"frame {n + 1}: packet block claims more data than it holds; cut to the block")
                caplen = max(0, len(body) - 4 - data_off)
            if iface < len(ifaces):
                linktype, units, offset = ifaces[iface]
            else:
                linktype, units, offset = -1, 1_000_000, 0
            ticks = (tsh << 32) | tsl
            ts_ns = offset * 1_000_000_000 + (ticks * 1_000_000_000) // units
            data = body[data_off: data_off + caplen]
            comment = None
            opt_start = data_off + ((caplen + 3) & ~3)
            if btype == _ng.PCAPNG_BT_EPB and opt_start + 4 <= len(body) - 4:
                comment = _epb_comment(body, opt_start, len(body) - 4, order)
            n += 1
            yield RawFrame(ts_ns, max(wirelen, caplen), linktype, iface_base + iface, data, comment)
            continue
        # Name resolution, statistics, custom and unknown blocks carry no frames.
    info.frames = n
    if first:
        raise CaptureError(f"{info.path}: not a pcap or pcapng file")


def _swap64_signed(v: int) -> int:
    return struct.unpack(">q", struct.pack("<q", v))[0]


def linktype_name(linktype: int) -> str:
    """Short lower-case name of a link type (``linktype_N`` when unknown)."""
    return LINKTYPE_NAMES.get(linktype, f"linktype_{linktype}")
