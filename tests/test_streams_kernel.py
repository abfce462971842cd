"""The compiled stream walk numbers streams exactly like the readable reference."""
from __future__ import annotations

import pytest

from conftest import SHARED, sample_captures
from pcap_analyzer import decode, reader, streams, streams_kernel

COLUMNS = ["stream", "side", "rel_seq", "rel_ack", "reused_ports", "next_rel_seq"]


def _captures():
    out = sample_captures()
    if SHARED.is_dir():
        out += sorted(p for p in SHARED.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))
    return out


@pytest.mark.skipif(streams_kernel.walk is None, reason="numba not installed")
@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_compiled_walk_equals_reference(path):
    try:
        table = decode.build_table(reader.read_frames(path))
    except reader.CaptureError:
        return
    a = streams.assign(table, compiled=True)
    b = streams.assign(table, compiled=False)
    for c in COLUMNS:
        x, y = a[c].astype(object), b[c].astype(object)
        same = (x == y).fillna(False).astype(bool) | (x.isna() & y.isna())
        assert same.all(), f"{c}: frames {list(a.loc[~same, 'frame'][:5])}"
