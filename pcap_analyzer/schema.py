"""Every column of the packets and streams tables: name, dtype and meaning.

This is the one place columns are defined.  The tables are put into this
order and these dtypes by :func:`conform`; the README's column reference is
checked against these lists by the tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .vocabulary import STREAM_COUNTED

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    meaning: str


PACKET_COLUMNS: tuple[Column, ...] = (
    Column("frame", "Int64", "1-based frame number, equal to Wireshark's frame.number"),
    Column("time", "datetime64[ns, UTC]", "capture time of the frame (UTC)"),
    Column("time_rel_s", "float64", "seconds since the first frame (frame.time_relative)"),
    Column("iface", "Int64", "capture interface index (pcapng; 0 for pcap)"),
    Column("linktype", "category", "link-layer type of the frame's interface (ethernet, linux_sll2, raw, ...)"),
    Column("cap_len", "Int64", "bytes captured"),
    Column("wire_len", "Int64", "bytes on the wire"),
    Column("proto", "category", "tcp, udp, icmp, icmpv6, arp, ipv4, ipv6 (other IP payload) or other"),
    Column("ip_version", "Int8", "4 or 6; empty when there is no IP header"),
    Column("src", "category", "source IP address"),
    Column("sport", "Int64", "source port (TCP/UDP)"),
    Column("dst", "category", "destination IP address"),
    Column("dport", "Int64", "destination port (TCP/UDP)"),
    Column("stream", "Int64", "stream index per protocol, equal to tcp.stream / udp.stream"),
    Column("from_client", "boolean", "true when the packet was sent by the stream's client"),
    Column("flags", "string", "TCP flags in Wireshark's order, comma-joined (e.g. SYN,ACK)"),
    Column("seq", "Int64", "raw TCP sequence number"),
    Column("ack", "Int64", "raw TCP acknowledgement number"),
    Column("rel_seq", "Int64", "relative sequence number (tcp.seq): 0 at the SYN, 1 at the first byte"),
    Column("rel_ack", "Int64", "relative acknowledgement number (tcp.ack); the raw field when ACK is off"),
    Column("next_rel_seq", "Int64", "relative sequence number after this segment (tcp.nxtseq), SYN/FIN counted"),
    Column("payload_len", "Int64", "TCP/UDP payload bytes (tcp.len / udp.length - 8)"),
    Column("window", "Int64", "raw advertised TCP window field"),
    Column("window_size", "Int64", "advertised window in bytes after window scaling (tcp.window_size)"),
    Column("mss", "Int64", "MSS option (SYN packets)"),
    Column("wscale", "Int64", "window-scale shift option (SYN packets)"),
    Column("dup_ack_num", "Int64", "duplicate ACKs: which duplicate this is (tcp.analysis.duplicate_ack_num)"),
    Column("dup_ack_of", "Int64", "duplicate ACKs: frame of the original ACK (duplicate_ack_frame)"),
    Column("acks_frame", "Int64", "frame of the segment this packet acknowledges (tcp.analysis.acks_frame)"),
    Column("ack_rtt_s", "float64", "round-trip time from that segment to this ACK (tcp.analysis.ack_rtt)"),
    Column("bytes_in_flight", "Int64", "bytes sent and not yet acknowledged (tcp.analysis.bytes_in_flight)"),
    Column("rto_s", "float64", "retransmissions: time since the oldest unacknowledged segment was sent"),
    Column("rto_frame", "Int64", "retransmissions: frame of that segment (tcp.analysis.rto_frame)"),
    Column("asked_frame", "Int64", "retransmissions: the receiver's duplicate ACK that asked for this segment again "
                                   "(loss recovery), or its partial ACK that moved up to it; empty when none did"),
    Column("copy_frame", "Int64", "resends: the latest earlier frame that carried some of the same bytes; empty when "
                                  "no earlier copy was captured (it was lost before the capture point)"),
    Column("since_copy_s", "float64", "resends: seconds since that earlier copy"),
    Column("fin_frame", "Int64", "the FIN a segment follows: for a RST, its sender's own earlier FIN; otherwise "
                                 "the other side's FIN that its ACK acknowledges"),
    Column("initial_rtt_s", "float64", "handshake RTT (tcp.analysis.initial_rtt), from the frame it becomes known"),
    Column("phase", "category", "syn, syn_ack, handshake_ack, data, ack, fin, rst (TCP only)"),
    Column("labels", "category", "semicolon-joined snake_case labels (Wireshark's names where it has one)"),
    Column("ip_checksum", "category", "IPv4 header checksum: good, bad, offloaded, unverified; empty if none"),
    Column("l4_checksum", "category", "TCP/UDP checksum: good, bad, offloaded, unverified; empty if none"),
    Column("fragment", "category", "IP fragments: first / non_first while the datagram is incomplete; reassembled on the frame that completes it, which carries the datagram's TCP/UDP header (as in Wireshark)"),
    Column("malformed", "category", "first layer whose header made no sense (link, ip, ipv6, tcp, udp)"),
    Column("icmp_type", "Int64", "ICMP/ICMPv6 type (icmp.type / icmpv6.type)"),
    Column("icmp_code", "Int64", "ICMP/ICMPv6 code (icmp.code / icmpv6.code)"),
    Column("quoted_proto", "category", "ICMP errors: tcp or udp, the packet the error quotes"),
    Column("quoted_sport", "Int64", "ICMP errors: source port of the quoted packet"),
    Column("quoted_dport", "Int64", "ICMP errors: destination port of the quoted packet"),
    Column("quoted_stream", "Int64", "ICMP errors: the tcp.stream / udp.stream of the quoted packet"),
    Column("comment", "string", "pcapng packet comment, if the file had one"),
    Column("explain", "string", "one plain-language sentence saying what the frame does, from its phase, "
                                "relative numbers, labels and checksum verdicts (pcap_analyzer/explain.py)"),
)

STREAM_COLUMNS: tuple[Column, ...] = (
    Column("proto", "category", "tcp or udp"),
    Column("stream", "Int64", "stream index per protocol (tcp.stream / udp.stream)"),
    Column("client", "string", "client address: the SYN's sender; without a SYN, the side on an ephemeral port"),
    Column("client_port", "Int64", "client port"),
    Column("server", "string", "server address"),
    Column("server_port", "Int64", "server port"),
    Column("service", "string", "well-known service name of the server port, if any"),
    Column("client_port_ephemeral", "boolean", "the client port lies in an ephemeral range"),
    Column("client_port_range", "string", "ranges the client port falls in: iana (49152-65535), linux (32768-60999), windows_legacy (1025-5000)"),
    Column("client_isn", "Int64", "client's initial sequence number (raw)"),
    Column("server_isn", "Int64", "server's initial sequence number (raw)"),
    Column("handshake", "category", "complete, syn_ack_seen, syn_only or not_captured"),
    Column("syn_frame", "Int64", "frame of the client's SYN"),
    Column("syn_ack_frame", "Int64", "frame of the server's SYN-ACK"),
    Column("handshake_ack_frame", "Int64", "frame of the client's ACK completing the handshake"),
    Column("client_packets", "Int64", "packets sent by the client"),
    Column("server_packets", "Int64", "packets sent by the server"),
    Column("client_bytes", "Int64", "payload bytes sent by the client"),
    Column("server_bytes", "Int64", "payload bytes sent by the server"),
    Column("first_frame", "Int64", "first frame of the stream"),
    Column("last_frame", "Int64", "last frame of the stream"),
    Column("start", "datetime64[ns, UTC]", "time of the first packet"),
    Column("end", "datetime64[ns, UTC]", "time of the last packet"),
    Column("duration_s", "float64", "end - start in seconds"),
    Column("conn_state", "category", "Zeek-style connection state (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH)"),
    Column("history", "string", "Zeek-style history: client letters upper case, server lower case (S h A D F R ...)"),
    Column("completeness", "Int64", "Wireshark's tcp.completeness bitmask: 1 SYN, 2 SYN-ACK, 4 ACK, 8 data, 16 FIN, 32 RST"),
    Column("reused_ports", "boolean", "the stream started with a SYN on a four-tuple used before"),
    Column("initial_rtt_s", "float64", "handshake round-trip time: the client's SYN to the first ACK (tcp.analysis.initial_rtt)"),
    Column("client_retransmitted_bytes", "Int64", "payload bytes the client sent again (retransmission label)"),
    Column("server_retransmitted_bytes", "Int64", "payload bytes the server sent again"),
    Column("client_bad_checksums", "Int64", "packets from the client with a wrong IP or TCP/UDP checksum"),
    Column("server_bad_checksums", "Int64", "packets from the server with a wrong IP or TCP/UDP checksum"),
    Column("client_offloaded_checksums", "Int64", "packets from the client whose checksum was left to the NIC (offload)"),
    Column("server_offloaded_checksums", "Int64", "packets from the server whose checksum was left to the NIC (offload)"),
) + tuple(
    Column(f"{who}_{label}", "Int64", f"packets from the {who} labelled {label}")
    for label in STREAM_COUNTED
    for who in ("client", "server")
)


# One row per (frame, label) of every labelled frame (Analysis.events, report csv/json, export).
EVENT_COLUMNS: tuple[Column, ...] = (
    Column("label", "category", "one analysis label of the frame"),
    Column("frame", "Int64", "frame number"),
    Column("proto", "category", "tcp or udp (or the frame's protocol)"),
    Column("stream", "Int64", "stream index per protocol"),
    Column("rel_seq", "Int64", "relative sequence number of the frame"),
    Column("rel_ack", "Int64", "relative acknowledgement number of the frame"),
    Column("meaning", "string", "what the label means"),
)


def texts(column: pd.Series) -> np.ndarray:
    """A text column as an object array, missing values None (object columns are taken as they are:
    the analysis keeps None there)."""
    if column.dtype == object:
        return column.to_numpy()
    return column.to_numpy(dtype=object, na_value=None)


def coded(column: pd.Series) -> tuple[np.ndarray, list]:
    """(a code per row, -1 for missing; the values the codes stand for) of a column of few distinct
    values: a category column's own codes, else its values factorised."""
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), list(column.cat.categories)
    codes, values = pd.factorize(texts(column))
    return codes, list(values)


