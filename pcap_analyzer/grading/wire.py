"""What only the captured bytes tell about a few frames: TTL, IP and TCP header lengths, TCP options.

The packets table keeps what every frame needs; the lab asks about a handful
of frames (the SYN, the SYN-ACK, the first data segments) for things it does
not keep: whether SACK is permitted, the length of header plus payload, the
TTL that tells a local answer from a far one.  :func:`read_headers` reads
those frames again from the file, stopping after the last one asked for.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ..capture import read_frames

# TCP option kinds the lab asks about.
OPTION_NAMES = {2: "MSS", 3: "window scale", 4: "SACK permitted", 5: "SACK", 8: "timestamps"}

_ETHERTYPES_TAGS = (0x8100, 0x88A8, 0x9100)


@dataclass(frozen=True)
class Headers:
    ip_version: int
    ttl: int                 # TTL (IPv4) or hop limit (IPv6)
    ip_header_len: int
    tcp_header_len: int
    options: tuple[int, ...]  # TCP option kinds, in order

    @property
    def sack_permitted(self) -> bool:
        return 4 in self.options


def read_headers(path, frames) -> dict[int, Headers]:
    """{frame number: Headers} for the TCP *frames* of the capture file at *path* that can be decoded."""
    wanted = {int(f) for f in frames}
    out: dict[int, Headers] = {}
    if not wanted or str(path) == "-":
        return out
    last = max(wanted)
    for number, frame in enumerate(read_frames(path), start=1):
        if number in wanted:
            ip = _ip_start(frame.linktype, frame.data)
            h = _headers(frame.data, ip) if ip is not None else None
            if h is not None:
                out[number] = h
        if number >= last:
            break
    return out


def _ip_start(linktype: int, data: bytes) -> int | None:
    """Offset of the IP header in a frame of *linktype* (None for a link layer not read here)."""
    if linktype == 1:   # Ethernet, with VLAN tags
        at, etype = 12, None
        while at + 2 <= len(data):
            etype = struct.unpack_from(">H", data, at)[0]
            if etype in _ETHERTYPES_TAGS:
                at += 4
                continue
            break
        return at + 2 if etype in (0x0800, 0x86DD) else None
    if linktype in (101, 12, 14, 228, 229):   # raw IP
        return 0
    if linktype == 113:   # Linux cooked v1
        return 16 if len(data) >= 16 and struct.unpack_from(">H", data, 14)[0] in (0x0800, 0x86DD) else None
    if linktype == 276:   # Linux cooked v2
        return 20 if len(data) >= 20 and struct.unpack_from(">H", data, 0)[0] in (0x0800, 0x86DD) else None
    if linktype in (0, 108):   # BSD loopback
        return 4
    return None


def _headers(data: bytes, at: int) -> Headers | None:
    if at >= len(data):
        return None
    version = data[at] >> 4
    if version == 4 and len(data) >= at + 20:
        ihl = (data[at] & 0x0F) * 4
        ttl, proto = data[at + 8], data[at + 9]
    elif version == 6 and len(data) >= at + 40:
        ihl, ttl, proto = 40, data[at + 7], data[at + 6]
    else:
        return None
    if proto != 6:
        return None
    tcp = at + ihl
    if len(data) < tcp + 20:
        return None
    off = (data[tcp + 12] >> 4) * 4
    return Headers(version, ttl, ihl, off, _options(data[tcp + 20:tcp + off]))


def _options(raw: bytes) -> tuple[int, ...]:
    kinds, i = [], 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2:
            break
        kinds.append(kind)
        i += raw[i + 1]
    return tuple(kinds)
