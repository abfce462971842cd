# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""TCP sequence analysis: Wireshark's ``tcp.analysis.*`` verdicts, one function per check.

This is what a course calls reliable delivery: sequence numbers detect gaps
and restore order, retransmissions recover losses, duplicate ACKs ask the
sender to repeat, and a timeout ends the wait when no ACK comes.

Each TCP stream has state per endpoint (:struct:`Endpoint`: the next
expected sequence number, the last ACK and window it sent, its segments
still waiting for an ACK ...).  For every segment the checks below run in
Wireshark's order; a check may end the segment's checks early, as
Wireshark's do.  Then the state is brought up to date, the segment's ACK is
matched against the peer's waiting segments (the RTT), and bytes in flight
are counted.

Labels (vocabulary.py has their meanings): zero_window_probe, zero_window,
lost_segment, keep_alive, window_probe (pcapan's own: a keep-alive sent
into a zero window, which is how Linux probes a closed window),
window_update, window_full, keep_alive_ack, zero_window_probe_ack,
duplicate_ack, ack_lost_segment, spurious_retransmission,
fast_retransmission, out_of_order, retransmission (also set with
fast_retransmission and spurious_retransmission, as Wireshark does).

Wireshark changed some checks between releases; :attr:`Sequence.wireshark`
says whose rules apply (``WS_4_0``, ``WS_4_4``, ``WS_4_6``), and each
change is one condition on it, next to the rule it changes
(docs/wireshark-versions.md lists them).
"""
cimport cython
from libc.math cimport NAN
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libcpp.vector cimport vector

from pcap_analyzer.tcp._frame cimport Frame

include "_vocabulary.pxi"

cdef enum:
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    ACK = 0x10
    SFR = SYN | FIN | RST
cdef int64_t M32 = 0xFFFFFFFF
cdef int64_t HALF = 0x80000000


cdef inline bint _lt(int64_t a, int64_t b) noexcept nogil:
    """a < b in 32-bit sequence space."""
    return ((a - b) & M32) >= HALF


cdef inline bint _le(int64_t a, int64_t b) noexcept nogil:
    return ((b - a) & M32) < HALF


cdef inline bint _same_ack_as_before(Frame* f, int64_t seglen, Endpoint* es) noexcept nogil:
    """A pure ACK that repeats this side's last ACK at its next sequence number."""
    return seglen == 0 and f.seq == es.nextseq and f.ack == es.lastack and (f.flags & SFR) == 0


cdef inline bint _sacked(int64_t seq, const int64_t* blocks) noexcept nogil:
    """*seq* lies inside one of the SACK *blocks* (left << 32 | right, -1 ends them)."""
    cdef int k
    for k in range(4):
        if blocks[k] == -1:
            break
        if _le(<int64_t>((<uint64_t>blocks[k]) >> 32), seq) and _lt(seq, blocks[k] & M32):
            return True
    return False


# ---- the checks, in Wireshark's order; each returns the label bits it adds ----------------

cdef inline int64_t zero_window_probe(Frame* f, int64_t seglen, Endpoint* es, Endpoint* eo) noexcept nogil:
    if seglen == 1 and f.seq == es.nextseq and eo.window == 0:
        return L_ZERO_WINDOW_PROBE
    return 0


cdef inline int64_t zero_window(Frame* f) noexcept nogil:
    if f.window == 0 and (f.flags & SFR) == 0:
        return L_ZERO_WINDOW
    return 0


cdef inline int64_t lost_segment(Frame* f, Endpoint* es) noexcept nogil:
    if es.nextseq != 0 and _lt(es.nextseq, f.seq) and (f.flags & RST) == 0:
        es.valid_bif = 0
        return L_LOST_SEGMENT
    return 0


cdef inline int64_t keep_alive(Frame* f, int64_t seglen, Endpoint* es) noexcept nogil:
    if seglen <= 1 and f.seq == ((es.nextseq - 1) & M32) and (f.flags & SFR) == 0:
        return L_KEEP_ALIVE
    return 0


