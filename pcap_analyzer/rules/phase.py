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
import pandas as pd

from .base import Rule, RuleContext

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
_MASK = 0xFFFFFFFF


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
        phase = np.select(
            [flags & _RST != 0,
             (flags & (_SYN | _ACK)) == _SYN,
             (flags & (_SYN | _ACK)) == (_SYN | _ACK),
             flags & _FIN != 0,
             plen > 0],
            ["rst", "syn", "syn_ack", "fin", "data"],
            "ack",
        ).astype(object)

        # The handshake ACK: per stream, the first client packet after the
        # first SYN-ACK that acknowledges the server's ISN + 1.
        rows = np.flatnonzero(tcp)
        if len(rows):
            st = stream[rows]
            is_synack = (phase[rows] == "syn_ack") & ~from_client[rows]
            sa = pd.DataFrame({"stream": st[is_synack], "row_sa": rows[is_synack],
                               "isn": seq[rows][is_synack]}).drop_duplicates("stream")
            cand = from_client[rows] & (flags[rows] & (_SYN | _RST | _FIN) == 0) & (flags[rows] & _ACK != 0)
            c = pd.DataFrame({"stream": st[cand], "row": rows[cand], "ack": ack[rows][cand]})
            c = c.merge(sa, on="stream", how="inner")
            c = c[(c["row"] > c["row_sa"]) & (c["ack"] == (c["isn"] + 1) & _MASK)]
            first = c.drop_duplicates("stream")["row"].to_numpy()
            phase[first] = "handshake_ack"
        phase[~tcp] = None
        ctx.add_column("phase", phase)
