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
    rows = []
    frame = p["frame"].to_numpy()
    time = p["time"]
    ts = p["ts_ns"].to_numpy()
    for (proto, sid), g in p.groupby(["proto", "stream"], sort=True, observed=True):
        idx = g.index
        pos = p.index.get_indexer(idx)
        fc = g["from_client"].fillna(False).to_numpy(dtype=bool)
        first = g.iloc[0]
        if fc[0]:
            client, cport, server, sport_ = first["src"], first["sport"], first["dst"], first["dport"]
        else:
            client, cport, server, sport_ = first["dst"], first["dport"], first["src"], first["sport"]
        plen = g["payload_len"].fillna(0).to_numpy(dtype=np.int64)
        row = {
            "proto": proto, "stream": int(sid),
            "client": client, "client_port": int(cport),
            "server": server, "server_port": int(sport_),
            "service": service_name(int(sport_), str(proto)),
            "client_port_ephemeral": bool(port_ranges(int(cport))),
            "client_port_range": ";".join(port_ranges(int(cport))) or None,
            "client_packets": int(fc.sum()), "server_packets": int((~fc).sum()),
            "client_bytes": int(plen[fc].sum()), "server_bytes": int(plen[~fc].sum()),
            "first_frame": int(frame[pos[0]]), "last_frame": int(frame[pos[-1]]),
            "start": time.iloc[pos[0]], "end": time.iloc[pos[-1]],
            "duration_s": (int(ts[pos[-1]]) - int(ts[pos[0]])) / 1e9,
        }
        if proto == "tcp":
            flags = g["tcp_flags"].fillna(0).to_numpy(dtype=np.int64)
            phase = g["phase"].to_numpy()
            seq = g["seq"].to_numpy()

            def first_of(mask):
                hits = np.flatnonzero(mask)
                return (int(hits[0]) if len(hits) else None)

            i_syn = first_of((phase == "syn") & fc)
            i_sa = first_of((phase == "syn_ack") & ~fc)
            i_ha = first_of(phase == "handshake_ack")
            row["client_isn"] = int(seq[i_syn]) if i_syn is not None else None
            row["server_isn"] = int(seq[i_sa]) if i_sa is not None else None
            row["syn_frame"] = int(g["frame"].iloc[i_syn]) if i_syn is not None else None
            row["syn_ack_frame"] = int(g["frame"].iloc[i_sa]) if i_sa is not None else None
            row["handshake_ack_frame"] = int(g["frame"].iloc[i_ha]) if i_ha is not None else None
            if i_syn is not None and i_sa is not None and i_ha is not None:
                row["handshake"] = "complete"
            elif i_sa is not None:
                row["handshake"] = "syn_ack_seen"
            elif i_syn is not None:
                row["handshake"] = "syn_only"
            else:
                row["handshake"] = "not_captured"
            state, history, completeness = _tcp_walk(flags, plen, fc)
            row["history"] = history
            row["conn_state"] = conn_state(state[0], state[1], row["client_bytes"], row["server_bytes"], history)
            row["completeness"] = completeness
            row["reused_ports"] = bool(g["reused_ports"].iloc[0])
        else:
            row["history"] = ("D" if fc.any() else "") + ("d" if (~fc).any() else "")
            row["conn_state"] = "SF" if fc.any() and (~fc).any() else ("S0" if fc.any() else "SHR")
        rows.append(row)
    table = pd.DataFrame(rows)
    return _add_label_counts(table, p)


def _add_label_counts(table: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """Per-direction counts of each analysis label and checksum verdict, retransmitted bytes, initial RTT."""
    from .rules.sequence import SequenceAnalysis

    tcp = p[p["proto"] == "tcp"]
    keys = [tcp["stream"], tcp["from_client"].fillna(False)]
    labels = tcp["labels"].fillna("")
    extra = {}
    for label in SequenceAnalysis.labels:
        hit = labels.str.contains(rf"(?:^|;){label}(?:;|$)", regex=True)
        extra[label] = hit.groupby(keys).sum()
    resent = labels.str.contains(r"(?:^|;)retransmission(?:;|$)", regex=True)
    extra["retransmitted_bytes"] = tcp["payload_len"].fillna(0).where(resent, 0).groupby(keys).sum()
    for verdict in ("bad", "offloaded"):
        hit = (p["l4_checksum"].astype("string") == verdict) | (p["ip_checksum"].astype("string") == verdict)
        extra[f"{verdict}_checksums"] = hit.fillna(False).groupby(
            [p["proto"].astype(str), p["stream"], p["from_client"].fillna(False)]).sum()
    irtt = tcp.groupby("stream")["initial_rtt_s"].max() if "initial_rtt_s" in tcp else pd.Series(dtype=float)
    is_tcp = table["proto"] == "tcp"
    for name, counts in extra.items():
        per_proto = name.endswith("_checksums")
        for who, flag in (("client", True), ("server", False)):
            col = np.zeros(len(table), dtype=np.int64)
            for i in range(len(table)):
                if per_proto:
                    col[i] = int(counts.get((table["proto"].iat[i], table["stream"].iat[i], flag), 0))
                elif is_tcp.iat[i]:
                    col[i] = int(counts.get((table["stream"].iat[i], flag), 0))
            table[f"{who}_{name}"] = pd.array(col, dtype="Int64")
            if not per_proto:
                table.loc[~is_tcp, f"{who}_{name}"] = pd.NA
    table["initial_rtt_s"] = table["stream"].map(irtt).where(is_tcp)
    return table
