"""Compiled reading of classic pcap files: framing and header decoding in numba.

The common case -- a classic pcap of Ethernet (optionally one 802.1Q tag) or
raw IP frames carrying plain IPv4/IPv6 with TCP or UDP -- is framed and
decoded here in one compiled pass over the memory-mapped file.  Every frame
that is anything else (other link or network layers, fragments, tunnels,
ICMP, malformed or oddly cut headers) is marked and decoded by the readable
per-frame decoder in :mod:`.decode`, which stays the reference: the tests
decode every sample and development capture both ways and demand identical
tables.  Framing follows :func:`.reader.read_frames` rule for rule,
including its warnings.

The file is read a chunk of records at a time (:func:`iter_tables`), each
chunk indexed, decoded and made a table of its own, with frame numbers and
IP fragment reassembly carried from one chunk to the next; :func:`build_table`
concatenates the chunks.

A :class:`Split` makes the tables hold one share of the capture's
conversations only (every frame of a four-tuple in the same share, frames
outside any conversation in share 0), so that several processes can each
analyse a share of one capture.
"""
from __future__ import annotations

import mmap
import os
import socket
import struct
import zlib
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np
import pandas as pd

from . import checksum as _ck
from . import decode, reader

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None

_MAX_RECORD = reader.MAX_RECORD_BYTES
_B = np.int64   # every byte read widened first: numba would make uint8 arithmetic float
# checksum verdict codes
_NONE, _GOOD, _BAD, _MAYBE, _UNVERIFIED = 0, 1, 2, 3, 4
_VERDICTS = np.array([None, _ck.GOOD, _ck.BAD, _ck.MAYBE_OFFLOADED, _ck.UNVERIFIED], dtype=object)


