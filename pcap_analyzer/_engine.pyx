# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The analysis of a capture in one compiled pass per frame (Cython, compiled when pcapan is installed).

This does, frame by frame and with per-stream state, what the readable
pipeline of :func:`pcap_analyzer.analysis.label_frames` does over tables:
stream numbering and relative numbers (:mod:`.streams`), client and server
(:func:`.streams.roles`), the handshake phases (:mod:`.rules.phase`),
Wireshark's sequence analysis (:mod:`.rules.sequence`), the decoding and
checksum labels (:mod:`.rules.decoding`, :mod:`.rules.checksums`), the
streams table's counts and Zeek state walk (:mod:`.summary`), and the
report's tallies (frame counts, checksum verdicts, notable frames per
label).  That pipeline stays the reference: the tests demand that both give
the same tables on every sample and development capture.

Frames come in as columns of integers (:data:`IN_COLUMNS`; -1 for a missing
value, text fields as small codes), filled by the compiled pcap decoder
(:meth:`Engine.decode`) or, for frames it leaves out and for other file
formats, from the readable decoder's rows (:meth:`Engine.fill`).  Results
go out as integer and float columns (:data:`OUT_COLUMNS`,
:data:`FLOAT_COLUMNS`); what a report needs beyond them is added up inside
(:meth:`Engine.results`).
"""
from libc.stdint cimport INT64_MIN, int8_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.math cimport NAN, isnan
from libc.string cimport memcpy, memset
from libcpp.vector cimport vector

import socket
import struct

import numpy as np

cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil
    uint32_t __builtin_bswap32(uint32_t) nogil
    uint16_t __builtin_bswap16(uint16_t) nogil

# ---------------------------------------------------------------------------
# Columns in and out

IN_COLUMNS = ("frame", "ts_ns", "cap_len", "wire_len", "iface", "linktype_id", "proto", "ip_version", "src",
              "dst", "sport", "dport", "tcp_flags", "seq", "ack", "window", "payload_len", "tcp_hdr_len", "mss",
              "wscale", "sack_perm", "sack_bytes", "ip_checksum", "l4_checksum", "fragment", "truncated",
              "malformed", "other_kind", "other_src", "other_sport", "other_dst", "other_dport", "comment")
cdef enum:
    I_FRAME, I_TS, I_CAPLEN, I_WIRELEN, I_IFACE, I_LINKTYPE, I_PROTO, I_IPVER, I_SRC, I_DST, I_SPORT, I_DPORT
    I_FLAGS, I_SEQ, I_ACK, I_WINDOW, I_PLEN, I_HDRLEN, I_MSS, I_WSCALE, I_SACKPERM, I_SACKBYTES, I_IPCK, I_L4CK
    I_FRAG, I_TRUNC, I_MALFORMED, I_OKIND, I_OSRC, I_OSPORT, I_ODST, I_ODPORT, I_COMMENT, NIN

OUT_COLUMNS = ("stream", "from_client", "rel_seq", "rel_ack", "next_rel_seq", "phase", "labels", "dup_ack_num",
               "dup_ack_of", "acks_frame", "bytes_in_flight", "rto_frame", "window_size", "ip_checksum",
               "l4_checksum", "reused_ports")
cdef enum:
    O_STREAM, O_FROM_CLIENT, O_REL_SEQ, O_REL_ACK, O_NEXT_REL_SEQ, O_PHASE, O_LABELS, O_DUP_NUM, O_DUP_OF
    O_ACKS_FRAME, O_BIF, O_RTO_FRAME, O_WSIZE, O_IPCK, O_L4CK, O_REUSED, NOUT

FLOAT_COLUMNS = ("ack_rtt_s", "rto_s", "initial_rtt_s")
cdef enum:
    F_RTT, F_RTO, F_IRTT, NF

# Codes of the text fields (-1, or 0 where listed, is missing).  The first
# names of PROTOS and MALFORMED are fixed; other texts get codes after them.
PROTOS = ("tcp", "udp", "icmp", "icmpv6", "arp", "ipv4", "ipv6", "other")
VERDICTS = (None, "good", "bad", "offloaded", "unverified")   # in: 3 is maybe_offloaded
FRAGMENTS = (None, "first", "non_first", "reassembled")
MALFORMED = (None, "link", "ip", "ipv6", "tcp", "udp")
PHASES = ("rst", "syn", "syn_ack", "fin", "handshake_ack", "data", "ack")
cdef enum:
    P_TCP = 0
    P_UDP = 1
cdef enum:
    V_NONE, V_GOOD, V_BAD, V_OFFLOADED, V_UNVERIFIED
cdef enum:
    FR_NONE, FR_FIRST, FR_NON_FIRST
cdef enum:
    M_NONE = 0
    M_TCP = 4
cdef enum:
    PH_RST, PH_SYN, PH_SYN_ACK, PH_FIN, PH_HANDSHAKE_ACK, PH_DATA, PH_ACK

# Labels by bit, in the order a frame's labels are written: the rules' order.
LABELS = ("zero_window_probe", "zero_window", "lost_segment", "keep_alive", "window_probe", "window_update",
          "window_full", "keep_alive_ack", "zero_window_probe_ack", "duplicate_ack", "ack_lost_segment",
          "spurious_retransmission", "fast_retransmission", "out_of_order", "retransmission",
          "reused_ports", "truncated", "malformed",
          "bad_ip_checksum", "bad_tcp_checksum", "bad_udp_checksum", "checksum_offloaded")
cdef enum:
    NSEQ = 15
SEQUENCE_LABELS = NSEQ
cdef enum:
    ZWP = 1 << 0
    ZW = 1 << 1
    LOST = 1 << 2
    KA = 1 << 3
    WPROBE = 1 << 4
    WU = 1 << 5
    WF = 1 << 6
    KAACK = 1 << 7
    ZWPACK = 1 << 8
    DUP = 1 << 9
    ACKLOST = 1 << 10
    SPUR = 1 << 11
    FAST = 1 << 12
    OOO = 1 << 13
    RETR = 1 << 14
    L_REUSED = 1 << 15
    L_TRUNC = 1 << 16
    L_MALFORMED = 1 << 17
    L_BAD_IP = 1 << 18
    L_BAD_TCP = 1 << 19
    L_BAD_UDP = 1 << 20
    L_OFFLOADED = 1 << 21
    NLABELS = 22
# The labels a frame's explanation can be about, most important first (explain.TOPICS).
TOPICS = ("malformed", "reused_ports", "spurious_retransmission", "fast_retransmission", "retransmission",
          "out_of_order", "zero_window_probe", "window_probe", "keep_alive", "zero_window_probe_ack",
          "keep_alive_ack", "duplicate_ack", "ack_lost_segment", "lost_segment", "zero_window", "window_full",
          "window_update")
cdef int NTOPICS = 17
cdef int TOPIC_BITS[17]
for _i, _name in enumerate(TOPICS):
    TOPIC_BITS[_i] = LABELS.index(_name)

cdef enum:
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    ACK = 0x10
    SFR = SYN | FIN | RST
cdef int64_t M32 = 0xFFFFFFFF
cdef int64_t HALF = 0x80000000
cdef int64_t FAST_RETRANS_NS = 20_000_000
cdef int64_t OOO_DEFAULT_NS = 3_000_000
cdef size_t MAX_UNACKED = 10_000
cdef int SNMP_PORT = 161
cdef int SYSTEM_PORTS = 1024
cdef int MAX_RECORD = 256 * 1024

# Zeek endpoint states (summary.py) and history letters S H D F R A
cdef enum:
    Z_INACTIVE, Z_SYN_SENT, Z_SYN_ACK_SENT, Z_PARTIAL, Z_ESTABLISHED, Z_CLOSED, Z_RESET
cdef enum:
    H_S, H_H, H_D, H_F, H_R, H_A

# Examples of notable frames kept per label (the report's frames list, streams shown)
cdef enum:
    FRAMES_LISTED = 12
    STREAMS_LISTED = 4
    BAD_FRAMES_LISTED = 8
# An example frame's row: its in and out columns, then the last duplicate ACK
# the other side sent before it (frame, rel_ack, number; -1 if none).
cdef enum:
    SNAP_DUP = NIN + NOUT
    NSNAP = NIN + NOUT + 3

# The streams table's columns as the engine hands them out (client_/server_ pairs side by side)
STREAM_FIELDS = ("stream", "client", "server", "client_port", "server_port", "first_frame", "last_frame", "start",
                 "end", "syn_frame", "syn_seq", "sa_frame", "sa_seq", "ha_frame", "reused", "completeness",
                 "hist_len", "client_packets", "server_packets", "client_bytes", "server_bytes",
                 "client_retransmitted_bytes", "server_retransmitted_bytes", "client_bad_checksums",
                 "server_bad_checksums", "client_offloaded_checksums", "server_offloaded_checksums",
                 "client_state", "server_state") + tuple(f"hist{k}" for k in range(12))
cdef enum:
    S_STREAM, S_CLIENT, S_SERVER, S_CLIENT_PORT, S_SERVER_PORT, S_FIRST_FRAME, S_LAST_FRAME, S_START, S_END
    S_SYN_FRAME, S_SYN_SEQ, S_SA_FRAME, S_SA_SEQ, S_HA_FRAME, S_REUSED, S_COMPLETENESS, S_HIST_LEN
    S_PACKETS, S_PACKETS_SERVER, S_BYTES, S_BYTES_SERVER, S_RETRANS_BYTES, S_RETRANS_BYTES_SERVER
    S_BAD, S_BAD_SERVER, S_OFFLOADED, S_OFFLOADED_SERVER, S_STATE, S_STATE_SERVER, S_HIST

cdef uint64_t K1 = 0x9E3779B97F4A7C15
cdef uint64_t K2 = 0xC2B2AE3D27D4EB4F
cdef uint64_t K3 = 0x165667B19E3779F9


# ---------------------------------------------------------------------------
# A hash table from two 64-bit keys to an id

cdef struct Slot:
    uint64_t a
    uint64_t b
    int64_t v


cdef class _Table:
    cdef vector[Slot] slots
    cdef uint64_t mask
    cdef int64_t used

    def __cinit__(self):
        self._alloc(1024)

    cdef void _alloc(self, size_t cap) noexcept nogil:
        cdef Slot empty
        empty.a = 0
        empty.b = 0
        empty.v = -1
        self.slots.assign(cap, empty)
        self.mask = cap - 1
        self.used = 0

    @staticmethod
    cdef inline uint64_t _hash(uint64_t a, uint64_t b) noexcept nogil:
        cdef uint64_t h = (a * K1) ^ ((b + K3) * K2)
        h ^= h >> 31
        h *= K3
        h ^= h >> 29
        return h

    cdef int64_t find(self, uint64_t a, uint64_t b) noexcept nogil:
        cdef uint64_t i = _Table._hash(a, b) & self.mask
        while self.slots[i].v != -1:
            if self.slots[i].a == a and self.slots[i].b == b:
                return self.slots[i].v
            i = (i + 1) & self.mask
        return -1

    cdef void add(self, uint64_t a, uint64_t b, int64_t v) noexcept nogil:
        """Add a key not in the table."""
        cdef vector[Slot] old
        cdef size_t j
        if (self.used + 1) * 2 > <int64_t>(self.mask + 1):
            old.swap(self.slots)
            self._alloc((self.mask + 1) * 2)
            for j in range(old.size()):
                if old[j].v != -1:
                    self._put(old[j].a, old[j].b, old[j].v)
        self._put(a, b, v)

    cdef void _put(self, uint64_t a, uint64_t b, int64_t v) noexcept nogil:
        cdef uint64_t i = _Table._hash(a, b) & self.mask
        while self.slots[i].v != -1:
            i = (i + 1) & self.mask
        self.slots[i].a = a
        self.slots[i].b = b
        self.slots[i].v = v
        self.used += 1


# ---------------------------------------------------------------------------
# Per-stream state

cdef struct Endpoint:            # the sequence analysis' state of one side (rules/sequence.py)
    int64_t nextseq, nextseqtime, nextseqframe, maxseq, lastack, lastacktime, window, dupacknum
    int64_t lastnondup, lastflags, valid_bif, win_scale, first_ack, base, base_set, sack


cdef struct Unacked:
    int64_t frame, seq, end, time


cdef struct Frames:              # a chunk's columns as raw pointers (a memoryview costs a copy per call)
    int64_t* inp
    int64_t* out
    double* fout
    Py_ssize_t si, so, sf        # elements from one column to the next


cdef Frames _frames(int64_t[:, :] inp, int64_t[:, :] out, double[:, :] fout) except *:
    """Pointers to column arrays whose rows may be views of wider arrays (each row contiguous)."""
    cdef Frames f
    if inp.strides[1] != 8 or (out is not None and out.strides[1] != 8) or (fout is not None and fout.strides[1] != 8):
        raise ValueError("each column's values must be contiguous")
    f.inp = &inp[0, 0] if inp.shape[1] > 0 else NULL
    f.si = inp.strides[0] // 8
    f.out = &out[0, 0] if out is not None and out.shape[1] > 0 else NULL
    f.so = out.strides[0] // 8 if out is not None else 0
    f.fout = &fout[0, 0] if fout is not None and fout.shape[1] > 0 else NULL
    f.sf = fout.strides[0] // 8 if fout is not None else 0
    return f


cdef struct Stream:
    # who talked to whom: the first frame, and who the client is (rank of the evidence, its side)
    int64_t first_frame, last_frame, start, end
    int64_t first_src, first_dst, first_sport, first_dport, first_side, reused
    int64_t rank, who, turned
    # the streams table's counts, [client, server]
    int64_t packets[2]
    int64_t nbytes[2]
    int64_t counts[2 * 15]
    int64_t bad_ck[2]
    int64_t off_ck[2]
    int64_t retrans_bytes[2]
    double irtt_max
    int64_t syn_frame, syn_seq, sa_frame, sa_seq, ha_frame
    # Zeek's state walk: endpoint states [client, server], completeness, history
    int64_t zstate[2]
    int64_t completeness, seen, hist_len
    int8_t hist[12]
    # the handshake ACK's search: server ISN of the first SYN-ACK, how far it got
    int64_t hs_isn, hs_state
    # the sequence analysis, per side
    Endpoint ep[2]
    int64_t irtt, last_syn
    # for the report: the last duplicate ACK of each side (frame, rel_ack, number),
    # whether any SYN-ACK was seen, the labels already counted for this stream
    int64_t dup_frame[2]
    int64_t dup_rel_ack[2]
    int64_t dup_num[2]
    int64_t syn_ack_any
    uint64_t label_seen


cdef void _fresh(Stream* s) noexcept nogil:
    cdef int e
    cdef int k
    s.first_frame = -1
    s.last_frame = -1
    s.start = 0
    s.end = 0
    s.first_src = -1
    s.first_dst = -1
    s.first_sport = 0
    s.first_dport = 0
    s.first_side = 0
    s.reused = 0
    s.rank = 0
    s.who = -1
    s.turned = 0
    for k in range(30):
        s.counts[k] = 0
    for e in range(2):
        s.packets[e] = 0
        s.nbytes[e] = 0
        s.bad_ck[e] = 0
        s.off_ck[e] = 0
        s.retrans_bytes[e] = 0
        s.zstate[e] = Z_INACTIVE
        s.dup_frame[e] = -1
        s.dup_rel_ack[e] = -1
        s.dup_num[e] = -1
        s.ep[e].nextseq = 0
        s.ep[e].nextseqtime = 0
        s.ep[e].nextseqframe = 0
        s.ep[e].maxseq = 0
        s.ep[e].lastack = 0
        s.ep[e].lastacktime = 0
        s.ep[e].window = M32
        s.ep[e].dupacknum = 0
        s.ep[e].lastnondup = 0
        s.ep[e].lastflags = 0
        s.ep[e].valid_bif = 1
        s.ep[e].win_scale = -1
        s.ep[e].first_ack = 0
        s.ep[e].base = 0
        s.ep[e].base_set = 0
        s.ep[e].sack = 0
    s.irtt_max = NAN
    s.syn_frame = -1
    s.syn_seq = -1
    s.sa_frame = -1
    s.sa_seq = -1
    s.ha_frame = -1
    s.completeness = 0
    s.seen = 0
    s.hist_len = 0
    s.hs_isn = 0
    s.hs_state = 0
    s.irtt = 0
    s.last_syn = 0
    s.syn_ack_any = 0
    s.label_seen = 0


cdef inline void _note(Stream* s, int letter, int role) noexcept nogil:
    """Add a history letter of *role* (0 client, 1 server) the first time it occurs."""
    cdef int key = letter + 6 * role
    if not (s.seen >> key) & 1:
        s.seen |= 1 << key
        s.hist[s.hist_len] = key
        s.hist_len += 1


cdef void _zeek(Stream* s, int64_t f, int64_t n, int e) noexcept nogil:
    """One TCP segment of role *e* through Zeek's endpoint states (summary.walk)."""
    if f & SYN:
        if f & ACK:
            _note(s, H_H, e)
            s.completeness |= 2
            if s.zstate[e] == Z_INACTIVE:
                s.zstate[e] = Z_SYN_ACK_SENT
        else:
            _note(s, H_S, e)
            s.completeness |= 1
            if s.zstate[e] == Z_INACTIVE:
                s.zstate[e] = Z_SYN_SENT
    if n > 0:
        _note(s, H_D, e)
        s.completeness |= 8
    if f & FIN:
        _note(s, H_F, e)
        s.completeness |= 16
    if f & RST:
        _note(s, H_R, e)
        s.completeness |= 32
    if f & ACK and not f & (SYN | FIN | RST):
        if n == 0:
            _note(s, H_A, e)
        s.completeness |= 4
    if f & RST:
        s.zstate[e] = Z_RESET
    elif f & FIN:
        if s.zstate[e] != Z_RESET:
            s.zstate[e] = Z_CLOSED
    elif not f & SYN:
        if s.zstate[e] == Z_INACTIVE:
            s.zstate[e] = Z_PARTIAL
        if (f & ACK and (s.zstate[0] == Z_SYN_SENT or s.zstate[0] == Z_SYN_ACK_SENT)
                and (s.zstate[1] == Z_SYN_SENT or s.zstate[1] == Z_SYN_ACK_SENT)):
            s.zstate[0] = Z_ESTABLISHED
            s.zstate[1] = Z_ESTABLISHED
        elif s.zstate[e] == Z_PARTIAL and (s.zstate[1 - e] == Z_PARTIAL or s.zstate[1 - e] == Z_ESTABLISHED):
            s.zstate[e] = s.zstate[1 - e]


