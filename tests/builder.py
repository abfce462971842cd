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
