"""Per-stream facts: who talked to whom, the handshake, Zeek-style state.

The streams table has one row per TCP or UDP stream.  The connection verdict
follows Zeek: each endpoint has a state (inactive, SYN sent, SYN-ACK sent,
partial = seen only mid-stream, established, closed = sent FIN, reset = sent
RST) and ``conn_state`` is a pure function of the two (see
:func:`conn_state`).  ``history`` lists the first occurrence of each event
per side, client letters upper case, server letters lower case.
"""
from __future__ import annotations

import socket
from functools import lru_cache

import numpy as np
import pandas as pd

_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10

# Ephemeral (client) port ranges, most widely known first.
EPHEMERAL_RANGES = (
    ("iana", 49152, 65535),
    ("linux", 32768, 60999),
    ("windows_legacy", 1025, 5000),
)

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


@lru_cache(maxsize=4096)
def service_name(port: int, proto: str = "tcp") -> str | None:
    """Well-known service name of *port* from the system's services database."""
    try:
        return socket.getservbyport(int(port), proto)
    except (OSError, OverflowError, TypeError, ValueError):
        return None


def port_ranges(port: int) -> list[str]:
    """Names of the ephemeral ranges *port* lies in."""
    return [name for name, lo, hi in EPHEMERAL_RANGES if lo <= port <= hi]


def conn_state(orig: int, resp: int, orig_bytes: int, resp_bytes: int, history: str) -> str:
    """Zeek's connection state from the two endpoint states."""
    o_inactive = orig in (INACTIVE, PARTIAL)
    r_inactive = resp in (INACTIVE, PARTIAL)
    if resp == RESET:
        if orig in (SYN_SENT, SYN_ACK_SENT) or (orig == RESET and orig_bytes == 0 and resp_bytes == 0):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if orig == RESET:
        if r_inactive:
            h = history.lstrip("^")
            if h.startswith("S") and "R" in h and not set(h[1:h.index("R")]) & set("HAFGIQ"):
                return "RSTOS0"
            return "OTH"
        return "RSTO"
    if orig == CLOSED and resp == CLOSED:
        return "SF"
    if orig == CLOSED:
        return "SH" if r_inactive else "S2"
    if resp == CLOSED:
        return "SHR" if o_inactive else "S3"
    if orig == SYN_SENT and resp == INACTIVE:
        return "S0"
    if orig == ESTABLISHED and resp == ESTABLISHED:
        return "S1"
    return "OTH"


