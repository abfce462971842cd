# Included by _decode.pyx: the link layers, and the tags and labels between them and IP (802.1Q,
# MPLS, PPPoE, MACsec, PBB, VN-Tag ...), as functions of the decoder under way.

cdef void _link(Decoder dec, Bytes* fr, int64_t lt, Row* r, Py_ssize_t i) noexcept nogil:
    cdef const uint8_t* b = fr.b
    cdef int64_t n = fr.n, fam
    cdef uint32_t le
    if lt == LT_ETHERNET:
        if n < 14:
            _other(r, True)
        else:
            _ethertype(dec, fr, 12, n, 0, r, i)
    elif lt == LT_RAW or lt == LT_RAW_12 or lt == LT_RAW_14:
        _guess_ip(dec, fr, 0, n, 0, r, i)
    elif lt == LT_IPV4:
        _ipv4(dec, fr, 0, n, 0, r, i)
    elif lt == LT_IPV6:
        _ipv6(dec, fr, 0, n, 0, r, i)
    elif lt == LT_LINUX_SLL:
        if n < 16:
            _other(r, True)
        else:
            _ethertype(dec, fr, 14, n, 0, r, i)
    elif lt == LT_LINUX_SLL2:
        if n < 20:
            _other(r, True)
        else:
            _ethertype_at(dec, fr, _u16(b, 0), 20, n, 0, r, i)
    elif lt == LT_NULL or lt == LT_LOOP:
        if n < 4:
            _other(r, True)
            return
        if lt == LT_LOOP:
            fam = _u32(b, 0)
        else:
            # the capturing machine's byte order: whichever reading is small
            memcpy(&le, b, 4)
            fam = le if le <= 0xFFFF else _u32(b, 0)
        if fam == 2:
            _ipv4(dec, fr, 4, n, 0, r, i)
        elif fam == 24 or fam == 28 or fam == 30 or fam == 10:    # AF_INET6 differs per system
            _ipv6(dec, fr, 4, n, 0, r, i)
        else:
            _other(r, False)
    elif lt == LT_PPP or lt == LT_PPP_HDLC:
        _ppp(dec, fr, 0, n, r, i)
    elif lt == LT_RADIOTAP:
        if n < 4:
            _other(r, True)
        else:
            _wlan(dec, fr, b[2] | (b[3] << 8), n, r, i)
    elif lt == LT_IEEE802_11:
        _wlan(dec, fr, 0, n, r, i)
    elif lt == LT_FDDI:
        _llc(dec, fr, 13, n, 0, r, i)
    elif lt == LT_NFLOG:
        _nflog(dec, fr, n, r, i)
    elif lt == LT_ARCNET_BSD or lt == LT_ARCNET_LINUX:
        _arcnet(dec, fr, lt == LT_ARCNET_LINUX, n, r, i)
    elif lt == LT_IPOIB:
        # a 40-byte address block, then the type (only IP and ARP are followed) and 2 reserved bytes
        if n < 44:
            _other(r, True)
        elif _u16(b, 40) in (ET_IPV4, ET_IPV6, ET_ARP, ET_RARP):
            _ethertype_at(dec, fr, _u16(b, 40), 44, n, 0, r, i)
        else:
            _other(r, False)
    elif (lt == LT_PKTAP or lt == LT_PKTAP_APPLE) and fr.base == 0:
        _pktap(dec, fr, r, i)
    else:
        _other(r, False)


