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


# --- off a terminal every cell is whole; the format follows -o's extension ----------------------

LONG_V6_CLIENT = ("2001:db8:85a3:1234:5678:8a2e:370:7334", 51234)
LONG_V6_SERVER = ("2001:db8:ffff:abcd:1111:2222:3333:4444", 443)


class _V6Conversation(Conversation):
    """The builder's conversation over IPv6."""

    def _segment(self, from_client, flags, seq, ack, data, win, options):
        import socket

        import dpkt

        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        isn, peer_isn = (self.client_isn, self.server_isn) if from_client else (self.server_isn, self.client_isn)
        tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=(isn + seq) & 0xFFFFFFFF,
                           ack=(peer_isn + ack) & 0xFFFFFFFF if flags & ACK else 0,
                           flags=flags, win=win, opts=options, data=data)
        tcp.off = (20 + len(options)) // 4
        ip6 = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src[0]),
                           dst=socket.inet_pton(socket.AF_INET6, dst[0]), nxt=6, hlim=64, data=tcp)
        ip6.plen = len(tcp)
        eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02",
                                     type=dpkt.ethernet.ETH_TYPE_IP6, data=ip6)
        return bytes(eth)


@pytest.fixture()
def v6_capture(tmp_path):
    """An IPv6 conversation with long addresses and ISNs of ten digits, a resend and a close."""
    c = _V6Conversation(client=LONG_V6_CLIENT, server=LONG_V6_SERVER, client_isn=4_000_000_123,
                        server_isn=3_987_654_321)
    c.handshake()
    c.c(PSH | ACK, 1, 1, 100)
    c.c(PSH | ACK, 1, 1, 100, after=0.3)     # resent: no ACK came
    c.s(ACK, 1, 101)
    c.c(FIN | ACK, 101, 1)
    c.s(FIN | ACK, 1, 102)
    c.c(ACK, 102, 2)
    return c.write(tmp_path / "v6.pcap")


def test_streams_piped_keep_every_cell_whole(v6_capture):
    """Off a terminal nothing is cut: the long addresses, the ten-digit ISNs, the handshake verdict
    and the last of 65 columns all appear, one line per stream."""
    r = run("streams", v6_capture)
    assert r.exit_code == 0, r.output
    assert "\u2026" not in r.stdout
    row = next(line for line in r.stdout.splitlines() if LONG_V6_CLIENT[0] in line)
    for cell in (LONG_V6_CLIENT[0], "51234", LONG_V6_SERVER[0], "443", "4000000123", "3987654321", "complete",
                 "SF"):
        assert re.search(rf"(^|\s){re.escape(cell)}(\s|$)", row), cell
    header = r.stdout.splitlines()[1].split()
    assert header[0] == "proto" and header[-1] == "server_window_probe" and len(header) == 65


def test_packets_and_report_piped_keep_every_sentence_whole(v6_capture):
    from pcap_analyzer import analyze

    explain = analyze(v6_capture).packets["explain"]
    out = run("packets", v6_capture).stdout
    lines = out.splitlines()
    for frame, sentence in enumerate(explain, 1):
        row = next(line for line in lines if line.split()[:1] == [str(frame)])
        assert row.endswith(sentence), (frame, sentence)      # the last column, on the row's one line
    assert "Retransmission" in explain.iloc[4]
    report = run("report", v6_capture).stdout
    assert f"[{LONG_V6_CLIENT[0]}]:51234" in report and f"[{LONG_V6_SERVER[0]}]:443" in report
    assert f"frame 5: {explain.iloc[4]}" in report
    assert "not shown" not in report


