"""The compiled engine gives exactly what the readable pipeline gives.

The readable pipeline (``analyze_readably``: the per-frame decoder of
``decode.py``, then ``streams``, the rules and ``summary`` over the table of
all frames) is the reference.  On every sample capture, every broken one and
every development capture, the engine's packets and streams tables must
equal it column by column, dtypes included; its decoder must give the
reference decoder's fields frame by frame; and both must agree on the names
and orders they share.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import SAMPLES, SHARED, broken_captures, sample_captures
from pcap_analyzer import _engine, decode, engine, explain, reader, results, rules
from pcap_analyzer.analysis import analyze_readably
from pcap_analyzer.cli import app
from pcap_analyzer.rules.phase import _PHASES
from pcap_analyzer.rules.sequence import SequenceAnalysis

pytestmark = pytest.mark.skipif(not engine.available(), reason="the compiled engine is not built")


def _dev_captures() -> list:
    if not SHARED.is_dir():
        return []
    return sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix != ".md")


def _id(p):
    return str(p.relative_to(p.parents[1]))


def assert_same_analysis(path, chunk_frames: int = engine.CHUNK_FRAMES) -> None:
    try:
        want = analyze_readably(path)
    except reader.CaptureError as exc:
        with pytest.raises(reader.CaptureError) as got:
            results.analyze(path)
        assert str(got.value) == str(exc)
        return
    got = results.analyze(path) if chunk_frames == engine.CHUNK_FRAMES else _analyze_in_chunks(path, chunk_frames)
    assert got.info == want.info
    pd.testing.assert_frame_equal(got.packets, want.packets, obj=f"{path.name} packets")
    pd.testing.assert_frame_equal(got.streams, want.streams, obj=f"{path.name} streams")


def _analyze_in_chunks(path, chunk_frames: int):
    return results.analysis_of(*engine.analysed(path, collect=True, chunk_frames=chunk_frames))


@pytest.mark.parametrize("path", sample_captures() + broken_captures(), ids=_id)
def test_samples_analysed_as_the_readable_pipeline_does(path):
    assert_same_analysis(path)


@pytest.mark.parametrize("path", [p for p in sample_captures() if p.stat().st_size < 300_000], ids=_id)
def test_small_chunks_change_nothing(path):
    assert_same_analysis(path, chunk_frames=7)


@pytest.mark.corpus
@pytest.mark.skipif(not SHARED.is_dir(), reason="no development captures next to the repository")
@pytest.mark.parametrize("path", _dev_captures(), ids=_id)
def test_dev_captures_analysed_as_the_readable_pipeline_does(path):
    assert_same_analysis(path)


def _engine_fields(path) -> pd.DataFrame | None:
    """The engine's decoded input columns of every frame, as decode.FIELDS would name them."""
    parts: list = []
    try:
        run = engine.Pass(path).run(parts.append)
    except reader.CaptureError:
        return None
    inp = np.concatenate([c.inp for c in parts], axis=1) if parts else np.zeros((len(_engine.IN_COLUMNS), 0),
                                                                               dtype=np.int64)
    col = dict(zip(_engine.IN_COLUMNS, inp))
    addresses = np.array(run.engine.address_texts() + [None], dtype=object)
    protos = np.array(run.engine.protos + [None], dtype=object)
    malformed = np.array(run.engine.malformed_names, dtype=object)
    verdicts = np.array([None, "good", "bad", "maybe_offloaded", "unverified"], dtype=object)
    out = {"frame": col["frame"], "ts_ns": col["ts_ns"], "cap_len": col["cap_len"], "wire_len": col["wire_len"],
           "iface": col["iface"], "linktype_id": col["linktype_id"],
           "proto": protos[col["proto"]], "src": addresses[col["src"]], "dst": addresses[col["dst"]],
           "ip_checksum": verdicts[col["ip_checksum"]], "l4_checksum": verdicts[col["l4_checksum"]],
           "fragment": np.array(_engine.FRAGMENTS, dtype=object)[col["fragment"]],
           "malformed": malformed[col["malformed"]], "truncated": col["truncated"].astype(bool),
           "sack_perm": np.where(col["sack_perm"] == 1, True, None)}
    for name in decode.INT_FIELDS:
        out[name] = np.where(col[name] >= 0, col[name], None)
    kinds = np.array([None, "tcp", "udp"], dtype=object)
    out["other_flow"] = [None if k == 0 else (kinds[k], addresses[s], sp, addresses[d], dp)
                         for k, s, sp, d, dp in zip(*(col[f"other_{x}"].tolist() for x in
                                                       ("kind", "src", "sport", "dst", "dport")))]
    return pd.DataFrame(out)


@pytest.mark.parametrize("path", sample_captures() + broken_captures() + _dev_captures(), ids=_id)
def test_decoder_gives_the_readable_decoders_fields(path):
    got = _engine_fields(path)
    info = reader.CaptureInfo(path=str(path))
    try:
        want = decode.build_table(reader.read_frames(path, info))
    except reader.CaptureError:
        assert got is None
        return
    assert got is not None and len(got) == len(want)
    for name in got.columns:
        a, b = got[name].astype(object), want[name].astype(object)
        same = ((a == b).fillna(False).astype(bool)) | (a.isna() & b.isna())
        assert same.all(), f"{name}: frames {list(want.loc[~same, 'frame'][:5])}: {list(a[~same][:3])} " \
                           f"instead of {list(b[~same][:3])}"


