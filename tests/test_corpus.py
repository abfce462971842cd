"""Every capture we can find goes through packets, streams and report without a traceback.

The shared development captures (many malformed on purpose) are used when
that folder exists next to the repository; the repository's own broken
captures always are.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import SHARED, broken_captures, sample_captures
from pcap_analyzer import CaptureError, analyze
from pcap_analyzer.report import packets_document, render, report_document, streams_document

PER_FILE_SECONDS = 60


@contextmanager
def time_limit(seconds: int, what: str):
    def boom(signum, frame):
        raise TimeoutError(f"{what} took more than {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_everything(path: Path) -> None:
    with time_limit(PER_FILE_SECONDS, str(path)):
        try:
            a = analyze(path)
        except CaptureError as exc:
            msg = str(exc)
            assert "\n" not in msg and msg.startswith(str(path))
            return
        for fmt in ("csv", "json"):
            render(packets_document(a), fmt, "packets")
        for fmt in ("csv", "json", "table", "markdown"):
            render(streams_document(a), fmt, "streams")
            render(report_document(a, for_table=fmt in ("table", "markdown")), fmt, "streams")
        assert len(a.packets) == a.info.frames
        assert a.packets["frame"].tolist() == list(range(1, len(a.packets) + 1))


def _shared():
    if not SHARED.is_dir():
        return []
    return sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng", ".gz", ".cap"))


@pytest.mark.corpus
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared development captures not present")
@pytest.mark.parametrize("path", _shared(), ids=lambda p: str(p.relative_to(SHARED)) if SHARED in p.parents else p.name)
def test_shared_capture_never_crashes(path):
    run_everything(path)


@pytest.mark.parametrize("path", broken_captures() + sample_captures(), ids=lambda p: p.name)
def test_own_captures_never_crash(path):
    run_everything(path)
