"""Header decoding: link layer -> IP -> TCP/UDP, column-wise and object-free.

Every frame becomes one flat tuple of header fields (:data:`FIELDS`), read
with ``struct.unpack_from`` at known offsets: building dpkt objects for each
packet costs about ten times more, so dpkt is used here for its constants.

A frame that cannot be decoded further keeps what was decoded so far:
``truncated`` says the capture's snapshot length cut it, ``malformed`` names
the first layer whose header makes no sense (``link``, ``ip``, ``ipv6``,
``tcp``, ``udp``).  Nothing in here raises on bad bytes.
"""
from __future__ import annotations

import socket
import struct
from contextlib import contextmanager

from dpkt import ethernet as _eth
from dpkt import ip as _ip
from dpkt import pcap as _pcap

from . import checksum
from .defrag import Defragmenter

# Field order of a decoded frame; the packet table is built from these.
FIELDS = (
    "proto",         # "tcp", "udp", "icmp", "icmpv6", "arp", "ipv4", "ipv6", "other"
    "ip_version",    # 4, 6 or None
    "src", "dst",    # addresses as text
    "sport", "dport",
    "tcp_flags",     # the 8 flag bits (plus NS as 0x100)
    "seq", "ack",    # raw 32-bit numbers
    "window",        # raw advertised window (before scaling)
    "payload_len",   # TCP/UDP payload bytes according to the headers
    "tcp_hdr_len",
    "mss", "wscale", "sack_perm",  # TCP options (MSS and SACK-permitted on SYNs)
    "sack_bytes",    # bytes covered by the first three SACK blocks, if any
    "ip_checksum", "l4_checksum",  # verdicts: good/bad/offloaded-candidate/unverified
    "fragment",      # None, "first" or "non_first"
    "truncated",     # the snapshot length cut the headers or the payload
    "malformed",     # first layer that made no sense, or None
    "other_flow",    # (proto, src, sport, dst, dport) of a second flow Wireshark files the
                     # frame under: the packet an ICMP error quotes, or a tunnel's outer UDP
)

_ETH_IP = _eth.ETH_TYPE_IP
_ETH_IP6 = _eth.ETH_TYPE_IP6
_ETH_ARP = _eth.ETH_TYPE_ARP
_VLAN_TYPES = frozenset((_eth.ETH_TYPE_8021Q, _eth.ETH_TYPE_8021AD, _eth.ETH_TYPE_QINQ1, _eth.ETH_TYPE_QINQ2))
_MPLS_TYPES = frozenset((_eth.ETH_TYPE_MPLS, _eth.ETH_TYPE_MPLS_MCAST))
_PPPOE = _eth.ETH_TYPE_PPPoE
_FABRICPATH = 0x8903
_MAX_TAGS = 8          # deeper VLAN/MPLS stacks are called malformed
_MAX_TUNNEL_DEPTH = 3  # IP-in-IP / GRE nesting we follow
_MAX_EXT_HEADERS = 16  # IPv6 extension headers we walk before giving up

_P_TCP = _ip.IP_PROTO_TCP
_P_UDP = _ip.IP_PROTO_UDP
_P_ICMP = _ip.IP_PROTO_ICMP
_P_ICMP6 = _ip.IP_PROTO_ICMP6
_P_IPIP = _ip.IP_PROTO_IPIP
_P_IPV6 = _ip.IP_PROTO_IP6
_P_GRE = _ip.IP_PROTO_GRE
_IP6_EXT = frozenset((0, 43, 44, 60, 51, 135, 139, 140))  # walked to the transport header

# BSD loopback address-family values for IPv6 differ per OS.
_AF_INET6_VALUES = frozenset((24, 28, 30, 10))
_PPP_IP = {0x0021: 4, 0x0057: 6}

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_tcp_hdr = struct.Struct("!HHIIBBH").unpack_from
_ipv4_hdr = struct.Struct("!BBHHHBB").unpack_from
_ntop = socket.inet_ntop
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6



def _row(proto, ver=None, src=None, dst=None, truncated=False, malformed=None, fragment=None,
         ip_ck=None, quoted=None):
    return (proto, ver, src, dst, None, None, None, None, None, None, None,
            None, None, None, None, None, ip_ck, None, fragment, truncated, malformed, quoted)


