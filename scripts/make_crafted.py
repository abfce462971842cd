#!/usr/bin/env python3
"""Write the crafted sample captures (deterministic, byte for byte).

    python scripts/make_crafted.py [OUTDIR]

OUTDIR defaults to ``sample_captures/crafted``; the broken captures go to the
``broken`` folder beside it (``sample_captures/broken`` by default). Each
folder gets a README.md whose table is generated from the one-line
descriptions below.

Every capture is one small function in ``CASES`` (readable, well-formed
captures that tshark decodes as intended) or ``BROKEN`` (damaged files for
robustness tests). Timestamps and ISNs are fixed and the only randomness is a
``random.Random`` seeded with the file name, so running the script twice gives
identical files. Checksums are right unless a case says otherwise.

Addresses come from the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32), InfiniBand GIDs from fe80::/64, and MAC
addresses are locally administered ones. docs/link-layers.md describes the
link layers, tags and tunnels of the captures that use them.
"""
from __future__ import annotations

import argparse
import gzip
import io
import random
import socket
import struct
import sys
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

import dpkt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))      # tests/builder.py writes conversations segment by segment
DEFAULT_OUT = ROOT / "sample_captures" / "crafted"

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TCP_P, UDP_P = 6, 17
MOD32 = 1 << 32

# Link-layer header types (the values stored in pcap/pcapng files).
LT_NULL, LT_ETHERNET, LT_RAW, LT_LOOP = 0, 1, 101, 108
LT_LINUX_SLL, LT_USER0, LT_IPV4, LT_IPV6, LT_LINUX_SLL2 = 113, 147, 228, 229, 276
LT_ARCNET_BSD, LT_ARCNET_LINUX, LT_USER2, LT_IPOIB, LT_PKTAP = 7, 129, 149, 242, 258

# Extension header numbers.
HOPOPT, IPV6_ROUTE, IPV6_FRAG, IPV6_DSTOPTS = 0, 43, 44, 60

T0 = Decimal("1700000000")  # 2023-11-14 22:13:20 UTC
MS = Decimal("0.001")

MAC_C = bytes.fromhex("020000000001")  # client side
MAC_S = bytes.fromhex("020000000002")  # server side (or its router)

C4, S4 = "192.0.2.10", "198.51.100.20"
C6, S6 = "2001:db8:1::10", "2001:db8:2::20"
UDP_PORT = 30000  # no dissector claims it: UDP payloads stay plain data

# (from_client, IP packet): what a flow produces before a link layer is added.
Pkt = tuple[bool, bytes]
# (timestamp, frame bytes): what a capture file holds.
Frame = tuple[Decimal, bytes]


# --------------------------------------------------------------------------
# Checksums, network and transport headers
# --------------------------------------------------------------------------

def aton(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


def pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    if ":" in src:
        return struct.pack(">16s16sI3xB", aton(src), aton(dst), length, proto)
    return struct.pack(">4s4sxBH", aton(src), aton(dst), proto, length)


def set_l4_checksum(seg: bytearray, proto: int, src: str, dst: str, mode: str = "good") -> None:
    """Fill the TCP/UDP checksum of ``seg`` in place.

    mode: "good"; "bad" (right value with bits flipped); "zero" (UDP: no
    checksum). The pseudo-header uses ``src``/``dst`` as given, so callers pass
    the final destination when a routing header says so.
    """
    at = 16 if proto == TCP_P else 6
    seg[at:at + 2] = b"\x00\x00"
    if mode == "zero":
        return
    value = dpkt.in_cksum(pseudo_header(src, dst, proto, len(seg)) + bytes(seg))
    if proto == UDP_P and value == 0:
        value = 0xFFFF
    if mode == "bad":
        value ^= 0x5A5A
    struct.pack_into(">H", seg, at, value)


def tcp_segment(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
                data: bytes = b"", win: int = 502, opts: bytes = b"", csum: str = "good",
                csum_addrs: tuple[str, str] | None = None, off: int | None = None) -> bytes:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq % MOD32, ack=ack % MOD32, flags=flags,
                       win=win, opts=opts, data=data)
    tcp.off = (20 + len(opts)) // 4 if off is None else off
    seg = bytearray(bytes(tcp))
    set_l4_checksum(seg, TCP_P, *(csum_addrs or (src, dst)), mode=csum)
    return bytes(seg)


def udp_datagram(src: str, dst: str, sport: int, dport: int, data: bytes, csum: str = "good",
                 csum_addrs: tuple[str, str] | None = None) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, ulen=8 + len(data), data=data)
    seg = bytearray(bytes(udp))
    set_l4_checksum(seg, UDP_P, *(csum_addrs or (src, dst)), mode=csum)
    return bytes(seg)


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int = 0, ttl: int = 64,
         opts: bytes = b"", df: bool = True, mf: bool = False, frag_offset: int = 0,
         ihl: int | None = None, total_len: int | None = None, bad_sum: bool = False) -> bytes:
    """An IPv4 packet. ``ihl``/``total_len`` override the computed fields (for broken cases)."""
    assert len(opts) % 4 == 0 and frag_offset % 8 == 0
    ip = dpkt.ip.IP(src=aton(src), dst=aton(dst), p=proto, ttl=ttl, id=ident & 0xFFFF)
    ip._v_hl = 0x40 | (5 + len(opts) // 4 if ihl is None else ihl)
    ip._flags_offset = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset >> 3)
    ip.len = 20 + len(opts) + len(payload) if total_len is None else total_len
    ip.sum = 0
    hdr = bytearray(ip.pack_hdr() + opts)
    value = dpkt.in_cksum(bytes(hdr))
    struct.pack_into(">H", hdr, 10, value ^ 0x5A5A if bad_sum else value)
    return bytes(hdr) + payload


def ipv6(src: str, dst: str, nxt: int, payload: bytes, *, hlim: int = 64, plen: int | None = None) -> bytes:
    ip = dpkt.ip6.IP6(src=aton(src), dst=aton(dst), nxt=nxt, hlim=hlim,
                      plen=len(payload) if plen is None else plen)
    return ip.pack_hdr() + payload


def ext_options(nxt: int, options: bytes = b"") -> bytes:
    """Hop-by-hop or destination options header, padded to 8 octets with Pad1/PadN."""
    pad = (-(2 + len(options))) % 8
    padding = b"\x00" if pad == 1 else (bytes([1, pad - 2]) + bytes(pad - 2) if pad else b"")
    body = options + padding
    return bytes([nxt, (2 + len(body)) // 8 - 1]) + body


def ext_routing0(nxt: int, addrs: list[str], segments_left: int) -> bytes:
    """Type 0 routing header: ``addrs`` are the hops still to visit, the last is the final one."""
    return bytes([nxt, 2 * len(addrs), 0, segments_left]) + bytes(4) + b"".join(aton(a) for a in addrs)


def ext_srh(nxt: int, segments: list[str], segments_left: int) -> bytes:
    """Segment routing header (type 4): segments[0] is the final destination."""
    return (bytes([nxt, 2 * len(segments), 4, segments_left, len(segments) - 1, 0, 0, 0])
            + b"".join(aton(a) for a in segments))


def ext_fragment(nxt: int, offset: int, more: bool, ident: int) -> bytes:
    return struct.pack(">BBHI", nxt, 0, offset | int(more), ident)


def ipv6_chain(src: str, dst: str, proto: int, payload: bytes,
               headers: list[tuple[int, Callable[[int], bytes]]], hlim: int = 64) -> bytes:
    """IPv6 with extension headers: ``headers`` is [(header number, build(next header))]."""
    nxt, chain = proto, b""
    for number, build in reversed(headers):
        chain = build(nxt) + chain
        nxt = number
    return ipv6(src, dst, nxt, chain + payload, hlim=hlim)


def ip_packet(src: str, dst: str, proto: int, l4: bytes, ident: int) -> bytes:
    if ":" in src:
        return ipv6(src, dst, proto, l4)
    return ipv4(src, dst, proto, l4, ident=ident)


NetFn = Callable[[str, str, int, bytes, int], bytes]


# --------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------

MSS_SYN_OPTS = (b"\x02\x04\x05\xb4"      # MSS 1460
                b"\x01\x03\x03\x07"      # NOP, window scale 7
                b"\x01\x01\x04\x02")     # NOP, NOP, SACK permitted


class Tcp:
    """One TCP connection; tracks the next sequence number of each side."""

    def __init__(self, client: tuple[str, int], server: tuple[str, int], client_isn: int,
                 server_isn: int, net: NetFn = ip_packet, ipid: int = 0x1000):
        self.ends = {True: client, False: server}
        self.nxt = {True: client_isn % MOD32, False: server_isn % MOD32}
        self.ipid = {True: ipid, False: ipid + 0x4000}
        self.net = net

    def seg_bytes(self, from_client: bool, flags: int, data: bytes = b"", *, seq: int | None = None,
                  ack: int | None = None, win: int = 502, opts: bytes = b"", csum: str = "good",
                  advance: bool | None = None) -> tuple[str, str, bytes]:
        """The TCP segment alone (src, dst, bytes); advances the sender unless ``seq`` is given."""
        (src, sport), (dst, dport) = self.ends[from_client], self.ends[not from_client]
        s = self.nxt[from_client] if seq is None else seq
        a = (self.nxt[not from_client] if ack is None else ack) if flags & ACK else 0
        if advance if advance is not None else seq is None:
            self.nxt[from_client] = (s + len(data) + (1 if flags & (SYN | FIN) else 0)) % MOD32
        return src, dst, tcp_segment(src, dst, sport, dport, s, a, flags, data, win, opts, csum)

    def pkt(self, from_client: bool, flags: int, data: bytes = b"", **kw) -> Pkt:
        src, dst, seg = self.seg_bytes(from_client, flags, data, **kw)
        self.ipid[from_client] += 1
        return from_client, self.net(src, dst, TCP_P, seg, self.ipid[from_client])

    # Building blocks -------------------------------------------------------
    def handshake(self) -> list[Pkt]:
        return [self.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS),
                self.pkt(False, SYN | ACK, win=65160, opts=MSS_SYN_OPTS),
                self.pkt(True, ACK)]

    def send(self, from_client: bool, data: bytes, mss: int = 1448) -> list[Pkt]:
        return [self.pkt(from_client, PSH | ACK if i + mss >= len(data) else ACK, data[i:i + mss])
                for i in range(0, len(data), mss)]

    def exchange(self, request: bytes, response: bytes, mss: int = 1448) -> list[Pkt]:
        """Request, its ACK, the response in segments, the client's ACK."""
        return (self.send(True, request, mss) + [self.pkt(False, ACK)]
                + self.send(False, response, mss) + [self.pkt(True, ACK)])

    def close(self, from_client: bool = True) -> list[Pkt]:
        return [self.pkt(from_client, FIN | ACK), self.pkt(not from_client, FIN | ACK),
                self.pkt(from_client, ACK)]

    def conversation(self, request: bytes, response: bytes, mss: int = 1448) -> list[Pkt]:
        return self.handshake() + self.exchange(request, response, mss) + self.close()


class Udp:
    def __init__(self, client: tuple[str, int], server: tuple[str, int], net: NetFn = ip_packet,
                 ipid: int = 0x2000):
        self.ends = {True: client, False: server}
        self.ipid = ipid
        self.net = net

    def seg_bytes(self, from_client: bool, data: bytes, csum: str = "good") -> tuple[str, str, bytes]:
        (src, sport), (dst, dport) = self.ends[from_client], self.ends[not from_client]
        return src, dst, udp_datagram(src, dst, sport, dport, data, csum)

    def pkt(self, from_client: bool, data: bytes, csum: str = "good") -> Pkt:
        src, dst, seg = self.seg_bytes(from_client, data, csum)
        self.ipid += 1
        return from_client, self.net(src, dst, UDP_P, seg, self.ipid)


def request(rng: random.Random, path: str = "/") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: example.test\r\nX-Req: {rng.randrange(10**6):06d}\r\n\r\n"
            .encode())


def response(rng: random.Random, size: int) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    return head + bytes(rng.choice(alphabet) for _ in range(max(0, size - len(head))))


def datagram(rng: random.Random, size: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(size))


# --------------------------------------------------------------------------
# Link layers and timing
# --------------------------------------------------------------------------

def ethertype_of(ip_pkt: bytes) -> int:
    return 0x86DD if ip_pkt[0] >> 4 == 6 else 0x0800


def eth(from_client: bool, ip_pkt: bytes, tags: Iterable[tuple[int, int]] = ()) -> bytes:
    """Ethernet II; ``tags`` are (TPID, VLAN id) from outer to inner."""
    src, dst = (MAC_C, MAC_S) if from_client else (MAC_S, MAC_C)
    tag_bytes = b"".join(struct.pack(">HH", tpid, vid) for tpid, vid in tags)
    # Only the header from dpkt: given the payload, it would parse and re-serialise it (and
    # "fix" a deliberate zero UDP checksum over IPv6).
    hdr = dpkt.ethernet.Ethernet(dst=dst, src=src, type=ethertype_of(ip_pkt)).pack_hdr()
    return hdr[:12] + tag_bytes + hdr[12:] + ip_pkt