cdef void _arcnet(Decoder dec, Bytes* fr, bint linux, int64_t n, Row* r, Py_ssize_t i) noexcept nogil:
    """ARCNET: source and destination node ids (Linux: and a 2-byte offset), a protocol id, then
    for most ids a split flag and a sequence number (BSD: an exception frame has six bytes more)."""
    cdef const uint8_t* b = fr.b
    cdef int64_t at = 4 if linux else 2, pid, payload
    if n < at + 1:
        _other(r, True)
        return
    pid = b[at]
    if pid == 0xF0 or pid == 0xF1 or pid == 0x80 or pid == 0xCD:
        payload = at + 1
    elif not linux and n > at + 1 and b[at + 1] == 0xFF:
        payload = at + 8
    else:
        payload = at + 4
    if payload > n:
        _other(r, True)
    elif pid == 0xD4 or pid == 0xF0:
        _ipv4(dec, fr, payload, n, 0, r, i)
    elif pid == 0xC4:
        _ipv6(dec, fr, payload, n, 0, r, i)
    elif pid == 0xD5 or pid == 0xD6 or pid == 0xF1:
        _row(r, P_ARP, -1, -1, -1, False, M_NONE, FR_NONE, V_NONE)
    else:
        _other(r, False)


cdef void _pktap(Decoder dec, Bytes* fr, Row* r, Py_ssize_t i) noexcept nogil:
    """Apple's PKTAP: a little-endian header (its length first, then the record type and the
    packet's link type); a packet record is decoded as a frame of that link type."""
    cdef const uint8_t* b = fr.b
    cdef int64_t hdrlen, rectype, dlt
    cdef Bytes inner
    if fr.n < 12:
        _other(r, True)
        return
    hdrlen = b[0] | (b[1] << 8) | (b[2] << 16) | (<int64_t>b[3] << 24)
    rectype = b[4] | (b[5] << 8) | (b[6] << 16) | (<int64_t>b[7] << 24)
    dlt = b[8] | (b[9] << 8) | (b[10] << 16) | (<int64_t>b[11] << 24)
    if hdrlen < 108:
        _row(r, P_OTHER, -1, -1, -1, False, M_LINK, FR_NONE, V_NONE)
    elif rectype != 1:
        _other(r, False)
    elif hdrlen > fr.n:
        _other(r, True)
    else:
        inner.b = b + hdrlen
        inner.base = fr.base + hdrlen
        inner.n = fr.n - hdrlen
        inner.uncaptured = fr.uncaptured
        inner.collect = fr.collect
        _link(dec, &inner, dlt, r, i)


cdef void _wlan(Decoder dec, Bytes* fr, int64_t off, int64_t n, Row* r, Py_ssize_t i) noexcept nogil:
    """802.11 data frames: the MAC header (QoS, four addresses, HT control) skipped to LLC/SNAP."""
    cdef const uint8_t* b = fr.b
    cdef int64_t fc0, fc1, hlen = 24
    if off + 24 > n:
        _other(r, off < n)
        return
    fc0 = b[off]
    fc1 = b[off + 1]
    if (fc0 >> 2) & 3 != 2 or fc1 & 0x40:       # not data, or protected (encrypted)
        _other(r, False)
        return
    if fc1 & 0x03 == 0x03:
        hlen += 6
    if fc0 & 0x80:                               # QoS data subtypes
        hlen += 2
        if fc1 & 0x80:                           # +HTC
            hlen += 4
    if fc0 & 0x40:                               # null-data subtypes carry nothing
        _other(r, False)
        return
    _llc(dec, fr, off + hlen, n, 0, r, i)


cdef void _llc(Decoder dec, Bytes* fr, int64_t off, int64_t n, int depth, Row* r, Py_ssize_t i) noexcept nogil:
    """802.2 LLC: only SNAP (AA AA 03) carries an ethertype to follow."""
    cdef const uint8_t* b = fr.b
    if off + 8 > n:
        _other(r, True)
    elif b[off] == 0xAA and b[off + 1] == 0xAA and b[off + 2] == 0x03:
        _ethertype_at(dec, fr, _u16(b, off + 6), off + 8, n, depth, r, i)
    else:
        _other(r, False)


