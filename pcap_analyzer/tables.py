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
from .selection import check_labels, number_ranges, stream_numbers, stream_proto  # noqa: F401  (names of the API)
from .selection import where as select_where
from .tcp._facts import HISTORY_LETTERS
from .tcp._flows import FLOW_FIELDS
from .vocabulary import FRAGMENTS, LABEL_NAMES, LAYERS, PHASES, PROTOS, RATE_MIN_DURATION_NS, STREAM_COUNTED, VERDICTS

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
    src_codes, src_names = ending.address_codes(inp("src"))
    dst_codes, dst_names = ending.address_codes(inp("dst"))
    first = first_ts if first_ts is not None else 0
    # the TCP/UDP packet an ICMP error quotes (a tunnel's outer UDP is no quote)
    icmp = (inp("proto") == PROTOS.index("icmp")) | (inp("proto") == PROTOS.index("icmpv6"))
    quoted = np.where(icmp, inp("other_kind"), 0)
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
        "src": categorical(src_codes, src_names, index),
        "sport": nullable(inp("sport")),
        "dst": categorical(dst_codes, dst_names, index),
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
        "copy_frame": nullable(out("copy_frame")),
        "since_copy_s": t[TIMES["since_copy_s"]],
        "fin_frame": nullable(out("fin_frame")),
        "initial_rtt_s": t[TIMES["initial_rtt_s"]],
        "phase": categorical(out("phase"), list(PHASES), index),
        "labels": label_column(out("labels"), index),
        "ip_checksum": none_first(out("ip_checksum"), VERDICTS, index),
        "l4_checksum": none_first(out("l4_checksum"), VERDICTS, index),
        "fragment": none_first(inp("fragment"), FRAGMENTS, index),
        "malformed": none_first(inp("malformed"), LAYERS, index),
        "icmp_type": nullable(inp("icmp_type")),
        "icmp_code": nullable(inp("icmp_code")),
        "quoted_proto": categorical(quoted - 1, ["tcp", "udp"], index),
        "quoted_sport": nullable(np.where(quoted > 0, inp("other_sport"), -1)),
        "quoted_dport": nullable(np.where(quoted > 0, inp("other_dport"), -1)),
        "quoted_stream": nullable(np.where(quoted > 0, out("other_stream"), -1)),
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