def sll(from_client: bool, ip_pkt: bytes) -> bytes:
    # Captured on the client: its packets are outgoing (4), the server's addressed to it (0).
    hdr = dpkt.sll.SLL(type=4 if from_client else 0, hrd=1, hlen=6,
                       hdr=MAC_C if from_client else MAC_S, ethtype=ethertype_of(ip_pkt))
    return bytes(hdr) + ip_pkt


def sll2(from_client: bool, ip_pkt: bytes) -> bytes:
    hdr = dpkt.sll2.SLL2(ethtype=ethertype_of(ip_pkt), intindex=2, hrd=1,
                         type=4 if from_client else 0, hlen=6, hdr=MAC_C if from_client else MAC_S)
    return bytes(hdr) + ip_pkt


def null_hdr(family: int, ip_pkt: bytes, order: str) -> bytes:
    """DLT_NULL ('<': host byte order of a little-endian capturer) or DLT_LOOP ('>')."""
    return struct.pack(order + "I", family) + ip_pkt


def raw(_from_client: bool, ip_pkt: bytes) -> bytes:
    return ip_pkt


def timed(pkts: Iterable[Pkt], link: Callable[[bool, bytes], bytes] = eth, start: Decimal = T0,
          step: Decimal = MS) -> list[Frame]:
    return [(start + i * step, link(c, p)) for i, (c, p) in enumerate(pkts)]


def interleave(*flows: list, offsets: Iterable[int] | None = None) -> list:
    """Merge lists round-robin; flow k starts after ``offsets[k]`` rounds."""
    offsets = list(offsets) if offsets is not None else [0] * len(flows)
    out, rnd = [], 0
    queues = [list(f) for f in flows]
    while any(queues):
        for k, q in enumerate(queues):
            if q and rnd >= offsets[k]:
                out.append(q.pop(0))
        rnd += 1
    return out


def spaced(frames: Iterable[bytes], start: Decimal = T0, step: Decimal = MS) -> list[Frame]:
    """Finished frames, ``step`` apart."""
    return [(start + i * step, f) for i, f in enumerate(frames)]


# Link layers, tags and tunnels further from plain Ethernet: docs/link-layers.md
# gives each layout and how tshark 4.0 walks it. Builders that count something
# (sequence or packet numbers) are classes, called once per frame in order.

ARC_CLIENT, ARC_SERVER = 0x0A, 0x14          # ARCNET node ids (one byte)
ARC_IP_1051, ARC_IP_1201, ARC_IPV6 = 0xF0, 0xD4, 0xC4


class Arcnet:
    """ARCNET headers: BSD (linktype 7) or Linux (129, with a 2-byte offset field).

    RFC 1201 protocol ids (IPv4 0xD4, IPv6 0xC4) are followed by a split flag and
    a 16-bit sequence number; RFC 1051 IPv4 (0xF0) by nothing.
    """

    def __init__(self, linux: bool):
        self.linux = linux
        self.sequence = 0

    def __call__(self, from_client: bool, ip_pkt: bytes, pid: int | None = None,
                 exception: bool = False) -> bytes:
        src, dst = (ARC_CLIENT, ARC_SERVER) if from_client else (ARC_SERVER, ARC_CLIENT)
        hdr = bytes([src, dst]) + (b"\x00\x00" if self.linux else b"")
        if pid is None:
            pid = ARC_IPV6 if ip_pkt[0] >> 4 == 6 else ARC_IP_1201
        if pid == ARC_IP_1051:
            return hdr + bytes([pid]) + ip_pkt
        self.sequence += 1
        if exception:  # BSD exception frame: flag 0xFF, 2 padding bytes, the protocol id again
            hdr += bytes([pid, 0xFF, 0xFF, 0xFF])
        return hdr + bytes([pid, 0]) + struct.pack(">H", self.sequence) + ip_pkt


PKTAP_HDR = struct.Struct("<III24sIIIII20sIHHI20s")   # Apple's PKTAP header, 108 bytes, little-endian
PTH_DIR_IN, PTH_DIR_OUT = 0x1, 0x2
DLT_NULL_DARWIN, DLT_EN10MB, DLT_RAW_DARWIN = 0, 1, 12
IFT_ETHER, IFT_LOOP, IFT_OTHER = 0x06, 0x18, 0x01
AF_INET, AF_INET6_DARWIN = 2, 30


def pktap(from_client: bool, dlt: int, packet: bytes, ifname: str, iftype: int, llhdrlen: int,
          hdrlen: int = PKTAP_HDR.size) -> bytes:
    """A PKTAP record as macOS writes it on the client: header, then ``packet`` at offset
    ``hdrlen`` (the header-length field, not a fixed size, says where it starts)."""
    family = AF_INET6_DARWIN if packet[llhdrlen] >> 4 == 6 else AF_INET
    pid, comm = (4242, b"curl") if from_client else (0, b"")
    hdr = PKTAP_HDR.pack(hdrlen, 1, dlt, ifname.encode(), PTH_DIR_OUT if from_client else PTH_DIR_IN,
                         family, llhdrlen, 0, pid, comm, 0, iftype, 0, pid, comm)
    return hdr + bytes(hdrlen - PKTAP_HDR.size) + packet


IB_QPN = 0x000048
IB_GID_C, IB_GID_S = "fe80::2:c903:1:10", "fe80::2:c903:1:20"


def ipoib(from_client: bool, ip_pkt: bytes, grh: bool = False) -> bytes:
    """LINKTYPE_IPOIB: a 40-byte address block (a global route header, or 20 zero bytes then
    the destination QPN and GID), the 2-byte type and 2 reserved bytes."""
    sgid, dgid = (IB_GID_C, IB_GID_S) if from_client else (IB_GID_S, IB_GID_C)
    if grh:
        block = (b"\x60\x00\x00\x00" + struct.pack(">HBB", 4 + len(ip_pkt), 0x1B, 64)
                 + aton(sgid) + aton(dgid))
    else:
        block = bytes(20) + struct.pack(">I", IB_QPN) + aton(dgid)
    return block + struct.pack(">HH", ethertype_of(ip_pkt), 0) + ip_pkt


ETH_MACSEC, ETH_PBB, ETH_VNTAG, ETH_QINQ, ETH_MPLS, ETH_MPLS_MC = 0x88E5, 0x88E7, 0x8926, 0x88A8, 0x8847, 0x8848


def eth_header(from_client: bool, ethertype: int, client: bytes = MAC_C, server: bytes = MAC_S) -> bytes:
    return (server + client if from_client else client + server) + struct.pack(">H", ethertype)


class Macsec:
    """802.1AE frames: the client's SecTAG carries its SCI (SC set, 16 bytes with the
    ethertype), the server is an end station without one (ES set, 8 bytes). Integrity-only
    frames keep the inner ethertype and packet in clear; "encrypted" ones (E and C set) get
    opaque bytes instead. Every frame ends with a 16-byte ICV (not a real one)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.pn = {True: 0, False: 0}

    def __call__(self, from_client: bool, ip_pkt: bytes, encrypted: bool = False) -> bytes:
        self.pn[from_client] += 1
        secure = struct.pack(">H", ethertype_of(ip_pkt)) + ip_pkt
        if encrypted:
            secure = bytes(self.rng.randrange(256) for _ in secure)
        tci = (0x20 if from_client else 0x40) | (0x0C if encrypted else 0)
        sectag = bytes([tci, len(secure) if len(secure) < 48 else 0]) + struct.pack(">I", self.pn[from_client])
        if from_client:
            sectag += MAC_C + b"\x00\x01"
        icv = bytes(self.rng.randrange(256) for _ in range(16))
        return eth_header(from_client, ETH_MACSEC) + sectag + secure + icv


BMAC_C, BMAC_S = bytes.fromhex("02000000b001"), bytes.fromhex("02000000b002")   # backbone edge bridges
PBB_ISID = 0x00ABCD


def pbb(from_client: bool, ip_pkt: bytes, bvid: int | None = None, cvid: int | None = None) -> bytes:
    """802.1ah: backbone addresses, optional B-tag (0x88a8), I-TAG (0x88e7, I-SID), then the
    customer's whole Ethernet frame (optionally 802.1Q-tagged)."""
    btag = struct.pack(">HH", ETH_QINQ, bvid) if bvid is not None else b""
    ctag = struct.pack(">HH", 0x8100, cvid) if cvid is not None else b""
    inner = eth(from_client, ip_pkt)
    return (eth_header(from_client, ETH_PBB, BMAC_C, BMAC_S)[:12] + btag + struct.pack(">HI", ETH_PBB, PBB_ISID)
            + inner[:12] + ctag + inner[12:])


def vntag(from_client: bool, ip_pkt: bytes, vid: int | None = None, snap: bool = False) -> bytes:
    """VN-Tag (0x8926): 4 tag bytes (towards the host: direction bit and destination vif 5;
    from it: source vif 5), then an ethertype, a VLAN tag, or an 802.3 length and LLC/SNAP."""
    tag = 0x00000005 if from_client else 0x80050000
    hdr = eth_header(from_client, ETH_VNTAG) + struct.pack(">I", tag)
    if snap:
        llc = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack(">H", ethertype_of(ip_pkt)) + ip_pkt
        return hdr + struct.pack(">H", len(llc)) + llc
    if vid is not None:
        hdr += struct.pack(">HH", 0x8100, vid)
    return hdr + struct.pack(">H", ethertype_of(ip_pkt)) + ip_pkt


VTEP_C, VTEP_S = "203.0.113.1", "203.0.113.2"
VTEP_MAC_C, VTEP_MAC_S = bytes.fromhex("02000000c001"), bytes.fromhex("02000000c002")
GENEVE_PORT, GENEVE_VNI = 6081, 0x001234
GENEVE_SPORT = {True: 49813, False: 57326}   # each tunnel end picks its own source port
GENEVE_ETH, GENEVE_OPTION = 0x6558, struct.pack(">HBB", 0xFFF0, 0x01, 1) + b"\x00\x00\x00\x2a"


