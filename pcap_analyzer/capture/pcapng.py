"""pcapng's describing blocks and options: section headers, interface descriptions, packet options.

The compiled framer walks the packet blocks; it stops at every section
header and interface description, which are read here (there are few), and
hands over the option area of each packet block that has one.  Options are
kept, not only read: comments become the ``comment`` column, the rest stays
in :class:`.info.CaptureInfo`.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from ..vocabulary import MAX_BLOCK_BYTES
from .info import CaptureInfo
from .sources import Damage, open_bytes

SHB, IDB = 0x0A0D0D0A, 1
_BOM = 0x1A2B3C4D

OPT_END, OPT_COMMENT = 0, 1
_SECTION_TEXTS = {2: "hardware", 3: "os", 4: "application"}
_INTERFACE_TEXTS = {2: "name", 3: "description", 12: "os", 15: "hardware"}
_IF_TSRESOL, _IF_FILTER, _IF_TSOFFSET, _IF_FCSLEN = 9, 11, 14, 13
# Largest tick rates kept exact: 10**19 and 2**63 per second.
_MAX_DECIMAL, _MAX_BINARY = 19, 63


class Damaged(Exception):
    """A describing block cannot be read: the message says why."""


def options(data: bytes, order: str) -> list[tuple[int, bytes]]:
    """The (code, value) options of an option area, up to opt_endofopt or its end."""
    out = []
    pos, end = 0, len(data)
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", data, pos)
        if code == OPT_END:
            break
        value = data[pos + 4: pos + 4 + length]
        if len(value) < length:
            break
        out.append((code, bytes(value)))
        pos += 4 + ((length + 3) & ~3)
    return out


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace").rstrip("\x00")


def block_order(head: bytes) -> str | None:
    """The byte order a section header's byte-order magic (bytes 8-12 of the block) gives, or None."""
    bom = head[8:12]
    if bom == struct.pack("<I", _BOM):
        return "<"
    if bom == struct.pack(">I", _BOM):
        return ">"
    return None


def section_length(head: bytes, order: str) -> int:
    (length,) = struct.unpack_from(order + "I", head, 4)
    return length


def read_section(block: bytes, order: str, info: CaptureInfo) -> None:
    """Keep a section header's options (comments, hardware, operating system, application)."""
    section: dict = {"comments": []}
    for code, value in options(block[24:-4], order):
        if code == OPT_COMMENT:
            section["comments"].append(_text(value))
        elif code in _SECTION_TEXTS:
            section[_SECTION_TEXTS[code]] = _text(value)
        else:
            section.setdefault("other_options", []).append((code, value))
    info.sections.append(section)


def read_interface(block: bytes, order: str, info: CaptureInfo, number: int) -> tuple[int, int, int, int]:
    """An interface description's (link type, ticks per second, time offset in s, snapshot length);
    its options are kept in *info*."""
    if len(block) < 20:
        info.warn(f"interface {number}: description block too short; link layer unknown")
        return -1, 1_000_000, 0, 0
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", block, 8)
    units, offset = 1_000_000, 0
    raw = options(block[16:-4], order)
    described: dict = {"interface": number, "section": len(info.sections) - 1, "linktype": linktype,
                       "snaplen": snaplen, "comments": [], "options": raw, "byte_order": order}
    for code, value in raw:
        if code == OPT_COMMENT:
            described["comments"].append(_text(value))
        elif code in _INTERFACE_TEXTS:
            described[_INTERFACE_TEXTS[code]] = _text(value)
        elif code == _IF_TSRESOL and value:
            units = _tick_rate(value[0], info, number)
            described["tsresol"] = value[0]
        elif code == _IF_TSOFFSET and len(value) == 8:
            (offset,) = struct.unpack(order + "q", value)
            described["tsoffset"] = offset
        elif code == _IF_FILTER and value:
            described["filter"] = _text(value[1:])
        elif code == _IF_FCSLEN and value:
            described["fcslen"] = value[0]
        else:
            described.setdefault("other_options", []).append((code, value))
    info.interfaces.append(described)
    return linktype, units, offset, snaplen


def _tick_rate(resolution: int, info: CaptureInfo, number: int) -> int:
    """Ticks per second of if_tsresol: a power of ten, or of two when the top bit is set."""
    power = resolution & 0x7F
    binary = bool(resolution & 0x80)
    limit = _MAX_BINARY if binary else _MAX_DECIMAL
    if power > limit:
        info.warn(f"interface {number}: time resolution {'2' if binary else '10'}**-{power} s is finer than "
                  f"pcapan keeps; times rounded to {'2' if binary else '10'}**-{limit} s")
        power = limit
    return (2 ** power) if binary else (10 ** power)


def packet_options(data: bytes, order: str) -> tuple[list[str], list[tuple[int, bytes]]]:
    """A packet block's comments, and its other options."""
    comments, rest = [], []
    for code, value in options(data, order):
        if code == OPT_COMMENT:
            comments.append(_text(value))
        else:
            rest.append((code, value))
    return comments, rest


