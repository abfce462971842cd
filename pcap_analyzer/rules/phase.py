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

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .base import Rule, RuleContext

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_MASK = 0xFFFFFFFF
# the phases by code; the last one (None) for rows that are not TCP of a stream
_PHASES = np.array(["rst", "syn", "syn_ack", "fin", "handshake_ack", "data", "ack", None], dtype=object)
(_RST_PHASE, _SYN_PHASE, _SYN_ACK_PHASE, _FIN_PHASE, _HANDSHAKE_ACK_PHASE, _DATA_PHASE, _ACK_PHASE,
 _NO_PHASE) = range(len(_PHASES))


class PhaseCarry(dict):
    """Per TCP stream after some chunks of a capture: (server ISN of its first
    SYN-ACK or None, handshake ACK already seen)."""


@dataclass
class Phase(Rule):
    name = "phase"
    columns = {"phase": "handshake phase of each TCP packet"}
    # Set when the capture is analysed in chunks: the handshake state of each
    # stream carries over from one chunk to the next.
    carry: PhaseCarry | None = None

    def for_chunks(self, **shared) -> "Phase":
        return replace(self, carry=PhaseCarry())

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

        # The handshake ACK: per stream, the first client packet after the
        # first SYN-ACK that acknowledges the server's ISN + 1.
        rows = np.flatnonzero(tcp)
        if len(rows):
            st = stream[rows]
            is_synack = (code[rows] == _SYN_ACK_PHASE) & ~from_client[rows]
            sa = pd.DataFrame({"stream": st[is_synack], "row_sa": rows[is_synack],
                               "isn": seq[rows][is_synack]}).drop_duplicates("stream")
            carry = self.carry
            if carry:
                # streams whose SYN-ACK came in an earlier chunk: every row is after it
                done = [k for k, (isn, found) in carry.items() if found]
                earlier = pd.DataFrame([(k, -1, isn) for k, (isn, found) in carry.items()
                                        if isn is not None and not found],
                                       columns=["stream", "row_sa", "isn"])
                sa = sa[~sa["stream"].isin(list(carry))]
                sa = pd.concat([earlier.astype(sa.dtypes.to_dict()), sa], ignore_index=True) if len(earlier) else sa
            cand = from_client[rows] & (flags[rows] & (_SYN | _RST | _FIN) == 0) & (flags[rows] & _ACK != 0)
            c = pd.DataFrame({"stream": st[cand], "row": rows[cand], "ack": ack[rows][cand]})
            if carry:
                c = c[~c["stream"].isin(done)]
            c = c.merge(sa, on="stream", how="inner")
            c = c[(c["row"] > c["row_sa"]) & (c["ack"] == (c["isn"] + 1) & _MASK)]
            firsts = c.drop_duplicates("stream")
            code[firsts["row"].to_numpy()] = _HANDSHAKE_ACK_PHASE
            if carry is not None:
                found = set(firsts["stream"].tolist())
                for k, isn in zip(sa["stream"].tolist(), sa["isn"].tolist()):
                    carry[k] = (isn, k in found)
        code[~tcp] = _NO_PHASE
        ctx.add_column("phase", _PHASES[code])