class _Streams:
    """The streams of one protocol as the stages left them, their sides turned into client and server."""

    def __init__(self, run: Run, ending: Ending, kind: int) -> None:
        self.kind = kind
        # each field its own array (a view would keep the whole table alive)
        self.flows = {name: row.copy() for name, row in zip(FLOW_FIELDS, run.analyser.flows.table(kind))}
        self.facts = run.analyser.facts.table(kind, np.ascontiguousarray(self.flows["stream"]))
        client = self.flows["client_side"]
        self.server_first = (np.where(client < 0, self.flows["first_side"], client)) != self.flows["first_side"]
        self.client_is_1 = np.where(client < 0, self.flows["first_side"], client) == 1
        self._settle_checksums(ending)

    def __len__(self) -> int:
        return len(self.flows["stream"])

    def roles(self, per_side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(client's, server's) values of a [stream, side] array."""
        return (np.where(self.client_is_1, per_side[:, 1], per_side[:, 0]),
                np.where(self.client_is_1, per_side[:, 0], per_side[:, 1]))

    def first(self, if_client: str, else_: str) -> np.ndarray:
        """A field of the stream's first frame for the client (its source when the client sent it)."""
        return np.where(self.server_first, self.flows[else_], self.flows[if_client])

    def tallied(self, name: str, index: tuple = ()) -> tuple[np.ndarray, np.ndarray] | None:
        """(client's, server's) of a count kept only for streams with labels or checksums to count;
        None when every stream's is 0."""
        rows = np.flatnonzero(self.facts["tally"] >= 0)
        values = self.facts["tallies"][name][(slice(None),) * 2 + index] if index else self.facts["tallies"][name]
        if not len(rows) or not values.any():
            return None
        full = np.zeros((len(self), 2), dtype=np.int64)
        full[rows] = values[self.facts["tally"][rows]]
        return self.roles(full)

    def _settle_checksums(self, ending: Ending) -> None:
        """Wrong TCP/UDP checksums of offloading senders counted as offloaded (in place)."""
        tallies, rows = self.facts["tallies"], np.flatnonzero(self.facts["tally"] >= 0)
        if not len(ending.offloaders) or not len(rows):
            return
        f = self.flows
        for side in (0, 1):
            address = np.where(f["first_side"][rows] == side, f["first_src"][rows], f["first_dst"][rows])
            hit = self.facts["tally"][rows[np.isin(address, ending.offloaders)]]
            fine, ip_bad, ip_offloaded = (tallies["l4_bad"][hit, side, k] for k in range(3))
            tallies["bad_checksums"][hit, side] -= fine + ip_offloaded
            tallies["offloaded_checksums"][hit, side] += fine + ip_bad


def _zeros(n: int) -> np.ndarray:
    """n zeros that take no memory (a column where nothing was counted)."""
    return np.broadcast_to(np.zeros(1, dtype=np.int64), (n,))


def stream_parts(run: Run, ending: Ending) -> list:
    """What the streams table is made of, taken from a finished run (which may then be released)."""
    return [p for p in (_Streams(run, ending, 1), _Streams(run, ending, 2)) if len(p)]


def streams_table(run: Run, ending: Ending, parts: list | None = None) -> pd.DataFrame:
    """One row per TCP/UDP stream of a finished run (or of its *parts*), in the schema's columns and dtypes."""
    if parts is None:
        parts = stream_parts(run, ending)
    if not parts:
        return schema.conform(pd.DataFrame(), schema.STREAM_COLUMNS)
    m = sum(len(p) for p in parts)
    index = pd.RangeIndex(m)
    tcp = np.concatenate([np.full(len(p), p.kind == 1) for p in parts])
    nowhere = np.broadcast_to(np.zeros(1, dtype=bool), (m,))

    def joined(get) -> np.ndarray:
        return np.concatenate([get(p) for p in parts]) if len(parts) > 1 else get(parts[0])

    def by_role(name: str) -> tuple[np.ndarray, np.ndarray]:
        return joined(lambda p: p.roles(p.facts[name])[0]), joined(lambda p: p.roles(p.facts[name])[1])

    def counted(name: str, index: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
        got = [p.tallied(name, index) for p in parts]
        if all(g is None for g in got):
            return _zeros(m), _zeros(m)
        full = [g if g is not None else (np.zeros(len(p), np.int64), np.zeros(len(p), np.int64))
                for g, p in zip(got, parts)]
        return np.concatenate([c for c, _ in full]), np.concatenate([s for _, s in full])

    def integers(values, present=None):
        values = np.asarray(values, dtype=np.int64)
        return pd.arrays.IntegerArray(values, nowhere if present is None else ~present)

    client_addr = joined(lambda p: p.first("first_src", "first_dst"))
    server_addr = joined(lambda p: p.first("first_dst", "first_src"))
    cport = joined(lambda p: p.first("first_sport", "first_dport"))
    sport = joined(lambda p: p.first("first_dport", "first_sport"))
    pk, by = by_role("packets"), by_role("bytes")
    syn, syn_seq = by_role("syn_frame")[0], by_role("syn_seq")[0]
    sa, sa_seq = by_role("sa_frame")[1], by_role("sa_seq")[1]
    ha = joined(lambda p: p.facts["ha_frame"])
    has_syn, has_sa, has_ha = tcp & (syn >= 0), tcp & (sa >= 0), tcp & (ha >= 0)
    start, end = joined(lambda p: p.flows["start"]), joined(lambda p: p.flows["end"])
    served, at = np.unique(sport * 2 + ~tcp, return_inverse=True)
    services = [service_name(int(x) >> 1, "udp" if x & 1 else "tcp") for x in served.tolist()]
    range_codes, range_texts = pd.factorize(range_names(cport))
    history, state = _histories(parts, tcp, pk, by)
    handshake = np.select([has_syn & has_sa & has_ha, has_sa, has_syn, tcp], [0, 1, 2, 3], -1)
    info = run.info
    table = {
        "proto": categorical(np.where(tcp, 0, 1), ["tcp", "udp"], index),
        "stream": integers(joined(lambda p: p.flows["stream"])),
        "client": _text(ending.address_texts(client_addr)), "client_port": integers(cport),
        "server": _text(ending.address_texts(server_addr)), "server_port": integers(sport),
        "service": _coded_text(at, services),
        "client_port_ephemeral": pd.arrays.BooleanArray(range_codes >= 0, nowhere),
        "client_port_range": _coded_text(range_codes, list(range_texts)),
        "client_packets": integers(pk[0]), "server_packets": integers(pk[1]),
        "client_bytes": integers(by[0]), "server_bytes": integers(by[1]),
        "first_frame": integers(joined(lambda p: p.flows["first_frame"])),
        "last_frame": integers(joined(lambda p: p.flows["last_frame"])),
        "start": times_column(start, info, index), "end": times_column(end, info, index),
        "duration_s": (end - start) / 1e9,
        "client_isn": integers(syn_seq, has_syn), "syn_frame": integers(syn, has_syn),
        "server_isn": integers(sa_seq, has_sa), "syn_ack_frame": integers(sa, has_sa),
        "handshake_ack_frame": integers(ha, has_ha),
        "handshake": categorical(handshake, ["complete", "syn_ack_seen", "syn_only", "not_captured"], index),
        "completeness": integers(joined(lambda p: p.facts["completeness"]), tcp),
        "reused_ports": pd.arrays.BooleanArray(joined(lambda p: p.flows["reused"]).astype(bool), ~tcp),
        "history": history,
        "conn_state": state,
    }
    seq_index = {name: b for b, name in enumerate(LABEL_NAMES)}
    for name in STREAM_COUNTED:
        c_, s_ = counted("labels", (seq_index[name],))
        table[f"client_{name}"] = integers(c_, tcp)
        table[f"server_{name}"] = integers(s_, tcp)
    for name, all_protos in (("retransmitted_bytes", False), ("bad_checksums", True), ("offloaded_checksums", True)):
        c_, s_ = counted(name)
        table[f"client_{name}"] = integers(c_, None if all_protos else tcp)
        table[f"server_{name}"] = integers(s_, None if all_protos else tcp)
    table["initial_rtt_s"] = np.where(tcp, joined(lambda p: p.facts["irtt"]), np.nan)
    return schema.conform(pd.DataFrame(table, index=index, copy=False), schema.STREAM_COLUMNS)


def _text(values: np.ndarray):
    """A text column (string dtype) of an object array of str or None."""
    import pyarrow as pa

    return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string(), from_pandas=True))


