cimport cython
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t
from libcpp.deque cimport deque
from libcpp.vector cimport vector

from pcap_analyzer.tcp._frame cimport Frame


cdef struct Endpoint:            # what one side of a connection has done so far
    uint32_t nextseq             # the next expected sequence number (0: not known yet, as Wireshark)
    uint32_t maxseq              # the highest sequence number still to be acknowledged
    uint32_t lastack             # the ack field of its last segment
    uint32_t window              # the raw window field of its last segment (0xFFFFFFFF: none yet)
    uint32_t base                # its initial sequence number as the relative numbers count it
    uint32_t sack                # bytes its last segment's SACK blocks covered
    uint32_t lastflags           # the labels its last segment got
    int32_t dupacknum            # duplicate ACKs of lastack so far (-1: none until its ACK moves)
    int8_t win_scale             # -1 not known yet, -2 no scaling, else the shift
    uint8_t valid_bif, first_ack, base_set
    int32_t later                # its Later in Sequence.later (-1: none yet)
    int64_t nextseqtime, nextseqframe, lastacktime, lastnondup
    int64_t moved_time           # when its ACK last moved (frame lastnondup)


cdef struct Later:               # what a side did that many streams never see (a SYN flood's
                                 # never do): kept apart, made the first time one of them happens
    int64_t sack[4]              # its last segment's SACK blocks (left << 32 | right; -1 ends them)
    int64_t dup_frame, dup_time  # its last duplicate ACK (-1: none yet) and when it came
    int64_t fin_frame            # its first FIN (0: none yet)
    uint32_t dup_ack             # the ack number of that duplicate ACK
    uint32_t fin_end             # the sequence number after that FIN


cdef struct Unacked:             # a segment waiting for its ACK
    int64_t frame, time
    uint32_t seq, end


cdef struct Connection:          # the sequence analysis' state of one TCP stream
    Endpoint ep[2]
    int64_t irtt, last_syn
    bint syn_seen


@cython.final
cdef class Sequence:
    cdef deque[Connection] conns
    cdef deque[vector[Unacked]] unacked      # per stream and side
    cdef vector[Later] later                 # see Endpoint.later
    cdef public bint in_flight               # compute bytes in flight (a look at every segment waiting)
    cdef public int wireshark                # whose rules: WS_4_0, WS_4_4, WS_4_6

    cdef void step(self, Frame* f) noexcept nogil
    cdef Connection* _connection(self, int64_t stream) noexcept nogil
    cdef Later* _later(self, Endpoint* e) noexcept nogil
    cdef Later* _made(self, Endpoint* e) noexcept nogil
    cdef int64_t _analyse(self, Frame* f, Connection* c, int64_t s) noexcept nogil
    cdef void _closing(self, Frame* f, int64_t seglen, Endpoint* es, Endpoint* eo) noexcept nogil
    cdef int64_t _copy(self, Frame* f, Endpoint* es, vector[Unacked]* mine, int64_t end) noexcept nogil
    cdef void _timeout(self, Frame* f, Endpoint* es, Endpoint* eo, vector[Unacked]* mine,
                       int64_t copied) noexcept nogil
    cdef void _acknowledge(self, Frame* f, vector[Unacked]* theirs) noexcept nogil
    cdef void _in_flight(self, Frame* f, Endpoint* es, Endpoint* eo, vector[Unacked]* mine, bint syn_fin) noexcept nogil
