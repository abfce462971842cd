"""pcapan's vocabulary: every label, every value of a coded column, every threshold.

This is the only list.  The compiled stages get their constants from it
(``setup.py`` writes them into ``_vocabulary.pxi`` at build time), and the
schema, the README's label table, ``explain``, ``check``, ``plot`` and the
tshark comparison read it from here.  Adding a label means adding its entry
below and the check that emits it; nothing else is edited by hand.

This module imports nothing, so that the build can read it before pcapan
or its dependencies are installed.
"""
from __future__ import annotations

from typing import NamedTuple


class Label(NamedTuple):
    """One label of the packets table's ``labels`` column."""

    name: str
    meaning: str
    # the tshark field that flags the same frames (None: pcapan's own label)
    wireshark: str | None = None
    # per-stream count columns client_<name> / server_<name> in the streams table
    counted: bool = False
    # what Wireshark shows for it, when that is no flag of its own
    wireshark_shows: str | None = None


# The labels, in the order a frame's labels are written (and their bit in the
# compiled stages' label masks: the first is bit 0).  The sequence analysis
# emits the first fifteen, in Wireshark's order of checks.
LABELS: tuple[Label, ...] = (
    Label("zero_window_probe", "one byte sent into a zero window to see if it opened",
          "tcp.analysis.zero_window_probe", True),
    Label("zero_window", "receiver advertises a zero window: it cannot take more data now",
          "tcp.analysis.zero_window", True),
    Label("lost_segment", "previous segment not captured: a gap in the sequence numbers",
          "tcp.analysis.lost_segment", True),
    Label("keep_alive", "keep-alive: asks whether the idle connection is still there",
          "tcp.analysis.keep_alive", True),
    Label("window_probe", "keep-alive sent into a zero window: Linux probing whether the window opened "
          "(pcapan's label)", None, True, "tcp.analysis.keep_alive"),
    Label("window_update", "pure ACK that only changes the advertised window",
          "tcp.analysis.window_update", True),
    Label("window_full", "segment fills the receiver's advertised window",
          "tcp.analysis.window_full", True),
    Label("keep_alive_ack", "answer to a keep-alive", "tcp.analysis.keep_alive_ack", True),
    Label("zero_window_probe_ack", "answer to a zero-window probe", "tcp.analysis.zero_window_probe_ack", True),
    Label("duplicate_ack", "same ACK again: the receiver asks for a missing segment",
          "tcp.analysis.duplicate_ack", True),
    Label("ack_lost_segment", "acknowledges data that was not captured", "tcp.analysis.ack_lost_segment", True),
    Label("spurious_retransmission", "resends data the receiver had already acknowledged",
          "tcp.analysis.spurious_retransmission", True),
    Label("fast_retransmission", "resent after duplicate ACKs asked for it (no timeout)",
          "tcp.analysis.fast_retransmission", True),
    Label("out_of_order", "older segment arriving just after newer data: reordered",
          "tcp.analysis.out_of_order", True),
    Label("retransmission", "resends data already sent (the earlier copy got no ACK in time)",
          "tcp.analysis.retransmission", True),
    Label("reused_ports", "SYN with a new ISN on a four-tuple seen before (new stream)",
          "tcp.analysis.reused_ports"),
    Label("truncated", "frame cut by the snapshot length", wireshark_shows="frame.cap_len < frame.len"),
    Label("malformed", "a header makes no sense (layer in column malformed)", wireshark_shows="_ws.malformed"),
    Label("bad_ip_checksum", "IPv4 header checksum is wrong", wireshark_shows="ip.checksum.status Bad"),
    Label("bad_tcp_checksum", "TCP checksum is wrong: the segment was damaged",
          wireshark_shows="tcp.checksum.status Bad"),
    Label("bad_udp_checksum", "UDP checksum is wrong (or missing over IPv6)",
          wireshark_shows="udp.checksum.status Bad"),
    Label("checksum_offloaded", "checksum not yet filled in when captured (transmit offload): not an error",
          wireshark_shows="tcp/udp.checksum.status Bad (Wireshark calls it bad)"),
)
LABEL_NAMES: tuple[str, ...] = tuple(label.name for label in LABELS)
MEANINGS: dict[str, str] = {label.name: label.meaning for label in LABELS}
# How many leading labels the sequence analysis emits.
SEQUENCE_LABELS = 15

