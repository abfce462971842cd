"""Write a capture back as pcapng, each packet commented with what pcapan read in it.

Wireshark shows a packet comment as ``frame.comment`` (and in the packet
list's expert info), so a student can open the annotated file and see,
frame by frame, pcapan's phase, relative numbers, labels and ``explain``
sentence next to Wireshark's own dissection.

A pcapng capture is copied block by block, in its own byte order:

* section headers, interface descriptions, name resolution, interface
  statistics, decryption secrets, copiable custom and unknown blocks are
  copied byte for byte where they stand (a section header's section length
  becomes "not given", since the packet blocks grow);
* every packet keeps its interface, time (in its interface's own units),
  lengths, bytes and options -- every comment, flags, hash, drop count,
  packet id, queue, verdict, copiable custom options -- in their order;
  pcapan's comment (:data:`COMMENT_PREFIX`) comes last.  An obsolete packet
  block becomes an enhanced one, its drop count an ``epb_dropcount``
  option; a simple packet block, which has no room for a comment, becomes
  an enhanced one on its section's first interface at time 0 (it carries
  no time);
* a comment pcapan wrote before is replaced, so annotating an annotated
  file gives the same file again; other comments are data and stay as they
  are, byte for byte, whatever their encoding.

Custom blocks and options the format marks "not to be copied" (block type
0x40000BAD, option codes 2989 and 19373) are left out, as the format asks
of a tool that writes a changed file: their data may depend on what
changed (the file's layout).

A classic pcap (either byte order, micro- or nanoseconds, gzip or not)
becomes one section with one interface: its link type and snapshot length,
``if_tsresol`` 9 for nanosecond files, and times in the file's own units.
"""
from __future__ import annotations

import os
import stat
import struct
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from .capture import read_frames
from .capture.pcapng import (CUSTOM_NOT_COPIABLE, EPB, IDB, NOT_COPIABLE_OPTIONS, OPT_COMMENT, PB, SHB, SPB,
                             PacketBlock, blocks, options, options_at, packet_block)
from .files import replace_atomically

if TYPE_CHECKING:
    from .analysis import Analysis

COMMENT_PREFIX = "pcapan"
_SEPARATOR = " | "
_OURS = (COMMENT_PREFIX + _SEPARATOR).encode()
_NATIVE = "<" if sys.byteorder == "little" else ">"
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_SECTION_LENGTH_AT = 16
_SECTION_LENGTH_UNKNOWN = -1
_SHB_USERAPPL = 4
_IF_TSRESOL = 9
_EPB_DROPCOUNT = 4
_NANOSECONDS = 9                 # if_tsresol: 10**-9 s
_WRITE_BUFFER = 1 << 20
_MAX_OPTION_BYTES = 0xFFFF
_NEEDS_A_FILE = ("annotate copies every frame after analysing them, so it needs a capture file it can read "
                 "twice (not standard input or a pipe)")


class AnnotateError(Exception):
    """The capture cannot be written back annotated (the message, one line, says why)."""


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


def check_source(path: str | os.PathLike) -> None:
    """Raise :class:`AnnotateError` when the capture at *path* cannot be read a second time to be copied
    (standard input, a pipe, a directory).  A missing file passes: reading it says so."""
    if os.fspath(path) == "-":
        raise AnnotateError(f"{os.fspath(path)}: {_NEEDS_A_FILE}")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISDIR(mode):
        raise AnnotateError(f"{os.fspath(path)}: is a directory, not a capture file")
    if not stat.S_ISREG(mode):
        raise AnnotateError(f"{os.fspath(path)}: {_NEEDS_A_FILE}")


def is_pcapan_comment(comment: bytes) -> bool:
    """Whether a packet comment (its raw bytes) is one :func:`comments` wrote."""
    return comment.startswith(_OURS) or comment == COMMENT_PREFIX.encode()


def option_area(opts: list[tuple[int, bytes]], order: str) -> bytes:
    """*opts* ((code, value) pairs) as a pcapng option area in byte order *order*, opt_endofopt last."""
    out = bytearray()
    for code, value in opts:
        out += struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)
    out += bytes(4)
    return bytes(out)


def enhanced_block(order: str, packet: PacketBlock, opts: list[tuple[int, bytes]]) -> bytes:
    """An Enhanced Packet Block holding *packet* with the options *opts*."""
    area = option_area(opts, order)
    padding = bytes(-packet.captured % 4)
    length = 32 + packet.captured + len(padding) + len(area)
    return b"".join((struct.pack(order + "7I", EPB, length, packet.interface, packet.ts_high, packet.ts_low,
                                 packet.captured, packet.original),
                     packet.data, padding, area, struct.pack(order + "I", length)))


class _Notes:
    """pcapan's comments, handed out frame by frame to the packets copied, each checked against
    the frame the analysis read (a file changed since, or read differently, is an error)."""

    def __init__(self, path: str, packets: pd.DataFrame) -> None:
        self.path = path
        # an option holds at most 64 KiB
        self.texts = [t.encode()[:_MAX_OPTION_BYTES].decode(errors="ignore").encode() for t in comments(packets)]
        self.captured = packets["cap_len"].to_numpy(dtype="int64", na_value=-1).tolist()
        self.original = packets["wire_len"].to_numpy(dtype="int64", na_value=-1).tolist()
        self.given = 0

    def next(self, packet: PacketBlock) -> bytes:
        i = self.given
        if i >= len(self.texts) or packet.captured != self.captured[i] \
                or max(packet.original, packet.captured) != self.original[i]:
            raise self.changed()
        self.given += 1
        return self.texts[i]

    def changed(self) -> AnnotateError:
        return AnnotateError(f"{self.path}: the capture changed while it was being read")