# Bytes of the current frame on the wire beyond those captured: an IP length
# that claims more than the frame held is cut to the frame, as Wireshark does.
_uncaptured = 0
# Fragments waiting for the rest of their datagram (set by reassembling() for
# the capture being read; None decodes frames one by one, unreassembled).
_defrag: Defragmenter | None = None


def decode_frame(linktype: int, data: bytes, wire_len: int | None = None) -> tuple:
    """Decode one frame's headers into a tuple ordered as :data:`FIELDS`."""
    global _uncaptured
    n = len(data)
    _uncaptured = max(0, wire_len - n) if wire_len is not None else 0
    if linktype == _pcap.DLT_EN10MB:
        if n < 14:
            return _row("other", truncated=True)
        return _ethertype(data, 12, n, 0)
    if linktype in (101, 12, 14):  # LINKTYPE_RAW, and the DLT values some files carry
        return _guess_ip(data, 0, n, 0)
    if linktype == 228:
        return _ipv4(data, 0, n, 0)
    if linktype == 229:
        return _ipv6(data, 0, n, 0)
    if linktype == _pcap.DLT_LINUX_SLL:
        if n < 16:
            return _row("other", truncated=True)
        return _ethertype(data, 14, n, 0)
    if linktype == 276:  # LINUX_SLL2: protocol type first, 20-byte header
        if n < 20:
            return _row("other", truncated=True)
        return _ethertype_at(data, _u16(data, 0)[0], 20, n, 0)
    if linktype in (0, 108):
        if n < 4:
            return _row("other", truncated=True)
        if linktype == 108:
            fam = _u32(data, 0)[0]
        else:
            # host byte order of the capturing machine: whichever reading is small
            fam = struct.unpack_from("<I", data, 0)[0]
            if fam > 0xFFFF:
                fam = _u32(data, 0)[0]
        if fam == 2:
            return _ipv4(data, 4, n, 0)
        if fam in _AF_INET6_VALUES:
            return _ipv6(data, 4, n, 0)
        return _row("other")
    if linktype in (_pcap.DLT_PPP, _pcap.DLT_PPP_SERIAL):
        return _ppp(data, 0, n)
    if linktype == 127:  # radiotap header, then 802.11
        if n < 4:
            return _row("other", truncated=True)
        return _wlan(data, struct.unpack_from("<H", data, 2)[0], n)
    if linktype == 105:
        return _wlan(data, 0, n)
    if linktype == _pcap.DLT_FDDI:
        return _llc(data, 13, n, 0)
    if linktype == 239:  # NFLOG: TLVs after a 4-byte header; the payload TLV holds IP
        return _nflog(data, n)
    return _row("other")


def _wlan(data, off, n):
    """802.11 data frames: skip the MAC header (QoS, 4-address, HT) to LLC/SNAP."""
    if off + 24 > n:
        return _row("other", truncated=off < n)
    fc0, fc1 = data[off], data[off + 1]
    if (fc0 >> 2) & 3 != 2 or fc1 & 0x40:   # not data, or protected (encrypted)
        return _row("other")
    hlen = 24
    if fc1 & 0x03 == 0x03:
        hlen += 6
    if fc0 & 0x80:                           # QoS data subtypes
        hlen += 2
        if fc1 & 0x80:                       # +HTC
            hlen += 4
    if fc0 & 0x40:                           # null-data subtypes carry nothing
        return _row("other")
    return _llc(data, off + hlen, n, 0)


def _llc(data, off, n, depth):
    """802.2 LLC: only SNAP (AA AA 03, zero OUI) carries an ethertype we follow."""
    if off + 8 > n:
        return _row("other", truncated=True)
    if data[off] == 0xAA and data[off + 1] == 0xAA and data[off + 2] == 0x03:
        return _ethertype_at(data, _u16(data, off + 6)[0], off + 8, n, depth)
    return _row("other")


