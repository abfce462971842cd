"""TCP sequence analysis: Wireshark 4.0's ``tcp.analysis.*`` verdicts.

This is what a course calls reliable delivery: sequence numbers detect gaps
and restore order, retransmissions recover losses, duplicate ACKs ask the
sender to repeat, and a timeout ends the wait when no ACK comes.

Each TCP stream is walked in frame order with state per endpoint (the next
expected sequence number, the last ACK and window it sent, its segments
still waiting for an ACK ...).  For every packet the checks of
:data:`CHECKS` run in Wireshark's order; a check may end the packet's
analysis early, as Wireshark's does.  The checks are small functions next
to the label they emit; the walk around them (:class:`SequenceAnalysis`)
keeps the state they read.

Labels (Wireshark's names):

``zero_window_probe``       one byte sent at the next expected sequence number
                            while the peer advertises a zero window.
``zero_window``             this side advertises a zero receive window: it
                            cannot take more data now.
``lost_segment``            the segment starts beyond the next expected
                            sequence number: something before it was not
                            captured ("previous segment not captured").
``keep_alive``              zero or one byte at next expected - 1: a probe
                            that the connection is still alive.
``window_probe``            (pcapan's own) a keep-alive sent while the peer
                            advertises a zero window: that is how Linux probes
                            a closed window, which Wireshark calls keep-alive
                            only.  Added next to Wireshark's label.
``window_update``           a pure ACK that only changes the window.
``window_full``             this segment fills the peer's advertised window.
``keep_alive_ack``          the answer to a keep-alive.
``zero_window_probe_ack``   the answer to a zero-window probe.
``duplicate_ack``           the same ACK again with no data or window change:
                            the receiver asks for the missing segment.
``ack_lost_segment``        acknowledges data that was never captured.
``spurious_retransmission`` resends data the peer had already acknowledged.
``fast_retransmission``     resends the segment the peer asked for with two
                            or more duplicate ACKs, within 20 ms of the last one.
``out_of_order``            an older segment seen soon (under the initial
                            RTT, or 3 ms) after newer data: reordered.
``retransmission``          resends data seen before (also set with
                            ``fast_retransmission`` and ``spurious_retransmission``,
                            as Wireshark does).

Columns: ``dup_ack_num``/``dup_ack_of`` (count and frame of the original
ACK), ``acks_frame``/``ack_rtt_s`` (the segment this ACK acknowledges and
the round-trip time), ``bytes_in_flight``, ``rto_s``/``rto_frame`` on plain
retransmissions (time since the oldest unacknowledged segment was sent: the
timeout that ended the wait), ``window_size`` (window after scaling) and
``initial_rtt_s`` (handshake RTT, once known).

Chunked runs: ``SequenceAnalysis(carry=SequenceCarry())`` run over
consecutive chunks of a capture's frames (one carry for all of them) starts
every stream where the previous chunk left it, so the result equals one run
over the whole capture while only the state of the streams is kept.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd

from . import sequence_kernel
from .base import Rule, RuleContext

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_SFR = _SYN | _FIN | _RST
_M = 0xFFFFFFFF
_FAST_RETRANS_NS = 20_000_000       # dup ACK to resend, for a fast retransmission
_OOO_DEFAULT_NS = 3_000_000         # out-of-order threshold without an initial RTT
_MAX_UNACKED = 10_000               # segments remembered per endpoint, as Wireshark


def _lt(a: int, b: int) -> bool:
    """a < b in 32-bit sequence space."""
    return ((a - b) & _M) >= 0x80000000


def _gt(a: int, b: int) -> bool:
    return ((b - a) & _M) >= 0x80000000


def _le(a: int, b: int) -> bool:
    return ((b - a) & _M) < 0x80000000


def _within(now: int, then: int, limit: int) -> bool:
    """now - then < limit, where a negative difference never counts (unsigned)."""
    d = now - then
    return 0 <= d < limit


class Endpoint:
    """What one side of a connection has done so far."""

    __slots__ = ("nextseq", "nextseqtime", "nextseqframe", "maxseqtobeacked", "lastack",
                 "lastacktime", "window", "dupacknum", "lastnondupack", "lastflags", "valid_bif",
                 "win_scale", "is_first_ack", "unacked", "base", "sack_bytes")

    def __init__(self) -> None:
        self.nextseq = 0            # 0 means "not known yet" (Wireshark's convention)
        self.nextseqtime = 0
        self.nextseqframe = 0
        self.maxseqtobeacked = 0
        self.lastack = 0            # raw ack field of this side's last packet
        self.lastacktime = 0
        self.window = 0xFFFFFFFF    # raw window of this side's last packet
        self.dupacknum = 0
        self.lastnondupack = 0
        self.lastflags: frozenset = frozenset()
        self.valid_bif = True
        self.win_scale = -1         # -1 unknown, -2 no scaling, else the shift
        self.is_first_ack = False
        self.unacked: list[list[int]] = []   # [frame, seq, end, time], oldest first
        self.base: int | None = None
        self.sack_bytes = 0


@dataclass
class Packet:
    """The fields of the packet under analysis (reused for every packet)."""

    frame: int = 0
    now: int = 0
    flags: int = 0
    seq: int = 0
    ack: int = 0
    seglen: int = 0
    window: int = 0


# ---- the checks, in Wireshark's order -------------------------------------
# Each returns the label to add (or None).  A check listed in _ENDS_ANALYSIS
# ends the flag checks for the packet when it fires.

def zero_window_probe(p: Packet, fwd: Endpoint, rev: Endpoint, got: set) -> str | None:
    if p.seglen == 1 and p.seq == fwd.nextseq and rev.window == 0:
        return "zero_window_probe"
    return None


def zero_window(p, fwd, rev, got):
    if p.window == 0 and not p.flags & _SFR:
        return "zero_window"
    return None


def lost_segment(p, fwd, rev, got):
    if fwd.nextseq and _gt(p.seq, fwd.nextseq) and not p.flags & _RST:
        fwd.valid_bif = False
        return "lost_segment"
    return None


def keep_alive(p, fwd, rev, got):
    if p.seglen <= 1 and p.seq == (fwd.nextseq - 1) & _M and not p.flags & _SFR:
        return "keep_alive"
    return None


def window_probe(p, fwd, rev, got):
    """Our own label: Wireshark has no name for Linux's way of probing a closed window."""
    if "keep_alive" in got and rev.window == 0:
        return "window_probe"
    return None


