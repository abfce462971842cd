"""Checksum verdicts: bit errors, and checksums the capture saw before the NIC filled them.

The decoder checks every IPv4 header and TCP/UDP/ICMP checksum
(:mod:`pcap_analyzer.checksum`).  A wrong checksum whose field holds 0 or
the bare pseudo-header sum is what a sending host's own capture shows with
transmit offload on: it is ``offloaded``, not ``bad``.  Beyond that field
test, a sending address all of whose checksums fail (at least a few) while
everything it receives checks out is offloading too.  Anything else stays
``bad`` -- so one corrupted packet among good ones is still reported.

Labels:

``bad_ip_checksum``     the IPv4 header checksum is wrong.
``bad_tcp_checksum``    the TCP checksum is wrong: the segment changed on the way.
``bad_udp_checksum``    the UDP checksum is wrong (or 0 over IPv6, where it is required).
``checksum_offloaded``  the checksum was not filled in yet when captured
                        (transmit offload on the capturing host): not an error.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..checksum import BAD, GOOD, MAYBE_OFFLOADED, OFFLOADED
from .base import Rule, RuleContext


@dataclass
class Checksums(Rule):
    name = "checksums"
    labels = {
        "bad_ip_checksum": "IPv4 header checksum is wrong",
        "bad_tcp_checksum": "TCP checksum is wrong: the segment was damaged",
        "bad_udp_checksum": "UDP checksum is wrong (or missing over IPv6)",
        "checksum_offloaded": "checksum not yet filled in when captured (transmit offload): not an error",
    }
    columns = {"ip_checksum": "IPv4 header checksum verdict", "l4_checksum": "TCP/UDP/ICMP checksum verdict"}
    # A sender failing this many checksums, and no others, while all it receives is right.
    consistent_min: int = 3

    def run(self, ctx: RuleContext) -> None:
        p = ctx.packets
        ip = p["ip_checksum"].to_numpy(dtype=object).copy()
        l4 = p["l4_checksum"].to_numpy(dtype=object).copy()
        ip[ip == MAYBE_OFFLOADED] = OFFLOADED
        l4[l4 == MAYBE_OFFLOADED] = OFFLOADED
        self._by_consistency(p, l4)
        proto = p["proto"].to_numpy(dtype=object)
        for rows, label in ((np.flatnonzero(ip == BAD), "bad_ip_checksum"),
                            (np.flatnonzero((l4 == BAD) & (proto == "tcp")), "bad_tcp_checksum"),
                            (np.flatnonzero((l4 == BAD) & (proto == "udp")), "bad_udp_checksum"),
                            (np.flatnonzero((l4 == OFFLOADED) | (ip == OFFLOADED)), "checksum_offloaded")):
            ctx.label_rows(rows, label)
        ctx.add_column("ip_checksum", ip)
        ctx.add_column("l4_checksum", l4)

    def _by_consistency(self, p: pd.DataFrame, l4: np.ndarray) -> None:
        bad = l4 == BAD
        if not bad.any():
            return
        checked = np.isin(l4, [GOOD, BAD, OFFLOADED])
        df = pd.DataFrame({"src": p["src"].to_numpy(), "dst": p["dst"].to_numpy(), "v": l4})[checked]
        if df.empty:
            return
        sent_all_bad = df.groupby("src")["v"].agg(lambda s: bool((s != GOOD).all()) and len(s) >= self.consistent_min)
        received_ok = df.groupby("dst")["v"].agg(lambda s: bool((s == GOOD).all()))
        offloaders = [a for a, all_bad in sent_all_bad.items() if all_bad and received_ok.get(a, False)]
        if offloaders:
            l4[bad & np.isin(p["src"].to_numpy(dtype=object), offloaders)] = OFFLOADED