# Ports with a well-known service name (summary.service_name): 1 yes, 0 no, -1 not looked up yet
cdef int8_t _SERVICE[65536]
memset(_SERVICE, 0xFF, sizeof(_SERVICE))
_service_name = None


def use_service_names(lookup):
    """Set the function that names a port's well-known service (None for none)."""
    global _service_name
    _service_name = lookup


cdef int _has_service(int64_t port) noexcept nogil:
    if port < 0 or port > 65535:
        return 0
    if _SERVICE[port] < 0:
        with gil:
            try:
                _SERVICE[port] = 1 if _service_name(int(port)) is not None else 0
            except Exception:
                _SERVICE[port] = 0
    return _SERVICE[port]


cdef int _server_side_by_ports(int64_t port0, int64_t port1) noexcept nogil:
    """Which side (0/1) looks like the server from its port alone, -1 if neither (streams.py)."""
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


# ---------------------------------------------------------------------------
# Byte access for the decoder

cdef inline int64_t _u16(const uint8_t* b, int64_t i) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, b + i, 2)
    return __builtin_bswap16(v)


cdef inline int64_t _u32(const uint8_t* b, int64_t i) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, b + i, 4)
    return __builtin_bswap32(v)


cdef inline int64_t _fold(int64_t s) noexcept nogil:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


