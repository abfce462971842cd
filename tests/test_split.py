"""A capture's streams shared out among processes give the report of one process.

``digest(jobs=N)`` reads a classic pcap in N processes, each keeping one
share of the conversations (:class:`pcap_analyzer.fastpath.Split`), and
puts their findings together.  The one-process digest is the oracle: every
sample capture (whole, and in chunks of 31 frames) and part of the
development captures must give the same capture facts, streams table,
checksum facts, notable frames and events.
"""
from __future__ import annotations

import os
import socket

import dpkt
import pandas as pd
import pytest
from typer.testing import CliRunner

from builder import ACK, SYN, Conversation
from conftest import SHARED, sample_captures
from pcap_analyzer import fastpath, reader, streaming
from pcap_analyzer.cli import app


@pytest.fixture
def split_everything(monkeypatch):
    """Split captures of any size (small samples included)."""
    monkeypatch.setattr(streaming, "SPLIT_MIN_BYTES", 0)
    used = []
    real = streaming._split_digest

    def recording(*args, **kw):
        d = real(*args, **kw)
        used.append(d is not None)
        return d

    monkeypatch.setattr(streaming, "_split_digest", recording)
    return used


def _classic(paths) -> list:
    return [p for p in paths if fastpath.can_read(str(p))]


def _dev_subset(limit: int = 30) -> list:
    if not SHARED.is_dir():
        return []
    files = _classic(sorted(p for p in SHARED.rglob("*") if p.is_file()))
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def assert_same_digest(a: streaming.Digest, b: streaming.Digest) -> None:
    pd.testing.assert_frame_equal(a.streams, b.streams)
    pd.testing.assert_frame_equal(a.notable, b.notable)
    if a.events is None:
        assert b.events is None
    else:
        pd.testing.assert_frame_equal(a.events, b.events)
    assert a.facts == b.facts
    assert a.checksums == b.checksums
    assert (a.passes, a.offloaders) == (b.passes, b.offloaders)


@pytest.mark.parametrize("path", _classic(sample_captures()), ids=lambda p: p.name)
def test_shares_give_the_one_process_digest(path, split_everything):
    for jobs, chunk in ((2, streaming.CHUNK_FRAMES), (3, 31)):
        one = streaming.digest(path, chunk_frames=chunk, events=True)
        split_everything.clear()
        shared = streaming.digest(path, chunk_frames=chunk, events=True, jobs=jobs)
        assert split_everything == [True], "the capture was not split"
        assert_same_digest(one, shared)


@pytest.mark.parametrize("path", _dev_subset(), ids=lambda p: p.name)
def test_shares_of_development_captures(path, split_everything):
    try:
        one = streaming.digest(path, events=True)
    except reader.CaptureError as exc:
        with pytest.raises(reader.CaptureError, match=str(exc)[:40].replace("(", r"\(").replace(")", r"\)")):
            streaming.digest(path, events=True, jobs=2)
        return
    assert_same_digest(one, streaming.digest(path, events=True, jobs=2))


@pytest.mark.parametrize("path", _classic(sample_captures()), ids=lambda p: p.name)
def test_every_frame_is_in_one_share_with_its_whole_stream(path):
    whole = pd.concat(fastpath.iter_tables(str(path), reader.CaptureInfo(path=str(path))), ignore_index=True)
    parts = []
    for index in range(3):
        split = fastpath.Split(index, 3)
        tables = list(fastpath.iter_tables(str(path), reader.CaptureInfo(path=str(path)), 5, split))
        assert all(len(t) for t in tables)
        part = pd.concat(tables, ignore_index=True) if tables else whole.iloc[:0]
        parts.append(part.assign(share=index))
        assert split.first_ts == int(whole["ts_ns"].iloc[0])
        assert split.last_ts == int(whole["ts_ns"].iloc[-1])
    together = pd.concat(parts, ignore_index=True).sort_values("frame", ignore_index=True)
    pd.testing.assert_frame_equal(together.drop(columns="share"), whole)
    conv = together[together["sport"].notna() & together["proto"].isin(["tcp", "udp"])]
    ends = [sorted([(a, int(p)), (b, int(q))]) for a, p, b, q in
            zip(conv["src"], conv["sport"], conv["dst"], conv["dport"])]
    shares_of = {}
    for end, share in zip(map(tuple, map(tuple, ends)), conv["share"]):
        shares_of.setdefault(end, set()).add(share)
    assert all(len(s) == 1 for s in shares_of.values())
    assert (together.loc[~together.index.isin(conv.index), "share"] == 0).all()