class Geneve:
    """Geneve over IPv4/UDP between two tunnel ends; the payload is an Ethernet frame
    (protocol type 0x6558) or an IP packet (0x0800/0x86dd). Outer UDP checksums are 0."""

    def __init__(self):
        self.ipid = 0x3000

    def __call__(self, from_client: bool, ip_pkt: bytes, ethernet: bool = True, opts: bytes = b"") -> bytes:
        proto = GENEVE_ETH if ethernet else ethertype_of(ip_pkt)
        payload = eth(from_client, ip_pkt) if ethernet else ip_pkt
        hdr = bytes([len(opts) // 4, 0]) + struct.pack(">HI", proto, GENEVE_VNI << 8) + opts
        src, dst = (VTEP_C, VTEP_S) if from_client else (VTEP_S, VTEP_C)
        udp = udp_datagram(src, dst, GENEVE_SPORT[from_client], GENEVE_PORT, hdr + payload, csum="zero")
        self.ipid += 1
        return eth_header(from_client, 0x0800, VTEP_MAC_C, VTEP_MAC_S) + ipv4(src, dst, UDP_P, udp, ident=self.ipid)


def mpls_stack(labels: Iterable[int], ttl: int = 64) -> bytes:
    """Label stack entries: label (20 bits), traffic class 0, bottom-of-stack bit on the last."""
    labels = list(labels)
    return b"".join(struct.pack(">I", (label << 12) | (0x100 if k == len(labels) - 1 else 0) | ttl)
                    for k, label in enumerate(labels))


# Inner addresses of the Ethernet pseudowire: tshark 4.0 takes a payload starting with
# nibble 0 as Ethernet without control word when the 3 bytes at offsets 0 and 6 are both
# registered OUIs. With a control word (00 00 + sequence) in front, offset 6 holds bytes
# 2-4 of the inner destination, here 02:00:00 (locally administered, never registered).
PW_MAC_C, PW_MAC_S = bytes.fromhex("020002000001"), bytes.fromhex("020002000002")


class Mpls:
    """MPLS frames (ethertype 0x8847 or 0x8848): IP right after the stack, or an Ethernet
    pseudowire with a 4-byte control word (0000, 16-bit sequence number) before the frame."""

    def __init__(self):
        self.cw_seq = 0

    def __call__(self, from_client: bool, ip_pkt: bytes, labels: Iterable[int], pseudowire: bool = False,
                 ethertype: int = ETH_MPLS) -> bytes:
        payload = ip_pkt
        if pseudowire:
            self.cw_seq += 1
            inner = eth_header(from_client, ethertype_of(ip_pkt), PW_MAC_C, PW_MAC_S) + ip_pkt
            payload = struct.pack(">HH", 0, self.cw_seq) + inner
        return eth_header(from_client, ethertype) + mpls_stack(labels) + payload


# --------------------------------------------------------------------------
# Capture file writers
# --------------------------------------------------------------------------

class _PcapWriterLE(dpkt.pcap.Writer):
    _Writer__le = True   # dpkt picks the host's order; pin it so files do not depend on the host


class _PcapWriterBE(dpkt.pcap.Writer):
    _Writer__le = False


class _PcapngWriterLE(dpkt.pcapng.Writer):
    _Writer__le = True


def pcap_bytes(frames: Iterable[Frame], linktype: int = LT_ETHERNET, snaplen: int = 65535,
               nano: bool = False, big_endian: bool = False) -> bytes:
    """A pcap file. Frames longer than ``snaplen`` are cut, keeping their original length."""
    buf = io.BytesIO()
    writer = (_PcapWriterBE if big_endian else _PcapWriterLE)(buf, snaplen=snaplen, linktype=linktype,
                                                             nano=nano)
    scale = 10 ** 9 if nano else 10 ** 6
    for ts, frame in frames:
        if len(frame) <= snaplen:
            writer.writepkt(frame, ts=ts)  # Decimal timestamps stay exact
        else:
            sec, frac = int(ts), int((ts % 1) * scale)
            buf.write(writer._pack_hdr(sec, frac, snaplen, len(frame)) + frame[:snaplen])
    return buf.getvalue()


def pcap_record(ts: Decimal, data: bytes, caplen: int | None = None, length: int | None = None) -> bytes:
    """One little-endian microsecond pcap record with free caplen/len (for broken files)."""
    return struct.pack("<IIII", int(ts), int((ts % 1) * 10 ** 6),
                       len(data) if caplen is None else caplen,
                       len(data) if length is None else length) + data


def pcap_header(linktype: int = LT_ETHERNET, snaplen: int = 65535) -> bytes:
    return bytes(dpkt.pcap.LEFileHdr(snaplen=snaplen, linktype=linktype))


def opt(code: int, data: bytes | str) -> dpkt.pcapng.PcapngOptionLE:
    if isinstance(data, str):
        return dpkt.pcapng.PcapngOptionLE(code=code, text=data)
    return dpkt.pcapng.PcapngOptionLE(code=code, data=data)


END_OPT = (0, b"")


def idb(linktype: int, name: str, snaplen: int = 65535) -> dpkt.pcapng.InterfaceDescriptionBlockLE:
    return dpkt.pcapng.InterfaceDescriptionBlockLE(
        linktype=linktype, snaplen=snaplen,
        opts=[opt(dpkt.pcapng.PCAPNG_OPT_IF_NAME, name.encode()), opt(*END_OPT)])


def epb(ts: Decimal, frame: bytes, iface: int = 0, comment: str | None = None) -> dpkt.pcapng.EnhancedPacketBlockLE:
    usec = int(ts * 10 ** 6)
    block = dpkt.pcapng.EnhancedPacketBlockLE(iface_id=iface, ts_high=usec >> 32, ts_low=usec & 0xFFFFFFFF,
                                              pkt_data=frame)
    if comment is not None:
        block.opts = [opt(dpkt.pcapng.PCAPNG_OPT_COMMENT, comment), opt(*END_OPT)]
    return block


def pcapng_bytes(blocks: Iterable, interfaces: list[tuple[int, str]]) -> bytes:
    """A pcapng file: ``blocks`` are EPBs or raw bytes (written as they are)."""
    buf = io.BytesIO()
    shb = dpkt.pcapng.SectionHeaderBlockLE(
        opts=[opt(dpkt.pcapng.PCAPNG_OPT_SHB_USERAPPL, b"pcapan make_crafted.py"), opt(*END_OPT)])
    writer = _PcapngWriterLE(buf, shb=shb, idb=[idb(lt, name) for lt, name in interfaces])
    for block in blocks:
        if isinstance(block, bytes):
            buf.write(block)
        else:
            writer.writepkt(block)  # its own (non-zero) timestamp is kept
    return buf.getvalue()


def gzipped(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def gzip_flushed(pieces: Iterable[bytes]) -> tuple[bytes, list[int]]:
    """gzip of ``b"".join(pieces)`` whose deflate stream is fully flushed after each piece,
    so that each piece starts a new, byte-aligned deflate block; also returns those starts."""
    pieces = list(pieces)
    data = b"".join(pieces)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"   # deflate, no name, mtime 0, OS unknown
    co = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    body, starts = b"", []
    for piece in pieces:
        starts.append(len(header) + len(body))
        body += co.compress(piece) + co.flush(zlib.Z_FULL_FLUSH)
    body += co.flush()
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF), starts


def pcap_pieces(data: bytes) -> list[bytes]:
    """A little-endian pcap file cut into its file header and its records."""
    pieces, pos = [data[:24]], 24
    while pos < len(data):
        end = pos + 16 + struct.unpack_from("<I", data, pos + 8)[0]
        pieces.append(data[pos:end])
        pos = end
    return pieces


# pcapng blocks written by hand (dpkt writes only little-endian SHB/IDB/EPB with
# microsecond timestamps). ``order`` is "<" or ">" for the whole section.
BT_SHB, BT_IDB, BT_PB, BT_SPB, BT_EPB = 0x0A0D0D0A, 1, 2, 3, 6
OPT_COMMENT, OPT_SHB_HARDWARE, OPT_SHB_OS, OPT_SHB_USERAPPL = 1, 2, 3, 4
OPT_IF_NAME, OPT_IF_DESCRIPTION, OPT_IF_TSRESOL, OPT_IF_TSOFFSET, OPT_EPB_FLAGS = 2, 3, 9, 14, 2
EPB_INBOUND, EPB_OUTBOUND = 1, 2
NgOption = tuple[int, bytes | str]


def ng_options(opts: Iterable[NgOption], order: str = "<") -> bytes:
    """Options padded to 32 bits, then opt_endofopt (nothing at all when there are none)."""
    out = b""
    for code, value in opts:
        value = value.encode() if isinstance(value, str) else value
        out += struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)
    return out + struct.pack(order + "HH", 0, 0) if out else b""


def ng_block(block_type: int, body: bytes, order: str = "<") -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack(order + "II", block_type, 12 + len(body)) + body + struct.pack(order + "I", 12 + len(body))


def ng_shb(opts: Iterable[NgOption] = ((OPT_SHB_USERAPPL, "pcapan make_crafted.py"),), order: str = "<") -> bytes:
    return ng_block(BT_SHB, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + ng_options(opts, order), order)


def ng_idb(linktype: int, name: str | None = "eth0", opts: Iterable[NgOption] = (), snaplen: int = 65535,
           order: str = "<") -> bytes:
    opts = ([(OPT_IF_NAME, name)] if name is not None else []) + list(opts)
    return ng_block(BT_IDB, struct.pack(order + "HHI", linktype, 0, snaplen) + ng_options(opts, order), order)


def ng_epb(ticks: int, frame: bytes, iface: int = 0, opts: Iterable[NgOption] = (), order: str = "<") -> bytes:
    """Enhanced packet block; ``ticks`` counts the interface's time units."""
    body = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return ng_block(BT_EPB, body + frame + bytes(-len(frame) % 4) + ng_options(opts, order), order)


def ng_pb(ticks: int, frame: bytes, iface: int = 0, opts: Iterable[NgOption] = (), order: str = "<") -> bytes:
    """Obsolete packet block (type 2): 16-bit interface id and drops count, then as an EPB."""
    body = struct.pack(order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return ng_block(BT_PB, body + frame + bytes(-len(frame) % 4) + ng_options(opts, order), order)


def ng_spb(frame: bytes, order: str = "<") -> bytes:
    """Simple packet block: original length and data only (interface 0, no timestamp)."""
    return ng_block(BT_SPB, struct.pack(order + "I", len(frame)) + frame, order)


def usec(ts: Decimal) -> int:
    return int(ts * 10 ** 6)


# --------------------------------------------------------------------------
# Registries
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    description: str
    build: Callable[[random.Random], bytes]


CASES: list[Case] = []
BROKEN: list[Case] = []


def case(name: str, description: str, registry: list[Case] = CASES):
    def register(fn: Callable[[random.Random], bytes]) -> Callable[[random.Random], bytes]:
        assert all(c.name != name for c in registry), name
        registry.append(Case(name, description, fn))
        return fn
    return register


def broken(name: str, description: str):
    return case(name, description, BROKEN)


def basic_tcp(rng: random.Random, v6: bool = False, port: int = 80, sport: int = 40000,
              size: int = 900, net: NetFn = ip_packet) -> list[Pkt]:
    c, s = (C6, S6) if v6 else (C4, S4)
    conv = Tcp((c, sport), (s, port), 1_000_000 + sport, 3_000_000 + port, net)
    return conv.conversation(request(rng), response(rng, size))


def basic_udp(rng: random.Random, v6: bool = False, sport: int = 50000, port: int = UDP_PORT,
              rounds: int = 1) -> list[Pkt]:
    c, s = (C6, S6) if v6 else (C4, S4)
    flow = Udp((c, sport), (s, port))
    out = []
    for _ in range(rounds):
        out += [flow.pkt(True, datagram(rng, 40)), flow.pkt(False, datagram(rng, 90))]
    return out


# ---- link layers and file formats -----------------------------------------

@case("eth_vlan.pcap",
      "Ethernet with one 802.1Q tag (VLAN 100): IPv4 TCP conversation, then an IPv6 UDP exchange")
def _eth_vlan(rng):
    tags = [(0x8100, 100)]
    pkts = basic_tcp(rng) + basic_udp(rng, v6=True)
    return pcap_bytes(timed(pkts, lambda c, p: eth(c, p, tags)))


@case("eth_qinq.pcap",
      "Ethernet QinQ: 802.1ad outer tag (0x88a8, VLAN 200) over 802.1Q inner tag (VLAN 100); IPv4 TCP "
      "conversation and an IPv6 UDP exchange")
def _eth_qinq(rng):
    tags = [(0x88A8, 200), (0x8100, 100)]
    pkts = basic_tcp(rng) + basic_udp(rng, v6=True)
    return pcap_bytes(timed(pkts, lambda c, p: eth(c, p, tags)))


@case("sll_v1.pcap",
      "Linux cooked capture v1 (linktype 113): IPv4 TCP conversation then IPv6 TCP conversation; client"
      " packets outgoing, server packets to us")
def _sll_v1(rng):
    return pcap_bytes(timed(basic_tcp(rng) + basic_tcp(rng, v6=True, sport=40001), sll), linktype=LT_LINUX_SLL)


@case("sll_v2.pcap",
      "Linux cooked capture v2 (linktype 276, interface index 2): IPv4 TCP conversation then IPv6 TCP "
      "conversation")
def _sll_v2(rng):
    return pcap_bytes(timed(basic_tcp(rng) + basic_tcp(rng, v6=True, sport=40001), sll2), linktype=LT_LINUX_SLL2)


@case("null_loopback.pcap",
      "BSD loopback (linktype 0, little-endian family): IPv4 TCP with AF_INET=2, IPv6 TCP with "
      "AF_INET6=30 (macOS), IPv6 UDP with 24 (NetBSD/OpenBSD) and 28 (FreeBSD)")
def _null_loopback(rng):
    v4 = [(2, c, p) for c, p in basic_tcp(rng)]
    v6 = [(30, c, p) for c, p in basic_tcp(rng, v6=True, sport=40001)]
    udp = basic_udp(rng, v6=True)
    udp = [(24, *udp[0]), (28, *udp[1])]
    return pcap_bytes(timed(((c, null_hdr(af, p, "<")) for af, c, p in v4 + v6 + udp), raw), linktype=LT_NULL)


@case("loop.pcap",
      "OpenBSD loopback (linktype 108, family in network byte order): IPv4 TCP with AF_INET=2, IPv6 TCP"
      " with AF_INET6=24")
def _loop(rng):
    v4 = [(2, c, p) for c, p in basic_tcp(rng)]
    v6 = [(24, c, p) for c, p in basic_tcp(rng, v6=True, sport=40001)]
    return pcap_bytes(timed(((c, null_hdr(af, p, ">")) for af, c, p in v4 + v6), raw), linktype=LT_LOOP)


@case("raw_ip_mixed.pcap",
      "Raw IP (linktype 101): an IPv4 and an IPv6 TCP conversation interleaved packet by packet")
def _raw_ip_mixed(rng):
    pkts = interleave(basic_tcp(rng), basic_tcp(rng, v6=True, sport=40001))
    return pcap_bytes(timed(pkts, raw), linktype=LT_RAW)


@case("raw_ipv4.pcap", "LINKTYPE_IPV4 (228): IPv4 TCP conversation and a UDP exchange, no link header")
def _raw_ipv4(rng):
    return pcap_bytes(timed(basic_tcp(rng) + basic_udp(rng), raw), linktype=LT_IPV4)


@case("raw_ipv6.pcap", "LINKTYPE_IPV6 (229): IPv6 TCP conversation and a UDP exchange, no link header")
def _raw_ipv6(rng):
    return pcap_bytes(timed(basic_tcp(rng, v6=True) + basic_udp(rng, v6=True), raw), linktype=LT_IPV6)


NANO_START = T0 + Decimal("0.000000789")
NANO_STEP = Decimal("0.001000123")


@case("nanosecond.pcap",
      "nanosecond pcap (magic a1b23c4d), Ethernet: TCP conversation, timestamps with sub-microsecond "
      "digits (x.000000789 + n * 1.000123 ms)")
def _nanosecond(rng):
    return pcap_bytes(timed(basic_tcp(rng), start=NANO_START, step=NANO_STEP), nano=True)


@case("big_endian.pcap",
      "big-endian pcap (magic a1b2c3d4 stored as a1 b2 c3 d4, microseconds), Ethernet: TCP conversation")
def _big_endian(rng):
    return pcap_bytes(timed(basic_tcp(rng), step=Decimal("0.000250")), big_endian=True)


@case("big_endian_nano.pcap",
      "big-endian nanosecond pcap (a1 b2 3c 4d), Ethernet: TCP conversation with sub-microsecond "
      "timestamps")
def _big_endian_nano(rng):
    return pcap_bytes(timed(basic_tcp(rng), start=NANO_START, step=NANO_STEP), nano=True, big_endian=True)


@case("multi_if.pcapng",
      "pcapng, two interfaces: 0 Ethernet (eth0) carries an IPv4 TCP conversation, 1 raw IP (tun0) an "
      "IPv6 TCP conversation; packets interleaved; frame 9 (the IPv6 request) has a packet comment")
def _multi_if(rng):
    a = [(0, eth(c, p)) for c, p in basic_tcp(rng)]
    b = [(1, p) for c, p in basic_tcp(rng, v6=True, sport=40001)]
    blocks = []
    for i, (iface, frame) in enumerate(interleave(a, b, offsets=[0, 1])):
        comment = "first data segment on tun0" if i == 8 else None
        blocks.append(epb(T0 + i * MS, frame, iface, comment))
    return pcapng_bytes(blocks, [(LT_ETHERNET, "eth0"), (LT_RAW, "tun0")])


@case("gzip_pcap.pcap.gz", "gzip-compressed pcap (Ethernet, TCP conversation)")
def _gzip_pcap(rng):
    return gzipped(pcap_bytes(timed(basic_tcp(rng))))


@case("gzipped_noext.pcap",
      "gzip-compressed pcapng under a name without .gz (the content, not the name, says what it is): "
      "Ethernet TCP conversation")
def _gzipped_noext(rng):
    blocks = [epb(ts, frame) for ts, frame in timed(basic_tcp(rng))]
    return gzipped(pcapng_bytes(blocks, [(LT_ETHERNET, "eth0")]))


@case("unknown_linktype.pcap",
      "linktype 147 (USER0) that no dissector claims by default: three frames of opaque bytes (the IPv4"
      " TCP handshake behind a made-up 4-byte header)")
def _unknown_linktype(rng):
    pkts = basic_tcp(rng)[:3]
    return pcap_bytes(timed(((c, b"\xca\xfe\x00\x01" + p) for c, p in pkts), raw), linktype=LT_USER0)


# ---- link layers, tags and tunnels of docs/link-layers.md --------------------
# Each holds a TCP conversation (frames 1-10: handshake, request, ACK, one response
# segment, ACK, FIN both ways, last ACK) and one or two UDP exchanges.

@case("arcnet_bsd.pcap",
      "ARCNET with BSD headers (linktype 7): IPv4 TCP conversation under RFC 1201 protocol id "
      "0xd4 (6-byte header: source, destination, protocol id, split flag, 16-bit sequence), its "
      "request (frame 4) as an exception frame (10 bytes: flag 0xff, 2 padding bytes and the id "
      "again before split flag and sequence); IPv6 UDP exchange under id 0xc4 (6 bytes, frames "
      "11-12); IPv4 UDP exchange under RFC 1051 id 0xf0 (3 bytes, frames 13-14). tshark: "
      "tcp.stream 0, udp.stream 0 and 1")
def _arcnet_bsd(rng):
    arc = Arcnet(linux=False)
    frames = [arc(c, p, exception=i == 3) for i, (c, p) in enumerate(basic_tcp(rng, size=600))]
    frames += [arc(c, p) for c, p in basic_udp(rng, v6=True)]
    frames += [arc(c, p, pid=ARC_IP_1051) for c, p in basic_udp(rng, sport=50001)]
    return pcap_bytes(spaced(frames), linktype=LT_ARCNET_BSD)


@case("arcnet_linux.pcap",
      "ARCNET with Linux headers (linktype 129: a 2-byte offset field after the two addresses): "
      "IPv4 TCP conversation under id 0xd4 (8-byte header), IPv6 UDP exchange under 0xc4 (8 "
      "bytes, frames 11-12), IPv4 UDP exchange under RFC 1051 id 0xf0 (5 bytes, frames 13-14). "
      "tshark: tcp.stream 0, udp.stream 0 and 1")
def _arcnet_linux(rng):
    arc = Arcnet(linux=True)
    frames = [arc(c, p) for c, p in basic_tcp(rng, size=600)]
    frames += [arc(c, p) for c, p in basic_udp(rng, v6=True)]
    frames += [arc(c, p, pid=ARC_IP_1051) for c, p in basic_udp(rng, sport=50001)]
    return pcap_bytes(spaced(frames), linktype=LT_ARCNET_LINUX)


def pktap_frames(rng: random.Random) -> list[bytes]:
    frames = [pktap(c, DLT_EN10MB, eth(c, p), "en0", IFT_ETHER, 14) for c, p in basic_tcp(rng, size=600)]
    frames += [pktap(c, DLT_NULL_DARWIN, null_hdr(AF_INET6_DARWIN, p, "<"), "lo0", IFT_LOOP, 4, hdrlen=116)
               for c, p in basic_udp(rng, v6=True)]
    frames += [pktap(c, DLT_RAW_DARWIN, p, "utun3", IFT_OTHER, 0) for c, p in basic_udp(rng, sport=50001)]
    return frames


@case("pktap.pcap",
      "Apple PKTAP (linktype 258): a little-endian header whose first field, its length, says "
      "where the packet starts, and whose DLT field says what it is: IPv4 TCP conversation over "
      "Ethernet (DLT 1, en0, 108-byte header), IPv6 UDP exchange over BSD loopback (DLT 0, lo0, "
      "family 30, 116-byte header, frames 11-12), IPv4 UDP exchange over raw IP (DLT 12, utun3, "
      "frames 13-14). tshark: tcp.stream 0, udp.stream 0 and 1")
def _pktap(rng):
    return pcap_bytes(spaced(pktap_frames(rng)), linktype=LT_PKTAP)


@case("pktap_dlt149.pcap",
      "the TCP conversation of pktap.pcap under linktype 149 (USER2, which some macOS versions "
      "wrote for PKTAP): tshark 4.0 still decodes PKTAP (user_dlt:pktap:pcap_pktdata:eth:...), "
      "tcp.stream 0")
def _pktap_dlt149(rng):
    return pcap_bytes(spaced(pktap_frames(rng)[:10]), linktype=LT_USER2)


@case("ipoib.pcap",
      "IP over InfiniBand (linktype 242): 40-byte address block, 2-byte type, 2 reserved bytes, "
      "IP at offset 44; IPv4 TCP conversation with the unicast block (20 zero bytes, destination "
      "QPN and GID), IPv6 UDP exchange (frames 11-12) with a global route header as the block. "
      "tshark: tcp.stream 0, udp.stream 0")
def _ipoib(rng):
    frames = [ipoib(c, p) for c, p in basic_tcp(rng, size=600)]
    frames += [ipoib(c, p, grh=True) for c, p in basic_udp(rng, v6=True)]
    return pcap_bytes(spaced(frames), linktype=LT_IPOIB)


@case("macsec.pcap",
      "MACsec (ethertype 0x88e5), integrity only (E and C clear): the client's SecTAG carries an "
      "SCI (SC set), the server's does not (ES set); inner ethertype and packet in clear, 16-byte "
      "ICV at the end, short length set when the secure data is under 48 bytes; IPv4 TCP "
      "conversation, IPv6 UDP exchange (frames 11-12); frames 13-14 the next UDP exchange "
      "encrypted (E and C set). tshark: tcp.stream 0, udp.stream 0, frames 13-14 data without a "
      "stream")
def _macsec(rng):
    ms = Macsec(rng)
    frames = [ms(c, p) for c, p in basic_tcp(rng, size=600)]
    frames += [ms(c, p, encrypted=k >= 2) for k, (c, p) in enumerate(basic_udp(rng, v6=True, rounds=2))]
    return pcap_bytes(spaced(frames))


@case("pbb.pcap",
      "provider backbone bridging (802.1ah): IPv4 TCP conversation behind backbone addresses, a "
      "B-tag (0x88a8, VLAN 200) and the I-TAG (0x88e7, I-SID 0xabcd) before the customer's "
      "Ethernet header (tshark lists ieee8021ad, not ieee8021ah, in frame.protocols); IPv6 UDP "
      "exchange (frames 11-12) with the I-TAG right after the backbone addresses and an 802.1Q "
      "tag (VLAN 100) in the customer frame. tshark: tcp.stream 0, udp.stream 0")
def _pbb(rng):
    frames = [pbb(c, p, bvid=200) for c, p in basic_tcp(rng, size=600)]
    frames += [pbb(c, p, cvid=100) for c, p in basic_udp(rng, v6=True)]
    return pcap_bytes(spaced(frames))


@case("vntag.pcap",
      "VN-Tag (ethertype 0x8926: 4 tag bytes, then an ethertype): IPv4 TCP conversation; IPv6 UDP "
      "exchange with an 802.1Q tag (VLAN 100) after the VN-Tag (frames 11-12); IPv4 UDP exchange "
      "with an 802.3 length and LLC/SNAP after the VN-Tag (frames 13-14). tshark: tcp.stream 0, "
      "udp.stream 0 and 1")
def _vntag(rng):
    frames = [vntag(c, p) for c, p in basic_tcp(rng, size=600)]
    frames += [vntag(c, p, vid=100) for c, p in basic_udp(rng, v6=True)]
    frames += [vntag(c, p, snap=True) for c, p in basic_udp(rng, sport=50001)]
    return pcap_bytes(spaced(frames))


@case("geneve.pcap",
      "Geneve (UDP port 6081) between tunnel ends 203.0.113.1 (source port 49813) and 203.0.113.2 "
      "(57326), outer UDP checksum 0: IPv4 TCP conversation in Ethernet frames (protocol type "
      "0x6558), the client's with an 8-byte option; IPv6 UDP exchange carried directly (protocol "
      "type 0x86dd, frames 11-12). tshark: outer udp.stream 0 from the client's end and 1 from "
      "the server's, inner tcp.stream 0, inner UDP udp.stream 2 (frames 11-12 list 0,2 and 1,2)")
def _geneve(rng):
    gen = Geneve()
    frames = [gen(c, p, opts=GENEVE_OPTION if c else b"") for c, p in basic_tcp(rng, size=600)]
    frames += [gen(c, p, ethernet=False) for c, p in basic_udp(rng, v6=True)]
    return pcap_bytes(spaced(frames))


@case("mpls.pcap",
      "MPLS (ethertype 0x8847): IPv4 TCP conversation right after the label stack (client "
      "16001/16002, server 17001); IPv6 UDP exchange under ethertype 0x8848, label 18001 (frames "
      "11-12); a second IPv4 TCP conversation (frames 13-22) in an Ethernet pseudowire: bottom "
      "labels 19001/19002, 4-byte control word, Ethernet frame with addresses 02:00:02:00:00:0x "
      "(tshark 4.0's heuristic takes the control word). tshark: tcp.stream 0 and 1, udp.stream 0")
def _mpls(rng):
    mp = Mpls()
    frames = [mp(c, p, [16001, 16002] if c else [17001]) for c, p in basic_tcp(rng, size=600)]
    frames += [mp(c, p, [18001], ethertype=ETH_MPLS_MC) for c, p in basic_udp(rng, v6=True)]
    frames += [mp(c, p, [16001, 19001] if c else [17001, 19002], pseudowire=True)
               for c, p in basic_tcp(rng, sport=40001, size=600)]
    return pcap_bytes(spaced(frames))


# ---- pcapng and gzip details ------------------------------------------------

Y3000 = 32503680000        # 3000-01-01 00:00:00 UTC in seconds
BIG_TICKS = 1 << 40


def tcp_frames(rng: random.Random, **kw) -> list[Frame]:
    return timed(basic_tcp(rng, size=600, **kw))


@case("pcapng_tsoffset_huge.pcapng",
      "pcapng whose IDB has if_tsoffset 2**40 s; microsecond ticks 0, 1000, ... put the TCP "
      "conversation at 1099511627776 s (36812-02-20 00:36:16 UTC) on, 1 ms apart. tshark reads "
      "all 10 frames, exit status 0")
def _pcapng_tsoffset_huge(rng):
    idb = ng_idb(LT_ETHERNET, opts=[(OPT_IF_TSOFFSET, struct.pack("<q", BIG_TICKS))])
    return ng_shb() + idb + b"".join(ng_epb(usec(ts - T0), f) for ts, f in tcp_frames(rng))


@case("pcapng_tsresol_1s.pcapng",
      "pcapng whose IDB has if_tsresol 0 (units of 1 s); ticks 2**40, 2**40+1, ... put the TCP "
      "conversation at 36812-02-20 00:36:16 UTC on, 1 s apart. tshark reads all 10 frames, exit "
      "status 0")
def _pcapng_tsresol_1s(rng):
    idb = ng_idb(LT_ETHERNET, opts=[(OPT_IF_TSRESOL, b"\x00")])
    return ng_shb() + idb + b"".join(ng_epb(BIG_TICKS + i, f) for i, (_ts, f) in enumerate(tcp_frames(rng)))


@case("pcapng_year3000.pcapng",
      "pcapng, microsecond resolution, ticks putting the TCP conversation at 3000-01-01 00:00:00 "
      "UTC (32503680000 s) on, 1 ms apart. tshark reads all 10 frames, exit status 0")
def _pcapng_year3000(rng):
    return ng_shb() + ng_idb(LT_ETHERNET) + b"".join(
        ng_epb(usec(Y3000 + ts - T0), f) for ts, f in tcp_frames(rng))


@case("pcapng_big_shb.pcapng",
      "pcapng whose section header block carries 300 KiB of options (five 60 KiB opt_comment "
      "options; one option holds at most 65535 bytes), then an ordinary IDB and TCP conversation. "
      "tshark reads all 10 frames, exit status 0")
def _pcapng_big_shb(rng):
    words = b"abcdefghijklmnopqrstuvwxyz"
    comments = [(OPT_COMMENT, bytes(rng.choice(words) for _ in range(60 * 1024))) for _ in range(5)]
    return ng_shb(comments) + ng_idb(LT_ETHERNET) + b"".join(ng_epb(usec(ts), f) for ts, f in tcp_frames(rng))


@case("pcapng_two_sections.pcapng",
      "pcapng with two sections: the first has IDBs 0 eth0 (Ethernet) and 1 tun0 (raw IP) and an "
      "IPv4 TCP conversation on interface 0; the second has a single IDB, 0 tun9 (raw IP), and an "
      "IPv6 TCP conversation on interface 0 (frames 11-20). tshark reads all 20 frames with the right "
      "link types (tcp.stream 0 and 1), though it names the second section's interface eth0")
def _pcapng_two_sections(rng):
    first = ng_shb() + ng_idb(LT_ETHERNET, "eth0") + ng_idb(LT_RAW, "tun0")
    first += b"".join(ng_epb(usec(ts), f) for ts, f in tcp_frames(rng))
    second = ng_shb() + ng_idb(LT_RAW, "tun9")
    second += b"".join(ng_epb(usec(ts + 1), p) for ts, p in timed(basic_tcp(rng, v6=True, size=600), raw))
    return first + second


@case("pcapng_big_endian.pcapng",
      "big-endian pcapng (byte-order magic stored as 1a 2b 3c 4d), Ethernet TCP conversation. "
      "tshark reads all 10 frames")
def _pcapng_big_endian(rng):
    return ng_shb(order=">") + ng_idb(LT_ETHERNET, order=">") + b"".join(
        ng_epb(usec(ts), f, order=">") for ts, f in tcp_frames(rng))


@case("pcapng_simple_packets.pcapng",
      "pcapng whose packets are all simple packet blocks (no interface id, no timestamp), "
      "Ethernet TCP conversation. tshark reads all 10 frames and shows no times")
def _pcapng_simple_packets(rng):
    return ng_shb() + ng_idb(LT_ETHERNET) + b"".join(ng_spb(f) for _ts, f in tcp_frames(rng))


@case("pcapng_obsolete_packets.pcapng",
      "pcapng whose packets are all obsolete packet blocks (type 2: 16-bit interface id and drops "
      "count), Ethernet TCP conversation; frame 4's block has an opt_comment. tshark reads all 10 "
      "frames and shows the comment")
def _pcapng_obsolete_packets(rng):
    return ng_shb() + ng_idb(LT_ETHERNET) + b"".join(
        ng_pb(usec(ts), f, opts=[(OPT_COMMENT, "request in an obsolete packet block")] if i == 3 else [])
        for i, (ts, f) in enumerate(tcp_frames(rng)))


@case("pcapng_epb_options.pcapng",
      "pcapng, Ethernet TCP conversation; the EPBs of frames 4 (request) and 6 (response) each "
      "carry two opt_comment options and an epb_flags option: direction outbound (2) on frame 4, "
      "inbound (1) on frame 6")
def _pcapng_epb_options(rng):
    def opts(i):
        if i not in (3, 5):
            return []
        what = "request" if i == 3 else "response"
        return [(OPT_COMMENT, f"first comment on the {what}"), (OPT_COMMENT, f"second comment on the {what}"),
                (OPT_EPB_FLAGS, struct.pack("<I", EPB_OUTBOUND if i == 3 else EPB_INBOUND))]
    return ng_shb() + ng_idb(LT_ETHERNET) + b"".join(
        ng_epb(usec(ts), f, opts=opts(i)) for i, (ts, f) in enumerate(tcp_frames(rng)))


@case("pcapng_shb_idb_options.pcapng",
      "pcapng whose section header has opt_comment, shb_hardware, shb_os and shb_userappl, and "
      "whose IDB has if_name (eth0) and if_description; Ethernet TCP conversation")
def _pcapng_shb_idb_options(rng):
    shb = ng_shb([(OPT_COMMENT, "crafted section with every section header option"),
                  (OPT_SHB_HARDWARE, "crafted hardware"), (OPT_SHB_OS, "crafted OS 1.0"),
                  (OPT_SHB_USERAPPL, "pcapan make_crafted.py")])
    idb = ng_idb(LT_ETHERNET, "eth0", [(OPT_IF_DESCRIPTION, "crafted Ethernet port")])
    return shb + idb + b"".join(ng_epb(usec(ts), f) for ts, f in tcp_frames(rng))


@case("pcapng_tsresol.pcapng",
      "pcapng with two Ethernet IDBs: 0 bin20 with if_tsresol 0x94 (2**-20 s) carries the "
      "client's frames, 1 nano with 10**-9 s the server's; TCP conversation 1 ms apart. tshark "
      "truncates binary fractions to the nanosecond (frame 3 at 1700000000.001999855, frame 4 at "
      ".002999305)")
def _pcapng_tsresol(rng):
    idbs = (ng_idb(LT_ETHERNET, "bin20", [(OPT_IF_TSRESOL, b"\x94")])
            + ng_idb(LT_ETHERNET, "nano", [(OPT_IF_TSRESOL, b"\x09")]))
    pkts = basic_tcp(rng, size=600)
    return ng_shb() + idbs + b"".join(
        ng_epb(int(ts * 2 ** 20), f, 0) if c else ng_epb(int(ts * 10 ** 9), f, 1)
        for (ts, f), (c, _p) in zip(timed(pkts), pkts))


# ---- IP layer -------------------------------------------------------------

RR_OPT = b"\x01" + b"\x07\x0b\x04" + bytes(8)            # NOP, Record Route with 2 empty slots
TS_OPT = b"\x44\x08\x05\x00" + bytes(4)                  # Timestamp (timestamps only), 1 slot
RR1_EOL = b"\x07\x07\x04" + bytes(4) + b"\x00"           # Record Route with 1 slot, End of List


@case("ipv4_options.pcap",
      "IPv4 options on every TCP packet: SYN has Record Route + EOL (IHL 7), other client packets NOP +"
      " Record Route (IHL 8), server packets Timestamp (IHL 7)")
def _ipv4_options(rng):
    seen = {"syn": False}

    def net(src, dst, proto, l4, ident):
        if src == C4 and not seen["syn"]:
            seen["syn"] = True
            opts = RR1_EOL
        else:
            opts = RR_OPT if src == C4 else TS_OPT
        return ipv4(src, dst, proto, l4, ident=ident, opts=opts)
    return pcap_bytes(timed(basic_tcp(rng, net=net)))


@case("ipv6_ext.pcap",
      "IPv6 extension headers before TCP: conversation 1 has hop-by-hop (router alert) + destination "
      "options + routing (segment routing, segments left 0); conversation 2 has an atomic fragment "
      "header (offset 0, M=0) on every packet")
def _ipv6_ext(rng):
    def chain_net(src, dst, proto, l4, ident):
        return ipv6_chain(src, dst, proto, l4, [
            (HOPOPT, lambda n: ext_options(n, b"\x05\x02\x00\x00")),         # router alert
            (IPV6_DSTOPTS, lambda n: ext_options(n)),
            (IPV6_ROUTE, lambda n: ext_srh(n, [dst, RH_HOP1], 0)),
        ])

    def atomic_net(src, dst, proto, l4, ident):
        return ipv6_chain(src, dst, proto, l4, [(IPV6_FRAG, lambda n: ext_fragment(n, 0, False, 0x5000 + ident))])
    pkts = basic_tcp(rng, v6=True, net=chain_net) + basic_tcp(rng, v6=True, sport=40001, net=atomic_net)
    return pcap_bytes(timed(pkts))


def fragments_v4(src: str, dst: str, proto: int, l4: bytes, ident: int, first: int) -> list[bytes]:
    """Two IPv4 fragments: the first ``first`` bytes (a multiple of 8) and the rest."""
    return [ipv4(src, dst, proto, l4[:first], ident=ident, df=False, mf=True),
            ipv4(src, dst, proto, l4[first:], ident=ident, df=False, frag_offset=first)]


@case("ip_fragments.pcap",
      "IPv4 fragmentation: in a TCP conversation the request (frames 4-5) and the first response "
      "segment (frames 7-8) are each sent as two fragments, the first holding the TCP header; then a "
      "UDP exchange whose reply (frames 14-15) is fragmented the same way")
def _ip_fragments(rng):
    conv = Tcp((C4, 40000), (S4, 80), 1_040_000, 3_000_080)
    pkts = conv.handshake()
    src, dst, seg = conv.seg_bytes(True, PSH | ACK, request(rng, "/" + "a" * 60))
    pkts += [(True, f) for f in fragments_v4(src, dst, TCP_P, seg, 0x7001, 64)]
    pkts.append(conv.pkt(False, ACK))
    src, dst, seg = conv.seg_bytes(False, ACK, response(rng, 700))
    pkts += [(False, f) for f in fragments_v4(src, dst, TCP_P, seg, 0x7002, 400)]
    pkts += conv.send(False, response(rng, 300))
    pkts += [conv.pkt(True, ACK)] + conv.close()
    flow = Udp((C4, 50000), (S4, UDP_PORT))
    pkts.append(flow.pkt(True, datagram(rng, 40)))
    src, dst, seg = flow.seg_bytes(False, datagram(rng, 1000))
    pkts += [(False, f) for f in fragments_v4(src, dst, UDP_P, seg, 0x7003, 512)]
    return pcap_bytes(timed(pkts))


# ---- TCP semantics --------------------------------------------------------

@case("seq_wrap.pcap",
      "sequence numbers wrap past 2**32 during the transfer: client ISN 2**32-300 (request crosses "
      "zero), server ISN 2**32-800 (the second 500-byte response segment crosses zero)")
def _seq_wrap(rng):
    conv = Tcp((C4, 40000), (S4, 80), MOD32 - 300, MOD32 - 800)
    pkts = conv.handshake() + conv.exchange(request(rng, "/" + "w" * 300), response(rng, 1200), mss=500)
    return pcap_bytes(timed(pkts + conv.close()))


@case("no_syn_midstream.pcap",
      "capture starts in the middle of a connection (no handshake): data both ways, then FIN/ACK "
      "teardown")
def _no_syn_midstream(rng):
    conv = Tcp((C4, 40000), (S4, 80), 2_000_123_456, 3_500_000_000)
    conv.handshake()  # happened before the capture started
    conv.exchange(request(rng), response(rng, 400))
    pkts = conv.send(False, response(rng, 600)) + [conv.pkt(True, ACK)]
    pkts += conv.exchange(request(rng, "/next"), response(rng, 500)) + conv.close()
    return pcap_bytes(timed(pkts))


@case("port_reuse_crafted.pcap",
      "one 4-tuple used three times: conversation closed by FIN, 2 s later a SYN with a new ISN and a "
      "second FIN-closed conversation, 2 s later a third one closed by the client's RST")
def _port_reuse(rng):
    frames: list[Frame] = []
    for k, isn in enumerate((1_000_000, 2_500_000_000, 4_000_000_000)):
        conv = Tcp((C4, 45000), (S4, 80), isn, 700_000_000 * (k + 1))
        pkts = conv.handshake() + conv.exchange(request(rng), response(rng, 300))
        pkts += conv.close() if k < 2 else [conv.pkt(True, RST | ACK, win=0)]
        frames += timed(pkts, start=T0 + 2 * k)
    return pcap_bytes(frames)


@case("syn_only.pcap", "unanswered SYN: the SYN and three retransmissions 1, 3 and 7 s after it")
def _syn_only(rng):
    conv = Tcp((C4, 40000), (S4, 81), 1_000_000, 0)
    syn = conv.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS)
    retrans = [conv.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS, seq=1_000_000) for _ in range(3)]
    return pcap_bytes([(T0 + dt, eth(c, p)) for dt, (c, p) in zip((0, 1, 3, 7), [syn] + retrans)])


