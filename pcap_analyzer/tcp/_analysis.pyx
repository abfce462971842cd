# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The analysis of a capture's frames, a chunk at a time: flows, then sequence, then labels and facts.

For each decoded frame (``columns.FRAME``) in capture order:

1. :mod:`._flows` numbers its stream and the one it quotes, gives its side,
   relative numbers and phase;
2. :mod:`._sequence` runs Wireshark's checks on a TCP segment;
3. the labels of how far the frame was decoded and of its checksums are
   added;
4. :mod:`._facts` adds it to its stream's facts and its checksums to its
   sender's and receiver's counts.

The results go out as ``columns.ANALYSIS`` and ``columns.TIMES``.  What
the end of the capture decides (each stream's client, which senders offload
their checksums) is applied to them afterwards, in :mod:`pcap_analyzer.tables`.
"""
cimport cython
from libc.math cimport NAN
from libc.stdint cimport int64_t

from pcap_analyzer.tcp._facts cimport StreamFacts
from pcap_analyzer.tcp._flows cimport Flows
from pcap_analyzer.tcp._frame cimport Frame
from pcap_analyzer.tcp._sequence cimport Sequence

from pcap_analyzer.tcp import _flows

include "_vocabulary.pxi"


@cython.final
cdef class Analyser:
    """Everything one read of a capture finds, frame by frame."""
    cdef public Flows flows
    cdef public Sequence sequence
    cdef public StreamFacts facts
    # only one stream analysed past its numbering (kind 0: every stream)
    cdef int64_t only_kind, only_stream

    def __cinit__(self, bint in_flight=True, only=None, int wireshark=WS_4_6):
        self.flows = Flows()
        self.flows.wireshark = wireshark
        self.sequence = Sequence()
        self.sequence.wireshark = wireshark
        self.sequence.in_flight = in_flight
        self.facts = StreamFacts()
        self.only_kind, self.only_stream = only if only is not None else (0, -1)

    def analyse(self, const int64_t[:, :] inp, int64_t[:, :] out, double[:, :] times, Py_ssize_t count):
        """Analyse the first *count* frames of *inp* (the next ones of the capture) into *out*, *times*."""
        cdef Py_ssize_t i
        cdef Frame f
        with nogil:
            for i in range(count):
                _load(&f, inp, i)
                self._frame(&f)
                _store(&f, out, times, i)

    cdef void _frame(self, Frame* f) noexcept nogil:
        cdef bint wanted
        self.flows.step(f)
        wanted = self.only_kind == 0 or (f.kind == self.only_kind and f.stream == self.only_stream)
        if f.kind == 1 and wanted:
            self.sequence.step(f)
        else:
            f.dup_num = f.dup_of = f.acks_frame = f.bif = f.rto_frame = f.asked_frame = f.copy_frame = f.fin_frame = -1
            f.rtt = f.rto = f.since_copy = f.irtt = NAN
            f.wsize = f.window
        if f.truncated:
            f.labels |= L_TRUNCATED
        if f.malformed != M_NONE:
            f.labels |= L_MALFORMED
        if f.ip_ck == V_BAD:
            f.labels |= L_BAD_IP_CHECKSUM
        if f.l4_ck == V_BAD and f.proto == P_TCP:
            f.labels |= L_BAD_TCP_CHECKSUM
        if f.l4_ck == V_BAD and f.proto == P_UDP:
            f.labels |= L_BAD_UDP_CHECKSUM
        if f.l4_ck == V_OFFLOADED or f.ip_ck == V_OFFLOADED:
            f.labels |= L_CHECKSUM_OFFLOADED
        self.facts.checksums(f)
        if f.kind != 0 and wanted:
            self.facts.add(f)


cdef inline void _load(Frame* f, const int64_t[:, :] inp, Py_ssize_t i) noexcept nogil:
    f.frame = inp[IN_FRAME, i]
    f.now = inp[IN_TS_NS, i]
    f.proto = inp[IN_PROTO, i]
    f.src = inp[IN_SRC, i]
    f.dst = inp[IN_DST, i]
    f.sport = inp[IN_SPORT, i]
    f.dport = inp[IN_DPORT, i]
    f.flags = inp[IN_TCP_FLAGS, i]
    f.seq = inp[IN_SEQ, i]
    f.ack = inp[IN_ACK, i]
    f.window = inp[IN_WINDOW, i]
    f.plen_raw = inp[IN_PAYLOAD_LEN, i]
    f.hdrlen = inp[IN_TCP_HDR_LEN, i]
    f.wscale = inp[IN_WSCALE, i]
    f.sack_bytes = inp[IN_SACK_BYTES, i]
    f.sack[0] = inp[IN_SACK_BLOCK_1, i]
    f.sack[1] = inp[IN_SACK_BLOCK_2, i]
    f.sack[2] = inp[IN_SACK_BLOCK_3, i]
    f.sack[3] = inp[IN_SACK_BLOCK_4, i]
    f.ip_ck = inp[IN_IP_CHECKSUM, i]
    f.l4_ck = inp[IN_L4_CHECKSUM, i]
    f.fragment = inp[IN_FRAGMENT, i]
    f.truncated = inp[IN_TRUNCATED, i]
    f.malformed = inp[IN_MALFORMED, i]
    f.okind = inp[IN_OTHER_KIND, i]
    f.osrc = inp[IN_OTHER_SRC, i]
    f.osport = inp[IN_OTHER_SPORT, i]
    f.odst = inp[IN_OTHER_DST, i]
    f.odport = inp[IN_OTHER_DPORT, i]
    f.plen = f.plen_raw if f.plen_raw > 0 else 0
    # Wireshark does not know the length of a segment whose header is malformed, or of an IP
    # fragment's: it shows raw numbers and leaves the segment out of its analysis
    f.known = (f.hdrlen >= 0 and f.plen_raw >= 0 and f.malformed != M_TCP
               and f.fragment != FR_FIRST and f.fragment != FR_NON_FIRST)


cdef inline void _store(Frame* f, int64_t[:, :] out, double[:, :] times, Py_ssize_t i) noexcept nogil:
    out[OUT_STREAM, i] = f.stream
    out[OUT_SIDE, i] = f.side
    out[OUT_REL_SEQ, i] = f.rel_seq
    out[OUT_REL_ACK, i] = f.rel_ack
    out[OUT_NEXT_REL_SEQ, i] = f.next_rel_seq
    out[OUT_PHASE, i] = f.phase
    out[OUT_LABELS, i] = f.labels
    out[OUT_DUP_ACK_NUM, i] = f.dup_num
    out[OUT_DUP_ACK_OF, i] = f.dup_of
    out[OUT_ACKS_FRAME, i] = f.acks_frame
    out[OUT_BYTES_IN_FLIGHT, i] = f.bif
    out[OUT_RTO_FRAME, i] = f.rto_frame
    out[OUT_ASKED_FRAME, i] = f.asked_frame
    out[OUT_COPY_FRAME, i] = f.copy_frame
    out[OUT_FIN_FRAME, i] = f.fin_frame
    out[OUT_OTHER_STREAM, i] = f.other_stream
    out[OUT_WINDOW_SIZE, i] = f.wsize
    out[OUT_IP_CHECKSUM, i] = f.ip_ck
    out[OUT_L4_CHECKSUM, i] = f.l4_ck
    times[T_ACK_RTT_S, i] = f.rtt
    times[T_RTO_S, i] = f.rto
    times[T_SINCE_COPY_S, i] = f.since_copy
    times[T_INITIAL_RTT_S, i] = f.irtt


use_service_names = _flows.use_service_names
