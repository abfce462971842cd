"""Labels about how far a frame could be decoded.

``truncated``     the snapshot length cut the frame before its headers or
                  payload ended; fields are decoded as far as the bytes go.
``malformed``     a header makes no sense; column ``malformed`` names the
                  layer.  The frame stays a row and nothing else is affected.
``reused_ports``  a SYN with a new initial sequence number on a four-tuple
                  seen before: a new stream on the same ports (Wireshark's
                  "TCP Port numbers reused").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Rule, RuleContext


@dataclass
class DecodeLabels(Rule):
    name = "decoding"
    # in the order a frame's labels are written
    labels = {
        "reused_ports": "SYN with a new ISN on a four-tuple seen before (new stream)",
        "truncated": "frame cut by the snapshot length",
        "malformed": "a header makes no sense (layer in column malformed)",
    }

    def run(self, ctx: RuleContext) -> None:
        ctx.label_rows(np.flatnonzero(ctx.array("reused_ports", False, bool)), "reused_ports")
        ctx.label_rows(np.flatnonzero(ctx.array("truncated", False, bool)), "truncated")
        ctx.label_rows(np.flatnonzero(ctx.packets["malformed"].notna().to_numpy()), "malformed")
