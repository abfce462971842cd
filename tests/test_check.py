"""pcapan check: verdicts on each lab sample, lab numbers equal to tshark's, every format parses."""
from __future__ import annotations

import csv
import io
import json
import subprocess
from collections import Counter

import pandas as pd
import pytest
from typer.testing import CliRunner

from builder import ACK, FIN, PSH, RST, Conversation
from conftest import SAMPLES, needs_tshark
from pcap_analyzer import analyze, tshark
from pcap_analyzer.check import ALPHA, RUBRIC_KEYS, SUMMARY_COLUMNS, CheckError, check, parse_server
from pcap_analyzer.cli import app
from pcap_analyzer.explain import resend_cause
from pcap_analyzer.grading.answers import CAUSES

runner = CliRunner()

UPLOAD = SAMPLES / "lab_upload.pcapng"
OFFLOAD = SAMPLES / "lab_offload.pcapng"
NO_TEARDOWN = SAMPLES / "lab_no_teardown.pcapng"
TSO = SAMPLES / "lab_tso.pcapng"
CRAFTED = SAMPLES / "crafted"
NAT = CRAFTED / "lab_nat.pcap"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def verdicts(path, server=None) -> dict:
    r = check(analyze(path), server)
    return dict(zip(r.rubric["item"], r.rubric["verdict"]))


def item(result, key) -> pd.Series:
    return result.rubric.set_index("item").loc[key]


def answer(result, start: str) -> pd.Series:
    rows = result.answers[result.answers["question"].str.startswith(start)]
    assert len(rows) == 1, start
    return rows.iloc[0]


@pytest.fixture(scope="module")
def upload():
    # Wireshark 4.0's labels: its fast retransmissions all resend at the duplicate ACKs' number
    # (4.4 and 4.6 also count resends into SACK holes)
    return check(analyze(UPLOAD, wireshark="4.0"))


# --- verdicts on each sample ---------------------------------------------------

def test_lossy_upload_passes_and_explains_its_retransmissions(upload):
    assert upload.overall == "pass"
    assert set(upload.rubric["verdict"]) <= {"pass", "n.a."}
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
    assert "21 duplicate ACKs" in item(upload, "duplicate_acks")["evidence"]


def test_retransmission_causes_come_from_the_shared_function_and_agree_everywhere(upload):
    packets = analyze(UPLOAD, wireshark="4.0").packets      # as the upload fixture reads it
    by_frame = dict(zip(packets["frame"], resend_cause(packets.set_index("frame", drop=False))))
    rt = upload.retransmissions
    assert all(by_frame[f] == c for f, c in zip(rt["frame"], rt["cause"]))
    # the rubric and the answers give the same counts, cause by cause
    counts = Counter(rt["cause"])
    said = [f"{n} {CAUSES[k]}" for k, n in counts.items()]
    assert all(s in item(upload, "retransmissions")["evidence"] for s in said)
    assert all(s in answer(upload, "retransmitted segments")["answer"] for s in said)
    assert upload.summary["fast_retransmissions"] == counts["fast"]
    assert upload.summary["recovery_retransmissions"] == counts["recovery"]


def test_capture_without_teardown_passes():
    """The lab does not ask for the teardown: stopping after the upload is reported, not failed."""
    r = check(analyze(NO_TEARDOWN))
    assert r.overall == "pass"
    row = item(r, "teardown")
    assert row["verdict"] == "info" and "no FIN or RST" in row["evidence"] and "not graded" in row["evidence"]
    assert r.facts["score"] == 100.0


def test_offload_capture_warns_and_says_why():
    r = check(analyze(TSO))
    row = item(r, "capture_point")
    assert row["verdict"] == "warn" and "segmentation offload" in row["evidence"]
    assert r.overall == "warn"
    assert any(w.startswith("segmentation offload") for w in r.facts["warnings"])
    assert any(w.startswith("segmentation offload") for w in r.summary["warnings"])
    where = answer(r, "where was the capture taken?")["answer"]
    assert "larger than the MSS of 1460 bytes" in where
    # the typical ACK is told in MSS-sized segments, not as a fraction of a super-segment
    typical = answer(r, "how much does a typical ACK")
    assert "MSS-sized segments" in typical["answer"] and r.summary["typical_acked_segments"] >= 2
    assert r.summary["typical_acked_segments"] == round(r.summary["typical_acked_bytes"] / 1460)


