"""Stream numbering and relative numbers of :mod:`.streams`, compiled with numba.

The readable loop in ``streams.assign_reference`` is the reference; this
version does the same walk over integer conversation ids (the four-tuples
factorised beforehand), and the tests demand identical columns.
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None

_M = 0xFFFFFFFF
_SYN, _ACK = 0x02, 0x10
SNMP_PORT = 161


def _walk(kind, conv, side, flags, seq, ack, known, sport, dport, okind, oconv,
          cur, base, has, request_seen, pending, counters, stream, rel_seq, rel_ack, reused):
    """One pass over the frames; the conversation state (``cur`` .. ``counters``,
    see ``streams.StreamCarry``) is read and updated in place, so a capture can
    be walked in chunks."""
    for i in range(len(kind)):
        if okind[i] != 0:
            oc = oconv[i]
            if cur[oc] == -1:
                cur[oc] = counters[okind[i]]
                counters[okind[i]] += 1
        k = kind[i]
        if k == 0:
            continue
        c = conv[i]
        s = side[i]
        if cur[c] == -1:
            cur[c] = counters[k]
            counters[k] += 1
        if k == 2:
            if pending[c] and sport[i] == SNMP_PORT:
                pending[c] = False
                cur[c] = counters[2]
                counters[2] += 1
            elif dport[i] == SNMP_PORT and not request_seen[c]:
                pending[c] = True
                request_seen[c] = True
            stream[i] = cur[c]
            continue
        f = flags[i]
        sq = seq[i]
        if (f & (_SYN | _ACK)) == _SYN and has[c, s] and sq != base[c, s]:
            cur[c] = counters[1]
            counters[1] += 1
            has[c, 0] = False
            has[c, 1] = False
            reused[i] = True
        elif (f & (_SYN | _ACK)) == (_SYN | _ACK) and has[c, s] and sq != base[c, s]:
            base[c, s] = sq
            reused[i] = True
        stream[i] = cur[c]
        ak = ack[i]
        if not known[i]:
            rel_seq[i] = sq
            rel_ack[i] = ak
            continue
        if not has[c, s]:
            base[c, s] = sq if (f & _SYN) else (sq - 1) & _M
            has[c, s] = True
        rel_seq[i] = (sq - base[c, s]) & _M
        if f & _ACK:
            if not has[c, 1 - s]:
                base[c, 1 - s] = (ak - 1) & _M
                has[c, 1 - s] = True
            rel_ack[i] = (ak - base[c, 1 - s]) & _M
        else:
            rel_ack[i] = ak


walk = numba.njit(cache=True, nogil=True)(_walk) if numba is not None else None
