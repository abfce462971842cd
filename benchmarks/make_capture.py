#!/usr/bin/env python3
"""Write the benchmark capture: many copies of our recorded real traffic.

    python benchmarks/make_capture.py OUT.pcap [--packets N]
    python benchmarks/make_capture.py OUT.pcap --syn-flood N

The recorded bulk transfer with loss (``sample_captures/bulk_loss.pcap``)
and the short HTTP-like connection (``sample_captures/http_like.pcap``) are
replayed over and over, each copy on its own client port (TCP checksums
adjusted incrementally, RFC 1624) and later in time, until N packets are
written: about 4 short connections for every bulk transfer's worth of
packets, so the file mixes long lossy streams with thousands of short ones.
Deterministic: the same N gives the same bytes.

--syn-flood N writes instead N lone SYNs, each from its own client address
and port to one server port, 1 microsecond apart: N streams that never get
past their first packet, the case where memory per stream is all there is
(each record 70 bytes, so 1,000,000 SYNs make about 70 MB).
"""
from __future__ import annotations

import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pcap_analyzer.capture import read_frames  # noqa: E402

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


# A multiplier coprime with 2**24: i -> (i * it) mod 2**24 visits every
# 24-bit number once, so client addresses look scattered, as spoofed ones do,
# yet no two SYNs share one.
_SCATTER = 0x9E3779B1
SYN_FLOOD_MAX = 1 << 24      # one client address per SYN within 10.0.0.0/8
SERVER = (0xC000020A, 80)    # 192.0.2.10:80 (TEST-NET-1)


def _sum16(data: bytes) -> int:
    """Ones' complement sum of *data* (even length), folded to 16 bits."""
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def write_syn_flood(out: str, n: int) -> None:
    """*n* SYNs with *n* distinct four-tuples, valid IP and TCP checksums."""
    if not 0 < n <= SYN_FLOOD_MAX:
        raise SystemExit(f"--syn-flood takes 1 to {SYN_FLOOD_MAX:,} SYNs")
    ether = bytes.fromhex("020000000001" "020000000002" "0800")
    ip_hdr = struct.Struct("!BBHHHBBHII")
    tcp_hdr = struct.Struct("!HHIIBBHHH")
    rec = struct.Struct("<IIII")
    server_ip, server_port = SERVER
    t = 1_700_000_000 * 10**9
    with open(out + ".tmp", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            src = 0x0A000000 | ((i * _SCATTER) & 0xFFFFFF)
            sport = 1024 + (i * 40503) % 64512
            isn = (i * 0x41C64E6D + 12345) & 0xFFFFFFFF
            ip = ip_hdr.pack(0x45, 0, 40, i & 0xFFFF, 0x4000, 64, 6, 0, src, server_ip)
            ip = ip[:10] + struct.pack("!H", ~_sum16(ip) & 0xFFFF) + ip[12:]
            tcp = tcp_hdr.pack(sport, server_port, isn, 0, 5 << 4, 0x02, 64240, 0, 0)
            pseudo = struct.pack("!IIBBH", src, server_ip, 0, 6, len(tcp))
            tcp = tcp[:16] + struct.pack("!H", ~_sum16(pseudo + tcp) & 0xFFFF) + tcp[18:]
            frame = ether + ip + tcp
            ts = t + i * 1000
            f.write(rec.pack(ts // 10**9, ts % 10**9, len(frame), len(frame)))
            f.write(frame)
    os.replace(out + ".tmp", out)
    print(f"{out}: {n} SYNs")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=1_200_000)
    ap.add_argument("--syn-flood", type=int, default=0, metavar="N",
                    help="write N SYNs with N distinct four-tuples instead")
    ns = ap.parse_args()
    if ns.syn_flood:
        write_syn_flood(ns.out, ns.syn_flood)
        return 0
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