@case("rejected.pcap", "connection refused: SYN answered by RST/ACK (seq 0, ack ISN+1)")
def _rejected(rng):
    conv = Tcp((C4, 40000), (S4, 81), 1_000_000, 0)
    pkts = [conv.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS), conv.pkt(False, RST | ACK, win=0)]
    return pcap_bytes(timed(pkts))


@case("half_open.pcap", "half-open handshake: SYN, SYN/ACK, no ACK; the SYN/ACK is retransmitted 1 s later")
def _half_open(rng):
    conv = Tcp((C4, 40000), (S4, 80), 1_000_000, 3_000_000)
    pkts = [conv.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS),
            conv.pkt(False, SYN | ACK, win=65160, opts=MSS_SYN_OPTS)]
    pkts.append(conv.pkt(False, SYN | ACK, win=65160, opts=MSS_SYN_OPTS, seq=3_000_000))
    return pcap_bytes([(T0 + dt, eth(c, p)) for dt, (c, p) in zip((0, MS, 1 + MS), pkts)])


@case("data_in_handshake_ack.pcap",
      "the third handshake packet (ACK) already carries the request; response and FIN/ACK teardown "
      "follow")
def _data_in_handshake_ack(rng):
    conv = Tcp((C4, 40000), (S4, 80), 1_000_000, 3_000_000)
    pkts = conv.handshake()[:2] + [conv.pkt(True, PSH | ACK, request(rng))]
    pkts += [conv.pkt(False, ACK)] + conv.send(False, response(rng, 600)) + [conv.pkt(True, ACK)]
    return pcap_bytes(timed(pkts + conv.close()))


