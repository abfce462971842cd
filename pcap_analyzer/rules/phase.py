"""Handshake phases: what each TCP packet does in the connection's life.

Phases (column ``phase``), first match wins:

``rst``            the RST flag is set;
``syn``            SYN without ACK: the client opens the connection;
``syn_ack``        SYN with ACK: the server accepts;
``fin``            the FIN flag is set: this side has finished sending;
``handshake_ack``  the client's first ACK of the server's SYN (ack = server
                   ISN + 1) after the SYN-ACK: it completes the three-way
                   handshake, and may already carry data;
``data``           carries payload;
``ack``            carries only an acknowledgement.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Rule, RuleContext

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_MASK = 0xFFFFFFFF
# the phases by code; the last one (None) for rows that are not TCP of a stream
_PHASES = np.array(["rst", "syn", "syn_ack", "fin", "handshake_ack", "data", "ack", None], dtype=object)
(_RST_PHASE, _SYN_PHASE, _SYN_ACK_PHASE, _FIN_PHASE, _HANDSHAKE_ACK_PHASE, _DATA_PHASE, _ACK_PHASE,
 _NO_PHASE) = range(len(_PHASES))


_NO_SYN_ACK, _SYN_ACK_SEEN, _ACKED = 0, 1, 2


def _handshake_acks(rows, stream, code, from_client, flags, seq, ack, isn, state):
    """Mark in *code* each stream's handshake ACK: the first client packet after the
    stream's first SYN-ACK that acknowledges the server's ISN + 1 (and is no SYN,
    RST or FIN).  *rows* are the TCP rows of streams in frame order; *isn* and
    *state* are per stream."""
    for r in rows.tolist():
        s = stream[r]
        if state[s] == _NO_SYN_ACK:
            if code[r] == _SYN_ACK_PHASE and not from_client[r]:
                isn[s] = seq[r]
                state[s] = _SYN_ACK_SEEN
        elif state[s] == _SYN_ACK_SEEN:
            f = flags[r]
            if from_client[r] and f & (_SYN | _RST | _FIN) == 0 and f & _ACK != 0 \
                    and ack[r] == (isn[s] + 1) & _MASK:
                code[r] = _HANDSHAKE_ACK_PHASE
                state[s] = _ACKED


@dataclass
class Phase(Rule):
    name = "phase"
    columns = {"phase": "handshake phase of each TCP packet"}

    def run(self, ctx: RuleContext) -> None:
        proto = ctx.packets["proto"].to_numpy()
        stream = ctx.array("stream", -1, np.int64)
        tcp = (proto == "tcp") & (stream >= 0)
        flags = ctx.array("tcp_flags", 0, np.int64)
        plen = ctx.array("payload_len", 0, np.int64)
        seq = ctx.array("seq", 0, np.int64)
        ack = ctx.array("ack", 0, np.int64)
        from_client = ctx.array("from_client", False, bool)
        # each row's phase as a code into _PHASES, the text looked up once at the end
        code = np.select(
            [flags & _RST != 0,
             (flags & (_SYN | _ACK)) == _SYN,
             (flags & (_SYN | _ACK)) == (_SYN | _ACK),
             flags & _FIN != 0,
             plen > 0],
            [_RST_PHASE, _SYN_PHASE, _SYN_ACK_PHASE, _FIN_PHASE, _DATA_PHASE],
            _ACK_PHASE,
        )

        rows = np.flatnonzero(tcp)
        if len(rows):
            streams = int(stream[rows].max()) + 1
            _handshake_acks(rows, stream, code, from_client, flags, seq, ack, np.zeros(streams, dtype=np.int64),
                            np.zeros(streams, dtype=np.int8))
        code[~tcp] = _NO_PHASE
        ctx.add_column("phase", _PHASES[code])