cdef void _nflog(Decoder dec, Bytes* fr, int64_t n, Row* r, Py_ssize_t i) noexcept nogil:
    """Linux NFLOG: TLVs after a 4-byte header; the payload TLV holds the IP packet."""
    cdef const uint8_t* b = fr.b
    cdef int64_t pos = 4, tlen, ttype, stop
    cdef int k
    for k in range(64):
        if pos + 4 > n:
            break
        tlen = b[pos] | (b[pos + 1] << 8)
        ttype = b[pos + 2] | (b[pos + 3] << 8)
        if tlen < 4:
            break
        if ttype == 9:
            stop = pos + tlen if pos + tlen < n else n
            if b[0] == 2:
                _ipv4(dec, fr, pos + 4, stop, 0, r, i)
            elif b[0] == 10:
                _ipv6(dec, fr, pos + 4, stop, 0, r, i)
            else:
                _guess_ip(dec, fr, pos + 4, stop, 0, r, i)
            return
        pos += (tlen + 3) & ~3
    _other(r, False)


cdef void _ppp(Decoder dec, Bytes* fr, int64_t off, int64_t n, Row* r, Py_ssize_t i) noexcept nogil:
    cdef const uint8_t* b = fr.b
    cdef int64_t proto
    if off + 2 <= n and b[off] == 0xFF and b[off + 1] == 0x03:
        off += 2
    if off + 2 > n:
        _other(r, True)
        return
    proto = _u16(b, off)
    if proto == 0x0021:
        _ipv4(dec, fr, off + 2, n, 0, r, i)
    elif proto == 0x0057:
        _ipv6(dec, fr, off + 2, n, 0, r, i)
    else:
        _other(r, False)


cdef void _ethertype(Decoder dec, Bytes* fr, int64_t off, int64_t n, int depth, Row* r, Py_ssize_t i) noexcept nogil:
    cdef int64_t etype = _u16(fr.b, off)
    if etype <= 1500:         # an 802.3 length field: LLC follows
        _llc(dec, fr, off + 2, n, depth, r, i)
    else:
        _ethertype_at(dec, fr, etype, off + 2, n, depth, r, i)


cdef void _ethertype_at(Decoder dec, Bytes* fr, int64_t etype, int64_t off, int64_t n, int depth, Row* r,
                        Py_ssize_t i) noexcept nogil:
    """Follow VLAN tags, MPLS labels, PPPoE and FabricPath to the network layer at *off*."""
    cdef const uint8_t* b = fr.b
    cdef int tags = 0, k
    while _vlan(etype):
        tags += 1
        if tags > MAX_LINK_TAGS:
            _row(r, P_OTHER, -1, -1, -1, False, M_LINK, FR_NONE, V_NONE)
            return
        if off + 4 > n:
            _other(r, True)
            return
        etype = _u16(b, off + 2)
        off += 4
        if etype <= 1500:       # an 802.3 length: LLC follows
            _llc(dec, fr, off, n, depth, r, i)
            return
    if etype == ET_IPV4:
        _ipv4(dec, fr, off, n, depth, r, i)
    elif etype == ET_IPV6:
        _ipv6(dec, fr, off, n, depth, r, i)
    elif etype == ET_ARP or etype == ET_RARP:
        _row(r, P_ARP, -1, -1, -1, False, M_NONE, FR_NONE, V_NONE)
    elif etype == ET_MPLS or etype == ET_MPLS_MULTICAST:
        for k in range(MAX_LINK_TAGS):
            if off + 4 > n:
                _other(r, True)
                return
            off += 4
            if b[off - 2] & 1:           # bottom of the label stack
                _mpls_payload(dec, fr, _u32(b, off - 4) >> 12, off, n, depth, r, i)
                return
        _row(r, P_OTHER, -1, -1, -1, False, M_LINK, FR_NONE, V_NONE)
    elif etype == ET_FABRICPATH and depth < MAX_TUNNEL_DEPTH:
        # Cisco FabricPath: 2 bytes of FTag/TTL, a whole Ethernet frame, then its own 4-byte FCS
        if off + 2 + 14 + 4 > n:
            _other(r, True)
        else:
            _ethertype(dec, fr, off + 2 + 12, n - 4, depth + 1, r, i)
    elif etype == ET_PPPOE:
        if off + 8 > n:
            _other(r, True)
        else:
            _ppp(dec, fr, off + 6, n, r, i)
    elif etype == ET_MACSEC:
        _macsec(dec, fr, off, n, depth, r, i)
    elif etype == ET_PBB:
        # I-TAG, then the customer's destination and source addresses and ethertype
        if off + 18 > n:
            _other(r, True)
        elif _u16(b, off + 16) <= 1500:
            _other(r, False)
        else:
            _ethertype_at(dec, fr, _u16(b, off + 16), off + 18, n, depth, r, i)
    elif etype == ET_VNTAG:
        if off + 6 > n:
            _other(r, True)
        elif _u16(b, off + 4) > 1500:
            _ethertype_at(dec, fr, _u16(b, off + 4), off + 6, n, depth, r, i)
        else:                   # an 802.3 length: LLC follows, cut to it
            _llc(dec, fr, off + 6, min(n, off + 6 + _u16(b, off + 4)), depth, r, i)
    else:
        _other(r, False)


