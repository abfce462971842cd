# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Decoding: every frame's headers, link layer to TCP/UDP, into the integer columns of ``columns.FRAME``.

A frame is followed from its link layer (by the interface's link type)
through VLAN and MPLS tags, tunnels and IPv6 extension headers to TCP or
UDP, as far as its bytes and headers allow.  A frame that cannot be decoded
further keeps what was decoded so far: ``truncated`` says the snapshot
length cut it, ``malformed`` names the first layer whose header makes no
sense.  Nothing here fails on bad bytes.

Checksums are verified here (IPv4 header, TCP/UDP/ICMP over IPv4 and
IPv6, with the final destination of a routing header and the home address
of Mobile IPv6).  A wrong TCP/UDP checksum whose field holds 0 or the bare
pseudo-header sum is what the sending host's own capture shows with
transmit offload: it is "offloaded", not "bad".

IP fragments are collected per datagram and decoded on the frame that
completes it, as Wireshark does (:meth:`Decoder._collect`).  Addresses are
numbered in order of appearance (:meth:`Decoder.address_texts`).
"""
cimport cython
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libcpp.deque cimport deque
from libcpp.vector cimport vector

from pcap_analyzer._table cimport PcapanTable

import socket
import struct
from collections import OrderedDict

import numpy as np

include "_vocabulary.pxi"

cdef extern from *:
    uint32_t __builtin_bswap32(uint32_t) nogil
    uint16_t __builtin_bswap16(uint16_t) nogil

cdef enum:
    # link types
    LT_NULL = 0
    LT_ETHERNET = 1
    LT_ARCNET_BSD = 7
    LT_PPP = 9
    LT_FDDI = 10
    LT_RAW_12 = 12
    LT_RAW_14 = 14
    LT_PPP_HDLC = 50
    LT_RAW = 101
    LT_IEEE802_11 = 105
    LT_LOOP = 108
    LT_LINUX_SLL = 113
    LT_RADIOTAP = 127
    LT_ARCNET_LINUX = 129
    LT_PKTAP_APPLE = 149
    LT_IPV4 = 228
    LT_IPV6 = 229
    LT_NFLOG = 239
    LT_IPOIB = 242
    LT_PKTAP = 258
    LT_LINUX_SLL2 = 276
    # ethertypes
    ET_IPV4 = 0x0800
    ET_ARP = 0x0806
    ET_RARP = 0x8035
    ET_VLAN = 0x8100
    ET_IPV6 = 0x86DD
    ET_MPLS = 0x8847
    ET_MPLS_MULTICAST = 0x8848
    ET_PPPOE = 0x8864
    ET_QINQ = 0x88A8
    ET_MACSEC = 0x88E5
    ET_PBB = 0x88E7
    ET_FABRICPATH = 0x8903
    ET_VNTAG = 0x8926
    ET_QINQ_1 = 0x9100
    ET_QINQ_2 = 0x9200
    ET_TEB = 0x6558            # transparent Ethernet bridging (Geneve, GRE)
    # IP protocols
    IPP_ICMP = 1
    IPP_IPIP = 4
    IPP_TCP = 6
    IPP_UDP = 17
    IPP_IPV6 = 41
    IPP_GRE = 47
    IPP_ICMPV6 = 58
    # UDP ports of tunnels
    PORT_VXLAN = 4789
    PORT_GTPU = 2152
    PORT_GENEVE = 6081
    # TCP flags
    FIN = 0x01
    SYN = 0x02


include "_fields.pxi"


@cython.final
cdef class Decoder:
    """Decodes the frames of one capture, in order; keeps its addresses and fragments waiting."""
    # addresses: (version, high, low) -> id, numbered in order of appearance
    cdef PcapanTable v4, v6
    cdef deque[uint8_t] addr_ver
    cdef deque[uint64_t] addr_hi, addr_lo
    cdef list _texts
    # fragments noted in the frames of the chunk under way, collected after it
    cdef vector[Piece] pieces
    cdef vector[int64_t] piece_rows
    cdef object _waiting         # datagram key -> [{offset: bytes}, total or None], oldest first

    def __cinit__(self):
        self._texts = []
        self._waiting = OrderedDict()

    # -- addresses -----------------------------------------------------------

    cdef int64_t _address(self, int64_t ver, uint64_t hi, uint64_t lo) noexcept nogil:
        cdef int64_t a = self.v4.find(hi, lo) if ver == 4 else self.v6.find(hi, lo)
        if a >= 0:
            return a
        a = <int64_t>self.addr_ver.size()
        if ver == 4:
            self.v4.add(hi, lo, a)
        else:
            self.v6.add(hi, lo, a)
        self.addr_ver.push_back(ver)
        self.addr_hi.push_back(hi)
        self.addr_lo.push_back(lo)
        return a

    cdef inline int64_t _ip4(self, const uint8_t* b, int64_t at) noexcept nogil:
        return self._address(4, 0, <uint64_t>_u32(b, at))

    cdef inline int64_t _ip6(self, const uint8_t* b, int64_t at) noexcept nogil:
        return self._address(6, _u64(b, at), _u64(b, at + 8))

    def address_texts(self):
        """Every address as text, by id (extended as addresses come: do not change it)."""
        out = self._texts
        for a in range(len(out), <int64_t>self.addr_ver.size()):
            if self.addr_ver[a] == 4:
                out.append(socket.inet_ntop(socket.AF_INET, struct.pack("!I", self.addr_lo[a])))
            else:
                out.append(socket.inet_ntop(socket.AF_INET6, struct.pack("!QQ", self.addr_hi[a], self.addr_lo[a])))
        return out

    def address_count(self):
        return self.addr_ver.size()

    def address_arrays(self):
        """Every address by id: (version, high 64 bits, low 64 bits; an IPv4 address is the low 32)."""
        cdef size_t n = self.addr_ver.size(), j
        ver = np.empty(n, dtype=np.uint8)
        hi = np.empty(n, dtype=np.uint64)
        lo = np.empty(n, dtype=np.uint64)
        cdef uint8_t[::1] v = ver
        cdef uint64_t[::1] h = hi, l = lo
        for j in range(n):
            v[j] = self.addr_ver[j]
            h[j] = self.addr_hi[j]
            l[j] = self.addr_lo[j]
        return ver, hi, lo

    # -- a chunk of frames ------------------------------------------------------

    def decode(self, const uint8_t[::1] buf, const int64_t[:, ::1] rows, const int64_t[::1] linktypes,
               int64_t first, int64_t[:, :] inp):
        """Decode the packets of *rows* (framing's rows: offset, captured, original length, interface,
        time) lying in *buf* into columns 0.. of *inp*, numbered from frame *first*."""
        cdef Py_ssize_t k = rows.shape[0], i
        cdef const uint8_t* base = &buf[0] if buf.shape[0] > 0 else NULL
        cdef Bytes fr
        cdef Row r
        cdef int64_t iface, lt
        cdef Py_ssize_t nlt = linktypes.shape[0]
        self.pieces.clear()
        self.piece_rows.clear()
        with nogil:
            for i in range(k):
                iface = rows[i, 3]
                lt = linktypes[iface] if 0 <= iface < nlt else -1
                inp[IN_FRAME, i] = first + i
                inp[IN_TS_NS, i] = rows[i, 4]
                inp[IN_CAP_LEN, i] = rows[i, 1]
                inp[IN_WIRE_LEN, i] = rows[i, 2]
                inp[IN_IFACE, i] = iface
                inp[IN_LINKTYPE_ID, i] = lt
                inp[IN_COMMENT, i] = -1
                fr.b = base + rows[i, 0]
                fr.base = 0
                fr.n = rows[i, 1]
                fr.uncaptured = rows[i, 2] - rows[i, 1] if rows[i, 2] > rows[i, 1] else 0
                fr.collect = True
                _link(self, &fr, lt, &r, i)
                _put(inp, i, &r)
        if self.pieces.size():
            self._collect(buf, rows, inp)

    # -- fragments ---------------------------------------------------------------

    cdef void _collect(self, const uint8_t[::1] buf, const int64_t[:, ::1] rows, int64_t[:, :] inp):
        """Add the fragments noted in this chunk to their datagrams; decode each datagram completed on
        the frame that completes it."""
        cdef size_t j
        cdef Piece p
        cdef Py_ssize_t i
        cdef int64_t at
        for j in range(self.pieces.size()):
            p = self.pieces[j]
            i = self.piece_rows[j]
            at = rows[i, 0]
            frame = bytes(buf[at:at + rows[i, 1]])
            if p.ver == 4:
                key = (4, frame[p.l3 + 12:p.l3 + 20], p.ident, p.proto)
            else:
                key = (6, frame[p.l3 + 8:p.l3 + 40], p.ident, p.proto)
            whole = self._add_piece(key, p.offset, p.more, frame[p.start:p.end])
            if whole is None:
                continue
            header = bytearray(frame[p.l3:p.l3 + p.hdr_len])
            if p.ver == 4:
                struct.pack_into("!H", header, 2, p.hdr_len + len(whole))
                struct.pack_into("!H", header, 6, 0)
            else:
                struct.pack_into("!H", header, 4, len(whole))
                header[6] = p.proto
            self._reassembled(bytes(header) + whole, p.ver, i, rows, inp)

    def _add_piece(self, key, int64_t offset, bint more, bytes payload):
        """Keep one fragment; the whole payload once every piece is in, else None."""
        if offset + len(payload) > 65535:
            return None
        entry = self._waiting.get(key)
        if entry is None:
            if len(self._waiting) >= MAX_PENDING_DATAGRAMS:
                self._waiting.popitem(last=False)
            entry = self._waiting[key] = [{}, None]
        pieces = entry[0]
        pieces[offset] = payload
        if not more:
            entry[1] = offset + len(payload)
        total = entry[1]
        if total is None:
            return None
        whole = bytearray(total)
        covered = 0
        for start in sorted(pieces):
            piece = pieces[start]
            if start > covered:
                return None          # a hole remains
            whole[start:start + len(piece)] = piece[:max(0, total - start)]
            covered = max(covered, start + len(piece))
        if covered < total:
            return None
        del self._waiting[key]
        return bytes(whole)

    cdef void _reassembled(self, bytes datagram, int64_t ver, Py_ssize_t i, const int64_t[:, ::1] rows,
                           int64_t[:, :] inp):
        """Row *i* decoded from the datagram its frame completed (keeping that frame's IP checksum)."""
        cdef Bytes d
        cdef Row r
        cdef int64_t ip_ck = inp[IN_IP_CHECKSUM, i]
        d.b = <const uint8_t*>datagram
        d.base = 0
        d.n = len(datagram)
        d.uncaptured = rows[i, 2] - rows[i, 1] if rows[i, 2] > rows[i, 1] else 0
        d.collect = False
        if ver == 4:
            _ipv4(self, &d, 0, d.n, 1, &r, i)
        else:
            _ipv6(self, &d, 0, d.n, 1, &r, i)
        r.ip_ck = ip_ck
        r.fragment = FR_REASSEMBLED
        _put(inp, i, &r)


include "_links.pxi"


# -- IP, TCP and UDP: functions of the decoder under way --------------

cdef void _guess_ip(Decoder dec, Bytes* fr, int64_t off, int64_t n, int depth, Row* r, Py_ssize_t i) noexcept nogil:
    cdef int64_t v
    if off >= n:
        _other(r, True)
        return
    v = fr.b[off] >> 4
    if v == 4:
        _ipv4(dec, fr, off, n, depth, r, i)
    elif v == 6:
        _ipv6(dec, fr, off, n, depth, r, i)
    else:
        _row(r, P_OTHER, -1, -1, -1, False, M_IP, FR_NONE, V_NONE)


cdef void _ipv4(Decoder dec, Bytes* fr, int64_t off, int64_t n, int depth, Row* r, Py_ssize_t i) noexcept nogil:
    cdef const uint8_t* b = fr.b
    cdef int64_t vihl, ihl, total, frag, proto, src, dst, ip_ck, end, offset, more
    cdef bint truncated
    cdef Piece p
    if off + 20 > n:
        _row(r, P_IPV4, 4, -1, -1, True, M_NONE, FR_NONE, V_NONE)
        return
    vihl = b[off]
    if vihl >> 4 == 6:
        # Wireshark's IPv4 dissector hands a version-6 packet to IPv6
        _ipv6(dec, fr, off, n, depth, r, i)
        return
    total = _u16(b, off + 2)
    frag = _u16(b, off + 6)
    proto = b[off + 9]
    src = dec._ip4(b, off + 12)
    dst = dec._ip4(b, off + 16)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        _row(r, P_IPV4, 4, src, dst, False, M_IP, FR_NONE, V_NONE)
        return
    if off + ihl > n:
        _row(r, P_IPV4, 4, src, dst, True, M_NONE, FR_NONE, V_NONE)
        return
    if _fold(_sum16(b, off, off + ihl)) == 0xFFFF:
        ip_ck = V_GOOD
    else:
        ip_ck = V_OFFLOADED if _u16(b, off + 10) == 0 else V_BAD
    if total == 0:
        total = n - off        # segmentation offload: the NIC fills the length in later
    if total < ihl:
        _row(r, P_IPV4, 4, src, dst, False, M_IP, FR_NONE, ip_ck)
        return
    if off + total > n + fr.uncaptured:
        total = n + fr.uncaptured - off
    end = off + total
    truncated = end > n
    if truncated:
        end = n
    offset = (frag & 0x1FFF) * 8
    more = frag & 0x2000
    if offset or more:
        if depth == 0 and fr.collect and not truncated:
            p.ver = 4
            p.l3 = fr.base + off
            p.hdr_len = ihl
            p.start = fr.base + off + ihl
            p.end = fr.base + end
            p.offset = offset
            p.more = more != 0
            p.ident = _u16(b, off + 4)
            p.proto = proto
            dec.pieces.push_back(p)
            dec.piece_rows.push_back(i)
        if offset or not truncated:
            # the transport checksum covers the whole datagram: not verifiable from a piece
            _row(r, P_IPV4, 4, src, dst, truncated, M_NONE, FR_NON_FIRST if offset else FR_FIRST, ip_ck)
            r.l4_ck = V_UNVERIFIED
            return
        # a first fragment cut by the snapshot length: decoded as far as it goes, as Wireshark does
        _payload(dec, fr, 4, off, off + ihl, end, total - ihl, proto, src, dst, truncated, FR_FIRST, ip_ck,
                      NULL, NULL, depth, r, i)
        return
    _payload(dec, fr, 4, off, off + ihl, end, total - ihl, proto, src, dst, truncated, FR_NONE, ip_ck,
                  NULL, NULL, depth, r, i)


cdef void _ipv6(Decoder dec, Bytes* fr, int64_t off, int64_t n, int depth, Row* r, Py_ssize_t i) noexcept nogil:
    cdef const uint8_t* b = fr.b
    cdef int64_t plen, nxt, src, dst, end, pos, hnext, fo, hlen, l4len, fragment = FR_NONE
    cdef const uint8_t* final_dst = b + off + 24
    cdef const uint8_t* home_src = NULL
    cdef const uint8_t* found
    cdef bint truncated, walked = False
    cdef int k
    cdef Piece p
    if off + 40 > n:
        _row(r, P_IPV6, 6, -1, -1, True, M_NONE, FR_NONE, V_NONE)
        return
    if b[off] >> 4 != 6:
        _row(r, P_IPV6, 6, -1, -1, False, M_IPV6, FR_NONE, V_NONE)
        return
    plen = _u16(b, off + 4)
    nxt = b[off + 6]
    src = dec._ip6(b, off + 8)
    dst = dec._ip6(b, off + 24)
    if plen == 0:
        plen = n - off - 40        # a jumbogram or an offloaded segment: trust the captured length
    if off + 40 + plen > n + fr.uncaptured:
        plen = n + fr.uncaptured - off - 40
    end = off + 40 + plen
    truncated = end > n
    if truncated:
        end = n
    pos = off + 40
    for k in range(MAX_EXTENSION_HEADERS):
        if not _ip6_extension(nxt):
            walked = True
            break
        if pos + 8 > end:
            _row(r, P_IPV6, 6, src, dst, truncated, M_NONE if truncated else M_IPV6, fragment, V_NONE)
            return
        hnext = b[pos]
        if nxt == 44:            # fragment header
            fo = _u16(b, pos + 2)
            if fo & 0xFFF9:
                if depth == 0 and fr.collect and not truncated:
                    p.ver = 6
                    p.l3 = fr.base + off
                    p.hdr_len = 40
                    p.start = fr.base + pos + 8
                    p.end = fr.base + end
                    p.offset = fo & 0xFFF8
                    p.more = fo & 1
                    p.ident = _u32(b, pos + 4)
                    p.proto = hnext
                    dec.pieces.push_back(p)
                    dec.piece_rows.push_back(i)
                if fo & 0xFFF8 or not truncated:
                    _row(r, P_IPV6, 6, src, dst, truncated, M_NONE, FR_NON_FIRST if fo & 0xFFF8 else FR_FIRST,
                         V_NONE)
                    r.l4_ck = V_UNVERIFIED
                    return
                fragment = FR_FIRST
            hlen = 8
        elif nxt == 51:          # the authentication header counts 4-byte units
            hlen = (b[pos + 1] + 2) * 4
        else:
            hlen = (b[pos + 1] + 1) * 8
            if nxt == 43:
                found = _routing_final(b, pos, hlen, end)
                if found != NULL:
                    final_dst = found
            elif nxt == 60:
                found = _home_address(b, pos, hlen, end)
                if found != NULL:
                    home_src = found
        pos += hlen
        nxt = hnext
    if not walked:
        _row(r, P_IPV6, 6, src, dst, truncated, M_IPV6, fragment, V_NONE)
        return
    if pos > end:
        _row(r, P_IPV6, 6, src, dst, truncated, M_NONE if truncated else M_IPV6, fragment, V_NONE)
        return
    l4len = off + 40 + plen - pos
    _payload(dec, fr, 6, off, pos, end, l4len, nxt, src, dst, truncated, fragment, V_NONE, final_dst,
                  home_src, depth, r, i)


cdef void _payload(Decoder dec, Bytes* fr, int64_t ver, int64_t l3, int64_t l4, int64_t end, int64_t l4len,
                   int64_t proto, int64_t src, int64_t dst, bint truncated, int64_t fragment, int64_t ip_ck,
                   const uint8_t* final_dst, const uint8_t* home_src, int depth, Row* r,
                   Py_ssize_t i) noexcept nogil:
    """What the IP packet at *l3* carries at *l4*: TCP, UDP, ICMP, a tunnel, or nothing followed."""
    cdef int64_t icmp = IPP_ICMP if ver == 4 else IPP_ICMPV6
    if proto == IPP_TCP:
        _tcp(dec, fr, l3, l4, end, l4len, ver, src, dst, truncated, fragment, ip_ck, final_dst, home_src, r)
    elif proto == IPP_UDP:
        _udp(dec, fr, l3, l4, end, l4len, ver, src, dst, truncated, fragment, ip_ck, final_dst, home_src, r, i)
    elif proto == icmp:
        _row(r, P_ICMP if ver == 4 else P_ICMPV6, ver, src, dst, truncated, M_NONE, fragment, ip_ck)
        if fragment != FR_NON_FIRST and l4 + 2 <= end:
            r.icmp_type = fr.b[l4]
            r.icmp_code = fr.b[l4 + 1]
        if fragment == FR_NONE:
            _quoted(dec, fr, l4, end, ver, r)
            r.l4_ck = _transport_check(fr, l3, ver, l4, l4len, end, icmp, final_dst, home_src, truncated)
    elif fragment == FR_NONE and depth < MAX_TUNNEL_DEPTH and _tunnel(dec, fr, proto, l4, end, depth, r, i):
        pass
    else:
        _row(r, P_IPV4 if ver == 4 else P_IPV6, ver, src, dst, truncated, M_NONE, fragment, ip_ck)


cdef bint _tunnel(Decoder dec, Bytes* fr, int64_t proto, int64_t off, int64_t end, int depth, Row* r,
                  Py_ssize_t i) noexcept nogil:
    """IP in IP and GRE: the inner packet is the frame's row, as tshark reports the inner TCP/UDP."""
    cdef const uint8_t* b = fr.b
    cdef int64_t flags, etype, hlen
    if proto == IPP_IPIP:
        _ipv4(dec, fr, off, end, depth + 1, r, i)
        return True
    if proto == IPP_IPV6:
        _ipv6(dec, fr, off, end, depth + 1, r, i)
        return True
    if proto == IPP_GRE and off + 4 <= end:
        flags = b[off]
        if b[off + 1] & 0x07:        # only GRE version 0 carries plain ethertypes
            return False
        etype = _u16(b, off + 2)
        hlen = 4 + 4 * ((1 if (flags >> 7) & 1 or (flags >> 6) & 1 else 0) + ((flags >> 5) & 1)
                        + ((flags >> 4) & 1))
        if etype == ET_IPV4 or etype == ET_IPV6:
            _ethertype_at(dec, fr, etype, off + hlen, end, depth + 1, r, i)
            return True
    return False


cdef void _quoted(Decoder dec, Bytes* fr, int64_t off, int64_t end, int64_t ver, Row* r) noexcept nogil:
    """The four-tuple of the TCP/UDP packet an ICMP error quotes, as the row's other flow.

    Wireshark decodes the quoted headers and files the frame under the
    quoted flow's stream too (numbering it when it was not seen), so the
    stream numbers that follow depend on it.
    """
    cdef int64_t t
    cdef Bytes inner
    cdef Row q
    if off + 8 > end:
        return
    t = fr.b[off]
    if ver == 4 and not (t == 3 or t == 4 or t == 5 or t == 11 or t == 12):
        return
    if ver == 6 and not (1 <= t <= 4):
        return
    inner.b = fr.b + off + 8
    inner.base = fr.base + off + 8
    inner.n = end - off - 8
    inner.uncaptured = fr.uncaptured
    inner.collect = False
    if inner.n <= 0 or inner.b[0] >> 4 != ver:
        return
    if ver == 4:
        _ipv4(dec, &inner, 0, inner.n, MAX_TUNNEL_DEPTH, &q, -1)
    else:
        _ipv6(dec, &inner, 0, inner.n, MAX_TUNNEL_DEPTH, &q, -1)
    if (q.proto == P_TCP or q.proto == P_UDP) and q.sport >= 0:
        r.okind = 1 if q.proto == P_TCP else 2
        r.osrc = q.src
        r.osport = q.sport
        r.odst = q.dst
        r.odport = q.dport


cdef void _tcp(Decoder dec, Bytes* fr, int64_t l3, int64_t off, int64_t end, int64_t l4len, int64_t ver, int64_t src,
               int64_t dst, bint truncated, int64_t fragment, int64_t ip_ck, const uint8_t* final_dst,
               const uint8_t* home_src, Row* r) noexcept nogil:
    cdef const uint8_t* b = fr.b
    cdef uint8_t head[20]
    cdef int64_t hlen, flags
    _row(r, P_TCP, ver, src, dst, truncated, M_NONE, fragment, ip_ck)
    if off + 20 > end:
        r.truncated = True
        if off + 16 > end:
            return
        # Wireshark still files a header cut after 16 bytes under its stream
        memcpy(head, b + off, 16)
        head[16] = head[17] = head[18] = head[19] = 0
        _tcp_fields(head, 0, r)
        return
    _tcp_fields(b, off, r)
    hlen = (b[off + 12] >> 4) * 4
    if hlen < 20 or hlen > l4len:
        if not (hlen > l4len and off + hlen > end and truncated):
            r.malformed = M_TCP
        r.plen = 0
        r.hdrlen = hlen
        return
    if hlen > 20:
        _tcp_options(b, off + 20, min(off + hlen, end), r)
    r.plen = l4len - hlen
    r.hdrlen = hlen
    if off + hlen > end:
        r.truncated = True       # options cut by the snapshot length; the lengths are still known
    if fragment == FR_NONE:
        r.l4_ck = _transport_check(fr, l3, ver, off, l4len, end, IPP_TCP, final_dst, home_src, r.truncated)


cdef void _udp(Decoder dec, Bytes* fr, int64_t l3, int64_t off, int64_t end, int64_t l4len, int64_t ver, int64_t src,
               int64_t dst, bint truncated, int64_t fragment, int64_t ip_ck, const uint8_t* final_dst,
               const uint8_t* home_src, Row* r, Py_ssize_t i) noexcept nogil:
    cdef const uint8_t* b = fr.b
    cdef int64_t sport, dport, ulen, plen, l4_ck
    cdef bint malformed = False
    cdef Row inner
    _row(r, P_UDP, ver, src, dst, truncated, M_NONE, fragment, ip_ck)
    if off + 8 > end:
        r.truncated = True
        return
    sport = _u16(b, off)
    dport = _u16(b, off + 2)
    ulen = _u16(b, off + 4)
    if fragment == FR_NONE and (ulen < 8 or ulen > l4len):
        # UDP length 0 is allowed for IPv6 jumbograms only; otherwise IP's length is trusted
        malformed = not (ver == 6 and ulen == 0)
    plen = (l4len if malformed or ulen == 0 or fragment != FR_NONE else ulen) - 8
    if fragment == FR_NONE and not malformed:
        # the UDP checksum covers the UDP length, which may be less than IP's
        l4_ck = _transport_check(fr, l3, ver, off, ulen if ulen else l4len, end, IPP_UDP, final_dst, home_src,
                                 truncated)
        if _udp_tunnel(dec, fr, sport, dport, off + 8, end, &inner):
            r[0] = inner
            r.okind = 2
            r.osrc = src
            r.osport = sport
            r.odst = dst
            r.odport = dport
            return
        r.l4_ck = l4_ck
    r.sport = sport
    r.dport = dport
    r.plen = plen if plen > 0 else 0
    if malformed:
        r.malformed = M_UDP


cdef bint _udp_tunnel(Decoder dec, Bytes* fr, int64_t sport, int64_t dport, int64_t off, int64_t end,
                      Row* inner) noexcept nogil:
    """The inner TCP/UDP row of a VXLAN or GTP-U packet (tshark decodes both)."""
    cdef const uint8_t* b = fr.b
    cdef int64_t flags, pos, nxt, ln
    cdef int k
    if dport == PORT_VXLAN:
        if off + 8 + 14 > end or not b[off] & 0x08:
            return False
        _ethertype(dec, fr, off + 8 + 12, end, MAX_TUNNEL_DEPTH, inner, -1)
    elif (dport == PORT_GENEVE and sport >= PORT_GENEVE) or (sport == PORT_GENEVE and dport >= PORT_GENEVE):
        # the lower port's protocol is tried first: Geneve only from or to a higher port
        if off + 8 > end:
            return False
        pos = off + 8 + (b[off] & 0x3F) * 4
        if pos > end:
            return False
        if _u16(b, off + 2) == ET_TEB:
            if pos + 14 > end:
                return False
            _ethertype(dec, fr, pos + 12, end, MAX_TUNNEL_DEPTH, inner, -1)
        else:
            _ethertype_at(dec, fr, _u16(b, off + 2), pos, end, MAX_TUNNEL_DEPTH, inner, -1)
    elif sport == PORT_GTPU or dport == PORT_GTPU:
        if off + 8 > end:
            return False
        flags = b[off]
        if flags >> 5 != 1 or not flags & 0x10 or b[off + 1] != 0xFF:
            return False
        pos = off + 8
        if flags & 0x07:
            if pos + 4 > end:
                return False
            nxt = b[pos + 3]
            pos += 4
            for k in range(8):
                if nxt == 0:
                    break
                if pos >= end or b[pos] == 0:
                    return False
                ln = b[pos] * 4
                if pos + ln > end:
                    return False
                nxt = b[pos + ln - 1]
                pos += ln
        _guess_ip(dec, fr, pos, end, MAX_TUNNEL_DEPTH, inner, -1)
    else:
        return False
    return (inner.proto == P_TCP or inner.proto == P_UDP) and inner.sport >= 0


def decode_bytes(int64_t linktype, bytes data, wire_len=None):
    """The decoded fields (``columns.FRAME`` names) of one frame's bytes under *linktype*, a new
    :class:`Decoder` doing it (addresses numbered from 0)."""
    from pcap_analyzer import columns

    d = Decoder()
    n = len(data)
    rows = np.array([[0, n, n if wire_len is None else max(n, int(wire_len)), 0, 0, 0, 0]], dtype=np.int64)
    inp = np.empty((len(columns.FRAME), 1), dtype=np.int64)
    buf = np.frombuffer(data, dtype=np.uint8) if n else np.zeros(1, dtype=np.uint8)
    d.decode(buf, rows, np.array([linktype], dtype=np.int64), 1, inp)
    return dict(zip(columns.FRAME, inp[:, 0].tolist())), d.address_texts()
