"""The compiled stages' columns as pcapan's tables: packets and streams, in the schema's dtypes.

:func:`packets_table` makes the packets table of analysed frames (a
:class:`.pipeline.Chunk` settled by the run's :class:`.pipeline.Ending`);
:func:`streams_table` the streams table of a finished run: the stages count
everything per *side* of a stream, and here the sides become client and
server, Zeek's two endpoint states become ``conn_state``, and the senders
found to offload their checksums have their wrong checksums counted as
offloaded.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema
from .capture.info import CaptureInfo, linktype_name
from .pipeline import IN, OUT, TIMES, Chunk, Ending, Run
from .ports import range_names, service_name
from .schema import categorical
from .tcp._facts import HISTORY_LETTERS
from .tcp._flows import FLOW_FIELDS
from .vocabulary import FRAGMENTS, LABEL_NAMES, LAYERS, PHASES, PROTOS, STREAM_COUNTED, VERDICTS

_FLAG_NAMES = (  # Wireshark's order of the flag bits in its summary line
    (0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"),
    (0x10, "ACK"), (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"), (0x100, "NS"),
)
# Every combination of the nine flag bits, spelled once.
FLAG_TEXT = np.array([",".join(name for bit, name in _FLAG_NAMES if v & bit) for v in range(512)], dtype=object)
# Coded values whose code 0 means "none": a missing category.
_INT64_MAX = np.iinfo(np.int64).max


def nullable(a: np.ndarray, dtype=np.int64) -> pd.arrays.IntegerArray:
    """Integers with -1 for missing, as a nullable column (no copy: the values under the mask do not count)."""
    return pd.arrays.IntegerArray(a.astype(dtype, copy=False), a < 0)


def label_texts(bits: np.ndarray) -> tuple[np.ndarray, list]:
    """(code per row, -1 for no label; the semicolon-joined label set of each code)."""
    codes, sets = pd.factorize(bits)
    texts = [";".join(name for b, name in enumerate(LABEL_NAMES) if int(m) >> b & 1) for m in sets.tolist()]
    empty = np.array([not t for t in texts] + [True])
    return np.where(empty[codes], -1, codes), texts


def label_column(bits: np.ndarray, index: pd.Index) -> pd.Series:
    codes, texts = label_texts(bits)
    return categorical(codes, texts, index)


def none_first(codes: np.ndarray, names: tuple, index: pd.Index) -> pd.Series:
    """A category column of codes into *names* whose code 0 means none (missing)."""
    return categorical(np.where(codes <= 0, -1, codes), ["-"] + [str(v) for v in names[1:]], index)


def flag_column(flags: np.ndarray):
    """The ``flags`` text column (string dtype) of raw TCP flag bits (-1 for none)."""
    import pyarrow as pa

    texts = pa.array(list(FLAG_TEXT), type=pa.large_string())
    taken = texts.take(pa.array(flags & 0x1FF, mask=flags < 0))
    return pd.array(taken, dtype="string")


def times_column(ts_ns: np.ndarray, info: CaptureInfo, index: pd.Index) -> pd.Series:
    """Capture times as dates (UTC); empty where a date cannot hold them (beyond 1677-2262)."""
    base = info.time_base_ns
    if not base:
        return pd.Series(pd.to_datetime(ts_ns, unit="ns", utc=True), index=index)
    whole = ts_ns.astype(object) + base
    fits = np.array([-_INT64_MAX <= v <= _INT64_MAX for v in whole], dtype=bool) if len(whole) else np.zeros(0, bool)
    values = np.where(fits, whole, 0).astype(np.int64)
    out = pd.Series(pd.to_datetime(values, unit="ns", utc=True), index=index)
    out[~fits] = pd.NaT
    return out


def comment_column(n: int, comments: dict):
    """The comment column of *n* frames: *comments* maps a row to its text, the rest missing."""
    column = pd.array([None], dtype="string").take(np.zeros(n, dtype=np.intp))
    if comments:
        column[list(comments)] = list(comments.values())
    return column


def packets_table(c: Chunk, ending: Ending, info: CaptureInfo, first_ts: int | None) -> pd.DataFrame:
    """The packets table (schema columns and dtypes, without ``explain``) of settled columns.

    The integer columns are views of the chunk's arrays.
    """
    i, o, t = c.inp, c.out, c.times
    n = i.shape[1]
    index = pd.RangeIndex(n)

    def inp(name):
        return i[IN[name]]

    def out(name):
        return o[OUT[name]]

    lt = inp("linktype_id")
    if n and (lt == lt[0]).all():
        linktypes, lt_codes = np.array([lt[0]]), np.zeros(n, dtype=np.int64)
    else:
        linktypes, lt_codes = np.unique(lt, return_inverse=True)
    fc = ending.from_client(i, o)
    addresses = ending.addresses
    first = first_ts if first_ts is not None else 0
    cols = {
        "frame": nullable(inp("frame")),
        "time": times_column(inp("ts_ns"), info, index),
        "time_rel_s": (inp("ts_ns") - first) / 1e9,
        "iface": nullable(inp("iface")),
        "linktype": categorical(lt_codes.astype(np.int64), [linktype_name(int(v)) for v in linktypes], index),
        "cap_len": nullable(inp("cap_len")),
        "wire_len": nullable(inp("wire_len")),
        "proto": categorical(inp("proto"), list(PROTOS), index),
        "ip_version": nullable(inp("ip_version"), np.int8),
        "src": categorical(inp("src"), addresses, index),
        "sport": nullable(inp("sport")),
        "dst": categorical(inp("dst"), addresses, index),
        "dport": nullable(inp("dport")),
        "stream": nullable(out("stream")),
        "from_client": pd.arrays.BooleanArray(fc == 1, fc < 0),
        "flags": flag_column(inp("tcp_flags")),
        "seq": nullable(inp("seq")),
        "ack": nullable(inp("ack")),
        "rel_seq": nullable(out("rel_seq")),
        "rel_ack": nullable(out("rel_ack")),
        "next_rel_seq": nullable(out("next_rel_seq")),
        "payload_len": nullable(inp("payload_len")),
        "window": nullable(inp("window")),
        "window_size": nullable(out("window_size")),
        "mss": nullable(inp("mss")),
        "wscale": nullable(inp("wscale")),
        "dup_ack_num": nullable(out("dup_ack_num")),
        "dup_ack_of": nullable(out("dup_ack_of")),
        "acks_frame": nullable(out("acks_frame")),
        "ack_rtt_s": t[TIMES["ack_rtt_s"]],
        "bytes_in_flight": nullable(out("bytes_in_flight")),
        "rto_s": t[TIMES["rto_s"]],
        "rto_frame": nullable(out("rto_frame")),
        "asked_frame": nullable(out("asked_frame")),
        "initial_rtt_s": t[TIMES["initial_rtt_s"]],
        "phase": categorical(out("phase"), list(PHASES), index),
        "labels": label_column(out("labels"), index),
        "ip_checksum": none_first(out("ip_checksum"), VERDICTS, index),
        "l4_checksum": none_first(out("l4_checksum"), VERDICTS, index),
        "fragment": none_first(inp("fragment"), FRAGMENTS, index),
        "malformed": none_first(inp("malformed"), LAYERS, index),
        "comment": comment_column(n, c.comments),
    }
    return pd.DataFrame(cols, index=index, copy=False)


def accepted_streams(run: Run) -> np.ndarray:
    """The TCP streams that had a SYN-ACK (a RST is then no refusal of the connection)."""
    flows = dict(zip(FLOW_FIELDS, run.analyser.flows.table(1)))
    if not len(flows["stream"]):
        return np.zeros(0, dtype=np.int64)
    facts = run.analyser.facts.table(1, np.ascontiguousarray(flows["stream"]))
    return flows["stream"][(facts["sa_frame"] >= 0).any(axis=1)]


# --- the streams table -------------------------------------------------------------------

# Zeek's endpoint states (tcp/_facts.pyx walks them)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)


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


def _roles(per_side: np.ndarray, client: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(client's, server's) values of a [stream, side] array."""
    rows = np.arange(len(client))
    return per_side[rows, client], per_side[rows, 1 - client]