@needs_tshark
def test_offload_frames_are_those_tshark_shows_larger_than_the_mss():
    r = check(analyze(TSO))
    ts = _tshark(TSO, "tcp.len", "tcp.srcport", "tcp.options.mss_val", "tcp.stream", filter_="tcp")
    syn_ack = ts[int(r.summary["syn_frame"]) + 1]
    mss = int(syn_ack["tcp.options.mss_val"])
    big = sorted(f for f, v in ts.items() if v["tcp.stream"] == syn_ack["tcp.stream"]
                 and int(v["tcp.srcport"]) == r.summary["client_port"] and int(v["tcp.len"]) > mss)
    assert big and f"{len(big)} segments larger than the MSS of {mss} bytes" in r.summary["warnings"][-1]
    assert [int(f) for f in item(r, "capture_point")["frames"].split(", ")] == big


def test_nat_capture_warns():
    r = check(analyze(NAT))
    row = item(r, "capture_point")
    assert row["verdict"] == "warn" and "local proxy or NAT" in row["evidence"]
    assert "ISN 9,375 is tiny" in row["evidence"] and "0.400 ms" in row["evidence"]
    assert "TTL 64" in row["evidence"]
    assert any("local proxy or NAT" in w for w in r.facts["warnings"])
    assert item(r, "random_isn")["verdict"] == "warn"


@pytest.mark.parametrize("path", [UPLOAD, OFFLOAD, NO_TEARDOWN, TSO], ids=lambda p: p.name)
def test_recordings_on_one_machine_are_not_taken_for_a_nat(path):
    r = check(analyze(path))
    assert "answered for the server" not in item(r, "capture_point")["evidence"]
    assert not any("proxy" in w for w in r.facts["warnings"])


def test_offloaded_checksums_are_explained_not_failed():
    r = check(analyze(OFFLOAD))
    assert r.overall == "pass"
    row = item(r, "checksums")
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
    assert v["handshake"] == "fail" and v["data_both_ways"] == "fail" and v["teardown"] == "info"
    assert "split" in item(first, "handshake")["evidence"]
    assert verdicts(CRAFTED / "lab_split_2.pcap")["handshake"] == "fail"


def test_reset_instead_of_fins_is_reported_with_a_reason():
    r = check(analyze(CRAFTED / "lab_reset.pcap"))
    row = item(r, "teardown")
    assert row["verdict"] == "info" and "RST from the client" in row["evidence"] and row["frames"] == "20"
    assert r.overall == "pass"


def test_server_option_picks_the_conversation():
    r = check(analyze(UPLOAD), "10.99.0.2:8081")
    assert r.stream == 0 and r.facts["server"] == "10.99.0.2:8081"
    assert item(r, "lab_server")["verdict"] == "pass"
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
    # the sheet carries every sample RTT and EstimatedRTT, not only the last
    assert upload.summary["sample_rtts_s"] == " ".join(f"{v:.6f}" for v in seg["rtt_s"])
    assert upload.summary["estimated_rtts_s"] == " ".join(f"{v:.6f}" for v in seg["estimated_rtt_s"])


# --- crafted decisions ---------------------------------------------------------------

def _upload(c: Conversation, segments: int = 6, size: int = 1000) -> int:
    c.handshake()
    for k in range(segments):
        c.c(ACK | (PSH if k == segments - 1 else 0), 1 + k * size, 1, data=size)
        if k % 2:
            c.s(ACK, 1, 1 + (k + 1) * size, win=30000 - k * 1000)
    return 1 + segments * size


