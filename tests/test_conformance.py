"""Frame-by-frame agreement with tshark on every sample capture.

Streams, relative sequence/acknowledgement numbers, every tcp.analysis flag
and checksum verdicts (tshark run with checksum validation on; its "bad"
equals our bad or offloaded).  On failure the message lists, per field and
per flag, how many frames differ and the first of them.
"""
from __future__ import annotations

import pytest

from conftest import needs_tshark, sample_captures
from pcap_analyzer import analyze, tshark


@needs_tshark
@pytest.mark.parametrize("path", sample_captures(), ids=lambda p: p.name)
def test_matches_tshark_frame_by_frame(path):
    a = analyze(path)
    c = tshark.compare(a.packets, tshark.fields(path), check_flags=True, check_checksums=True)
    assert c.ok, f"{path.name}: {c.describe()}"
    assert c.tcp_frames or c.udp_frames or path.name in {"unknown_linktype.pcap"}


@needs_tshark
def test_samples_cover_every_analysis_flag():
    """The recorded and crafted samples together show every flag tshark knows."""
    seen = set()
    for path in sample_captures():
        labels = analyze(path).packets["labels"].dropna()
        for ls in labels:
            seen.update(ls.split(";"))
    missing = set(tshark.ANALYSIS_FLAGS.values()) - seen
    assert not missing, f"no sample capture shows {sorted(missing)}"