def _coded_text(codes: np.ndarray, texts: list):
    """A text column (string dtype) of codes into *texts* (-1: missing), each text made once."""
    import pyarrow as pa

    values = pa.array(texts, type=pa.large_string())
    return pd.arrays.ArrowStringArray(values.take(pa.array(codes, mask=codes < 0)))


def _histories(parts: list, tcp: np.ndarray, pk: tuple, by: tuple):
    """Each stream's history (text column) and connection state (category column), made once per
    distinct case: a TCP stream's history letters, its two endpoint states, and which sides sent data;
    a UDP stream's is which sides sent packets."""
    m = len(tcp)
    key = (pk[0] > 0) * 2 + (pk[1] > 0) + (by[0] > 0) * 8 + (by[1] > 0) * 4
    key = key.astype(np.int64)
    tcp_part = next((p for p in parts if p.kind == 1), None)
    if tcp_part is not None:
        f = tcp_part.facts
        hist, length, client_is_1 = f["hist"], f["hist_len"], tcp_part.client_is_1
        states = np.stack(tcp_part.roles(f["state"]), axis=1)
        k = np.zeros(len(tcp_part), dtype=np.int64)
        for j in range(hist.shape[1]):
            # a history code is letter + 6 * side: the client's letters are written in capitals
            h = hist[:, j]
            code = np.where(j < length, h % 6 + np.where((h >= 6) == client_is_1, 0, 6), 15)
            k = k * 16 + code
        k = (k * 8 + states[:, 0]) * 8 + states[:, 1]
        rows = np.flatnonzero(tcp)
        key[rows] = key[rows] + (k << 4) + (1 << 62)
    cases, first, at = np.unique(key, return_index=True, return_inverse=True)
    letters = HISTORY_LETTERS + HISTORY_LETTERS.lower()
    histories, verdicts = [], []
    for case, j in zip(cases.tolist(), first.tolist()):
        if case >> 62:     # a TCP stream (they come first, so j is its row among them too)
            codes = [(h % 6) + (0 if (h >= 6) == client_is_1[j] else 6) for h in hist[j, :length[j]].tolist()]
            text = "".join(letters[c] for c in codes)
            verdicts.append(conn_state(int(states[j, 0]), int(states[j, 1]), int(by[0][j]), int(by[1][j]), text))
        else:
            sent, answered = case & 2, case & 1
            text = ("D" if sent else "") + ("d" if answered else "")
            verdicts.append("SF" if sent and answered else "S0" if sent else "SHR")
        histories.append(text)
    state_names = sorted(set(verdicts))
    state_codes = np.array([state_names.index(v) for v in verdicts], dtype=np.int64)[at]
    return _coded_text(at, histories), categorical(state_codes, state_names, pd.RangeIndex(m))


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


