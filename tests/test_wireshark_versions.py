"""Which Wireshark release's rules pcapan follows, and the frames those releases label differently.

Each crafted capture under sample_captures/crafted/ws_*.pcap shows one rule
that changed between Wireshark 4.0, 4.4 and 4.6 (docs/wireshark-versions.md).
Its known answer per release is written out below, and it is held to what
each tshark printed (the records under tests/oracle/, checked without
tshark; and live against each tshark release found here).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT, SAMPLES
from pcap_analyzer import analyze, tshark
from pcap_analyzer.vocabulary import (DEFAULT_WIRESHARK, WIRESHARK_ENV, WIRESHARK_VERSIONS, UnknownWireshark,
                                      wireshark_version)

CRAFTED = SAMPLES / "crafted"
DOC = ROOT / "docs" / "wireshark-versions.md"
NEWER = ("4.4", "4.6")


def labels(path, version: str) -> dict[int, set[str]]:
    """The tcp.analysis labels pcapan gives each frame, following *version*'s rules."""
    wanted = set(tshark.ANALYSIS_FLAGS.values())
    p = analyze(path, wireshark=version).packets
    return {int(f): {x for x in str(ls).split(";") if x in wanted} for f, ls in zip(p["frame"], p["labels"].astype("string").fillna(""))}


def frame(path, version: str, number: int):
    p = analyze(path, wireshark=version).packets
    return p.loc[p["frame"] == number].iloc[0]


# --- the known answers of the crafted captures ------------------------------------------------

@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_duplicate_ack_with_sack(version):
    path = CRAFTED / "ws_dup_ack_sack.pcap"
    got = labels(path, version)[7]
    if version in NEWER:
        assert got == {"duplicate_ack"}
        row = frame(path, version, 7)
        assert (row["dup_ack_num"], row["dup_ack_of"]) == (1, 5)
    else:
        assert got == {"window_update"}


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_fast_retransmission_into_a_sack_hole(version):
    got = labels(CRAFTED / "ws_fast_retransmission_sack.pcap", version)
    assert got[12] == {"fast_retransmission", "retransmission"}      # the ACKed edge: every release
    assert got[13] == ({"fast_retransmission", "retransmission"} if version in NEWER else {"retransmission"})


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_data_sent_again_soon_after_newer_data(version):
    got = labels(CRAFTED / "ws_resend_soon.pcap", version)
    assert got[6] == ({"retransmission"} if version in NEWER else {"out_of_order"})


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_partial_ack_is_timed(version):
    path = CRAFTED / "ws_partial_ack.pcap"
    half = frame(path, version, 5)
    if version in NEWER:
        assert half["acks_frame"] == 4
        assert half["ack_rtt_s"] == pytest.approx(0.010, abs=1e-6)
    else:
        assert pd.isna(half["acks_frame"]) and pd.isna(half["ack_rtt_s"])
    last = frame(path, version, 9)
    assert last["acks_frame"] == 7                   # timed from the first copy, in every release
    assert last["ack_rtt_s"] == pytest.approx(0.310, abs=1e-6)


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_syn_retried_after_a_rst(version):
    path = CRAFTED / "ws_syn_after_rst.pcap"
    p = analyze(path, wireshark=version).packets
    streams = [int(s) for s in p["stream"]]
    got = labels(path, version)
    if version in NEWER:
        assert streams == [0, 0, 1, 1, 2, 2, 2]
        assert got[3] == got[5] == {"reused_ports"} and got[6] == set()
    else:
        assert streams == [0] * 7
        assert got[3] == got[5] == {"retransmission"} and got[6] == {"reused_ports"}


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_connection_opened_again_after_a_fin(version):
    path = CRAFTED / "ws_reopen_after_fin.pcap"
    p = analyze(path, wireshark=version).packets
    streams = [int(s) for s in p["stream"]]
    got = labels(path, version)
    if version in NEWER:
        assert streams == [0] * 6 + [1] * 3
        assert got[7] == {"reused_ports"} and got[8] == set()
    else:
        assert streams == [0] * 9
        assert got[7] == got[8] == {"retransmission"}


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_gap_filled_soon_after_newer_data_or_after_the_ack(version):
    path = CRAFTED / "ws_gap_filled.pcap"
    got = labels(path, version)
    if version == "4.6":
        assert (got[6], got[11]) == ({"retransmission"}, {"out_of_order"})
        assert frame(path, version, 6)["rto_frame"] == 5     # the oldest waiting from its seq on
    else:
        assert (got[6], got[11]) == ({"out_of_order"}, {"retransmission"})


