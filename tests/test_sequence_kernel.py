"""The compiled sequence analysis gives exactly what the readable Python one gives."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import SHARED, sample_captures
from pcap_analyzer import analyze, rules
from pcap_analyzer.rules.sequence import SequenceAnalysis
from pcap_analyzer.rules.sequence_kernel import kernel

COLUMNS = ["labels", "dup_ack_num", "dup_ack_of", "acks_frame", "ack_rtt_s", "bytes_in_flight",
           "rto_s", "rto_frame", "initial_rtt_s", "window_size"]


def _both(path, monkeypatch):
    compiled = analyze(path).packets[COLUMNS]
    registry = tuple(SequenceAnalysis(compiled=False) if isinstance(r, SequenceAnalysis) else r
                     for r in rules.REGISTRY)
    monkeypatch.setattr(rules, "REGISTRY", registry)
    monkeypatch.setattr(rules.apply, "__defaults__", (registry,))
    python = analyze(path).packets[COLUMNS]
    return compiled, python


def _captures():
    out = sample_captures()
    if SHARED.is_dir():
        out += sorted(p for p in (SHARED / "zeek" / "tcp").glob("*.pcap"))[:20]
    return out


@pytest.mark.skipif(kernel is None, reason="numba not installed")
@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_compiled_equals_reference(path, monkeypatch):
    compiled, python = _both(path, monkeypatch)
    pd.testing.assert_frame_equal(compiled, python)
