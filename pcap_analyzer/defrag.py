"""IP fragment reassembly, as Wireshark does it by default.

Wireshark decodes a fragmented datagram's TCP/UDP header on the frame that
completes it (not on the first fragment), so that is where pcapan puts it
too.  Memory is bounded: at most :data:`MAX_PENDING` datagrams wait for
their missing pieces, the oldest given up first, and none grows past the
largest IP datagram.
"""
from __future__ import annotations

from collections import OrderedDict

MAX_PENDING = 1024
MAX_DATAGRAM = 65535


class Defragmenter:
    def __init__(self) -> None:
        self._pending: OrderedDict = OrderedDict()   # key -> [pieces {offset: bytes}, total or None]

    def add(self, key, offset: int, more: bool, payload: bytes) -> bytes | None:
        """Store one fragment; return the whole payload once every piece is in."""
        if offset + len(payload) > MAX_DATAGRAM:
            return None
        entry = self._pending.get(key)
        if entry is None:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popitem(last=False)
            entry = self._pending[key] = [{}, None]
        pieces = entry[0]
        pieces[offset] = bytes(payload)
        if not more:
            entry[1] = offset + len(payload)
        total = entry[1]
        if total is None:
            return None
        buf = bytearray(total)
        covered = 0
        for start in sorted(pieces):
            piece = pieces[start]
            if start > covered:
                return None            # a hole remains
            buf[start:start + len(piece)] = piece[: max(0, total - start)]
            covered = max(covered, start + len(piece))
        if covered < total:
            return None
        del self._pending[key]
        return bytes(buf)