# --- the crafted captures agree with each release's tshark ---------------------------------------

CASES = sorted(CRAFTED.glob("ws_*.pcap"))


def test_every_difference_has_a_crafted_capture_in_the_docs():
    text = DOC.read_text(encoding="utf-8")
    assert CASES, "no ws_*.pcap crafted captures"
    for path in CASES:
        assert f"crafted/{path.name}" in text, f"{DOC.name} does not show {path.name}"


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_crafted_capture_agrees_with_the_record(path, version):
    record = tshark.load_record(ROOT / "tests" / "oracle" / f"tshark-{version}" / tshark.record_name(f"crafted/{path.name}"))
    assert record.sha256 == tshark.sha256(path), "re-record with python scripts/record_tshark.py"
    a = analyze(path, wireshark=version)
    c = tshark.compare(a.packets, record.fields, check_flags=True, check_checksums=True, release=version)
    assert c.ok, c.describe()


def test_the_releases_really_differ_on_each_crafted_capture():
    """A capture meant to show a difference is labelled differently by some two releases' tshark."""
    for path in CASES:
        seen = set()
        for version in WIRESHARK_VERSIONS:
            r = tshark.load_record(ROOT / "tests" / "oracle" / f"tshark-{version}" / tshark.record_name(f"crafted/{path.name}"))
            cols = [c for c in r.fields.columns if c.startswith("tcp.analysis")]
            seen.add(r.fields[cols].to_csv(index=False))
        assert len(seen) > 1, f"{path.name}: every release prints the same analysis"


@pytest.mark.tshark
@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_crafted_capture_agrees_with_live_tshark(path, version):
    exe = tshark.find(version)
    if exe is None:
        pytest.skip(f"no tshark {version} here (looked on PATH, in ${tshark.TSHARK_ENV} and /opt/tshark-{version}/tshark)")
    a = analyze(path, wireshark=version)
    c = tshark.compare(a.packets, tshark.fields(path, tshark=exe), check_flags=True, check_checksums=True,
                       release=version)
    assert c.ok, c.describe()


# --- choosing the release ------------------------------------------------------------------

def test_default_is_4_6_and_the_environment_chooses_another():
    assert DEFAULT_WIRESHARK == "4.6"
    assert wireshark_version(None, environ={}) == "4.6"
    assert wireshark_version(None, environ={WIRESHARK_ENV: "4.0"}) == "4.0"
    assert wireshark_version("4.4", environ={WIRESHARK_ENV: "4.0"}) == "4.4"


def test_unknown_release_names_the_known_ones():
    with pytest.raises(UnknownWireshark, match=r"4\.0, 4\.4, 4\.6"):
        wireshark_version("4.2")
    with pytest.raises(ValueError):
        analyze(CRAFTED / "ws_resend_soon.pcap", wireshark="3.6")


def test_analysis_says_whose_rules_it_followed(monkeypatch):
    monkeypatch.setenv(WIRESHARK_ENV, "4.0")
    a = analyze(CRAFTED / "ws_resend_soon.pcap")
    assert a.wireshark == "4.0"
    assert labels(CRAFTED / "ws_resend_soon.pcap", "4.0")[6] == {"out_of_order"}
    assert a.summary()["wireshark"] == "4.0"


def _pcapan(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pcap_analyzer", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_option_chooses_the_release_and_the_report_says_it():
    path = str(CRAFTED / "ws_resend_soon.pcap")
    r = _pcapan("report", path, "--wireshark", "4.0")
    assert r.returncode == 0, r.stderr
    assert "as Wireshark 4.0 shows them" in r.stdout
    r = _pcapan("packets", path, "-f", "csv", "--wireshark", "4.4")
    assert r.returncode == 0, r.stderr
    row = [line for line in r.stdout.splitlines() if line.startswith("6,")][0]
    assert "retransmission" in row and "out_of_order" not in row
    r = _pcapan("report", path, env={WIRESHARK_ENV: "4.0"})
    assert "as Wireshark 4.0 shows them" in r.stdout


def test_cli_unknown_release_is_a_one_line_error():
    r = _pcapan("report", str(CRAFTED / "ws_resend_soon.pcap"), "--wireshark", "5.1")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "pcapan: unknown Wireshark version '5.1': pcapan knows 4.0, 4.4, 4.6 (default 4.6)"]
    assert r.stdout == ""