@case("interleaved.pcap",
      "three TCP conversations and two UDP flows interleaved; first appearances in the order TCP 40000,"
      " UDP 50000, TCP 40001, UDP 50001, TCP 40002, so stream numbers follow that order")
def _interleaved(rng):
    t = [basic_tcp(rng, sport=40000 + k, port=80 + k, size=300) for k in range(3)]
    u = [basic_udp(rng, sport=50000 + k, rounds=3) for k in range(2)]
    return pcap_bytes(timed(interleave(t[0], u[0], t[1], u[1], t[2], offsets=[0, 1, 2, 3, 4])))


@case("udp_zero_checksum.pcap",
      "UDP checksum 0: over IPv4 (allowed, means no checksum) in frames 1-2, over IPv6 (not allowed) in"
      " frames 3-4; frames 5-6 are the same IPv6 flow with real checksums")
def _udp_zero_checksum(rng):
    f4 = Udp((C4, 50000), (S4, UDP_PORT))
    f6 = Udp((C6, 50001), (S6, UDP_PORT))
    pkts = [f4.pkt(True, datagram(rng, 40), "zero"), f4.pkt(False, datagram(rng, 90), "zero"),
            f6.pkt(True, datagram(rng, 40), "zero"), f6.pkt(False, datagram(rng, 90), "zero"),
            f6.pkt(True, datagram(rng, 40)), f6.pkt(False, datagram(rng, 90))]
    return pcap_bytes(timed(pkts))