def _frame_index(buf, start, big_endian, extra, limit):
    """Offsets of up to *limit* records of a classic pcap from *start*; stops like the Python reader.

    Returns (count, next, offsets, caplens, wirelens, secs, fracs, status, bad_caplen) where
    next is where the first record not read starts and status is 0 clean end, 1 record
    header cut, 2 record data cut, 3 absurd length, 4 *limit* reached before the end.
    The arrays hold *count* records, are sized by the smaller of *limit* and what the
    rest of the file could hold.
    """
    n = len(buf)
    cap = max(1, min(limit, (n - start) // 16 + 1))
    offs = np.empty(cap, dtype=np.int64)
    caps = np.empty(cap, dtype=np.int64)
    wires = np.empty(cap, dtype=np.int64)
    secs = np.empty(cap, dtype=np.int64)
    fracs = np.empty(cap, dtype=np.int64)
    pos = start
    k = 0
    status = 0
    bad = 0
    while True:
        if pos >= n:
            break
        if k >= limit:
            status = 4
            break
        if pos + 16 + extra > n:
            status = 1
            break
        if big_endian:
            sec = (_B(buf[pos]) << 24) | (_B(buf[pos + 1]) << 16) | (_B(buf[pos + 2]) << 8) | _B(buf[pos + 3])
            frac = (_B(buf[pos + 4]) << 24) | (_B(buf[pos + 5]) << 16) | (_B(buf[pos + 6]) << 8) | _B(buf[pos + 7])
            cl = (_B(buf[pos + 8]) << 24) | (_B(buf[pos + 9]) << 16) | (_B(buf[pos + 10]) << 8) | _B(buf[pos + 11])
            wl = (_B(buf[pos + 12]) << 24) | (_B(buf[pos + 13]) << 16) | (_B(buf[pos + 14]) << 8) | _B(buf[pos + 15])
        else:
            sec = _B(buf[pos]) | (_B(buf[pos + 1]) << 8) | (_B(buf[pos + 2]) << 16) | (_B(buf[pos + 3]) << 24)
            frac = _B(buf[pos + 4]) | (_B(buf[pos + 5]) << 8) | (_B(buf[pos + 6]) << 16) | (_B(buf[pos + 7]) << 24)
            cl = _B(buf[pos + 8]) | (_B(buf[pos + 9]) << 8) | (_B(buf[pos + 10]) << 16) | (_B(buf[pos + 11]) << 24)
            wl = _B(buf[pos + 12]) | (_B(buf[pos + 13]) << 8) | (_B(buf[pos + 14]) << 16) | (_B(buf[pos + 15]) << 24)
        if cl > _MAX_RECORD:
            status = 3
            bad = cl
            break
        data = pos + 16 + extra
        if data + cl > n:
            status = 2
            break
        offs[k] = data
        caps[k] = cl
        wires[k] = wl if wl > cl else cl
        secs[k] = sec
        fracs[k] = frac
        k += 1
        pos = data + cl
    return k, pos, offs, caps, wires, secs, fracs, status, bad


def _fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _sum16(buf, a, b):
    """Ones-complement sum of _B(buf[a:b]) as big-endian 16-bit words (odd byte padded)."""
    s = 0
    i = a
    while i + 1 < b:
        s += (_B(buf[i]) << 8) | _B(buf[i + 1])
        i += 2
    if i < b:
        s += _B(buf[i]) << 8
    return s


def _u16(buf, i):
    return (_B(buf[i]) << 8) | _B(buf[i + 1])


def _u32(buf, i):
    return (_B(buf[i]) << 24) | (_B(buf[i + 1]) << 16) | (_B(buf[i + 2]) << 8) | _B(buf[i + 3])


def _decode(buf, offs, caps, wires, linktype, out, addr):
    """Decode the frames the fast path understands; out[i, 0] = 0 marks the rest for Python.

    out columns: 0 ok, 1 proto (6/17), 2 ip version, 3 sport, 4 dport, 5 flags, 6 seq,
    7 ack, 8 window, 9 payload_len, 10 tcp_hdr_len, 11 mss, 12 wscale, 13 sack_perm,
    14 sack_bytes, 15 ip verdict, 16 l4 verdict, 17 truncated.  -1 = none.
    addr columns: src and dst as (hi, lo) 64-bit halves (IPv4 in lo).
    """
    for i in range(len(offs)):
        o = offs[i]
        n = o + caps[i]
        uncaptured = wires[i] - caps[i]
        out[i, 0] = 0
        off = o
        if linktype == 1:
            if caps[i] < 14:
                continue
            et = _u16(buf, o + 12)
            off = o + 14
            if et == 0x8100:
                if off + 4 > n:
                    continue
                et = _u16(buf, off + 2)
                off += 4
            if et == 0x0800:
                ver = 4
            elif et == 0x86DD:
                ver = 6
            else:
                continue
        else:  # raw IP
            if caps[i] < 1:
                continue
            ver = _B(buf[o]) >> 4
        if ver == 4:
            if off + 20 > n:
                continue
            vihl = _B(buf[off])
            ihl = (vihl & 0x0F) * 4
            if vihl >> 4 != 4 or ihl < 20 or off + ihl > n:
                continue
            total = _u16(buf, off + 2)
            frag = _u16(buf, off + 6)
            proto = _B(buf[off + 9])
            if total == 0 or total < ihl or (frag & 0x3FFF) != 0 or (proto != 6 and proto != 17):
                continue
            if off + total > n + uncaptured:
                total = n + uncaptured - off
            s = _fold(_sum16(buf, off, off + ihl))
            ipv = _GOOD if s == 0xFFFF else (_MAYBE if _u16(buf, off + 10) == 0 else _BAD)
            l4 = off + ihl
            l4len = total - ihl
            end = off + total
            addr[i, 0] = 0
            addr[i, 1] = _u32(buf, off + 12)
            addr[i, 2] = 0
            addr[i, 3] = _u32(buf, off + 16)
            pseudo = _u16(buf, off + 12) + _u16(buf, off + 14) + _u16(buf, off + 16) + _u16(buf, off + 18)
        elif ver == 6:
            if off + 40 > n or _B(buf[off]) >> 4 != 6:
                continue
            plen = _u16(buf, off + 4)
            proto = _B(buf[off + 6])
            if plen == 0 or (proto != 6 and proto != 17):
                continue
            if off + 40 + plen > n + uncaptured:
                plen = n + uncaptured - off - 40
            ipv = _NONE
            l4 = off + 40
            l4len = plen
            end = off + 40 + plen
            hi = np.int64(0)
            for b in range(8):
                hi = (hi << 8) | _B(buf[off + 8 + b])
            addr[i, 0] = hi
            lo = np.int64(0)
            for b in range(8):
                lo = (lo << 8) | _B(buf[off + 16 + b])
            addr[i, 1] = lo
            hi = np.int64(0)
            for b in range(8):
                hi = (hi << 8) | _B(buf[off + 24 + b])
            addr[i, 2] = hi
            lo = np.int64(0)
            for b in range(8):
                lo = (lo << 8) | _B(buf[off + 32 + b])
            addr[i, 3] = lo
            pseudo = _sum16(buf, off + 8, off + 40)
        else:
            continue
        truncated = end > n
        if truncated:
            end = n
        if proto == 6:
            if l4 + 20 > end:
                continue
            hlen = (_B(buf[l4 + 12]) >> 4) * 4
            if hlen < 20 or hlen > l4len:
                continue
            out[i, 3] = _u16(buf, l4)
            out[i, 4] = _u16(buf, l4 + 2)
            out[i, 5] = _B(buf[l4 + 13]) | ((_B(buf[l4 + 12]) & 1) << 8)
            out[i, 6] = _u32(buf, l4 + 4)
            out[i, 7] = _u32(buf, l4 + 8)
            out[i, 8] = _u16(buf, l4 + 14)
            out[i, 9] = l4len - hlen
            out[i, 10] = hlen
            mss = -1
            ws = -1
            sperm = -1
            sbytes = -1
            if hlen > 20:
                p = l4 + 20
                stop = min(l4 + hlen, end)
                sperm = 0
                while p < stop:
                    kind = _B(buf[p])
                    if kind == 0:
                        break
                    if kind == 1:
                        p += 1
                        continue
                    if p + 1 >= stop:
                        break
                    ln = _B(buf[p + 1])
                    if ln < 2 or p + ln > stop:
                        break
                    if kind == 2 and ln == 4:
                        mss = _u16(buf, p + 2)
                    elif kind == 3 and ln == 3:
                        ws = _B(buf[p + 2])
                    elif kind == 4:
                        sperm = 1
                    elif kind == 5 and ln >= 10:
                        tot = 0
                        nb = (ln - 2) // 8
                        if nb > 3:
                            nb = 3
                        for b in range(nb):
                            tot += (_u32(buf, p + 6 + 8 * b) - _u32(buf, p + 2 + 8 * b)) & 0xFFFFFFFF
                        sbytes = tot
                    p += ln
            out[i, 11] = mss
            out[i, 12] = ws
            out[i, 13] = sperm
            out[i, 14] = sbytes
            if l4 + hlen > end:
                truncated = True
            ck_len = l4len
            field_pos = l4 + 16
        else:
            if l4 + 8 > end:
                continue
            ulen = _u16(buf, l4 + 4)
            sp = _u16(buf, l4)
            dp = _u16(buf, l4 + 2)
            if ulen < 8 or ulen > l4len:
                continue
            if dp == 4789 or sp == 2152 or dp == 2152:
                continue
            out[i, 3] = sp
            out[i, 4] = dp
            for c in range(5, 9):
                out[i, c] = -1
            out[i, 9] = ulen - 8
            for c in range(10, 15):
                out[i, c] = -1
            ck_len = ulen
            field_pos = l4 + 6
        # transport checksum, as checksum.transport
        if field_pos + 2 > end:
            l4v = _UNVERIFIED
        else:
            field = _u16(buf, field_pos)
            if proto == 17 and field == 0:
                l4v = _NONE if ver == 4 else _BAD
            elif truncated or l4 + ck_len > n:
                l4v = _UNVERIFIED
            else:
                ps = pseudo + (ck_len >> 16) + (ck_len & 0xFFFF) + proto
                total_sum = _fold(ps + _sum16(buf, l4, l4 + ck_len))
                if total_sum == 0xFFFF:
                    l4v = _GOOD
                else:
                    folded = _fold(ps)
                    if field == 0 or field == folded or field == ((~folded) & 0xFFFF):
                        l4v = _MAYBE
                    else:
                        l4v = _BAD
        out[i, 0] = 1
        out[i, 1] = proto
        out[i, 2] = ver
        out[i, 15] = ipv
        out[i, 16] = l4v
        out[i, 17] = 1 if truncated else 0


if numba is not None:
    _jit = numba.njit(cache=True, nogil=True)
    _fold = _jit(_fold)
    _sum16 = _jit(_sum16)
    _u16 = _jit(_u16)
    _u32 = _jit(_u32)
    _frame_index = _jit(_frame_index)
    _decode = _jit(_decode)

_FAST_LINKTYPES = (1, 101, 228, 229)


def _addresses(hi: np.ndarray, lo: np.ndarray, ver: np.ndarray) -> tuple[np.ndarray, list]:
    """(codes, texts): each address from its 64-bit halves as an index into its text, converted once."""
    codes = np.empty(len(hi), dtype=np.intp)
    texts: list = []
    v4 = ver == 4
    if v4.any():
        c, uniq = pd.factorize(lo[v4])
        codes[v4] = c
        texts += [socket.inet_ntop(socket.AF_INET, struct.pack("!I", int(x) & 0xFFFFFFFF)) for x in uniq]
    if (~v4).any():
        c, uniq = pd.factorize(pd.MultiIndex.from_arrays([hi[~v4], lo[~v4]]))
        codes[~v4] = c + len(texts)
        texts += [socket.inet_ntop(socket.AF_INET6, struct.pack("!qq", int(h), int(l))) for h, l in uniq]
    return codes, texts


@dataclass
class Split:
    """Which share of a capture's conversations the tables keep, and what reading the whole file showed.

    Every frame of a TCP or UDP four-tuple goes to the same one of *count*
    shares (a hash of its two endpoints, the same whichever side sends);
    frames outside a conversation go to share 0.  Reading fills in the
    capture-wide facts a share alone would not see: the first and last
    timestamps, and whether some frame files itself under a second flow
    (an ICMP error quoting one): such a frame can number a stream before
    its own frames come, so shares could not be numbered apart.
    """

    index: int
    count: int
    first_ts: int | None = None
    last_ts: int | None = None
    crosses: bool = False


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _endpoint_hashes(addr_hash: np.ndarray, port: np.ndarray) -> np.ndarray:
    """One 64-bit number per endpoint (address hash, port)."""
    with np.errstate(over="ignore"):
        return (addr_hash.astype(np.uint64) * _MIX) ^ (port.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))


def shares(src_hash: np.ndarray, sport: np.ndarray, dst_hash: np.ndarray, dport: np.ndarray,
           count: int) -> np.ndarray:
    """The share (0..count-1) of each conversation row; the same for both directions."""
    h = _endpoint_hashes(src_hash, sport) ^ _endpoint_hashes(dst_hash, dport)
    with np.errstate(over="ignore"):
        h = (h * _MIX) >> np.uint64(32)
    return (h % np.uint64(count)).astype(np.int64)


def address_hash(text: str) -> int:
    """A stable number for an address text (the same in every process)."""
    return zlib.crc32(text.encode())


class _Pcap(NamedTuple):
    """An open classic pcap the compiled path reads: its memory map and header facts."""

    mm: mmap.mmap
    big_endian: bool
    nano: bool
    snaplen: int
    linktype: int


def _open(path: str) -> _Pcap | None:
    """The capture at *path* mapped for the compiled path; None when another reader must do it."""
    if numba is None or os.environ.get("PCAPAN_NO_FASTPATH"):
        return None
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        head = f.read(24)
        if len(head) < 24:
            return None
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in reader._PCAP_MAGICS:
            return None
        order, nano = reader._PCAP_MAGICS[magic]
        snaplen, linktype = struct.unpack(order + "II", head[16:24])
        linktype &= 0x0FFFFFF
        if linktype not in _FAST_LINKTYPES:
            return None
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
    return _Pcap(mm, order == ">", nano, snaplen, linktype)


def iter_tables(path: str, info: reader.CaptureInfo, chunk_frames: int | None = None,
                split: Split | None = None) -> Iterator[pd.DataFrame] | None:
    """Packet tables of at most *chunk_frames* consecutive frames of a classic, uncompressed pcap.

    None when another reader must do the file (decided now, before any table).
    Frames are numbered and IP fragments reassembled across the tables, so
    concatenated they are :func:`build_table`'s table; a capture without
    frames gives no table.  With *split*, only that share's rows are kept
    (tables may then be shorter; none is empty).  The file stays mapped
    until the iteration ends.
    """
    if chunk_frames is not None and chunk_frames < 1:
        raise ValueError("chunk_frames must be at least 1")
    pcap = _open(path)
    if pcap is None:
        return None
    return _tables(pcap, info, chunk_frames, keep_empty=False, split=split)


def can_read(path: str) -> bool:
    """Whether the compiled path reads the capture at *path* (and so can split it)."""
    pcap = _open(path)
    if pcap is None:
        return False
    pcap.mm.close()
    return True


def build_table(path: str, info: reader.CaptureInfo) -> pd.DataFrame | None:
    """The packet table of a classic, uncompressed pcap; None when another reader must do it."""
    pcap = _open(path)
    if pcap is None:
        return None
    # in parts: no slower than one table of the whole file, and less memory at the peak
    return decode.concat_tables(_tables(pcap, info, decode.BUILD_CHUNK_FRAMES, keep_empty=True))


def _tables(pcap: _Pcap, info: reader.CaptureInfo, limit: int | None, keep_empty: bool,
            split: Split | None = None):
    """Tables of up to *limit* frames (all in one when None); empty only if *keep_empty* and no frames.

    Records are indexed a table's worth at a time, so memory follows the table,
    not the file; the pages of the map already decoded are handed back as it
    goes.  ``info.frames`` counts the frames read so far; *info* is complete
    (warnings included) when the last table is handed out.
    """
    mm = pcap.mm
    buf = np.frombuffer(mm, dtype=np.uint8)
    try:
        info.file_format = "pcap-ns" if pcap.nano else "pcap"
        info.snaplen = pcap.snaplen
        info.linktypes[0] = pcap.linktype
        # no limit: room for every record the file could hold, so one call indexes them all
        step = (len(buf) - 24) // 16 + 1 if limit is None else limit
        defrag = decode.Defragmenter()
        pos = 24
        done = 0
        released = 0
        while True:
            k, pos, offs, caps, wires, secs, fracs, status, bad = _frame_index(buf, pos, pcap.big_endian, 0, step)
            ts = secs[:k] * 1_000_000_000 + fracs[:k] * (1 if pcap.nano else 1000)
            if split is not None and k:
                if split.first_ts is None:
                    split.first_ts = int(ts[0])
                split.last_ts = int(ts[-1])
            table = _decode_table(buf, offs[:k], caps[:k], wires[:k], ts, pcap.linktype, done + 1, defrag, split)
            del offs, caps, wires, secs, fracs, ts
            done += k
            info.frames = done
            if status == 1:
                info.warn(f"capture truncated after frame {done}: record header cut short")
            elif status == 2:
                info.warn(f"capture truncated after frame {done}: last record cut short")
            elif status == 3:
                info.warn(f"capture damaged after frame {done}: record claims {bad} bytes "
                          f"(limit {_MAX_RECORD}); stopped reading")
            if status == 4:
                released = reader.release_pages(mm, released, pos)
            if len(table) or (keep_empty and done == 0):
                yield table
            del table
            if status != 4:
                return
    finally:
        del buf
        try:
            mm.close()
        except BufferError:
            pass


def _decode_table(buf, offs, caps, wires, ts, linktype, first, defrag, split=None) -> pd.DataFrame:
    """Decode the records at *offs* into a packet table numbered from frame *first* (*split*'s share only)."""
    k = len(offs)
    out = np.full((k, 18), -1, dtype=np.int64)
    addr = np.zeros((k, 4), dtype=np.int64)
    _decode(buf, offs, caps, wires, 1 if linktype == 1 else 101, out, addr)
    if linktype in (228, 229):
        # raw IP of a fixed version: the first nibble must agree, else Python decides
        ver = 4 if linktype == 228 else 6
        out[out[:, 2] != ver, 0] = 0
    fast = out[:, 0] == 1
    slow = np.flatnonzero(~fast)
    slow_rows = []
    if len(slow):
        # ARP right after the Ethernet header: the decoder's row for it names the protocol only
        arp = np.zeros(k, dtype=bool)
        if linktype == 1:
            head = slow[caps[slow] >= 14]
            arp[head] = (buf[offs[head] + 12] == 0x08) & (buf[offs[head] + 13] == 0x06)
        arp_row = decode._row("arp")
        with decode.reassembling(defrag):
            for i in slow.tolist():
                if arp[i]:
                    slow_rows.append(arp_row)
                    continue
                data = bytes(buf[offs[i]: offs[i] + caps[i]])
                try:
                    slow_rows.append(decode.decode_frame(linktype, data, int(wires[i])))
                except (struct.error, IndexError, ValueError):
                    slow_rows.append(decode._row("other", malformed="link"))
    frames = np.arange(first, first + k, dtype=np.int64)
    if split is not None:
        keep = _share(out, addr, fast, slow, slow_rows, split) == split.index
        if not keep.all():
            kept_slow = keep[slow]
            slow_rows = [row for row, kept in zip(slow_rows, kept_slow.tolist()) if kept]
            caps, wires, ts, out, addr, fast, frames = (a[keep] for a in (caps, wires, ts, out, addr, fast, frames))
            k = len(frames)
            slow = np.flatnonzero(~fast)
    return _assemble(k, frames, ts, caps, wires, linktype, out, addr, fast, slow, slow_rows)


_SLOW_FIELD = {f: j for j, f in enumerate(decode.FIELDS)}


def _share(out, addr, fast, slow, slow_rows, split: Split) -> np.ndarray:
    """The share of every decoded row (see :class:`Split`); notes a frame that files itself under a second flow."""
    k = len(out)
    src_h, dst_h = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
    sport, dport = out[:, 3].copy(), out[:, 4].copy()
    conv = fast & (sport >= 0) & (dport >= 0) & ((out[:, 1] == 6) | (out[:, 1] == 17))
    rows = np.flatnonzero(conv)
    if len(rows):
        for column, hi, lo in ((src_h, 0, 1), (dst_h, 2, 3)):
            codes, names = _addresses(addr[rows, hi], addr[rows, lo], out[rows, 2])
            column[rows] = np.array([address_hash(t) for t in names], dtype=np.int64)[codes]
    f = _SLOW_FIELD
    for i, row in zip(slow.tolist(), slow_rows):
        if row[f["other_flow"]] is not None:
            split.crosses = True
        if row[f["proto"]] in ("tcp", "udp") and row[f["sport"]] is not None and row[f["dport"]] is not None \
                and row[f["src"]] is not None and row[f["dst"]] is not None:
            conv[i] = True
            src_h[i], dst_h[i] = address_hash(row[f["src"]]), address_hash(row[f["dst"]])
            sport[i], dport[i] = row[f["sport"]], row[f["dport"]]
    share = np.zeros(k, dtype=np.int64)
    share[conv] = shares(src_h[conv], sport[conv], dst_h[conv], dport[conv], split.count)
    return share


def _text(k, fast, fast_codes, texts, slow, slow_values):
    """A text column: fast rows by their code into *texts* (whose entry 0 is None), slow rows as decoded."""
    codes = np.zeros(k, dtype=np.intp)
    codes[fast] = fast_codes
    texts = list(texts)
    if len(slow):
        c, uniq = pd.factorize(np.asarray(slow_values, dtype=object))   # None -> -1
        codes[slow] = np.where(c >= 0, c + len(texts), 0)
        texts += list(uniq)
    return decode.text_array(np.asarray(texts, dtype=object)[codes])


def _assemble(k, frames, ts, caps, wires, linktype, out, addr, fast, slow, slow_rows) -> pd.DataFrame:
    idx = {f: j for j, f in enumerate(decode.FIELDS)}
    cols_slow = list(zip(*slow_rows)) if len(slow) else [()] * len(decode.FIELDS)

    def slow_of(name):
        return cols_slow[idx[name]]

    ver = out[:, 2]
    names = {"ip_version": 2, "sport": 3, "dport": 4, "tcp_flags": 5, "seq": 6, "ack": 7, "window": 8,
             "payload_len": 9, "tcp_hdr_len": 10, "mss": 11, "wscale": 12, "sack_bytes": 14}
    # the integer fields column by column, each one contiguous (and its own: slow rows are written in)
    fields = np.ascontiguousarray(out[:, list(names.values())].T)
    missing = (fields < 0) | ~fast
    ints = dict(zip(names, fields))
    nulls = dict(zip(names, missing))
    sack_perm = np.empty(k, dtype=object)
    sack_perm[fast] = np.where(out[fast, 13] == 1, True, None)   # like decode: True or None
    truncated = out[:, 17] == 1
    no_text = np.zeros(int(fast.sum()), dtype=np.intp)   # fast rows have none
    m = int(fast.sum())
    both_codes, both_texts = _addresses(np.concatenate([addr[fast, 0], addr[fast, 2]]),
                                        np.concatenate([addr[fast, 1], addr[fast, 3]]),
                                        np.concatenate([ver[fast], ver[fast]]))
    texts = {
        "proto": (np.where(out[fast, 1] == 6, 1, 2), [None, "tcp", "udp"]),
        "src": (both_codes[:m] + 1, [None] + both_texts),
        "dst": (both_codes[m:] + 1, [None] + both_texts),
        "ip_checksum": (out[fast, 15], _VERDICTS),
        "l4_checksum": (out[fast, 16], _VERDICTS),
        "fragment": (no_text, [None]),
        "malformed": (no_text, [None]),
    }
    objects = {"sack_perm": sack_perm, "other_flow": np.full(k, None, dtype=object)}
    if len(slow):
        for name in names:
            ints[name][slow] = [-1 if v is None else int(v) for v in slow_of(name)]
            nulls[name][slow] = [v is None for v in slow_of(name)]
        truncated[slow] = np.asarray(slow_of("truncated"), dtype=bool)
        for name, column in objects.items():
            column[slow] = np.fromiter(slow_of(name), dtype=object, count=len(slow))
    cols: dict[str, object] = {}
    cols["frame"] = frames
    cols["ts_ns"] = ts
    cols["iface"] = np.zeros(k, dtype=np.int64)
    cols["linktype_id"] = np.full(k, linktype, dtype=np.int64)
    cols["cap_len"] = caps
    cols["wire_len"] = wires
    for f in decode.FIELDS:
        if f in names:
            cols[f] = pd.arrays.IntegerArray(ints[f], nulls[f])
        elif f in texts:
            cols[f] = _text(k, fast, *texts[f], slow, slow_of(f))
        elif f == "truncated":
            cols[f] = truncated
        else:
            cols[f] = decode.object_array(objects[f])
    cols["comment"] = decode.comment_array(k, None)
    return pd.DataFrame(cols)
