"""The stream table's state walk sees only the rows that can change it: same result as every row."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED, sample_captures
from pcap_analyzer import analyze
from pcap_analyzer.summary import _tcp_walk, walk_rows

_TCP_RICH = ["zeek/tcp", "zeek/http", "tcpdump"]
_BITS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ECE": 64, "CWR": 128, "NS": 256}


def _flag_bits(text) -> np.ndarray:
    return np.array([sum(_BITS[f] for f in str(t).split(",") if f in _BITS) if isinstance(t, str) else 0
                     for t in text], dtype=np.int64)


def _captures():
    out = list(sample_captures())
    if SHARED.is_dir():
        for sub in _TCP_RICH:
            d = SHARED / sub
            if d.is_dir():
                out += sorted(p for p in d.rglob("*") if p.is_file() and p.name.endswith((".pcap", ".pcapng", ".gz")))[:25]
    return out


@pytest.mark.parametrize("capture", _captures(), ids=lambda p: p.name)
def test_walk_of_kept_rows_equals_walk_of_every_row(capture):
    try:
        p = analyze(capture).packets
    except Exception:  # not every shared capture is readable; that is tested elsewhere
        pytest.skip("unreadable capture")
    tcp = p[(p["proto"] == "tcp") & p["stream"].notna()].sort_values(["stream", "frame"], kind="stable")
    if tcp.empty:
        pytest.skip("no TCP")
    flags = _flag_bits(tcp["flags"])
    plen = tcp["payload_len"].fillna(0).to_numpy(dtype=np.int64)
    fc = tcp["from_client"].fillna(False).to_numpy(dtype=bool)
    group = tcp["stream"].to_numpy(dtype=np.int64)
    keep = walk_rows(flags, plen, fc, group)
    for g in np.unique(group):
        rows = group == g
        full = _tcp_walk(flags[rows], plen[rows], fc[rows])
        kept = _tcp_walk(flags[rows & keep], plen[rows & keep], fc[rows & keep])
        assert kept == full, (int(g), full, kept)


def test_kept_rows_are_few_in_a_bulk_transfer():
    from conftest import SAMPLES

    p = analyze(SAMPLES / "bulk_loss.pcap").packets
    tcp = p[p["proto"] == "tcp"].sort_values(["stream", "frame"], kind="stable")
    keep = walk_rows(_flag_bits(tcp["flags"]),
                     tcp["payload_len"].fillna(0).to_numpy(dtype=np.int64),
                     tcp["from_client"].fillna(False).to_numpy(dtype=bool), tcp["stream"].to_numpy(dtype=np.int64))
    assert keep.sum() < 40 < len(tcp)