def test_names_and_orders_shared_with_the_readable_pipeline():
    # labels are written in the rules' order: the sequence labels, then decoding, then checksums
    registry = [label for rule in rules.REGISTRY for label in rule.labels]
    assert list(_engine.LABELS) == registry
    assert tuple(SequenceAnalysis.labels) == _engine.LABELS[:_engine.SEQUENCE_LABELS]
    assert _engine.TOPICS == explain.TOPICS
    assert list(_engine.PHASES) == list(_PHASES[:-1])
    assert set(decode.FIELDS) - {"other_flow"} <= set(_engine.IN_COLUMNS)


def test_without_the_engine_the_readable_pipeline_reports_the_same(monkeypatch):
    path = SAMPLES / "bulk_loss.pcap"
    runner = CliRunner()
    with_engine = runner.invoke(app, ["report", str(path), "--format", "json"])
    monkeypatch.setenv("PCAPAN_NO_ENGINE", "1")
    assert not engine.available()
    without = runner.invoke(app, ["report", str(path), "--format", "json"])
    assert with_engine.exit_code == 0, with_engine.output
    assert without.exit_code == 0, without.output
    assert with_engine.output == without.output


def test_compiled_sentences_on_scrambled_frames():
    """explain.py and the compiled sentences agree on every combination the fields can take:
    frames of real captures with their analysis columns scrambled (labels, phases, sides,
    duplicate ACK numbers, timeouts of every size, missing values)."""
    rng = np.random.default_rng(5)
    for name in ("bulk_loss.pcap", "reset.pcap", "offload.pcap", "cooked_v2.pcap"):
        run, _ = engine.analysed(SAMPLES / name, collect=True)
        c = run.collected
        n = c.inp.shape[1]
        inp, out, fout = c.inp.copy(), c.out.copy(), c.fout.copy()
        col = {k: j for j, k in enumerate(_engine.OUT_COLUMNS)}
        # no label, one, two, or any set of them: every topic and note comes first somewhere
        bits = len(_engine.LABELS)
        one, two = 1 << rng.integers(0, bits, n), 1 << rng.integers(0, bits, n)
        out[col["labels"]] = np.choose(rng.integers(0, 4, n), [np.zeros(n, dtype=np.int64), one, one | two,
                                                               rng.integers(0, 1 << bits, n)])
        out[col["phase"]] = rng.integers(-1, len(_engine.PHASES), n)
        out[col["from_client"]] = rng.integers(-1, 2, n)
        out[col["dup_ack_num"]] = rng.integers(-1, 14, n)
        out[col["rto_frame"]] = rng.integers(-1, n, n)
        out[col["next_rel_seq"]] = np.where(rng.random(n) < 0.2, -1, out[col["next_rel_seq"]])
        f_rto = _engine.FLOAT_COLUMNS.index("rto_s")
        fout[f_rto] = np.where(rng.random(n) < 0.3, np.nan,
                               rng.choice([-1, 1], n) * rng.random(n) * 10.0 ** rng.integers(-7, 12, n))
        icol = {k: j for j, k in enumerate(_engine.IN_COLUMNS)}
        inp[icol["proto"]] = rng.integers(-1, len(run.engine.protos), n)
        inp[icol["fragment"]] = rng.integers(0, len(_engine.FRAGMENTS), n)
        inp[icol["malformed"]] = rng.integers(0, len(run.engine.malformed_names), n)
        scrambled = engine.Chunk(inp, out, fout, [])
        table = results.packet_table(scrambled, run.engine, run.engine.first_ts)
        want = explain.explain(table)
        got = pd.Series(results.explain_column(scrambled, run.engine), index=table.index, name="explain")
        different = ~((got == want).fillna(False) | (got.isna() & want.isna()))
        assert not different.any(), f"{name}: {list(zip(got[different][:3], want[different][:3]))}"


def _packets_csv_both_ways(path) -> tuple[bytes | None, bytes | None]:
    """``pcapan packets -f csv`` as written straight from the engine, and the csv of analyze()'s table."""
    from pcap_analyzer import packet_csv
    from pcap_analyzer.report.documents import packets_document
    from pcap_analyzer.report.writers import render_bytes

    try:
        _info, blocks = packet_csv.csv_blocks(path, chunk_frames=97)
        streamed = b"".join(bytes(b) for b in blocks)
    except reader.CaptureError:
        streamed = None
    try:
        table = render_bytes(packets_document(results.analyze(path)), "csv", "packets")
    except reader.CaptureError:
        table = None
    return streamed, table


@pytest.mark.parametrize("path", sample_captures() + broken_captures() + _dev_captures(), ids=_id)
def test_packets_csv_written_from_the_engine_is_the_tables_csv(path):
    streamed, table = _packets_csv_both_ways(path)
    assert streamed == table