def _kind_table(run: Run, ending: Ending, kind: int) -> dict | None:
    flows = dict(zip(FLOW_FIELDS, run.analyser.flows.table(kind)))
    if not len(flows["stream"]):
        return None
    facts = run.analyser.facts.table(kind, np.ascontiguousarray(flows["stream"]))
    client = flows["client_side"].astype(np.int64)
    client[client < 0] = flows["first_side"][client < 0]
    first_is_client = flows["first_side"] == client
    _settle_checksums(facts, flows, ending)
    return {"flows": flows, "facts": facts, "client": client, "first_is_client": first_is_client, "kind": kind}


def _settle_checksums(facts: dict, flows: dict, ending: Ending) -> None:
    """Wrong TCP/UDP checksums of offloading senders counted as offloaded (in place)."""
    if not len(ending.offloaders):
        return
    offloads = set(ending.offloaders.tolist())
    for side in (0, 1):
        address = np.where(flows["first_side"] == side, flows["first_src"], flows["first_dst"])
        hit = np.flatnonzero(np.isin(address, list(offloads)))
        if not len(hit):
            continue
        fine, ip_bad, ip_offloaded = (facts["l4_bad"][hit, side, k] for k in range(3))
        facts["bad_checksums"][hit, side] -= fine + ip_offloaded
        facts["offloaded_checksums"][hit, side] += fine + ip_bad


