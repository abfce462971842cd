"""What is known about a capture file besides its packets, and the error for a file that is not one."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

# Short names of the link types pcapan reads (``linktype_N`` for others).
LINKTYPE_NAMES = {
    0: "null",
    1: "ethernet",
    7: "arcnet_bsd",
    9: "ppp",
    10: "fddi",
    12: "raw",
    14: "raw",
    50: "ppp_hdlc",
    101: "raw",
    105: "ieee802_11",
    108: "loop",
    113: "linux_sll",
    127: "ieee802_11_radiotap",
    129: "arcnet_linux",
    149: "pktap",
    228: "ipv4",
    229: "ipv6",
    239: "nflog",
    242: "ipoib",
    258: "pktap",
    276: "linux_sll2",
}


def linktype_name(linktype: int) -> str:
    """Short lower-case name of a link type (``linktype_N`` when unknown, ``unknown`` for none)."""
    if linktype < 0:
        return "unknown"
    return LINKTYPE_NAMES.get(linktype, f"linktype_{linktype}")


def named(path: str) -> str:
    """How a message names the capture at *path*: as given, or "standard input" for ``-``."""
    return "standard input" if path == "-" else path


class CaptureError(Exception):
    """The file cannot be read as a capture; the message is one line for people."""


@dataclass
class CaptureInfo:
    """Facts about the file, filled in while it is read."""

    path: str
    file_format: str = ""            # "pcap", "pcap-ns", "pcapng"
    compressed: bool = False
    snaplen: int | None = None
    linktypes: dict[int, int] = field(default_factory=dict)  # interface -> link type
    frames: int = 0
    warnings: list[str] = field(default_factory=list)
    # pcapng: each section's header options and each interface's description, in file order
    sections: list[dict] = field(default_factory=list)
    interfaces: list[dict] = field(default_factory=list)
    # pcapng packet options other than comments, by frame: [(option code, raw value), ...]
    packet_options: dict[int, list] = field(default_factory=dict)
    # frames with more than one comment: all of them (the comment column joins them)
    packet_comments: dict[int, list] = field(default_factory=dict)
    # times are nanoseconds after this many nanoseconds since the epoch (0 unless the
    # file's times lie beyond what 64 bits of nanoseconds hold)
    time_base_ns: int = 0
    # the unit of the capture's clock: "us" while every interface counts microseconds (or steps
    # microseconds hold exactly), "ns" once one counts finer (times are written to that precision)
    time_unit: str = "us"

    def clock(self, ticks_per_second: int) -> None:
        """Note an interface whose clock counts *ticks_per_second*."""
        if 1_000_000 % ticks_per_second:
            self.time_unit = "ns"

    @property
    def name(self) -> str:
        """The capture's name for people: its file name, or "standard input"."""
        return os.path.basename(named(self.path))

    def warn(self, message: str) -> None:
        self.warnings.append(message)
