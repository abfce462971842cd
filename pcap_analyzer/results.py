"""The compiled engine's results as pcapan's tables: packets, streams, and what a report shows.

:mod:`.engine` reads and analyses a capture into integer columns and
per-stream state; this module makes of them exactly the tables the readable
pipeline makes (:func:`.analysis.analyze` with the engine switched off), with
the schema's columns and dtypes (:mod:`.schema`), and the report's digest
(:class:`.streaming.Digest`).  The tests compare the two on every sample and
development capture.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import pandas as pd

from . import _engine, engine, explain, reader, schema
from .engine import Chunk
from .schema import categorical

_IN = {name: j for j, name in enumerate(_engine.IN_COLUMNS)}
_OUT = {name: j for j, name in enumerate(_engine.OUT_COLUMNS)}
_FLOAT = {name: j for j, name in enumerate(_engine.FLOAT_COLUMNS)}
# Verdict, fragment and missing codes 0 are "none": a missing category
_VERDICT_NAMES = ["-"] + list(_engine.VERDICTS[1:])
_FRAGMENT_NAMES = ["-"] + list(_engine.FRAGMENTS[1:])


def _flag_texts() -> np.ndarray:
    from .analysis import _FLAG_TEXT

    return _FLAG_TEXT


def _nullable(a: np.ndarray, dtype=np.int64) -> pd.arrays.IntegerArray:
    """Integers with -1 for missing, as a nullable column (no copy: the values under the mask do not count)."""
    return pd.arrays.IntegerArray(a.astype(dtype, copy=False), a < 0)


def _coded(codes: np.ndarray, names: list, index: pd.Index, none_code: int | None = None) -> pd.Series:
    """A category column of codes into *names* (-1, or *none_code*, missing)."""
    if none_code is not None:
        codes = np.where(codes == none_code, -1, codes)
    return categorical(codes, names, index)


def label_texts(bits: np.ndarray) -> tuple[np.ndarray, list]:
    """(code per row, -1 for no label; the semicolon-joined label set of each code)."""
    codes, sets = pd.factorize(bits)
    texts = [";".join(name for b, name in enumerate(_engine.LABELS) if int(m) >> b & 1) for m in sets.tolist()]
    empty = np.array([not t for t in texts] + [True])
    return np.where(empty[codes], -1, codes), texts


def _labels(bits: np.ndarray, index: pd.Index) -> pd.Series:
    codes, texts = label_texts(bits)
    return categorical(codes, texts, index)


def packet_table(parts: list[Chunk] | Chunk, eng, first_ts: int, addresses: list | None = None) -> pd.DataFrame:
    """The packets table (schema columns and dtypes, without ``explain``) of analysed chunks.

    The table's integer columns are views of the chunk's arrays.
    """
    c = parts if isinstance(parts, Chunk) else (engine.concat(parts) if parts else None)
    if c is None or c.inp.shape[1] == 0:
        empty = schema.conform(pd.DataFrame(), schema.PACKET_COLUMNS[:-1])
        # as the readable pipeline has it: link-type names mapped from no numbers
        return empty.assign(linktype=pd.Series(np.zeros(0, dtype=np.int64)).map({}).astype("category"))
    i, o, fl = c.inp, c.out, c.fout
    n = i.shape[1]
    index = pd.RangeIndex(n)
    addresses = eng.address_texts() if addresses is None else addresses

    def inp(name):
        return i[_IN[name]]

    def out(name):
        return o[_OUT[name]]

    lt = inp("linktype_id")
    if (lt == lt[0]).all():
        linktypes, lt_codes = np.array([lt[0]]), np.zeros(n, dtype=np.int64)
    else:
        linktypes, lt_codes = np.unique(lt, return_inverse=True)
    fc = out("from_client")
    comments = {j: c.comments[k] for j, k in enumerate(inp("comment").tolist()) if k >= 0} \
        if c.comments else None
    cols = {
        "frame": _nullable(inp("frame")),
        "time": pd.Series(pd.to_datetime(inp("ts_ns"), unit="ns", utc=True), index=index),
        "time_rel_s": (inp("ts_ns") - first_ts) / 1e9,
        "iface": _nullable(inp("iface")),
        "linktype": categorical(lt_codes.astype(np.int64), [reader.linktype_name(int(v)) for v in linktypes],
                                index),
        "cap_len": _nullable(inp("cap_len")),
        "wire_len": _nullable(inp("wire_len")),
        "proto": _coded(inp("proto"), eng.protos, index),
        "ip_version": _nullable(inp("ip_version"), np.int8),
        "src": _coded(inp("src"), addresses, index),
        "sport": _nullable(inp("sport")),
        "dst": _coded(inp("dst"), addresses, index),
        "dport": _nullable(inp("dport")),
        "stream": _nullable(out("stream")),
        "from_client": pd.arrays.BooleanArray(fc == 1, fc < 0),
        "flags": _flag_column(inp("tcp_flags")),
        "seq": _nullable(inp("seq")),
        "ack": _nullable(inp("ack")),
        "rel_seq": _nullable(out("rel_seq")),
        "rel_ack": _nullable(out("rel_ack")),
        "next_rel_seq": _nullable(out("next_rel_seq")),
        "payload_len": _nullable(inp("payload_len")),
        "window": _nullable(inp("window")),
        "window_size": _nullable(out("window_size")),
        "mss": _nullable(inp("mss")),
        "wscale": _nullable(inp("wscale")),
        "dup_ack_num": _nullable(out("dup_ack_num")),
        "dup_ack_of": _nullable(out("dup_ack_of")),
        "acks_frame": _nullable(out("acks_frame")),
        "ack_rtt_s": fl[_FLOAT["ack_rtt_s"]],
        "bytes_in_flight": _nullable(out("bytes_in_flight")),
        "rto_s": fl[_FLOAT["rto_s"]],
        "rto_frame": _nullable(out("rto_frame")),
        "initial_rtt_s": fl[_FLOAT["initial_rtt_s"]],
        "phase": _coded(out("phase"), list(_engine.PHASES), index),
        "labels": _labels(out("labels"), index),
        "ip_checksum": _coded(out("ip_checksum"), _VERDICT_NAMES, index, 0),
        "l4_checksum": _coded(out("l4_checksum"), _VERDICT_NAMES, index, 0),
        "fragment": _coded(inp("fragment"), _FRAGMENT_NAMES, index, 0),
        "malformed": _coded(inp("malformed"), eng.malformed_names, index, 0),
        "comment": _from_decode_comments(n, comments),
    }
    return pd.DataFrame(cols, index=index, copy=False)


def _flag_column(flags: np.ndarray):
    """The ``flags`` text column (string dtype) of raw TCP flag bits (-1 for none)."""
    import pyarrow as pa

    texts = pa.array(list(_flag_texts()), type=pa.large_string())
    taken = texts.take(pa.array(flags & 0x1FF, mask=flags < 0))
    return pd.array(taken, dtype="string")


def _from_decode_comments(n: int, comments: dict | None):
    from .decode import comment_array

    return comment_array(n, comments)


def stream_table(eng, addresses: list | None = None) -> pd.DataFrame:
    """The streams table (schema columns and dtypes) of a finished pass."""
    from .summary import StreamFacts

    addresses = np.array(eng.address_texts() if addresses is None else addresses, dtype=object)
    tcp, udp = eng.streams(0), eng.streams(1)
    table = np.concatenate([tcp[0], udp[0]], axis=1)
    labels = np.concatenate([tcp[1], udp[1]])
    irtt = np.concatenate([tcp[2], udp[2]])
    f = dict(zip(_engine.STREAM_FIELDS, table))
    m = table.shape[1]
    is_tcp = np.arange(m) < tcp[0].shape[1]

    def pair(name):
        return np.stack([f[f"client_{name}"], f[f"server_{name}"]], axis=1)

    counts = {"packets": pair("packets"), "bytes": pair("bytes"),
              "retransmitted_bytes": pair("retransmitted_bytes"), "bad_checksums": pair("bad_checksums"),
              "offloaded_checksums": pair("offloaded_checksums")}
    for b, name in enumerate(_engine.LABELS[:_engine.SEQUENCE_LABELS]):
        counts[name] = np.ascontiguousarray(labels[:, :, b])
    hist = np.stack([f[f"hist{k}"] for k in range(12)], axis=1)
    facts = StreamFacts.of_columns(is_tcp, f, addresses[f["client"]], addresses[f["server"]], f["reused"], counts,
                                   pair("state"), f["completeness"], hist, f["hist_len"], irtt)
    return schema.conform(facts.table(), schema.STREAM_COLUMNS)


# --- the report's digest ---------------------------------------------------------

def _blank(count: int) -> Chunk:
    """Columns of *count* frames that carry nothing (for context rows of explanations)."""
    inp = np.full((len(_IN), count), -1, dtype=np.int64)
    for name in ("ip_checksum", "l4_checksum", "fragment", "truncated", "malformed", "other_kind"):
        inp[_IN[name]] = 0
    inp[_IN["proto"]] = 0
    out = np.full((len(_OUT), count), -1, dtype=np.int64)
    for name in ("labels", "reused_ports", "ip_checksum", "l4_checksum"):
        out[_OUT[name]] = 0
    return Chunk(inp, out, np.full((len(_FLOAT), count), np.nan), [])


def example_sentences(eng, wanted: dict, addresses: list, first_ts: int) -> dict:
    """The ``explain`` sentence of each example frame: *wanted* maps a key to a snapshot
    (in, out, float columns and the other side's last duplicate ACK) as the engine keeps them.

    A sentence may look back at two things in its stream: the last duplicate
    ACK from the other side before it, and whether the stream had a SYN-ACK.
    Both are given as extra rows, so the sentence is what the whole capture's
    ``explain`` column says.
    """
    if not wanted:
        return {}
    keys = list(wanted)
    rows = [wanted[k] for k in keys]
    nin, nout = len(_IN), len(_OUT)
    m = len(rows)
    dups = [r for r in rows if r[0][nin + nout] >= 0]
    tcp_streams = sorted({int(r[0][nin + _OUT["stream"]]) for r in rows
                          if r[0][_IN["proto"]] == 0 and r[0][nin + _OUT["stream"]] >= 0})
    accepted = [s for s in tcp_streams if eng.accepted(s)]
    c = _blank(m + len(dups) + len(accepted))
    for j, (ints, floats) in enumerate(rows):
        c.inp[:, j] = ints[:nin]
        c.out[:, j] = ints[nin:nin + nout]
        c.fout[:, j] = floats
    for j, (ints, _floats) in enumerate(dups, start=m):
        frame, rel_ack, number = ints[nin + nout: nin + nout + 3]
        c.inp[_IN["frame"], j] = frame
        c.out[_OUT["stream"], j] = ints[nin + _OUT["stream"]]
        c.out[_OUT["from_client"], j] = 1 - ints[nin + _OUT["from_client"]]
        c.out[_OUT["rel_ack"], j] = rel_ack
        c.out[_OUT["dup_ack_num"], j] = number
    for j, stream in enumerate(accepted, start=m + len(dups)):
        c.inp[_IN["frame"], j] = 0
        c.out[_OUT["stream"], j] = stream
        c.out[_OUT["phase"], j] = _engine.PHASES.index("syn_ack")
    c.inp[_IN["comment"]] = -1
    table = packet_table([c], eng, first_ts, addresses)
    sentences = explain.explain(table).to_numpy(dtype=object, na_value=None)
    return {k: sentences[j] for j, k in enumerate(keys)}


def notable(eng, addresses: list, first_ts: int, leave_out: tuple):
    """The report's notable frames (an :class:`.report.documents.EventDigest` filled from the pass)."""
    from .report.documents import EventDigest
    from .rules import all_labels

    groups, snap_i, snap_f = eng.notable()
    meanings = all_labels()
    label_index = {name: b for b, name in enumerate(_engine.LABELS)}
    wanted = {}
    for label, g in groups.items():
        slot = 1 if g["about"] >= 0 else 0
        b = label_index[label]
        wanted[label] = (snap_i[b, slot], snap_f[b, slot])
    sentences = example_sentences(eng, wanted, addresses, first_ts)
    digest = EventDigest(leave_out=leave_out)
    for label in sorted(groups, key=lambda name: groups[name]["at"]):
        g = groups[label]
        about = (g["about"], sentences[label]) if g["about"] >= 0 else None
        digest.groups[label] = {"count": g["count"], "frames": g["frames"],
                                "streams": {key: None for key in g["streams"]}, "nstreams": g["nstreams"],
                                "meaning": meanings.get(label, ""), "about": about,
                                "first": (g["first"], None if about else sentences[label]), "at": g["at"]}
    return digest


def checksum_digest(eng, addresses: list):
    """The report's checksum verdict counts (a :class:`.report.documents.ChecksumDigest`)."""
    from .report.documents import ChecksumDigest

    counts, offloaded, bad, bad_frames, hosts = eng.checksum_counts()
    digest = ChecksumDigest()
    digest.counts = counts
    digest.offloaded = offloaded
    digest.offloading_hosts = {addresses[a] for a in hosts}
    digest.bad = bad
    digest.bad_frames = bad_frames
    return digest


def events_of(rows: list, eng) -> pd.DataFrame:
    """One row per (frame, label) of the labelled frames kept by :func:`.engine.labelled_rows`."""
    from .report.documents import events_table

    if not rows:
        return events_table(pd.DataFrame(columns=["frame", "proto", "stream", "rel_seq", "rel_ack", "labels"]))
    frame, proto, stream, rel_seq, rel_ack, bits = (np.concatenate(parts) for parts in zip(*rows))
    index = pd.RangeIndex(len(frame))
    names = np.array(eng.protos + [None], dtype=object)
    table = pd.DataFrame({"frame": frame, "proto": pd.Series(names[proto], index=index, dtype=object),
                          "stream": _nullable(stream),
                          "rel_seq": _nullable(rel_seq), "rel_ack": _nullable(rel_ack),
                          "labels": _labels(bits, index)}, index=index)
    return events_table(table)


def digest(path: str | os.PathLike, chunk_frames: int = engine.CHUNK_FRAMES, events: bool = False,
           progress: Callable[[str], None] | None = None):
    """What a report shows of the capture at *path* (a :class:`.streaming.Digest`), by the engine."""
    return digest_of(*engine.report_reads(path, events, progress, chunk_frames))


def digest_of(run: engine.Pass, passes: int, event_rows: list | None):
    """The :class:`.streaming.Digest` of a finished pass."""
    from .analysis import capture_facts
    from .streaming import Digest

    eng = run.engine
    addresses = eng.address_texts()
    table = stream_table(eng, addresses)
    counts = {"packets": eng.packets, "tcp_packets": eng.tcp_packets, "udp_packets": eng.udp_packets,
              "truncated_frames": eng.truncated_frames, "malformed_frames": eng.malformed_frames}
    frames = eng.packets > 0
    first_time = pd.Timestamp(eng.first_ts, unit="ns", tz="UTC") if frames else None
    duration = (eng.last_ts - eng.first_ts) / 1e9 if frames else 0.0
    facts = capture_facts(run.info, counts, table, first_time, duration)
    return Digest(info=run.info, streams=table, facts=facts, checksums=checksum_digest(eng, addresses).facts(),
                  notable=notable(eng, addresses, eng.first_ts, run.leave_out).table(),
                  events=events_of(event_rows, eng) if event_rows is not None else None, passes=passes,
                  roles=run.given_roles, offloaders=frozenset(run.offloader_keys))


def frames_of(path: str | os.PathLike, d, proto: str, stream: int,
              chunk_frames: int = engine.CHUNK_FRAMES) -> pd.DataFrame:
    """Every frame of one stream, analysed as the whole capture's table has it (``explain`` included),
    read with the whole-capture facts the pass that gave the digest *d* found."""
    code = _engine.PROTOS.index(proto)
    parts: list = []

    def keep(c: Chunk) -> None:
        at = np.flatnonzero((c.inp[_IN["proto"]] == code) & (c.out[_OUT["stream"]] == stream))
        if len(at):
            comments = c.comments
            parts.append(Chunk(c.inp[:, at], c.out[:, at], c.fout[:, at], comments))

    run = engine.Pass(path, given_roles=d.roles or (), offloaders=d.offloaders or (), chunk_frames=chunk_frames)
    run.run(keep)
    return _explained(packet_table(parts, run.engine, run.engine.first_ts))


def _explained(p: pd.DataFrame) -> pd.DataFrame:
    p = p.assign(explain=explain.explain(p))
    return schema.conform(p, schema.PACKET_COLUMNS)


def analyze(path: str | os.PathLike, progress: Callable[[str], None] | None = None):
    """:func:`.analysis.analyze` by the engine: the :class:`.analysis.Analysis` of the capture at *path*."""
    return analysis_of(*engine.analysed(path, progress=progress, collect=True), progress=progress)


def analysis_of(run: engine.Pass, passes: int, progress: Callable[[str], None] | None = None):
    """The :class:`.analysis.Analysis` of a finished pass that collected every frame."""
    from .analysis import Analysis

    eng = run.engine
    addresses = eng.address_texts()
    step = progress or (lambda message: None)
    step("summarising streams")
    c = run.collected
    # the engine writes the sentences on the other core while pandas makes the table
    sentences = engine.Background(lambda: explain_column(c, eng)) if c.inp.shape[1] else None
    packets = packet_table(c, eng, eng.first_ts, addresses)
    packets["explain"] = sentences.result() if sentences is not None else explain.explain(packets)
    return Analysis(info=run.info, packets=packets, streams=stream_table(eng, addresses))


def explain_column(c: Chunk, eng) -> pd.arrays.ArrowStringArray:
    """The ``explain`` column of a whole capture's frames, written by the engine (explain.py's sentences)."""
    import pyarrow as pa

    offsets, data, valid = _engine.explain_column(c.inp, c.out, c.fout, _engine.accepted_streams(eng), eng.protos,
                                                  eng.malformed_names)
    n = len(valid)
    nulls = None
    if not valid.all():
        nulls = pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))
    text = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), nulls,
                                            n - int(valid.sum()))
    return pd.arrays.ArrowStringArray(text)