def _packet_options(packet: PacketBlock, order: str, note: bytes) -> list[tuple[int, bytes]]:
    kept = [(code, value) for code, value in options(packet.options, order)
            if code not in NOT_COPIABLE_OPTIONS and not (code == OPT_COMMENT and is_pcapan_comment(value))]
    if packet.drops is not None and all(code != _EPB_DROPCOUNT for code, _ in kept):
        kept.insert(0, (_EPB_DROPCOUNT, struct.pack(order + "Q", packet.drops)))
    kept.append((OPT_COMMENT, note))
    return kept


def _copiable(btype: int, order: str, block: bytes) -> bytes:
    """*block* as it is, or without the options not to be copied when it has some."""
    at = options_at(btype, order, block)
    if at is None or at >= len(block) - 4:
        return block
    opts = options(block[at:-4], order)
    if all(code not in NOT_COPIABLE_OPTIONS for code, _ in opts):
        return block
    kept = [(code, value) for code, value in opts if code not in NOT_COPIABLE_OPTIONS]
    area = option_area(kept, order) if kept else b""
    length = at + len(area) + 4
    head = bytearray(block[:at])
    struct.pack_into(order + "I", head, 4, length)
    return bytes(head) + area + struct.pack(order + "I", length)


def _section_header(order: str, block: bytes) -> bytes:
    out = bytearray(_copiable(SHB, order, block))
    struct.pack_into(order + "q", out, _SECTION_LENGTH_AT, _SECTION_LENGTH_UNKNOWN)
    return bytes(out)


def _copy_pcapng(path: str, notes: _Notes) -> Iterator[bytes]:
    """The blocks of the pcapng file at *path*, each packet with its note added (see the module's text)."""
    first_snaplen = 0        # of the section's first interface: it cuts a simple packet block's data
    described = 0
    for btype, order, block in blocks(path):
        if btype == SHB:
            first_snaplen = described = 0
            yield _section_header(order, block)
        elif btype in (EPB, PB, SPB):
            packet = packet_block(btype, order, block, first_snaplen)
            if packet is not None:     # one too short to hold a packet is no frame
                yield enhanced_block(order, packet, _packet_options(packet, order, notes.next(packet)))
        elif btype == CUSTOM_NOT_COPIABLE:
            continue
        else:
            if btype == IDB:
                if described == 0:
                    (first_snaplen,) = struct.unpack_from(order + "I", block, 12)
                described += 1
            yield _copiable(btype, order, block)


def _copy_pcap(analysis: "Analysis", notes: _Notes) -> Iterator[bytes]:
    """A classic pcap capture as one pcapng section with one interface, each packet with its note added."""
    from . import __version__

    info, order = analysis.info, _NATIVE
    nano = info.file_format == "pcap-ns"
    shb_options = option_area([(_SHB_USERAPPL, f"pcapan {__version__} annotate".encode())], order)
    length = 28 + len(shb_options)
    yield (struct.pack(order + "IIIHHq", SHB, length, _BYTE_ORDER_MAGIC, 1, 0, _SECTION_LENGTH_UNKNOWN)
           + shb_options + struct.pack(order + "I", length))
    idb_options = option_area([(_IF_TSRESOL, bytes([_NANOSECONDS]))], order) if nano else b""
    length = 20 + len(idb_options)
    yield (struct.pack(order + "IIHHI", IDB, length, info.linktypes.get(0, 1), 0, info.snaplen or 0)
           + idb_options + struct.pack(order + "I", length))
    units = 10 ** 9 if nano else 10 ** 6
    for frame in read_frames(info.path):
        ticks = (frame.ts_ns + info.time_base_ns) * units // 10 ** 9
        packet = PacketBlock(0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame.data), frame.wire_len, frame.data,
                             b"", None)
        yield enhanced_block(order, packet, [(OPT_COMMENT, notes.next(packet))])


def annotate(analysis: "Analysis", output: str | os.PathLike) -> int:
    """Write the capture *analysis* was made from to *output* as annotated pcapng.

    The file is read again (it must be a file, not a stream), written to a
    temporary name and renamed into place; *output* may not be the capture
    itself (:class:`~pcap_analyzer.files.ExportError`).  Returns the number
    of frames written.  Raises :class:`AnnotateError` when the capture is no
    longer the one analysed.
    """
    path = analysis.info.path
    check_source(path)
    notes = _Notes(path, analysis.packets)

    def write(tmp: str) -> None:
        copy = _copy_pcapng(path, notes) if analysis.info.file_format == "pcapng" else _copy_pcap(analysis, notes)
        with open(tmp, "wb", buffering=_WRITE_BUFFER) as out:
            for chunk in copy:
                out.write(chunk)
        if notes.given != len(notes.texts):
            raise notes.changed()

    replace_atomically(output, write, path)
    return notes.given


__all__ = ["COMMENT_PREFIX", "AnnotateError", "annotate", "check_source", "comments", "enhanced_block", "is_pcapan_comment",
           "option_area"]