# The per-stream count columns, in the streams table's order.
STREAM_COUNTED: tuple[str, ...] = (
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order", "lost_segment",
    "ack_lost_segment", "duplicate_ack", "zero_window", "zero_window_probe", "zero_window_probe_ack",
    "window_update", "window_full", "keep_alive", "keep_alive_ack", "window_probe",
)

# What a frame's ``explain`` sentence is about: the first of these labels it
# carries (a resend matters more than the window it advertised); without one,
# its phase or protocol.
TOPICS: tuple[str, ...] = (
    "malformed", "reused_ports",
    "spurious_retransmission", "fast_retransmission", "retransmission", "out_of_order",
    "zero_window_probe", "window_probe", "keep_alive", "zero_window_probe_ack", "keep_alive_ack",
    "duplicate_ack", "ack_lost_segment", "lost_segment",
    "zero_window", "window_full", "window_update",
)
# Labels that add a short clause after the sentence (the first present that
# is not the topic itself).
NOTES: tuple[str, ...] = (
    "bad_ip_checksum", "bad_tcp_checksum", "bad_udp_checksum", "checksum_offloaded",
    "zero_window", "window_full", "truncated",
)
# The labels that say a segment was sent again.
RESENDS: tuple[str, ...] = ("spurious_retransmission", "fast_retransmission", "retransmission")
# Frames cut by the snapshot length are counted in the capture facts; listing
# them among a report's notable frames would bury what TCP did (unless asked for).
REPORT_LEAVES_OUT: tuple[str, ...] = ("truncated",)

# --- values of the coded columns (code = position; the compiled stages use the same) ---

# ``proto``: the first eight are fixed; nothing else is ever written.
PROTOS: tuple[str, ...] = ("tcp", "udp", "icmp", "icmpv6", "arp", "ipv4", "ipv6", "other")
# ``phase`` of a TCP segment, first match wins in this order.
PHASES: tuple[str, ...] = ("rst", "syn", "syn_ack", "fin", "handshake_ack", "data", "ack")
# checksum verdicts (code 0: no checksum); "maybe offloaded" is only the decoder's
# verdict, which the analysis turns into offloaded.
VERDICTS: tuple[str | None, ...] = (None, "good", "bad", "offloaded", "unverified")
# ``fragment`` (code 0: not a fragment)
FRAGMENTS: tuple[str | None, ...] = (None, "first", "non_first", "reassembled")
# ``malformed``: the first layer whose header made no sense (code 0: none)
LAYERS: tuple[str | None, ...] = (None, "link", "ip", "ipv6", "tcp", "udp")
# What a layer is called in sentences.
LAYER_NAMES: dict[str, str] = {"link": "link-layer", "ip": "IPv4", "ipv6": "IPv6", "tcp": "TCP", "udp": "UDP"}