RH_HOP1, RH_HOP2 = "2001:db8:99::1", "2001:db8:99::2"


@case("checksum_pairs.pcap",
      "checksums, odd frames right and even frames wrong: 1-2 IPv4/TCP, 3-4 IPv4/UDP, 5-6 IPv6/TCP, 7-8"
      " IPv6/UDP, 9-10 IPv6 type 0 routing header (segments left 2)/TCP, 11-12 IPv6 segment routing "
      "header (segments left 1)/UDP (the wrong ones are computed over the IPv6 destination instead of "
      "the final one), 13-14 IPv4 header checksum (14 wrong, its UDP checksum right)")
def _checksum_pairs(rng):
    pkts: list[Pkt] = []
    for v6, base in ((False, 0), (True, 2)):
        c, s = (C6, S6) if v6 else (C4, S4)
        conv = Tcp((c, 41000 + base), (s, 80), 11_000_000, 33_000_000)
        conv.handshake()
        pkts += [conv.pkt(True, PSH | ACK, request(rng)), conv.pkt(False, PSH | ACK, response(rng, 200), csum="bad")]
        flow = Udp((c, 51000 + base), (s, UDP_PORT))
        pkts += [flow.pkt(True, datagram(rng, 40)), flow.pkt(False, datagram(rng, 60), "bad")]

    # Type 0 routing header: the IPv6 destination is the next hop, the pseudo-header uses the last address.
    conv = Tcp((C6, 41004), (S6, 80), 12_000_000, 34_000_000)
    conv.handshake()
    for csum in ("good", "bad"):
        data = request(rng)
        seg = tcp_segment(C6, S6, 41004, 80, conv.nxt[True], conv.nxt[False], PSH | ACK, data,
                          csum_addrs=(C6, RH_HOP1) if csum == "bad" else None)
        conv.nxt[True] = (conv.nxt[True] + len(data)) % MOD32
        pkts.append((True, ipv6_chain(C6, RH_HOP1, TCP_P, seg,
                                      [(IPV6_ROUTE, lambda n: ext_routing0(n, [RH_HOP2, S6], 2))])))

    # Segment routing header: segments [final, hop1], segments left 1 -> IPv6 destination is hop1.
    for csum in ("good", "bad"):
        data = datagram(rng, 48)
        seg = udp_datagram(C6, S6, 51004, UDP_PORT, data, csum_addrs=(C6, RH_HOP1) if csum == "bad" else None)
        pkts.append((True, ipv6_chain(C6, RH_HOP1, UDP_P, seg, [(IPV6_ROUTE, lambda n: ext_srh(n, [S6, RH_HOP1], 1))])))

    for bad in (False, True):
        seg = udp_datagram(C4, S4, 51006, UDP_PORT, datagram(rng, 40))
        pkts.append((True, ipv4(C4, S4, UDP_P, seg, ident=0x3000 + bad, bad_sum=bad)))
    return pcap_bytes(timed(pkts))


@case("snaplen_truncated.pcap",
      "snapshot length 64: every data segment (request 1 segment, response 2) is cut to 64 bytes, and "
      "so are SYN and SYN/ACK (66 bytes: the last 2 bytes, the SACK-permitted option, are lost); "
      "original lengths kept")
def _snaplen_truncated(rng):
    conv = Tcp((C4, 40000), (S4, 80), 1_000_000, 3_000_000)
    pkts = conv.handshake() + conv.exchange(request(rng), response(rng, 1800)) + conv.close()
    return pcap_bytes(timed(pkts), snaplen=64)


@case("tcp_analysis.pcap",
      "one decision of the TCP analysis per stream: 0 a gap then the missing segment 1 ms later "
      "(lost_segment, out_of_order); 1 data resent after it was ACKed (spurious_retransmission); "
      "2 an ACK for data never captured (ack_lost_segment); 3 a zero window, a one-byte probe, its "
      "answer and the window opening again (zero_window, zero_window_probe, zero_window_probe_ack, "
      "window_update); 4 two duplicate ACKs and the resend 2 ms later (duplicate_ack, "
      "fast_retransmission)")
def _tcp_analysis(rng):
    timeline: list[tuple[Decimal, bool, bytes]] = []   # (time, from_client, IP packet)
    t = T0

    def at(step_ms, pkt):
        nonlocal t
        t += Decimal(step_ms) * MS
        timeline.append((t, *pkt))

    def opened(port):
        conv = Tcp((C4, port), (S4, 80), 10_000_000 * port % MOD32, 7_000_000 + port)
        for p in conv.handshake():
            at(5, p)
        return conv

    data = bytes(rng.randrange(256) for _ in range(300))
    # 0: gap, then the missing segment within the 3 ms out-of-order window
    conv = opened(41000)
    first = conv.nxt[True]
    at(5, conv.pkt(True, ACK, data[:100]))
    at(1, conv.pkt(True, ACK, data[200:300], seq=(first + 200) % MOD32))
    at(1, conv.pkt(True, PSH | ACK, data[100:200], seq=(first + 100) % MOD32))
    conv.nxt[True] = (first + 300) % MOD32
    at(5, conv.pkt(False, ACK))
    # 1: resent after the ACK arrived
    conv = opened(41001)
    first = conv.nxt[True]
    at(5, conv.pkt(True, PSH | ACK, data[:100]))
    at(5, conv.pkt(False, ACK))
    at(300, conv.pkt(True, PSH | ACK, data[:100], seq=first))
    # 2: the server ACKs 200 bytes; only the first 100 were captured
    conv = opened(41002)
    at(5, conv.pkt(True, ACK, data[:100]))
    conv.nxt[True] = (conv.nxt[True] + 100) % MOD32
    at(5, conv.pkt(False, ACK))
    # 3: zero window, probe, probe ACK, window opens
    conv = opened(41003)
    at(5, conv.pkt(True, ACK, data[:100]))
    at(5, conv.pkt(False, ACK, win=0))
    at(200, conv.pkt(True, ACK, data[100:101], advance=False))
    at(5, conv.pkt(False, ACK, win=0))
    at(100, conv.pkt(False, ACK, win=502))
    # 4: fast retransmission after two duplicate ACKs
    conv = opened(41004)
    first = conv.nxt[True]
    for k in range(3):
        at(1, conv.pkt(True, ACK, data[100 * k:100 * (k + 1)]))
    ack = (first + 100) % MOD32
    for _ in range(3):
        at(1, conv.pkt(False, ACK, ack=ack))
    at(2, conv.pkt(True, PSH | ACK, data[100:200], seq=(first + 100) % MOD32))
    return pcap_bytes([(ts, eth(c, p)) for ts, c, p in timeline])


@case("resend_causes.pcap",
      "one cause of a resend per stream, each with an answer tshark labels retransmission: 0 the "
      "same 100-byte segment captured twice 20 us apart (a duplicate in the capture); 1 a segment "
      "whose first copy was lost before the capture point, resent 20 ms later (beyond the 10 ms "
      "handshake RTT) without duplicate ACKs "
      "(first copy not captured); 2 a segment resent 300 ms after it was sent with no ACK (timeout); "
      "3 two segments lost, the first resent after a 300 ms timeout, its ACK (a partial ACK) followed "
      "1 ms later by the second one's resend (loss recovery); 4 a segment sent again 2 ms after "
      "itself, within the 10 ms handshake RTT and unasked")
def _resend_causes(rng):
    timeline: list[tuple[Decimal, bool, bytes]] = []
    t = T0

    def at(step_ms, pkt):
        nonlocal t
        t += Decimal(step_ms) * MS
        timeline.append((t, *pkt))

    def opened(port):
        conv = Tcp((C4, port), (S4, 80), 10_000_000 * port % MOD32, 7_000_000 + port)
        for p in conv.handshake():
            at(5, p)
        return conv

    data = bytes(rng.randrange(256) for _ in range(300))
    # 0: one packet captured twice
    conv = opened(42000)
    first = conv.nxt[True]
    at(5, conv.pkt(True, PSH | ACK, data[:100]))
    at("0.02", conv.pkt(True, PSH | ACK, data[:100], seq=first))
    at(5, conv.pkt(False, ACK))
    # 1: 100-199 lost before the capture point; the resend fills the gap
    conv = opened(42001)
    first = conv.nxt[True]
    at(5, conv.pkt(True, ACK, data[:100]))
    at(1, conv.pkt(True, PSH | ACK, data[200:300], seq=(first + 200) % MOD32))
    at(20, conv.pkt(True, ACK, data[100:200], seq=(first + 100) % MOD32))
    conv.nxt[True] = (first + 300) % MOD32
    at(5, conv.pkt(False, ACK))
    # 2: no ACK, the timer fires
    conv = opened(42002)
    first = conv.nxt[True]
    at(5, conv.pkt(True, PSH | ACK, data[:100]))
    at(300, conv.pkt(True, PSH | ACK, data[:100], seq=first))
    at(5, conv.pkt(False, ACK))
    # 3: both segments lost after the capture point; timeout, partial ACK, recovery
    conv = opened(42003)
    first = conv.nxt[True]
    at(5, conv.pkt(True, ACK, data[:100]))
    at(1, conv.pkt(True, PSH | ACK, data[100:200]))
    at(300, conv.pkt(True, ACK, data[:100], seq=first))
    at(5, conv.pkt(False, ACK, ack=(first + 100) % MOD32))
    at(1, conv.pkt(True, PSH | ACK, data[100:200], seq=(first + 100) % MOD32))
    at(5, conv.pkt(False, ACK))
    # 4: the same segment again 2 ms later, within the 10 ms round trip, nothing asking for it
    conv = opened(42004)
    first = conv.nxt[True]
    at(5, conv.pkt(True, PSH | ACK, data[:100]))
    at(2, conv.pkt(True, PSH | ACK, data[:100], seq=first))
    at(5, conv.pkt(False, ACK))
    return pcap_bytes([(ts, eth(c, p)) for ts, c, p in timeline])


@case("closing.pcap",
      "ways a connection ends or restarts, one per stream: 0 the server's FIN, the client's ACK, then "
      "the server's RST before the client's FIN; 1 FIN both ways, then the client's RST; 2 a SYN "
      "answered by a SYN/ACK, then (the SYN sent again) by a second SYN/ACK with a new ISN "
      "(reused ports on the SYN/ACK)")