cdef void _macsec(Decoder dec, Bytes* fr, int64_t off, int64_t n, int depth, Row* r, Py_ssize_t i) noexcept nogil:
    """802.1AE: the SecTAG (6 bytes, 14 with the SCI), then an integrity-only frame's ethertype and
    packet; an encrypted one, or one not longer than its SecTAG and ICV, is not read further."""
    cdef const uint8_t* b = fr.b
    cdef int64_t tci, sectag
    if off + 1 > n:
        _other(r, True)
        return
    tci = b[off]
    sectag = 14 if tci & 0x20 else 6
    if tci & 0x80 or n - off <= sectag + 16 or tci & 0x0C:
        _other(r, False)
    elif off + sectag + 2 > n:
        _other(r, True)
    elif _u16(b, off + sectag) <= 1500:
        _other(r, False)
    else:
        _ethertype_at(dec, fr, _u16(b, off + sectag), off + sectag + 2, n, depth, r, i)


cdef void _mpls_payload(Decoder dec, Bytes* fr, int64_t label, int64_t off, int64_t n, int depth, Row* r,
                        Py_ssize_t i) noexcept nogil:
    """What follows MPLS's bottom label: IP by its first nibble, a pseudowire channel header
    (label 13, or nibble 1), or an Ethernet pseudowire (nibble 0)."""
    cdef const uint8_t* b = fr.b
    cdef int64_t nibble, channel
    if off >= n:
        _other(r, True)
        return
    nibble = b[off] >> 4
    if label == 13 or nibble == 1:
        if off + 4 > n:
            _other(r, True)
            return
        channel = _u16(b, off + 2)
        if channel == 0x0021:
            _ipv4(dec, fr, off + 4, n, depth, r, i)
        elif channel == 0x0057:
            _ipv6(dec, fr, off + 4, n, depth, r, i)
        else:
            _other(r, False)
    elif label == 14 or label == 628871:       # bound to OAM and TDM dissectors
        _other(r, False)
    elif nibble == 4:
        _ipv4(dec, fr, off, n, depth, r, i)
    elif nibble == 6:
        _ipv6(dec, fr, off, n, depth, r, i)
    elif nibble == 0 and depth < MAX_TUNNEL_DEPTH:
        # An Ethernet pseudowire: Wireshark takes the frame to start right away only when
        # the bytes at 0 and 6 both read as registered vendor prefixes; without its list of
        # them, a universally administered prefix at both stands in for that.
        if off + 4 > n:
            _other(r, True)
        elif off + 9 <= n and not b[off] & 0x02 and not b[off + 6] & 0x02 and b[off] | b[off + 1] | b[off + 2]:
            _ethernet_in(dec, fr, off, n, depth, r, i)
        else:
            _ethernet_in(dec, fr, off + 4, n, depth, r, i)
    else:
        _other(r, False)


cdef void _ethernet_in(Decoder dec, Bytes* fr, int64_t off, int64_t n, int depth, Row* r,
                       Py_ssize_t i) noexcept nogil:
    """An Ethernet frame (without FCS) carried inside another packet, from *off*."""
    if off + 14 > n:
        _other(r, True)
    else:
        _ethertype(dec, fr, off + 12, n, depth + 1, r, i)