def _nflog(data, n):
    pos = 4
    for _ in range(64):
        if pos + 4 > n:
            break
        tlen, ttype = struct.unpack_from("<HH", data, pos)
        if tlen < 4:
            break
        if ttype == 9:  # NFULA_PAYLOAD
            fam = data[0]
            if fam == 2:
                return _ipv4(data, pos + 4, min(n, pos + tlen), 0)
            if fam == 10:
                return _ipv6(data, pos + 4, min(n, pos + tlen), 0)
            return _guess_ip(data, pos + 4, min(n, pos + tlen), 0)
        pos += (tlen + 3) & ~3
    return _row("other")


def _ppp(data, off, n):
    if off + 2 <= n and data[off] == 0xFF and data[off + 1] == 0x03:
        off += 2
    if off + 2 > n:
        return _row("other", truncated=True)
    proto = _u16(data, off)[0]
    ver = _PPP_IP.get(proto)
    if ver == 4:
        return _ipv4(data, off + 2, n, 0)
    if ver == 6:
        return _ipv6(data, off + 2, n, 0)
    return _row("other")


def _ethertype(data, off, n, depth):
    etype = _u16(data, off)[0]
    if etype <= 1500:  # an 802.3 length field: LLC follows
        return _llc(data, off + 2, n, depth)
    return _ethertype_at(data, etype, off + 2, n, depth)


def _ethertype_at(data, etype, off, n, depth):
    """Follow VLAN tags, MPLS labels and PPPoE to the network layer at *off*."""
    tags = 0
    while etype in _VLAN_TYPES:
        tags += 1
        if tags > _MAX_TAGS:
            return _row("other", malformed="link")
        if off + 4 > n:
            return _row("other", truncated=True)
        etype = _u16(data, off + 2)[0]
        off += 4
    if etype == _ETH_IP:
        return _ipv4(data, off, n, depth)
    if etype == _ETH_IP6:
        return _ipv6(data, off, n, depth)
    if etype == _ETH_ARP:
        return _row("arp")
    if etype in _MPLS_TYPES:
        for _ in range(_MAX_TAGS):
            if off + 4 > n:
                return _row("other", truncated=True)
            bottom = data[off + 2] & 1
            off += 4
            if bottom:
                return _guess_ip(data, off, n, depth)
        return _row("other", malformed="link")
    if etype == _FABRICPATH and depth < _MAX_TUNNEL_DEPTH:
        # Cisco FabricPath: 2 bytes of FTag/TTL, then a whole Ethernet frame,
        # then FabricPath's own 4-byte frame check sequence.
        if off + 2 + 14 + 4 > n:
            return _row("other", truncated=True)
        return _ethertype(data, off + 2 + 12, n - 4, depth + 1)
    if etype == _PPPOE:
        if off + 8 > n:
            return _row("other", truncated=True)
        return _ppp(data, off + 6, n)
    return _row("other")


def _guess_ip(data, off, n, depth):
    if off >= n:
        return _row("other", truncated=True)
    v = data[off] >> 4
    if v == 4:
        return _ipv4(data, off, n, depth)
    if v == 6:
        return _ipv6(data, off, n, depth)
    return _row("other", malformed="ip")


def _ipv4(data, off, n, depth):
    if off + 20 > n:
        return _row("ipv4", 4, truncated=True)
    vihl, _tos, total, _ident, frag, _ttl, proto = _ipv4_hdr(data, off)
    src = _ntop(_AF4, data[off + 12: off + 16])
    dst = _ntop(_AF4, data[off + 16: off + 20])
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        return _row("ipv4", 4, src, dst, malformed="ip")
    if off + ihl > n:
        return _row("ipv4", 4, src, dst, truncated=True)
    ip_ck = checksum.ipv4_header(data, off, ihl)
    if total == 0:
        # TCP segmentation offload: the length is filled in by the NIC later.
        total = n - off
    if total < ihl:
        return _row("ipv4", 4, src, dst, malformed="ip", ip_ck=ip_ck)
    if off + total > n + _uncaptured:
        total = n + _uncaptured - off
    end = off + total
    truncated = end > n
    if truncated:
        end = n
    offset = (frag & 0x1FFF) * 8
    more = frag & 0x2000
    fragment = None
    if offset or more:
        if _defrag is not None and depth == 0 and not truncated:
            whole = _defrag.add((4, data[off + 12: off + 20], _ident, proto), offset, bool(more),
                                data[off + ihl: end])
            if whole is not None:
                hdr = bytearray(data[off: off + ihl])
                struct.pack_into("!H", hdr, 2, ihl + len(whole))
                struct.pack_into("!H", hdr, 6, 0)
                return _reassembled(_ipv4(bytes(hdr) + whole, 0, ihl + len(whole), 1), ip_ck)
        # A first fragment that cannot be reassembled (not all captured) is
        # decoded as far as it goes, as Wireshark does.
        if offset or (_defrag is not None and not truncated):
            # the transport checksum covers the whole datagram: not verifiable from a piece
            return _with_l4_checksum(_row("ipv4", 4, src, dst, truncated, None,
                                          "non_first" if offset else "first", ip_ck), checksum.UNVERIFIED)
        fragment = "first"
    return _payload(data, 4, off, off + ihl, end, total - ihl, proto, src, dst, truncated, fragment,
                    ip_ck, None, depth)


