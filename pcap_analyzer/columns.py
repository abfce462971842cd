"""The integer columns the compiled stages hand each other, a chunk of frames at a time.

Framing and decoding fill :data:`FRAME` (one row per field, one column per
frame; -1 for a missing value, text values as codes of
:mod:`.vocabulary`'s lists or of the address table); the TCP analysis fills
:data:`ANALYSIS` and :data:`TIMES`.  :mod:`.tables` turns them into the
packets and streams tables.  ``setup.py`` writes these names into the
compiled stages' constants (``IN_FRAME``, ``OUT_STREAM``, ``T_ACK_RTT_S``
...), so the order here is the only place it is decided.

Like :mod:`.vocabulary`, this module imports nothing.
"""
from __future__ import annotations

FRAME: tuple[str, ...] = (
    "frame", "ts_ns", "cap_len", "wire_len", "iface", "linktype_id",
    "proto", "ip_version", "src", "dst", "sport", "dport",
    "tcp_flags", "seq", "ack", "window", "payload_len", "tcp_hdr_len", "mss", "wscale", "sack_perm", "sack_bytes",
    "ip_checksum", "l4_checksum", "fragment", "truncated", "malformed",
    # the SACK blocks (at most four), each its left edge << 32 | its right edge (as 64 bits)
    "sack_block_1", "sack_block_2", "sack_block_3", "sack_block_4",
    # a second flow the frame is filed under (the packet an ICMP error quotes, a
    # tunnel's outer UDP): 0 none, 1 tcp, 2 udp, then its four-tuple
    "other_kind", "other_src", "other_sport", "other_dst", "other_dport",
    "icmp_type", "icmp_code",
    "comment",          # index into the chunk's comments (-1: none)
)
ANALYSIS: tuple[str, ...] = (
    "stream", "side", "rel_seq", "rel_ack", "next_rel_seq", "phase", "labels",
    "dup_ack_num", "dup_ack_of", "acks_frame", "bytes_in_flight", "rto_frame", "asked_frame", "copy_frame", "fin_frame",
    "other_stream",
    "window_size",
    "ip_checksum", "l4_checksum",
)
TIMES: tuple[str, ...] = ("ack_rtt_s", "rto_s", "since_copy_s", "initial_rtt_s")

# The prefix of each list's constants in the compiled stages.
PREFIXES = (("IN_", FRAME), ("OUT_", ANALYSIS), ("T_", TIMES))
