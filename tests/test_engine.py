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

import os

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


def _packets_csv_three_ways(path) -> tuple:
    """``pcapan packets -f csv`` as written straight from the engine in two reads (for a pipe) and in
    one read with a rewind when needed (for a file, here in memory after other text), and the csv of
    analyze()'s table; None for a file that is not a capture."""
    import io

    from pcap_analyzer import packet_csv
    from pcap_analyzer.report.documents import packets_document
    from pcap_analyzer.report.writers import render_bytes

    try:
        _info, blocks = packet_csv.csv_blocks(path, chunk_frames=97)
        streamed = b"".join(bytes(b) for b in blocks)
    except reader.CaptureError:
        streamed = None
    out = io.BytesIO()
    out.write(b"text before\n")
    try:
        packet_csv.write_csv(path, out, chunk_frames=97)
        assert out.getvalue().startswith(b"text before\n")
        once = out.getvalue()[len(b"text before\n"):]
    except reader.CaptureError:
        assert out.getvalue() == b"text before\n", "nothing is written for a file that is not a capture"
        once = None
    try:
        table = render_bytes(packets_document(results.analyze(path)), "csv", "packets")
    except reader.CaptureError:
        table = None
    return streamed, once, table


@pytest.mark.parametrize("path", sample_captures() + broken_captures() + _dev_captures(), ids=_id)
def test_packets_csv_written_from_the_engine_is_the_tables_csv(path):
    streamed, once, table = _packets_csv_three_ways(path)
    assert streamed == table
    assert once == table


def _rst_then_syn_ack(path, gap: int) -> None:
    """A SYN refused by a RST/ACK, *gap* unrelated UDP frames, then a SYN-ACK of the same stream: the
    RST's sentence depends on a frame after it."""
    import dpkt

    def frame(src, dst, sport, dport, l4):
        ip = dpkt.ip.IP(src=bytes([10, 0, 0, src]), dst=bytes([10, 0, 0, dst]), ttl=64,
                        p=6 if isinstance(l4, dpkt.tcp.TCP) else 17, data=l4)
        ip.len = len(bytes(ip))
        return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))

    syn, ack, rst = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_RST
    frames = [frame(1, 2, 40000, 80, dpkt.tcp.TCP(sport=40000, dport=80, seq=1000, flags=syn, win=1000)),
              frame(2, 1, 80, 40000, dpkt.tcp.TCP(sport=80, dport=40000, seq=0, ack=1001, flags=rst | ack))]
    frames += [frame(1, 2, 5000 + k, 53, dpkt.udp.UDP(sport=5000 + k, dport=53, data=b"x")) for k in range(gap)]
    frames.append(frame(2, 1, 80, 40000, dpkt.tcp.TCP(sport=80, dport=40000, seq=7000, ack=1001,
                                                        flags=syn | ack, win=1000)))
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f)
        for k, data in enumerate(frames):
            w.writepkt(data, ts=1_700_000_000 + k / 100)


@pytest.mark.parametrize("gap", [0, 300])
def test_packets_csv_in_one_read_goes_back_when_a_later_frame_changes_a_row(tmp_path, gap):
    import io

    from pcap_analyzer import packet_csv
    from pcap_analyzer.report.documents import packets_document
    from pcap_analyzer.report.writers import render_bytes

    path = tmp_path / "rst_then_syn_ack.pcap"
    _rst_then_syn_ack(path, gap)
    want = render_bytes(packets_document(results.analyze(path)), "csv", "packets")
    out = io.BytesIO()
    _info, reads = packet_csv.write_csv(path, out, chunk_frames=100)
    assert out.getvalue() == want
    # the SYN-ACK in the RST's chunk: one read; in a later chunk: the rows are written again
    assert reads == (2 if gap else 1)
    rows = want.decode().splitlines()
    assert "refuses the connection" not in rows[2]


def _offloading_sender(path, frames: int) -> None:
    """UDP between two hosts, every checksum one of them sends wrong (offloaded), every one it receives
    right: that it offloads is only known after its first frames were checked."""
    import dpkt

    def frame(src, dst, wrong):
        udp = dpkt.udp.UDP(sport=5353 + src, dport=5353 + dst, data=b"question or answer")
        udp.ulen = len(bytes(udp))
        ip = dpkt.ip.IP(src=bytes([10, 0, 0, src]), dst=bytes([10, 0, 0, dst]), ttl=64, p=17, data=udp)
        ip.len = len(bytes(ip))
        raw = bytes(ip)        # dpkt fills in the right checksums
        if wrong:
            raw = raw[:26] + bytes([raw[26] ^ 0x5A, raw[27]]) + raw[28:]
        return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800)) + raw

    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f)
        for k in range(frames):
            w.writepkt(frame(1, 2, True) if k % 2 == 0 else frame(2, 1, False), ts=1_700_000_000 + k / 10)


def test_packets_csv_in_one_read_goes_back_for_checksum_offload(tmp_path):
    import io

    from pcap_analyzer import packet_csv
    from pcap_analyzer.report.documents import packets_document
    from pcap_analyzer.report.writers import render_bytes

    path = tmp_path / "offloading.pcap"
    _offloading_sender(path, 12)
    want = render_bytes(packets_document(results.analyze(path)), "csv", "packets")
    assert b"offloaded" in want
    out = io.BytesIO(b"older and longer text that the rewrite must cut away" * 1000)
    out.seek(0)
    _info, reads = packet_csv.write_csv(path, out, chunk_frames=5)
    assert reads == 2
    assert out.getvalue() == want


@pytest.mark.parametrize("where", ["file", "stdout file", "devnull", "pipe"])
def test_packets_csv_cli_to_files_pipes_and_the_null_device(tmp_path, where):
    """The command line writes the same csv whether its output can be rewound or not."""
    import subprocess
    import sys

    from pcap_analyzer.report.documents import packets_document
    from pcap_analyzer.report.writers import render_bytes

    path = tmp_path / "offloading.pcap"
    _offloading_sender(path, 40)
    want = render_bytes(packets_document(results.analyze(path)), "csv", "packets")
    cmd = [sys.executable, "-m", "pcap_analyzer", "packets", str(path), "-f", "csv", "-q"]
    target = tmp_path / "out.csv"
    if where == "file":
        done = subprocess.run(cmd + ["-o", str(target)], capture_output=True)
        got = target.read_bytes()
    elif where == "stdout file":
        target.write_bytes(b"x" * 500_000)
        with open(target, "r+b") as f:
            done = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE)
        got = target.read_bytes()
    elif where == "devnull":
        done = subprocess.run(cmd + ["-o", os.devnull], capture_output=True)
        got = want
    else:
        done = subprocess.run(cmd, capture_output=True)
        got = done.stdout
    assert done.returncode == 0, done.stderr
    assert got == want