def _payload(data, ver, l3, l4, end, l4len, proto, src, dst, truncated, fragment, ip_ck, final_dst, depth):
    """What the IP packet at *l3* carries at *l4*: TCP, UDP, ICMP, a tunnel, or nothing we follow."""
    if proto == _P_TCP:
        return _tcp(data, l4, end, l4len, ver, src, dst, truncated, fragment, ip_ck, l3, final_dst)
    if proto == _P_UDP:
        return _udp(data, l4, end, l4len, ver, src, dst, truncated, fragment, ip_ck, l3, final_dst)
    icmp = _P_ICMP if ver == 4 else _P_ICMP6
    if proto == icmp:
        quoted = _quoted(data, l4, end, ver) if fragment is None else None
        row = _row("icmp" if ver == 4 else "icmpv6", ver, src, dst, truncated, None, fragment, ip_ck, quoted)
        if fragment is None:
            row = _with_l4_checksum(row, checksum.transport(data, l3, ver, l4, l4len, end, icmp,
                                                            final_dst, truncated))
        return row
    if fragment is None and depth < _MAX_TUNNEL_DEPTH:
        inner = _tunnel(data, proto, l4, end, depth)
        if inner is not None:
            return inner
    return _row("ipv4" if ver == 4 else "ipv6", ver, src, dst, truncated, None, fragment, ip_ck)


def _tunnel(data, proto, off, end, depth):
    """Decode IP-in-IP and GRE payloads (tshark reports the inner TCP/UDP)."""
    if proto == _P_IPIP:
        return _ipv4(data, off, end, depth + 1)
    if proto == _P_IPV6:
        return _ipv6(data, off, end, depth + 1)
    if proto == _P_GRE and off + 4 <= end:
        flags = data[off]
        if data[off + 1] & 0x07:  # only GRE version 0 carries plain ethertypes
            return None
        etype = _u16(data, off + 2)[0]
        hlen = 4 + 4 * (((flags >> 7) & 1 or (flags >> 6) & 1) + ((flags >> 5) & 1) + ((flags >> 4) & 1))
        if etype in (_ETH_IP, _ETH_IP6):
            return _ethertype_at(data, etype, off + hlen, end, depth + 1)
    return None


