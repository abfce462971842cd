# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-stream facts: packets and bytes per side, the handshake, labels and checksums, Zeek's state walk.

Everything is counted per *side* of the stream (0/1, as the frames carry
it), not per client and server, because who the client is may only be
known at the end of the capture; the streams table maps sides to roles
then.  The connection verdict follows Zeek: each endpoint has a state
(inactive, SYN sent, SYN-ACK sent, partial = seen only mid-stream,
established, closed = sent FIN, reset = sent RST), walked here segment by
segment; ``conn_state`` is a function of the two, decided in
:mod:`pcap_analyzer.tables`.  ``history`` is the first occurrence of each
event per side.

Per sending address, the checksums it sent and received are counted too:
a sender failing all of its checksums while everything it receives checks
out is offloading them (decided in :mod:`pcap_analyzer.tables`).
"""
cimport cython
from libc.math cimport NAN, isnan
from libc.stdint cimport int8_t, int64_t, uint8_t, uint16_t, uint32_t
from libcpp.deque cimport deque

from pcap_analyzer.tcp._frame cimport Frame

import numpy as np

cdef enum:
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    ACK = 0x10
    # Zeek's endpoint states
    INACTIVE = 0
    SYN_SENT = 1
    SYN_ACK_SENT = 2
    PARTIAL = 3
    ESTABLISHED = 4
    CLOSED = 5
    RESET = 6
    # history letters S H D F R A (the server's are written in lower case)
    H_S = 0
    H_H = 1
    H_D = 2
    H_F = 3
    H_R = 4
    H_A = 5

HISTORY_LETTERS = "SHDFRA"
SENDER_FIELDS = ("sent", "sent_not_good", "received", "received_not_good")


cdef inline void _note(Facts* s, int letter, int64_t side) noexcept nogil:
    """Add a history letter of *side* the first time it occurs."""
    cdef int key = letter + 6 * <int>side
    if not (s.seen >> key) & 1:
        s.seen |= <uint16_t>(1 << key)
        s.hist[s.hist_len] = <uint8_t>key
        s.hist_len += 1


cdef void _zeek(Facts* s, int64_t f, int64_t n, int64_t e) noexcept nogil:
    """One TCP segment of side *e* through Zeek's endpoint states."""
    if f & SYN:
        if f & ACK:
            _note(s, H_H, e)
            s.completeness |= 2
            if s.state[e] == INACTIVE:
                s.state[e] = SYN_ACK_SENT
        else:
            _note(s, H_S, e)
            s.completeness |= 1
            if s.state[e] == INACTIVE:
                s.state[e] = SYN_SENT
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
        s.state[e] = RESET
    elif f & FIN:
        if s.state[e] != RESET:
            s.state[e] = CLOSED
    elif not f & SYN:
        if s.state[e] == INACTIVE:
            s.state[e] = PARTIAL
        if (f & ACK and (s.state[0] == SYN_SENT or s.state[0] == SYN_ACK_SENT)
                and (s.state[1] == SYN_SENT or s.state[1] == SYN_ACK_SENT)):
            s.state[0] = ESTABLISHED
            s.state[1] = ESTABLISHED
        elif s.state[e] == PARTIAL and (s.state[1 - e] == PARTIAL or s.state[1 - e] == ESTABLISHED):
            s.state[e] = s.state[1 - e]


