"""Run a crafted conversation through pcapan (and tshark, when installed)."""
from __future__ import annotations

import shutil

from builder import Conversation
from pcap_analyzer import analyze, tshark
from pcap_analyzer.vocabulary import WIRESHARK_VERSIONS

ANALYSIS = set(tshark.ANALYSIS_FLAGS.values())


def labels_by_frame(path) -> dict[int, set[str]]:
    p = analyze(path).packets
    out = {}
    for frame, labels in zip(p["frame"], p["labels"].astype("string").fillna("")):
        out[int(frame)] = {x for x in labels.split(";") if x} & ANALYSIS
    return out


def check(conv: Conversation, tmp_path, expected: dict[int, set[str]], name: str = "case.pcap"):
    """Assert the analysis labels of every frame: those in *expected*, none elsewhere.

    With tshark installed the same capture must also agree with tshark on
    every frame, so each crafted case doubles as a conformance check.
    """
    path = conv.write(tmp_path / name)
    got = labels_by_frame(path)
    want = {f: set() for f in got}
    want.update(expected)
    assert got == want, f"labels differ: got {got}, want {want}"
    if shutil.which("tshark") and tshark.release() in WIRESHARK_VERSIONS:
        # held to the installed tshark's own release's rules
        a = analyze(path, wireshark=tshark.release())
        c = tshark.compare(a.packets, tshark.fields(path), check_flags=True, release=tshark.release())
        assert c.ok, c.describe()
    return path