def _same_ack_as_before(p: Packet, fwd: Endpoint) -> bool:
    return (p.seglen == 0 and p.seq == fwd.nextseq and p.ack == fwd.lastack
            and not p.flags & _SFR)


def window_update(p, fwd, rev, got):
    if p.window and p.window != fwd.window and _same_ack_as_before(p, fwd):
        return "window_update"
    return None


def window_full(p, fwd, rev, got):
    if p.seglen > 0 and rev.win_scale != -1 and not p.flags & _SFR:
        shift = 0 if rev.is_first_ack or rev.win_scale == -2 else rev.win_scale
        if (p.seq + p.seglen) & _M == (rev.lastack + (rev.window << shift)) & _M:
            return "window_full"
    return None


def keep_alive_ack(p, fwd, rev, got):
    if (p.window and p.window == fwd.window and "keep_alive" in rev.lastflags
            and _same_ack_as_before(p, fwd)):
        return "keep_alive_ack"
    return None


def zero_window_probe_ack(p, fwd, rev, got):
    if (p.window == 0 and fwd.window == 0 and "zero_window_probe" in rev.lastflags
            and _same_ack_as_before(p, fwd)):
        return "zero_window_probe_ack"
    return None


def duplicate_ack(p, fwd, rev, got):
    if p.window and p.window == fwd.window and _same_ack_as_before(p, fwd):
        fwd.dupacknum = 1 if fwd.dupacknum == -1 else fwd.dupacknum + 1
        return "duplicate_ack"
    return None


CHECKS: tuple[Callable, ...] = (
    zero_window_probe, zero_window, lost_segment, keep_alive, window_probe, window_update,
    window_full, keep_alive_ack, zero_window_probe_ack, duplicate_ack,
)
_ENDS_ANALYSIS = frozenset((zero_window_probe, keep_alive_ack, zero_window_probe_ack, duplicate_ack))


def ack_lost_segment(p: Packet, fwd: Endpoint, rev: Endpoint) -> bool:
    """The ACK covers data of the peer's that was never seen."""
    if rev.maxseqtobeacked and p.flags & _ACK and _gt(p.ack, rev.maxseqtobeacked):
        if _lt(rev.maxseqtobeacked, rev.nextseq):
            rev.maxseqtobeacked = rev.nextseq
            return True
        fire = rev.dupacknum == 0
        rev.dupacknum = -1      # no repeats until the peer's own ACK moves
        return fire
    return False