cdef inline int64_t window_probe(int64_t got, Endpoint* eo) noexcept nogil:
    """pcapan's own label: Wireshark has no name for Linux's way of probing a closed window."""
    if got & L_KEEP_ALIVE and eo.window == 0:
        return L_WINDOW_PROBE
    return 0


cdef inline int64_t window_update(Frame* f, int64_t seglen, Endpoint* es, int ws) noexcept nogil:
    # 4.4: an ACK carrying SACK blocks is a duplicate ACK, whatever its window
    if ws >= WS_4_4 and f.sack_bytes >= 0:
        return 0
    if f.window != 0 and f.window != es.window and _same_ack_as_before(f, seglen, es):
        return L_WINDOW_UPDATE
    return 0


cdef inline int64_t window_full(Frame* f, int64_t seglen, Endpoint* eo) noexcept nogil:
    cdef int64_t shift = 0
    if seglen > 0 and eo.win_scale != -1 and (f.flags & SFR) == 0:
        if not eo.first_ack and eo.win_scale != -2:
            shift = eo.win_scale
        if ((f.seq + seglen) & M32) == ((eo.lastack + (<int64_t>eo.window << shift)) & M32):
            return L_WINDOW_FULL
    return 0


cdef inline int64_t keep_alive_ack(Frame* f, int64_t seglen, Endpoint* es, Endpoint* eo) noexcept nogil:
    if f.window != 0 and f.window == es.window and eo.lastflags & L_KEEP_ALIVE and _same_ack_as_before(f, seglen, es):
        return L_KEEP_ALIVE_ACK
    return 0


cdef inline int64_t zero_window_probe_ack(Frame* f, int64_t seglen, Endpoint* es, Endpoint* eo) noexcept nogil:
    if (f.window == 0 and es.window == 0 and eo.lastflags & L_ZERO_WINDOW_PROBE
            and _same_ack_as_before(f, seglen, es)):
        return L_ZERO_WINDOW_PROBE_ACK
    return 0


cdef inline int64_t duplicate_ack(Frame* f, int64_t seglen, Endpoint* es, int ws) noexcept nogil:
    # 4.4: an ACK carrying SACK blocks is a duplicate ACK even when its window changed
    cdef bint same_window = f.window == es.window or (ws >= WS_4_4 and f.sack_bytes >= 0)
    if f.window != 0 and same_window and _same_ack_as_before(f, seglen, es):
        es.dupacknum = 1 if es.dupacknum == -1 else es.dupacknum + 1
        f.dup_num = es.dupacknum
        f.dup_of = es.lastnondup
        return L_DUPLICATE_ACK
    return 0


cdef inline int64_t ack_lost_segment(Frame* f, Endpoint* eo, int ws) noexcept nogil:
    """The ACK covers data of the peer's that was never seen."""
    cdef bint first
    if eo.maxseq != 0 and f.flags & ACK and _lt(eo.maxseq, f.ack):
        if _lt(eo.maxseq, eo.nextseq):
            eo.maxseq = eo.nextseq
            return L_ACK_LOST_SEGMENT
        first = eo.dupacknum == 0
        eo.dupacknum = -1          # no repeats until the peer's own ACK moves
        return L_ACK_LOST_SEGMENT if first else 0
    return 0


cdef inline bint _seen_before(Frame* f, int64_t end, vector[Unacked]* mine, bint whole) noexcept nogil:
    """The segment starts (*whole*: lies entirely) inside one of this side's segments still waiting
    for an ACK."""
    cdef size_t j
    for j in range(mine.size()):
        if (_le(mine[0][j].seq, f.seq) and _lt(f.seq, mine[0][j].end)
                and (not whole or _le(end, mine[0][j].end))):
            return True
    return False


