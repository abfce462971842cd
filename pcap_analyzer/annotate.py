"""Write a capture back as pcapng, each packet commented with what pcapan read in it.

Wireshark shows a packet comment as ``frame.comment`` (and in the packet
list's expert info), so a student can open the annotated file and see,
frame by frame, pcapan's phase, relative numbers, labels and ``explain``
sentence next to Wireshark's own dissection.

What is kept exactly: every frame's bytes, original length and timestamp,
and the interfaces -- one Interface Description Block per interface of the
input with its link type, snapshot length and options (time resolution and
offset included, so timestamps are written in the input's own units;
nanosecond pcap files get ``if_tsresol`` 9).  A packet comment already in a
pcapng input stays, before ours.  Interfaces from several pcapng sections
are written into one section, numbered as pcapan numbers them.

Frames are written with dpkt's pcapng blocks; two of its shortcuts are
avoided: ``Writer.writepkt`` replaces a zero timestamp with the current
time, and ``EnhancedPacketBlock`` sets the original length to the captured
one (wrong for frames cut by the snapshot length).
"""
from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Iterable

import pandas as pd
from dpkt import pcapng as ng

from .capture import CaptureInfo, RawFrame, read_frames
from .files import replace_atomically

if TYPE_CHECKING:
    from .analysis import Analysis

COMMENT_PREFIX = "pcapan"
_SEPARATOR = " | "
_NATIVE = "<" if sys.byteorder == "little" else ">"
# dpkt's writer insists on blocks in the machine's byte order.
_SHB, _IDB, _EPB, _OPTION = ((ng.SectionHeaderBlockLE, ng.InterfaceDescriptionBlockLE,
                              ng.EnhancedPacketBlockLE, ng.PcapngOptionLE) if _NATIVE == "<" else
                             (ng.SectionHeaderBlock, ng.InterfaceDescriptionBlock,
                              ng.EnhancedPacketBlock, ng.PcapngOption))
_EPB_ORIGINAL_LENGTH_AT = 24     # block type, length, interface, time high, time low, captured length
_SHB_USERAPPL = 4
_NANOSECONDS = 9                 # if_tsresol: 10**-9 s
# Interface options holding numbers, which change with the section's byte
# order (code: struct format); every other option is bytes or text.
_NUMERIC_OPTIONS = {7: "i", 8: "Q", 14: "q", 16: "Q", 17: "Q"}
# Custom options start with an enterprise number in the section's byte order
# and mean nothing to us: not copied.
_CUSTOM_OPTIONS = {2988, 2989, 19372, 19373}


class AnnotateError(Exception):
    """The capture cannot be written back annotated (the message, one line, says why)."""


