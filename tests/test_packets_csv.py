"""``packets --format csv`` written chunk by chunk is the packets table's csv, byte for byte."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import dpkt
import pytest

from builder import ACK, PSH, RST, SYN, Conversation
from conftest import ROOT, broken_captures, sample_captures
from pcap_analyzer import CaptureError, analyze, pipeline
from pcap_analyzer.capture import reader
from pcap_analyzer.report import packets_csv
from pcap_analyzer.report.csv_text import frame_csv_bytes


def _readable(paths):
    out = []
    for p in paths:
        try:
            analyze(p)
        except CaptureError:
            continue
        out.append(p)
    return out


CAPTURES = sample_captures() + _readable(broken_captures())


def rel(p) -> str:
    return os.path.relpath(p, ROOT / "sample_captures")


class _Pipe(io.RawIOBase):
    """A write-only stream that cannot be rewound, as a pipe."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += bytes(b)
        return len(b)


def _reads(monkeypatch) -> list:
    """A list that gets one entry per read of a capture."""
    reads: list = []
    real = pipeline.Run.__init__

    def counting(self, *args, **kw):
        reads.append(args[0])
        real(self, *args, **kw)

    monkeypatch.setattr(pipeline.Run, "__init__", counting)
    return reads


def _small_chunks(monkeypatch, n: int = 7) -> None:
    monkeypatch.setattr(pipeline, "FRAMES_PER_CHUNK", n)
    monkeypatch.setattr(reader, "FRAMES_PER_CHUNK", n)


@pytest.mark.parametrize("chunk", [7, 150_000])
@pytest.mark.parametrize("path", CAPTURES, ids=rel)
def test_chunked_csv_is_the_table_csv(path, chunk, monkeypatch):
    want = frame_csv_bytes(analyze(path).packets)
    _small_chunks(monkeypatch, chunk)
    to_file = io.BytesIO(b"before\n")
    to_file.seek(0, io.SEEK_END)
    packets_csv.write_csv(path, to_file)
    assert to_file.getvalue() == b"before\n" + want
    to_pipe = _Pipe()
    packets_csv.write_csv(path, to_pipe)
    assert bytes(to_pipe.data) == want


def _offloaded_late(tmp_path, then_good: bool = False) -> str:
    """A client whose TCP checksums are not filled in (offloaded), found out only after a few
    chunks of 7 frames; with *then_good*, one filled in at the very end (so it does not offload)."""
    c = Conversation()
    c.handshake()
    for i in range(12):
        c.c(PSH | ACK, 1 + 100 * i, 1, 100)
        c.s(ACK, 1, 101 + 100 * i)
    frames = []
    for n, (ts, buf) in enumerate(c.frames, 1):
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        if tcp.sport == 40000 and (not then_good or n < len(c.frames) - 1):
            tcp.sum = 0x1234        # not the checksum: left for the card to fill in
            buf = bytes(eth)[:14] + bytes(eth.data)[:20] + tcp.pack_hdr() + bytes(tcp.data)
        frames.append((ts, buf))
    c.frames = frames
    return c.write(tmp_path / "offload_late.pcap")


def test_a_sender_found_to_offload_late_is_written_again(tmp_path, monkeypatch):
    path = _offloaded_late(tmp_path)
    want = frame_csv_bytes(analyze(path).packets)
    assert b"offloaded" in want
    _small_chunks(monkeypatch, 3)      # the first chunk holds two of the client's frames: too few to tell
    reads = _reads(monkeypatch)
    out = io.BytesIO()
    packets_csv.write_csv(path, out)
    assert out.getvalue() == want
    assert len(reads) == 2, "the rows written as bad were written again once the sender was found to offload"


def test_a_sender_that_turns_out_not_to_offload_is_written_again(tmp_path, monkeypatch):
    path = _offloaded_late(tmp_path, then_good=True)
    want = frame_csv_bytes(analyze(path).packets)
    assert b"offloaded" not in want and b"bad" in want
    _small_chunks(monkeypatch)
    reads = _reads(monkeypatch)
    out = io.BytesIO()
    packets_csv.write_csv(path, out)
    assert out.getvalue() == want
    assert len(reads) == 2


def test_a_syn_ack_after_a_refusing_rst_rewrites_its_sentence(tmp_path, monkeypatch):
    # Wireshark 4.0 keeps the retried SYNs in the refused stream (4.4 and 4.6 open a new one each)
    monkeypatch.setenv("PCAPAN_WIRESHARK", "4.0")
    c = Conversation()
    c.c(SYN, 0, 0, after=0)
    c.s(RST | ACK, 0, 1)
    for _ in range(8):
        c.c(SYN, 0, 0, after=0.2)      # retried: the same stream
    c.s(SYN | ACK, 0, 1)
    c.c(ACK, 1, 1)
    path = c.write(tmp_path / "late_syn_ack.pcap")
    want = frame_csv_bytes(analyze(path).packets)
    _small_chunks(monkeypatch)
    reads = _reads(monkeypatch)
    out = io.BytesIO()
    packets_csv.write_csv(path, out)
    assert out.getvalue() == want
    assert len(reads) == 2


def test_one_read_when_the_end_changes_nothing(monkeypatch):
    path = ROOT / "sample_captures" / "http_like.pcap"
    _small_chunks(monkeypatch)
    reads = _reads(monkeypatch)
    packets_csv.write_csv(path, io.BytesIO())
    assert len(reads) == 1
    packets_csv.write_csv(path, _Pipe())
    assert len(reads) == 3, "to a pipe: a read for the end's facts, then one that writes"


def test_the_command_writes_the_same_bytes_everywhere(tmp_path):
    path = ROOT / "sample_captures" / "bulk_loss.pcap"
    want = frame_csv_bytes(analyze(path).packets)
    cmd = [sys.executable, "-m", "pcap_analyzer", "packets", str(path), "-f", "csv", "-q"]
    out = tmp_path / "p.csv"
    subprocess.run(cmd + ["-o", str(out)], check=True)
    assert out.read_bytes() == want
    with open(tmp_path / "stdout.csv", "wb") as f:
        subprocess.run(cmd, stdout=f, check=True)
    assert (tmp_path / "stdout.csv").read_bytes() == want
    piped = subprocess.run(cmd, stdout=subprocess.PIPE, check=True).stdout
    assert piped == want
    subprocess.run(cmd + ["-o", os.devnull], check=True)


def test_not_a_capture_writes_nothing(tmp_path):
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture\n")
    out = tmp_path / "p.csv"
    r = subprocess.run([sys.executable, "-m", "pcap_analyzer", "packets", str(bad), "-f", "csv", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a pcap" in r.stderr
    assert not out.exists()