cdef inline int64_t resend(Frame* f, int64_t seglen, Endpoint* es, Endpoint* eo, int64_t irtt, int ws,
                           vector[Unacked]* mine, const int64_t* their_sack) noexcept nogil:
    """Spurious, fast, out-of-order or plain retransmission (the first that applies); *their_sack*:
    the SACK blocks of the peer's last segment (NULL: it never sent any)."""
    cdef bint not_advanced = es.nextseq != 0 and _lt(f.seq, es.nextseq)
    cdef int64_t since, end
    if seglen > 1 and f.seq == ((es.nextseq - 1) & M32):
        not_advanced = False
    if seglen > 0 and eo.lastack != 0 and _le((f.seq + seglen) & M32, eo.lastack):
        return L_SPURIOUS_RETRANSMISSION | L_RETRANSMISSION
    if not not_advanced:
        return 0
    since = f.now - eo.lastacktime
    # 4.0 keeps the counter unsigned: the -1 left by ack_lost_segment counts as many (4.4 does not)
    if ((eo.dupacknum >= 2 or (eo.dupacknum == -1 and ws < WS_4_4)) and 0 <= since < FAST_RETRANSMISSION_NS
            and (eo.lastack == f.seq
                 # 4.4: also any hole the duplicate ACKs' SACK blocks leave
                 or (ws >= WS_4_4 and their_sack != NULL and their_sack[0] != -1
                     and not _sacked(f.seq, their_sack)))):
        return L_FAST_RETRANSMISSION | L_RETRANSMISSION
    end = (f.seq + seglen + (1 if f.flags & (SYN | FIN) else 0)) & M32
    # 4.4: data seen before and not yet acknowledged is sent again, however soon (4.6: only when
    # all of it was seen)
    if ws >= WS_4_4 and _seen_before(f, end, mine, ws >= WS_4_6):
        return L_RETRANSMISSION
    # 4.6 times an out-of-order segment from the receiver's last ACK, not from the newest data
    since = f.now - (eo.lastacktime if ws >= WS_4_6 else es.nextseqtime)
    if 0 <= since < (irtt if irtt != 0 else OUT_OF_ORDER_NS) and es.nextseq != end:
        return L_OUT_OF_ORDER
    return L_RETRANSMISSION