# ICMP messages in words: (IP version, type) -> (name, what it means); codes as
# (IP version, type, code) -> name.  Types not listed are named by number.
ICMP_TYPES: dict[tuple[int, int], tuple[str, str]] = {
    (4, 0): ("echo reply", "the answer to a ping"),
    (4, 3): ("destination unreachable", "the packet could not be delivered"),
    (4, 4): ("source quench", "a router asks the sender to slow down (obsolete)"),
    (4, 5): ("redirect", "a router names a better next hop for this destination"),
    (4, 8): ("echo request", "a ping"),
    (4, 11): ("time exceeded", "the packet's TTL ran out on the way (traceroute, or a routing loop)"),
    (4, 12): ("parameter problem", "a header field made no sense to a router or the receiver"),
    (6, 1): ("destination unreachable", "the packet could not be delivered"),
    (6, 2): ("packet too big", "a link on the way takes smaller packets (path MTU discovery)"),
    (6, 3): ("time exceeded", "the packet's hop limit ran out on the way (traceroute, or a routing loop)"),
    (6, 4): ("parameter problem", "a header field made no sense to a router or the receiver"),
    (6, 128): ("echo request", "a ping"),
    (6, 129): ("echo reply", "the answer to a ping"),
    (6, 133): ("router solicitation", "asks for routers (neighbour discovery)"),
    (6, 134): ("router advertisement", "a router announces itself and its prefixes (neighbour discovery)"),
    (6, 135): ("neighbour solicitation", "asks for a hardware address (neighbour discovery, IPv6's ARP)"),
    (6, 136): ("neighbour advertisement", "answers with a hardware address (neighbour discovery)"),
    (6, 137): ("redirect", "a router names a better next hop for this destination"),
}
ICMP_CODES: dict[tuple[int, int, int], str] = {
    (4, 3, 0): "network unreachable", (4, 3, 1): "host unreachable", (4, 3, 2): "protocol unreachable",
    (4, 3, 3): "port unreachable", (4, 3, 4): "fragmentation needed but DF set", (4, 3, 5): "source route failed",
    (4, 3, 6): "network unknown", (4, 3, 7): "host unknown", (4, 3, 9): "network administratively prohibited",
    (4, 3, 10): "host administratively prohibited", (4, 3, 13): "communication administratively prohibited",
    (4, 11, 0): "TTL exceeded in transit", (4, 11, 1): "fragment reassembly time exceeded",
    (6, 1, 0): "no route to destination", (6, 1, 1): "administratively prohibited",
    (6, 1, 2): "beyond scope of source address", (6, 1, 3): "address unreachable", (6, 1, 4): "port unreachable",
    (6, 1, 5): "source address failed policy", (6, 1, 6): "reject route to destination",
    (6, 3, 0): "hop limit exceeded in transit", (6, 3, 1): "fragment reassembly time exceeded",
    (6, 4, 0): "erroneous header field", (6, 4, 1): "unrecognised next header", (6, 4, 2): "unrecognised IPv6 option",
}
# What a code says, where it says more than its type.
ICMP_CODE_MEANINGS: dict[tuple[int, int, int], str] = {
    (4, 3, 3): "nothing listens on that port", (6, 1, 4): "nothing listens on that port",
    (4, 3, 4): "the packet is too big for a link on the way and may not be fragmented (path MTU discovery)",
    (4, 11, 1): "not every fragment of a datagram arrived in time",
    (6, 3, 1): "not every fragment of a datagram arrived in time",
}

# --- thresholds -------------------------------------------------------------------

# A resend within this time of the peer's second (or later) duplicate ACK for
# its sequence number is a fast retransmission (Wireshark's 20 ms).
FAST_RETRANSMISSION_NS = 20_000_000
# An older segment this soon after newer data is out of order, not resent,
# when the stream has no initial RTT (Wireshark's 3 ms).
OUT_OF_ORDER_NS = 3_000_000
# Segments per endpoint remembered while they wait for an ACK (as Wireshark).
MAX_UNACKED_SEGMENTS = 10_000
# A sender failing at least this many checksums, while everything it
# receives checks out, is offloading them.
OFFLOAD_CONSISTENT_MIN = 3
# A resend is loss recovery when the receiver's duplicate ACKs asked for it
# and the receiver's last ACK came less than this before it; later, the
# sender's timer fired (Linux's minimum retransmission timeout).
RECOVERY_WITHIN_NS = 200_000_000
# A resent segment whose earlier copy was captured at most this long before is the
# same packet seen twice by the capture (on two interfaces, or copied by a mirror
# port), not a resend by TCP: no TCP timer or ACK answers that fast.
DUPLICATE_WITHIN_S = 0.0005
# A rate (bytes over a duration) is given only for a duration at least this long:
# durations are shown to the microsecond, and a shorter one (one packet, or
# frames within one step of a nanosecond clock) measures no rate.
RATE_MIN_DURATION_NS = 1_000
# Largest packet record accepted (Wireshark's standard maximum packet size).
MAX_RECORD_BYTES = 262_144
# Largest pcapng block accepted (section headers may carry long comments).
MAX_BLOCK_BYTES = 16 * 1024 * 1024
# IP fragments: datagrams waiting for their missing pieces at once, oldest dropped first.
MAX_PENDING_DATAGRAMS = 1024
# Link-layer tags (VLAN, MPLS) followed before a frame is called malformed.
MAX_LINK_TAGS = 8
# Nested tunnels (IP in IP, GRE, VXLAN, Geneve ...) followed.
MAX_TUNNEL_DEPTH = 3
# IPv6 extension headers walked before giving up.
MAX_EXTENSION_HEADERS = 16
# Ports below this are system ports: the side on one is the server.
SYSTEM_PORTS = 1024
# Ephemeral (client) port ranges, most widely known first.
EPHEMERAL_RANGES: tuple[tuple[str, int, int], ...] = (
    ("iana", 49152, 65535),
    ("linux", 32768, 60999),
    ("windows_legacy", 1025, 5000),
)
# UDP services whose replies Wireshark files under a conversation of their own
# (SNMP agents answer from a wildcard conversation).
WILDCARD_REPLY_PORTS: tuple[int, ...] = (161,)

