"""pcapan check: verdicts on each lab sample, lab numbers equal to tshark's, every format parses."""
from __future__ import annotations

import csv
import io
import json
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import SAMPLES, needs_tshark
from pcap_analyzer import analyze, tshark
from pcap_analyzer.check import ALPHA, RUBRIC_KEYS, SUMMARY_COLUMNS, CheckError, check, parse_server
from pcap_analyzer.cli import app

runner = CliRunner()

UPLOAD = SAMPLES / "lab_upload.pcapng"
OFFLOAD = SAMPLES / "lab_offload.pcapng"
CRAFTED = SAMPLES / "crafted"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def verdicts(path, server=None) -> dict:
    r = check(analyze(path), server)
    return dict(zip(r.rubric["item"], r.rubric["verdict"]))


@pytest.fixture(scope="module")
def upload():
    # Wireshark 4.0's labels: its fast retransmissions all resend at the duplicate ACKs' number
    # (4.4 and 4.6 also count resends into SACK holes)
    return check(analyze(UPLOAD, wireshark="4.0"))


# --- verdicts on each sample ---------------------------------------------------

def test_lossy_upload_passes_and_explains_its_retransmissions(upload):
    assert upload.overall == "pass"
    assert set(upload.rubric["verdict"]) == {"pass"}
    assert upload.facts["server"] == "10.99.0.2:8080"   # the upload, not the short download
    rt = upload.retransmissions
    assert len(rt) == 37 and set(rt["sender"]) == {"client"}
    fast = rt[rt["cause"] == "fast"]
    assert len(fast) == 3 and (fast["label"] == "fast_retransmission").all()
    p = analyze(UPLOAD, wireshark="4.0").packets.set_index("frame")
    for _, r in fast.iterrows():
        # the duplicate ACKs named as its trigger ask for exactly this segment
        dup_frames = [int(f) for f in r["dup_ack_frames"].split(", ") if f.isdigit()]
        assert dup_frames and all(p.loc[f, "rel_ack"] == r["rel_seq"] for f in dup_frames)
        assert all("duplicate_ack" in p.loc[f, "labels"] for f in dup_frames)
    assert "21 duplicate ACKs" in upload.rubric.set_index("item").loc["duplicate_acks", "evidence"]


def test_offloaded_checksums_are_explained_not_failed():
    r = check(analyze(OFFLOAD))
    assert r.overall == "pass"
    row = r.rubric.set_index("item").loc["checksums"]
    assert row["verdict"] == "pass" and "offload" in row["evidence"]
    assert r.retransmissions.empty


def test_bad_checksums_fail():
    assert verdicts(CRAFTED / "checksum_pairs.pcap")["checksums"] == "fail"


def test_capture_without_handshake_fails_the_handshake():
    v = verdicts(CRAFTED / "lab_no_handshake.pcap")
    assert v["handshake"] == "fail" and v["random_isn"] == "n.a."
    assert v["data_both_ways"] == "pass" and v["teardown"] == "pass"


def test_handshake_split_over_two_files_fails_in_each():
    first = check(analyze(CRAFTED / "lab_split_1.pcap"))
    v = dict(zip(first.rubric["item"], first.rubric["verdict"]))
    assert v["handshake"] == "fail" and v["data_both_ways"] == "fail" and v["teardown"] == "fail"
    assert "split" in first.rubric.set_index("item").loc["handshake", "evidence"]
    assert verdicts(CRAFTED / "lab_split_2.pcap")["handshake"] == "fail"


def test_reset_instead_of_fins_fails_the_teardown_with_a_reason():
    r = check(analyze(CRAFTED / "lab_reset.pcap"))
    row = r.rubric.set_index("item").loc["teardown"]
    assert row["verdict"] == "fail" and "RST from the client" in row["evidence"] and row["frames"] == "20"
    assert r.overall == "fail"


def test_server_option_picks_the_conversation():
    r = check(analyze(UPLOAD), "10.99.0.2:8081")
    assert r.stream == 0 and r.facts["server"] == "10.99.0.2:8081"
    missing = check(analyze(UPLOAD), "192.0.2.1")
    assert missing.overall == "fail" and missing.rubric["verdict"].tolist()[1:] == ["n.a."] * (len(RUBRIC_KEYS) - 1)
    assert "10.99.0.2:8080" in missing.rubric.loc[0, "evidence"]


def test_parse_server():
    assert parse_server("10.0.0.1") == ("10.0.0.1", None)
    assert parse_server("10.0.0.1:80") == ("10.0.0.1", 80)
    assert parse_server("[2001:db8::1]:443") == ("2001:db8::1", 443)
    assert parse_server("2001:db8::1") == ("2001:db8::1", None)
    for bad in ("gaia.example", "10.0.0.1:http", "10.0.0.1:70000"):
        with pytest.raises(CheckError):
            parse_server(bad)


def test_estimated_rtt_follows_the_lab_formula(upload):
    seg = upload.segments
    assert len(seg) == 6
    est = seg["rtt_s"].iloc[0]
    assert seg["estimated_rtt_s"].iloc[0] == pytest.approx(est)
    for rtt, got in zip(seg["rtt_s"].iloc[1:], seg["estimated_rtt_s"].iloc[1:]):
        est = (1 - ALPHA) * est + ALPHA * rtt
        assert got == pytest.approx(est)
    assert (seg["rtt_s"] == seg["ack_s"] - seg["sent_s"]).all()


# --- the lab's numbers equal tshark's ----------------------------------------------

def _tshark(path, *fields, filter_=None):
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    if filter_:
        cmd += ["-Y", filter_]
    for f in ("frame.number",) + fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return {int(r[0]): dict(zip(fields, r[1:])) for r in rows}


