"""The progress of a long read: what the library reports as it reads, and the bar a terminal shows.

A report follows a mapped file's bytes (counting its frames first would read
the file twice); analyze() counts the frames anyway (to make its columns
once) and shows them; a stream's size is not known, so its bar only moves.
"""
from __future__ import annotations

import gzip
import os
import struct
import threading

import pytest

from conftest import SAMPLES
from pcap_analyzer import analyze
from pcap_analyzer.cli import progress as bar
from pcap_analyzer.report.digest import digest
from test_terminal_layout import on_terminal

BULK = SAMPLES / "bulk_loss.pcap"


def _records(path) -> tuple[bytes, list[bytes]]:
    """A little-endian microsecond pcap's header and records."""
    data = path.read_bytes()
    head, at, records = data[:24], 24, []
    while at < len(data):
        n = struct.unpack_from("<I", data, at + 8)[0]
        records.append(data[at:at + 16 + n])
        at += 16 + n
    return head, records


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A capture over the 8 MiB from which commands show progress: bulk_loss.pcap's records 24 times
    over, each copy a second later."""
    head, records = _records(BULK)
    out = bytearray(head)
    for copy in range(24):
        for r in records:
            s, us = struct.unpack_from("<II", r)
            out += struct.pack("<II", s + 10 * copy, us) + r[8:]
    path = tmp_path_factory.mktemp("progress") / "big.pcap"
    path.write_bytes(bytes(out))
    return path, 24 * len(records)


def test_a_report_follows_a_mapped_files_bytes_without_counting_its_frames(big):
    path, frames = big
    states = []
    d = digest(path, progress=states.append)
    size = path.stat().st_size
    assert d.facts["packets"] == frames
    reading = [s for s in states if s.step == "reading frames"]
    assert all(s.total is None and s.size == size for s in states)
    assert [s.bytes_read for s in reading] == sorted(s.bytes_read for s in reading)
    assert reading[0].bytes_read == 24 and states[-1].bytes_read == size and states[-1].frames == frames
    assert str(states[-1]) == f"making the tables ({frames:,} frames, 100% of the file)"


def test_analyze_counts_on_the_reading_thread_and_a_stream_has_no_size(big, tmp_path):
    """analyze() counts a mapped file's frames (to make its columns once) on the reading thread, not
    before it: its first state has the file's size and no count, its last has both."""
    path, frames = big
    states = []
    analyze(path, progress=states.append)
    assert states[0].total is None and states[0].size == path.stat().st_size
    assert states[-1].total == frames and states[-1].frames == frames
    assert str(states[-1]) == f"making the tables ({frames:,} of {frames:,} frames)"
    # a compressed file: its compressed bytes, as the inflater takes them
    squeezed = tmp_path / "big.pcap.gz"
    squeezed.write_bytes(gzip.compress(path.read_bytes(), 1))
    states = []
    digest(squeezed, progress=states.append)
    size = squeezed.stat().st_size
    assert all(s.size == size and s.total is None for s in states)
    assert [s.bytes_read for s in states] == sorted(s.bytes_read for s in states)
    assert states[-1].bytes_read == size and states[-1].frames == frames
    # a stream: no size, the bytes framed
    states = []
    with open(path, "rb") as f:
        r, w = os.pipe()
        writer = threading.Thread(target=lambda: (os.write(w, f.read()), os.close(w)))
        writer.start()
        try:
            digest(f"/dev/fd/{r}", progress=states.append)
        finally:
            writer.join(timeout=60)
            os.close(r)
    assert all(s.size is None and s.total is None for s in states)
    assert states[-1].bytes_read == path.stat().st_size
    assert str(states[-1]) == f"making the tables ({frames:,} frames)"


class _Task:
    def __init__(self, total, speed, **fields):
        self.total, self.speed, self.finished_speed, self.fields = total, speed, None, fields


def test_the_bar_says_bytes_of_the_file_and_frames_per_second():
    task = _Task(490_267_365, 250_000_000.0, frames=600_000, bytes_read=245_133_682, size=490_267_365)
    assert bar._Frames().render(task).plain == "245.1/490.3 MB"
    # the bar moves by bytes: the rate is turned into frames with the frames per byte read so far
    assert bar._Rate().render(task).plain == "612k frames/s"
    fast = _Task(None, 3_000_000.0, frames=600_000, bytes_read=245_133_682, size=None)
    assert bar._Frames().render(fast).plain == "600,000 frames, 245.1 MB"
    assert bar._Rate().render(fast).plain == "3.0M frames/s"
    stream = _Task(None, 900.0, frames=21_482, bytes_read=8_400_000, size=None)
    assert bar._Frames().render(stream).plain == "21,482 frames, 8.4 MB"
    assert bar._Rate().render(stream).plain == "900 frames/s"


def test_the_bar_keeps_to_bytes_whether_or_not_the_frames_get_counted():
    from pcap_analyzer.pipeline import Progress

    with bar.ProgressBar("x.pcap") as shown:
        shown.update(Progress("reading frames", 0, None, 24, 1000))
        shown.update(Progress("reading frames", 10, 40, 500, 1000))
        task = shown._bar.tasks[0]
        assert (task.completed, task.total) == (500, 1000)
    with bar.ProgressBar("x.pcap") as shown:
        shown.update(Progress("reading frames", 0, 40, 24, 1000))
        shown.update(Progress("reading frames", 10, 40, 500, 1000))
        task = shown._bar.tasks[0]
        assert (task.completed, task.total) == (500, 1000)


@pytest.mark.parametrize("columns", [80, 120])
def test_the_bar_on_a_terminal_keeps_its_figures_whole(big, columns):
    path, frames = big
    text = on_terminal(["report", path], columns)
    size = path.stat().st_size / 1e6
    # the bar's last state before it vanishes is written to the terminal once at least
    assert f"/{size:.1f} MB" in text, text[:2000]
    lines = [line for line in text.splitlines() if "MB" in line and "frames/s" in line]
    assert lines and all(len(line.rstrip()) <= columns for line in lines), lines
    assert "Capture" in text and f"{frames:,}" in text