def test_min_window_is_over_segments_that_advertise_one(tmp_path):
    """A RST advertises no window: the server's RST with window 0 is not the minimum window."""
    c = Conversation()
    end = _upload(c)
    c.s(ACK | PSH, 1, end, data=100, win=25000)
    rst = c.s(RST | ACK, 101, end, win=0)
    r = check(analyze(c.write(tmp_path / "rst.pcap")))
    row = answer(r, "minimum receive window")
    assert r.summary["min_receiver_window"] == 25000 and "RST" in row["answer"]
    assert str(rst) not in row["frames"].split(", ")
    assert "throttled: no" in row["answer"]


def test_typical_ack_is_the_most_common_amount_in_bytes_and_segments(tmp_path):
    c = Conversation()
    _upload(c, segments=8)    # the receiver ACKs every other 1000-byte segment
    r = check(analyze(c.write(tmp_path / "delayed.pcap")))
    assert r.summary["typical_acked_bytes"] == 2000 and r.summary["typical_acked_segments"] == 2
    assert r.summary["delayed_ack"] is True
    assert "most often 2,000 bytes = 2 segments (4 of 4 ACKs" in answer(r, "how much does a typical ACK")["answer"]


def test_a_segment_recorded_twice_at_the_same_instant_is_no_timeout(tmp_path):
    c = Conversation()
    end = _upload(c, segments=2)
    c.s(ACK | PSH, 1, end, data=50)
    c.c(ACK, end, 51)
    c.c(FIN | ACK, end, 51)
    twice = c.c(FIN | ACK, end, 51, after=0)
    c.s(FIN | ACK, 51, end + 1)
    c.c(ACK, end + 1, 52)
    a = analyze(c.write(tmp_path / "twice.pcap"))
    cause = resend_cause(a.packets)[a.packets["frame"] == twice].iloc[0]
    if cause != "duplicate":
        pytest.skip(f"explain.resend_cause() calls this frame {cause!r}: it does not tell capture duplicates yet")
    r = check(a)
    row = r.retransmissions.set_index("frame").loc[twice]
    assert row["cause"] == "duplicate" and "not a resend" in row["trigger"]
    assert r.summary["retransmitted_segments"] == 0


# --- the rubric ----------------------------------------------------------------------

def _rubric(tmp_path, text: str):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    return path


def test_rubric_file_changes_the_grades_as_documented(tmp_path):
    from pcap_analyzer.grading.rubric import load_rubric

    example = load_rubric(SAMPLES.parent / "pcap_analyzer" / "rubrics" / "example.toml")
    assert example.first_segments == 4 and example.server == "128.119.245.12:80"

    strict = load_rubric(_rubric(tmp_path, """
[lab]
upload_bytes = 152138
first_segments = 4
alpha = 0.25
[items.teardown]
severity = "fail"
[items.ephemeral_port]
enabled = false
[items.checksums]
weight = 3
"""))
    r = check(analyze(NO_TEARDOWN), rubric=strict)
    assert item(r, "teardown")["verdict"] == "fail" and r.overall == "fail"
    assert "ephemeral_port" not in set(r.rubric["item"]) and r.summary["ephemeral_port"] == ""
    assert item(r, "upload")["verdict"] == "pass" and "152,266 bytes" in item(r, "upload")["evidence"]
    assert len(r.segments) == 4
    rtt = r.segments["rtt_s"]
    assert r.segments["estimated_rtt_s"].iloc[1] == pytest.approx(0.75 * rtt.iloc[0] + 0.25 * rtt.iloc[1])
    # weights: conversation, handshake, random_isn, data_both_ways, upload, capture_point pass (1 each),
    # teardown fails (1), checksums pass (3): 9 of 10
    assert r.facts["score"] == 90.0

    bigger = load_rubric(_rubric(tmp_path, "[lab]\nupload_bytes = 200000\n"))
    assert item(check(analyze(NO_TEARDOWN), rubric=bigger), "upload")["verdict"] == "fail"
    lenient = load_rubric(_rubric(tmp_path, '[items.capture_point]\nseverity = "report"\n'))
    r = check(analyze(TSO), rubric=lenient)
    assert item(r, "capture_point")["verdict"] == "info" and r.overall == "pass"