def streams_table(run: Run, ending: Ending) -> pd.DataFrame:
    """One row per TCP/UDP stream of a finished run, in the schema's columns and dtypes."""
    parts = [p for p in (_kind_table(run, ending, 1), _kind_table(run, ending, 2)) if p is not None]
    if not parts:
        return schema.conform(pd.DataFrame(), schema.STREAM_COLUMNS)
    addresses = np.array(ending.addresses, dtype=object)
    m = sum(len(p["client"]) for p in parts)
    index = pd.RangeIndex(m)
    tcp = np.concatenate([np.full(len(p["client"]), p["kind"] == 1) for p in parts])
    everywhere = np.zeros(m, dtype=bool)

    def joined(get) -> np.ndarray:
        return np.concatenate([get(p) for p in parts])

    def by_role(name: str) -> tuple[np.ndarray, np.ndarray]:
        pairs = [_roles(p["facts"][name], p["client"]) for p in parts]
        return np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])

    def first(name_if_client: str, name_else: str) -> np.ndarray:
        return joined(lambda p: np.where(p["first_is_client"], p["flows"][name_if_client], p["flows"][name_else]))

    def integers(values, present=None):
        return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64).copy(),
                                      everywhere.copy() if present is None else ~present)

    def text(values):
        return pd.array(np.asarray(values, dtype=object), dtype="string")

    client_addr, server_addr = first("first_src", "first_dst"), first("first_dst", "first_src")
    cport, sport = first("first_sport", "first_dport"), first("first_dport", "first_sport")
    pk, by = by_role("packets"), by_role("bytes")
    syn, _ = by_role("syn_frame")
    syn_seq, _ = by_role("syn_seq")
    _, sa = by_role("sa_frame")
    _, sa_seq = by_role("sa_seq")
    ha = joined(lambda p: p["facts"]["ha_frame"])
    has_syn, has_sa, has_ha = tcp & (syn >= 0), tcp & (sa >= 0), tcp & (ha >= 0)
    start, end = joined(lambda p: p["flows"]["start"]), joined(lambda p: p["flows"]["end"])
    ranges = range_names(cport)
    served, at = np.unique(sport * 2 + ~tcp, return_inverse=True)
    service = np.array([service_name(int(x) >> 1, "udp" if x & 1 else "tcp") for x in served.tolist()],
                       dtype=object)[at]
    history, state = _histories(parts, tcp, pk, by)
    handshake = np.select([has_syn & has_sa & has_ha, has_sa, has_syn, tcp], [0, 1, 2, 3], -1)
    state_codes, state_names = pd.factorize(np.asarray(state, dtype=object))
    info = run.info
    table = {
        "proto": categorical(np.where(tcp, 0, 1), ["tcp", "udp"], index),
        "stream": integers(joined(lambda p: p["flows"]["stream"])),
        "client": text(addresses[client_addr]), "client_port": integers(cport),
        "server": text(addresses[server_addr]), "server_port": integers(sport), "service": text(service),
        "client_port_ephemeral": pd.arrays.BooleanArray(pd.notna(ranges), everywhere.copy()),
        "client_port_range": text(ranges),
        "client_packets": integers(pk[0]), "server_packets": integers(pk[1]),
        "client_bytes": integers(by[0]), "server_bytes": integers(by[1]),
        "first_frame": integers(joined(lambda p: p["flows"]["first_frame"])),
        "last_frame": integers(joined(lambda p: p["flows"]["last_frame"])),
        "start": times_column(start, info, index), "end": times_column(end, info, index),
        "duration_s": (end - start) / 1e9,
        "client_isn": integers(syn_seq, has_syn), "syn_frame": integers(syn, has_syn),
        "server_isn": integers(sa_seq, has_sa), "syn_ack_frame": integers(sa, has_sa),
        "handshake_ack_frame": integers(ha, has_ha),
        "handshake": categorical(handshake, ["complete", "syn_ack_seen", "syn_only", "not_captured"], index),
        "completeness": integers(joined(lambda p: p["facts"]["completeness"]), tcp),
        "reused_ports": pd.arrays.BooleanArray(joined(lambda p: p["flows"]["reused"]).astype(bool), ~tcp),
        "history": text(history),
        "conn_state": categorical(state_codes, [str(v) for v in state_names], index),
    }
    seq_index = {name: b for b, name in enumerate(LABEL_NAMES)}
    for name in STREAM_COUNTED:
        b = seq_index[name]
        pairs = [_roles(p["facts"]["labels"][:, :, b], p["client"]) for p in parts]
        table[f"client_{name}"] = integers(np.concatenate([a for a, _ in pairs]), tcp)
        table[f"server_{name}"] = integers(np.concatenate([s for _, s in pairs]), tcp)
    for name, all_protos in (("retransmitted_bytes", False), ("bad_checksums", True), ("offloaded_checksums", True)):
        c_, s_ = by_role(name)
        table[f"client_{name}"] = integers(c_, None if all_protos else tcp)
        table[f"server_{name}"] = integers(s_, None if all_protos else tcp)
    table["initial_rtt_s"] = np.where(tcp, joined(lambda p: p["facts"]["irtt"]), np.nan)
    return schema.conform(pd.DataFrame(table, index=index, copy=False), schema.STREAM_COLUMNS)