def _closing(rng):
    pkts: list[Pkt] = []
    conv = Tcp((C4, 43000), (S4, 80), 1_000_000, 3_000_000)
    pkts += conv.handshake() + conv.exchange(request(rng), response(rng, 300))
    pkts += [conv.pkt(False, FIN | ACK), conv.pkt(True, ACK), conv.pkt(False, RST | ACK, win=0)]
    conv = Tcp((C4, 43001), (S4, 80), 2_000_000, 4_000_000)
    pkts += conv.handshake() + conv.exchange(request(rng), response(rng, 300)) + conv.close(from_client=False)
    pkts += [conv.pkt(True, RST | ACK, win=0)]
    conv = Tcp((C4, 43002), (S4, 80), 5_000_000, 6_000_000)
    pkts += [conv.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS),
             conv.pkt(False, SYN | ACK, win=65160, opts=MSS_SYN_OPTS)]
    pkts += [conv.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS, seq=5_000_000),
             conv.pkt(False, SYN | ACK, win=65160, opts=MSS_SYN_OPTS, seq=9_000_000),
             conv.pkt(True, ACK, ack=9_000_001)]
    return pcap_bytes(timed(pkts))


def icmp_message(kind: int, code: int, body: bytes, v6_addrs: tuple[str, str] | None = None,
                 rest: bytes = b"\x00\x00\x00\x00") -> bytes:
    """An ICMP (or, with ``v6_addrs``, ICMPv6) message: type, code, checksum, 4 bytes, then ``body``
    (for an error, the start of the packet it quotes)."""
    msg = bytearray(struct.pack(">BBH", kind, code, 0) + rest + body)
    if v6_addrs:
        value = dpkt.in_cksum(pseudo_header(*v6_addrs, 58, len(msg)) + bytes(msg))
    else:
        value = dpkt.in_cksum(bytes(msg))
    struct.pack_into(">H", msg, 2, value)
    return bytes(msg)


ROUTER4, ROUTER6 = "203.0.113.1", "2001:db8:99::1"


@case("icmp_errors.pcap",
      "ICMP errors quoting the packet they answer: 1-2 a UDP datagram to port 30000 and the server's "
      "port unreachable (type 3 code 3) quoting its IP header and 8 bytes; 3-4 a TCP SYN to port 80 "
      "and a router's time exceeded (type 11 code 0, from 203.0.113.1) quoting the whole SYN; 5-6 a TCP "
      "SYN to port 81 and a router's fragmentation needed (type 3 code 4, next-hop MTU 1400) quoting "
      "only 8 bytes of TCP (too few for tshark to file it under the TCP stream); 7-8 an IPv6 UDP datagram and its "
      "ICMPv6 port unreachable (type 1 code 4); 9-10 a ping and its reply (types 8 and 0)")
def _icmp_errors(rng):
    pkts: list[Pkt] = []
    udp = ipv4(C4, S4, UDP_P, udp_datagram(C4, S4, 50000, UDP_PORT, datagram(rng, 40)), ident=0x100)
    pkts += [(True, udp), (False, ipv4(S4, C4, 1, icmp_message(3, 3, udp[:28]), ident=0x200))]
    for k, (port, kind, code, rest, keep) in enumerate(((80, 11, 0, b"\x00" * 4, None),
                                                        (81, 3, 4, struct.pack(">HH", 0, 1400), 28))):
        syn = ipv4(C4, S4, TCP_P, tcp_segment(C4, S4, 40000 + k, port, 1_000_000 * (k + 1), 0, SYN, win=64240,
                                               opts=MSS_SYN_OPTS), ident=0x300 + k)
        pkts += [(True, syn), (False, ipv4(ROUTER4, C4, 1, icmp_message(kind, code, syn[:keep], rest=rest),
                                           ident=0x400 + k))]
    udp6 = ipv6(C6, S6, UDP_P, udp_datagram(C6, S6, 50001, UDP_PORT, datagram(rng, 40)))
    pkts += [(True, udp6), (False, ipv6(S6, C6, 58, icmp_message(1, 4, udp6, v6_addrs=(S6, C6))))]
    echo = struct.pack(">HH", 0x1234, 1)
    pkts += [(True, ipv4(C4, S4, 1, icmp_message(8, 0, b"ping", rest=echo), ident=0x500)),
             (False, ipv4(S4, C4, 1, icmp_message(0, 0, b"ping", rest=echo), ident=0x600))]
    return pcap_bytes(timed(pkts))


@case("odd_frames.pcap",
      "frames the analysis says little about: 1 an empty TCP segment with no flag set (not even ACK), 2 "
      "an "
      "IPv4 packet carrying SCTP (protocol 132), 3 an IPv6 packet carrying SCTP, 4 a TCP header cut "
      "after 12 bytes by the snapshot length (ports and sequence numbers only), 5 an ICMP message "
      "whose one captured byte holds its type but not its code")
def _odd_frames(rng):
    sctp = bytes(rng.randrange(256) for _ in range(28))
    frames = [
        eth(True, ipv4(C4, S4, TCP_P, tcp_segment(C4, S4, 40000, 80, 5_000, 0, 0), ident=0x700)),
        eth(True, ipv4(C4, S4, 132, sctp, ident=0x701)),
        eth(True, ipv6(C6, S6, 132, sctp)),
        eth(True, ipv4(C4, S4, TCP_P, tcp_segment(C4, S4, 40001, 80, 6_000, 0, SYN, win=64240), ident=0x702)),
        eth(False, ipv4(S4, C4, 1, icmp_message(8, 0, b"ping"), ident=0x703)),
    ]
    cut = {3: 14 + 20 + 12, 4: 14 + 20 + 1}    # frame index -> bytes kept
    records = b"".join(pcap_record(T0 + k * MS, f[:cut.get(k, len(f))], length=len(f))
                       for k, f in enumerate(frames))
    return pcap_header(snaplen=65535) + records


# ---- TCP lab submissions that fail a rubric line (pcapan check) -------------

def lab_upload(rng: random.Random, end: str = "fin") -> list[Pkt]:
    """The TCP lab's upload in small: handshake, an HTTP POST of 12 kB in
    1448-byte segments (the server ACKs every other one), the server's short
    answer, then ``end``: "fin" (both sides close) or "rst" (the client aborts)."""
    conv = Tcp((C4, 51000 + rng.randrange(1000)), (S4, 80), rng.randrange(1, MOD32), rng.randrange(1, MOD32))
    body = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz\n") for _ in range(12000))
    post = (b"POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 12000\r\n\r\n" + body)
    pkts = conv.handshake()
    for k, at in enumerate(range(0, len(post), 1448)):
        last = at + 1448 >= len(post)
        pkts.append(conv.pkt(True, PSH | ACK if last else ACK, post[at:at + 1448]))
        if k % 2 or last:
            pkts.append(conv.pkt(False, ACK))
    pkts += conv.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    pkts.append(conv.pkt(True, ACK))
    return pkts + (conv.close() if end == "fin" else [conv.pkt(True, RST | ACK, win=0)])


@case("lab_no_handshake.pcap",
      "TCP lab upload captured from its fourth data segment on: no handshake (the capture started "
      "mid-stream), data, answer and FIN teardown")
def _lab_no_handshake(rng):
    return pcap_bytes(timed(lab_upload(rng)[6:]))


@case("lab_split_1.pcap",
      "TCP lab upload split over two files, first part: only the SYN and the SYN/ACK (lab_split_2.pcap "
      "holds the rest)")
def _lab_split_1(rng):
    return pcap_bytes(timed(lab_upload(random.Random("lab_split"))[:2]))


@case("lab_split_2.pcap",
      "TCP lab upload split over two files, second part: from the handshake's ACK on (no SYN, no "
      "SYN/ACK)")
def _lab_split_2(rng):
    return pcap_bytes(timed(lab_upload(random.Random("lab_split"))[2:], start=T0 + 2 * MS))


@case("lab_reset.pcap",
      "TCP lab upload with a complete handshake and data both ways, ended by the client's RST/ACK "
      "instead of FINs")
def _lab_reset(rng):
    return pcap_bytes(timed(lab_upload(rng, end="rst")))


@case("lab_nat.pcap",
      "TCP lab upload captured inside a VM behind its NAT: guest 10.0.2.15 to the lab server's global "
      "address 128.119.245.12 port 80; the NAT answers the handshake itself (server ISN 9375, SYN-ACK with "
      "TTL 64 and only the MSS option, window 65535), 0.2 ms between frames (handshake RTT 0.4 ms)")
def _lab_nat(rng):
    conv = Tcp(("10.0.2.15", 49152 + rng.randrange(16000)), ("128.119.245.12", 80), rng.randrange(1 << 24, MOD32),
               9375)
    mss_only = b"\x02\x04\x05\xb4"
    pkts = [conv.pkt(True, SYN, win=64240, opts=MSS_SYN_OPTS), conv.pkt(False, SYN | ACK, win=65535, opts=mss_only),
            conv.pkt(True, ACK, win=64240)]
    post = (b"POST /wireshark-labs/lab3-1-reply.htm HTTP/1.1\r\nHost: gaia.cs.umass.edu\r\n"
            b"Content-Length: 8000\r\n\r\n" + bytes(rng.choice(b"abcdefghij\n") for _ in range(8000)))
    for k, at in enumerate(range(0, len(post), 1460)):
        last = at + 1460 >= len(post)
        pkts.append(conv.pkt(True, PSH | ACK if last else ACK, post[at:at + 1460], win=64240))
        pkts.append(conv.pkt(False, ACK, win=65535))
    pkts += conv.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    pkts.append(conv.pkt(True, ACK, win=64240))
    return pcap_bytes(timed(pkts, step=Decimal("0.0002")))


# ---- broken ---------------------------------------------------------------

def short_conv(rng: random.Random) -> list[Frame]:
    return timed(basic_tcp(rng, size=200))


@broken("empty.pcap", "0 bytes")
def _empty(rng):
    return b""


@broken("not_a_capture.pcap", "a text file, not a capture")
def _not_a_capture(rng):
    return b"This is not a packet capture.\nJust some text with a .pcap name.\n"


@broken("header_only.pcap", "valid pcap global header (Ethernet), no packets")
def _header_only(rng):
    return pcap_header()


@broken("truncated_last_record.pcap", "TCP conversation whose last record is cut in the middle of its data")
def _truncated_last_record(rng):
    return pcap_bytes(short_conv(rng))[:-25]


@broken("truncated_record_header.pcap", "TCP conversation followed by 8 bytes of a 16-byte record header")
def _truncated_record_header(rng):
    data = pcap_bytes(short_conv(rng))
    return data + pcap_record(T0 + 1, b"\x00" * 60)[:8]


@broken("absurd_caplen.pcap",
        "five good frames, then a record header claiming caplen and length 0x7fffffff, then a few bytes")
def _absurd_caplen(rng):
    # Not among the first records: readers that guess a pcap variant from the first few
    # records would otherwise take the file for another variant.
    frames = short_conv(rng)[:5]
    return (pcap_bytes(frames) + pcap_record(T0 + 1, b"", caplen=0x7FFFFFFF, length=0x7FFFFFFF)
            + bytes(range(64)))


@broken("caplen_gt_snaplen.pcap",
        "header snaplen 96, yet records 4 and 6 (107 and 254 bytes) have caplen = len > snaplen, their "
        "data all present; TCP conversation")
def _caplen_gt_snaplen(rng):
    data = pcap_header(snaplen=96)
    return data + b"".join(pcap_record(ts, f) for ts, f in short_conv(rng))


@broken("bad_ihl.pcap",
        "Ethernet/IPv4: frame 1 good TCP SYN, frame 2 IHL 3 (< 5), frame 3 IHL 15 (60-byte header) in a "
        "40-byte packet")
def _bad_ihl(rng):
    seg = tcp_segment(C4, S4, 40000, 80, 1000, 0, SYN, win=64240)
    pkts = [ipv4(C4, S4, TCP_P, seg, ident=1), ipv4(C4, S4, TCP_P, seg, ident=2, ihl=3),
            ipv4(C4, S4, TCP_P, seg, ident=3, ihl=15)]
    return pcap_bytes(timed((True, p) for p in pkts))


@broken("bad_tcp_offset.pcap",
        "Ethernet/IPv4/TCP: frame 1 good SYN, frame 2 data offset 3 (< 5), frame 3 data offset 15 (60 "
        "bytes) in a 20-byte segment")
def _bad_tcp_offset(rng):
    pkts = [tcp_segment(C4, S4, 40000, 80, 1000, 0, SYN, win=64240, off=off) for off in (5, 3, 15)]
    return pcap_bytes(timed((True, ipv4(C4, S4, TCP_P, seg, ident=i)) for i, seg in enumerate(pkts)))


@broken("ipv6_ext_loop.pcap",
        "IPv6 extension chains running off the end: frame 1 twelve destination-options headers each "
        "naming another, the packet ends where the thirteenth is due; frame 2 hop-by-hop header claiming "
        "2048 bytes in a 16-byte payload; frame 3 routing header cut short")
def _ipv6_ext_loop(rng):
    chain = b"".join(ext_options(IPV6_DSTOPTS) for _ in range(12))
    f1 = ipv6(C6, S6, IPV6_DSTOPTS, chain)
    f2 = ipv6(C6, S6, HOPOPT, bytes([TCP_P, 255]) + bytes(14))
    f3 = ipv6(C6, S6, IPV6_ROUTE, ext_routing0(TCP_P, [RH_HOP2, S6], 2)[:20])
    return pcap_bytes(timed((True, p) for p in (f1, f2, f3)))