def _ipv6(data, off, n, depth):
    if off + 40 > n:
        return _row("ipv6", 6, truncated=True)
    if data[off] >> 4 != 6:
        return _row("ipv6", 6, malformed="ipv6")
    plen = _u16(data, off + 4)[0]
    nxt = data[off + 6]
    src = _ntop(_AF6, data[off + 8: off + 24])
    dst_raw = data[off + 24: off + 40]
    dst = _ntop(_AF6, dst_raw)
    final_dst = dst_raw
    home_src = None
    if plen == 0:
        # Jumbogram or offloaded segment: trust the captured length.
        plen = n - off - 40
    if off + 40 + plen > n + _uncaptured:
        plen = n + _uncaptured - off - 40
    end = off + 40 + plen
    truncated = end > n
    if truncated:
        end = n
    pos = off + 40
    fragment = None
    for _ in range(_MAX_EXT_HEADERS):
        if nxt not in _IP6_EXT:
            break
        if pos + 8 > end:
            return _row("ipv6", 6, src, dst, truncated, None if truncated else "ipv6", fragment)
        hnext = data[pos]
        if nxt == 44:  # fragment header
            fo = _u16(data, pos + 2)[0]
            if fo & 0xFFF9:
                if _defrag is not None and depth == 0 and not truncated:
                    key = (6, data[off + 8: off + 40], _u32(data, pos + 4)[0], hnext)
                    whole = _defrag.add(key, fo & 0xFFF8, bool(fo & 1), data[pos + 8: end])
                    if whole is not None:
                        hdr = bytearray(data[off: off + 40])
                        struct.pack_into("!H", hdr, 4, len(whole))
                        hdr[6] = hnext
                        return _reassembled(_ipv6(bytes(hdr) + whole, 0, 40 + len(whole), 1), None)
                if fo & 0xFFF8 or (_defrag is not None and not truncated):
                    return _with_l4_checksum(_row("ipv6", 6, src, dst, truncated, None,
                                                  "non_first" if fo & 0xFFF8 else "first"), checksum.UNVERIFIED)
                fragment = "first"
            hlen = 8
        elif nxt == 51:  # authentication header counts 4-byte units
            hlen = (data[pos + 1] + 2) * 4
        else:
            hlen = (data[pos + 1] + 1) * 8
            if nxt == 43:
                final_dst = _routing_final_dst(data, pos, hlen, end) or final_dst
            elif nxt == 60:
                home_src = _home_address(data, pos, hlen, end) or home_src
        pos += hlen
        nxt = hnext
    else:
        return _row("ipv6", 6, src, dst, truncated, "ipv6", fragment)
    if pos > end:
        return _row("ipv6", 6, src, dst, truncated, None if truncated else "ipv6", fragment)
    l4len = off + 40 + plen - pos
    if home_src is not None:
        # Mobile IPv6: the pseudo-header carries the home address as source.
        final_dst = (home_src, final_dst)
    return _payload(data, 6, off, pos, end, l4len, nxt, src, dst, truncated, fragment, None, final_dst, depth)


_L4_CK = FIELDS.index("l4_checksum")
_IP_CK = FIELDS.index("ip_checksum")
_FRAG = FIELDS.index("fragment")


def _reassembled(row, ip_ck):
    """A row decoded from a reassembled datagram, on the frame that completed it."""
    row = list(row)
    row[_IP_CK] = ip_ck
    row[_FRAG] = "reassembled"
    return tuple(row)


def _with_l4_checksum(row, verdict):
    return row[:_L4_CK] + (verdict,) + row[_L4_CK + 1:]


# ICMP messages that quote the offending packet's headers.
_ICMP4_ERRORS = frozenset((3, 4, 5, 11, 12))
_ICMP6_ERRORS = frozenset((1, 2, 3, 4))


def _quoted(data, off, end, ver):
    """The four-tuple of the TCP/UDP packet an ICMP error quotes, if any.

    Wireshark decodes the quoted headers and files them under the quoted
    flow's stream (creating it when it was not seen), so stream numbers
    that follow depend on it.
    """
    if off + 8 > end:
        return None
    if ver == 4 and data[off] not in _ICMP4_ERRORS:
        return None
    if ver == 6 and data[off] not in _ICMP6_ERRORS:
        return None
    inner = data[off + 8: end]
    try:
        if ver == 4 and inner and inner[0] >> 4 == 4:
            row = _ipv4(inner, 0, len(inner), _MAX_TUNNEL_DEPTH)
        elif ver == 6 and inner and inner[0] >> 4 == 6:
            row = _ipv6(inner, 0, len(inner), _MAX_TUNNEL_DEPTH)
        else:
            return None
    except (struct.error, IndexError, ValueError):
        return None
    if row[0] in ("tcp", "udp") and row[4] is not None:
        return (row[0], row[2], row[4], row[3], row[5])
    return None