# Grading a lab capture (pcapan check): where the capture was taken.
# A handshake faster than this to a global address did not cross the Internet:
# something on the student's own machine or network (a proxy, a VM's NAT) answered.
LOCAL_RTT_S = 0.001
# An initial sequence number below this is not a random one (a random 32-bit
# ISN falls below it once in 65,536): a NAT or proxy that numbers its own side.
TINY_ISN = 65_536
# Initial TTLs (hop limits) of common stacks: a reply arriving with one of them
# unchanged crossed no router.
INITIAL_TTLS: tuple[int, ...] = (64, 128, 255)
# Copies of one capture: submissions sharing at least this many identical TCP
# segments (ports, raw seq and ack, flags, length) ...
COPY_MIN_SHARED = 8
# ... spaced alike, to within this (microsecond timestamps, re-saved files) ...
COPY_TIME_TOLERANCE_S = 2e-6
# ... for this share of the segments they share.
COPY_MIN_ALIGNED = 0.9
# --- which Wireshark's rules the labels follow -------------------------------------

# Wireshark changed some of its TCP analysis between releases; pcapan follows
# the release asked for (analyze(wireshark=...), --wireshark, the environment
# variable below), the current stable one by default.  docs/wireshark-versions.md
# lists every rule that differs.
WIRESHARK_VERSIONS: tuple[str, ...] = ("4.0", "4.4", "4.6")
DEFAULT_WIRESHARK = "4.6"
WIRESHARK_ENV = "PCAPAN_WIRESHARK"
# The compiled stages know a release as MAJOR * 100 + MINOR.
WS_4_0 = 400
WS_4_4 = 404
WS_4_6 = 406


class UnknownWireshark(ValueError):
    """A Wireshark release pcapan has no rules for."""


def wireshark_version(value: str | None = None, environ: dict | None = None) -> str:
    """The Wireshark release whose rules apply: *value*, else the environment's, else the default.

    Raises :class:`UnknownWireshark` naming the known releases for any other.
    """
    if value is None:
        import os

        value = (environ if environ is not None else os.environ).get(WIRESHARK_ENV) or DEFAULT_WIRESHARK
    text = str(value).strip()
    if text not in WIRESHARK_VERSIONS:
        raise UnknownWireshark(f"unknown Wireshark version {text!r}: pcapan knows "
                               f"{', '.join(WIRESHARK_VERSIONS)} (default {DEFAULT_WIRESHARK})")
    return text


def wireshark_code(version: str) -> int:
    """MAJOR * 100 + MINOR, as the compiled stages compare releases."""
    major, minor = version.split(".")
    return int(major) * 100 + int(minor)


# Integer constants the compiled stages are built with (see setup.py).
COMPILED_CONSTANTS = (
    "SEQUENCE_LABELS", "FAST_RETRANSMISSION_NS", "OUT_OF_ORDER_NS", "MAX_UNACKED_SEGMENTS",
    "RECOVERY_WITHIN_NS", "MAX_RECORD_BYTES", "MAX_BLOCK_BYTES", "MAX_PENDING_DATAGRAMS", "MAX_LINK_TAGS",
    "MAX_TUNNEL_DEPTH", "MAX_EXTENSION_HEADERS", "SYSTEM_PORTS",
    "WS_4_0", "WS_4_4", "WS_4_6",
)
