"""Build small TCP conversations with dpkt and write them as pcap files.

Tests describe one decision at a time ("two duplicate ACKs, then the resend
25 ms later") with relative sequence numbers; the builder adds the ISNs,
checksums and timestamps and writes a real capture.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field

import dpkt

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass
class Conversation:
    client: tuple[str, int] = ("10.0.0.1", 40000)
    server: tuple[str, int] = ("10.0.0.2", 80)
    client_isn: int = 1_000_000
    server_isn: int = 5_000_000
    t: float = 1_700_000_000.0
    frames: list[tuple[float, bytes]] = field(default_factory=list)

    def _segment(self, from_client: bool, flags: int, seq: int, ack: int, data: bytes, win: int,
                 options: bytes) -> bytes:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        isn, peer_isn = (self.client_isn, self.server_isn) if from_client else (self.server_isn, self.client_isn)
        tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=(isn + seq) & 0xFFFFFFFF,
                           ack=(peer_isn + ack) & 0xFFFFFFFF if flags & ACK else 0,
                           flags=flags, win=win, opts=options, data=data)
        tcp.off = (20 + len(options)) // 4
        ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=6, ttl=64, data=tcp)
        ip.len = len(ip)
        eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02", data=ip)
        return bytes(eth)

    def send(self, from_client: bool, flags: int, seq: int = 0, ack: int = 0, data: bytes | int = b"",
             win: int = 64240, after: float = 0.001, options: bytes = b"") -> int:
        """Add a segment `after` seconds after the previous one; returns its frame number."""
        if isinstance(data, int):
            data = b"x" * data
        self.t += after
        self.frames.append((self.t, self._segment(from_client, flags, seq, ack, data, win, options)))
        return len(self.frames)

    def c(self, *args, **kw) -> int:
        return self.send(True, *args, **kw)

    def s(self, *args, **kw) -> int:
        return self.send(False, *args, **kw)

    def handshake(self, rtt: float = 0.010) -> None:
        self.c(SYN, 0, 0, after=0)
        self.s(SYN | ACK, 0, 1, after=rtt / 2)
        self.c(ACK, 1, 1, after=rtt / 2)

    def write(self, path) -> str:
        with open(path, "wb") as f:
            w = dpkt.pcap.Writer(f, nano=True)
            for ts, buf in self.frames:
                w.writepkt(buf, ts=ts)
        return str(path)


# pcapng, block by block: each function returns one block's bytes in byte order `order`, so that
# tests can put any blocks, options and sections together (and damage them) as they need.
# Option values are bytes, or text written as UTF-8; `opts` get opt_endofopt appended.
import struct  # noqa: E402  (this part was added after the rest)


def pcapng_options(opts, order: str = "<") -> bytes:
    if not opts:
        return b""
    out = b""
    for code, value in opts:
        value = value.encode() if isinstance(value, str) else value
        out += struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)
    return out + bytes(4)


def pcapng_block(btype: int, body: bytes, order: str = "<") -> bytes:
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def shb(opts=(), order: str = "<", section_length: int = -1) -> bytes:
    return pcapng_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, section_length)
                        + pcapng_options(opts, order), order)


def idb(linktype: int = 1, snaplen: int = 262144, opts=(), order: str = "<") -> bytes:
    return pcapng_block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + pcapng_options(opts, order), order)


def _padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def epb(iface: int, ticks: int, data: bytes, opts=(), order: str = "<", original: int | None = None) -> bytes:
    return pcapng_block(6, struct.pack(order + "5I", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                                       len(data) if original is None else original)
                        + _padded(data) + pcapng_options(opts, order), order)


def obsolete_pb(iface: int, ticks: int, data: bytes, drops: int = 0, opts=(), order: str = "<") -> bytes:
    """A Packet Block (type 2): 16-bit interface id and drop count."""
    return pcapng_block(2, struct.pack(order + "HH4I", iface, drops, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                                       len(data)) + _padded(data) + pcapng_options(opts, order), order)


def spb(data: bytes, order: str = "<") -> bytes:
    return pcapng_block(3, struct.pack(order + "I", len(data)) + _padded(data), order)


def nrb(records, opts=(), order: str = "<") -> bytes:
    """A Name Resolution Block; records are (type, value bytes), nrb_record_end appended."""
    body = b"".join(struct.pack(order + "HH", kind, len(value)) + _padded(value) for kind, value in records)
    return pcapng_block(4, body + bytes(4) + pcapng_options(opts, order), order)


def isb(iface: int, ticks: int, opts=(), order: str = "<") -> bytes:
    return pcapng_block(5, struct.pack(order + "III", iface, ticks >> 32, ticks & 0xFFFFFFFF)
                        + pcapng_options(opts, order), order)


def dsb(secrets_type: int, secrets: bytes, opts=(), order: str = "<") -> bytes:
    return pcapng_block(10, struct.pack(order + "II", secrets_type, len(secrets)) + _padded(secrets)
                        + pcapng_options(opts, order), order)


def custom_block(pen: int, data: bytes, copiable: bool = True, order: str = "<") -> bytes:
    return pcapng_block(0x00000BAD if copiable else 0x40000BAD, struct.pack(order + "I", pen) + _padded(data),
                        order)


def custom_option(pen: int, data: bytes, copiable: bool = True, text: bool = False, order: str = "<"):
    """A custom option (code, value): 2988/2989 hold text, 19372/19373 bytes."""
    code = (2988 if copiable else 2989) if text else (19372 if copiable else 19373)
    return code, struct.pack(order + "I", pen) + data
