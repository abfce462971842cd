"""The compiled pcap reader gives exactly the table the per-frame decoder gives."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import SAMPLES, SHARED
from pcap_analyzer import decode, fastpath, reader


def _pcaps():
    out = sorted(p for p in SAMPLES.rglob("*.pcap") if p.is_file())
    if SHARED.is_dir():
        out += sorted(p for p in SHARED.rglob("*.pcap") if p.is_file())
    return out


def _reference(path):
    info = reader.CaptureInfo(path=str(path))
    try:
        return decode.build_table(reader.read_frames(path, info)), info
    except reader.CaptureError:
        return None, info


@pytest.mark.skipif(fastpath.numba is None, reason="numba not installed")
@pytest.mark.parametrize("path", _pcaps(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_fast_reader_equals_reference(path):
    info = reader.CaptureInfo(path=str(path))
    fast = fastpath.build_table(str(path), info)
    ref, ref_info = _reference(path)
    if fast is None:
        return          # not a file the fast path takes; the reference reads it
    assert ref is not None
    assert info.warnings == ref_info.warnings
    assert info.frames == ref_info.frames
    for col in ref.columns:
        a, b = fast[col].astype(object), ref[col].astype(object)
        same = ((a == b).fillna(False).astype(bool)) | (a.isna() & b.isna())
        assert same.all(), f"{col}: frames {list(ref.loc[~same, 'frame'][:5])} fast={list(a[~same][:3])} ref={list(b[~same][:3])}"
