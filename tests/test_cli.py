"""The command line, through typer's CliRunner and as a real subprocess."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from builder import ACK, FIN, PSH, SYN, Conversation
from conftest import ROOT
from pcap_analyzer.cli import app
from pcap_analyzer.schema import PACKET_COLUMNS

runner = CliRunner()

CSV_CONTRACT = ["frame", "time", "proto", "stream", "src", "sport", "dst", "dport", "flags", "seq", "ack",
                "rel_seq", "rel_ack", "payload_len", "window", "phase", "labels", "ip_checksum", "l4_checksum"]


@pytest.fixture()
def capture(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(PSH | ACK, 1, 1, 100)
    c.c(PSH | ACK, 1, 1, 100, after=0.3)     # a retransmission
    c.s(ACK, 1, 101)
    c.c(FIN | ACK, 101, 1)
    c.s(FIN | ACK, 1, 102)
    c.c(ACK, 102, 2)
    other = Conversation(client=("10.0.0.3", 50000), server=("10.0.0.2", 443), t=c.t + 1)
    other.c(SYN, 0, 0)
    c.frames += other.frames
    return c.write(tmp_path / "cap.pcap")


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def test_packets_csv_contract(capture):
    r = run("packets", capture, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 10
    header = r.stdout.splitlines()[0].split(",")
    for col in CSV_CONTRACT:
        assert col in header, col
    assert header == [c.name for c in PACKET_COLUMNS]
    assert rows[0]["phase"] == "syn" and rows[0]["rel_seq"] == "0" and rows[0]["proto"] == "tcp"
    assert rows[4]["labels"] == "retransmission"
    assert rows[2]["phase"] == "handshake_ack"
    assert rows[9]["stream"] == "1"


def test_packets_filters(capture):
    r = run("packets", capture, "-f", "csv", "--stream", "1")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == 2
    r = run("packets", capture, "-f", "csv", "--label", "retransmission")
    assert [row["frame"] for row in csv.DictReader(io.StringIO(r.stdout))] == ["5"]
    r = run("packets", capture, "-f", "csv", "--proto", "udp")
    assert len(r.stdout.splitlines()) == 1


@pytest.mark.parametrize("command", ["packets", "streams", "report"])
@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_every_command_and_format(capture, command, fmt):
    r = run(command, capture, "--format", fmt)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.strip()
    if fmt == "json":
        json.loads(out)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert len({len(row) for row in rows}) == 1
    elif fmt == "markdown":
        assert re.search(r"^\|.*\|$", out, re.M)


def test_json_and_csv_carry_the_same_rows(capture):
    as_csv = list(csv.DictReader(io.StringIO(run("streams", capture, "-f", "csv").stdout)))
    as_json = json.loads(run("streams", capture, "-f", "json").stdout)
    assert [r["stream"] for r in as_csv] == [str(r["stream"]) for r in as_json]
    assert [r["client_port"] for r in as_csv] == [str(r["client_port"]) for r in as_json]


def test_report_names_handshake_port_and_retransmission(capture):
    r = run("report", capture)
    assert r.exit_code == 0, r.output
    assert "10.0.0.1:40000" in r.stdout
    assert "complete" in r.stdout
    assert "retransmission" in r.stdout


def test_output_file_is_written_and_input_is_protected(capture, tmp_path):
    out = tmp_path / "p.csv"
    r = run("packets", capture, "-f", "csv", "-o", out)
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("frame,")
    before = open(capture, "rb").read()
    r = run("packets", capture, "-f", "csv", "-o", capture)
    assert r.exit_code == 2
    assert "refusing" in r.output
    assert open(capture, "rb").read() == before


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"),
    (b"hello, this is text\n" * 3, "not a pcap or pcapng file"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, content, message):
    f = tmp_path / "x.pcap"
    f.write_bytes(content)
    r = run("report", f)
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_missing_file_and_bad_option(tmp_path):
    r = run("report", tmp_path / "nope.pcap")
    assert r.exit_code == 2 and "no such file" in r.output
    r = run("report", tmp_path / "nope.pcap", "--format", "yaml")
    assert r.exit_code == 2


def test_real_subprocess_and_module_entry(capture):
    for cmd in (["pcapan"], [sys.executable, "-m", "pcap_analyzer"]):
        res = subprocess.run(cmd + ["streams", capture, "-f", "csv"], capture_output=True, text=True)
        if cmd == ["pcapan"] and res.returncode == 127:
            continue
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("proto,stream,")


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert commands
    for name in commands:
        assert f"pcapan {name}" in readme, name


def test_output_to_a_device_is_written_not_replaced(capture):
    import os
    import stat
    r = run("packets", capture, "-f", "csv", "-o", os.devnull)
    assert r.exit_code == 0, r.output
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("command", ["packets", "streams"])
def test_csv_json_markdown_carry_the_same_rows(capture, command):
    as_csv = pd.read_csv(io.StringIO(run(command, capture, "-f", "csv").stdout))
    as_json = pd.DataFrame(json.loads(run(command, capture, "-f", "json").stdout))
    md = run(command, capture, "-f", "markdown").stdout
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    as_md = pd.read_csv(io.StringIO("\n".join([lines[0]] + lines[2:])), sep="|", skipinitialspace=True)
    as_md = as_md.drop(columns=[c for c in as_md.columns if c.startswith("Unnamed")])
    as_md.columns = [c.strip() for c in as_md.columns]
    assert len(as_csv) == len(as_json) == len(as_md) > 0
    assert list(as_csv.columns) == list(as_json.columns) == list(as_md.columns)
    key = "frame" if command == "packets" else "stream"
    assert as_csv[key].tolist() == as_json[key].tolist() == as_md[key].astype(int).tolist()


def test_table_shows_ipv6_endpoints_and_text_verbatim():
    """Cells are data: an IPv6 endpoint in brackets is not swallowed as table markup."""
    result = runner.invoke(app, ["report", str(ROOT / "sample_captures" / "cooked_v2.pcap")])
    assert result.exit_code == 0, result.output
    streams = result.output.split("Streams", 1)[1]
    assert re.search(r"\[fd99::1\]:\d+", streams), streams[:2000]
    assert re.search(r"\[fd99::2\]:\d+", streams), streams[:2000]


@pytest.mark.parametrize("width", [80, 100, 132])
def test_report_table_fits_the_terminal(width):
    """On a terminal every line fits its width; columns that cannot fit are named, not mangled."""
    from pcap_analyzer import analyze
    from pcap_analyzer.report import render, report_document

    doc = report_document(analyze(ROOT / "sample_captures" / "bulk_loss.pcap"), for_table=True)
    text = render(doc, "table", "streams", width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "10.99.0.1:57638" in text and "complete (3,4,5)" in text   # endpoints and handshake stay whole
    assert "not shown at this width" in text
    wide = render(doc, "table", "streams")   # off a terminal: every column, nothing left out
    assert "not shown" not in wide and "initial rtt ms" in wide


def test_report_lists_the_busiest_streams_and_counts_the_rest(tmp_path):
    convs = []
    for i in range(20):
        c = Conversation(client=("10.0.0.1", 40000 + i), server=("10.0.0.2", 80), t=i)
        c.handshake()
        for _ in range(i):       # stream i has i data packets: the last ones are the busiest
            c.c(PSH | ACK, 1, 1, 10)
        convs.append(c)
    first = convs[0]
    for c in convs[1:]:
        first.frames += c.frames
    path = first.write(tmp_path / "many.pcap")
    result = runner.invoke(app, ["report", str(path), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    streams = result.output.split("## Streams", 1)[1].split("##", 1)[0]
    assert "tcp 19" in streams and "tcp 5" in streams and "tcp 4 " not in streams
    assert "5 more streams" in streams