def categorical(codes: np.ndarray, names: list, index: pd.Index) -> pd.Series:
    """A category column from codes into *names* (repeats allowed, -1 missing): its categories are
    the names in use, sorted and each once (as :func:`.schema.conform` makes them)."""
    import pandas as pd

    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(names)))
    categories = sorted({names[i] for i in used.tolist()})
    where = {name: i for i, name in enumerate(categories)}
    # codes of the width pandas keeps them in (no second copy of a wide array)
    width = np.int8 if len(categories) < 127 else np.int16 if len(categories) < 32767 else np.int32
    remap = np.array([where.get(name, -1) for name in names] + [-1], dtype=width)
    return pd.Series(pd.Categorical.from_codes(remap[codes], categories=pd.Index(categories, dtype=object)
                                               if not categories else pd.Index(categories)), index=index)


def _categorical(s: pd.Series) -> pd.Series:
    """*s* as a category column whose categories are plain str, sorted (as Parquet gives them back)."""
    import pandas as pd

    if s.dtype == object:
        codes, values = pd.factorize(s.to_numpy())   # every kind of missing -> -1
        try:
            return categorical(codes, list(values), s.index)
        except TypeError:   # values that do not sort together
            pass
    return s.astype(object).where(s.notna(), None).astype("category")


def conform(df: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """Return *df* restricted to *columns*, in their order and dtypes."""
    import pandas as pd

    out = {}
    n = len(df)
    for col in columns:
        if col.name in df.columns:
            s = df[col.name]
        else:
            s = pd.Series([None] * n, index=df.index, dtype="object")
        if col.dtype.startswith("datetime64"):
            s = pd.to_datetime(s, utc=True).astype(col.dtype)
        elif col.dtype == "category" and str(s.dtype) != "category":
            s = _categorical(s)
        elif str(s.dtype) != col.dtype:
            s = s.astype(col.dtype)
        out[col.name] = s
    return pd.DataFrame(out, index=df.index, copy=False)   # copy-on-write: no copy needed


def column_names(columns: tuple[Column, ...]) -> list[str]:
    return [c.name for c in columns]