@dataclass
class Interface:
    """One capture interface as the output's Interface Description Block describes it."""

    linktype: int
    snaplen: int
    units_per_s: int = 1_000_000
    offset_s: int = 0
    options: list[tuple[int, bytes]] = field(default_factory=list)   # native byte order

    def ticks(self, ts_ns: int) -> int:
        """*ts_ns* in this interface's time units (the one value the reader turns back into *ts_ns*)."""
        scaled = (ts_ns - self.offset_s * 1_000_000_000) * self.units_per_s
        return -((-scaled) // 1_000_000_000)

    def block(self) -> ng.InterfaceDescriptionBlock:
        opts = [_OPTION(code=code, data=value) for code, value in self.options]
        if opts:
            opts.append(_OPTION(code=ng.PCAPNG_OPT_ENDOFOPT))
        return _IDB(linktype=self.linktype, snaplen=self.snaplen, opts=opts)


def interfaces(info: CaptureInfo) -> list[Interface]:
    """The capture's interfaces, in pcapan's numbering (``iface`` column), from what its reading kept."""
    if info.file_format in ("pcap", "pcap-ns"):
        nano = info.file_format == "pcap-ns"
        return [Interface(linktype=info.linktypes.get(0, 1), snaplen=info.snaplen or 0,
                          units_per_s=1_000_000_000 if nano else 1_000_000,
                          options=[(ng.PCAPNG_OPT_IF_TSRESOL, bytes([_NANOSECONDS]))] if nano else [])]
    return [_interface(d) for d in info.interfaces]


def _interface(described: dict) -> Interface:
    order = described["byte_order"]
    iface = Interface(linktype=described["linktype"], snaplen=described["snaplen"])
    for code, value in described["options"]:
        if code in _CUSTOM_OPTIONS:
            continue
        if code in _NUMERIC_OPTIONS:
            fmt = _NUMERIC_OPTIONS[code]
            if len(value) != struct.calcsize(fmt):
                continue
            number = struct.unpack(order + fmt, value)[0]
            value = struct.pack(_NATIVE + fmt, number)
            if code == ng.PCAPNG_OPT_IF_TSOFFSET:
                iface.offset_s = number
        elif code == ng.PCAPNG_OPT_IF_TSRESOL and value:
            v = value[0]
            iface.units_per_s = 2 ** (v & 0x7F) if v & 0x80 else 10 ** (v & 0x7F)
        iface.options.append((code, value))
    return iface


def comments(packets: pd.DataFrame) -> pd.Series:
    """pcapan's comment for every frame: stream, phase, relative numbers, labels, explanation.

    For example ``pcapan | tcp stream 0 | phase data | rel_seq 1449 rel_ack 1 |
    labels retransmission | Retransmission of relative seq 1449 after 212 ms
    without an ACK (timeout)``; parts that do not apply are left out.
    """
    p = packets
    proto = p["proto"].astype("string")

    def part(text: pd.Series, present: pd.Series) -> pd.Series:
        return (text + _SEPARATOR).where(present.fillna(False).astype(bool), "")

    stream = part(proto + " stream " + p["stream"].astype("string"), p["stream"].notna())
    phase = part("phase " + p["phase"].astype("string"), p["phase"].notna())
    tcp = (proto == "tcp").fillna(False) & p["rel_seq"].notna()
    numbers = part("rel_seq " + p["rel_seq"].astype("string") + " rel_ack " + p["rel_ack"].astype("string")
                   .fillna("-"), tcp)
    labels = part("labels " + p["labels"].astype("string"), p["labels"].notna())
    text = COMMENT_PREFIX + _SEPARATOR + stream.fillna("") + phase.fillna("") + numbers.fillna("") \
        + labels.fillna("") + p["explain"].astype("string").fillna("")
    return text.str.rstrip(" |")


def _frame_block(frame: RawFrame, iface: Interface, notes: list[str]) -> bytes:
    ticks = iface.ticks(frame.ts_ns)
    opts = [_OPTION(code=ng.PCAPNG_OPT_COMMENT, text=note) for note in notes]
    opts.append(_OPTION(code=ng.PCAPNG_OPT_ENDOFOPT))
    epb = _EPB(iface_id=frame.iface, ts_high=(ticks >> 32) & 0xFFFFFFFF, ts_low=ticks & 0xFFFFFFFF,
               pkt_data=frame.data, opts=opts)
    block = bytearray(bytes(epb))
    struct.pack_into(_NATIVE + "I", block, _EPB_ORIGINAL_LENGTH_AT, frame.wire_len)
    return bytes(block)


def write_pcapng(out: BinaryIO, frames: Iterable[RawFrame], ifaces: list[Interface],
                 notes: Iterable[str]) -> int:
    """Write *frames* as pcapng to *out*, each with its note added as a comment; return the frame count."""
    from . import __version__

    shb = _SHB(opts=[_OPTION(code=_SHB_USERAPPL, data=f"pcapan {__version__} annotate".encode()),
                     _OPTION(code=ng.PCAPNG_OPT_ENDOFOPT)])
    ng.Writer(out, shb=shb, idb=[i.block() for i in ifaces] or None)
    n = 0
    for frame, note in zip(frames, notes):
        if not 0 <= frame.iface < len(ifaces):
            raise AnnotateError(f"frame {n + 1} names interface {frame.iface}, which the file does not describe")
        kept = [frame.comment] if frame.comment else []
        out.write(_frame_block(frame, ifaces[frame.iface], kept + [note]))
        n += 1
    return n


def annotate(analysis: "Analysis", output: str | os.PathLike) -> int:
    """Write the capture *analysis* was made from to *output* as annotated pcapng.

    The file is written to a temporary name and renamed into place; *output*
    may not be the capture itself (:class:`~pcap_analyzer.export.ExportError`).
    Returns the number of frames written.  Raises :class:`AnnotateError` when
    the capture cannot be copied faithfully.
    """
    path = analysis.info.path
    ifaces = interfaces(analysis.info)
    notes = comments(analysis.packets).tolist()
    base = analysis.info.time_base_ns

    def all_frames():
        for frame in read_frames(path):
            yield frame._replace(ts_ns=frame.ts_ns + base) if base else frame

    def write(tmp: str) -> None:
        with open(tmp, "wb") as out:
            if write_pcapng(out, all_frames(), ifaces, notes) != len(notes):
                raise AnnotateError(f"{path}: the capture changed while it was being read")

    replace_atomically(output, write, path)
    return len(notes)


__all__ = ["AnnotateError", "Interface", "annotate", "comments", "interfaces", "write_pcapng"]