def rate_measurable(duration_s):
    """Whether a rate can be told over *duration_s* seconds (a number or a Series): not over a
    duration shorter than RATE_MIN_DURATION_NS (zero for one packet)."""
    return duration_s >= RATE_MIN_DURATION_NS / 1e9


def kbit_per_s(byte_count: pd.Series, duration_s: pd.Series) -> pd.Series:
    """Kilobits per second of *byte_count* over *duration_s*; missing where no rate can be told
    (:func:`rate_measurable`)."""
    return byte_count * 8 / duration_s.where(rate_measurable(duration_s)) / 1000


def filter_packets(packets: pd.DataFrame, stream: int | None = None, proto: str | None = None,
                   labels: list[str] | None = None, where: str | None = None) -> pd.DataFrame:
    """The frames of *packets* of *proto*, of stream *stream* (of *proto*; without it, TCP's, else
    UDP's), carrying one of *labels*, for which the ``--where`` expression *where* holds.

    Strict: an unknown label, a stream the table does not have or an expression that is not a
    condition on its columns raises :class:`.selection.SelectionError` (a ``ValueError``)."""
    check_labels(labels)
    p = packets
    if stream is not None:
        proto = stream_proto(packets, stream, proto)
        p = p[(p["stream"] == stream).fillna(False).to_numpy(dtype=bool)]
    if proto:
        p = p[p["proto"] == proto]
    if labels:
        codes, sets = schema.coded(p["labels"])
        hit = np.array([bool(set(str(v).split(";")) & set(labels)) for v in sets] + [False])
        p = p[hit[codes]]
    if where is not None:
        p = select_where(p, where)
    return p


def one_stream(packets: pd.DataFrame, n: int, proto: str = "tcp") -> pd.DataFrame:
    """The frames of stream *n* of *proto* (``tcp`` or ``udp``), in capture order; ``ValueError``
    naming the streams there are when there is no such stream."""
    if proto not in ("tcp", "udp"):
        raise ValueError(f"proto must be 'tcp' or 'udp', not {proto!r}")
    return filter_packets(packets, stream=n, proto=proto)