def _many_streams(path, count: int = 40) -> str:
    """A capture of *count* short connections from different client ports."""
    frames = []
    for k in range(count):
        c = Conversation(client=("10.0.0.1", 40000 + k), t=1_700_000_000.0 + k * 0.01)
        c.handshake()
        c.c(ACK, 1, 1, data=100)
        c.s(ACK, 1, 101)
        frames += c.frames
    frames.sort(key=lambda f: f[0])
    out = Conversation(frames=frames)
    return out.write(path)


def _icmp_quoting(path) -> str:
    """A connection, then an ICMP error quoting a flow whose own frames come later."""
    c = Conversation()
    c.handshake()
    inner = dpkt.ip.IP(src=socket.inet_aton("10.0.0.1"), dst=socket.inet_aton("10.0.0.9"), p=6,
                       data=dpkt.tcp.TCP(sport=41000, dport=443, flags=SYN, seq=7))
    inner.len = len(inner)
    icmp = dpkt.icmp.ICMP(type=3, code=1, data=dpkt.icmp.ICMP.Unreach(data=bytes(inner)))
    ip = dpkt.ip.IP(src=socket.inet_aton("10.0.0.254"), dst=socket.inet_aton("10.0.0.1"), p=1, data=icmp)
    ip.len = len(ip)
    eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x03", dst=b"\x02\x00\x00\x00\x00\x01", data=ip)
    c.t += 0.001
    c.frames.append((c.t, bytes(eth)))
    late = Conversation(client=("10.0.0.1", 41000), server=("10.0.0.9", 443), t=c.t + 0.001)
    late.handshake()
    c.frames += late.frames
    return c.write(path)


def test_many_streams_are_numbered_as_in_one_process(tmp_path, split_everything):
    path = _many_streams(tmp_path / "many.pcap")
    one = streaming.digest(path, chunk_frames=13, events=True)
    shared = streaming.digest(path, chunk_frames=13, events=True, jobs=2)
    assert split_everything == [True]
    assert_same_digest(one, shared)
    assert list(shared.streams["stream"]) == list(range(40))


def test_a_frame_filed_under_a_second_flow_keeps_one_process(tmp_path, split_everything):
    path = _icmp_quoting(tmp_path / "icmp.pcap")
    one = streaming.digest(path, events=True)
    shared = streaming.digest(path, events=True, jobs=2)
    assert split_everything == [False]
    assert_same_digest(one, shared)


def test_a_share_process_that_dies_leaves_the_work_to_one_process(tmp_path, split_everything, monkeypatch):
    path = _many_streams(tmp_path / "many.pcap")
    real = streaming._analyse_share

    def dying(path, split, *args, **kw):
        if split.index == 1:
            os._exit(3)
        return real(path, split, *args, **kw)

    monkeypatch.setattr(streaming, "_analyse_share", dying)
    shared = streaming.digest(path, events=True, jobs=2)
    assert split_everything == [False]
    monkeypatch.setattr(streaming, "_analyse_share", real)
    assert_same_digest(streaming.digest(path, events=True), shared)


def test_a_damaged_file_fails_in_the_split_as_in_one_process(tmp_path, split_everything):
    path = tmp_path / "cut.pcap"
    good = _many_streams(tmp_path / "many.pcap")
    data = open(good, "rb").read()
    path.write_bytes(data[: len(data) - 30])
    one = streaming.digest(path, events=True)
    shared = streaming.digest(path, events=True, jobs=2)
    assert split_everything == [True]
    assert shared.facts["warnings"] == one.facts["warnings"] != []
    assert_same_digest(one, shared)


def test_report_command_splits_a_big_capture(tmp_path, split_everything):
    path = _many_streams(tmp_path / "many.pcap")
    runner = CliRunner()
    outputs = []
    for workers in ("1", "2"):
        result = runner.invoke(app, ["report", path, "--format", "json", "-j", workers, "-q"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert split_everything == [True]
    assert outputs[0] == outputs[1]