def _histories(parts: list, tcp: np.ndarray, pk: tuple, by: tuple) -> tuple[list, list]:
    """Each stream's history and connection state, made once per distinct case."""
    sent, answered = pk[0] > 0, pk[1] > 0
    history = (np.where(sent, "D", "").astype(object) + np.where(answered, "d", "").astype(object))
    state = np.select([sent & answered, sent], ["SF", "S0"], "SHR").astype(object)
    rows = np.flatnonzero(tcp)
    if len(rows):
        p = next(p for p in parts if p["kind"] == 1)
        f = p["facts"]
        client = p["client"]
        hist = f["hist"]
        # a history code is letter + 6 * side: the client's letters are written in capitals
        side = hist // 6
        letter = hist % 6
        upper = side == client[:, None]
        code = np.where(upper, letter, letter + 6)
        states = np.stack(_roles(f["state"], client), axis=1)
        key = np.zeros(len(client), dtype=np.int64)
        for k in range(code.shape[1]):
            key = key * 16 + np.where(np.arange(code.shape[1])[k] < f["hist_len"], code[:, k], 15)
        key = ((key * 16 + f["hist_len"]) * 8 + states[:, 0]) * 8 + states[:, 1]
        key = key * 4 + (by[0][rows] > 0) * 2 + (by[1][rows] > 0)
        _cases, first_row, at = np.unique(key, return_index=True, return_inverse=True)
        letters = HISTORY_LETTERS + HISTORY_LETTERS.lower()
        texts, verdicts = [], []
        for j in first_row.tolist():
            text = "".join(letters[c] for c in code[j, :f["hist_len"][j]].tolist())
            texts.append(text)
            verdicts.append(conn_state(int(states[j, 0]), int(states[j, 1]), int(by[0][rows[j]]),
                                       int(by[1][rows[j]]), text))
        history[rows] = np.array(texts, dtype=object)[at]
        state[rows] = np.array(verdicts, dtype=object)[at]
    return history.tolist(), state.tolist()


