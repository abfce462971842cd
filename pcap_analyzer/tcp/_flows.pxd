cimport cython
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t
from libcpp.deque cimport deque

from pcap_analyzer._table cimport PcapanTable
from pcap_analyzer.tcp._frame cimport Frame


cdef struct Flow:                # one stream: its first frame, who is client, its handshake so far
    int64_t first_frame, last_frame, start, end, first_src, first_dst
    int32_t first_sport, first_dport
    int8_t first_side, reused
    int8_t rank                  # how strong the evidence for the client is (see Flows._roles)
    int8_t who                   # the client's side, -1 unknown
    int8_t hs_state, hs_side     # the handshake ACK's search: state, and who sent the SYN-ACK
    uint32_t hs_isn              # that SYN-ACK's sequence number


@cython.final
cdef class Flows:
    cdef PcapanTable convs
    # per conversation: its current TCP/UDP stream, each side's sequence base (and whether
    # known), whether a request to a wildcard-reply port was seen, whether its reply is due
    cdef deque[int64_t] conv_stream
    cdef deque[uint32_t] conv_base
    cdef deque[uint8_t] conv_bits
    cdef int64_t counters[3]
    cdef deque[Flow] tcp, udp
    cdef public int wireshark                # whose rules: WS_4_0, WS_4_4, WS_4_6

    cdef void step(self, Frame* f) noexcept nogil
    cdef Flow* flow(self, int64_t kind, int64_t stream) noexcept nogil
    cdef int64_t _new_stream(self, int64_t kind) noexcept nogil
    cdef int64_t _conversation(self, int64_t kind, int64_t src, int64_t sport, int64_t dst, int64_t dport, int64_t* side) noexcept nogil
    cdef void _udp(self, Frame* f, int64_t c) noexcept nogil
    cdef void _tcp(self, Frame* f, int64_t c, int64_t s) noexcept nogil
    cdef (int64_t, int64_t) _relative(self, Frame* f, int64_t c, int64_t s, int64_t sq, int64_t ak) noexcept nogil
    cdef void _roles(self, Frame* f) noexcept nogil
    cdef void _phase(self, Frame* f) noexcept nogil
