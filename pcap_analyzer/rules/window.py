"""Window scaling: the advertised window in bytes (``window_size``).

The shift counts in the SYN and SYN-ACK apply only when both carried the
window-scale option, and never to the SYN packets themselves (RFC 7323).
When the handshake was not captured the scale is unknown and, as Wireshark
does, the raw field is reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .base import Rule, RuleContext

_SYN = 0x02


@dataclass
class WindowSize(Rule):
    name = "window_size"
    columns = {"window_size": "advertised window after scaling"}

    def run(self, ctx: RuleContext) -> None:
        window = ctx.array("window", 0, np.int64)
        flags = ctx.array("tcp_flags", 0, np.int64)
        wscale = ctx.array("wscale", -1, np.int64)
        side = ctx.array("side", -1, np.int64)
        size = window.copy()
        for _stream, rows in ctx.tcp_streams():
            shift = {}       # side -> shift from its SYN (or -1: SYN without option)
            for r in rows.tolist():
                f = flags[r]
                s = side[r]
                if f & _SYN:
                    if s not in shift:
                        shift[s] = wscale[r]
                    continue
                if len(shift) == 2 and shift[0] >= 0 and shift[1] >= 0:
                    size[r] = window[r] << min(shift[s], 14)
        ctx.add_column("window_size", _masked(size, ctx))


def _masked(size, ctx):
    out = pd.array(size, dtype="Int64")
    out[ctx.packets["window"].isna().to_numpy()] = pd.NA
    return out
