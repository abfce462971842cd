"""`pcapan report` on several captures: one overview row each, on every core, failures isolated."""
from __future__ import annotations

import csv
import io
import json
import shutil

from typer.testing import CliRunner

from conftest import ROOT
from pcap_analyzer import analyze
from pcap_analyzer.batch import REPORT_COLUMNS, report_many
from pcap_analyzer.cli import app

runner = CliRunner()
SAMPLES = ROOT / "sample_captures"
GOOD = ["bulk_loss.pcap", "offload.pcap", "dumpcap.pcapng", "reset.pcap"]
BROKEN = ["empty.pcap", "not_a_capture.pcap", "truncated_last_record.pcap"]


def _folder(tmp_path):
    d = tmp_path / "class"
    d.mkdir()
    for name in GOOD:
        shutil.copy(SAMPLES / name, d / name)
    for name in BROKEN:
        shutil.copy(SAMPLES / "broken" / name, d / f"broken_{name}")
    (d / "notes.md").write_text("not a capture, and skipped as a document")
    return d


def test_folder_gives_one_row_per_capture_with_the_single_file_numbers(tmp_path):
    d = _folder(tmp_path)
    result = runner.invoke(app, ["report", str(d), "--format", "csv", "-j", "2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["file"] for r in rows] == sorted([*GOOD, *(f"broken_{b}" for b in BROKEN)])
    assert list(rows[0]) == REPORT_COLUMNS
    by_file = {r["file"]: r for r in rows}
    for name in GOOD:
        a = analyze(SAMPLES / name)
        r = by_file[name]
        assert r["error"] == ""
        assert int(r["packets"]) == len(a.packets)
        assert int(r["tcp_streams"]) == int((a.streams["proto"] == "tcp").sum())
        labels = a.packets["labels"].astype("string").fillna("").str.split(";")
        assert int(r["retransmissions"]) == int(labels.map(lambda ls: "retransmission" in ls).sum())
        assert int(r["duplicate_acks"]) == int(labels.map(lambda ls: "duplicate_ack" in ls).sum())
    assert int(by_file["offload.pcap"]["offloaded_checksums"]) > 0
    assert "not a pcap or pcapng file" in by_file["broken_empty.pcap"]["error"]
    assert "not a pcap or pcapng file" in by_file["broken_not_a_capture.pcap"]["error"]
    # damaged part-way: analysed up to the damage, with the warning
    cut = by_file["broken_truncated_last_record.pcap"]
    assert cut["error"] == "" and "truncated after frame" in cut["warnings"] and int(cut["packets"]) > 0


def test_glob_and_several_files_and_every_format(tmp_path):
    d = _folder(tmp_path)
    result = runner.invoke(app, ["report", str(d / "*.pcapng"), str(d / "reset.pcap"), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["file"] for r in rows} == {str(d / "dumpcap.pcapng"), str(d / "reset.pcap")}
    markdown = runner.invoke(app, ["report", str(d), "--format", "markdown", "-q"])
    assert markdown.exit_code == 0, markdown.output
    table_rows = [line for line in markdown.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table_rows) == 1 + len(GOOD) + len(BROKEN)


def test_one_capture_options_are_refused_for_many(tmp_path):
    d = _folder(tmp_path)
    result = runner.invoke(app, ["report", str(d), "--stream", "0"])
    assert result.exit_code == 2 and "single file" in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "none-*.pcap")])
    assert result.exit_code == 2 and "no captures found" in result.output


def test_same_rows_in_one_process_and_in_a_pool(tmp_path):
    d = _folder(tmp_path)
    files = [(p.name, p) for p in sorted(d.iterdir()) if p.suffix != ".md"]
    serial = report_many(files, workers=1)
    pooled = report_many(files, workers=2)
    assert serial.equals(pooled)
    assert len(serial) == len(files)
