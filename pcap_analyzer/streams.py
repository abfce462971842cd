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

from . import streams_kernel

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


def assign(packets: pd.DataFrame, compiled: bool = True, carry: StreamCarry | None = None) -> pd.DataFrame:
    """Add ``stream``, ``side``, ``rel_seq``, ``rel_ack`` and ``reused_ports``.

    ``side`` is 0 for packets sent by the endpoint that sorts first in the
    four-tuple and 1 for the other; rules turn it into client/server.
    The compiled walk (``streams_kernel``) is used when numba is there; the
    loop below is its readable reference.  *carry* (compiled walk only)
    continues the numbering of earlier chunks of the same capture.
    """
    if carry is not None or (compiled and streams_kernel.walk is not None):
        return _assign_compiled(packets, carry)
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


def _unknown_length(packets: pd.DataFrame) -> np.ndarray:
    """Rows whose TCP segment length Wireshark does not know (raw numbers shown)."""
    return (packets["tcp_hdr_len"].isna().to_numpy() | packets["payload_len"].isna().to_numpy()
            | (packets["malformed"] == "tcp").fillna(False).to_numpy(dtype=bool)
            | packets["fragment"].isin(["first", "non_first"]).to_numpy())


class StreamCarry:
    """What stream numbering knows after some frames, for walking a capture in chunks.

    The four-tuple of every conversation seen and its id, and per conversation
    the stream it is in now, each side's base sequence number and the SNMP
    reply bookkeeping: memory grows with conversations, not frames.
    """

    def __init__(self) -> None:
        self.ids: dict = {}          # (kind, low addr, low port, high addr, high port) -> conversation id
        self.cur = np.full(0, -1, dtype=np.int64)
        self.base = np.zeros((0, 2), dtype=np.int64)
        self.has = np.zeros((0, 2), dtype=np.bool_)
        self.request_seen = np.zeros(0, dtype=np.bool_)
        self.pending = np.zeros(0, dtype=np.bool_)
        self.counters = np.zeros(3, dtype=np.int64)     # index 1 tcp, 2 udp

    def conversation_ids(self, keys: list) -> np.ndarray:
        """Ids of *keys*, numbering new four-tuples after those seen before."""
        if not keys:
            return np.zeros(0, dtype=np.int64)
        codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
        ids = self.ids
        mapped = np.empty(len(uniques), dtype=np.int64)
        for j, key in enumerate(uniques):
            c = ids.get(key)
            if c is None:
                c = ids[key] = len(ids)
            mapped[j] = c
        self._grow(len(ids))
        return mapped[codes]

    def _grow(self, n: int) -> None:
        old = len(self.cur)
        if n <= old:
            return
        size = max(n, 2 * old)
        self.cur = np.concatenate([self.cur, np.full(size - old, -1, dtype=np.int64)])
        self.base = np.concatenate([self.base, np.zeros((size - old, 2), dtype=np.int64)])
        self.has = np.concatenate([self.has, np.zeros((size - old, 2), dtype=np.bool_)])
        self.request_seen = np.concatenate([self.request_seen, np.zeros(size - old, dtype=np.bool_)])
        self.pending = np.concatenate([self.pending, np.zeros(size - old, dtype=np.bool_)])


def _assign_compiled(packets: pd.DataFrame, carry: StreamCarry | None = None) -> pd.DataFrame:
    carry = carry if carry is not None else StreamCarry()
    n = len(packets)
    proto = packets["proto"].to_numpy(dtype=object)
    has_ports = packets["sport"].notna().to_numpy()
    kind = np.where(has_ports & (proto == "tcp"), 1, np.where(has_ports & (proto == "udp"), 2, 0))
    src = packets["src"].to_numpy(dtype=object)
    dst = packets["dst"].to_numpy(dtype=object)
    sport = packets["sport"].fillna(0).to_numpy(dtype=np.int64)
    dport = packets["dport"].fillna(0).to_numpy(dtype=np.int64)
    other = packets["other_flow"].to_numpy(dtype=object)
    orows = np.flatnonzero(pd.notna(other))
    # canonical four-tuples, as in _side: the endpoint that sorts first is side 0.
    # Addresses are compared through their rank among the distinct addresses
    # (the same order as comparing the texts), four-tuples factorised as integers.
    rows = np.flatnonzero(kind > 0)
    m = len(rows)
    a_src, a_dst = src[rows], dst[rows]
    addr_codes, addrs = pd.factorize(np.concatenate([a_src, a_dst]))
    rank = np.full(len(addrs) + 1, -1, dtype=np.int64)      # the last entry: a missing address (code -1)
    rank[np.argsort(np.asarray(addrs, dtype=object), kind="stable")] = np.arange(len(addrs))
    r_src, r_dst = rank[addr_codes[:m]], rank[addr_codes[m:]]
    p_src, p_dst = sport[rows], dport[rows]
    first = (r_src < r_dst) | ((r_src == r_dst) & (p_src <= p_dst))
    side = np.full(n, -1, dtype=np.int64)
    side[rows] = np.where(first, 0, 1)
    lo = np.where(first, r_src, r_dst) * 65536 + np.where(first, p_src, p_dst)
    hi = np.where(first, r_dst, r_src) * 65536 + np.where(first, p_dst, p_src)
    lo_codes, lo_uniq = pd.factorize((kind[rows].astype(np.int64) << 50) | lo)
    hi_codes, hi_uniq = pd.factorize(hi)
    row_codes, uniq = pd.factorize(lo_codes.astype(np.int64) * max(len(hi_uniq), 1) + hi_codes)
    # each distinct four-tuple once, in words, for the ids carried between chunks
    at = first_rows(row_codes, None, len(uniq))
    r = rows[at]
    f = first[at]
    keys = list(zip(kind[r].tolist(), np.where(f, src[r], dst[r]).tolist(),
                    np.where(f, sport[r], dport[r]).tolist(), np.where(f, dst[r], src[r]).tolist(),
                    np.where(f, dport[r], sport[r]).tolist()))
    okind = np.zeros(n, dtype=np.int64)
    for i in orows.tolist():
        qproto, qsrc, qsport, qdst, qdport = other[i]
        (lo_end, hi_end), _s = _side(qsrc, qsport, qdst, qdport)
        okind[i] = 1 if qproto == "tcp" else 2
        keys.append((int(okind[i]), lo_end[0], int(lo_end[1]), hi_end[0], int(hi_end[1])))
    ids = carry.conversation_ids(keys)
    codes = np.concatenate([ids[:len(uniq)][row_codes], ids[len(uniq):]])
    conv = np.zeros(n, dtype=np.int64)
    oconv = np.zeros(n, dtype=np.int64)
    conv[rows] = codes[:len(rows)]
    oconv[orows] = codes[len(rows):]
    stream = np.full(n, -1, dtype=np.int64)
    rel_seq = np.full(n, -1, dtype=np.int64)
    rel_ack = np.full(n, -1, dtype=np.int64)
    reused = np.zeros(n, dtype=bool)
    streams_kernel.walk(kind.astype(np.int64), conv, side, packets["tcp_flags"].fillna(0).to_numpy(dtype=np.int64),
                        packets["seq"].fillna(0).to_numpy(dtype=np.int64),
                        packets["ack"].fillna(0).to_numpy(dtype=np.int64),
                        ~_unknown_length(packets), sport, dport, okind, oconv,
                        carry.cur, carry.base, carry.has, carry.request_seen, carry.pending, carry.counters,
                        stream, rel_seq, rel_ack, reused)
    return _finish(packets, stream, side, rel_seq, rel_ack, reused)

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


