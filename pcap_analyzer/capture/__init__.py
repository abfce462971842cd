"""Reading captures: classic pcap (both byte orders, micro- and nanoseconds), pcapng, either gzip-compressed,
from a file, a FIFO, standard input (``-``) or a pipe -- once, front to back.

:class:`.reader.Reader` frames the packets a chunk at a time for the compiled
stages; :func:`read_frames` hands out each frame's bytes, for what copies
them (``pcapan annotate``).
"""
from __future__ import annotations

import os
from typing import Iterator, NamedTuple

from .info import CaptureError, CaptureInfo, linktype_name
from .reader import CAPTURED, INTERFACE, OFFSET, ORIGINAL, TIME, Reader


class RawFrame(NamedTuple):
    ts_ns: int          # capture time, integer nanoseconds after info.time_base_ns
    wire_len: int       # original length on the wire
    linktype: int       # -1: the interface is not described
    iface: int          # interface number (0 for classic pcap)
    data: bytes         # the captured bytes
    comment: str | None  # pcapng packet comments, if any


def read_frames(path: str | os.PathLike, info: CaptureInfo | None = None) -> Iterator[RawFrame]:
    """Every frame of the capture at *path*, in file order.

    Raises :class:`CaptureError` before the first frame when the file is not
    a capture; damage later ends the frames with a warning in *info* (the
    reader's :class:`CaptureInfo` is copied into it at the end).
    """
    reader = Reader(path)
    try:
        for packets in reader.chunks():
            buf, rows = packets.buf, packets.rows
            for r in range(len(rows)):
                at, n, iface = int(rows[r, OFFSET]), int(rows[r, CAPTURED]), int(rows[r, INTERFACE])
                linktype = int(packets.linktypes[iface]) if 0 <= iface < len(packets.linktypes) else -1
                yield RawFrame(int(rows[r, TIME]), int(rows[r, ORIGINAL]), linktype, iface,
                               bytes(buf[at:at + n]), packets.comments.get(r))
    finally:
        reader.close()
        if info is not None:
            info.__dict__.update(reader.info.__dict__)


__all__ = ["CaptureError", "CaptureInfo", "RawFrame", "Reader", "linktype_name", "read_frames"]
