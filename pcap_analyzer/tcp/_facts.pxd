cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libcpp.deque cimport deque

from pcap_analyzer.tcp._frame cimport Frame

include "_vocabulary.pxi"


cdef struct Facts:               # one stream's counts and state, per side (0/1, as the frames' sides)
    int64_t packets[2]
    int64_t nbytes[2]
    int64_t syn_frame[2]         # the first SYN each side sent, and its sequence number
    int64_t sa_frame[2]          # the first SYN-ACK each side sent, and its sequence number
    int64_t ha_frame             # the handshake ACK
    uint32_t syn_seq[2]
    uint32_t sa_seq[2]
    double irtt
    int32_t tally                # where its labels and checksum counts are (-1: none yet)
    uint8_t state[2]             # Zeek's endpoint states
    uint8_t completeness         # Wireshark's tcp.completeness bits
    uint8_t hist_len
    uint16_t seen                # a bit per history letter (letter + 6 * side) already noted
    uint8_t hist[12]


cdef struct Tally:               # a stream's labels and checksums, per side: kept only once it has any
    uint32_t labels[2][SEQUENCE_LABELS]
    int64_t retransmitted[2]
    int64_t bad[2]               # packets with a wrong IP or TCP/UDP checksum
    int64_t offloaded[2]         # packets with an offloaded checksum
    # packets whose TCP/UDP checksum is wrong, by the IP checksum's verdict: neither wrong nor
    # offloaded, wrong, offloaded (what changes when the sender turns out to offload)
    int64_t l4_bad[2][3]


cdef struct Sender:              # the TCP/UDP checksums an address sent and received
    int64_t sent, sent_not_good
    uint8_t received, received_not_good      # any at all, any not good


@cython.final
cdef class StreamFacts:
    cdef deque[Facts] tcp, udp
    cdef deque[Tally] tallies
    cdef deque[Sender] senders               # by address id

    cdef void add(self, Frame* f) noexcept nogil
    cdef void checksums(self, Frame* f) noexcept nogil
    cdef Facts* _facts(self, int64_t kind, int64_t stream) noexcept nogil
    cdef Tally* _tally(self, Facts* s) noexcept nogil