# Every block as it lies in the file, for what copies a capture (``pcapan annotate``).
PB, SPB, EPB, NRB, ISB, DSB = 2, 3, 6, 4, 5, 10
CUSTOM_COPIABLE, CUSTOM_NOT_COPIABLE = 0x00000BAD, 0x40000BAD
# Custom options whose data may depend on the rest of the file: the format asks tools that
# write a changed file not to copy them.
NOT_COPIABLE_OPTIONS = frozenset({2989, 19373})
_MINIMUM_LENGTH = {SHB: 28, IDB: 20}
# A mapped file's pages are let go after this many bytes were copied.
_RELEASE_BYTES = 8 * 1024 * 1024


def blocks(path: str) -> Iterator[tuple[int, str, bytes]]:
    """Every block of the pcapng file at *path* (gzip inflated), in file order, as
    (block type, the section's byte order, the whole block).

    Stops, as the reader does, at the first block that cannot be read (a bad
    length, lengths that disagree, a block cut short, corrupt compressed data);
    the reader has warned about it already.
    """
    window = open_bytes(path)
    view = memoryview(window.buf)
    pos, order, unreleased = 0, None, 0
    try:
        while True:
            try:
                if window.end - pos < 12:
                    pos = window.more(pos, 12)
                    view = memoryview(window.buf)
                    if window.end - pos < 12:
                        return
                (btype,) = struct.unpack_from("<I", view, pos)   # a section header's type reads alike both ways
                if btype == SHB:
                    order = block_order(bytes(view[pos:pos + 12]))
                if order is None:
                    return
                btype, length = struct.unpack_from(order + "II", view, pos)
                if length < _MINIMUM_LENGTH.get(btype, 12) or length % 4 or length > MAX_BLOCK_BYTES:
                    return
                if window.end - pos < length:
                    pos = window.more(pos, length)
                    view = memoryview(window.buf)
                    if window.end - pos < length:
                        return
            except Damage:
                return
            if struct.unpack_from(order + "I", view, pos + length - 4)[0] != length:
                return
            yield btype, order, bytes(view[pos:pos + length])
            pos += length
            unreleased += length
            if unreleased >= _RELEASE_BYTES:
                window.release(pos)
                unreleased = 0
    finally:
        view.release()
        window.close()


class PacketBlock(NamedTuple):
    """The fields of an enhanced, simple or obsolete packet block."""

    interface: int
    ts_high: int          # time in the interface's units: high and low 32 bits (0 for a simple block)
    ts_low: int
    captured: int         # captured length, cut to what the block holds
    original: int
    data: bytes
    options: bytes        # the option area (empty for a simple block)
    drops: int | None     # an obsolete block's drop count (None when unknown or not obsolete)


def packet_block(btype: int, order: str, block: bytes, snaplen: int = 0) -> PacketBlock | None:
    """A packet block's fields, as the framer reads them (*snaplen*: the section's first interface's,
    which cuts a simple block's data); None when it is too short to be a packet (the framer skips it)."""
    body = len(block) - 12
    if btype == SPB:
        if body < 4:
            return None
        (original,) = struct.unpack_from(order + "I", block, 8)
        captured = min(original, body - 4)
        if 0 < snaplen < captured:
            captured = snaplen
        return PacketBlock(0, 0, 0, captured, original, block[12:12 + captured], b"", None)
    if body < 20:
        return None
    if btype == EPB:
        iface, high, low, captured, original = struct.unpack_from(order + "5I", block, 8)
        drops = None
    else:
        iface, drops, high, low, captured, original = struct.unpack_from(order + "HH4I", block, 8)
        drops = None if drops == 0xFFFF else drops
    if captured > body - 20:
        captured = body - 20
        opts = b""
    else:
        opts = block[28 + ((captured + 3) & ~3):-4]
    return PacketBlock(iface, high, low, captured, original, block[28:28 + captured], opts, drops)


def options_at(btype: int, order: str, block: bytes) -> int | None:
    """Where a block's option area starts (None: a block without options, or one pcapan does not know)."""
    if btype == SHB:
        return 24
    if btype == IDB:
        return 16
    if btype == ISB:
        return 20
    if btype in (EPB, PB):
        (captured,) = struct.unpack_from(order + "I", block, 20)
        return 28 + ((captured + 3) & ~3)
    if btype == DSB and len(block) >= 20:
        (length,) = struct.unpack_from(order + "I", block, 12)
        return 16 + ((length + 3) & ~3)
    if btype == NRB:
        pos = 8
        while pos + 4 <= len(block) - 4:
            kind, length = struct.unpack_from(order + "HH", block, pos)
            pos += 4 + ((length + 3) & ~3)
            if kind == 0:          # nrb_record_end
                return pos
        return None
    return None