@broken("vlan_stack.pcap",
        "Ethernet with stacked 802.1Q tags: frame 1 has 30 tags then ends in the middle of a tag; frame 2"
        " has 300 tags and ends without any payload")
def _vlan_stack(rng):
    f1 = MAC_S + MAC_C + b"".join(struct.pack(">HH", 0x8100, 1 + k) for k in range(30)) + b"\x81\x00\x00"
    f2 = MAC_S + MAC_C + b"".join(struct.pack(">HH", 0x8100, 1 + k % 4094) for k in range(300))
    return pcap_bytes([(T0, f1), (T0 + MS, f2)])


@broken("pcapng_bad_block_len.pcapng",
        "pcapng: two good packets, then an enhanced packet block whose trailing length disagrees with its"
        " leading one, then one more packet")
def _pcapng_bad_block_len(rng):
    frames = short_conv(rng)[:4]
    bad = bytearray(bytes(epb(*frames[2])))
    struct.pack_into("<I", bad, len(bad) - 4, len(bad) + 8)
    blocks = [epb(*frames[0]), epb(*frames[1]), bytes(bad), epb(*frames[3])]
    return pcapng_bytes(blocks, [(LT_ETHERNET, "eth0")])


@broken("pcapng_unknown_block.pcapng",
        "valid pcapng with a block of unassigned type 0x00001234 between packets 2 and 3 (readers should "
        "skip it); 4 packets")
def _pcapng_unknown_block(rng):
    frames = short_conv(rng)[:4]
    body = b"unknown block body.."  # 20 bytes, already 32-bit aligned
    unknown = struct.pack("<II", 0x1234, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    blocks = [epb(*frames[0]), epb(*frames[1]), unknown, epb(*frames[2]), epb(*frames[3])]
    return pcapng_bytes(blocks, [(LT_ETHERNET, "eth0")])


@broken("zero_length_frames.pcap",
        "frame 1 good, frame 2 caplen 0 and length 0, frame 3 caplen 0 and length 60, frame 4 good")
def _zero_length_frames(rng):
    frames = short_conv(rng)[:2]
    return (pcap_header() + pcap_record(*frames[0]) + pcap_record(T0 + MS, b"")
            + pcap_record(T0 + 2 * MS, b"", length=60) + pcap_record(*frames[1]))


@broken("gzip_corrupt.pcap.gz",
        "gzip-compressed pcap (Ethernet TCP conversation, 10 packets) whose deflate stream is "
        "flushed after every record; the block holding packet 7 has its type bits set to the "
        "reserved value 3. tshark prints packets 1-6, then 'cannot be decompressed; it may be "
        "damaged or corrupt. (invalid block type)', exit status 2")
def _gzip_corrupt(rng):
    data, starts = gzip_flushed(pcap_pieces(pcap_bytes(short_conv(rng))))
    bad = bytearray(data)
    bad[starts[7]] |= 0x06   # the deflate block holding packet 7 becomes block type 3 (reserved)
    return bytes(bad)


@broken("gzip_truncated.pcap.gz",
        "gzip-compressed pcap (Ethernet TCP conversation) cut to half its bytes, inside the "
        "deflate stream: 3 whole packets decompress. tshark prints them, then 'appears to have "
        "been cut short in the middle of a packet.', exit status 2")
def _gzip_truncated(rng):
    data = gzipped(pcap_bytes(short_conv(rng)))
    return data[:len(data) // 2]


@broken("pcapng_bad_interface.pcapng",
        "pcapng describing one interface whose fifth enhanced packet block names interface 9999 "
        "(good packets before and after). tshark prints packets 1-4, then 'appears to be damaged "
        "or corrupt. (pcapng: interface index 9999 is not less than section interface count 1)', "
        "exit status 2")
def _pcapng_bad_interface(rng):
    blocks = [ng_epb(usec(ts), f, 9999 if i == 4 else 0) for i, (ts, f) in enumerate(short_conv(rng))]
    return ng_shb() + ng_idb(LT_ETHERNET) + b"".join(blocks)


# --- where Wireshark releases label the same frames differently (docs/wireshark-versions.md) ------

def conversation_bytes(conv) -> bytes:
    """A tests/builder.py Conversation as the bytes of a pcap file (microseconds)."""
    buf = io.BytesIO()
    w = dpkt.pcap.Writer(buf)
    for ts, frame in conv.frames:
        w.writepkt(frame, ts=ts)
    return buf.getvalue()


def sack_option(conv, *blocks: tuple[int, int]) -> bytes:
    """Two NOPs and a SACK option whose blocks are given in the client's relative numbers."""
    edges = b"".join(struct.pack("!II", (conv.client_isn + a) & 0xFFFFFFFF, (conv.client_isn + b) & 0xFFFFFFFF)
                     for a, b in blocks)
    return b"\x01\x01\x05" + bytes([2 + len(edges)]) + edges


def _upload():
    """A client that has just opened a connection (handshake RTT 10 ms), to send data."""
    from builder import Conversation

    conv = Conversation()
    conv.handshake(rtt=0.010)
    return conv


@case("ws_dup_ack_sack.pcap",
      "Wireshark releases differ: the receiver repeats its ACK with a SACK block and a new window. "
      "4.0: window update (frame 7); 4.4 and 4.6: duplicate ACK #1 of frame 5")
def _ws_dup_ack_sack(rng):
    conv = _upload()
    conv.c(ACK, 1, 1, 1000)                               # 4
    conv.s(ACK, 1, 1001, win=64240)                      # 5
    conv.c(ACK, 2001, 1, 1000, after=0.001)              # 6: 1001-2000 not captured
    conv.s(ACK, 1, 1001, win=63000, options=sack_option(conv, (2001, 3001)))   # 7
    return conversation_bytes(conv)


@case("ws_fast_retransmission_sack.pcap",
      "Wireshark releases differ: two duplicate ACKs with SACK blocks, then the sender resends the "
      "second hole (not the ACKed edge) 2 ms later. 4.0: retransmission (frame 13); 4.4 and 4.6: fast "
      "retransmission")
def _ws_fast_retransmission_sack(rng):
    conv = _upload()
    conv.c(ACK, 1, 1, 1000)                               # 4
    conv.c(ACK, 1001, 1, 1000, after=0.0001)             # 5 (lost on the way)
    conv.c(ACK, 2001, 1, 1000, after=0.0001)             # 6
    conv.c(ACK, 3001, 1, 1000, after=0.0001)             # 7 (lost on the way)
    conv.c(ACK, 4001, 1, 1000, after=0.0001)             # 8
    conv.s(ACK, 1, 1001, after=0.010)                    # 9
    conv.s(ACK, 1, 1001, after=0.0001, options=sack_option(conv, (2001, 3001)))               # 10
    conv.s(ACK, 1, 1001, after=0.0001, options=sack_option(conv, (4001, 5001), (2001, 3001)))  # 11
    conv.c(ACK, 1001, 1, 1000, after=0.001)              # 12: fast retransmission in every release
    conv.c(ACK, 3001, 1, 1000, after=0.001)              # 13: the second hole
    return conversation_bytes(conv)


@case("ws_resend_soon.pcap",
      "Wireshark releases differ: a segment sent again 1 ms after newer data, before any ACK of it "
      "(handshake RTT 10 ms). 4.0: out-of-order (frame 6); 4.4 and 4.6: retransmission")
def _ws_resend_soon(rng):
    conv = _upload()
    conv.c(ACK, 1, 1, 1000)                               # 4
    conv.c(ACK, 1001, 1, 1000, after=0.0005)             # 5
    conv.c(ACK, 1, 1, 1000, after=0.001)                 # 6: the first segment again
    conv.s(ACK, 1, 2001, after=0.010)                    # 7
    return conversation_bytes(conv)


@case("ws_partial_ack.pcap",
      "Wireshark releases differ: a 3000-byte segment acknowledged in two halves, then one of 1000 "
      "bytes sent twice (frame 8, 300 ms later) and acknowledged. 4.0: no RTT on the partial ACK "
      "(frame 5); 4.4 and 4.6: frame 5 acks frame 4 after 10 ms. Every release times frame 9 from "
      "the first copy, frame 7")
def _ws_partial_ack(rng):
    conv = _upload()
    conv.c(ACK, 1, 1, 3000)                               # 4
    conv.s(ACK, 1, 1501, after=0.010)                    # 5: half of it
    conv.s(ACK, 1, 3001, after=0.001)                    # 6: the rest
    conv.c(ACK, 3001, 1, 1000, after=0.001)              # 7
    conv.c(ACK, 3001, 1, 1000, after=0.300)              # 8: sent again after a timeout
    conv.s(ACK, 1, 4001, after=0.010)                    # 9
    return conversation_bytes(conv)


@case("ws_syn_after_rst.pcap",
      "Wireshark releases differ: the server refuses a SYN with a RST twice, the client retries with "
      "the same ISN 1 s later each time, the third SYN is accepted. 4.0: one stream, frames 3 and 5 "
      "retransmissions, frame 6 reused ports; 4.4 and 4.6: frames 3 and 5 open streams 1 and 2 "
      "(reused ports)")
def _ws_syn_after_rst(rng):
    from builder import Conversation

    conv = Conversation()
    for _ in range(2):
        conv.c(SYN, 0, 0, after=1.0)
        conv.s(RST | ACK, 0, 1, after=0.001)
    conv.c(SYN, 0, 0, after=1.0)
    conv.s(SYN | ACK, 0, 1, after=0.001)
    conv.c(ACK, 1, 1, after=0.001)
    return conversation_bytes(conv)


@case("ws_reopen_after_fin.pcap",
      "Wireshark releases differ: a connection closed by the client's FIN alone, opened again 1 s "
      "later with the same ISNs. 4.0: one stream, the SYN and SYN-ACK (frames 7, 8) retransmissions; "
      "4.4 and 4.6: frame 7 opens stream 1 (reused ports)")
def _ws_reopen_after_fin(rng):
    from builder import Conversation

    conv = Conversation()
    conv.handshake(rtt=0.002)
    conv.c(ACK, 1, 1, 100)
    conv.s(ACK, 1, 101)
    conv.c(FIN | ACK, 101, 1)
    conv.c(SYN, 0, 0, after=1.0)
    conv.s(SYN | ACK, 0, 1, after=0.001)
    conv.c(ACK, 1, 1, after=0.001)
    return conversation_bytes(conv)


@case("ws_gap_filled.pcap",
      "Wireshark releases differ: two gaps filled (handshake RTT 10 ms). Frame 6 fills the first 1 ms "
      "after newer data, 12 ms after the receiver's last segment: 4.0 and 4.4 out-of-order, 4.6 "
      "retransmission. Frame 11 fills the second 15 ms after newer data, 0.1 ms after the receiver's "
      "ACK: 4.0 and 4.4 retransmission, 4.6 out-of-order")
def _ws_gap_filled(rng):
    conv = _upload()
    conv.c(ACK, 1, 1, 1000, after=0.005)                 # 4
    conv.c(ACK, 2001, 1, 1000, after=0.001)              # 5
    conv.c(ACK, 1001, 1, 1000, after=0.001)              # 6
    conv.s(ACK, 1, 3001, after=0.010)                    # 7
    conv.c(ACK, 3001, 1, 1000, after=0.001)              # 8
    conv.c(ACK, 5001, 1, 1000, after=0.001)              # 9
    conv.s(ACK, 1, 4001, after=0.015)                    # 10
    conv.c(ACK, 4001, 1, 1000, after=0.0001)             # 11
    conv.s(ACK, 1, 6001, after=0.010)                    # 12
    return conversation_bytes(conv)


# --------------------------------------------------------------------------

def readme(title: str, intro: str, cases: list[Case]) -> str:
    lines = [f"# {title}", "", intro, "", "| file | what it shows |", "| --- | --- |"]
    lines += [f"| `{c.name}` | {c.description.replace('|', '/')} |" for c in cases]
    return "\n".join(lines) + "\n"


def write_all(cases: list[Case], outdir: Path, title: str, intro: str) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    for c in cases:
        (outdir / c.name).write_bytes(c.build(random.Random(c.name)))
    (outdir / "README.md").write_text(readme(title, intro, cases))
    print(f"{outdir}: {len(cases)} files", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", nargs="?", type=Path, default=DEFAULT_OUT,
                    help="folder for the crafted captures (default sample_captures/crafted); "
                         "broken ones go to ../broken beside it")
    args = ap.parse_args(argv)
    outdir: Path = args.outdir
    generated = "Generated by `python scripts/make_crafted.py`; do not edit by hand."
    write_all(CASES, outdir, "Crafted captures",
              f"{generated} Small, well-formed captures with fixed timestamps and ISNs, "
              "each showing one link layer, file format, IP or TCP situation.", )
    write_all(BROKEN, outdir.parent / "broken", "Broken captures",
              f"{generated} Damaged or odd files for robustness tests: a reader "
              "should report them cleanly, never crash or hang.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