def walk_rows(flags: np.ndarray, plen: np.ndarray, from_client: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The rows :func:`_tcp_walk` needs to see; the others cannot change its result.

    Between two SYN/FIN/RST segments of a stream (*group*: one integer per
    stream, rows grouped by stream in frame order) a segment changes the
    walk only the first time its kind (ACK flag, payload or not, sender)
    occurs: the endpoint states only move forward there, and the history
    and completeness only gain what was not there.  So every SYN/FIN/RST
    row and the first row of each kind in each stretch are kept.
    """
    special = (flags & (_SYN | _FIN | _RST)) != 0
    stretch = np.cumsum(special)
    kind = np.where(special, 8, ((flags & _ACK) != 0) * 4 + (plen > 0) * 2 + from_client.astype(np.int64))
    key = (group.astype(np.int64) << 40) | (stretch.astype(np.int64) << 4) | kind
    first = np.zeros(len(key), dtype=bool)
    first[np.unique(key, return_index=True)[1]] = True
    return special | first


def _tcp_walk(flags: np.ndarray, plen: np.ndarray, from_client: np.ndarray):
    """Endpoint states, history and completeness of one TCP stream."""
    state = [INACTIVE, INACTIVE]     # 0 = client (originator), 1 = server
    seen: set[str] = set()
    hist: list[str] = []
    completeness = 0
    for f, n, c in zip(flags.tolist(), plen.tolist(), from_client.tolist()):
        e = 0 if c else 1
        letters = []
        if f & _SYN:
            if f & _ACK:
                letters.append("H")
                completeness |= 2
                if state[e] == INACTIVE:
                    state[e] = SYN_ACK_SENT
            else:
                letters.append("S")
                completeness |= 1
                if state[e] == INACTIVE:
                    state[e] = SYN_SENT
        if n > 0:
            letters.append("D")
            completeness |= 8
        if f & _FIN:
            letters.append("F")
            completeness |= 16
        if f & _RST:
            letters.append("R")
            completeness |= 32
        if f & _ACK and not f & (_SYN | _FIN | _RST):
            if n == 0:
                letters.append("A")
            completeness |= 4
        if f & _RST:
            state[e] = RESET
        elif f & _FIN:
            if state[e] != RESET:
                state[e] = CLOSED
        elif not f & _SYN:
            if state[e] == INACTIVE:
                state[e] = PARTIAL
            if f & _ACK and state[0] in (SYN_SENT, SYN_ACK_SENT) and state[1] in (SYN_SENT, SYN_ACK_SENT):
                state[0] = state[1] = ESTABLISHED
            elif state[e] == PARTIAL and state[1 - e] in (PARTIAL, ESTABLISHED):
                state[e] = state[1 - e] = ESTABLISHED if state[1 - e] == ESTABLISHED else state[1 - e]
        for letter in letters:
            key = letter if c else letter.lower()
            if key not in seen:
                seen.add(key)
                hist.append(key)
    return state, "".join(hist), completeness


def stream_table(packets: pd.DataFrame) -> pd.DataFrame:
    """One row per TCP/UDP stream of an analysed packet table."""
    p = packets[packets["stream"].notna() & packets["proto"].isin(["tcp", "udp"])]
    if p.empty:
        return pd.DataFrame()
    proto = p["proto"].astype(str).to_numpy()
    sid = p["stream"].to_numpy(dtype=np.int64)
    # one integer key per (proto, stream), streams in order: tcp first, then udp
    key = np.where(proto == "tcp", 0, 1 << 40) + sid
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    rows = order  # positions in p, grouped by stream, frame order inside

    def col(name, fill=None, dtype=None):
        c = p[name]
        if fill is not None:
            c = c.fillna(fill)
        return c.to_numpy(dtype=dtype)[rows]

    fc = col("from_client", False, bool)
    plen = col("payload_len", 0, np.int64)
    frame = col("frame", dtype=np.int64)
    ts = col("ts_ns", dtype=np.int64)
    src, dst = col("src", dtype=object), col("dst", dtype=object)
    sport, dport = col("sport", 0, np.int64), col("dport", 0, np.int64)
    g_proto = proto[rows][starts]
    first_fc = fc[starts]
    seg = np.repeat(np.arange(len(starts)), ends - starts)
    client_pkts = np.bincount(seg, weights=fc, minlength=len(starts)).astype(np.int64)
    client_bytes = np.bincount(seg, weights=np.where(fc, plen, 0), minlength=len(starts)).astype(np.int64)
    all_bytes = np.bincount(seg, weights=plen, minlength=len(starts)).astype(np.int64)
    client = np.where(first_fc, src[starts], dst[starts])
    server = np.where(first_fc, dst[starts], src[starts])
    cport = np.where(first_fc, sport[starts], dport[starts])
    sport_ = np.where(first_fc, dport[starts], sport[starts])
    ranges = [";".join(port_ranges(int(x))) or None for x in cport]
    table = pd.DataFrame({
        "proto": g_proto, "stream": sid[rows][starts],
        "client": client, "client_port": cport, "server": server, "server_port": sport_,
        "service": [service_name(int(x), str(pr)) for x, pr in zip(sport_, g_proto)],
        "client_port_ephemeral": [r is not None for r in ranges],
        "client_port_range": ranges,
        "client_packets": client_pkts, "server_packets": (ends - starts) - client_pkts,
        "client_bytes": client_bytes, "server_bytes": all_bytes - client_bytes,
        "first_frame": frame[starts], "last_frame": frame[ends - 1],
        "start": pd.to_datetime(ts[starts], unit="ns", utc=True),
        "end": pd.to_datetime(ts[ends - 1], unit="ns", utc=True),
        "duration_s": (ts[ends - 1] - ts[starts]) / 1e9,
    })
    flags = col("tcp_flags", 0, np.int64)
    phase = col("phase", dtype=object)
    seq = col("seq", 0, np.int64)
    reused = col("reused_ports", False, bool)
    n = len(starts)
    walk = walk_rows(flags, plen, fc, seg)
    fields = {k: [None] * n for k in ("client_isn", "server_isn", "syn_frame", "syn_ack_frame",
                                      "handshake_ack_frame", "handshake", "history", "conn_state",
                                      "completeness", "reused_ports")}
    for g in range(n):
        a, b = starts[g], ends[g]
        gfc = fc[a:b]
        if g_proto[g] != "tcp":
            fields["history"][g] = ("D" if gfc.any() else "") + ("d" if (~gfc).any() else "")
            fields["conn_state"][g] = "SF" if gfc.any() and (~gfc).any() else ("S0" if gfc.any() else "SHR")
            continue
        gphase = phase[a:b]
        i_syn = _first((gphase == "syn") & gfc)
        i_sa = _first((gphase == "syn_ack") & ~gfc)
        i_ha = _first(gphase == "handshake_ack")
        if i_syn is not None:
            fields["client_isn"][g], fields["syn_frame"][g] = int(seq[a + i_syn]), int(frame[a + i_syn])
        if i_sa is not None:
            fields["server_isn"][g], fields["syn_ack_frame"][g] = int(seq[a + i_sa]), int(frame[a + i_sa])
        if i_ha is not None:
            fields["handshake_ack_frame"][g] = int(frame[a + i_ha])
        if i_syn is not None and i_sa is not None and i_ha is not None:
            fields["handshake"][g] = "complete"
        elif i_sa is not None:
            fields["handshake"][g] = "syn_ack_seen"
        elif i_syn is not None:
            fields["handshake"][g] = "syn_only"
        else:
            fields["handshake"][g] = "not_captured"
        w = walk[a:b]
        state, history, completeness = _tcp_walk(flags[a:b][w], plen[a:b][w], gfc[w])
        fields["history"][g] = history
        fields["conn_state"][g] = conn_state(state[0], state[1], int(client_bytes[g]),
                                             int(all_bytes[g] - client_bytes[g]), history)
        fields["completeness"][g] = completeness
        fields["reused_ports"][g] = bool(reused[a])
    for k, v in fields.items():
        table[k] = v
    return _add_label_counts(table, p)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _add_label_counts(table: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """Per-direction counts of each analysis label and checksum verdict, retransmitted bytes, initial RTT."""
    from .rules.sequence import SequenceAnalysis

    is_tcp = (table["proto"] == "tcp").to_numpy()
    side = p["from_client"].fillna(False).to_numpy(dtype=bool)
    # row of the streams table each packet belongs to
    tkey = np.where(is_tcp, 0, 1 << 40) + table["stream"].to_numpy(dtype=np.int64)
    pkey = np.where(p["proto"].astype(str).to_numpy() == "tcp", 0, 1 << 40) + p["stream"].to_numpy(dtype=np.int64)
    sorter = np.argsort(tkey)
    row = sorter[np.searchsorted(tkey, pkey, sorter=sorter)]

    def per_stream(values: np.ndarray, who: bool) -> np.ndarray:
        return np.bincount(row, weights=np.where(side == who, values, 0), minlength=len(table)).astype(np.int64)

    # A capture has few distinct label sets: decide membership once per set.
    codes, sets = pd.factorize(p["labels"])
    members = [set(str(v).split(";")) for v in sets]

    def carries(label: str) -> np.ndarray:
        return np.array([label in m for m in members] + [False])[codes].astype(np.int64)   # code -1: none

    def verdict_is(column: str, verdict: str) -> np.ndarray:
        vcodes, values = pd.factorize(p[column])
        return np.array([v == verdict for v in values] + [False])[vcodes]

    extra = {label: (carries(label), False) for label in SequenceAnalysis.labels}
    extra["retransmitted_bytes"] = (carries("retransmission") * p["payload_len"].fillna(0).to_numpy(dtype=np.int64),
                                    False)
    for verdict in ("bad", "offloaded"):
        hit = verdict_is("l4_checksum", verdict) | verdict_is("ip_checksum", verdict)
        extra[f"{verdict}_checksums"] = (hit.astype(np.int64), True)
    for name, (values, all_protos) in extra.items():
        for who, flag in (("client", True), ("server", False)):
            col = pd.array(per_stream(values, flag), dtype="Int64")
            if not all_protos:
                col[~is_tcp] = pd.NA
            table[f"{who}_{name}"] = col
    irtt = np.full(len(table), np.nan)
    vals = p["initial_rtt_s"].to_numpy(dtype=float)
    known = ~np.isnan(vals)
    np.fmax.at(irtt, row[known], vals[known])
    table["initial_rtt_s"] = irtt
    table.loc[~is_tcp, "initial_rtt_s"] = np.nan
    return table
