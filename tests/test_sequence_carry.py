"""The sequence analysis run chunk by chunk with a carry gives what one run over the whole table gives.

Each capture's packet table is built as ``analyze`` builds it up to the
rules; the rules Phase and SequenceAnalysis then run once over the whole
table, and SequenceAnalysis again over consecutive slices of it (1, 7,
1000 frames, and all at once) with one :class:`SequenceCarry` per pass.
Labels and every added column must be identical, frame by frame.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLES, SHARED
from pcap_analyzer import decode, fastpath, reader, streams, summary
from pcap_analyzer.rules import RuleContext
from pcap_analyzer.rules.phase import Phase
from pcap_analyzer.rules.sequence import SequenceAnalysis, SequenceCarry
from pcap_analyzer.rules.sequence_kernel import _MAX_UNACKED, NSLOTS, NUNACKED, kernel

SHARED_SUBSET = 40
SMALL = 3000            # chunks of one frame only below this many frames
EXTS = (".pcap", ".pcapng", ".gz", ".cap")


def _samples():
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.name.endswith(EXTS))


def _shared():
    if not SHARED.is_dir():
        return []
    files = sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix in EXTS)
    if len(files) <= SHARED_SUBSET:
        return files
    return [files[i * len(files) // SHARED_SUBSET] for i in range(SHARED_SUBSET)]


def _table(path) -> pd.DataFrame:
    """The packet table as ``analysis.analyze`` hands it to the rules (skip what is not a capture)."""
    info = reader.CaptureInfo(path=os.fspath(path))
    try:
        packets = fastpath.build_table(os.fspath(path), info)
        if packets is None:
            packets = decode.build_table(reader.read_frames(path, info))
    except reader.CaptureError:
        pytest.skip("not a capture")
    packets = streams.assign(packets)
    return streams.roles(packets, summary.service_name)


def _whole(table: pd.DataFrame):
    """Phase then SequenceAnalysis over the whole table: (table with phase, labels, columns)."""
    ctx = RuleContext(table)
    Phase().run(ctx)
    SequenceAnalysis().run(ctx)
    annotated = table.assign(phase=ctx.added["phase"])
    col = ctx.labels_column()
    labels = {r: v for r, v in enumerate(col.tolist()) if v is not pd.NA}
    cols = {k: pd.Series(v) for k, v in ctx.added.items() if k in SequenceAnalysis.columns}
    return annotated, labels, cols


def _chunked(annotated: pd.DataFrame, size: int, compiled: bool = True):
    """SequenceAnalysis over consecutive slices of *size* rows with one carry."""
    carry = SequenceCarry()
    rule = SequenceAnalysis(compiled=compiled, carry=carry)
    labels: dict[int, str] = {}
    parts: dict[str, list] = {k: [] for k in SequenceAnalysis.columns}
    for a in range(0, max(len(annotated), 1), size):
        chunk = annotated.iloc[a:a + size].reset_index(drop=True)
        ctx = RuleContext(chunk)
        rule.run(ctx)
        for r, v in enumerate(ctx.labels_column().tolist()):
            if v is not pd.NA:
                labels[a + r] = v
        for k in parts:
            parts[k].append(pd.Series(ctx.added[k]))
    cols = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    return labels, cols, carry


def _assert_same(whole, chunked, what):
    _, labels, cols = whole
    got_labels, got_cols, _ = chunked
    assert got_labels == labels, f"{what}: labels differ"
    assert set(got_cols) == set(cols)
    for k in cols:
        pd.testing.assert_series_equal(got_cols[k], cols[k], check_exact=True, obj=f"{what}: column {k}")


def _assert_compact(carry: SequenceCarry):
    """Only unacknowledged segments are kept, in one flat array; nothing per stream is buffer-sized."""
    n = len(carry)
    assert carry.streams.shape == (n,)
    assert carry.state.shape == (n, 2, NSLOTS)
    assert carry.times.shape == (n, 2)
    assert carry.unacked_start.shape == (n, 2)
    assert carry.unacked.shape == (int(carry.state[:, :, NUNACKED].sum()), 4)
    assert (carry.state[:, :, NUNACKED] <= _MAX_UNACKED).all()
    for name, value in vars(carry).items():
        if isinstance(value, np.ndarray) and name != "unacked":
            assert _MAX_UNACKED not in value.shape[1:], name


def _check(path, sizes):
    table = _table(path)
    whole = _whole(table)
    annotated = whole[0]
    n = len(table)
    if n < SMALL:
        sizes = (1,) + sizes
    final = None
    for size in sizes + (max(n, 1),):
        chunked = _chunked(annotated, size)
        _assert_same(whole, chunked, f"chunks of {size}")
        carry = chunked[2]
        _assert_compact(carry)
        # the state left at the end does not depend on the chunking either
        if final is None:
            final = carry
        else:
            for name in ("streams", "state", "times", "unacked", "unacked_start"):
                np.testing.assert_array_equal(getattr(carry, name), getattr(final, name), err_msg=name)


needs_numba = pytest.mark.skipif(kernel is None, reason="numba not installed")


@needs_numba
@pytest.mark.parametrize("path", _samples(), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_chunks_equal_whole_on_samples(path):
    _check(path, (7, 1000))


@pytest.mark.corpus
@needs_numba
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared development captures not present")
@pytest.mark.parametrize("path", _shared(),
                         ids=lambda p: str(p.relative_to(SHARED)) if SHARED in p.parents else p.name)
def test_chunks_equal_whole_on_shared(path):
    _check(path, (7, 1000))


@pytest.mark.parametrize("path", [p for p in _samples() if "broken" not in p.parts],
                         ids=lambda p: str(p.relative_to(SAMPLES)))
def test_python_reference_carries_the_same_state(path):
    """The readable path takes the same carry and leaves the same state as the kernel."""
    table = _table(path)
    whole = _whole(table)
    python = _chunked(whole[0], 7, compiled=False)
    _assert_same(whole, python, "python, chunks of 7")
    if kernel is not None:
        compiled = _chunked(whole[0], 7)[2]
        for name in ("streams", "state", "times", "unacked", "unacked_start"):
            np.testing.assert_array_equal(getattr(python[2], name), getattr(compiled, name), err_msg=name)


def test_carry_discard_keeps_the_rest_compact():
    path = SAMPLES / "bulk_loss.pcap"
    whole = _whole(_table(path))
    carry = _chunked(whole[0].iloc[:1500], 100)[2]     # stop mid-transfer: segments wait for ACKs
    assert len(carry) and carry.unacked.shape[0]
    ids = carry.streams.copy()
    before = {int(s): carry.initial(np.array([s])) for s in ids}
    gone = int(ids[0])
    carry.discard([gone])
    assert gone not in carry and len(carry) == len(ids) - 1
    _assert_compact(carry)
    for s in ids[1:].tolist():
        st, tm, una, start = carry.initial(np.array([s]))
        st0, tm0, una0, start0 = before[s]
        np.testing.assert_array_equal(st, st0)
        np.testing.assert_array_equal(tm, tm0)
        for e in range(2):
            k = st[0, e, NUNACKED]
            np.testing.assert_array_equal(una[start[0, e]:start[0, e] + k], una0[start0[0, e]:start0[0, e] + k])
