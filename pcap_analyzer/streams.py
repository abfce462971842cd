"""Stream identity: Wireshark-compatible ``tcp.stream`` / ``udp.stream`` indexes.

A stream is a bidirectional four-tuple, numbered per protocol in order of
first appearance.  TCP adds one twist, as Wireshark 4.0 does: a SYN (without
ACK) whose sequence number differs from the initial sequence number already
recorded for that side of the four-tuple starts a *new* stream on the same
ports (port reuse), labelled ``reused_ports``.

Relative sequence numbers live here too because they depend on the same
per-side state: the base of a side is its SYN's sequence number, or one less
than the first sequence number seen from it, or one less than the first
acknowledgement number the other side sent it -- whichever comes first.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

_MASK = 0xFFFFFFFF
_SYN, _ACK = 0x02, 0x10
# UDP services whose Wireshark dissector opens a second conversation for the
# reply (SNMP agents), giving replies and everything after them a new index.
_WILDCARD_REPLY_PORTS = frozenset((161,))


def _side(src, sport, dst, dport):
    """Canonical key of a four-tuple and which side (0/1) the sender is."""
    a, b = (src, sport), (dst, dport)
    if a <= b:
        return (a, b), 0
    return (b, a), 1


def assign(packets: pd.DataFrame) -> pd.DataFrame:
    """Add ``stream``, ``side``, ``rel_seq``, ``rel_ack`` and ``reused_ports``.

    ``side`` is 0 for packets sent by the endpoint that sorts first in the
    four-tuple and 1 for the other; rules turn it into client/server.
    """
    n = len(packets)
    stream = np.full(n, -1, dtype=np.int64)
    side = np.full(n, -1, dtype=np.int8)
    rel_seq = np.full(n, -1, dtype=np.int64)
    rel_ack = np.full(n, -1, dtype=np.int64)
    reused = np.zeros(n, dtype=bool)

    proto = packets["proto"].to_numpy()
    has_ports = packets["sport"].notna().to_numpy()
    src = packets["src"].to_numpy()
    dst = packets["dst"].to_numpy()
    sport = packets["sport"].to_numpy()
    dport = packets["dport"].to_numpy()
    flags = packets["tcp_flags"].to_numpy()
    seq = packets["seq"].to_numpy()
    ack = packets["ack"].to_numpy()
    # Wireshark does not know the segment length of a malformed header or of
    # an IP fragment, and then shows raw numbers and sets no base.
    malformed_tcp = ((packets["malformed"] == "tcp").fillna(False).to_numpy(dtype=bool)
                     | packets["fragment"].isin(["first", "non_first"]).to_numpy())

    hdr_len = packets["tcp_hdr_len"].to_numpy()
    plen = packets["payload_len"].to_numpy()
    other_flow = packets["other_flow"].to_numpy()

    tcp_convs: dict = {}   # key -> [stream index, base of side 0, base of side 1]
    udp_convs: dict = {}
    counters = {"tcp": 0, "udp": 0}
    snmp_pending: set = set()

    def conversation(table: dict, proto: str, key):
        conv = table.get(key)
        if conv is None:
            conv = table[key] = [counters[proto], None, None]
            counters[proto] += 1
        return conv

    candidates = has_ports & ((proto == "tcp") | (proto == "udp"))
    candidates |= pd.notna(other_flow)
    for i in np.flatnonzero(candidates):
        q = other_flow[i]
        if q is not None and q is not pd.NA:
            # Wireshark also files this frame under a second flow -- the one an
            # ICMP error quotes, or a tunnel's outer UDP -- creating it if new,
            # so the numbers of later streams depend on it.
            qproto, qsrc, qsport, qdst, qdport = q
            qkey, _ = _side(qsrc, qsport, qdst, qdport)
            conversation(tcp_convs if qproto == "tcp" else udp_convs, qproto, qkey)
            if not has_ports[i]:
                continue
        key, s = _side(src[i], int(sport[i]), dst[i], int(dport[i]))
        side[i] = s
        if proto[i] == "udp":
            conv = conversation(udp_convs, "udp", key)
            if key in snmp_pending and int(sport[i]) in _WILDCARD_REPLY_PORTS:
                # Wireshark's SNMP dissector registers its own conversation for
                # the reply, which then gets a stream number of its own.
                snmp_pending.discard(key)
                conv = udp_convs[key] = [counters["udp"], True, None]
                counters["udp"] += 1
            elif int(dport[i]) in _WILDCARD_REPLY_PORTS and conv[1] is None:
                snmp_pending.add(key)
                conv[1] = True   # marks "request seen": only the first one counts
            stream[i] = conv[0]
            continue
        f = int(flags[i])
        sq = int(seq[i])
        conv = conversation(tcp_convs, "tcp", key)
        if f & (_SYN | _ACK) == _SYN and conv[1 + s] is not None and sq != conv[1 + s]:
            conv = tcp_convs[key] = [counters["tcp"], None, None]
            counters["tcp"] += 1
            reused[i] = True
        elif f & (_SYN | _ACK) == (_SYN | _ACK) and conv[1 + s] is not None and sq != conv[1 + s]:
            # A SYN-ACK with a new ISN: same stream, new base (Wireshark 4.0).
            conv[1 + s] = sq
            reused[i] = True
        stream[i] = conv[0]
        ak = int(ack[i])
        h = hdr_len[i]
        if h is None or h is pd.NA or plen[i] is None or plen[i] is pd.NA or malformed_tcp[i]:
            # Segment length unknown: Wireshark shows the raw numbers.
            rel_seq[i] = sq
            rel_ack[i] = ak
            continue
        if conv[1 + s] is None:
            conv[1 + s] = sq if f & _SYN else (sq - 1) & _MASK
        rel_seq[i] = (sq - conv[1 + s]) & _MASK
        if f & _ACK:
            if conv[2 - s] is None:
                conv[2 - s] = (ak - 1) & _MASK
            rel_ack[i] = (ak - conv[2 - s]) & _MASK
        else:
            rel_ack[i] = ak   # Wireshark shows the raw field when ACK is off

    return _finish(packets, stream, side, rel_seq, rel_ack, reused)


def _finish(packets, stream, side, rel_seq, rel_ack, reused) -> pd.DataFrame:
    proto = packets["proto"].to_numpy()
    out = packets.copy(deep=False)
    tcp_rows = (proto == "tcp") & (stream >= 0)
    f = packets["tcp_flags"].to_numpy(dtype=np.int64, na_value=0)
    syn_fin = ((f & _SYN) != 0).astype(np.int64) + ((f & 0x01) != 0).astype(np.int64)
    plen = packets["payload_len"]
    plen_missing = plen.isna().to_numpy()
    values = np.where(tcp_rows, rel_seq, 0)
    out["stream"] = pd.arrays.IntegerArray(np.where(stream >= 0, stream, 0), stream < 0)
    out["side"] = pd.arrays.IntegerArray(np.where(side >= 0, side, 0).astype(np.int8), side < 0)
    out["rel_seq"] = pd.arrays.IntegerArray(values, ~tcp_rows)
    out["rel_ack"] = pd.arrays.IntegerArray(np.where(tcp_rows, rel_ack, 0), ~tcp_rows)
    following = (values + plen.to_numpy(dtype=np.int64, na_value=0) + syn_fin) % (1 << 32)
    out["next_rel_seq"] = pd.arrays.IntegerArray(following, ~tcp_rows | plen_missing)
    out["reused_ports"] = reused
    return out


# Ports below this are system ports: on them a server listens.
_SYSTEM_PORTS = 1024


def _server_side_by_ports(port0: int, port1: int, service_name) -> int | None:
    """Which side (0/1) looks like the server from its port alone, if any."""
    low0, low1 = port0 < _SYSTEM_PORTS, port1 < _SYSTEM_PORTS
    if low0 != low1:
        return 0 if low0 else 1
    svc0, svc1 = service_name(port0) is not None, service_name(port1) is not None
    if svc0 != svc1:
        return 0 if svc0 else 1
    if port0 != port1:
        return 0 if port0 < port1 else 1
    return None


def first_rows(codes: np.ndarray, mask: np.ndarray | None, groups: int) -> np.ndarray:
    """Per group, the first row (of those in *mask*, default all) whose code is that group; -1 for none."""
    rows = np.arange(len(codes)) if mask is None else np.flatnonzero(mask)
    out = np.full(groups, -1, dtype=np.int64)
    groups_hit, first = np.unique(codes[rows], return_index=True)
    out[groups_hit] = rows[first]
    return out


def roles(packets: pd.DataFrame, service_name) -> pd.DataFrame:
    """Add ``from_client``: who opened each stream.

    The client is the sender of the first SYN (without ACK); else the
    receiver of the first SYN-ACK; else, for streams caught mid-way and for
    UDP, the side whose port does not look like a server's (system port,
    known service, then the lower port); else the first sender.
    """
    out = packets.copy(deep=False)
    valid = out["stream"].notna().to_numpy()
    sub = out.loc[valid, ["proto", "stream", "side", "tcp_flags", "sport", "dport"]]
    from_client = np.zeros(len(out), dtype=bool)
    if len(sub):
        proto = sub["proto"].to_numpy(dtype=object)
        stream = sub["stream"].to_numpy(dtype=np.int64)
        # one integer per (protocol, stream); stream numbers are per protocol
        codes, uniques = pd.factorize(np.where(proto == "tcp", 0, 1 << 40) + stream)
        flags = sub["tcp_flags"].fillna(0).astype(np.int64).to_numpy()
        side = sub["side"].astype(np.int64).to_numpy()
        is_tcp = proto == "tcp"
        syn = is_tcp & ((flags & (_SYN | _ACK)) == _SYN)
        synack = is_tcp & ((flags & (_SYN | _ACK)) == (_SYN | _ACK))
        first_pos, syn_pos, synack_pos = (first_rows(codes, mask, len(uniques))
                                          for mask in (None, syn, synack))
        sport = sub["sport"].astype(np.int64).to_numpy()
        dport = sub["dport"].astype(np.int64).to_numpy()
        client = np.empty(len(uniques), dtype=np.int64)
        for c in range(len(uniques)):
            if syn_pos[c] >= 0:
                client[c] = side[syn_pos[c]]
            elif synack_pos[c] >= 0:
                client[c] = 1 - side[synack_pos[c]]
            else:
                f = first_pos[c]
                # ports of side 0 / side 1 from the first packet
                p_side0, p_side1 = (sport[f], dport[f]) if side[f] == 0 else (dport[f], sport[f])
                srv = _server_side_by_ports(int(p_side0), int(p_side1), service_name)
                client[c] = side[f] if srv is None else 1 - srv
        from_client[valid] = side == client[codes]
    out["from_client"] = pd.array(from_client, dtype="boolean")
    out.loc[~valid, "from_client"] = pd.NA
    return out