def _home_address(data, pos, hlen, end):
    """Mobile IPv6 Home Address destination option (type 0xC9), if present."""
    p, stop = pos + 2, min(pos + hlen, end)
    while p + 2 <= stop:
        otype = data[p]
        if otype == 0:
            p += 1
            continue
        olen = data[p + 1]
        if otype == 0xC9 and olen == 16 and p + 18 <= stop:
            return data[p + 2: p + 18]
        p += 2 + olen
    return None


def _routing_final_dst(data, pos, hlen, end):
    """The address the pseudo-header must use when segments are left to visit."""
    if pos + hlen > end:
        return None
    rtype, left = data[pos + 2], data[pos + 3]
    if left == 0:
        return None
    if rtype == 0 or rtype == 2:   # type 0 / mobile IPv6: last address listed
        count = (hlen - 8) // 16
        if count == 0:
            return None
        a = pos + 8 + 16 * (count - 1)
        return data[a: a + 16]
    if rtype == 4:                 # segment routing: segment list[0] is final
        if hlen < 24:
            return None
        return data[pos + 8: pos + 24]
    return None


def _tcp(data, off, end, l4len, ver, src, dst, truncated, fragment, ip_ck, l3, final_dst):
    if off + 20 > end:
        if off + 16 > end:
            return ("tcp", ver, src, dst, None, None, None, None, None, None, None,
                    None, None, None, None, None, ip_ck, None, fragment, True, None, None)
        # Wireshark still files a header cut after 16 bytes under its stream.
        sport, dport, seq, ack, offx, flags, win = _tcp_hdr(bytes(data[off:end]) + bytes(4), 0)
        return ("tcp", ver, src, dst, sport, dport, flags | (offx & 1) << 8, seq, ack, win, None,
                None, None, None, None, None, ip_ck, None, fragment, True, None, None)
    sport, dport, seq, ack, offx, flags, win = _tcp_hdr(data, off)
    hlen = (offx >> 4) * 4
    flags |= (offx & 1) << 8
    if hlen < 20 or hlen > l4len:
        if hlen > l4len and off + hlen > end and truncated:
            malformed = None
        else:
            malformed = "tcp"
        return ("tcp", ver, src, dst, sport, dport, flags, seq, ack, win, 0,
                hlen, None, None, None, None, ip_ck, None, fragment, truncated, malformed, None)
    mss = wscale = sack_perm = sack_bytes = None
    if hlen > 20:
        mss, wscale, sack_perm, sack_bytes = _options(data, off + 20, min(off + hlen, end))
    plen = l4len - hlen
    if off + hlen > end:
        truncated = True     # options cut by the snapshot length; lengths still known
    l4_ck = None
    if fragment is None:
        l4_ck = checksum.transport(data, l3, ver, off, l4len, end, _P_TCP, final_dst, truncated)
    return ("tcp", ver, src, dst, sport, dport, flags, seq, ack, win, plen,
            hlen, mss, wscale, sack_perm, sack_bytes, ip_ck, l4_ck, fragment, truncated, None, None)


_VXLAN_PORT = 4789
_GTPU_PORT = 2152


def _udp_tunnel(data, sport, dport, off, end):
    """The inner TCP/UDP row of a VXLAN or GTP-U packet (tshark decodes both)."""
    if dport == _VXLAN_PORT:
        if off + 8 + 14 > end or not data[off] & 0x08:
            return None
        inner = _ethertype(data, off + 8 + 12, end, _MAX_TUNNEL_DEPTH)
    elif sport == _GTPU_PORT or dport == _GTPU_PORT:
        if off + 8 > end:
            return None
        flags, mtype = data[off], data[off + 1]
        if flags >> 5 != 1 or not flags & 0x10 or mtype != 0xFF:
            return None
        pos = off + 8
        if flags & 0x07:
            if pos + 4 > end:
                return None
            nxt = data[pos + 3]
            pos += 4
            for _ in range(8):
                if nxt == 0:
                    break
                if pos >= end or data[pos] == 0:
                    return None
                ln = data[pos] * 4
                if pos + ln > end:
                    return None
                nxt = data[pos + ln - 1]
                pos += ln
        inner = _guess_ip(data, pos, end, _MAX_TUNNEL_DEPTH)
    else:
        return None
    if inner[0] in ("tcp", "udp") and inner[4] is not None:
        return inner
    return None


