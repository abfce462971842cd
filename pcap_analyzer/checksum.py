"""Checksum verification for IPv4 headers and TCP/UDP over IPv4 and IPv6.

dpkt computes Internet checksums (``dpkt.in_cksum_add``) but never verifies
them on read; verifying is ours.  Verdicts:

``good``        the checksum is right.
``bad``         it is wrong: the bits changed somewhere (or the sender lied).
``offloaded``   it is wrong because it was never computed: the capture was
                taken on the sending host before the network card filled it
                in (transmit checksum offload).  Linux leaves the
                *un-complemented* pseudo-header sum in the field; some stacks
                leave 0.  Decided per packet from the field, then per capture
                from consistency (see :mod:`pcap_analyzer.rules.checksums`).
``unverified``  the bytes needed are not all captured (snapshot length).

Wireshark 4.0 calls every offloaded checksum "bad"; we keep it apart because
students otherwise believe their capture is corrupt.
"""
from __future__ import annotations

import struct

import dpkt

GOOD, BAD, OFFLOADED, UNVERIFIED = "good", "bad", "offloaded", "unverified"
# Returned by the per-packet check; rules.checksums turns it into OFFLOADED.
MAYBE_OFFLOADED = "maybe_offloaded"

_add = dpkt.in_cksum_add


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ipv4_header(data: bytes, off: int, ihl: int) -> str:
    """Verdict on the IPv4 header checksum of the header at *off*."""
    total = _fold(_add(0, data[off: off + ihl]))
    if total == 0xFFFF:
        return GOOD
    field = struct.unpack_from("!H", data, off + 10)[0]
    return MAYBE_OFFLOADED if field == 0 else BAD


def transport(data: bytes, l3: int, ver: int, off: int, l4len: int, end: int,
              proto: int, final: bytes | tuple | None, truncated: bool) -> str | None:
    """Verdict on the TCP/UDP/ICMP checksum of the segment at *off* (length *l4len*).

    *final* is the IPv6 destination the pseudo-header must use (the last hop
    of a routing header), or a (home address, destination) pair when a
    Mobile IPv6 home address replaces the source.
    """
    field_pos = off + _FIELD_OFFSET[proto]
    if field_pos + 2 > end:
        return UNVERIFIED
    field = struct.unpack_from("!H", data, field_pos)[0]
    if proto == 17 and field == 0:
        # No checksum: allowed over IPv4, forbidden over IPv6 (RFC 8200).
        return None if ver == 4 else BAD
    if truncated or off + l4len > len(data) or l4len < 0:
        return UNVERIFIED
    if proto == 1:
        pseudo = b""
    elif ver == 4:
        pseudo = data[l3 + 12: l3 + 20] + struct.pack("!BBH", 0, proto, l4len)
    else:
        src = data[l3 + 8: l3 + 24]
        dst = data[l3 + 24: l3 + 40]
        if isinstance(final, tuple):
            src, final = final
        if final is not None:
            dst = final
        pseudo = src + dst + struct.pack("!IxxxB", l4len, proto)
    pseudo_sum = _add(0, pseudo)
    total = _fold(_add(pseudo_sum, data[off: off + l4len]))
    if total == 0xFFFF:
        return GOOD
    # dpkt sums little-endian words; the field is big-endian.
    folded = _fold(pseudo_sum)
    folded = ((folded & 0xFF) << 8) | (folded >> 8)
    if proto in (6, 17) and (field == 0 or field == folded or field == (~folded & 0xFFFF)):
        return MAYBE_OFFLOADED
    return BAD


_FIELD_OFFSET = {6: 16, 17: 6, 1: 2, 58: 2}


