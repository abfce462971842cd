"""The chunk-by-chunk report equals the report of the whole-capture analysis.

The readable whole-capture pipeline (``analyze_readably``) is the oracle:
for every sample capture and part of the development captures, the
compiled engine reading chunks of 7 and 1000 frames (and of 1 frame for
small captures) must give the same capture facts, streams table, checksum
facts, notable frames and events.
"""
from __future__ import annotations

import pandas as pd
import pytest

from builder import ACK, SYN, Conversation
from conftest import SHARED, sample_captures
from pcap_analyzer import CaptureError
from pcap_analyzer.analysis import analyze_readably
from pcap_analyzer.report.documents import digest_document, report_document
from pcap_analyzer.streaming import digest


def _dev_subset(limit: int = 40) -> list:
    if not SHARED.is_dir():
        return []
    files = sorted(p for p in SHARED.rglob("*") if p.is_file())
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def assert_same_report(path, chunk_frames: int) -> None:
    try:
        a = analyze_readably(path)
    except CaptureError as exc:
        with pytest.raises(CaptureError) as got:
            digest(path, chunk_frames)
        assert str(got.value) == str(exc)
        return
    d = digest(path, chunk_frames, events=True)
    for for_table in (True, False):
        want = report_document(a, for_table=for_table)
        got = digest_document(d, for_table=for_table)
        assert list(got) == list(want)
        for key, value in want.items():
            if isinstance(value, pd.DataFrame):
                pd.testing.assert_frame_equal(got[key].reset_index(drop=True), value.reset_index(drop=True),
                                              check_dtype=False, check_categorical=False,
                                              obj=f"{path.name} {key} (chunks of {chunk_frames})")
            else:
                assert got[key] == value, f"{path.name} {key} (chunks of {chunk_frames})"


@pytest.mark.parametrize("path", sample_captures(), ids=lambda p: p.name)
def test_samples_in_chunks_report_the_same(path):
    for size in (7, 1000):
        assert_same_report(path, size)
    if path.stat().st_size < 200_000:
        assert_same_report(path, 1)


@pytest.mark.skipif(not SHARED.is_dir(), reason="no development captures next to the repository")
@pytest.mark.parametrize("path", _dev_subset(), ids=lambda p: p.name)
def test_dev_captures_in_chunks_report_the_same(path):
    assert_same_report(path, 7)
    assert_same_report(path, 1000)


def test_offloading_sender_found_at_the_end_reads_the_capture_again(tmp_path):
    # Every checksum the client sends is wrong (and not one of the values
    # offload leaves behind), everything it receives is right: that only
    # shows at the end, after the first chunks called them bad.
    conv = Conversation()
    conv.handshake()
    for i in range(4):
        conv.c(ACK, 1 + 100 * i, 1, data=100)
        conv.s(ACK, 1, 101 + 100 * i)
    conv.frames = [(ts, _wrong_tcp_checksum(buf) if buf[26:30] == bytes([10, 0, 0, 1]) else buf)
                   for ts, buf in conv.frames]
    path = conv.write(tmp_path / "offload_by_consistency.pcap")
    d = digest(path, 1)
    assert d.passes == 2
    assert d.checksums["offloaded"] == 6 and d.checksums["bad"] == 0
    assert_same_report(tmp_path / "offload_by_consistency.pcap", 1)


def _wrong_tcp_checksum(frame: bytes) -> bytes:
    at = 14 + 20 + 16
    value = (int.from_bytes(frame[at:at + 2], "big") ^ 0x5A5A) or 1
    return frame[:at] + value.to_bytes(2, "big") + frame[at + 2:]


def test_client_decided_by_a_late_syn_reads_the_capture_again(tmp_path):
    # The first frames come from the side on the ephemeral port, so the ports
    # make it the client; a SYN from the other side later says otherwise.
    conv = Conversation(client=("10.0.0.1", 80), server=("10.0.0.2", 50000))
    conv.s(ACK, 1, 1, data=100)
    conv.s(ACK, 101, 1, data=100)
    conv.c(SYN, 0, 0)
    conv.c(ACK, 1, 201)
    path = conv.write(tmp_path / "late_syn.pcap")
    d = digest(path, 1)
    assert d.passes == 2
    assert d.streams.loc[0, "client_port"] == 80
    assert_same_report(tmp_path / "late_syn.pcap", 1)


def test_chunks_do_not_change_anything_on_a_healthy_capture(samples_dir):
    d = digest(samples_dir / "bulk_loss.pcap", 1000)
    assert d.passes == 1
    assert d.events is None


@pytest.mark.parametrize("path", sample_captures(), ids=lambda p: p.name)
def test_check_read_in_chunks_grades_the_same(path):
    from pcap_analyzer.check import check, check_file

    want = check(analyze_readably(path))
    got, a = check_file(path)
    assert got.facts == want.facts and got.summary == want.summary and got.stream == want.stream
    for name in ("rubric", "answers", "segments", "retransmissions", "evidence"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_dtype=False,
                                      check_categorical=False,
                                      obj=f"{path.name} {name}")
    if want.stream is not None:
        assert set(a.packets["stream"]) == {want.stream}