def events_table(packets: pd.DataFrame) -> pd.DataFrame:
    """One row per (frame, label) of every labelled frame (schema.EVENT_COLUMNS)."""
    from .vocabulary import MEANINGS

    p = packets[packets["labels"].notna()]
    if p.empty:
        events = pd.DataFrame(columns=[c.name for c in schema.EVENT_COLUMNS])
    else:
        events = p[["frame", "proto", "stream", "rel_seq", "rel_ack", "labels"]].copy()
        events["label"] = events.pop("labels").astype("string").str.split(";")
        events = events.explode("label")
        events["meaning"] = events["label"].map(lambda x: MEANINGS.get(x, ""))
        events = events.reset_index(drop=True)
    events = schema.conform(events, schema.EVENT_COLUMNS)
    # categories are the values present, as in the other tables
    events["proto"] = events["proto"].cat.remove_unused_categories()
    return events


def filter_packets(packets: pd.DataFrame, stream: int | None = None, proto: str | None = None,
                   labels: list[str] | None = None) -> pd.DataFrame:
    p = packets
    if proto:
        p = p[p["proto"] == proto]
    if stream is not None:
        p = p[p["stream"] == stream]
        if not proto:
            # stream numbers are per protocol; without --proto, TCP is meant
            p = p[p["proto"] == "tcp"] if (p["proto"] == "tcp").any() else p
    if labels:
        split = p["labels"].astype("string").fillna("").str.split(";")
        p = p[split.map(lambda ls: any(x in ls for x in labels))]
    return p


def stream_numbers(packets: pd.DataFrame, proto: str) -> list[int]:
    """The stream numbers of *proto* in a packets table, in order."""
    return sorted(int(s) for s in packets.loc[packets["proto"] == proto, "stream"].dropna().unique())


def one_stream(packets: pd.DataFrame, n: int, proto: str = "tcp") -> pd.DataFrame:
    """The frames of stream *n* of *proto* (``tcp`` or ``udp``), in capture order; ``ValueError``
    naming the streams there are when there is no such stream."""
    if proto not in ("tcp", "udp"):
        raise ValueError(f"proto must be 'tcp' or 'udp', not {proto!r}")
    known = stream_numbers(packets, proto)
    if n not in known:
        raise ValueError(f"no {proto.upper()} stream {n} ({proto.upper()} streams: {number_ranges(known)})")
    return filter_packets(packets, stream=n, proto=proto)


def number_ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``; ``"none"`` when empty."""
    if not numbers:
        return "none"
    parts, start, prev = [], numbers[0], numbers[0]
    for n in numbers[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)