def test_columns_pick_in_every_format(capture):
    r = run("packets", capture, "--columns", "frame, rel_seq,labels", "-f", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["frame", "rel_seq", "labels"] and len(rows) == 10
    assert rows[4] == {"frame": "5", "rel_seq": "1", "labels": "retransmission"}
    r = run("streams", capture, "--columns", "stream,client_isn", "-f", "json")
    assert json.loads(r.stdout)[0] == {"stream": 0, "client_isn": 1_000_000}
    r = run("packets", capture, "--columns", "frame,dir,len")          # the short names a terminal shows
    assert r.stdout.split("\n")[1].split() == ["frame", "from_client", "payload_len"]


@pytest.mark.parametrize("typo,nearest", [("rel_sq", "rel_seq"), ("lables", "labels"), ("xyz", None)])
def test_unknown_column_is_one_line_naming_the_nearest(capture, typo, nearest):
    r = run("packets", capture, "--columns", f"frame,{typo}")
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1
    assert f"no column '{typo}'" in r.output and "the columns are frame, time, " in r.output
    assert (f"did you mean {nearest}?" in r.output) if nearest else "did you mean" not in r.output


def test_format_follows_the_output_files_extension(capture, tmp_path):
    as_csv = run("streams", capture, "-f", "csv").stdout
    r = run("streams", capture, "-o", tmp_path / "s.csv")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s.csv").read_text() == as_csv and as_csv.startswith("proto,stream,client,")
    run("streams", capture, "-o", tmp_path / "s.JSON")
    assert [s["client_isn"] for s in json.loads((tmp_path / "s.JSON").read_text())] == [1_000_000, 1_000_000]
    run("streams", capture, "-o", tmp_path / "s.md")
    assert (tmp_path / "s.md").read_text().startswith("| proto | stream | client |")
    run("packets", capture, "-o", tmp_path / "p.parquet")
    p = pd.read_parquet(tmp_path / "p.parquet")
    assert p["frame"].tolist() == list(range(1, 11)) and p.loc[4, "labels"] == "retransmission"
    run("report", capture, "-o", tmp_path / "r.json")
    assert set(json.loads((tmp_path / "r.json").read_text())) >= {"capture", "streams", "events"}
    r = run("packets", capture, "-o", tmp_path / "p.txt")          # not a format's extension: the table
    assert r.exit_code == 0 and (tmp_path / "p.txt").read_text().split()[:2] == ["frame", "time_rel_s"]
    r = run("streams", capture, "-f", "json", "-o", tmp_path / "s.json")     # agreeing: fine
    assert r.exit_code == 0 and json.loads((tmp_path / "s.json").read_text())


@pytest.mark.parametrize("args,message", [
    (["streams", "-f", "csv", "-o", "x.json"], "--format csv contradicts x.json (a json file name)"),
    (["packets", "-f", "table", "-o", "x.md"], "--format table contradicts x.md (a markdown file name)"),
    (["report", "-o", "x.parquet"], "report does not write parquet; it writes table, csv, json, markdown"),
    (["packets", "-o", "x.html"], "packets does not write html; it writes table, csv, json, markdown, parquet"),
    (["streams", "-f", "csv", "-o", "x.html"], "--format csv contradicts x.html (a html file name)"),
    (["check", "-f", "json", "-o", "x.csv"], "--format json contradicts x.csv (a csv file name)"),
])
def test_output_name_and_format_that_disagree_is_one_line_exit_2(capture, tmp_path, args, message):
    command, *rest = args
    rest[-1] = str(tmp_path / rest[-1])
    r = run(command, capture, *rest)
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1
    assert message.replace("x.", str(tmp_path / "x.")) in r.output
    assert not list(tmp_path.glob("x.*"))


def test_check_writes_the_format_of_its_output_file(capture, tmp_path):
    r = run("check", capture, "-o", tmp_path / "g.csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "g.csv").read_text())))
    assert len(rows) == 1 and rows[0]["file"].endswith("cap.pcap") and rows[0]["overall"]


def test_every_format_a_command_declares_has_a_writer(capture):
    """A format added to a command's list (and its extension to the one table) needs a writer."""
    from pcap_analyzer import analyze
    from pcap_analyzer.cli import check as check_command
    from pcap_analyzer.cli import tables
    from pcap_analyzer.cli.formats import SUFFIX_FORMATS
    from pcap_analyzer.report.documents import streams_document
    from pcap_analyzer.report.writers import render_bytes

    doc = streams_document(analyze(capture))
    for formats in (tables.PACKETS, tables.STREAMS, tables.REPORT, check_command.CHECK):
        for name in formats.names:
            assert name == "table" or name in SUFFIX_FORMATS.values(), name
            if name == "html":      # a page of its own (report.html), for these commands
                assert formats.command in ("report", "streams", "check")
                continue
            assert render_bytes(doc, name, "streams"), (formats.command, name)