@pytest.mark.parametrize("text, message", [
    ("[lab]\nfirst_segments = 0\n", "first_segments must be from 1 to 100"),
    ("[items.teardown]\nseverity = \"maybe\"\n", "items.teardown.severity must be fail or warn or report"),
    ("[items.nonsense]\nweight = 1\n", "unknown item 'nonsense'"),
    ("[lab]\nserver = \"gaia.cs.umass.edu\"\n", "lab.server"),
    ("[lab\n", "not a TOML file"),
])
def test_bad_rubric_is_a_one_line_error(tmp_path, text, message):
    r = run("check", UPLOAD, "--rubric", _rubric(tmp_path, text))
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output


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
@pytest.mark.parametrize("path", [UPLOAD, OFFLOAD, NO_TEARDOWN], ids=lambda p: p.name)
def test_lab_numbers_equal_tsharks(path):
    r = check(analyze(path, wireshark=tshark.release()))     # the installed tshark's release's rules
    ts = _tshark(path, "tcp.seq_raw", "tcp.ack_raw", "tcp.seq", "tcp.ack", "tcp.len", "frame.time_relative",
                 "tcp.analysis.ack_rtt", "tcp.analysis.acks_frame", "tcp.window_size", "tcp.stream",
                 "tcp.srcport", "tcp.dstport", "ip.src", "ip.dst", "tcp.flags.reset", "tcp.hdr_len",
                 "tcp.options.sack_perm", filter_="tcp")
    syn_frame = int(r.summary["syn_frame"])
    syn = ts[syn_frame]
    syn_ack = ts[syn_frame + 1]
    assert r.summary["client_isn"] == int(syn["tcp.seq_raw"]) and syn["tcp.seq"] == "0"
    assert r.summary["syn_ack_seq"] == int(syn_ack["tcp.seq_raw"])
    assert r.summary["syn_ack_ack"] == int(syn_ack["tcp.ack_raw"]) == int(syn["tcp.seq_raw"]) + 1
    assert answer(r, "SYN-ACK: sequence")["relative"] == f"seq {syn_ack['tcp.seq']} ack {syn_ack['tcp.ack']}"
    assert r.summary["client"] == syn["ip.src"] and r.summary["client_port"] == int(syn["tcp.srcport"])
    assert r.summary["server"] == syn["ip.dst"] and r.summary["server_port"] == int(syn["tcp.dstport"])
    assert r.summary["sack_permitted"] == (syn["tcp.options.sack_perm"] != "" and syn_ack["tcp.options.sack_perm"] != "")

    stream = syn["tcp.stream"]
    mine = {f: v for f, v in ts.items() if v["tcp.stream"] == stream}
    for _, s in r.segments.iterrows():
        t = ts[int(s["frame"])]
        assert int(s["seq"]) == int(t["tcp.seq_raw"]) and int(s["rel_seq"]) == int(t["tcp.seq"])
        assert int(s["len_bytes"]) == int(t["tcp.len"])
        assert int(s["segment_bytes"]) == int(t["tcp.hdr_len"]) + int(t["tcp.len"])
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
    server = {f: v for f, v in mine.items() if v["ip.src"] != syn["ip.src"]}
    windows = {f: int(v["tcp.window_size"]) for f, v in server.items() if v["tcp.flags.reset"] != "1"}
    assert r.summary["min_receiver_window"] == min(windows.values())

    # the most common amount newly acknowledged, from tshark's ACK numbers
    data_end = max(int(v["tcp.seq"]) + int(v["tcp.len"]) for v in mine.values() if v["ip.src"] == syn["ip.src"]
                   and int(v["tcp.len"]))
    highest, amounts = 1, []
    for f in sorted(server):
        if f <= syn_frame + 1 or not server[f]["tcp.ack"]:
            continue
        acked = min(int(server[f]["tcp.ack"]), data_end)
        if acked > highest:
            amounts.append(acked - highest)
            highest = acked
    counts = Counter(amounts)
    top = max(counts.values())
    assert r.summary["typical_acked_bytes"] == min(a for a, n in counts.items() if n == top)

    # throughput: payload both ways over the connection's first to last packet
    times = [float(v["frame.time_relative"]) for v in mine.values()]
    payload = sum(int(v["tcp.len"]) for v in mine.values())
    assert r.summary["throughput_bytes_per_s"] == pytest.approx(payload / (max(times) - min(times)), rel=1e-5)

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
    # the full lists are in json: every retransmitted frame, in the rubric cell and its table
    assert len(doc["retransmissions"]) == 37
    retrans = next(x for x in doc["rubric"] if x["item"] == "retransmissions")
    assert len(retrans["frames"].split(", ")) == 37

    r = run("check", UPLOAD, "-f", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and list(rows[0]) == list(SUMMARY_COLUMNS) and rows[0]["overall"] == "pass"
    assert rows[0]["file"] == str(UPLOAD)    # the path as given, as in a class's sheet

    r = run("check", UPLOAD, "-f", "markdown")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "## Rubric" in lines
    at = lines.index("## Rubric") + 2
    assert lines[at] == "| item | verdict | evidence | frames |" and lines[at + 1] == "|---|---|---|---|"
    body = lines[at + 2:at + 2 + len(RUBRIC_KEYS)]
    assert all(ln.startswith("| ") and ln.endswith(" |") for ln in body)
    assert [ln.split(" | ")[0][2:] for ln in body] == list(RUBRIC_KEYS)

    out = tmp_path / "feedback.md"
    r = run("check", CRAFTED / "lab_reset.pcap", "-f", "markdown", "-o", out)
    assert r.exit_code == 0, r.output
    assert "| teardown | info |" in out.read_text()


def test_terminal_output_of_a_lossy_capture_fits_a_screen_or_two():
    r = run("check", UPLOAD)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "Rubric" in r.stdout and "handshake" in r.stdout
    assert len(lines) <= 120
    assert "10 of 37 retransmissions" in r.stdout and "-f json" in r.stdout
    assert max(len(ln.split("frames")[0]) for ln in lines) > 0
    # no cell lists more than a handful of frames
    assert "(29 more)" in r.stdout


def test_feedback_notes(tmp_path):
    notes = tmp_path / "notes"
    r = run("check", TSO, "--feedback", notes, "-q", "-f", "json")
    assert r.exit_code == 0, r.output
    note = (notes / "lab_tso.pcapng.md").read_text()
    assert note.startswith("# Feedback: ") and note.splitlines()[0].endswith("/lab\\_tso.pcapng")
    assert "Overall: **warn**" in note and "| capture_point | warn |" in note
    assert "- **capture_point** (warn): type the filter `frame.number in {24 26 " in note
    r = run("check", NO_TEARDOWN, "--feedback", notes, "-q", "-f", "json")
    assert "Nothing to fix" in (notes / "lab_no_teardown.pcapng.md").read_text()
    assert "`tcp.stream eq 0`" in (notes / "lab_no_teardown.pcapng.md").read_text()


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
    r = run("check", UPLOAD, "--rubric", SAMPLES / "missing.toml")
    assert r.exit_code == 2 and "no such rubric file" in r.output


def test_the_readme_rubric_is_a_working_rubric():
    import tomllib

    from conftest import ROOT
    from pcap_analyzer.grading.rubric import rubric_from

    section = (ROOT / "README.md").read_text().split("## Grading TCP lab captures", 1)[1]
    block = section.split("```toml", 1)[1].split("```", 1)[0]
    rubric = rubric_from(tomllib.loads(block), "README")
    assert rubric.server == "128.119.245.12:80" and rubric.first_segments == 4
    assert rubric.item("teardown").severity == "fail"
