#!/usr/bin/env python3
"""Write the benchmark capture: many copies of our recorded real traffic.

    python benchmarks/make_capture.py OUT.pcap [--packets N]

The recorded bulk transfer with loss (``sample_captures/bulk_loss.pcap``)
and the short HTTP-like connection (``sample_captures/http_like.pcap``) are
replayed over and over, each copy on its own client port (TCP checksums
adjusted incrementally, RFC 1624) and later in time, until N packets are
written: about 4 short connections for every bulk transfer's worth of
packets, so the file mixes long lossy streams with thousands of short ones.
Deterministic: the same N gives the same bytes.
"""
from __future__ import annotations

import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pcap_analyzer.reader import read_frames  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
TEMPLATES = ("sample_captures/bulk_loss.pcap", "sample_captures/http_like.pcap")
SHORT_PER_BULK = 120       # short connections written after each bulk copy


def _template(path):
    """(ts offset ns, frame bytes, offsets of the client port fields, tcp checksum offset)."""
    frames = list(read_frames(os.path.join(ROOT, path)))
    t0 = frames[0].ts_ns
    client_port = None
    out = []
    for fr in frames:
        d = fr.data
        if len(d) < 34 or d[12:14] != b"\x08\x00" or d[23] != 6:
            out.append((fr.ts_ns - t0, d, None, None, fr.wire_len))
            continue
        ihl = (d[14] & 0x0F) * 4
        tcp = 14 + ihl
        sport, dport = struct.unpack_from("!HH", d, tcp)
        if client_port is None:
            client_port = sport
        pos = tcp if sport == client_port else tcp + 2
        out.append((fr.ts_ns - t0, d, pos, tcp + 16 if len(d) >= tcp + 18 else None, fr.wire_len))
    span = frames[-1].ts_ns - t0
    return out, client_port, span


def _fix(frame: bytes, port_pos, ck_pos, old: int, new: int) -> bytes:
    b = bytearray(frame)
    struct.pack_into("!H", b, port_pos, new)
    if ck_pos is not None:
        hc = struct.unpack_from("!H", b, ck_pos)[0]
        s = (~hc & 0xFFFF) + (~old & 0xFFFF) + new
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        struct.pack_into("!H", b, ck_pos, ~s & 0xFFFF)
    return bytes(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=1_200_000)
    ns = ap.parse_args()
    bulk, bulk_port, bulk_span = _template(TEMPLATES[0])
    short, short_port, short_span = _template(TEMPLATES[1])
    hdr = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    rec = struct.Struct("<IIII")
    written = 0
    t = 1_700_000_000 * 10**9
    copy = 0
    with open(ns.out + ".tmp", "wb") as f:
        f.write(hdr)
        while written < ns.packets:
            plan = [(bulk, bulk_port, 20000 + copy % 10000, bulk_span)]
            plan += [(short, short_port, 30000 + (copy * SHORT_PER_BULK + k) % 30000, short_span)
                     for k in range(SHORT_PER_BULK)]
            for frames, old, new, span in plan:
                for off, data, port_pos, ck_pos, wire in frames:
                    if port_pos is not None:
                        data = _fix(data, port_pos, ck_pos, old, new)
                    ts = t + off
                    f.write(rec.pack(ts // 10**9, ts % 10**9, len(data), wire))
                    f.write(data)
                    written += 1
                    if written >= ns.packets:
                        break
                t += span + 1_000_000
                if written >= ns.packets:
                    break
            copy += 1
    os.replace(ns.out + ".tmp", ns.out)
    print(f"{ns.out}: {written} packets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
