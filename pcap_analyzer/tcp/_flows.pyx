# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Flows: which stream a frame belongs to, its relative numbers, who is client, and the phase.

A stream is a bidirectional four-tuple, numbered per protocol in order of
first appearance (Wireshark's ``tcp.stream`` / ``udp.stream``).  TCP adds
one twist, as Wireshark does: a SYN (without ACK) whose sequence number
differs from the initial sequence number already recorded for that side of
the four-tuple starts a *new* stream on the same ports (``reused_ports``).
UDP adds another: a request to an SNMP agent gets its reply, and what
follows, under a stream of its own, as Wireshark's SNMP dissector files it.

Relative numbers depend on the same per-side state: the base of a side is
its SYN's sequence number, or one less than the first sequence number seen
from it, or one less than the first acknowledgement number the other side
sent it -- whichever comes first.  When a segment's length is unknown (a
malformed header, an IP fragment) Wireshark shows the raw numbers.

The client is the sender of the first SYN; else the receiver of the first
SYN-ACK; else, for streams caught mid-way and for UDP, the side whose port
does not look like a server's (a system port, a known service, then the
lower port); else the first sender.  Later evidence overrides weaker
evidence, so who the client is may only be known at the end of the capture:
frames carry their *side*, and :meth:`Flows.clients` tells each stream's
client side once everything was seen.
"""
cimport cython
from libc.stdint cimport int8_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from libcpp.deque cimport deque

from pcap_analyzer._table cimport PcapanTable
from pcap_analyzer.tcp._frame cimport Frame

import numpy as np

include "_vocabulary.pxi"

cdef enum:
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    ACK = 0x10
    # conv_bits: each side's base is known; a request to a wildcard-reply port was seen; its reply is due
    HAS_BASE_0 = 1
    HAS_BASE_1 = 2
    REQUEST_SEEN = 4
    REPLY_DUE = 8
    CLOSE_SEEN = 16              # a FIN or RST went either way since the stream began
    # evidence for the client, weakest to strongest
    BY_PORTS = 1
    BY_SYN_ACK = 2
    BY_SYN = 3

cdef int64_t M32 = 0xFFFFFFFF

# Ports with a well-known service name: 1 yes, 0 no, -1 not looked up yet
cdef int8_t _SERVICE[65536]
memset(_SERVICE, 0xFF, sizeof(_SERVICE))
_service_name = None


def use_service_names(lookup):
    """Set the function that names a port's well-known service (or returns None)."""
    global _service_name
    _service_name = lookup


cdef int _has_service(int64_t port) noexcept nogil:
    if port < 0 or port > 65535:
        return 0
    if _SERVICE[port] < 0:
        with gil:
            try:
                _SERVICE[port] = 1 if _service_name is not None and _service_name(int(port)) is not None else 0
            except Exception:
                _SERVICE[port] = 0
    return _SERVICE[port]


cdef int _server_side_by_ports(int64_t port0, int64_t port1) noexcept nogil:
    """Which side (0/1) looks like the server from its port alone, -1 if neither."""
    cdef bint low0 = port0 < SYSTEM_PORTS
    cdef bint low1 = port1 < SYSTEM_PORTS
    cdef int svc0, svc1
    if low0 != low1:
        return 0 if low0 else 1
    svc0 = _has_service(port0)
    svc1 = _has_service(port1)
    if svc0 != svc1:
        return 0 if svc0 else 1
    if port0 != port1:
        return 0 if port0 < port1 else 1
    return -1


