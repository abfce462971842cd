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
from ..schema import categorical, coded
from .base import Rule, RuleContext


class ChecksumTally:
    """Per address: checksums sent and received, and how many were not good.

    Enough to decide which senders offload (see :meth:`offloaders`).
    """

    _SENT, _SENT_NOT_GOOD, _SENT_BAD, _RECEIVED, _RECEIVED_NOT_GOOD = range(5)

    def __init__(self) -> None:
        self.slot: dict = {}                              # address -> row of counts
        self.counts = np.zeros((0, 5), dtype=np.int64)    # the five counts above, per address

    def add(self, src: np.ndarray, dst: np.ndarray, l4: "Verdicts") -> None:
        """Count the checksums *l4* sent by *src* to *dst*."""
        checked = np.flatnonzero(l4.any_of(GOOD, BAD, OFFLOADED))
        if not len(checked):
            return
        not_good = ~l4.any_of(GOOD)[checked]
        bad = l4.any_of(BAD)[checked]
        n = len(checked)
        codes, addresses = pd.factorize(np.concatenate([src[checked], dst[checked]]), use_na_sentinel=False)
        sender, receiver = codes[:n], codes[n:]
        m = len(addresses)
        part = np.stack([np.bincount(sender, minlength=m), np.bincount(sender[not_good], minlength=m),
                         np.bincount(sender[bad], minlength=m), np.bincount(receiver, minlength=m),
                         np.bincount(receiver[not_good], minlength=m)], axis=1)
        rows = np.array([self.slot.setdefault(a, len(self.slot)) for a in addresses.tolist()], dtype=np.int64)
        if len(self.slot) > len(self.counts):
            grown = np.zeros((len(self.slot), 5), dtype=np.int64)
            grown[:len(self.counts)] = self.counts
            self.counts = grown
        self.counts[rows] += part

    def offloaders(self, consistent_min: int) -> frozenset:
        """Senders all of whose checksums fail (at least *consistent_min*) while all they receive is right."""
        c = self.counts
        hit = ((c[:, self._SENT] >= consistent_min) & (c[:, self._SENT_NOT_GOOD] == c[:, self._SENT])
               & (c[:, self._RECEIVED] > 0) & (c[:, self._RECEIVED_NOT_GOOD] == 0))
        return frozenset(a for a, row in self.slot.items() if hit[row])


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
        ip = Verdicts(p["ip_checksum"]).renamed(MAYBE_OFFLOADED, OFFLOADED)
        l4 = Verdicts(p["l4_checksum"]).renamed(MAYBE_OFFLOADED, OFFLOADED)
        l4 = self._by_consistency(p, l4)
        proto = p["proto"].to_numpy(dtype=object)
        l4_bad = l4.any_of(BAD)
        for rows, label in ((np.flatnonzero(ip.any_of(BAD)), "bad_ip_checksum"),
                            (np.flatnonzero(l4_bad & (proto == "tcp")), "bad_tcp_checksum"),
                            (np.flatnonzero(l4_bad & (proto == "udp")), "bad_udp_checksum"),
                            (np.flatnonzero(l4.any_of(OFFLOADED) | ip.any_of(OFFLOADED)), "checksum_offloaded")):
            ctx.label_rows(rows, label)
        ctx.add_column("ip_checksum", ip.column(p.index))
        ctx.add_column("l4_checksum", l4.column(p.index))

    def _by_consistency(self, p: pd.DataFrame, l4: "Verdicts") -> "Verdicts":
        """*l4* with the bad checksums of offloading senders made offloaded."""
        bad = l4.any_of(BAD)
        if not bad.any():
            return l4
        src = p["src"].to_numpy(dtype=object)
        tally = ChecksumTally()
        tally.add(src, p["dst"].to_numpy(dtype=object), l4)
        offloaders = tally.offloaders(self.consistent_min)
        if offloaders:
            return l4.set(bad & np.isin(src, list(offloaders)), OFFLOADED)
        return l4


class Verdicts:
    """A column of checksum verdicts as codes into its few distinct values: each
    test of the column compares integers, not every row's text."""

    def __init__(self, column: pd.Series) -> None:
        self.codes, self.names = coded(column)

    def any_of(self, *verdicts: str) -> np.ndarray:
        hit = [i for i, name in enumerate(self.names) if name in verdicts]
        if not hit:
            return np.zeros(len(self.codes), dtype=bool)
        if len(hit) == 1:
            return self.codes == hit[0]
        return np.isin(self.codes, hit)

    def renamed(self, old: str, new: str) -> "Verdicts":
        self.names = [new if name == old else name for name in self.names]
        return self

    def set(self, rows: np.ndarray, verdict: str) -> "Verdicts":
        """These verdicts with *rows* (a mask) set to *verdict*."""
        if verdict not in self.names:
            self.names.append(verdict)
        self.codes = np.where(rows, self.names.index(verdict), self.codes)
        return self

    def column(self, index: pd.Index) -> pd.Series:
        """The verdicts as a category column."""
        return categorical(self.codes, self.names, index)
