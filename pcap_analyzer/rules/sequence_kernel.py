"""The sequence analysis of :mod:`.sequence`, compiled with numba.

Same decisions, same order, same state as the readable Python version in
``sequence.py`` (which stays the reference: the tests run both on every
sample capture and demand identical output).  This one walks every stream in
one compiled loop over column arrays, with per-endpoint state held in small
arrays and each endpoint's unacknowledged segments in a fixed-size buffer.
For chunked runs it can also take each stream's start state and hand back
its final state (see :class:`.sequence.SequenceCarry`).
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; keep the library importable
    numba = None

# Label bits, listed in the order the labels are written (sequence.py's order).
(ZWP, ZW, LOST, KA, WPROBE, WU, WF, KAACK, ZWPACK, DUP, ACKLOST, SPUR, FAST, OOO,
 RETR) = (1 << i for i in range(15))
LABEL_BITS = ("zero_window_probe", "zero_window", "lost_segment", "keep_alive", "window_probe",
              "window_update", "window_full", "keep_alive_ack", "zero_window_probe_ack", "duplicate_ack",
              "ack_lost_segment", "spurious_retransmission", "fast_retransmission", "out_of_order",
              "retransmission")

_M = 0xFFFFFFFF
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_SFR = _SYN | _FIN | _RST
_MAX_UNACKED = 10_000

# endpoint state slots
(NEXTSEQ, NEXTSEQTIME, NEXTSEQFRAME, MAXSEQ, LASTACK, LASTACKTIME, WINDOW, DUPACKNUM,
 LASTNONDUP, LASTFLAGS, VALID_BIF, WIN_SCALE, FIRST_ACK, BASE, BASE_SET, SACK, NUNACKED) = range(17)
NSLOTS = 17


def fresh_state(n: int) -> np.ndarray:
    """Endpoint state of *n* streams never seen: shape (n, 2, NSLOTS)."""
    ep = np.zeros((n, 2, NSLOTS), dtype=np.int64)
    ep[:, :, WINDOW] = _M
    ep[:, :, VALID_BIF] = 1
    ep[:, :, WIN_SCALE] = -1
    return ep


def no_carry():
    """The carry arguments of :func:`kernel` when there is no carry (all empty)."""
    z2 = np.zeros((0, 2), dtype=np.int64)
    return (False, np.zeros((0, 2, NSLOTS), dtype=np.int64), z2, np.zeros((0, 4), dtype=np.int64), z2,
            np.zeros((0, 2, NSLOTS), dtype=np.int64), z2.copy(), np.zeros((0, 4), dtype=np.int64), z2.copy())


def _kernel(starts, ends, frame, ts, flags, seq, ack, window, wscale, sack, side, rel_seq, known, plen,
            labels, dup_num, dup_of, acks_frame, bif, rto_frame, rtt, rto, irtt_col, wsize,
            carry, in_ep, in_times, in_una, in_una_start, out_ep, out_times, out_una, out_una_start):
    """Walk every group (stream) ``starts[g]:ends[g]``; return the unacked entries written out.

    Without *carry* every group starts fresh and the ``in_``/``out_`` arrays
    are not touched (they may be empty).  With it, group g starts from
    ``in_ep[g]`` (2 x NSLOTS), ``in_times[g]`` (irtt, last SYN time) and, for
    side e, the ``in_ep[g, e, NUNACKED]`` unacked entries (frame, seq, end,
    time) at ``in_una[in_una_start[g, e]:]``; its final state goes to
    ``out_ep[g]``, ``out_times[g]`` and ``out_una`` from ``out_una_start[g, e]``
    on, groups and sides one after the other (``out_una`` needs room for the
    input entries of the groups plus one per row).
    """
    ep = np.zeros((2, NSLOTS), dtype=np.int64)
    una = np.zeros((2, _MAX_UNACKED, 4), dtype=np.int64)   # frame, seq, end, time
    used = 0
    for g in range(len(starts)):
        if carry:
            for e in range(2):
                ep[e, :] = in_ep[g, e, :]
                b = in_una_start[g, e]
                for j in range(ep[e, NUNACKED]):
                    una[e, j, :] = in_una[b + j, :]
            irtt = in_times[g, 0]
            last_syn = in_times[g, 1]
        else:
            for e in range(2):
                ep[e, :] = 0
                ep[e, WINDOW] = _M
                ep[e, VALID_BIF] = 1
                ep[e, WIN_SCALE] = -1
            irtt = 0
            last_syn = 0
        for r in range(starts[g], ends[g]):
            s = side[r]
            o = 1 - s
            f = flags[r]
            now = ts[r]
            sq = seq[r]
            ak = ack[r]
            win = window[r]
            fr = frame[r]
            if known[r]:
                seglen = plen[r]
                if ep[s, BASE_SET] == 0:
                    ep[s, BASE] = (sq - rel_seq[r]) & _M
                    ep[s, BASE_SET] = 1
                got = 0
                if f & _ACK:
                    ep[o, VALID_BIF] = 1
                nxt = ep[s, NEXTSEQ]
                same_ack = seglen == 0 and sq == nxt and ak == ep[s, LASTACK] and (f & _SFR) == 0
                # the ordered checks; some end the flag checks for this packet
                if seglen == 1 and sq == nxt and ep[o, WINDOW] == 0:
                    got |= ZWP
                else:
                    if win == 0 and (f & _SFR) == 0:
                        got |= ZW
                    if nxt != 0 and ((nxt - sq) & _M) >= 0x80000000 and (f & _RST) == 0:
                        got |= LOST
                        ep[s, VALID_BIF] = 0
                    if seglen <= 1 and sq == ((nxt - 1) & _M) and (f & _SFR) == 0:
                        got |= KA
                        if ep[o, WINDOW] == 0:
                            got |= WPROBE
                    if win != 0 and win != ep[s, WINDOW] and same_ack:
                        got |= WU
                    if seglen > 0 and ep[o, WIN_SCALE] != -1 and (f & _SFR) == 0:
                        sh = 0
                        if ep[o, FIRST_ACK] == 0 and ep[o, WIN_SCALE] != -2:
                            sh = ep[o, WIN_SCALE]
                        if ((sq + seglen) & _M) == ((ep[o, LASTACK] + (ep[o, WINDOW] << sh)) & _M):
                            got |= WF
                    if win != 0 and win == ep[s, WINDOW] and (ep[o, LASTFLAGS] & KA) and same_ack:
                        got |= KAACK
                    elif win == 0 and ep[s, WINDOW] == 0 and (ep[o, LASTFLAGS] & ZWP) and same_ack:
                        got |= ZWPACK
                    elif win != 0 and win == ep[s, WINDOW] and same_ack:
                        ep[s, DUPACKNUM] = 1 if ep[s, DUPACKNUM] == -1 else ep[s, DUPACKNUM] + 1
                        got |= DUP
                        dup_num[r] = ep[s, DUPACKNUM]
                        dup_of[r] = ep[s, LASTNONDUP]
                if ak != ep[s, LASTACK]:
                    ep[s, LASTNONDUP] = fr
                    ep[s, DUPACKNUM] = 0
                # ACK of data never seen
                mx = ep[o, MAXSEQ]
                if mx != 0 and (f & _ACK) and ((mx - ak) & _M) >= 0x80000000:
                    if ((mx - ep[o, NEXTSEQ]) & _M) >= 0x80000000:
                        ep[o, MAXSEQ] = ep[o, NEXTSEQ]
                        got |= ACKLOST
                    else:
                        if ep[o, DUPACKNUM] == 0:
                            got |= ACKLOST
                        ep[o, DUPACKNUM] = -1
                syn_fin = (f & (_SYN | _FIN)) != 0
                occupies = seglen > 0 or syn_fin
                if occupies and (got & KA) == 0:
                    not_adv = nxt != 0 and ((sq - nxt) & _M) >= 0x80000000
                    if seglen > 1 and sq == ((nxt - 1) & _M):
                        not_adv = False
                    end_ = (sq + seglen) & _M
                    if seglen > 0 and ep[o, LASTACK] != 0 and ((ep[o, LASTACK] - end_) & _M) < 0x80000000:
                        got |= SPUR | RETR
                    elif not_adv:
                        dt = now - ep[o, LASTACKTIME]
                        dn = ep[o, DUPACKNUM]
                        thr = irtt if irtt != 0 else 3_000_000
                        full_end = (sq + seglen + (1 if syn_fin else 0)) & _M
                        dts = now - ep[s, NEXTSEQTIME]
                        if (dn >= 2 or dn == -1) and ep[o, LASTACK] == sq and 0 <= dt < 20_000_000:
                            got |= FAST | RETR
                        elif 0 <= dts < thr and nxt != full_end:
                            got |= OOO
                        else:
                            got |= RETR
                            k = ep[s, NUNACKED]
                            if k > 0:
                                rto[r] = (now - una[s, 0, 3]) / 1e9
                                rto_frame[r] = una[s, 0, 0]
                            else:
                                rto[r] = (now - ep[s, NEXTSEQTIME]) / 1e9
                                rto_frame[r] = ep[s, NEXTSEQFRAME]
                end = (sq + seglen) & _M
                k = ep[s, NUNACKED]
                if occupies and k < _MAX_UNACKED:
                    if syn_fin:
                        end = (end + 1) & _M
                    una[s, k, 0] = fr
                    una[s, k, 1] = sq
                    una[s, k, 2] = end
                    una[s, k, 3] = now
                    ep[s, NUNACKED] = k + 1
                zwp = (got & ZWP) != 0
                if (ep[s, NEXTSEQ] == 0 or ((ep[s, NEXTSEQ] - end) & _M) >= 0x80000000) and not zwp:
                    ep[s, NEXTSEQ] = end
                    ep[s, NEXTSEQTIME] = now
                    ep[s, NEXTSEQFRAME] = fr
                if (ep[s, MAXSEQ] == 0 or sq == ep[s, MAXSEQ]) and not zwp:
                    ep[s, MAXSEQ] = ep[s, NEXTSEQ]
                ep[s, WINDOW] = win
                ep[s, LASTACK] = ak
                ep[s, LASTACKTIME] = now
                ep[s, LASTFLAGS] = got
                # this ack against the peer's unacknowledged segments, newest first
                n_o = ep[o, NUNACKED]
                keep = 0
                found = -1
                found_t = 0
                for j in range(n_o - 1, -1, -1):
                    e_seq = una[o, j, 1]
                    e_end = una[o, j, 2]
                    if ak == e_end:
                        found = una[o, j, 0]
                        found_t = una[o, j, 3]
                        una[o, j, 0] = -1
                    elif ((e_seq - ak) & _M) >= 0x80000000 and ((e_end - ak) & _M) < 0x80000000:
                        una[o, j, 1] = ak
                    elif ((ak - e_end) & _M) >= 0x80000000:
                        pass
                    else:
                        una[o, j, 0] = -1
                if found >= 0:
                    acks_frame[r] = found
                    rtt[r] = (now - found_t) / 1e9
                for j in range(n_o):
                    if una[o, j, 0] != -1:
                        if keep != j:
                            una[o, keep, :] = una[o, j, :]
                        keep += 1
                ep[o, NUNACKED] = keep
                n_s = ep[s, NUNACKED]
                if seglen and ep[s, VALID_BIF] and n_s > 0:
                    base = ep[s, BASE]
                    first = _M + 1
                    last = -1
                    for j in range(n_s):
                        a1 = (una[s, j, 1] - base) & _M
                        a2 = (una[s, j, 2] - base) & _M
                        if a1 < first:
                            first = a1
                        if a2 > last:
                            last = a2
                    inflight = last - first - ep[o, SACK]
                    if 0 < inflight < 2_000_000_000:
                        bif[r] = inflight - (1 if syn_fin else 0)
                labels[r] = got
            if (f & _SYN) == 0 and ep[s, WIN_SCALE] >= 0:
                wsize[r] = win << ep[s, WIN_SCALE]
            if f & _SYN:
                ep[s, FIRST_ACK] = 1
                if (f & _ACK) == 0:
                    last_syn = now
            elif f & _ACK:
                if last_syn != 0 and irtt == 0:
                    irtt = now - last_syn
                ep[s, FIRST_ACK] = 0
            if irtt != 0:
                irtt_col[r] = irtt / 1e9
            ep[s, SACK] = sack[r]
            if wscale[r] >= 0:
                ep[s, WIN_SCALE] = min(wscale[r], 14)
            if f & _SYN:
                if ep[s, WIN_SCALE] == -1:
                    ep[s, WIN_SCALE] = -2
                    ep[o, WIN_SCALE] = -2
                elif (f & _ACK) and ep[o, WIN_SCALE] == -2:
                    ep[s, WIN_SCALE] = -2
        if carry:
            for e in range(2):
                out_ep[g, e, :] = ep[e, :]
                out_una_start[g, e] = used
                for j in range(ep[e, NUNACKED]):
                    out_una[used, :] = una[e, j, :]
                    used += 1
            out_times[g, 0] = irtt
            out_times[g, 1] = last_syn
    return used


kernel = numba.njit(cache=True, nogil=True)(_kernel) if numba is not None else None