cdef int64_t _sum16(const uint8_t* b, int64_t a, int64_t e) noexcept nogil:
    """Ones-complement sum of b[a:e] as big-endian 16-bit words (an odd last byte padded), folded.

    The bytes are added as native 32-bit words in a counted loop the compiler
    vectorises; a ones-complement sum does not depend on byte order except
    for a swap of its two bytes at the end (RFC 1071).
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
    s = (s & <uint64_t>M32) + (s >> 32)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return <int64_t>(((s & 0xFF) << 8) | (s >> 8))


def record_count(const uint8_t[::1] buf, int64_t start, bint big_endian):
    """How many records :func:`frame_index` reads from *start* to the end (or to where it stops)."""
    cdef int64_t n = buf.shape[0], pos = start, k = 0, cl
    cdef const uint8_t* b = &buf[0] if n > 0 else NULL
    cdef uint32_t v
    with nogil:
        while pos + 16 <= n:
            memcpy(&v, b + pos + 8, 4)
            cl = __builtin_bswap32(v) if big_endian else v
            if cl > MAX_RECORD or pos + 16 + cl > n:
                break
            k += 1
            pos += 16 + cl
    return k


def frame_index(const uint8_t[::1] buf, int64_t start, bint big_endian, int64_t limit):
    """Where up to *limit* records of a classic pcap start, from *start*; stops as the readable reader does.

    Returns (count, next, offsets, caplens, wirelens, secs, fracs, status, bad): *next* is
    where the first record not read starts; status 0 clean end, 1 record header cut,
    2 record data cut, 3 absurd length (*bad*), 4 *limit* reached first.
    """
    cdef int64_t n = buf.shape[0]
    cdef int64_t cap = max(1, min(limit, (n - start) // 16 + 1))
    offs_a = np.empty(cap, dtype=np.int64)
    caps_a = np.empty(cap, dtype=np.int64)
    wires_a = np.empty(cap, dtype=np.int64)
    secs_a = np.empty(cap, dtype=np.int64)
    fracs_a = np.empty(cap, dtype=np.int64)
    cdef int64_t[::1] offs = offs_a, caps = caps_a, wires = wires_a, secs = secs_a, fracs = fracs_a
    cdef int64_t pos = start, k = 0, status = 0, bad = 0, sec, frac, cl, wl, data
    cdef const uint8_t* b = &buf[0] if n > 0 else NULL
    with nogil:
        while True:
            if pos >= n:
                break
            if k >= limit:
                status = 4
                break
            if pos + 16 > n:
                status = 1
                break
            if big_endian:
                sec = _u32(b, pos)
                frac = _u32(b, pos + 4)
                cl = _u32(b, pos + 8)
                wl = _u32(b, pos + 12)
            else:
                sec = (<int64_t>b[pos + 3] << 24) | (<int64_t>b[pos + 2] << 16) | (<int64_t>b[pos + 1] << 8) | b[pos]
                frac = ((<int64_t>b[pos + 7] << 24) | (<int64_t>b[pos + 6] << 16) | (<int64_t>b[pos + 5] << 8)
                        | b[pos + 4])
                cl = (<int64_t>b[pos + 11] << 24) | (<int64_t>b[pos + 10] << 16) | (<int64_t>b[pos + 9] << 8) | b[pos + 8]
                wl = ((<int64_t>b[pos + 15] << 24) | (<int64_t>b[pos + 14] << 16) | (<int64_t>b[pos + 13] << 8)
                      | b[pos + 12])
            if cl > MAX_RECORD:
                status = 3
                bad = cl
                break
            data = pos + 16
            if data + cl > n:
                status = 2
                break
            offs[k] = data
            caps[k] = cl
            wires[k] = wl if wl > cl else cl
            secs[k] = sec
            fracs[k] = frac
            k += 1
            pos = data + cl
    return k, pos, offs_a, caps_a, wires_a, secs_a, fracs_a, status, bad


# ---------------------------------------------------------------------------
# The engine

cdef class Engine:
    """Everything one pass over a capture knows: addresses, conversations, streams, tallies.

    *leave_out*: labels the notable-frames tally skips (the report's).
    *given_roles*: (proto code, stream, client side) decided by an earlier pass.
    *offloaders*: (version, high, low) keys of senders known to offload their checksums.
    *per_frame*: False leaves ``bytes_in_flight`` out of the per-frame columns (a report
    never reads it, and it costs a look at every unacknowledged segment).
    *facts_only*: only number the streams and find what the end of the capture decides
    (:meth:`turned`, :meth:`offloaders`, :func:`accepted_streams`); no sequence analysis,
    no per-frame columns past the stream and phase, no tallies.
    """
    # addresses: (version, high, low) -> id
    cdef _Table v4, v6
    cdef vector[int64_t] addr_ver
    cdef vector[uint64_t] addr_hi, addr_lo
    cdef vector[uint8_t] addr_offloads, addr_offloaded_seen
    cdef vector[int64_t] tally           # per address: sent, sent not good, sent bad, received, received not good
    cdef _Table offload4, offload6
    # conversations: (kind, lower endpoint, higher endpoint) -> id
    cdef _Table convs
    cdef vector[int64_t] conv_cur, conv_base
    cdef vector[uint8_t] conv_has, conv_request, conv_pending
    cdef int64_t counters[3]
    # streams by protocol and number; TCP ones also hold each side's unacknowledged segments
    cdef vector[Stream] tcp, udp
    cdef vector[vector[Unacked]] una
    cdef vector[int8_t] given_tcp, given_udp
    # the capture's tallies
    cdef public int64_t packets, tcp_packets, udp_packets, truncated_frames, malformed_frames
    cdef public int64_t first_ts, last_ts
    cdef int64_t ck_counts[5]
    cdef public int64_t ck_offloaded, ck_bad
    cdef vector[int64_t] ck_bad_frames
    # notable frames per label
    cdef uint64_t leave_out
    cdef int64_t lab_count[NLABELS]
    cdef int64_t lab_at_frame[NLABELS]
    cdef int64_t lab_at_place[NLABELS]
    cdef int64_t lab_nframes[NLABELS]
    cdef int64_t lab_frames[NLABELS * FRAMES_LISTED]
    cdef int64_t lab_nstreams[NLABELS]
    cdef int64_t lab_streams[NLABELS * STREAMS_LISTED * 2]
    cdef int64_t lab_example[NLABELS * 2]     # frame of the first carrying it, of the first about it
    cdef double[:, :, ::1] snap_f
    cdef int64_t[:, :, ::1] snap_i
    cdef object _snap_i_array, _snap_f_array
    # whether the per-frame columns are all wanted (else those the report never reads are left out);
    # whether only what the end of the capture decides is wanted (see facts_only)
    cdef bint per_frame, facts_only
    # text codes beyond the fixed ones; the addresses' texts made so far
    cdef dict proto_codes, malformed_codes
    cdef list _texts
    cdef public list protos, malformed_names

    def __cinit__(self, leave_out=(), given_roles=(), offloaders=(), per_frame=True, facts_only=False):
        cdef int k
        self.per_frame = per_frame
        self.facts_only = facts_only
        self.v4 = _Table()
        self.v6 = _Table()
        self.convs = _Table()
        self.offload4 = _Table()
        self.offload6 = _Table()
        for k in range(3):
            self.counters[k] = 0
        for k in range(5):
            self.ck_counts[k] = 0
        self.packets = self.tcp_packets = self.udp_packets = self.truncated_frames = self.malformed_frames = 0
        self.first_ts = -1
        self.last_ts = -1
        self.ck_offloaded = self.ck_bad = 0
        self.leave_out = 0
        for name in leave_out:
            if name in LABELS:
                self.leave_out |= 1 << LABELS.index(name)
        for k in range(NLABELS):
            self.lab_count[k] = 0
            self.lab_at_frame[k] = -1
            self.lab_at_place[k] = -1
            self.lab_nframes[k] = 0
            self.lab_nstreams[k] = 0
            self.lab_example[2 * k] = -1
            self.lab_example[2 * k + 1] = -1
        self._snap_i_array = np.full((NLABELS, 2, NSNAP), -1, dtype=np.int64)
        self._snap_f_array = np.full((NLABELS, 2, NF), np.nan)
        self.snap_i = self._snap_i_array
        self.snap_f = self._snap_f_array
        cdef int64_t number, side
        for proto, number, side in given_roles:
            if proto == P_TCP:
                if number >= <int64_t>self.given_tcp.size():
                    self.given_tcp.resize(number + 1, -1)
                self.given_tcp[number] = side
            else:
                if number >= <int64_t>self.given_udp.size():
                    self.given_udp.resize(number + 1, -1)
                self.given_udp[number] = side
        for ver, hi, lo in offloaders:
            t = self.offload4 if ver == 4 else self.offload6
            if t.find(<uint64_t>hi, <uint64_t>lo) == -1:
                t.add(<uint64_t>hi, <uint64_t>lo, 1)
        self.protos = list(PROTOS)
        self.proto_codes = {p: i for i, p in enumerate(PROTOS)}
        self.malformed_names = list(MALFORMED)
        self.malformed_codes = {m: i for i, m in enumerate(MALFORMED)}
        self._texts = []

    # -- addresses -------------------------------------------------------

    cdef int64_t address(self, int64_t ver, uint64_t hi, uint64_t lo) noexcept nogil:
        """The id of an address (IPv4: *lo* holds it), numbering new ones."""
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
        cdef uint8_t offloads = (self.offload4.find(hi, lo) if ver == 4 else self.offload6.find(hi, lo)) != -1
        self.addr_offloads.push_back(offloads)
        self.addr_offloaded_seen.push_back(0)
        for _ in range(5):
            self.tally.push_back(0)
        return a

    def address_of(self, text):
        """The id of an address given as text (as the readable decoder writes it); -1 for None."""
        if text is None:
            return -1
        if ":" in text:
            hi, lo = struct.unpack("!QQ", socket.inet_pton(socket.AF_INET6, text))
            return self.address(6, hi, lo)
        return self.address(4, 0, struct.unpack("!I", socket.inet_pton(socket.AF_INET, text))[0])

    def address_texts(self):
        """Every address as text, by id (a list this engine extends as addresses come: do not change it)."""
        out = self._texts
        for a in range(len(out), <int64_t>self.addr_ver.size()):
            if self.addr_ver[a] == 4:
                out.append(socket.inet_ntop(socket.AF_INET, struct.pack("!I", self.addr_lo[a])))
            else:
                out.append(socket.inet_ntop(socket.AF_INET6, struct.pack("!QQ", self.addr_hi[a], self.addr_lo[a])))
        return out

    def address_keys(self):
        """(version, high, low) of every address, by id."""
        return [(self.addr_ver[a], self.addr_hi[a], self.addr_lo[a]) for a in range(<int64_t>self.addr_ver.size())]

    # -- the rows of frames the compiled decoder leaves to the readable one

    def code_of(self, field, text):
        """The code of a text field's value (new texts get new codes)."""
        if field == "proto":
            codes, names = self.proto_codes, self.protos
        else:
            codes, names = self.malformed_codes, self.malformed_names
        c = codes.get(text)
        if c is None:
            c = codes[text] = len(names)
            names.append(text)
        return c

    def fill(self, int64_t[:, :] inp, Py_ssize_t i, row):
        """Write a decoded row (decode.FIELDS order) into column *i* of *inp* (frame fields untouched)."""
        (proto, ver, src, dst, sport, dport, flags, seq, ack, window, plen, hdrlen, mss, wscale, sack_perm,
         sack_bytes, ip_ck, l4_ck, fragment, truncated, malformed, other) = row
        inp[I_PROTO, i] = -1 if proto is None else self.code_of("proto", proto)
        inp[I_IPVER, i] = -1 if ver is None else ver
        inp[I_SRC, i] = self.address_of(src)
        inp[I_DST, i] = self.address_of(dst)
        inp[I_SPORT, i] = -1 if sport is None else sport
        inp[I_DPORT, i] = -1 if dport is None else dport
        inp[I_FLAGS, i] = -1 if flags is None else flags
        inp[I_SEQ, i] = -1 if seq is None else seq
        inp[I_ACK, i] = -1 if ack is None else ack
        inp[I_WINDOW, i] = -1 if window is None else window
        inp[I_PLEN, i] = -1 if plen is None else plen
        inp[I_HDRLEN, i] = -1 if hdrlen is None else hdrlen
        inp[I_MSS, i] = -1 if mss is None else mss
        inp[I_WSCALE, i] = -1 if wscale is None else wscale
        inp[I_SACKPERM, i] = -1 if sack_perm is None else (1 if sack_perm else 0)
        inp[I_SACKBYTES, i] = -1 if sack_bytes is None else sack_bytes
        inp[I_IPCK, i] = _VERDICT_IN[ip_ck]
        inp[I_L4CK, i] = _VERDICT_IN[l4_ck]
        inp[I_FRAG, i] = FRAGMENTS.index(fragment)
        inp[I_TRUNC, i] = 1 if truncated else 0
        inp[I_MALFORMED, i] = 0 if malformed is None else self.code_of("malformed", malformed)
        if other is None:
            inp[I_OKIND, i] = 0
            inp[I_OSRC, i] = inp[I_OSPORT, i] = inp[I_ODST, i] = inp[I_ODPORT, i] = -1
        else:
            oproto, osrc, osport, odst, odport = other
            inp[I_OKIND, i] = 1 if oproto == "tcp" else 2
            inp[I_OSRC, i] = self.address_of(osrc)
            inp[I_OSPORT, i] = osport
            inp[I_ODST, i] = self.address_of(odst)
            inp[I_ODPORT, i] = odport

    # -- the compiled decoder -------------------------------------------

    def decode(self, const uint8_t[::1] buf, int64_t[::1] offs, int64_t[::1] caps, int64_t[::1] wires,
               int64_t[::1] ts, int64_t linktype, int64_t first, int64_t[:, :] inp):
        """Decode the records at *offs* into columns 0.. of *inp*, frames numbered from *first*.

        Ethernet (one 802.1Q tag at most) and raw IP frames of plain IPv4/IPv6
        with TCP or UDP, and ARP, are decoded here (fastpath.py's rules);
        returns the positions of the others, which the readable decoder
        must do (:meth:`fill`).
        """
        cdef Py_ssize_t k = offs.shape[0], i
        slow_a = np.zeros(k, dtype=np.uint8)
        cdef uint8_t[::1] slow = slow_a
        cdef const uint8_t* b = &buf[0] if buf.shape[0] > 0 else NULL
        cdef int64_t lt = 1 if linktype == 1 else 101
        cdef int64_t want_ver = 4 if linktype == 228 else (6 if linktype == 229 else 0)
        cdef Frames fr = _frames(inp, None, None)
        with nogil:
            for i in range(k):
                fr.inp[I_FRAME * fr.si + i] = first + i
                fr.inp[I_TS * fr.si + i] = ts[i]
                fr.inp[I_CAPLEN * fr.si + i] = caps[i]
                fr.inp[I_WIRELEN * fr.si + i] = wires[i]
                fr.inp[I_IFACE * fr.si + i] = 0
                fr.inp[I_LINKTYPE * fr.si + i] = linktype
                fr.inp[I_COMMENT * fr.si + i] = -1
                if not self._decode_one(b, offs[i], caps[i], wires[i], lt, want_ver, &fr, i):
                    slow[i] = 1
        return np.flatnonzero(slow_a)

    cdef bint _decode_one(self, const uint8_t* b, int64_t o, int64_t cap, int64_t wire, int64_t linktype,
                          int64_t want_ver, Frames* fr, Py_ssize_t i) noexcept nogil:
        cdef int64_t n = o + cap, uncaptured = wire - cap, off = o, et, ver, vihl, ihl, total, frag, proto
        cdef int64_t ipv, l4, l4len, end, plen, hlen, p, stop, kind, ln, nb, tot, bb, ck_len, field_pos, field
        cdef int64_t mss, ws, sperm, sbytes, pseudo, ulen, sp, dp, l4v, ps, total_sum, folded, src, dst
        cdef uint64_t hi, lo, hi2, lo2
        cdef bint truncated
        cdef int c
        if linktype == 1:
            if cap < 14:
                return False
            et = _u16(b, o + 12)
            off = o + 14
            if et == 0x0806:
                # ARP: the readable decoder's row names the protocol only
                self._empty(fr, i)
                fr.inp[I_PROTO * fr.si + i] = 4
                return True
            if et == 0x8100:
                if off + 4 > n:
                    return False
                et = _u16(b, off + 2)
                off += 4
            if et == 0x0800:
                ver = 4
            elif et == 0x86DD:
                ver = 6
            else:
                return False
        else:
            if cap < 1:
                return False
            ver = b[o] >> 4
            if want_ver != 0 and ver != want_ver:
                return False
        if ver == 4:
            if off + 20 > n:
                return False
            vihl = b[off]
            ihl = (vihl & 0x0F) * 4
            if vihl >> 4 != 4 or ihl < 20 or off + ihl > n:
                return False
            total = _u16(b, off + 2)
            frag = _u16(b, off + 6)
            proto = b[off + 9]
            if total == 0 or total < ihl or (frag & 0x3FFF) != 0 or (proto != 6 and proto != 17):
                return False
            if off + total > n + uncaptured:
                total = n + uncaptured - off
            ipv = V_GOOD if _fold(_sum16(b, off, off + ihl)) == 0xFFFF else (3 if _u16(b, off + 10) == 0 else V_BAD)
            l4 = off + ihl
            l4len = total - ihl
            end = off + total
            hi = 0
            lo = <uint64_t>_u32(b, off + 12)
            hi2 = 0
            lo2 = <uint64_t>_u32(b, off + 16)
            pseudo = _u16(b, off + 12) + _u16(b, off + 14) + _u16(b, off + 16) + _u16(b, off + 18)
        elif ver == 6:
            if off + 40 > n or b[off] >> 4 != 6:
                return False
            plen = _u16(b, off + 4)
            proto = b[off + 6]
            if plen == 0 or (proto != 6 and proto != 17):
                return False
            if off + 40 + plen > n + uncaptured:
                plen = n + uncaptured - off - 40
            ipv = V_NONE
            l4 = off + 40
            l4len = plen
            end = off + 40 + plen
            hi = (<uint64_t>_u32(b, off + 8) << 32) | <uint64_t>_u32(b, off + 12)
            lo = (<uint64_t>_u32(b, off + 16) << 32) | <uint64_t>_u32(b, off + 20)
            hi2 = (<uint64_t>_u32(b, off + 24) << 32) | <uint64_t>_u32(b, off + 28)
            lo2 = (<uint64_t>_u32(b, off + 32) << 32) | <uint64_t>_u32(b, off + 36)
            pseudo = _sum16(b, off + 8, off + 40)
        else:
            return False
        truncated = end > n
        if truncated:
            end = n
        mss = ws = sperm = sbytes = -1
        if proto == 6:
            if l4 + 20 > end:
                return False
            hlen = (b[l4 + 12] >> 4) * 4
            if hlen < 20 or hlen > l4len:
                return False
            if hlen > 20:
                p = l4 + 20
                stop = min(l4 + hlen, end)
                sperm = 0
                while p < stop:
                    kind = b[p]
                    if kind == 0:
                        break
                    if kind == 1:
                        p += 1
                        continue
                    if p + 1 >= stop:
                        break
                    ln = b[p + 1]
                    if ln < 2 or p + ln > stop:
                        break
                    if kind == 2 and ln == 4:
                        mss = _u16(b, p + 2)
                    elif kind == 3 and ln == 3:
                        ws = b[p + 2]
                    elif kind == 4:
                        sperm = 1
                    elif kind == 5 and ln >= 10:
                        tot = 0
                        nb = (ln - 2) // 8
                        if nb > 3:
                            nb = 3
                        for bb in range(nb):
                            tot += (_u32(b, p + 6 + 8 * bb) - _u32(b, p + 2 + 8 * bb)) & M32
                        sbytes = tot
                    p += ln
            fr.inp[I_SPORT * fr.si + i] = _u16(b, l4)
            fr.inp[I_DPORT * fr.si + i] = _u16(b, l4 + 2)
            fr.inp[I_FLAGS * fr.si + i] = b[l4 + 13] | ((b[l4 + 12] & 1) << 8)
            fr.inp[I_SEQ * fr.si + i] = _u32(b, l4 + 4)
            fr.inp[I_ACK * fr.si + i] = _u32(b, l4 + 8)
            fr.inp[I_WINDOW * fr.si + i] = _u16(b, l4 + 14)
            fr.inp[I_PLEN * fr.si + i] = l4len - hlen
            fr.inp[I_HDRLEN * fr.si + i] = hlen
            fr.inp[I_MSS * fr.si + i] = mss
            fr.inp[I_WSCALE * fr.si + i] = ws
            fr.inp[I_SACKPERM * fr.si + i] = 1 if sperm == 1 else -1
            fr.inp[I_SACKBYTES * fr.si + i] = sbytes
            if l4 + hlen > end:
                truncated = True
            ck_len = l4len
            field_pos = l4 + 16
        else:
            if l4 + 8 > end:
                return False
            ulen = _u16(b, l4 + 4)
            sp = _u16(b, l4)
            dp = _u16(b, l4 + 2)
            if ulen < 8 or ulen > l4len:
                return False
            if dp == 4789 or sp == 2152 or dp == 2152:
                return False
            fr.inp[I_SPORT * fr.si + i] = sp
            fr.inp[I_DPORT * fr.si + i] = dp
            fr.inp[I_FLAGS * fr.si + i] = -1
            fr.inp[I_SEQ * fr.si + i] = -1
            fr.inp[I_ACK * fr.si + i] = -1
            fr.inp[I_WINDOW * fr.si + i] = -1
            fr.inp[I_PLEN * fr.si + i] = ulen - 8
            fr.inp[I_HDRLEN * fr.si + i] = -1
            fr.inp[I_MSS * fr.si + i] = -1
            fr.inp[I_WSCALE * fr.si + i] = -1
            fr.inp[I_SACKPERM * fr.si + i] = -1
            fr.inp[I_SACKBYTES * fr.si + i] = -1
            ck_len = ulen
            field_pos = l4 + 6
        # the transport checksum (checksum.transport)
        if field_pos + 2 > end:
            l4v = V_UNVERIFIED
        else:
            field = _u16(b, field_pos)
            if proto == 17 and field == 0:
                l4v = V_NONE if ver == 4 else V_BAD
            elif truncated or l4 + ck_len > n:
                l4v = V_UNVERIFIED
            else:
                ps = pseudo + (ck_len >> 16) + (ck_len & 0xFFFF) + proto
                total_sum = _fold(ps + _sum16(b, l4, l4 + ck_len))
                if total_sum == 0xFFFF:
                    l4v = V_GOOD
                else:
                    folded = _fold(ps)
                    if field == 0 or field == folded or field == ((~folded) & 0xFFFF):
                        l4v = 3
                    else:
                        l4v = V_BAD
        fr.inp[I_PROTO * fr.si + i] = P_TCP if proto == 6 else P_UDP
        fr.inp[I_IPVER * fr.si + i] = ver
        fr.inp[I_SRC * fr.si + i] = self.address(ver, hi, lo)
        fr.inp[I_DST * fr.si + i] = self.address(ver, hi2, lo2)
        fr.inp[I_IPCK * fr.si + i] = ipv
        fr.inp[I_L4CK * fr.si + i] = l4v
        fr.inp[I_FRAG * fr.si + i] = FR_NONE
        fr.inp[I_TRUNC * fr.si + i] = 1 if truncated else 0
        fr.inp[I_MALFORMED * fr.si + i] = M_NONE
        fr.inp[I_OKIND * fr.si + i] = 0
        fr.inp[I_OSRC * fr.si + i] = -1
        fr.inp[I_OSPORT * fr.si + i] = -1
        fr.inp[I_ODST * fr.si + i] = -1
        fr.inp[I_ODPORT * fr.si + i] = -1
        return True

    cdef void _empty(self, Frames* fr, Py_ssize_t i) noexcept nogil:
        cdef int c
        for c in range(I_PROTO, NIN):
            fr.inp[c * fr.si + i] = -1
        fr.inp[I_IPCK * fr.si + i] = V_NONE
        fr.inp[I_L4CK * fr.si + i] = V_NONE
        fr.inp[I_FRAG * fr.si + i] = FR_NONE
        fr.inp[I_TRUNC * fr.si + i] = 0
        fr.inp[I_MALFORMED * fr.si + i] = M_NONE
        fr.inp[I_OKIND * fr.si + i] = 0

    # -- streams ----------------------------------------------------------

    cdef int64_t _new_stream(self, int64_t kind) noexcept nogil:
        cdef Stream s
        cdef vector[Unacked] empty
        cdef int64_t number = self.counters[kind]
        self.counters[kind] += 1
        _fresh(&s)
        if kind == 1:
            if number < <int64_t>self.given_tcp.size() and self.given_tcp[number] >= 0:
                s.rank = 4
                s.who = self.given_tcp[number]
            self.tcp.push_back(s)
            self.una.push_back(empty)
            self.una.push_back(empty)
        else:
            if number < <int64_t>self.given_udp.size() and self.given_udp[number] >= 0:
                s.rank = 4
                s.who = self.given_udp[number]
            self.udp.push_back(s)
        return number

    cdef int64_t _conversation(self, int64_t kind, int64_t src, int64_t sport, int64_t dst, int64_t dport,
                               int64_t* side) noexcept nogil:
        """The id of a four-tuple's conversation (numbering new ones) and which side (0/1) sends."""
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
        c = <int64_t>self.conv_cur.size()
        self.convs.add(ka, kb, c)
        self.conv_cur.push_back(-1)
        self.conv_base.push_back(0)
        self.conv_base.push_back(0)
        self.conv_has.push_back(0)
        self.conv_has.push_back(0)
        self.conv_request.push_back(0)
        self.conv_pending.push_back(0)
        return c

    # -- the pass over frames ---------------------------------------------

    def analyse(self, int64_t[:, :] inp, int64_t[:, :] out, double[:, :] fout, Py_ssize_t count):
        """Analyse the first *count* frames of *inp* (the next ones of the capture) into *out* and *fout*."""
        cdef Py_ssize_t i
        cdef Frames fr = _frames(inp, out, fout)
        with nogil:
            for i in range(count):
                self._frame(&fr, i)

    cdef void _frame(self, Frames* fr, Py_ssize_t i) noexcept nogil:
        cdef int64_t frame = fr.inp[I_FRAME * fr.si + i], now = fr.inp[I_TS * fr.si + i], proto = fr.inp[I_PROTO * fr.si + i]
        cdef int64_t src = fr.inp[I_SRC * fr.si + i], dst = fr.inp[I_DST * fr.si + i], sport = fr.inp[I_SPORT * fr.si + i], dport = fr.inp[I_DPORT * fr.si + i]
        cdef int64_t f = fr.inp[I_FLAGS * fr.si + i], sq = fr.inp[I_SEQ * fr.si + i], ak = fr.inp[I_ACK * fr.si + i]
        cdef int64_t plen_raw = fr.inp[I_PLEN * fr.si + i], frag = fr.inp[I_FRAG * fr.si + i], mal = fr.inp[I_MALFORMED * fr.si + i]
        cdef int64_t plen = plen_raw if plen_raw >= 0 else 0
        cdef int64_t kind = 0, okind = fr.inp[I_OKIND * fr.si + i], c, s = -1, stream = -1, fc = -1, oside, rs, ra
        cdef int64_t labels = 0, ipv, l4v, code = -1, e, bit, place, topic, k, first_seen, base
        cdef bint synonly, synack, known
        cdef Stream* rec = NULL
        cdef int64_t* tally
        if f < 0:
            f = 0
        if sq < 0:
            sq = 0
        if ak < 0:
            ak = 0
        self.packets += 1
        if self.first_ts == -1:
            self.first_ts = now
        self.last_ts = now
        if proto == P_TCP:
            self.tcp_packets += 1
        elif proto == P_UDP:
            self.udp_packets += 1
        # ---- stream numbering (streams.assign)
        if okind != 0:
            # the flow an ICMP error quotes (or a tunnel's outer UDP) is numbered too
            c = self._conversation(okind, fr.inp[I_OSRC * fr.si + i], fr.inp[I_OSPORT * fr.si + i], fr.inp[I_ODST * fr.si + i], fr.inp[I_ODPORT * fr.si + i],
                                   &oside)
            if self.conv_cur[c] == -1:
                self.conv_cur[c] = self._new_stream(okind)
        if sport >= 0:
            if proto == P_TCP:
                kind = 1
            elif proto == P_UDP:
                kind = 2
        fr.out[O_REUSED * fr.so + i] = 0
        fr.out[O_REL_SEQ * fr.so + i] = -1
        fr.out[O_REL_ACK * fr.so + i] = -1
        fr.out[O_NEXT_REL_SEQ * fr.so + i] = -1
        synonly = (f & (SYN | ACK)) == SYN
        synack = (f & (SYN | ACK)) == (SYN | ACK)
        if kind != 0:
            c = self._conversation(kind, src, sport, dst, dport, &s)
            if self.conv_cur[c] == -1:
                self.conv_cur[c] = self._new_stream(kind)
            if kind == 2:
                if self.conv_pending[c] and sport == SNMP_PORT:
                    self.conv_pending[c] = 0
                    self.conv_cur[c] = self._new_stream(2)
                elif dport == SNMP_PORT and not self.conv_request[c]:
                    self.conv_pending[c] = 1
                    self.conv_request[c] = 1
                stream = self.conv_cur[c]
            else:
                if synonly and self.conv_has[2 * c + s] and sq != self.conv_base[2 * c + s]:
                    self.conv_cur[c] = self._new_stream(1)
                    self.conv_has[2 * c] = 0
                    self.conv_has[2 * c + 1] = 0
                    fr.out[O_REUSED * fr.so + i] = 1
                elif synack and self.conv_has[2 * c + s] and sq != self.conv_base[2 * c + s]:
                    self.conv_base[2 * c + s] = sq
                    fr.out[O_REUSED * fr.so + i] = 1
                stream = self.conv_cur[c]
                known = (fr.inp[I_HDRLEN * fr.si + i] >= 0 and plen_raw >= 0 and mal != M_TCP
                         and frag != FR_FIRST and frag != FR_NON_FIRST)
                if not known:
                    rs = sq
                    ra = ak
                else:
                    if not self.conv_has[2 * c + s]:
                        self.conv_base[2 * c + s] = sq if (f & SYN) else (sq - 1) & M32
                        self.conv_has[2 * c + s] = 1
                    rs = (sq - self.conv_base[2 * c + s]) & M32
                    if f & ACK:
                        if not self.conv_has[2 * c + 1 - s]:
                            self.conv_base[2 * c + 1 - s] = (ak - 1) & M32
                            self.conv_has[2 * c + 1 - s] = 1
                        ra = (ak - self.conv_base[2 * c + 1 - s]) & M32
                    else:
                        ra = ak
                fr.out[O_REL_SEQ * fr.so + i] = rs
                fr.out[O_REL_ACK * fr.so + i] = ra
                if plen_raw >= 0:
                    fr.out[O_NEXT_REL_SEQ * fr.so + i] = (rs + plen + ((f & SYN) != 0) + ((f & FIN) != 0)) & M32
        fr.out[O_STREAM * fr.so + i] = stream
        # ---- client and server (streams.roles)
        if stream >= 0:
            rec = &self.tcp[stream] if kind == 1 else &self.udp[stream]
            if rec.first_frame < 0:
                rec.first_frame = frame
                rec.start = now
                rec.first_src = src
                rec.first_dst = dst
                rec.first_sport = sport
                rec.first_dport = dport
                rec.first_side = s
                rec.reused = fr.out[O_REUSED * fr.so + i]
            rec.last_frame = frame
            rec.end = now
            if rec.rank < 4:
                if kind == 1 and synonly and rec.rank < 3:
                    self._decide(rec, 3, s)
                elif kind == 1 and synack and rec.rank < 2:
                    self._decide(rec, 2, 1 - s)
                elif rec.rank < 1:
                    # the ports of side 0 and side 1, from this first frame
                    if s == 0:
                        k = _server_side_by_ports(sport, dport)
                    else:
                        k = _server_side_by_ports(dport, sport)
                    self._decide(rec, 1, s if k < 0 else 1 - k)
            fc = 1 if s == rec.who else 0
        fr.out[O_FROM_CLIENT * fr.so + i] = fc
        # ---- phase, then the sequence analysis (rules/phase.py, rules/sequence.py)
        fr.out[O_DUP_NUM * fr.so + i] = -1
        fr.out[O_DUP_OF * fr.so + i] = -1
        fr.out[O_ACKS_FRAME * fr.so + i] = -1
        fr.out[O_BIF * fr.so + i] = -1
        fr.out[O_RTO_FRAME * fr.so + i] = -1
        fr.out[O_WSIZE * fr.so + i] = fr.inp[I_WINDOW * fr.si + i]
        fr.fout[F_RTT * fr.sf + i] = NAN
        fr.fout[F_RTO * fr.sf + i] = NAN
        fr.fout[F_IRTT * fr.sf + i] = NAN
        if kind == 1:
            if f & RST:
                code = PH_RST
            elif synonly:
                code = PH_SYN
            elif synack:
                code = PH_SYN_ACK
            elif f & FIN:
                code = PH_FIN
            elif plen > 0:
                code = PH_DATA
            else:
                code = PH_ACK
            if rec.hs_state == 0:
                if code == PH_SYN_ACK and not fc:
                    rec.hs_isn = sq
                    rec.hs_state = 1
            elif rec.hs_state == 1:
                if fc and f & (SYN | RST | FIN) == 0 and f & ACK != 0 and ak == (rec.hs_isn + 1) & M32:
                    code = PH_HANDSHAKE_ACK
                    rec.hs_state = 2
            if code == PH_SYN_ACK:
                rec.syn_ack_any = 1
            if not self.facts_only:
                labels = self._sequence(rec, stream, s, fr, i, f, sq, ak, plen)
        fr.out[O_PHASE * fr.so + i] = code
        # ---- how far the frame was decoded (rules/decoding.py)
        if fr.out[O_REUSED * fr.so + i]:
            labels |= L_REUSED
        if fr.inp[I_TRUNC * fr.si + i]:
            labels |= L_TRUNC
            self.truncated_frames += 1
        if mal != M_NONE:
            labels |= L_MALFORMED
            self.malformed_frames += 1
        # ---- checksums (rules/checksums.py): maybe-offloaded is offloaded; a sender
        # known to offload sends offloaded checksums, not bad ones
        ipv = fr.inp[I_IPCK * fr.si + i]
        l4v = fr.inp[I_L4CK * fr.si + i]
        if (l4v == V_GOOD or l4v == V_BAD or l4v == V_OFFLOADED) and src >= 0 and dst >= 0:
            tally = &self.tally[5 * src]
            tally[0] += 1
            if l4v != V_GOOD:
                tally[1] += 1
            if l4v == V_BAD:
                tally[2] += 1
            tally = &self.tally[5 * dst]
            tally[3] += 1
            if l4v != V_GOOD:
                tally[4] += 1
        if self.facts_only:
            return
        if l4v == V_BAD and src >= 0 and self.addr_offloads[src]:
            l4v = V_OFFLOADED
        if ipv == V_BAD:
            labels |= L_BAD_IP
        if l4v == V_BAD and proto == P_TCP:
            labels |= L_BAD_TCP
        if l4v == V_BAD and proto == P_UDP:
            labels |= L_BAD_UDP
        if l4v == V_OFFLOADED or ipv == V_OFFLOADED:
            labels |= L_OFFLOADED
        fr.out[O_IPCK * fr.so + i] = ipv
        fr.out[O_L4CK * fr.so + i] = l4v
        fr.out[O_LABELS * fr.so + i] = labels
        for k in range(1, 5):
            if ipv == k or l4v == k:
                self.ck_counts[k] += 1
        if ipv == V_OFFLOADED or l4v == V_OFFLOADED:
            self.ck_offloaded += 1
            if src >= 0:
                self.addr_offloaded_seen[src] = 1
        if ipv == V_BAD or l4v == V_BAD:
            self.ck_bad += 1
            if self.ck_bad_frames.size() < BAD_FRAMES_LISTED:
                self.ck_bad_frames.push_back(frame)
        # ---- the streams table's counts (summary.StreamFacts)
        if stream >= 0:
            e = 0 if fc else 1
            rec.packets[e] += 1
            rec.nbytes[e] += plen
            if code == PH_SYN and fc and rec.syn_frame < 0:
                rec.syn_frame = frame
                rec.syn_seq = sq
            elif code == PH_SYN_ACK and not fc and rec.sa_frame < 0:
                rec.sa_frame = frame
                rec.sa_seq = sq
            elif code == PH_HANDSHAKE_ACK and rec.ha_frame < 0:
                rec.ha_frame = frame
            if kind == 1:
                _zeek(rec, f, plen, e)
            for bit in range(NSEQ):
                if labels >> bit & 1:
                    rec.counts[15 * e + bit] += 1
            if labels & RETR:
                rec.retrans_bytes[e] += plen
            if ipv == V_BAD or l4v == V_BAD:
                rec.bad_ck[e] += 1
            if ipv == V_OFFLOADED or l4v == V_OFFLOADED:
                rec.off_ck[e] += 1
            if not isnan(fr.fout[F_IRTT * fr.sf + i]) and (isnan(rec.irtt_max) or fr.fout[F_IRTT * fr.sf + i] > rec.irtt_max):
                rec.irtt_max = fr.fout[F_IRTT * fr.sf + i]
            if labels & DUP:
                rec.dup_frame[s] = frame
                rec.dup_rel_ack[s] = fr.out[O_REL_ACK * fr.so + i]
                rec.dup_num[s] = fr.out[O_DUP_NUM * fr.so + i]
        # ---- the notable frames (report.documents.EventDigest)
        if labels & ~self.leave_out:
            topic = -1
            for k in range(NTOPICS):
                if labels >> TOPIC_BITS[k] & 1:
                    topic = TOPIC_BITS[k]
                    break
            for bit in range(NLABELS):
                if not (labels >> bit & 1) or (self.leave_out >> bit & 1):
                    continue
                if self.lab_count[bit] == 0:
                    self.lab_at_frame[bit] = frame
                    self.lab_at_place[bit] = __builtin_popcountll(<unsigned long long>(labels & ((1 << bit) - 1)))
                self.lab_count[bit] += 1
                if self.lab_nframes[bit] < FRAMES_LISTED:
                    self.lab_frames[bit * FRAMES_LISTED + self.lab_nframes[bit]] = frame
                    self.lab_nframes[bit] += 1
                if stream >= 0 and not (rec.label_seen >> bit & 1):
                    rec.label_seen |= (<uint64_t>1) << bit
                    if self.lab_nstreams[bit] < STREAMS_LISTED:
                        k = bit * STREAMS_LISTED * 2 + 2 * self.lab_nstreams[bit]
                        self.lab_streams[k] = kind - 1
                        self.lab_streams[k + 1] = stream
                    self.lab_nstreams[bit] += 1
                if self.lab_example[2 * bit] < 0:
                    self.lab_example[2 * bit] = frame
                    self._snapshot(bit, 0, fr, i, rec, s)
                if self.lab_example[2 * bit + 1] < 0 and topic == bit:
                    self.lab_example[2 * bit + 1] = frame
                    self._snapshot(bit, 1, fr, i, rec, s)

    cdef void _decide(self, Stream* rec, int64_t rank, int64_t who) noexcept nogil:
        if rec.rank > 0 and who != rec.who:
            rec.turned = 1
        rec.rank = rank
        rec.who = who

    cdef void _snapshot(self, int64_t bit, int64_t slot, Frames* fr, Py_ssize_t i, Stream* rec,
                        int64_t s) noexcept nogil:
        cdef int c
        for c in range(NIN):
            self.snap_i[bit, slot, c] = fr.inp[c * fr.si + i]
        for c in range(NOUT):
            self.snap_i[bit, slot, NIN + c] = fr.out[c * fr.so + i]
        for c in range(NF):
            self.snap_f[bit, slot, c] = fr.fout[c * fr.sf + i]
        if rec != NULL and s >= 0:
            self.snap_i[bit, slot, SNAP_DUP] = rec.dup_frame[1 - s]
            self.snap_i[bit, slot, SNAP_DUP + 1] = rec.dup_rel_ack[1 - s]
            self.snap_i[bit, slot, SNAP_DUP + 2] = rec.dup_num[1 - s]

    cdef int64_t _sequence(self, Stream* rec, int64_t stream, int64_t s, Frames* fr, Py_ssize_t i, int64_t f,
                           int64_t sq, int64_t ak, int64_t seglen) noexcept nogil:
        """Wireshark's sequence analysis of one TCP segment (rules/sequence.py); returns its label bits."""
        cdef int64_t o = 1 - s, now = fr.inp[I_TS * fr.si + i], frame = fr.inp[I_FRAME * fr.si + i]
        cdef int64_t win = fr.inp[I_WINDOW * fr.si + i], wscale = fr.inp[I_WSCALE * fr.si + i]
        cdef int64_t sack = fr.inp[I_SACKBYTES * fr.si + i]
        cdef int64_t got = 0, nxt, mx, dt, dn, thr, full_end, dts, end, end_, sh, found, found_t, first, last
        cdef int64_t a1, a2, inflight, base
        cdef bint known, same_ack, syn_fin, occupies, not_adv, zwp
        cdef Endpoint* es = &rec.ep[s]
        cdef Endpoint* eo = &rec.ep[o]
        cdef vector[Unacked]* us = &self.una[2 * stream + s]
        cdef vector[Unacked]* uo = &self.una[2 * stream + o]
        cdef Unacked u
        cdef size_t j, keep, n_o
        if win < 0:
            win = 0
        if wscale < 0:
            wscale = -1
        if sack < 0:
            sack = 0
        known = (fr.inp[I_PLEN * fr.si + i] >= 0 and fr.inp[I_MALFORMED * fr.si + i] == M_NONE
                 and fr.inp[I_FRAG * fr.si + i] != FR_FIRST and fr.inp[I_FRAG * fr.si + i] != FR_NON_FIRST)
        if known:
            if es.base_set == 0:
                es.base = (sq - fr.out[O_REL_SEQ * fr.so + i]) & M32
                es.base_set = 1
            if f & ACK:
                eo.valid_bif = 1
            nxt = es.nextseq
            same_ack = seglen == 0 and sq == nxt and ak == es.lastack and (f & SFR) == 0
            # the ordered checks; some end the flag checks for this packet
            if seglen == 1 and sq == nxt and eo.window == 0:
                got |= ZWP
            else:
                if win == 0 and (f & SFR) == 0:
                    got |= ZW
                if nxt != 0 and ((nxt - sq) & M32) >= HALF and (f & RST) == 0:
                    got |= LOST
                    es.valid_bif = 0
                if seglen <= 1 and sq == ((nxt - 1) & M32) and (f & SFR) == 0:
                    got |= KA
                    if eo.window == 0:
                        got |= WPROBE
                if win != 0 and win != es.window and same_ack:
                    got |= WU
                if seglen > 0 and eo.win_scale != -1 and (f & SFR) == 0:
                    sh = 0
                    if eo.first_ack == 0 and eo.win_scale != -2:
                        sh = eo.win_scale
                    if ((sq + seglen) & M32) == ((eo.lastack + (eo.window << sh)) & M32):
                        got |= WF
                if win != 0 and win == es.window and (eo.lastflags & KA) and same_ack:
                    got |= KAACK
                elif win == 0 and es.window == 0 and (eo.lastflags & ZWP) and same_ack:
                    got |= ZWPACK
                elif win != 0 and win == es.window and same_ack:
                    es.dupacknum = 1 if es.dupacknum == -1 else es.dupacknum + 1
                    got |= DUP
                    fr.out[O_DUP_NUM * fr.so + i] = es.dupacknum
                    fr.out[O_DUP_OF * fr.so + i] = es.lastnondup
            if ak != es.lastack:
                es.lastnondup = frame
                es.dupacknum = 0
            # an ACK of data never seen
            mx = eo.maxseq
            if mx != 0 and (f & ACK) and ((mx - ak) & M32) >= HALF:
                if ((mx - eo.nextseq) & M32) >= HALF:
                    eo.maxseq = eo.nextseq
                    got |= ACKLOST
                else:
                    if eo.dupacknum == 0:
                        got |= ACKLOST
                    eo.dupacknum = -1
            syn_fin = (f & (SYN | FIN)) != 0
            occupies = seglen > 0 or syn_fin
            if occupies and (got & KA) == 0:
                not_adv = nxt != 0 and ((sq - nxt) & M32) >= HALF
                if seglen > 1 and sq == ((nxt - 1) & M32):
                    not_adv = False
                end_ = (sq + seglen) & M32
                if seglen > 0 and eo.lastack != 0 and ((eo.lastack - end_) & M32) < HALF:
                    got |= SPUR | RETR
                elif not_adv:
                    dt = now - eo.lastacktime
                    dn = eo.dupacknum
                    thr = rec.irtt if rec.irtt != 0 else OOO_DEFAULT_NS
                    full_end = (sq + seglen + (1 if syn_fin else 0)) & M32
                    dts = now - es.nextseqtime
                    if (dn >= 2 or dn == -1) and eo.lastack == sq and 0 <= dt < FAST_RETRANS_NS:
                        got |= FAST | RETR
                    elif 0 <= dts < thr and nxt != full_end:
                        got |= OOO
                    else:
                        got |= RETR
                        if us.size() > 0:
                            fr.fout[F_RTO * fr.sf + i] = (now - us[0][0].time) / 1e9
                            fr.out[O_RTO_FRAME * fr.so + i] = us[0][0].frame
                        else:
                            fr.fout[F_RTO * fr.sf + i] = (now - es.nextseqtime) / 1e9
                            fr.out[O_RTO_FRAME * fr.so + i] = es.nextseqframe
            end = (sq + seglen) & M32
            if occupies and us.size() < MAX_UNACKED:
                if syn_fin:
                    end = (end + 1) & M32
                u.frame = frame
                u.seq = sq
                u.end = end
                u.time = now
                us.push_back(u)
            zwp = (got & ZWP) != 0
            if (es.nextseq == 0 or ((es.nextseq - end) & M32) >= HALF) and not zwp:
                es.nextseq = end
                es.nextseqtime = now
                es.nextseqframe = frame
            if (es.maxseq == 0 or sq == es.maxseq) and not zwp:
                es.maxseq = es.nextseq
            es.window = win
            es.lastack = ak
            es.lastacktime = now
            es.lastflags = got
            # this ack against the peer's unacknowledged segments, newest first
            n_o = uo.size()
            found = -1
            found_t = 0
            j = n_o
            while j > 0:
                j -= 1
                if ak == uo[0][j].end:
                    found = uo[0][j].frame
                    found_t = uo[0][j].time
                    uo[0][j].frame = -1
                elif ((uo[0][j].seq - ak) & M32) >= HALF and ((uo[0][j].end - ak) & M32) < HALF:
                    uo[0][j].seq = ak
                elif ((ak - uo[0][j].end) & M32) >= HALF:
                    pass
                else:
                    uo[0][j].frame = -1
            if found >= 0:
                fr.out[O_ACKS_FRAME * fr.so + i] = found
                fr.fout[F_RTT * fr.sf + i] = (now - found_t) / 1e9
            keep = 0
            for j in range(n_o):
                if uo[0][j].frame != -1:
                    if keep != j:
                        uo[0][keep] = uo[0][j]
                    keep += 1
            uo.resize(keep)
            if seglen and es.valid_bif and us.size() > 0 and self.per_frame:
                base = es.base
                first = M32 + 1
                last = -1
                for j in range(us.size()):
                    a1 = (us[0][j].seq - base) & M32
                    a2 = (us[0][j].end - base) & M32
                    if a1 < first:
                        first = a1
                    if a2 > last:
                        last = a2
                inflight = last - first - eo.sack
                if 0 < inflight < 2_000_000_000:
                    fr.out[O_BIF * fr.so + i] = inflight - (1 if syn_fin else 0)
        if (f & SYN) == 0 and es.win_scale >= 0 and fr.inp[I_WINDOW * fr.si + i] >= 0:
            fr.out[O_WSIZE * fr.so + i] = win << es.win_scale
        if f & SYN:
            es.first_ack = 1
            if (f & ACK) == 0:
                rec.last_syn = now
        elif f & ACK:
            if rec.last_syn != 0 and rec.irtt == 0:
                rec.irtt = now - rec.last_syn
            es.first_ack = 0
        if rec.irtt != 0:
            fr.fout[F_IRTT * fr.sf + i] = rec.irtt / 1e9
        es.sack = sack
        if wscale >= 0:
            es.win_scale = min(wscale, 14)
        if f & SYN:
            if es.win_scale == -1:
                es.win_scale = -2
                eo.win_scale = -2
            elif (f & ACK) and eo.win_scale == -2:
                es.win_scale = -2
        return got

    # -- what the pass found ---------------------------------------------

    def turned(self):
        """(proto code, stream, client side) of streams whose client the pass turned round."""
        out = []
        cdef Py_ssize_t n
        for n in range(<Py_ssize_t>self.tcp.size()):
            if self.tcp[n].turned:
                out.append((P_TCP, n, self.tcp[n].who))
        for n in range(<Py_ssize_t>self.udp.size()):
            if self.udp[n].turned:
                out.append((P_UDP, n, self.udp[n].who))
        return out

    def offloaders(self, int64_t consistent_min):
        """Ids of senders all of whose checksums failed (at least *consistent_min*) while all they
        received was right; and whether any of them sent a checksum labelled bad."""
        ids = []
        relabel = False
        cdef Py_ssize_t a
        cdef int64_t* t
        for a in range(<Py_ssize_t>self.addr_ver.size()):
            t = &self.tally[5 * a]
            if t[0] >= consistent_min and t[1] == t[0] and t[3] > 0 and t[4] == 0:
                ids.append(a)
                if t[2] > 0 and not self.addr_offloads[a]:
                    relabel = True
        return ids, relabel

    def streams(self, int64_t proto):
        """The streams of one protocol (0 tcp, 1 udp) that have frames, as columns (see :data:`STREAM_FIELDS`),
        each side's sequence label counts (streams x 2 x 15) and the initial RTTs."""
        cdef vector[Stream]* v = &self.tcp if proto == P_TCP else &self.udp
        cdef Py_ssize_t n = v.size(), j, m = 0, e, b, k = 0
        for j in range(n):
            if v[0][j].first_frame >= 0:
                m += 1
        table_a = np.zeros((len(STREAM_FIELDS), m), dtype=np.int64)
        labels_a = np.empty((m, 2, SEQUENCE_LABELS), dtype=np.int64)
        irtt_a = np.empty(m, dtype=np.float64)
        cdef int64_t[:, ::1] t = table_a
        cdef int64_t[:, :, ::1] lab = labels_a
        cdef double[::1] irtt = irtt_a
        cdef Stream* r
        cdef bint client_first
        for j in range(n):
            r = &v[0][j]
            if r.first_frame < 0:
                continue
            client_first = r.first_side == r.who
            t[S_STREAM, k] = j
            t[S_CLIENT, k] = r.first_src if client_first else r.first_dst
            t[S_SERVER, k] = r.first_dst if client_first else r.first_src
            t[S_CLIENT_PORT, k] = r.first_sport if client_first else r.first_dport
            t[S_SERVER_PORT, k] = r.first_dport if client_first else r.first_sport
            t[S_FIRST_FRAME, k] = r.first_frame
            t[S_LAST_FRAME, k] = r.last_frame
            t[S_START, k] = r.start
            t[S_END, k] = r.end
            t[S_SYN_FRAME, k] = r.syn_frame
            t[S_SYN_SEQ, k] = r.syn_seq
            t[S_SA_FRAME, k] = r.sa_frame
            t[S_SA_SEQ, k] = r.sa_seq
            t[S_HA_FRAME, k] = r.ha_frame
            t[S_REUSED, k] = r.reused
            t[S_COMPLETENESS, k] = r.completeness
            t[S_HIST_LEN, k] = r.hist_len
            for e in range(2):
                t[S_PACKETS + e, k] = r.packets[e]
                t[S_BYTES + e, k] = r.nbytes[e]
                t[S_RETRANS_BYTES + e, k] = r.retrans_bytes[e]
                t[S_BAD + e, k] = r.bad_ck[e]
                t[S_OFFLOADED + e, k] = r.off_ck[e]
                t[S_STATE + e, k] = r.zstate[e]
                for b in range(NSEQ):
                    lab[k, e, b] = r.counts[15 * e + b]
            for b in range(12):
                t[S_HIST + b, k] = r.hist[b] if b < r.hist_len else 0
            irtt[k] = r.irtt_max
            k += 1
        return table_a, labels_a, irtt_a

    def accepted(self, int64_t stream):
        """Whether TCP stream *stream* had a SYN-ACK."""
        return bool(self.tcp[stream].syn_ack_any) if 0 <= stream < <int64_t>self.tcp.size() else False

    def checksum_counts(self):
        """Frames per verdict (good, bad, offloaded, unverified), the offloaded and bad ones, the first
        bad frames, and the ids of the senders of offloaded ones."""
        hosts = [a for a in range(<Py_ssize_t>self.addr_ver.size()) if self.addr_offloaded_seen[a]]
        return ({"good": self.ck_counts[V_GOOD], "bad": self.ck_counts[V_BAD],
                 "offloaded": self.ck_counts[V_OFFLOADED], "unverified": self.ck_counts[V_UNVERIFIED]},
                self.ck_offloaded, self.ck_bad, [f for f in self.ck_bad_frames], hosts)

    def notable(self):
        """Per label carrying frames: count, first occurrence (frame, place), frames listed,
        streams listed and how many streams, and the example frames' rows (in, out, float columns)."""
        out = {}
        cdef int bit
        for bit in range(NLABELS):
            if self.lab_count[bit] == 0:
                continue
            out[LABELS[bit]] = {
                "count": self.lab_count[bit],
                "at": (self.lab_at_frame[bit], self.lab_at_place[bit]),
                "frames": [self.lab_frames[bit * FRAMES_LISTED + k] for k in range(self.lab_nframes[bit])],
                "streams": [(PROTOS[self.lab_streams[bit * STREAMS_LISTED * 2 + 2 * k]],
                             self.lab_streams[bit * STREAMS_LISTED * 2 + 2 * k + 1])
                            for k in range(min(self.lab_nstreams[bit], STREAMS_LISTED))],
                "nstreams": self.lab_nstreams[bit],
                "first": self.lab_example[2 * bit], "about": self.lab_example[2 * bit + 1],
            }
        return out, self._snap_i_array, self._snap_f_array


_VERDICT_IN = {None: V_NONE, "good": V_GOOD, "bad": V_BAD, "maybe_offloaded": 3, "offloaded": V_OFFLOADED,
               "unverified": V_UNVERIFIED}
NSNAP_COLUMNS = NSNAP
SNAP_CONTEXT = SNAP_DUP



# ---------------------------------------------------------------------------
# The explain column, written in one pass over a whole capture's columns
# (explain.py is the readable form of these sentences and the reference the
# tests hold this to, frame by frame)

from libc.stdlib cimport abort, free, realloc
from libc.string cimport strlen
from libc.math cimport isinf, rint, signbit
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef extern from *:
    """
    #include <charconv>
    /* the shortest round-trip digits of x in scientific notation (d.ddde+XX); returns the length */
    static inline int pcapan_shortest(double x, char* buf) {
        std::to_chars_result r = std::to_chars(buf, buf + 40, x, std::chars_format::scientific);
        return (int)(r.ptr - buf);
    }
    """
    int pcapan_shortest(double x, char* buf) nogil

cdef const char* _WHO[3]
cdef const char* _WHO_LOWER[3]
cdef const char* _PEER[3]
_WHO[:] = [b"Sender", b"Server", b"Client"]          # by from_client + 1: unknown, server, client
_WHO_LOWER[:] = [b"sender", b"server", b"client"]
_PEER[:] = [b"receiver", b"client", b"server"]
cdef const char* _ORDINALS[11]
_ORDINALS[:] = [b"", b"First", b"Second", b"Third", b"Fourth", b"Fifth", b"Sixth", b"Seventh", b"Eighth",
                b"Ninth", b"Tenth"]
# the notes after a sentence, first present (and not the sentence's own topic) wins
cdef int _NOTE_BITS[7]
_NOTE_BITS[:] = [18, 19, 20, 21, 1, 6, 16]


cdef struct Buf:                 # a growing byte buffer (malloc'd; no zero-filling as a vector's resize does)
    char* p
    size_t n, cap


cdef void _reserve(Buf* b, size_t extra) noexcept nogil:
    cdef size_t want = b.n + extra
    cdef char* grown
    if want <= b.cap:
        return
    want = max(want, 2 * b.cap)
    grown = <char*>realloc(b.p, want)
    if grown == NULL:
        abort()
    b.p = grown
    b.cap = want


cdef inline void _putn(Buf* b, const char* s, size_t k) noexcept nogil:
    _reserve(b, k)
    memcpy(b.p + b.n, s, k)
    b.n += k


cdef inline void _put(Buf* b, const char* s) noexcept nogil:
    _putn(b, s, strlen(s))


cdef inline void _putc(Buf* b, char c) noexcept nogil:
    _reserve(b, 1)
    b.p[b.n] = c
    b.n += 1


cdef inline void _put_int(Buf* b, int64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef int k = 24
    cdef uint64_t u
    cdef bint negative = v < 0
    u = <uint64_t>(-(v + 1)) + 1 if negative else <uint64_t>v
    while True:
        k -= 1
        tmp[k] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    if negative:
        k -= 1
        tmp[k] = b'-'
    _putn(b, tmp + k, 24 - k)


cdef const char* _PAIRS = (b"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                          b"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                          b"8081828384858687888990919293949596979899")


cdef inline int _width(uint64_t u) noexcept nogil:
    cdef int k = 1
    while u >= 10000:
        u //= 10000
        k += 4
    if u >= 1000:
        return k + 3
    if u >= 100:
        return k + 2
    if u >= 10:
        return k + 1
    return k


cdef inline char* _w_int(char* q, int64_t v) noexcept nogil:
    """Decimal digits of *v*, two at a time."""
    cdef uint64_t u, r
    cdef int k
    if v < 0:
        q[0] = b'-'
        q += 1
        u = <uint64_t>(-(v + 1)) + 1
    else:
        u = <uint64_t>v
    k = _width(u)
    q += k
    while u >= 100:
        r = (u % 100) * 2
        u //= 100
        q -= 2
        q[0] = _PAIRS[r]
        q[1] = _PAIRS[r + 1]
    if u >= 10:
        q -= 2
        q[0] = _PAIRS[2 * u]
        q[1] = _PAIRS[2 * u + 1]
    else:
        q -= 1
        q[0] = <char>(48 + u)
    return q + k


cdef int _digits(double x, char* digits, int* e10) noexcept nogil:
    """The shortest digits that read back as *x* (positive, finite), and the power of ten of the first."""
    cdef char tmp[48]
    cdef int k, nd = 0, n, e = 0
    cdef bint negative = False
    cdef int64_t ticks = <int64_t>rint(x * 1e9) if x < 1e6 else 0
    if 0 < ticks and <double>ticks / 1e9 == x:
        # a number of nanoseconds in seconds, as every time here is: its digits are those of the
        # integer (at most 15 of them, so no shorter number reads back as the same float)
        n = <int>(_w_int(digits, ticks) - digits)
        e10[0] = n - 10
        nd = n
    else:
        n = pcapan_shortest(x, tmp)
        k = 0
        while tmp[k] != b'e':
            if tmp[k] != b'.':
                digits[nd] = tmp[k]
                nd += 1
            k += 1
        k += 1
        if tmp[k] == b'-':
            negative = True
        k += 1
        while k < n:
            e = 10 * e + (tmp[k] - 48)
            k += 1
        e10[0] = -e if negative else e
    while nd > 1 and digits[nd - 1] == b'0':
        nd -= 1
    return nd


cdef void _put_layout(Buf* b, const char* digits, int nd, int e10, int low, int high, bint dot0,
                      int exp_width) noexcept nogil:
    """Digits laid out in fixed notation when low <= e10 < high (with ".0" on whole numbers if *dot0*),
    else as d.ddde+XX with at least *exp_width* exponent digits."""
    cdef int j
    if low <= e10 < high:
        if e10 < 0:
            _putn(b, b"0.", 2)
            for j in range(-e10 - 1):
                _putc(b, b'0')
            _putn(b, digits, nd)
        else:
            for j in range(e10 + 1):
                _putc(b, digits[j] if j < nd else b'0')
            if nd > e10 + 1:
                _putc(b, b'.')
                _putn(b, digits + e10 + 1, nd - e10 - 1)
            elif dot0:
                _putn(b, b".0", 2)
    else:
        _putc(b, digits[0])
        if nd > 1:
            _putc(b, b'.')
            _putn(b, digits + 1, nd - 1)
        _putc(b, b'e')
        _putc(b, b'-' if e10 < 0 else b'+')
        if e10 < 0:
            e10 = -e10
        if exp_width == 2 and e10 < 10:
            _putc(b, b'0')
        _put_int(b, e10)


cdef void _put_shortest(Buf* b, double x) noexcept nogil:
    """A float as arrow writes it as text: the shortest digits that read back as it, in fixed
    notation from 1e-6 up to 1e10, else as d.ddde+X."""
    cdef char digits[24]
    cdef int e10, nd
    if x == 0:
        _put(b, b"-0" if signbit(x) else b"0")
        return
    if x < 0:
        _putc(b, b'-')
        x = -x
    nd = _digits(x, digits, &e10)
    _put_layout(b, digits, nd, e10, -6, 10, False, 1)


cdef void _put_repr(Buf* b, double x) noexcept nogil:
    """A float as Python's repr writes it (finite; what pandas writes in csv): the shortest digits,
    fixed notation from 1e-4 up to 1e16 with ".0" on whole numbers, else d.ddde+XX."""
    cdef char digits[24]
    cdef int e10, nd
    if isinf(x):
        _put(b, b"-inf" if x < 0 else b"inf")
        return
    if x == 0:
        _put(b, b"-0.0" if signbit(x) else b"0.0")
        return
    if x < 0:
        _putc(b, b'-')
        x = -x
    nd = _digits(x, digits, &e10)
    _put_layout(b, digits, nd, e10, -4, 16, True, 2)


cdef void _put_ms(Buf* b, double seconds) noexcept nogil:
    """Seconds as milliseconds text: whole above 10 ms, one decimal above 1 ms, else two (explain.py)."""
    cdef double ms = seconds * 1000.0
    if ms >= 10:
        ms = rint(ms)
    elif ms >= 1:
        ms = rint(ms * 10) / 10
    else:
        ms = rint(ms * 100) / 100
    _put_shortest(b, ms)


cdef struct Say:                 # what one frame's sentence reads
    int64_t topic, note, phase, proto, side, flags, seq, sport, dport, rel_seq, rel_ack, plen, wsize, dup_num
    int64_t next_rel_seq, cap_len, wire_len, malformed, fragment, stream, asked
    double rto


cdef inline int64_t _z(int64_t v) noexcept nogil:
    """A missing integer (-1) read as 0, as explain.py fills them."""
    return v if v >= 0 else 0


cdef void _last_byte(Buf* b, Say* s) noexcept nogil:
    _put_int(b, (s.rel_seq + s.plen if s.next_rel_seq < 0 else s.next_rel_seq) - 1)


cdef bint _topic_sentence(Buf* b, Say* s, const char** layers) noexcept nogil:
    cdef int w = <int>s.side + 1
    cdef int64_t t = s.topic
    if t == 17:        # malformed
        if s.malformed > 0:
            _put(b, b"Malformed ")
            _put(b, layers[s.malformed])
            _put(b, b" header: pcapan cannot decode the frame past it")
        else:
            _put(b, b"Malformed header: pcapan cannot decode the frame past it")
    elif t == 15:      # reused_ports
        _put(b, _WHO[w])
        _put(b, b" opens a new connection on ports used before: SYN with new ISN ")
        _put_int(b, s.seq)
        _put(b, b" (relative 0) from port ")
        _put_int(b, s.sport)
    elif t == 11:      # spurious_retransmission
        _put(b, b"Spurious retransmission of relative seq ")
        _put_int(b, s.rel_seq)
        _put(b, b": the ")
        _put(b, _PEER[w])
        _put(b, b" had already acknowledged these bytes")
    elif t == 12:      # fast_retransmission
        _put(b, b"Fast retransmission of relative seq ")
        _put_int(b, s.rel_seq)
        _put(b, b" (")
        _put_int(b, s.plen)
        _put(b, b" bytes) after duplicate ACKs asked for it")
    elif t == 14:      # retransmission
        if isnan(s.rto):
            _put(b, b"Retransmission of relative seq ")
            _put_int(b, s.rel_seq)
            _put(b, b": these bytes were sent before")
        elif s.phase == PH_SYN:
            _put(b, b"SYN sent again after ")
            _put_ms(b, s.rto)
            _put(b, b" ms without an answer (timeout)")
        elif s.phase == PH_SYN_ACK:
            _put(b, b"SYN-ACK sent again after ")
            _put_ms(b, s.rto)
            _put(b, b" ms without the handshake ACK (timeout)")
        elif s.asked:
            _put(b, b"Retransmission of relative seq ")
            _put_int(b, s.rel_seq)
            _put(b, b", ")
            _put_ms(b, s.rto)
            _put(b, b" ms after it was first sent: loss recovery, the receiver's duplicate ACKs reported it missing")
        else:
            _put(b, b"Retransmission of relative seq ")
            _put_int(b, s.rel_seq)
            _put(b, b" after ")
            _put_ms(b, s.rto)
            _put(b, b" ms without an ACK (timeout)")
    elif t == 13:      # out_of_order
        _put(b, b"Out of order: relative seq ")
        _put_int(b, s.rel_seq)
        _put(b, b" arrives after later data (reordered on the way)")
    elif t == 0:       # zero_window_probe
        _put(b, b"Zero-window probe: the ")
        _put(b, _WHO_LOWER[w])
        _put(b, b" sends one byte at relative seq ")
        _put_int(b, s.rel_seq)
        _put(b, b" to see whether the ")
        _put(b, _PEER[w])
        _put(b, b"'s window has opened")
    elif t == 4:       # window_probe
        _put(b, b"Window probe: the ")
        _put(b, _WHO_LOWER[w])
        _put(b, b" asks whether the ")
        _put(b, _PEER[w])
        _put(b, b"'s zero window has opened (Wireshark calls it a keep-alive)")
    elif t == 3:       # keep_alive
        _put(b, b"Keep-alive: the ")
        _put(b, _WHO_LOWER[w])
        _put(b, b" asks whether the idle connection is still there")
    elif t == 8:       # zero_window_probe_ack
        _put(b, _WHO[w])
        _put(b, b" answers the zero-window probe: its window is now ")
        _put_int(b, s.wsize)
        _put(b, b" bytes")
    elif t == 7:       # keep_alive_ack
        _put(b, _WHO[w])
        _put(b, b" answers the keep-alive: the connection is still alive")
    elif t == 9:       # duplicate_ack
        if 1 <= s.dup_num <= 10:
            _put(b, _ORDINALS[s.dup_num])
            _put(b, b" duplicate ACK for relative ")
        else:
            _put(b, b"Duplicate ACK number ")
            _put_int(b, s.dup_num)
            _put(b, b" for relative ")
        _put_int(b, s.rel_ack)
        _put(b, b": the receiver is asking for that segment again")
    elif t == 10:      # ack_lost_segment
        _put(b, _WHO[w])
        _put(b, b" acknowledges up to relative ")
        _put_int(b, s.rel_ack)
        _put(b, b": data the capture never saw")
    elif t == 2:       # lost_segment
        _put(b, b"Previous segment not captured: the ")
        _put(b, _WHO_LOWER[w])
        _put(b, b"'s data jumps ahead to relative seq ")
        _put_int(b, s.rel_seq)
        _put(b, b", leaving a gap")
    elif t == 1:       # zero_window
        _put(b, b"Zero window: the ")
        _put(b, _WHO_LOWER[w])
        _put(b, b"'s receive buffer is full, the ")
        _put(b, _PEER[w])
        _put(b, b" must stop sending")
    elif t == 6:       # window_full
        _put(b, _WHO[w])
        _put(b, b"'s data fills the ")
        _put(b, _PEER[w])
        _put(b, b"'s advertised window: it must wait for an ACK before sending more")
    elif t == 5:       # window_update
        _put(b, b"Window update: the ")
        _put(b, _WHO_LOWER[w])
        _put(b, b" now advertises ")
        _put_int(b, s.wsize)
        _put(b, b" bytes, nothing new acknowledged")
    else:
        return False
    return True


cdef bint _tcp_sentence(Buf* b, Say* s, const uint8_t* accepted, int64_t naccepted) noexcept nogil:
    cdef int w = <int>s.side + 1
    cdef bint ephemeral
    if s.phase == PH_SYN:
        ephemeral = 49152 <= s.sport <= 65535 or 32768 <= s.sport <= 60999 or 1025 <= s.sport <= 5000
        _put(b, _WHO[w])
        _put(b, b" opens the connection: SYN with random ISN ")
        _put_int(b, s.seq)
        _put(b, b" (relative 0) from ephemeral port " if ephemeral else b" (relative 0) from port ")
        _put_int(b, s.sport)
    elif s.phase == PH_SYN_ACK:
        _put(b, _WHO[w])
        _put(b, b" accepts: SYN-ACK with its own ISN ")
        _put_int(b, s.seq)
        if s.rel_ack == 1:
            _put(b, b", ack = ")
            _put(b, _PEER[w])
            _put(b, b" ISN + 1 (relative 1)")
        else:
            _put(b, b", ack relative ")
            _put_int(b, s.rel_ack)
    elif s.phase == PH_HANDSHAKE_ACK:
        if s.plen > 0:
            _put(b, b"Client completes the three-way handshake and already sends ")
            _put_int(b, s.plen)
            _put(b, b" bytes: relative seq ")
            _put_int(b, s.rel_seq)
            _put(b, b" to ")
            _last_byte(b, s)
        else:
            _put(b, b"Client completes the three-way handshake: ACK = server ISN + 1 (relative 1)")
    elif s.phase == PH_DATA:
        _put(b, _WHO[w])
        _put(b, b" sends ")
        _put_int(b, s.plen)
        _put(b, b" bytes: relative seq ")
        _put_int(b, s.rel_seq)
        _put(b, b" to ")
        _last_byte(b, s)
    elif s.phase == PH_ACK:
        _put(b, _WHO[w])
        if s.flags >= 0 and s.flags & ACK:
            _put(b, b" acknowledges every byte before relative ")
            _put_int(b, s.rel_ack)
            _put(b, b": it expects ")
            _put_int(b, s.rel_ack)
            _put(b, b" next")
        else:
            _put(b, b" sends an empty segment without the ACK flag")
    elif s.phase == PH_FIN:
        _put(b, _WHO[w])
        if s.plen > 0:
            _put(b, b" sends its last ")
            _put_int(b, s.plen)
            _put(b, b" bytes with FIN: relative seq ")
            _put_int(b, s.rel_seq)
            _put(b, b" to ")
            _last_byte(b, s)
            _put(b, b", then nothing more")
        else:
            _put(b, b" closes its side: FIN at relative seq ")
            _put_int(b, s.rel_seq)
            _put(b, b", it has no more data to send")
    elif s.phase == PH_RST:
        if s.side == 0 and s.flags >= 0 and s.flags & ACK and not (
                0 <= s.stream < naccepted and accepted[s.stream]):
            _put(b, b"Server refuses the connection: RST in answer to the SYN (nothing listens on port ")
            _put_int(b, s.sport)
            _put(b, b")")
        else:
            _put(b, _WHO[w])
            _put(b, b" aborts the connection: RST, without the orderly FIN exchange")
    else:
        _put(b, b"TCP segment whose header is incomplete: not analysed")
    return True


cdef void _note_text(Buf* b, Say* s) noexcept nogil:
    cdef int w = <int>s.side + 1
    cdef int64_t n = s.note
    if n == 18:
        _put(b, b"IPv4 header checksum wrong: the receiver would drop this packet")
    elif n == 19:
        _put(b, b"TCP checksum wrong: the segment was damaged and the receiver would drop it")
    elif n == 20:
        _put(b, b"UDP checksum wrong (or missing over IPv6): the receiver would drop it")
    elif n == 21:
        _put(b, b"checksum not filled in: captured before the network card computed it (offload)")
    elif n == 1:
        _put(b, b"zero window: the ")
        _put(b, _WHO_LOWER[w])
        _put(b, b"'s receive buffer is full")
    elif n == 6:
        _put(b, b"this fills the ")
        _put(b, _PEER[w])
        _put(b, b"'s advertised window")
    elif n == 16:
        if s.cap_len < s.wire_len:
            _put(b, b"only ")
            _put_int(b, s.cap_len)
            _put(b, b" of its ")
            _put_int(b, s.wire_len)
            _put(b, b" bytes captured (snapshot length)")
        else:
            _put(b, b"the frame ends before its headers say it should")


def explain_column(int64_t[:, :] inp, int64_t[:, :] out, double[:, :] fout, const uint8_t[::1] accepted,
                   list protos, list malformed_names, list dups=None):
    """The ``explain`` sentence of every frame of a capture, in frame order: (offsets, UTF-8 bytes, valid)
    as the buffers of an arrow large_string array; *accepted* says per TCP stream whether it had a SYN-ACK.

    A capture's frames may come in consecutive parts: *dups* (a list, empty at first) then carries
    what a sentence looks back at from one part to the next.
    """
    cdef Frames fr = _frames(inp, out, fout)
    cdef Py_ssize_t n = inp.shape[1], i
    offsets_a = np.empty(n + 1, dtype=np.int64)
    valid_a = np.ones(n, dtype=np.uint8)
    cdef int64_t[::1] offsets = offsets_a
    cdef uint8_t[::1] valid = valid_a
    # per protocol code: 0 tcp, 1 udp, 2 a fixed sentence, 3 none; per malformed code: the layer's name
    sentences = {"arp": b"ARP: asks which hardware address belongs to an IP address, or answers that question",
                 "icmp": b"ICMP: a control or error message of the IP layer (ping, unreachable, time exceeded)",
                 "icmpv6": b"ICMPv6: a control or error message of IPv6, including neighbour discovery (IPv6's ARP)",
                 "ipv4": b"IPv4 packet carrying a protocol pcapan does not analyse",
                 "ipv6": b"IPv6 packet carrying a protocol pcapan does not analyse",
                 "other": b"Frame without an IP packet that pcapan can read"}
    proto_texts = [sentences.get(p) for p in protos]
    names = {"link": b"link-layer", "ip": b"IPv4", "ipv6": b"IPv6", "tcp": b"TCP", "udp": b"UDP"}
    layer_texts = [names.get(m, (m or "").encode()) for m in malformed_names]
    cdef vector[const char*] proto_sentence, layers
    for t in proto_texts:
        proto_sentence.push_back(<const char*>t if t is not None else NULL)
    for t in layer_texts:
        layers.push_back(<const char*>t)
    cdef const uint8_t* acc = &accepted[0] if accepted.shape[0] > 0 else NULL
    cdef int64_t naccepted = accepted.shape[0]
    cdef Buf b
    cdef Say s
    cdef int64_t labels, k, key, want, dup_frame, top = 0
    cdef size_t mark
    cdef bint said
    # the last duplicate ACK of each (stream, side): frame and rel_ack (explain._after_duplicate_acks)
    for i in range(n):
        if fr.out[O_STREAM * fr.so + i] > top:
            top = fr.out[O_STREAM * fr.so + i]
    if dups is None:
        dups = []
    if not dups:
        dups += [np.full(0, -1, dtype=np.int64), np.zeros(0, dtype=np.int64)]
    if len(dups[0]) < 3 * (top + 1):
        grow = 3 * (top + 1) - len(dups[0])
        dups[0] = np.concatenate([dups[0], np.full(grow, -1, dtype=np.int64)])
        dups[1] = np.concatenate([dups[1], np.zeros(grow, dtype=np.int64)])
    cdef int64_t[::1] last_dup_frame = dups[0], last_dup_ack = dups[1]
    b.p = NULL
    b.n = b.cap = 0
    _reserve(&b, n * 90 + 1)
    with nogil:
        for i in range(n):
            offsets[i] = b.n
            labels = fr.out[O_LABELS * fr.so + i]
            s.topic = -1
            for k in range(NTOPICS):
                if labels >> TOPIC_BITS[k] & 1:
                    s.topic = TOPIC_BITS[k]
                    break
            s.note = -1
            for k in range(7):
                if labels >> _NOTE_BITS[k] & 1 and _NOTE_BITS[k] != s.topic:
                    s.note = _NOTE_BITS[k]
                    break
            s.phase = fr.out[O_PHASE * fr.so + i]
            s.proto = fr.inp[I_PROTO * fr.si + i]
            s.side = fr.out[O_FROM_CLIENT * fr.so + i]
            s.flags = fr.inp[I_FLAGS * fr.si + i]
            s.seq = _z(fr.inp[I_SEQ * fr.si + i])
            s.sport = _z(fr.inp[I_SPORT * fr.si + i])
            s.dport = _z(fr.inp[I_DPORT * fr.si + i])
            s.rel_seq = _z(fr.out[O_REL_SEQ * fr.so + i])
            s.rel_ack = _z(fr.out[O_REL_ACK * fr.so + i])
            s.plen = _z(fr.inp[I_PLEN * fr.si + i])
            s.wsize = _z(fr.out[O_WSIZE * fr.so + i])
            s.dup_num = _z(fr.out[O_DUP_NUM * fr.so + i])
            s.next_rel_seq = fr.out[O_NEXT_REL_SEQ * fr.so + i]
            s.cap_len = _z(fr.inp[I_CAPLEN * fr.si + i])
            s.wire_len = _z(fr.inp[I_WIRELEN * fr.si + i])
            s.malformed = fr.inp[I_MALFORMED * fr.si + i]
            s.fragment = fr.inp[I_FRAG * fr.si + i]
            s.stream = _z(fr.out[O_STREAM * fr.so + i])
            s.rto = fr.fout[F_RTO * fr.sf + i]
            # a resend after the other side's duplicate ACKs asked for it (loss recovery, not a timeout)
            s.asked = 0
            if s.topic == 14 and s.side >= 0:
                want = s.stream * 3 + 1 - s.side
                dup_frame = last_dup_frame[want]
                s.asked = (dup_frame >= 0 and (fr.out[O_RTO_FRAME * fr.so + i] < 0
                                               or dup_frame > fr.out[O_RTO_FRAME * fr.so + i])
                           and last_dup_ack[want] <= s.rel_seq)
            if s.dup_num > 0:
                key = s.stream * 3 + (s.side if s.side >= 0 else 2)
                last_dup_frame[key] = fr.inp[I_FRAME * fr.si + i]
                last_dup_ack[key] = s.rel_ack
            said = True
            if s.topic >= 0:
                _topic_sentence(&b, &s, layers.data())
            elif s.proto == P_TCP:
                _tcp_sentence(&b, &s, acc, naccepted)
            elif s.proto == P_UDP:
                _put(&b, _WHO[s.side + 1])
                _put(&b, b" sends a UDP datagram of ")
                _put_int(&b, s.plen)
                _put(&b, b" bytes to port ")
                _put_int(&b, s.dport)
                _put(&b, b" (no handshake, no ACKs)")
            elif 0 <= s.proto < <int64_t>proto_sentence.size() and proto_sentence[s.proto] != NULL:
                if s.fragment > 0:
                    _put(&b, b"IP fragment: one piece of a larger datagram; the frame that completes it "
                            b"carries the TCP/UDP header")
                else:
                    _put(&b, proto_sentence[s.proto])
            else:
                said = False
            if not said:
                valid[i] = 0
            elif s.note >= 0:
                _put(&b, b"; ")
                _note_text(&b, &s)
        offsets[n] = b.n
    data = np.empty(b.n, dtype=np.uint8)
    cdef uint8_t[::1] d = data
    if b.n:
        memcpy(&d[0], b.p, b.n)
    free(b.p)
    return offsets_a, data, valid_a


def accepted_streams(Engine e):
    """Per TCP stream: 1 if it had a SYN-ACK."""
    out = np.zeros(e.tcp.size(), dtype=np.uint8)
    cdef uint8_t[::1] o = out
    cdef Py_ssize_t j
    for j in range(<Py_ssize_t>e.tcp.size()):
        o[j] = e.tcp[j].syn_ack_any
    return out


def _float_texts(double[::1] x, bint as_repr):
    """Each float as :func:`_put_repr` (Python's repr) or :func:`_put_shortest` (arrow's cast) writes it
    (for the tests)."""
    cdef Buf b
    b.p = NULL
    b.n = b.cap = 0
    out = []
    for i in range(x.shape[0]):
        b.n = 0
        if as_repr:
            _put_repr(&b, x[i])
        else:
            _put_shortest(&b, x[i])
        out.append(PyBytes_FromStringAndSize(b.p, b.n).decode())
    free(b.p)
    return out


# ---------------------------------------------------------------------------
# csv text of a table's columns, as pandas writes it (report/csv_text.py decides
# which columns it can take and gives them here as arrays)

cdef enum:
    C_INT, C_BOOL, C_FLOAT, C_TIME, C_CATEGORY, C_TEXT


cdef struct Column:
    int kind
    const int64_t* ints            # C_INT, C_TIME (ns), C_CATEGORY (codes), C_TEXT (offsets)
    const uint8_t* bools           # C_BOOL values
    const uint8_t* missing         # 1 where the cell is empty (may be NULL)
    const double* floats           # C_FLOAT
    const uint8_t* text            # C_TEXT bytes
    const char** names             # C_CATEGORY: each category's cell (quoted already)
    const size_t* name_lengths


cdef void _civil(int64_t days, int64_t* y, int64_t* m, int64_t* d) noexcept nogil:
    """Year, month and day of a day count since 1970-01-01 (proleptic Gregorian calendar)."""
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    d[0] = doy - (153 * mp + 2) // 5 + 1
    m[0] = mp + 3 if mp < 10 else mp - 9
    y[0] = yoe + era * 400 + (1 if m[0] <= 2 else 0)


# The cell writers below write at *q* (room made beforehand: a row's worst case) and return where
# they stopped.

cdef inline char* _w_digits(char* q, int64_t v, int width) noexcept nogil:
    cdef int k
    for k in range(width - 1, -1, -1):
        q[k] = <char>(48 + v % 10)
        v //= 10
    return q + width


cdef struct Clock:               # the text of the last second written (times come in order)
    int64_t second
    char text[20]


cdef char* _w_time(char* q, int64_t ns, Clock* last) noexcept nogil:
    """YYYY-MM-DDTHH:MM:SS.ffffffZ of a time in ns since the epoch (microseconds rounded down)."""
    cdef int64_t us = ns // 1000 if ns >= 0 else -((-ns + 999) // 1000)
    cdef int64_t secs = us // 1000000 if us >= 0 else -((-us + 999999) // 1000000)
    cdef int64_t frac = us - secs * 1000000
    cdef int64_t days, rest, y, m, d
    cdef char* t
    if secs != last.second:
        days = secs // 86400 if secs >= 0 else -((-secs + 86399) // 86400)
        rest = secs - days * 86400
        _civil(days, &y, &m, &d)
        t = last.text
        t = _w_digits(t, y, 4)
        t[0] = b'-'
        t = _w_digits(t + 1, m, 2)
        t[0] = b'-'
        t = _w_digits(t + 1, d, 2)
        t[0] = b'T'
        t = _w_digits(t + 1, rest // 3600, 2)
        t[0] = b':'
        t = _w_digits(t + 1, rest // 60 % 60, 2)
        t[0] = b':'
        t = _w_digits(t + 1, rest % 60, 2)
        t[0] = b'.'
        last.second = secs
    memcpy(q, last.text, 20)
    q = _w_digits(q + 20, frac, 6)
    q[0] = b'Z'
    return q + 1


cdef char* _w_repr(char* q, double x) noexcept nogil:
    """:func:`_put_repr` writing at *q* (a float is at most 25 characters)."""
    cdef Buf b
    cdef char tmp[40]
    b.p = tmp
    b.n = 0
    b.cap = 40
    _put_repr(&b, x)
    memcpy(q, tmp, b.n)
    return q + b.n


cdef char* _w_text(char* q, const uint8_t* s, int64_t k, const uint8_t* special) noexcept nogil:
    """A text cell as the csv module writes it: in double quotes (inner ones doubled) if it holds a
    character that needs them."""
    cdef int64_t j
    for j in range(k):
        if special[s[j]]:
            break
    else:
        memcpy(q, s, k)
        return q + k
    q[0] = b'"'
    q += 1
    for j in range(k):
        if s[j] == b'"':
            q[0] = b'"'
            q += 1
        q[0] = <char>s[j]
        q += 1
    q[0] = b'"'
    return q + 1


def csv_rows(list columns, const uint8_t[::1] special, Py_ssize_t start, Py_ssize_t stop, uint8_t[::1] out):
    """The csv rows start:stop (each ended by a newline) of *columns*, written into *out* as far as
    whole rows fit; returns (the first row not written, the bytes written).  Each column is a tuple:

    ("int", int64 values, missing) ("bool", uint8 values, missing) ("float", float64 values)
    ("time", int64 ns, missing) ("category", int64 codes, [cell bytes]) ("text", int64 offsets,
    uint8 bytes, missing); missing is a uint8 array (1: empty cell) or None, a float's NaN is an
    empty cell, a code -1 too.  *special* marks the bytes that make a text cell quoted.
    """
    cdef Py_ssize_t ncol = len(columns), i, j
    cdef vector[Column] cols
    cdef Column c
    cdef vector[const char*] names
    cdef vector[size_t] lengths
    cdef vector[size_t] name_start
    keep = []        # the arrays the pointers point into
    cdef const int64_t[::1] iv
    cdef const uint8_t[::1] uv
    cdef const double[::1] fv
    cdef int64_t fixed = ncol + 1, w
    for spec in columns:
        kind = spec[0]
        c.ints = NULL
        c.bools = NULL
        c.missing = NULL
        c.floats = NULL
        c.text = NULL
        c.names = NULL
        c.name_lengths = NULL
        # the widest cell of the column (text: twice its bytes and two quotes, added per row)
        w = {"int": 20, "bool": 5, "float": 25, "time": 27, "text": 2, "category": 0}[kind]
        if kind in ("int", "time", "category", "text"):
            iv = spec[1]
            keep.append(spec[1])
            c.ints = &iv[0] if iv.shape[0] else NULL
        if kind == "int":
            c.kind = C_INT
        elif kind == "time":
            c.kind = C_TIME
        elif kind == "bool":
            c.kind = C_BOOL
            uv = spec[1]
            keep.append(spec[1])
            c.bools = &uv[0] if uv.shape[0] else NULL
        elif kind == "float":
            c.kind = C_FLOAT
            fv = spec[1]
            keep.append(spec[1])
            c.floats = &fv[0] if fv.shape[0] else NULL
        elif kind == "category":
            c.kind = C_CATEGORY
            name_start.push_back(names.size())
            for cell in spec[2]:
                keep.append(cell)
                names.push_back(<const char*>cell)
                lengths.push_back(len(cell))
                w = max(w, len(cell))
        else:
            c.kind = C_TEXT
            uv = spec[2]
            keep.append(spec[2])
            c.text = &uv[0] if uv.shape[0] else NULL
        fixed += w
        missing = spec[2] if kind in ("int", "bool", "time") else (spec[3] if kind == "text" else None)
        if missing is not None:
            uv = missing
            keep.append(missing)
            c.missing = &uv[0] if uv.shape[0] else NULL
        cols.push_back(c)
    # the category names' pointers, now that the vectors will not move
    cdef size_t at = 0
    for j in range(ncol):
        if cols[j].kind == C_CATEGORY:
            cols[j].names = names.data() + name_start[at]
            cols[j].name_lengths = lengths.data() + name_start[at]
            at += 1
    cdef const uint8_t* sp = &special[0]
    cdef char* base = <char*>&out[0] if out.shape[0] else NULL
    cdef char* end = base + out.shape[0]
    cdef char* q = base
    cdef Column* col
    cdef int64_t code, room
    cdef Clock clock
    clock.second = INT64_MIN
    with nogil:
        i = start
        while i < stop:
            room = fixed
            for j in range(ncol):
                if cols[j].kind == C_TEXT:
                    room += 2 * (cols[j].ints[i + 1] - cols[j].ints[i])
            if room > end - q:
                break
            for j in range(ncol):
                if j:
                    q[0] = b','
                    q += 1
                col = &cols[j]
                if col.missing != NULL and col.missing[i]:
                    continue
                if col.kind == C_INT:
                    q = _w_int(q, col.ints[i])
                elif col.kind == C_FLOAT:
                    if not isnan(col.floats[i]):
                        q = _w_repr(q, col.floats[i])
                elif col.kind == C_BOOL:
                    if col.bools[i]:
                        memcpy(q, b"True", 4)
                        q += 4
                    else:
                        memcpy(q, b"False", 5)
                        q += 5
                elif col.kind == C_TIME:
                    q = _w_time(q, col.ints[i], &clock)
                elif col.kind == C_CATEGORY:
                    code = col.ints[i]
                    if code >= 0:
                        memcpy(q, col.names[code], col.name_lengths[code])
                        q += col.name_lengths[code]
                else:
                    q = _w_text(q, col.text + col.ints[i], col.ints[i + 1] - col.ints[i], sp)
            q[0] = b'\n'
            q += 1
            i += 1
    return i, q - base


def factorize(const int64_t[::1] values):
    """(code of each value, the distinct values in order of first appearance), by hashing."""
    cdef Py_ssize_t n = values.shape[0], i
    codes_a = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] codes = codes_a
    cdef _Table seen = _Table()
    cdef vector[int64_t] uniques
    cdef int64_t c
    with nogil:
        for i in range(n):
            c = seen.find(<uint64_t>values[i], 0)
            if c < 0:
                c = <int64_t>uniques.size()
                seen.add(<uint64_t>values[i], 0, c)
                uniques.push_back(values[i])
            codes[i] = c
    return codes_a, np.array([u for u in uniques], dtype=np.int64)
