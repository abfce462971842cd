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
    """Frames of a template: (ts offset ns, bytes, client port field offset, tcp checksum offset,
    wire length, which of the template's client ports it is); the number of client ports; the time span."""
    frames = list(read_frames(os.path.join(ROOT, path)))
    t0 = frames[0].ts_ns
    server_port = None
    client_ports: dict[int, int] = {}
    out = []
    for fr in frames:
        d = fr.data
        if len(d) < 34 or d[12:14] != b"\x08\x00" or d[23] != 6:
            out.append((fr.ts_ns - t0, d, None, None, fr.wire_len, 0))
            continue
        ihl = (d[14] & 0x0F) * 4
        tcp = 14 + ihl
        sport, dport = struct.unpack_from("!HH", d, tcp)
        if server_port is None:
            server_port = dport      # the first frame is a client's SYN
        pos = tcp if dport == server_port else tcp + 2
        port = sport if dport == server_port else dport
        which = client_ports.setdefault(port, len(client_ports))
        out.append((fr.ts_ns - t0, d, pos, tcp + 16 if len(d) >= tcp + 18 else None, fr.wire_len, which))
    span = frames[-1].ts_ns - t0
    return out, len(client_ports), span


def _fix(frame: bytes, port_pos, ck_pos, new: int) -> bytes:
    """*frame* with the port at *port_pos* set to *new*, its TCP checksum updated (RFC 1624)."""
    b = bytearray(frame)
    old = struct.unpack_from("!H", b, port_pos)[0]
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
    bulk, bulk_ports, bulk_span = _template(TEMPLATES[0])
    short, short_ports, short_span = _template(TEMPLATES[1])
    hdr = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    rec = struct.Struct("<IIII")
    written = 0
    t = 1_700_000_000 * 10**9
    copy = 0
    with open(ns.out + ".tmp", "wb") as f:
        f.write(hdr)
        while written < ns.packets:
            plan = [(bulk, 20000 + (copy * bulk_ports) % 10000, bulk_span)]
            plan += [(short, 30000 + ((copy * SHORT_PER_BULK + k) * short_ports) % 30000, short_span)
                     for k in range(SHORT_PER_BULK)]
            for frames, first_port, span in plan:
                for off, data, port_pos, ck_pos, wire, which in frames:
                    if port_pos is not None:
                        data = _fix(data, port_pos, ck_pos, first_port + which)
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
