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

This is the readable form of these decisions; the compiled engine
(``pcap_analyzer/_engine.pyx``) takes the same ones in the same order, and
the tests demand the same output from both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

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


@dataclass
class SequenceAnalysis(Rule):
    """Wireshark's per-stream sequence analysis (see the module docstring)."""

    name = "sequence"
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

        self._walk(ctx, locals(), out, rtt, rto, irtt_col, wsize)

        def nullable(a):
            return pd.arrays.IntegerArray(a, a < 0)

        for name, values in out.items():
            ctx.add_column(name, nullable(values))
        ctx.add_column("ack_rtt_s", rtt)
        ctx.add_column("rto_s", rto)
        ctx.add_column("initial_rtt_s", irtt_col)
        ctx.add_column("window_size", pd.arrays.IntegerArray(wsize, ctx.packets["window"].isna().to_numpy()))

    def _walk(self, ctx, a, out, rtt, rto, irtt_col, wsize) -> None:
        """One stream at a time, one packet at a time."""
        frame, ts, flags, seq, ack = a["frame"], a["ts"], a["flags"], a["seq"], a["ack"]
        window, wscale, sack, side, rel_seq = a["window"], a["wscale"], a["sack"], a["side"], a["rel_seq"]
        known, plen = a["known"], a["plen"]
        p = Packet()
        names = tuple(self.labels)
        bits = np.zeros(ctx.n, dtype=np.int64)   # labels as bits, in the order written
        for _stream, rows in ctx.tcp_streams():
            ends = (Endpoint(), Endpoint())
            irtt = 0
            last_syn = 0
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
        ctx.label_bits(np.arange(ctx.n), bits, names)

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
