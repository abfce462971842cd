# Included by _decode.pyx: the decoder's records and the helpers that read header fields, verify
# checksums and write a decoded row into the columns (no state of their own).

cdef uint64_t M32 = 0xFFFFFFFF


cdef struct Row:                 # one frame's decoded fields, -1 where missing
    int64_t proto, ver, src, dst, sport, dport, flags, seq, ack, window, plen, hdrlen
    int64_t mss, wscale, sack_perm, sack_bytes, ip_ck, l4_ck, fragment, truncated, malformed
    int64_t okind, osrc, osport, odst, odport
    int64_t icmp_type, icmp_code
    int64_t sack[4]              # SACK blocks, each left edge << 32 | right edge


cdef struct Bytes:               # the bytes a frame (or a datagram inside it) is decoded from
    const uint8_t* b
    int64_t base                 # where b starts in the frame (a link layer wrapped in another)
    int64_t n                    # how many were captured
    int64_t uncaptured           # how many more the frame had on the wire
    bint collect                 # a fragment here is collected for reassembly (a frame's own datagram)


cdef struct Piece:               # a fragment to collect, noted while decoding the frame
    int64_t ver, l3, hdr_len, start, end, offset, more, ident, proto


cdef inline int64_t _u16(const uint8_t* b, int64_t i) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, b + i, 2)
    return __builtin_bswap16(v)


cdef inline int64_t _u32(const uint8_t* b, int64_t i) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, b + i, 4)
    return __builtin_bswap32(v)


cdef inline uint64_t _u64(const uint8_t* b, int64_t i) noexcept nogil:
    return (<uint64_t>_u32(b, i) << 32) | <uint64_t>_u32(b, i + 4)


cdef inline int64_t _fold(int64_t s) noexcept nogil:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


cdef inline int64_t _sum16(const uint8_t* b, int64_t a, int64_t e) noexcept nogil:
    """Ones-complement sum of b[a:e] as big-endian 16-bit words (an odd last byte padded), folded.

    The bytes are added as native 32-bit words, which the compiler vectorises; a
    ones-complement sum does not depend on byte order except for a swap of its
    two bytes at the end (RFC 1071).
    """
    cdef uint64_t s = 0
    cdef const uint8_t* p = b + a
    cdef int64_t n = e - a if e > a else 0
    cdef int64_t words = n >> 2, k
    cdef uint32_t w
    for k in range(words):
        memcpy(&w, p + 4 * k, 4)
        s += w
    k = words * 4
    if k + 2 <= n:
        s += <uint64_t>p[k] | (<uint64_t>p[k + 1] << 8)
        k += 2
    if k < n:
        s += p[k]
    s = (s & M32) + (s >> 32)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return <int64_t>(((s & 0xFF) << 8) | (s >> 8))


cdef inline void _row(Row* r, int64_t proto, int64_t ver, int64_t src, int64_t dst, int64_t truncated,
                      int64_t malformed, int64_t fragment, int64_t ip_ck) noexcept nogil:
    """A row that names the protocol and what else is known; every TCP/UDP field missing."""
    r.proto = proto
    r.ver = ver
    r.src = src
    r.dst = dst
    r.sport = r.dport = r.flags = r.seq = r.ack = r.window = r.plen = r.hdrlen = -1
    r.mss = r.wscale = r.sack_perm = r.sack_bytes = -1
    r.sack[0] = r.sack[1] = r.sack[2] = r.sack[3] = -1
    r.ip_ck = ip_ck
    r.l4_ck = V_NONE
    r.fragment = fragment
    r.truncated = truncated
    r.malformed = malformed
    r.okind = 0
    r.osrc = r.osport = r.odst = r.odport = -1
    r.icmp_type = r.icmp_code = -1


cdef inline void _other(Row* r, bint truncated) noexcept nogil:
    _row(r, P_OTHER, -1, -1, -1, truncated, M_NONE, FR_NONE, V_NONE)


cdef inline bint _ip6_extension(int64_t nxt) noexcept nogil:
    return nxt == 0 or nxt == 43 or nxt == 44 or nxt == 60 or nxt == 51 or nxt == 135 or nxt == 139 or nxt == 140


cdef inline bint _vlan(int64_t etype) noexcept nogil:
    return etype == ET_VLAN or etype == ET_QINQ or etype == ET_QINQ_1 or etype == ET_QINQ_2


cdef inline void _tcp_fields(const uint8_t* b, int64_t off, Row* r) noexcept nogil:
    r.sport = _u16(b, off)
    r.dport = _u16(b, off + 2)
    r.seq = _u32(b, off + 4)
    r.ack = _u32(b, off + 8)
    r.flags = b[off + 13] | ((b[off + 12] & 1) << 8)
    r.window = _u16(b, off + 14)


cdef void _tcp_options(const uint8_t* b, int64_t pos, int64_t end, Row* r) noexcept nogil:
    """MSS, window-scale shift, SACK-permitted and the bytes the first three SACK blocks cover."""
    cdef int64_t kind, length, total, blocks, k
    while pos < end:
        kind = b[pos]
        if kind == 0:
            break
        if kind == 1:
            pos += 1
            continue
        if pos + 1 >= end:
            break
        length = b[pos + 1]
        if length < 2 or pos + length > end:
            break
        if kind == 2 and length == 4:
            r.mss = _u16(b, pos + 2)
        elif kind == 3 and length == 3:
            r.wscale = b[pos + 2]
        elif kind == 4:
            r.sack_perm = 1
        elif kind == 5 and length >= 10:
            total = 0
            blocks = (length - 2) // 8
            for k in range(blocks if blocks < 3 else 3):   # Wireshark counts three for bytes in flight
                total += (_u32(b, pos + 6 + 8 * k) - _u32(b, pos + 2 + 8 * k)) & M32
            r.sack_bytes = total
            for k in range(blocks if blocks < 4 else 4):
                r.sack[k] = (<int64_t>_u32(b, pos + 2 + 8 * k) << 32) | _u32(b, pos + 6 + 8 * k)
        pos += length