def _options(data, pos, end):
    """MSS, window-scale shift, SACK-permitted and SACK coverage from TCP options."""
    mss = wscale = sack_bytes = None
    sack = None
    while pos < end:
        kind = data[pos]
        if kind == 0:
            break
        if kind == 1:
            pos += 1
            continue
        if pos + 1 >= end:
            break
        length = data[pos + 1]
        if length < 2 or pos + length > end:
            break
        if kind == 2 and length == 4:
            mss = _u16(data, pos + 2)[0]
        elif kind == 3 and length == 3:
            wscale = data[pos + 2]
        elif kind == 4:
            sack = True
        elif kind == 5 and length >= 10:
            # Wireshark uses the first three blocks for bytes in flight.
            total = 0
            for b in range(min((length - 2) // 8, 3)):
                left, right = struct.unpack_from("!II", data, pos + 2 + 8 * b)
                total += (right - left) & 0xFFFFFFFF
            sack_bytes = total
        pos += length
    return mss, wscale, sack, sack_bytes


def _udp(data, off, end, l4len, ver, src, dst, truncated, fragment, ip_ck, l3, final_dst):
    if off + 8 > end:
        return ("udp", ver, src, dst, None, None, None, None, None, None, None,
                None, None, None, None, None, ip_ck, None, fragment, True, None, None)
    sport, dport, ulen = struct.unpack_from("!HHH", data, off)
    malformed = None
    if fragment is None and (ulen < 8 or ulen > l4len):
        # UDP length 0 is legal for IPv6 jumbograms only; otherwise trust IP.
        if not (ver == 6 and ulen == 0):
            malformed = "udp"
    plen = (l4len if malformed or ulen == 0 or fragment else ulen) - 8
    l4_ck = None
    if fragment is None and malformed is None:
        # The UDP checksum covers the UDP length, which may be less than IP's.
        l4_ck = checksum.transport(data, l3, ver, off, ulen or l4len, end, _P_UDP, final_dst, truncated)
        inner = _udp_tunnel(data, sport, dport, off + 8, end)
        if inner is not None:
            return inner[:-1] + (("udp", src, sport, dst, dport),)
    return ("udp", ver, src, dst, sport, dport, None, None, None, None, max(plen, 0),
            None, None, None, None, None, ip_ck, l4_ck, fragment, truncated, malformed, None)


# Whole-file tables are built in parts of this many frames and concatenated:
# no slower than in one piece, and the intermediate rows and arrays stay small.
BUILD_CHUNK_FRAMES = 250_000

# Every column's dtype is fixed whatever its values, so the tables of parts
# of a capture concatenate to the table of the whole.  (pandas would infer it
# from the values: str when a column holds text, object when it is empty or
# all None, bool when every value is True.)  Text-or-None columns are object
# while the analysis works on them (its steps read them as numpy arrays, and
# pandas' str dtype would be converted at every read); the analysis result
# gives them their schema dtype once, at the end.  The integer ones are Int64,
# sack_perm and other_flow object.
TEXT_FIELDS = ("proto", "src", "dst", "ip_checksum", "l4_checksum", "fragment", "malformed")
INT_FIELDS = ("ip_version", "sport", "dport", "tcp_flags", "seq", "ack", "window", "payload_len",
              "tcp_hdr_len", "mss", "wscale", "sack_bytes")


def text_array(values):
    """*values* (object ndarray of str or None) as a column that stays object."""
    import pandas as pd

    return pd.Series(values, dtype=object)


def object_array(values):
    """*values* as a column that stays object whatever it holds."""
    import pandas as pd

    return pd.array(values, dtype=object)


def comment_array(n, comments):
    """The comment column of *n* frames: *comments* maps row -> text, the rest missing."""
    import numpy as np
    import pandas as pd

    column = pd.array([None], dtype="string").take(np.zeros(n, dtype=np.intp))
    if comments:
        column[list(comments)] = list(comments.values())
    return column


@contextmanager
def reassembling(defrag: Defragmenter):
    """``with reassembling(d):`` decode_frame reassembles IP fragments in *d*.

    One Defragmenter per capture, kept from one part of the capture to the
    next, so a datagram whose fragments straddle two parts is reassembled.
    The previous one (normally None) is back afterwards.
    """
    global _defrag
    saved, _defrag = _defrag, defrag
    try:
        yield
    finally:
        _defrag = saved


def _decode_some(frames, limit, done, progress):
    """Decode up to *limit* frames (all when None) of the iterator *frames*.

    Returns (rows, ts, meta, comments); *done* frames were decoded before,
    for *progress* (called every 20000 frames with the running count).
    """
    from itertools import islice

    rows = []
    append = rows.append
    ts = []
    meta = []
    comments = {}
    n = 0
    for fr in islice(frames, limit):
        n += 1
        try:
            append(decode_frame(fr.linktype, fr.data, fr.wire_len))
        except (struct.error, IndexError, ValueError):
            # A layer we follow failed in a way the checks above did not foresee:
            # keep the frame as undecodable rather than lose it.
            append(_row("other", malformed="link"))
        ts.append(fr.ts_ns)
        meta.append((fr.iface, fr.linktype, len(fr.data), fr.wire_len))
        if fr.comment is not None:
            comments[n - 1] = fr.comment
        if progress is not None and (done + n) % 20000 == 0:
            progress(done + n)
    return rows, ts, meta, comments


def _table(rows, ts, meta, comments, first):
    """The packet table of decoded *rows*, numbered from frame *first*."""
    import numpy as np
    import pandas as pd

    n = len(rows)
    m = np.array(meta, dtype=np.int64).reshape(-1, 4)
    cols = {
        "frame": np.arange(first, first + n, dtype=np.int64),
        "ts_ns": np.array(ts, dtype=np.int64),
        "iface": m[:, 0],
        "linktype_id": m[:, 1],
        "cap_len": m[:, 2],
        "wire_len": m[:, 3],
    }
    values = zip(*rows) if n else [()] * len(FIELDS)
    for name, column in zip(FIELDS, values):
        if name in INT_FIELDS:
            # None means "not applicable"; via float (None -> NaN) is exact, all values are below 2**53
            cols[name] = pd.array(np.array(column, dtype=np.float64), dtype="Int64")
        elif name == "truncated":
            cols[name] = np.array(column, dtype=bool)
        else:
            column = np.fromiter(column, dtype=object, count=n)   # keeps tuples whole
            cols[name] = text_array(column) if name in TEXT_FIELDS else object_array(column)
    cols["comment"] = comment_array(n, comments)
    return pd.DataFrame(cols)


def _tables(frames, limit, progress, keep_empty):
    """Tables of consecutive frames, up to *limit* each, one Defragmenter throughout.

    No empty table, except one when *keep_empty* and there are no frames at all.
    """
    frames = iter(frames)
    defrag = Defragmenter()
    first = 1
    while True:
        with reassembling(defrag):
            rows, ts, meta, comments = _decode_some(frames, limit, first - 1, progress)
        if rows or (keep_empty and first == 1):
            yield _table(rows, ts, meta, comments, first)
        first += len(rows)
        if limit is None or len(rows) < limit:
            return


def iter_tables(frames, chunk_frames=None, progress=None):
    """Decode *frames* (``reader.RawFrame``) into packet tables of at most *chunk_frames* rows.

    Frames are numbered across the tables, and IP fragments are reassembled
    across them, so the tables concatenated are the table of all frames
    (:func:`build_table`).  A source without frames gives no table.
    *progress*, if given, is called with the number of frames decoded so far
    every few thousand frames.
    """
    if chunk_frames is not None and chunk_frames < 1:
        raise ValueError("chunk_frames must be at least 1")
    return _tables(frames, chunk_frames, progress, keep_empty=False)


def build_table(frames, progress=None):
    """Decode every frame of *frames* (``reader.RawFrame``) into a DataFrame.

    *progress*, if given, is called with the number of frames decoded so far
    every few thousand frames.
    """
    return concat_tables(_tables(frames, BUILD_CHUNK_FRAMES, progress, keep_empty=True))


def concat_tables(tables):
    """One packet table from the tables of consecutive parts of a capture (at least one)."""
    import pandas as pd

    tables = list(tables)
    return tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
