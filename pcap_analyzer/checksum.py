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
                from consistency (see :func:`resolve_offload`).
``unverified``  the bytes needed are not all captured (snapshot length).

Wireshark 4.0 calls every offloaded checksum "bad"; we keep it apart because
students otherwise believe their capture is corrupt.
"""
from __future__ import annotations

import struct

import dpkt
import pandas as pd

GOOD, BAD, OFFLOADED, UNVERIFIED = "good", "bad", "offloaded", "unverified"
# Returned by the per-packet check; turned into OFFLOADED or BAD later.
_MAYBE_OFFLOADED = "maybe_offloaded"

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
    return _MAYBE_OFFLOADED if field == 0 else BAD


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
        return _MAYBE_OFFLOADED
    return BAD


_FIELD_OFFSET = {6: 16, 17: 6, 1: 2, 58: 2}


# A sender whose outgoing checksums are wrong this often, while every packet
# it receives is right, is a host capturing its own offloaded traffic.
_CONSISTENT_MIN = 3


def resolve_offload(packets: pd.DataFrame) -> pd.DataFrame:
    """Turn per-packet offload candidates into ``offloaded`` or ``bad``.

    A candidate (field 0 or the bare pseudo-header sum) is ``offloaded``.
    Beyond the field test, a sending address all of whose checksums fail
    (at least a few) while the packets it receives check out is also taken
    as offloading: every such failure is ``offloaded``.  Anything else stays
    ``bad``, so one corrupted packet among good ones is still reported.
    """
    out = packets.copy()
    for col in ("ip_checksum", "l4_checksum"):
        v = out[col]
        out[col] = v.where(v != _MAYBE_OFFLOADED, OFFLOADED)
    verdict = out["l4_checksum"]
    checked = verdict.isin([GOOD, BAD, OFFLOADED])
    if not (verdict == BAD).any():
        return out
    sent = out.loc[checked].groupby("src")["l4_checksum"].agg(
        lambda s: bool((s != GOOD).all()) and len(s) >= _CONSISTENT_MIN)
    received_ok = out.loc[checked].groupby("dst")["l4_checksum"].agg(lambda s: bool((s == GOOD).all()))
    offloaders = [a for a, all_bad in sent.items() if all_bad and received_ok.get(a, False)]
    if offloaders:
        mask = (verdict == BAD) & out["src"].isin(offloaders)
        out.loc[mask, "l4_checksum"] = OFFLOADED
    return out