@cython.final
cdef class StreamFacts:
    """The facts of every stream of one capture, added up frame by frame."""

    cdef Facts* _facts(self, int64_t kind, int64_t stream) noexcept nogil:
        cdef deque[Facts]* v = &self.tcp if kind == 1 else &self.udp
        cdef Facts s
        cdef int e
        while <int64_t>v.size() <= stream:
            for e in range(2):
                s.packets[e] = s.nbytes[e] = 0
                s.syn_frame[e] = s.sa_frame[e] = -1
                s.syn_seq[e] = s.sa_seq[e] = 0
                s.state[e] = INACTIVE
            s.ha_frame = -1
            s.irtt = NAN
            s.tally = -1
            s.completeness = 0
            s.hist_len = 0
            s.seen = 0
            v.push_back(s)
        return &v[0][stream]

    cdef Tally* _tally(self, Facts* s) noexcept nogil:
        cdef Tally t
        cdef int e, k
        if s.tally < 0:
            for e in range(2):
                for k in range(SEQUENCE_LABELS):
                    t.labels[e][k] = 0
                t.retransmitted[e] = t.bad[e] = t.offloaded[e] = 0
                t.l4_bad[e][0] = t.l4_bad[e][1] = t.l4_bad[e][2] = 0
            s.tally = <int32_t>self.tallies.size()
            self.tallies.push_back(t)
        return &self.tallies[s.tally]

    cdef void add(self, Frame* f) noexcept nogil:
        """One frame of a stream (f.kind 1 or 2)."""
        cdef Facts* s = self._facts(f.kind, f.stream)
        cdef int64_t e = f.side, bit
        cdef Tally* t
        cdef bint bad = f.ip_ck == V_BAD or f.l4_ck == V_BAD
        cdef bint offloaded = f.ip_ck == V_OFFLOADED or f.l4_ck == V_OFFLOADED
        s.packets[e] += 1
        s.nbytes[e] += f.plen
        if f.phase == PH_SYN and s.syn_frame[e] < 0:
            s.syn_frame[e] = f.frame
            s.syn_seq[e] = <uint32_t>f.seq
        elif f.phase == PH_SYN_ACK and s.sa_frame[e] < 0:
            s.sa_frame[e] = f.frame
            s.sa_seq[e] = <uint32_t>f.seq
        elif f.phase == PH_HANDSHAKE_ACK and s.ha_frame < 0:
            s.ha_frame = f.frame
        if f.kind == 1:
            _zeek(s, f.flags if f.flags > 0 else 0, f.plen, e)
        if not isnan(f.irtt) and (isnan(s.irtt) or f.irtt > s.irtt):
            s.irtt = f.irtt
        if (f.labels & ((1 << SEQUENCE_LABELS) - 1)) == 0 and not bad and not offloaded:
            return
        t = self._tally(s)
        for bit in range(SEQUENCE_LABELS):
            if f.labels >> bit & 1:
                t.labels[e][bit] += 1
        if f.labels & L_RETRANSMISSION:
            t.retransmitted[e] += f.plen
        if bad:
            t.bad[e] += 1
        if offloaded:
            t.offloaded[e] += 1
        if f.l4_ck == V_BAD:
            t.l4_bad[e][1 if f.ip_ck == V_BAD else (2 if f.ip_ck == V_OFFLOADED else 0)] += 1

    cdef void checksums(self, Frame* f) noexcept nogil:
        """Count the frame's TCP/UDP checksum for its sender and its receiver."""
        cdef Sender none
        cdef Sender* sender
        cdef int64_t top = f.src if f.src > f.dst else f.dst
        if not (f.l4_ck == V_GOOD or f.l4_ck == V_BAD or f.l4_ck == V_OFFLOADED) or f.src < 0 or f.dst < 0:
            return
        none.sent = none.sent_not_good = 0
        none.received = none.received_not_good = 0
        while <int64_t>self.senders.size() <= top:
            self.senders.push_back(none)
        sender = &self.senders[f.src]
        sender.sent += 1
        if f.l4_ck != V_GOOD:
            sender.sent_not_good += 1
        sender = &self.senders[f.dst]
        sender.received = 1
        if f.l4_ck != V_GOOD:
            sender.received_not_good = 1

    # -- at the end ------------------------------------------------------------

    def sender_table(self):
        """Per address id: SENDER_FIELDS (addresses x 4)."""
        n = self.senders.size()
        out = np.zeros((n, 4), dtype=np.int64)
        cdef int64_t[:, ::1] o = out
        cdef size_t j
        for j in range(n):
            o[j, 0] = self.senders[j].sent
            o[j, 1] = self.senders[j].sent_not_good
            o[j, 2] = self.senders[j].received
            o[j, 3] = self.senders[j].received_not_good
        return out

    def table(self, int64_t kind, const int64_t[::1] streams):
        """The facts of *streams* (numbers of *kind*), as columns: a dict of arrays, each [stream, side]
        where it is per side.  Labels and checksum counts come apart, for the streams that have any:
        ``tally`` gives a stream's row in ``tallies`` (a dict of [row, side, ...] arrays), -1 for none."""
        cdef deque[Facts]* v = &self.tcp if kind == 1 else &self.udp
        cdef Py_ssize_t m = streams.shape[0], k, e, b, t = 0
        cdef Facts* s
        cdef Tally* y
        out = {name: np.zeros((m, 2), dtype=np.int64) for name in (
            "packets", "bytes", "syn_frame", "syn_seq", "sa_frame", "sa_seq", "state")}
        out["ha_frame"] = np.full(m, -1, dtype=np.int64)
        out["completeness"] = np.zeros(m, dtype=np.int64)
        out["irtt"] = np.full(m, np.nan)
        out["hist_len"] = np.zeros(m, dtype=np.int64)
        out["hist"] = np.zeros((m, 12), dtype=np.int8)
        out["tally"] = np.full(m, -1, dtype=np.int64)
        cdef int64_t[:, ::1] packets = out["packets"], nbytes = out["bytes"], syn_frame = out["syn_frame"]
        cdef int64_t[:, ::1] syn_seq = out["syn_seq"], sa_frame = out["sa_frame"], sa_seq = out["sa_seq"]
        cdef int64_t[:, ::1] state = out["state"]
        cdef int8_t[:, ::1] hist = out["hist"]
        cdef int64_t[::1] ha = out["ha_frame"], comp = out["completeness"], hist_len = out["hist_len"]
        cdef int64_t[::1] tally = out["tally"]
        cdef double[::1] irtt = out["irtt"]
        for k in range(m):
            if streams[k] >= <int64_t>v.size():
                continue
            s = &v[0][streams[k]]
            for e in range(2):
                packets[k, e] = s.packets[e]
                nbytes[k, e] = s.nbytes[e]
                syn_frame[k, e] = s.syn_frame[e]
                syn_seq[k, e] = s.syn_seq[e]
                sa_frame[k, e] = s.sa_frame[e]
                sa_seq[k, e] = s.sa_seq[e]
                state[k, e] = s.state[e]
            if s.tally >= 0:
                tally[k] = t
                t += 1
            ha[k] = s.ha_frame
            comp[k] = s.completeness
            irtt[k] = s.irtt
            hist_len[k] = s.hist_len
            for b in range(s.hist_len):
                hist[k, b] = s.hist[b]
        tallies = {"labels": np.zeros((t, 2, SEQUENCE_LABELS), dtype=np.int64), "l4_bad": np.zeros((t, 2, 3), dtype=np.int64)}
        for name in ("retransmitted_bytes", "bad_checksums", "offloaded_checksums"):
            tallies[name] = np.zeros((t, 2), dtype=np.int64)
        cdef int64_t[:, :, ::1] labels = tallies["labels"], l4_bad = tallies["l4_bad"]
        cdef int64_t[:, ::1] retr = tallies["retransmitted_bytes"], bad = tallies["bad_checksums"]
        cdef int64_t[:, ::1] off = tallies["offloaded_checksums"]
        t = 0
        for k in range(m):
            if tally[k] < 0:
                continue
            y = &self.tallies[v[0][streams[k]].tally]
            for e in range(2):
                retr[t, e] = y.retransmitted[e]
                bad[t, e] = y.bad[e]
                off[t, e] = y.offloaded[e]
                for b in range(3):
                    l4_bad[t, e, b] = y.l4_bad[e][b]
                for b in range(SEQUENCE_LABELS):
                    labels[t, e, b] = y.labels[e][b]
            t += 1
        out["tallies"] = tallies
        return out

    def memory(self):
        """Bytes held (for measuring memory per stream)."""
        return ((self.tcp.size() + self.udp.size()) * sizeof(Facts) + self.tallies.size() * sizeof(Tally)
                + self.senders.size() * sizeof(Sender))