cdef int64_t _transport_check(Bytes* fr, int64_t l3, int64_t ver, int64_t off, int64_t l4len, int64_t end,
                              int64_t proto, const uint8_t* final_dst, const uint8_t* home_src,
                              bint truncated) noexcept nogil:
    """Verdict on the TCP/UDP/ICMP checksum of the segment at *off* (length *l4len*)."""
    cdef const uint8_t* b = fr.b
    cdef int64_t field_pos, field, pseudo, total, folded
    if proto == IPP_TCP:
        field_pos = off + 16
    elif proto == IPP_UDP:
        field_pos = off + 6
    else:
        field_pos = off + 2
    if field_pos + 2 > end:
        return V_UNVERIFIED
    field = _u16(b, field_pos)
    if proto == IPP_UDP and field == 0:
        return V_NONE if ver == 4 else V_BAD     # no checksum: allowed over IPv4, not over IPv6 (RFC 8200)
    if truncated or off + l4len > fr.n or l4len < 0:
        return V_UNVERIFIED
    if proto == IPP_ICMP:
        pseudo = 0
    elif ver == 4:
        pseudo = _sum16(b, l3 + 12, l3 + 20) + (l4len >> 16) + (l4len & 0xFFFF) + proto
    else:
        pseudo = (_sum16(home_src, 0, 16) if home_src != NULL else _sum16(b, l3 + 8, l3 + 24))
        pseudo += _sum16(final_dst, 0, 16) + (l4len >> 16) + (l4len & 0xFFFF) + proto
    total = _fold(pseudo + _sum16(b, off, off + l4len))
    if total == 0xFFFF:
        return V_GOOD
    folded = _fold(pseudo)
    if (proto == IPP_TCP or proto == IPP_UDP) and (field == 0 or field == folded or field == ((~folded) & 0xFFFF)):
        return V_OFFLOADED
    return V_BAD


cdef const uint8_t* _home_address(const uint8_t* b, int64_t pos, int64_t hlen, int64_t end) noexcept nogil:
    """The Mobile IPv6 home address destination option (type 0xC9), if present."""
    cdef int64_t p = pos + 2, stop = pos + hlen if pos + hlen < end else end, otype, olen
    while p + 2 <= stop:
        otype = b[p]
        if otype == 0:
            p += 1
            continue
        olen = b[p + 1]
        if otype == 0xC9 and olen == 16 and p + 18 <= stop:
            return b + p + 2
        p += 2 + olen
    return NULL


cdef const uint8_t* _routing_final(const uint8_t* b, int64_t pos, int64_t hlen, int64_t end) noexcept nogil:
    """The address the pseudo-header uses when a routing header has segments left to visit."""
    cdef int64_t rtype, left, count
    if pos + hlen > end:
        return NULL
    rtype = b[pos + 2]
    left = b[pos + 3]
    if left == 0:
        return NULL
    if rtype == 0 or rtype == 2:     # type 0 and Mobile IPv6: the last address listed
        count = (hlen - 8) // 16
        if count == 0:
            return NULL
        return b + pos + 8 + 16 * (count - 1)
    if rtype == 4 and hlen >= 24:    # segment routing: segment list[0] is the final one
        return b + pos + 8
    return NULL


cdef inline void _put(int64_t[:, :] inp, Py_ssize_t i, Row* r) noexcept nogil:
    inp[IN_PROTO, i] = r.proto
    inp[IN_IP_VERSION, i] = r.ver
    inp[IN_SRC, i] = r.src
    inp[IN_DST, i] = r.dst
    inp[IN_SPORT, i] = r.sport
    inp[IN_DPORT, i] = r.dport
    inp[IN_TCP_FLAGS, i] = r.flags
    inp[IN_SEQ, i] = r.seq
    inp[IN_ACK, i] = r.ack
    inp[IN_WINDOW, i] = r.window
    inp[IN_PAYLOAD_LEN, i] = r.plen
    inp[IN_TCP_HDR_LEN, i] = r.hdrlen
    inp[IN_MSS, i] = r.mss
    inp[IN_WSCALE, i] = r.wscale
    inp[IN_SACK_PERM, i] = r.sack_perm
    inp[IN_SACK_BYTES, i] = r.sack_bytes
    inp[IN_SACK_BLOCK_1, i] = r.sack[0]
    inp[IN_SACK_BLOCK_2, i] = r.sack[1]
    inp[IN_SACK_BLOCK_3, i] = r.sack[2]
    inp[IN_SACK_BLOCK_4, i] = r.sack[3]
    inp[IN_IP_CHECKSUM, i] = r.ip_ck
    inp[IN_L4_CHECKSUM, i] = r.l4_ck
    inp[IN_FRAGMENT, i] = r.fragment
    inp[IN_TRUNCATED, i] = r.truncated
    inp[IN_MALFORMED, i] = r.malformed
    inp[IN_OTHER_KIND, i] = r.okind
    inp[IN_OTHER_SRC, i] = r.osrc
    inp[IN_OTHER_SPORT, i] = r.osport
    inp[IN_OTHER_DST, i] = r.odst
    inp[IN_OTHER_DPORT, i] = r.odport
    inp[IN_ICMP_TYPE, i] = r.icmp_type
    inp[IN_ICMP_CODE, i] = r.icmp_code
