"""pcapng's describing blocks and options: section headers, interface descriptions, packet options.

The compiled framer walks the packet blocks; it stops at every section
header and interface description, which are read here (there are few), and
hands over the option area of each packet block that has one.  Options are
kept, not only read: comments become the ``comment`` column, the rest stays
in :class:`.info.CaptureInfo`.
"""
from __future__ import annotations

import struct

from .info import CaptureInfo

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