@needs_tshark
@pytest.mark.parametrize("path", [UPLOAD, OFFLOAD], ids=lambda p: p.name)
def test_lab_numbers_equal_tsharks(path):
    r = check(analyze(path, wireshark=tshark.release()))     # the installed tshark's release's rules
    ts = _tshark(path, "tcp.seq_raw", "tcp.ack_raw", "tcp.seq", "tcp.ack", "tcp.len", "frame.time_relative",
                 "tcp.analysis.ack_rtt", "tcp.analysis.acks_frame", "tcp.window_size", "tcp.stream",
                 "tcp.srcport", "tcp.dstport", "ip.src", "ip.dst", filter_="tcp")
    ans = r.answers.set_index("question")
    syn_frame = int(r.summary["syn_frame"])
    syn = ts[syn_frame]
    syn_ack = ts[syn_frame + 1]
    assert r.summary["client_isn"] == int(syn["tcp.seq_raw"]) and syn["tcp.seq"] == "0"
    assert r.summary["syn_ack_seq"] == int(syn_ack["tcp.seq_raw"])
    assert r.summary["syn_ack_ack"] == int(syn_ack["tcp.ack_raw"]) == int(syn["tcp.seq_raw"]) + 1
    assert ans.loc["SYN-ACK: sequence and acknowledgement numbers; how was the ack derived?", "relative"] \
        == f"seq {syn_ack['tcp.seq']} ack {syn_ack['tcp.ack']}"
    assert r.summary["client"] == syn["ip.src"] and r.summary["client_port"] == int(syn["tcp.srcport"])
    assert r.summary["server"] == syn["ip.dst"] and r.summary["server_port"] == int(syn["tcp.dstport"])

    stream = syn["tcp.stream"]
    mine = {f: v for f, v in ts.items() if v["tcp.stream"] == stream}
    for _, s in r.segments.iterrows():
        t = ts[int(s["frame"])]
        assert int(s["seq"]) == int(t["tcp.seq_raw"]) and int(s["rel_seq"]) == int(t["tcp.seq"])
        assert int(s["len_bytes"]) == int(t["tcp.len"])
        assert s["sent_s"] == pytest.approx(float(t["frame.time_relative"]), abs=1e-9)
        ack = ts[int(s["ack_frame"])]
        assert s["ack_s"] == pytest.approx(float(ack["frame.time_relative"]), abs=1e-9)
        # the first server packet acknowledging past the segment's end, as tshark numbers it
        end = int(t["tcp.seq"]) + int(t["tcp.len"])
        first = min(f for f, v in mine.items() if f > s["frame"] and v["ip.src"] != syn["ip.src"]
                    and v["tcp.ack"] and int(v["tcp.ack"]) >= end)
        assert first == int(s["ack_frame"])
        if ack["tcp.analysis.acks_frame"] == str(int(s["frame"])):
            assert s["rtt_s"] == pytest.approx(float(ack["tcp.analysis.ack_rtt"]), abs=1e-9)
    windows = {f: int(v["tcp.window_size"]) for f, v in mine.items() if v["ip.src"] != syn["ip.src"]}
    assert r.summary["min_receiver_window"] == min(windows.values())

    flags = _tshark(path, "tcp.stream", filter_="tcp.analysis.retransmission or tcp.analysis.fast_retransmission")
    assert sorted(r.retransmissions["frame"]) == sorted(f for f, v in flags.items() if v["tcp.stream"] == stream)
    dups = _tshark(path, "tcp.stream", filter_="tcp.analysis.duplicate_ack")
    assert r.summary["duplicate_ack_count"] == sum(v["tcp.stream"] == stream for v in dups.values())


# --- the command line --------------------------------------------------------------

def test_cli_every_format_parses(tmp_path):
    r = run("check", UPLOAD, "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["submission"]["overall"] == "pass"
    assert [x["item"] for x in doc["rubric"]] == list(RUBRIC_KEYS)
    assert len(doc["first_segments"]) == 6

    r = run("check", UPLOAD, "-f", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and list(rows[0]) == list(SUMMARY_COLUMNS) and rows[0]["overall"] == "pass"

    r = run("check", UPLOAD, "-f", "markdown")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "## Rubric" in lines
    at = lines.index("## Rubric") + 2
    assert lines[at] == "| item | verdict | evidence | frames |" and lines[at + 1] == "|---|---|---|---|"
    body = lines[at + 2:at + 2 + len(RUBRIC_KEYS)]
    assert all(ln.startswith("| ") and ln.endswith(" |") for ln in body)
    assert [ln.split(" | ")[0][2:] for ln in body] == list(RUBRIC_KEYS)

    r = run("check", UPLOAD)
    assert r.exit_code == 0, r.output
    assert "Rubric" in r.stdout and "handshake" in r.stdout

    out = tmp_path / "feedback.md"
    r = run("check", CRAFTED / "lab_reset.pcap", "-f", "markdown", "-o", out)
    assert r.exit_code == 0, r.output
    assert "| teardown | fail |" in out.read_text()


def test_cli_plot_writes_a_png(tmp_path):
    out = tmp_path / "slow_start.png"
    r = run("check", UPLOAD, "--plot", out, "-f", "json", "-q")
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line():
    r = run("check", SAMPLES / "broken" / "not_a_capture.pcap")
    assert r.exit_code == 2 and "not a pcap or pcapng file" in r.output
    r = run("check", UPLOAD, "--server", "gaia.example")
    assert r.exit_code == 2 and "IP address" in r.output