def resend_kind(p: Packet, fwd: Endpoint, rev: Endpoint, irtt: int) -> str | None:
    """Spurious, fast, out-of-order or plain retransmission (first match)."""
    not_adv = fwd.nextseq != 0 and _lt(p.seq, fwd.nextseq)
    if p.seglen > 1 and p.seq == (fwd.nextseq - 1) & _M:
        not_adv = False
    if p.seglen > 0 and rev.lastack and _le((p.seq + p.seglen) & _M, rev.lastack):
        return "spurious_retransmission"
    if not not_adv:
        return None
    # Wireshark keeps the counter unsigned: the -1 left by ack_lost_segment
    # compares as a huge number here.
    if (rev.dupacknum >= 2 or rev.dupacknum == -1) and rev.lastack == p.seq and _within(p.now, rev.lastacktime, _FAST_RETRANS_NS):
        return "fast_retransmission"
    end = (p.seq + p.seglen + (1 if p.flags & (_SYN | _FIN) else 0)) & _M
    if _within(p.now, fwd.nextseqtime, irtt or _OOO_DEFAULT_NS) and fwd.nextseq != end:
        return "out_of_order"
    return "retransmission"


class SequenceCarry:
    """Per-stream state carried from one chunk of a capture to the next.

    Give the same carry to ``SequenceAnalysis(carry=...)`` for consecutive
    chunks of frames (each a packet table with the same columns, stream ids
    and sides numbered across the whole capture): every stream then starts
    where the previous chunk left it, and the labels and columns come out as
    one run over the whole capture would give them.

    For each stream seen so far (``streams``, sorted stream ids) it keeps,
    in the compiled kernel's layout: ``state`` (streams x 2 sides x
    ``sequence_kernel.NSLOTS``), ``times`` (streams x (initial RTT, time of
    the last SYN), in ns) and the unacknowledged segments of both sides in
    one flat ``unacked`` array (rows of frame, seq, end, time), side e of
    stream i holding ``state[i, e, NUNACKED]`` rows from
    ``unacked_start[i, e]`` on.  Only segments still waiting for an ACK are
    kept, so its size follows what is unacknowledged, not the packets.
    """

    def __init__(self) -> None:
        self.streams = np.zeros(0, dtype=np.int64)
        self.state = sequence_kernel.fresh_state(0)
        self.times = np.zeros((0, 2), dtype=np.int64)
        self.unacked = np.zeros((0, 4), dtype=np.int64)
        self.unacked_start = np.zeros((0, 2), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.streams)

    def __contains__(self, stream: int) -> bool:
        i = int(np.searchsorted(self.streams, stream))
        return i < len(self.streams) and int(self.streams[i]) == stream

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.streams, self.state, self.times, self.unacked, self.unacked_start))

    def _slots(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each id: its slot here and whether it is present."""
        pos = np.searchsorted(self.streams, ids)
        found = pos < len(self.streams)
        found[found] = self.streams[pos[found]] == ids[found]
        return pos, found

    def initial(self, ids: np.ndarray):
        """Start state of streams *ids*: (state, times, unacked, unacked_start).

        Streams not seen before start fresh (no unacked segments); the
        unacked array is this carry's own (read only), addressed by the
        returned starts.
        """
        ids = np.asarray(ids, dtype=np.int64)
        pos, found = self._slots(ids)
        state = sequence_kernel.fresh_state(len(ids))
        times = np.zeros((len(ids), 2), dtype=np.int64)
        starts = np.zeros((len(ids), 2), dtype=np.int64)
        state[found] = self.state[pos[found]]
        times[found] = self.times[pos[found]]
        starts[found] = self.unacked_start[pos[found]]
        return state, times, self.unacked, starts

    def store(self, ids, state, times, unacked, unacked_start) -> None:
        """Replace the state of streams *ids* (unique) by the given final state."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        all_ids = np.union1d(self.streams, ids)
        old = np.searchsorted(all_ids, self.streams)
        new = np.searchsorted(all_ids, ids)
        n = len(all_ids)
        st = np.empty((n, 2, sequence_kernel.NSLOTS), dtype=np.int64)
        tm = np.empty((n, 2), dtype=np.int64)
        src = np.empty((n, 2), dtype=np.int64)
        st[old], tm[old], src[old] = self.state, self.times, self.unacked_start
        st[new], tm[new] = state, times
        src[new] = np.asarray(unacked_start, dtype=np.int64) + len(self.unacked)
        # gather both sources into one compact array, stream by stream
        counts = st[:, :, sequence_kernel.NUNACKED].ravel()
        first = np.cumsum(counts) - counts
        combined = np.concatenate((self.unacked, np.asarray(unacked, dtype=np.int64).reshape(-1, 4)))
        total = int(counts.sum())
        take = np.repeat(src.ravel() - first, counts) + np.arange(total, dtype=np.int64)
        self.unacked = combined[take]
        self.unacked_start = first.reshape(n, 2)
        self.streams, self.state, self.times = all_ids, st, tm

    def discard(self, ids) -> None:
        """Forget streams *ids* (e.g. ones known to be over): they would start fresh again."""
        keep = ~np.isin(self.streams, np.asarray(ids, dtype=np.int64))
        if keep.all():
            return
        counts = self.state[keep][:, :, sequence_kernel.NUNACKED].ravel()
        first = np.cumsum(counts) - counts
        take = np.repeat(self.unacked_start[keep].ravel() - first, counts) + np.arange(int(counts.sum()))
        self.unacked = self.unacked[take]
        self.unacked_start = first.reshape(-1, 2)
        self.streams, self.state, self.times = self.streams[keep], self.state[keep], self.times[keep]


def _endpoint_from_state(row: np.ndarray, unacked: np.ndarray) -> Endpoint:
    """The Python reference's endpoint from a kernel-layout state row."""
    k = sequence_kernel
    e = Endpoint()
    (e.nextseq, e.nextseqtime, e.nextseqframe, e.maxseqtobeacked, e.lastack, e.lastacktime, e.window,
     e.dupacknum, e.lastnondupack) = (int(row[i]) for i in (
         k.NEXTSEQ, k.NEXTSEQTIME, k.NEXTSEQFRAME, k.MAXSEQ, k.LASTACK, k.LASTACKTIME, k.WINDOW,
         k.DUPACKNUM, k.LASTNONDUP))
    bits = int(row[k.LASTFLAGS])
    e.lastflags = frozenset(name for b, name in enumerate(k.LABEL_BITS) if bits >> b & 1)
    e.valid_bif = bool(row[k.VALID_BIF])
    e.win_scale = int(row[k.WIN_SCALE])
    e.is_first_ack = bool(row[k.FIRST_ACK])
    e.base = int(row[k.BASE]) if row[k.BASE_SET] else None
    e.sack_bytes = int(row[k.SACK])
    e.unacked = unacked.tolist()
    return e


def _endpoint_to_state(e: Endpoint) -> np.ndarray:
    k = sequence_kernel
    row = np.zeros(k.NSLOTS, dtype=np.int64)
    for i, v in ((k.NEXTSEQ, e.nextseq), (k.NEXTSEQTIME, e.nextseqtime), (k.NEXTSEQFRAME, e.nextseqframe),
                 (k.MAXSEQ, e.maxseqtobeacked), (k.LASTACK, e.lastack), (k.LASTACKTIME, e.lastacktime),
                 (k.WINDOW, e.window), (k.DUPACKNUM, e.dupacknum), (k.LASTNONDUP, e.lastnondupack),
                 (k.VALID_BIF, int(e.valid_bif)), (k.WIN_SCALE, e.win_scale), (k.FIRST_ACK, int(e.is_first_ack)),
                 (k.BASE, e.base or 0), (k.BASE_SET, int(e.base is not None)), (k.SACK, e.sack_bytes),
                 (k.NUNACKED, len(e.unacked))):
        row[i] = v
    row[k.LASTFLAGS] = sum(1 << b for b, name in enumerate(k.LABEL_BITS) if name in e.lastflags)
    return row


@dataclass
class SequenceAnalysis(Rule):
    """Wireshark's per-stream sequence analysis (see the module docstring)."""

    name = "sequence"
    # Run the compiled kernel (numba); False runs the readable Python reference.
    compiled: bool = True
    # Chunked runs: streams start from (and leave their state in) this carry.
    carry: SequenceCarry | None = None
    labels = {
        "zero_window_probe": "one byte sent into a zero window to see if it opened",
        "zero_window": "receiver advertises a zero window: it cannot take more data now",
        "lost_segment": "previous segment not captured: a gap in the sequence numbers",
        "keep_alive": "keep-alive: asks whether the idle connection is still there",
        "window_probe": "keep-alive sent into a zero window: Linux probing whether the window opened (pcapan's label)",
        "window_update": "pure ACK that only changes the advertised window",
        "window_full": "segment fills the receiver's advertised window",
        "keep_alive_ack": "answer to a keep-alive",
        "zero_window_probe_ack": "answer to a zero-window probe",
        "duplicate_ack": "same ACK again: the receiver asks for a missing segment",
        "ack_lost_segment": "acknowledges data that was not captured",
        "spurious_retransmission": "resends data the receiver had already acknowledged",
        "fast_retransmission": "resent after duplicate ACKs asked for it (no timeout)",
        "out_of_order": "older segment arriving just after newer data: reordered",
        "retransmission": "resends data already sent (the earlier copy got no ACK in time)",
    }
    columns = {
        "dup_ack_num": "which duplicate of the original ACK this is (1, 2, ...)",
        "dup_ack_of": "frame of the original ACK being duplicated",
        "acks_frame": "frame of the segment this packet acknowledges",
        "ack_rtt_s": "round-trip time from that segment to this ACK",
        "bytes_in_flight": "bytes sent and not yet acknowledged",
        "rto_s": "on retransmissions: time since the oldest unacknowledged segment was sent",
        "rto_frame": "on retransmissions: that segment's frame",
        "window_size": "advertised window in bytes after window scaling",
        "initial_rtt_s": "handshake round-trip time, SYN to the first ACK (once known)",
    }

    def for_chunks(self, **shared) -> "SequenceAnalysis":
        return replace(self, carry=SequenceCarry())

    def run(self, ctx: RuleContext) -> None:
        n = ctx.n
        frame = ctx.array("frame", 0, np.int64)
        ts = ctx.array("ts_ns", 0, np.int64)
        flags = ctx.array("tcp_flags", 0, np.int64)
        seq = ctx.array("seq", 0, np.int64)
        ack = ctx.array("ack", 0, np.int64)
        window = ctx.array("window", 0, np.int64)
        wscale = ctx.array("wscale", -1, np.int64)
        sack = ctx.array("sack_bytes", 0, np.int64)
        side = ctx.array("side", -1, np.int64)
        rel_seq = ctx.array("rel_seq", 0, np.int64)
        known = ctx.packets["payload_len"].notna().to_numpy() & (ctx.packets["malformed"].isna().to_numpy())
        known &= ~ctx.packets["fragment"].isin(["first", "non_first"]).to_numpy()
        plen = ctx.array("payload_len", 0, np.int64)

        out = {name: np.full(n, -1, dtype=np.int64) for name in
               ("dup_ack_num", "dup_ack_of", "acks_frame", "bytes_in_flight", "rto_frame")}
        rtt = np.full(n, np.nan)
        rto = np.full(n, np.nan)
        irtt_col = np.full(n, np.nan)
        wsize = window.copy()

        if self.compiled and sequence_kernel.kernel is not None:
            self._run_compiled(ctx, locals(), out, rtt, rto, irtt_col, wsize, self.carry)
        else:
            self._run_python(ctx, locals(), out, rtt, rto, irtt_col, wsize, self.carry)

        def nullable(a):
            return pd.arrays.IntegerArray(a, a < 0)

        for name, values in out.items():
            ctx.add_column(name, nullable(values))
        ctx.add_column("ack_rtt_s", rtt)
        ctx.add_column("rto_s", rto)
        ctx.add_column("initial_rtt_s", irtt_col)
        ctx.add_column("window_size", pd.arrays.IntegerArray(wsize, ctx.packets["window"].isna().to_numpy()))

    @staticmethod
    def _run_compiled(ctx, a, out, rtt, rto, irtt_col, wsize, carry: SequenceCarry | None = None) -> None:
        """All streams in one compiled pass (see sequence_kernel); same results."""
        order, starts, ends, ids = ctx.tcp_groups()
        if not len(order):
            return
        g = {k: np.ascontiguousarray(a[k][order], dtype=np.int64) for k in
             ("frame", "ts", "flags", "seq", "ack", "window", "wscale", "sack", "side", "rel_seq", "plen")}
        known = np.ascontiguousarray(a["known"][order], dtype=np.bool_)
        m = len(order)
        labels = np.zeros(m, dtype=np.int64)
        o = {k: np.full(m, -1, dtype=np.int64) for k in out}
        o_rtt, o_rto, o_irtt = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
        o_wsize = g["window"].copy()
        if carry is None:
            state = sequence_kernel.no_carry()
        else:
            # start state in, final state out; each row adds at most one unacked entry
            in_ep, in_times, in_una, in_start = carry.initial(ids)
            room = int(in_ep[:, :, sequence_kernel.NUNACKED].sum()) + m
            state = (True, in_ep, in_times, in_una, in_start, np.empty_like(in_ep), np.empty_like(in_times),
                     np.empty((room, 4), dtype=np.int64), np.empty_like(in_start))
        used = sequence_kernel.kernel(
            starts, ends, g["frame"], g["ts"], g["flags"], g["seq"], g["ack"], g["window"],
            g["wscale"], g["sack"], g["side"], g["rel_seq"], known, g["plen"], labels,
            o["dup_ack_num"], o["dup_ack_of"], o["acks_frame"], o["bytes_in_flight"],
            o["rto_frame"], o_rtt, o_rto, o_irtt, o_wsize, *state)
        if carry is not None:
            carry.store(ids, state[5], state[6], state[7][:used], state[8])
        for k in out:
            out[k][order] = o[k]
        rtt[order], rto[order], irtt_col[order], wsize[order] = o_rtt, o_rto, o_irtt, o_wsize
        ctx.label_bits(order, labels, sequence_kernel.LABEL_BITS)

    def _run_python(self, ctx, a, out, rtt, rto, irtt_col, wsize, carry: SequenceCarry | None = None) -> None:
        """The readable reference: one stream at a time, one packet at a time."""
        frame, ts, flags, seq, ack = a["frame"], a["ts"], a["flags"], a["seq"], a["ack"]
        window, wscale, sack, side, rel_seq = a["window"], a["wscale"], a["sack"], a["side"], a["rel_seq"]
        known, plen = a["known"], a["plen"]
        p = Packet()
        names = sequence_kernel.LABEL_BITS
        bits = np.zeros(ctx.n, dtype=np.int64)   # labels as the kernel gives them, in its fixed order
        streams = list(ctx.tcp_streams())
        if carry is not None:
            ids = np.asarray([sid for sid, _ in streams], dtype=np.int64)
            in_ep, in_times, in_una, in_start = carry.initial(ids)
            final = []
        for g, (_stream, rows) in enumerate(streams):
            if carry is None:
                ends = (Endpoint(), Endpoint())
                irtt = 0
                last_syn = 0
            else:
                ends = tuple(_endpoint_from_state(
                    in_ep[g, e], in_una[in_start[g, e]:in_start[g, e] + in_ep[g, e, sequence_kernel.NUNACKED]])
                    for e in range(2))
                irtt, last_syn = int(in_times[g, 0]), int(in_times[g, 1])
            for r in rows.tolist():
                s = side[r]
                fwd, rev = ends[s], ends[1 - s]
                f = int(flags[r])
                p.frame, p.now, p.flags = int(frame[r]), int(ts[r]), f
                p.seq, p.ack, p.window = int(seq[r]), int(ack[r]), int(window[r])
                if known[r]:
                    p.seglen = int(plen[r])
                    if fwd.base is None:
                        fwd.base = (p.seq - int(rel_seq[r])) & _M
                    got = self._analyse(p, fwd, rev, r, irtt, out, rtt, rto)
                    for name in got:
                        bits[r] |= 1 << names.index(name)
                # window_size is the raw field scaled by the shift known so far
                if not f & _SYN and fwd.win_scale >= 0:
                    wsize[r] = p.window << fwd.win_scale
                # handshake bookkeeping and options (after the analysis)
                if f & _SYN:
                    fwd.is_first_ack = True
                    if not f & _ACK:
                        last_syn = p.now
                elif f & _ACK:
                    if last_syn and not irtt:
                        irtt = p.now - last_syn
                    fwd.is_first_ack = False
                if irtt:
                    irtt_col[r] = irtt / 1e9
                fwd.sack_bytes = int(sack[r])
                if wscale[r] >= 0:
                    fwd.win_scale = min(int(wscale[r]), 14)
                if f & _SYN:
                    if fwd.win_scale == -1:
                        fwd.win_scale = rev.win_scale = -2
                    elif f & _ACK and rev.win_scale == -2:
                        fwd.win_scale = -2
            if carry is not None:
                final.append((ends, irtt, last_syn))
        ctx.label_bits(np.arange(ctx.n), bits, names)
        if carry is not None and streams:
            state = np.stack([np.stack([_endpoint_to_state(e) for e in pair]) for pair, _, _ in final])
            times = np.asarray([(t_rtt, t_syn) for _, t_rtt, t_syn in final], dtype=np.int64)
            entries = [x for pair, _, _ in final for e in pair for x in e.unacked]
            counts = state[:, :, sequence_kernel.NUNACKED].ravel()
            starts = (np.cumsum(counts) - counts).reshape(-1, 2)
            carry.store(ids, state, times, np.asarray(entries, dtype=np.int64).reshape(-1, 4), starts)

    @staticmethod
    def _analyse(p: Packet, fwd: Endpoint, rev: Endpoint, r: int, irtt: int,
                 out: dict, rtt: np.ndarray, rto: np.ndarray) -> list[str]:
        got: list[str] = []
        gset: set = set()
        if p.flags & _ACK:
            rev.valid_bif = True
        for check in CHECKS:
            label = check(p, fwd, rev, gset)
            if label:
                got.append(label)
                gset.add(label)
                if label == "duplicate_ack":
                    out["dup_ack_num"][r] = fwd.dupacknum
                    out["dup_ack_of"][r] = fwd.lastnondupack
                if check in _ENDS_ANALYSIS:
                    break
        if p.ack != fwd.lastack:
            fwd.lastnondupack = p.frame
            fwd.dupacknum = 0
        if ack_lost_segment(p, fwd, rev):
            got.append("ack_lost_segment")
        syn_fin = p.flags & (_SYN | _FIN)
        occupies = p.seglen > 0 or syn_fin
        if occupies and "keep_alive" not in gset:
            kind = resend_kind(p, fwd, rev, irtt)
            if kind:
                got.append(kind)
                if kind in ("spurious_retransmission", "fast_retransmission"):
                    got.append("retransmission")
                elif kind == "retransmission":
                    if fwd.unacked:
                        oldest = fwd.unacked[0]
                        rto[r] = (p.now - oldest[3]) / 1e9
                        out["rto_frame"][r] = oldest[0]
                    else:
                        rto[r] = (p.now - fwd.nextseqtime) / 1e9
                        out["rto_frame"][r] = fwd.nextseqframe
        end = (p.seq + p.seglen) & _M
        if occupies and len(fwd.unacked) < _MAX_UNACKED:
            if syn_fin:
                end = (end + 1) & _M
            fwd.unacked.append([p.frame, p.seq, end, p.now])
        zwp = "zero_window_probe" in gset
        if (fwd.nextseq == 0 or _gt(end, fwd.nextseq)) and not zwp:
            fwd.nextseq, fwd.nextseqtime, fwd.nextseqframe = end, p.now, p.frame
        if (fwd.maxseqtobeacked == 0 or p.seq == fwd.maxseqtobeacked) and not zwp:
            fwd.maxseqtobeacked = fwd.nextseq
        fwd.window, fwd.lastack, fwd.lastacktime = p.window, p.ack, p.now
        fwd.lastflags = frozenset(got)
        # This packet's ack against the peer's unacknowledged segments,
        # newest first: an exact match gives the RTT (the oldest such wins).
        lst = rev.unacked
        for k in range(len(lst) - 1, -1, -1):
            e = lst[k]
            if p.ack == e[2]:
                out["acks_frame"][r] = e[0]
                rtt[r] = (p.now - e[3]) / 1e9
                del lst[k]
            elif _gt(p.ack, e[1]) and _le(p.ack, e[2]):
                e[1] = p.ack
            elif _gt(e[2], p.ack):
                continue
            else:
                del lst[k]
        if p.seglen and fwd.valid_bif and fwd.unacked and fwd.base is not None:
            base = fwd.base
            first = min((e[1] - base) & _M for e in fwd.unacked)
            last = max((e[2] - base) & _M for e in fwd.unacked)
            inflight = last - first - rev.sack_bytes
            if 0 < inflight < 2_000_000_000:
                out["bytes_in_flight"][r] = inflight - (1 if syn_fin else 0)
        return got