@cython.final
cdef class Flows:
    """The streams of one capture as its frames come, in order."""

    def __cinit__(self):
        self.counters[0] = self.counters[1] = self.counters[2] = 0
        self.wireshark = WS_4_6

    cdef Flow* flow(self, int64_t kind, int64_t stream) noexcept nogil:
        return &self.tcp[stream] if kind == 1 else &self.udp[stream]

    cdef int64_t _new_stream(self, int64_t kind) noexcept nogil:
        cdef Flow s
        cdef int64_t number = self.counters[kind]
        self.counters[kind] += 1
        s.first_frame = -1
        s.last_frame = -1
        s.start = s.end = 0
        s.first_src = s.first_dst = -1
        s.first_sport = s.first_dport = 0
        s.first_side = 0
        s.reused = 0
        s.rank = 0
        s.who = -1
        s.hs_state = 0
        s.hs_side = -1
        s.hs_isn = 0
        if kind == 1:
            self.tcp.push_back(s)
        else:
            self.udp.push_back(s)
        return number

    cdef int64_t _conversation(self, int64_t kind, int64_t src, int64_t sport, int64_t dst, int64_t dport,
                               int64_t* side) noexcept nogil:
        """The conversation of a four-tuple (numbering new ones), and which side (0/1) sends."""
        cdef int64_t lo_a, lo_p, hi_a, hi_p, c
        cdef uint64_t ka, kb
        if src < dst or (src == dst and sport <= dport):
            side[0] = 0
            lo_a, lo_p, hi_a, hi_p = src, sport, dst, dport
        else:
            side[0] = 1
            lo_a, lo_p, hi_a, hi_p = dst, dport, src, sport
        ka = (<uint64_t>kind << 62) | (<uint64_t>(lo_a + 1) << 16) | <uint64_t>(lo_p & 0xFFFF)
        kb = (<uint64_t>(hi_a + 1) << 16) | <uint64_t>(hi_p & 0xFFFF)
        c = self.convs.find(ka, kb)
        if c >= 0:
            return c
        c = <int64_t>self.conv_stream.size()
        self.convs.add(ka, kb, c)
        self.conv_stream.push_back(-1)
        self.conv_base.push_back(0)
        self.conv_base.push_back(0)
        self.conv_bits.push_back(0)
        return c

    cdef void step(self, Frame* f) noexcept nogil:
        """Number the frame's stream (and the one it quotes), its relative numbers, side and phase."""
        cdef int64_t c, side = -1, kind = 0
        f.kind = 0
        f.stream = -1
        f.side = -1
        f.rel_seq = f.rel_ack = f.next_rel_seq = -1
        f.phase = -1
        f.labels = 0
        f.other_stream = -1
        if f.okind != 0:
            # the flow an ICMP error quotes (or a tunnel's outer UDP) is numbered too
            c = self._conversation(f.okind, f.osrc, f.osport, f.odst, f.odport, &side)
            if self.conv_stream[c] == -1:
                self.conv_stream[c] = self._new_stream(f.okind)
            f.other_stream = self.conv_stream[c]
        if f.sport >= 0:
            if f.proto == P_TCP:
                kind = 1
            elif f.proto == P_UDP:
                kind = 2
        if kind == 0:
            return
        f.kind = kind
        c = self._conversation(kind, f.src, f.sport, f.dst, f.dport, &side)
        if self.conv_stream[c] == -1:
            self.conv_stream[c] = self._new_stream(kind)
        f.side = side
        if kind == 2:
            self._udp(f, c)
        else:
            self._tcp(f, c, side)
        self._roles(f)
        if kind == 1:
            self._phase(f)

    cdef void _udp(self, Frame* f, int64_t c) noexcept nogil:
        cdef uint8_t* bits = &self.conv_bits[c]
        # 4.4 files the reply under the request's own conversation
        if self.wireshark >= WS_4_4:
            pass
        elif bits[0] & REPLY_DUE and f.sport == WILDCARD_REPLY_PORT:
            bits[0] &= ~REPLY_DUE
            self.conv_stream[c] = self._new_stream(2)
        elif f.dport == WILDCARD_REPLY_PORT and not bits[0] & REQUEST_SEEN:
            bits[0] |= REQUEST_SEEN | REPLY_DUE
        f.stream = self.conv_stream[c]

    cdef void _tcp(self, Frame* f, int64_t c, int64_t s) noexcept nogil:
        cdef int64_t fl = f.flags if f.flags > 0 else 0, sq = f.seq & M32, ak = f.ack & M32, rs, ra
        cdef bint closed
        cdef uint8_t* bits = &self.conv_bits[c]
        cdef uint8_t mine = HAS_BASE_0 if s == 0 else HAS_BASE_1
        cdef uint8_t theirs = HAS_BASE_1 if s == 0 else HAS_BASE_0
        cdef uint32_t* base = &self.conv_base[2 * c]
        # 4.4: after a FIN or RST, a SYN or SYN-ACK opens a new stream even with the same ISN
        # (a client retrying a refused connection, a connection opened again)
        closed = self.wireshark >= WS_4_4 and bits[0] & CLOSE_SEEN
        if fl & SYN and bits[0] & mine and (closed or (fl & ACK == 0 and sq != base[s])):
            self.conv_stream[c] = self._new_stream(1)
            bits[0] &= ~(HAS_BASE_0 | HAS_BASE_1 | CLOSE_SEEN)
            f.labels |= L_REUSED_PORTS
        elif fl & (SYN | ACK) == (SYN | ACK) and bits[0] & mine and sq != base[s]:
            # a SYN-ACK with a new ISN: 4.4 opens a new stream, 4.0 keeps the stream with a new base
            if self.wireshark >= WS_4_4:
                self.conv_stream[c] = self._new_stream(1)
                bits[0] &= ~(HAS_BASE_0 | HAS_BASE_1 | CLOSE_SEEN)
            else:
                base[s] = <uint32_t>sq
            f.labels |= L_REUSED_PORTS
        f.stream = self.conv_stream[c]
        if fl & (FIN | RST):
            bits[0] |= CLOSE_SEEN
        if not f.known:
            rs = sq
            ra = ak
        else:
            rs, ra = self._relative(f, c, s, sq, ak)
        f.rel_seq = rs
        f.rel_ack = ra
        if f.plen_raw >= 0:
            f.next_rel_seq = (rs + f.plen + ((fl & SYN) != 0) + ((fl & FIN) != 0)) & M32

    cdef (int64_t, int64_t) _relative(self, Frame* f, int64_t c, int64_t s, int64_t sq, int64_t ak) noexcept nogil:
        """Relative sequence and acknowledgement numbers, bases set on first use."""
        cdef int64_t fl = f.flags if f.flags > 0 else 0, rs, ra
        cdef uint8_t* bits = &self.conv_bits[c]
        cdef uint8_t mine = HAS_BASE_0 if s == 0 else HAS_BASE_1
        cdef uint8_t theirs = HAS_BASE_1 if s == 0 else HAS_BASE_0
        cdef uint32_t* base = &self.conv_base[2 * c]
        if not bits[0] & mine:
            base[s] = <uint32_t>(sq if fl & SYN else (sq - 1) & M32)
            bits[0] |= mine
        rs = (sq - base[s]) & M32
        if fl & ACK:
            if not bits[0] & theirs:
                base[1 - s] = <uint32_t>((ak - 1) & M32)
                bits[0] |= theirs
            ra = (ak - base[1 - s]) & M32
        else:
            ra = ak                      # Wireshark shows the raw field when ACK is off
        return rs, ra

    cdef void _roles(self, Frame* f) noexcept nogil:
        cdef Flow* rec = self.flow(f.kind, f.stream)
        cdef int64_t fl = f.flags if f.flags > 0 else 0, k, s = f.side
        if rec.first_frame < 0:
            rec.first_frame = f.frame
            rec.start = f.now
            rec.first_src = f.src
            rec.first_dst = f.dst
            rec.first_sport = <int32_t>f.sport
            rec.first_dport = <int32_t>f.dport
            rec.first_side = <int8_t>s
            rec.reused = (f.labels & L_REUSED_PORTS) != 0
        rec.last_frame = f.frame
        rec.end = f.now
        if f.kind == 1 and fl & (SYN | ACK) == SYN:
            if rec.rank < BY_SYN:
                rec.rank = BY_SYN
                rec.who = <int8_t>s
        elif f.kind == 1 and fl & (SYN | ACK) == (SYN | ACK):
            if rec.rank < BY_SYN_ACK:
                rec.rank = BY_SYN_ACK
                rec.who = <int8_t>(1 - s)
        elif rec.rank < BY_PORTS:
            # the ports of side 0 and side 1, from this first frame
            k = _server_side_by_ports(f.sport, f.dport) if s == 0 else _server_side_by_ports(f.dport, f.sport)
            rec.rank = BY_PORTS
            rec.who = <int8_t>(s if k < 0 else 1 - k)

    cdef void _phase(self, Frame* f) noexcept nogil:
        """What the segment does in the connection's life; the handshake ACK is the first ACK of
        the first SYN-ACK's sequence number + 1, from the other side, after it."""
        cdef Flow* rec = &self.tcp[f.stream]
        cdef int64_t fl = f.flags if f.flags > 0 else 0, code
        if fl & RST:
            code = PH_RST
        elif fl & (SYN | ACK) == SYN:
            code = PH_SYN
        elif fl & (SYN | ACK) == (SYN | ACK):
            code = PH_SYN_ACK
        elif fl & FIN:
            code = PH_FIN
        elif f.plen > 0:
            code = PH_DATA
        else:
            code = PH_ACK
        if rec.hs_state == 0:
            if code == PH_SYN_ACK:
                rec.hs_isn = <uint32_t>(f.seq & M32)
                rec.hs_side = <int8_t>f.side
                rec.hs_state = 1
        elif rec.hs_state == 1:
            if (f.side != rec.hs_side and fl & (SYN | RST | FIN) == 0 and fl & ACK
                    and (f.ack & M32) == ((rec.hs_isn + 1) & M32)):
                code = PH_HANDSHAKE_ACK
                rec.hs_state = 2
        f.phase = code

    # -- what the capture showed, at its end ------------------------------------

    def stream_count(self, int64_t kind):
        return self.tcp.size() if kind == 1 else self.udp.size()

    def clients(self, int64_t kind):
        """Each stream's client side (0/1) as decided by everything seen (-1: no frame of its own)."""
        cdef deque[Flow]* v = &self.tcp if kind == 1 else &self.udp
        out = np.full(v.size(), -1, dtype=np.int8)
        cdef int8_t[::1] o = out
        cdef size_t j
        for j in range(v.size()):
            if v[0][j].first_frame >= 0:
                o[j] = v[0][j].who
        return out

    def table(self, int64_t kind):
        """Per stream (those with frames of their own): number, first and last frame and time, the
        first frame's addresses, ports and side, whether it reused ports, and the client side."""
        cdef deque[Flow]* v = &self.tcp if kind == 1 else &self.udp
        cdef size_t j, m = 0, k = 0
        for j in range(v.size()):
            if v[0][j].first_frame >= 0:
                m += 1
        out = np.empty((12, m), dtype=np.int64)
        cdef int64_t[:, ::1] t = out
        cdef Flow* r
        for j in range(v.size()):
            r = &v[0][j]
            if r.first_frame < 0:
                continue
            t[0, k] = j
            t[1, k] = r.first_frame
            t[2, k] = r.last_frame
            t[3, k] = r.start
            t[4, k] = r.end
            t[5, k] = r.first_src
            t[6, k] = r.first_dst
            t[7, k] = r.first_sport
            t[8, k] = r.first_dport
            t[9, k] = r.first_side
            t[10, k] = r.reused
            t[11, k] = r.who
            k += 1
        return out

    def memory(self):
        """Bytes held (for measuring memory per stream)."""
        return (self.convs.memory() + self.conv_stream.size() * 8 + self.conv_base.size() * 4
                + self.conv_bits.size() + (self.tcp.size() + self.udp.size()) * sizeof(Flow))


FLOW_FIELDS = ("stream", "first_frame", "last_frame", "start", "end", "first_src", "first_dst", "first_sport",
               "first_dport", "first_side", "reused", "client_side")