@cython.final
cdef class Sequence:
    """The sequence analysis of every TCP stream of one capture, as its segments come."""

    def __cinit__(self):
        self.in_flight = True
        self.wireshark = WS_4_6

    cdef Connection* _connection(self, int64_t stream) noexcept nogil:
        cdef Connection c
        cdef vector[Unacked] none
        cdef int e
        while <int64_t>self.conns.size() <= stream:
            for e in range(2):
                c.ep[e].nextseq = c.ep[e].maxseq = c.ep[e].lastack = c.ep[e].base = c.ep[e].sack = 0
                c.ep[e].later = -1
                c.ep[e].window = 0xFFFFFFFF
                c.ep[e].lastflags = 0
                c.ep[e].dupacknum = 0
                c.ep[e].win_scale = -1
                c.ep[e].valid_bif = 1
                c.ep[e].first_ack = c.ep[e].base_set = 0
                c.ep[e].nextseqtime = c.ep[e].nextseqframe = c.ep[e].lastacktime = c.ep[e].lastnondup = 0
                c.ep[e].moved_time = 0
            c.irtt = c.last_syn = 0
            c.syn_seen = 0
            self.conns.push_back(c)
            self.unacked.push_back(none)
            self.unacked.push_back(none)
        return &self.conns[stream]

    cdef Later* _later(self, Endpoint* e) noexcept nogil:
        """The side's Later, made now if it has none yet (a pointer valid until the next one is
        made)."""
        cdef Later lt
        if e.later < 0:
            lt.sack[0] = lt.sack[1] = lt.sack[2] = lt.sack[3] = -1
            lt.dup_frame = -1
            lt.dup_time = lt.fin_frame = 0
            lt.dup_ack = lt.fin_end = 0
            e.later = <int32_t>self.later.size()
            self.later.push_back(lt)
        return &self.later[e.later]

    cdef inline Later* _made(self, Endpoint* e) noexcept nogil:
        """The side's Later, NULL while it has none."""
        return &self.later[e.later] if e.later >= 0 else NULL

    cdef void step(self, Frame* f) noexcept nogil:
        """Analyse one TCP segment of its stream."""
        cdef Connection* c = self._connection(f.stream)
        cdef int64_t s = f.side, o = 1 - f.side
        cdef Endpoint* es = &c.ep[s]
        cdef Endpoint* eo = &c.ep[o]
        f.dup_num = f.dup_of = f.acks_frame = f.bif = f.rto_frame = f.asked_frame = f.copy_frame = f.fin_frame = -1
        f.rtt = f.rto = f.since_copy = f.irtt = NAN
        f.wsize = f.window
        if f.known:
            f.labels |= self._analyse(f, c, s)
        # window_size is the raw field scaled by the shift known so far
        if (f.flags & SYN) == 0 and es.win_scale >= 0 and f.window >= 0:
            f.wsize = f.window << es.win_scale
        # the handshake's bookkeeping, after the analysis
        if f.flags & SYN:
            es.first_ack = 1
            if (f.flags & ACK) == 0:
                c.last_syn = f.now
                c.syn_seen = 1
        elif f.flags & ACK:
            if c.syn_seen and c.irtt == 0:
                c.irtt = f.now - c.last_syn
            es.first_ack = 0
        if c.irtt != 0:
            f.irtt = c.irtt / 1e9
        es.sack = <uint32_t>(f.sack_bytes if f.sack_bytes > 0 else 0)
        if f.sack[0] != -1 or es.later >= 0:
            self._later(es).sack = f.sack
        if f.wscale >= 0:
            es.win_scale = <int8_t>(f.wscale if f.wscale < 14 else 14)
        if f.flags & SYN:
            if es.win_scale == -1:
                es.win_scale = -2
                eo.win_scale = -2
            elif (f.flags & ACK) and eo.win_scale == -2:
                es.win_scale = -2

    cdef int64_t _analyse(self, Frame* f, Connection* c, int64_t s) noexcept nogil:
        cdef Endpoint* es = &c.ep[s]
        cdef Endpoint* eo = &c.ep[1 - s]
        cdef vector[Unacked]* mine = &self.unacked[2 * f.stream + s]
        cdef int64_t seglen = f.plen, got = 0, end, kind, copied
        cdef bint syn_fin = (f.flags & (SYN | FIN)) != 0
        cdef bint occupies = seglen > 0 or syn_fin
        cdef Unacked u
        cdef Later* lt
        cdef Later* theirs
        if not es.base_set:
            es.base = <uint32_t>((f.seq - f.rel_seq) & M32)
            es.base_set = 1
        if f.flags & ACK:
            eo.valid_bif = 1
        got = zero_window_probe(f, seglen, es, eo)
        if got == 0:
            got |= zero_window(f)
            got |= lost_segment(f, es)
            got |= keep_alive(f, seglen, es)
            got |= window_probe(got, eo)
            got |= window_update(f, seglen, es, self.wireshark)
            got |= window_full(f, seglen, eo)
            kind = keep_alive_ack(f, seglen, es, eo)
            if kind == 0:
                kind = zero_window_probe_ack(f, seglen, es, eo)
            if kind == 0:
                kind = duplicate_ack(f, seglen, es, self.wireshark)
                if kind:
                    lt = self._later(es)
                    lt.dup_frame = f.frame
                    lt.dup_ack = <uint32_t>f.ack
                    lt.dup_time = f.now
            got |= kind
        if f.ack != es.lastack:
            es.lastnondup = f.frame
            es.moved_time = f.now
            es.dupacknum = 0
        got |= ack_lost_segment(f, eo, self.wireshark)
        if occupies and (got & L_KEEP_ALIVE) == 0:
            theirs = self._made(eo)
            kind = resend(f, seglen, es, eo, c.irtt, self.wireshark, mine,
                          &theirs.sack[0] if theirs != NULL else NULL)
            got |= kind
            if kind & L_RETRANSMISSION:
                copied = self._copy(f, es, mine, (f.seq + seglen + (1 if syn_fin else 0)) & M32)
                if kind == L_RETRANSMISSION:
                    self._timeout(f, es, eo, mine, copied)
        self._closing(f, seglen, es, eo)
        end = (f.seq + seglen) & M32
        if occupies and mine.size() < MAX_UNACKED_SEGMENTS:
            if syn_fin:
                end = (end + 1) & M32
            u.frame = f.frame
            u.seq = <uint32_t>f.seq
            u.end = <uint32_t>end
            u.time = f.now
            mine.push_back(u)
        if (es.nextseq == 0 or _lt(es.nextseq, end)) and not got & L_ZERO_WINDOW_PROBE:
            es.nextseq = <uint32_t>end
            es.nextseqtime = f.now
            es.nextseqframe = f.frame
        if (es.maxseq == 0 or f.seq == es.maxseq) and not got & L_ZERO_WINDOW_PROBE:
            es.maxseq = es.nextseq
        es.window = <uint32_t>f.window
        es.lastack = <uint32_t>f.ack
        es.lastacktime = f.now
        es.lastflags = <uint32_t>got
        self._acknowledge(f, &self.unacked[2 * f.stream + 1 - s])
        if seglen and es.valid_bif and mine.size() > 0 and self.in_flight:
            self._in_flight(f, es, eo, mine, syn_fin)
        return got

    cdef void _closing(self, Frame* f, int64_t seglen, Endpoint* es, Endpoint* eo) noexcept nogil:
        """The FIN a segment follows: a RST's sender's own earlier FIN (it closed, then reset), or
        the other side's FIN that an ACK acknowledges (its sequence number + 1)."""
        cdef Later* lt
        if f.flags & RST:
            lt = self._made(es)
            if lt != NULL and lt.fin_frame > 0:
                f.fin_frame = lt.fin_frame
        elif f.flags & ACK:
            lt = self._made(eo)
            if lt != NULL and lt.fin_frame > 0 and f.ack == lt.fin_end:
                f.fin_frame = lt.fin_frame
        if f.flags & FIN:
            lt = self._later(es)
            if lt.fin_frame == 0:
                lt.fin_frame = f.frame
                lt.fin_end = <uint32_t>((f.seq + seglen + 1) & M32)

    cdef int64_t _copy(self, Frame* f, Endpoint* es, vector[Unacked]* mine, int64_t end) noexcept nogil:
        """A resent segment's earlier copy: the latest captured segment still waiting for its ACK
        that carried some of the same bytes (none: the first copy was not captured).  Returns the
        time the copy was sent, -1 without one."""
        cdef size_t j = mine.size()
        while j > 0:
            j -= 1
            if _lt(mine[0][j].seq, end) and _lt(f.seq, mine[0][j].end):
                f.copy_frame = mine[0][j].frame
                f.since_copy = (f.now - mine[0][j].time) / 1e9
                return mine[0][j].time
        if es.nextseq == end and es.nextseqframe > 0:
            # acknowledged already (a SYN or FIN the peer answered): the segment that last
            # reached this end is the copy
            f.copy_frame = es.nextseqframe
            f.since_copy = (f.now - es.nextseqtime) / 1e9
            return es.nextseqtime
        return -1

    cdef void _timeout(self, Frame* f, Endpoint* es, Endpoint* eo, vector[Unacked]* mine,
                       int64_t copied) noexcept nogil:
        """A plain retransmission: how long the oldest waiting segment waited (Wireshark's RTO), and
        the receiver's ACK that asked for it, if one did and the receiver is still talking (loss
        recovery rather than a timer that fired): a duplicate ACK for these bytes, or a partial ACK
        (one that moved after the earlier copy was sent, up to these bytes and not past them; without
        a captured copy, one that moved to exactly these bytes)."""
        cdef int64_t sent
        cdef size_t j
        cdef Later* lo = self._made(eo)
        if mine.size() > 0:
            sent = mine[0][0].time
            f.rto_frame = mine[0][0].frame
        else:
            sent = es.nextseqtime
            f.rto_frame = es.nextseqframe
        # 4.4: timed from the oldest segment still waiting that does not start before this one
        for j in range(mine.size() if self.wireshark >= WS_4_4 else 0):
            if _le(f.seq, mine[0][j].seq):
                sent = mine[0][j].time
                f.rto_frame = mine[0][j].frame
                break
        f.rto = (f.now - sent) / 1e9
        if (lo != NULL and lo.dup_frame >= 0 and lo.dup_time > sent and _le(lo.dup_ack, f.seq)
                and 0 <= f.now - eo.lastacktime < RECOVERY_WITHIN_NS):
            f.asked_frame = lo.dup_frame
        elif (eo.lastnondup > 0 and 0 <= f.now - eo.moved_time < RECOVERY_WITHIN_NS
              and ((copied >= 0 and eo.moved_time > copied and _le(eo.lastack, f.seq))
                   or (copied < 0 and eo.lastack == f.seq))):
            f.asked_frame = eo.lastnondup

    cdef void _acknowledge(self, Frame* f, vector[Unacked]* theirs) noexcept nogil:
        """This segment's ACK against the peer's waiting segments, newest first: an exact match
        gives the RTT (the oldest such wins); covered segments are done with."""
        cdef bint partial_rtt = self.wireshark >= WS_4_4   # 4.4: a partial ACK is timed too
        cdef size_t n = theirs.size(), j = n, keep = 0
        cdef int64_t found = -1, found_t = 0, ak = f.ack
        while j > 0:
            j -= 1
            if ak == theirs[0][j].end:
                found = theirs[0][j].frame
                found_t = theirs[0][j].time
                theirs[0][j].frame = -1
            elif _lt(theirs[0][j].seq, ak) and _le(ak, theirs[0][j].end):
                theirs[0][j].seq = <uint32_t>ak
                if partial_rtt:
                    found = theirs[0][j].frame
                    found_t = theirs[0][j].time
            elif _lt(ak, theirs[0][j].end):
                pass
            else:
                theirs[0][j].frame = -1
        if found >= 0:
            f.acks_frame = found
            f.rtt = (f.now - found_t) / 1e9
        for j in range(n):
            if theirs[0][j].frame != -1:
                if keep != j:
                    theirs[0][keep] = theirs[0][j]
                keep += 1
        theirs.resize(keep)

    cdef void _in_flight(self, Frame* f, Endpoint* es, Endpoint* eo, vector[Unacked]* mine,
                         bint syn_fin) noexcept nogil:
        cdef int64_t first = M32 + 1, last = -1, a, b, inflight
        cdef size_t j
        for j in range(mine.size()):
            a = (mine[0][j].seq - es.base) & M32
            b = (mine[0][j].end - es.base) & M32
            if a < first:
                first = a
            if b > last:
                last = b
        inflight = last - first - eo.sack
        if 0 < inflight < 2_000_000_000:
            f.bif = inflight - (1 if syn_fin else 0)

    def memory(self):
        """Bytes held (for measuring memory per stream)."""
        cdef size_t total = self.conns.size() * sizeof(Connection)
        cdef size_t j
        total += self.unacked.size() * sizeof(vector[Unacked])
        for j in range(self.unacked.size()):
            total += self.unacked[j].capacity() * sizeof(Unacked)
        return total
