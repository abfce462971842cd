"""The compiled state walk of the streams table equals the readable one, stream by stream."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED, sample_captures
from pcap_analyzer import analyze
from pcap_analyzer.summary import _LETTERS, _tcp_walk, walk

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


def _compiled(slots, flags, plen, fc, n, split=None):
    """The compiled walk over rows in frame order (streams interleaved), in pieces cut at *split*."""
    state = np.zeros((n, 2), dtype=np.int64)
    completeness, seen, hist_len = (np.zeros(n, dtype=np.int64) for _ in range(3))
    hist = np.zeros((n, len(_LETTERS)), dtype=np.int64)
    for part in np.array_split(np.arange(len(slots)), split or 1):
        walk(slots[part], flags[part], plen[part], fc[part], state, completeness, seen, hist, hist_len)
    return [([int(x) for x in state[g]], "".join(_LETTERS[k] for k in hist[g, :hist_len[g]]), int(completeness[g]))
            for g in range(n)]


@pytest.mark.parametrize("capture", _captures(), ids=lambda p: p.name)
def test_compiled_walk_equals_readable_walk(capture):
    try:
        p = analyze(capture).packets
    except Exception:  # not every shared capture is readable; that is tested elsewhere
        pytest.skip("unreadable capture")
    tcp = p[(p["proto"] == "tcp") & p["stream"].notna()]
    if tcp.empty:
        pytest.skip("no TCP")
    flags = _flag_bits(tcp["flags"])
    plen = tcp["payload_len"].fillna(0).to_numpy(dtype=np.int64)
    fc = tcp["from_client"].fillna(False).to_numpy(dtype=bool)
    slots, streams = pd.factorize(tcp["stream"].to_numpy(dtype=np.int64))
    slots = slots.astype(np.int64)
    readable = []
    for g in range(len(streams)):
        rows = slots == g
        state, history, completeness = _tcp_walk(flags[rows], plen[rows], fc[rows])
        readable.append((list(state), history, completeness))
    assert _compiled(slots, flags, plen, fc, len(streams)) == readable
    # carried on from piece to piece, as chunks of a capture are
    assert _compiled(slots, flags, plen, fc, len(streams), split=7) == readable