class RoleCarry(dict):
    """Who is the client of each stream so far: (proto, stream) -> (evidence, client side).

    Evidence ranks the rules of :func:`roles`: 3 a SYN, 2 a SYN-ACK, 1 the
    ports of the first packet.  A chunk of a capture may raise the evidence
    (a SYN seen later wins) but never lowers it.  ``changed`` lists the
    streams whose client a later chunk turned round (earlier frames were
    then analysed with the other side as client); :meth:`decided` gives the
    final answers to start a second pass with.
    """

    def __init__(self) -> None:
        super().__init__()
        self.changed: set = set()

    def decided(self, keys) -> "RoleCarry":
        """A carry that fixes the client of *keys* as decided here."""
        out = RoleCarry()
        for k in keys:
            out[k] = (_GIVEN, self[k][1])
        return out


_GIVEN, _BY_SYN, _BY_SYN_ACK, _BY_PORTS = 4, 3, 2, 1


def first_rows(codes: np.ndarray, mask: np.ndarray | None, groups: int) -> np.ndarray:
    """Per group, the first row (of those in *mask*, default all) whose code is that group; -1 for none."""
    rows = np.arange(len(codes)) if mask is None else np.flatnonzero(mask)
    out = np.full(groups, -1, dtype=np.int64)
    groups_hit, first = np.unique(codes[rows], return_index=True)
    out[groups_hit] = rows[first]
    return out


def roles(packets: pd.DataFrame, service_name, carry: RoleCarry | None = None) -> pd.DataFrame:
    """Add ``from_client``: who opened each stream.

    The client is the sender of the first SYN (without ACK); else the
    receiver of the first SYN-ACK; else, for streams caught mid-way and for
    UDP, the side whose port does not look like a server's (system port,
    known service, then the lower port); else the first sender.  With a
    *carry*, the decisions of earlier chunks of the capture are taken up.
    """
    carry = carry if carry is not None else RoleCarry()
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
        syn_side = np.where(syn_pos >= 0, side[syn_pos], -1).tolist()
        synack_side = np.where(synack_pos >= 0, side[synack_pos], -1).tolist()
        for c, k in enumerate(uniques.tolist()):
            key = ("tcp" if k < (1 << 40) else "udp", k & ((1 << 40) - 1))
            rank, who = before = carry.get(key, (0, -1))
            if rank < _BY_SYN and syn_side[c] >= 0:
                rank, who = _BY_SYN, syn_side[c]
            if rank < _BY_SYN_ACK and synack_side[c] >= 0:
                rank, who = _BY_SYN_ACK, 1 - synack_side[c]
            if rank < _BY_PORTS:
                f = first_pos[c]
                # ports of side 0 / side 1 from the first packet
                p_side0, p_side1 = (sport[f], dport[f]) if side[f] == 0 else (dport[f], sport[f])
                srv = _server_side_by_ports(int(p_side0), int(p_side1), service_name)
                rank, who = _BY_PORTS, side[f] if srv is None else 1 - srv
            if before[1] >= 0 and who != before[1]:
                carry.changed.add(key)
            carry[key] = (rank, int(who))
            client[c] = who
        from_client[valid] = side == client[codes]
    out["from_client"] = pd.array(from_client, dtype="boolean")
    out.loc[~valid, "from_client"] = pd.NA
    return out
