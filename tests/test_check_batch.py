"""pcapan check on a folder: one row per submission, errors as rows, every format parses."""
from __future__ import annotations

import csv
import io
import json
import os

from typer.testing import CliRunner

from conftest import SAMPLES, broken_captures
from pcap_analyzer.batch import check_file, check_many, collect
from pcap_analyzer.check import RUBRIC_KEYS, SUMMARY_COLUMNS
from pcap_analyzer.cli import app

runner = CliRunner()

SUBMISSIONS = ([SAMPLES / "lab_upload.pcapng", SAMPLES / "lab_offload.pcapng"]
               + sorted((SAMPLES / "crafted").glob("lab_*.pcap")) + broken_captures())
# Files no analysis can read: their rows carry the error.
UNREADABLE = {"empty.pcap", "not_a_capture.pcap"}


def build(folder, n: int = 200) -> dict[str, str]:
    """*n* submissions in *folder*, each student's a link to one sample; name -> sample name."""
    names = {}
    for i in range(n):
        src = SUBMISSIONS[i % len(SUBMISSIONS)]
        name = f"student{i:03d}_{src.name}"
        os.symlink(src, folder / name)
        names[name] = src.name
    (folder / "notes.md").write_text("not a submission\n")
    return names


def test_two_hundred_submissions_give_two_hundred_rows(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    names = build(folder)
    out = tmp_path / "grades.csv"
    r = runner.invoke(app, ["check", str(folder), "--format", "csv", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == list(SUMMARY_COLUMNS)
    assert len(rows) == 200
    assert sorted(row["file"] for row in rows) == sorted(names)
    for row in rows:
        sample = names[row["file"]]
        if sample in UNREADABLE:
            assert row["overall"] == "error" and "not a pcap or pcapng file" in row["error"], row
            assert all(row[k] == "" for k in RUBRIC_KEYS)
        else:
            assert row["overall"] in ("pass", "warn", "fail") and row["error"] == "", row
            assert all(row[k] in ("pass", "warn", "fail", "n.a.") for k in RUBRIC_KEYS), row
        if sample == "lab_upload.pcapng":
            assert row["overall"] == "pass" and row["retransmitted_segments"] == "37"
        if sample == "lab_reset.pcap":
            assert row["teardown"] == "fail"
        if sample == "truncated_last_record.pcap":
            assert "truncated" in row["warnings"]


def test_batch_formats_parse(tmp_path):
    for i, src in enumerate(SUBMISSIONS[:6] + [SAMPLES / "broken" / "empty.pcap"]):
        os.symlink(src, tmp_path / f"s{i}_{src.name}")
    pattern = str(tmp_path / "s*")
    r = runner.invoke(app, ["check", pattern, "-f", "json", "-q", "-j", "2"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 7 and rows[-1]["overall"] == "error"
    r = runner.invoke(app, ["check", pattern, "-f", "markdown", "-q"])
    assert r.exit_code == 0, r.output
    table = [ln for ln in r.stdout.splitlines() if ln.startswith("|")]
    assert len(table) == 2 + 7
    assert all(ln.count(" | ") == len(SUMMARY_COLUMNS) - 1 for ln in [table[0]])
    r = runner.invoke(app, ["check", pattern, "-q"])
    assert r.exit_code == 0 and "s0_lab_upload.pcapng" in r.stdout


def test_collect_and_check_file_never_raise(tmp_path):
    (tmp_path / "a.pcap").write_bytes((SAMPLES / "crafted" / "lab_reset.pcap").read_bytes())
    (tmp_path / ".hidden.pcap").write_bytes(b"")
    (tmp_path / "grades.csv").write_text("x\n")
    files = collect([str(tmp_path), str(tmp_path / "missing.pcap")])
    assert [name for name, _ in files] == ["a.pcap", str(tmp_path / "missing.pcap")]
    grades = check_many(files, workers=1)
    assert grades["overall"].tolist() == ["fail", "error"]
    assert "no such file" in grades["error"].iloc[1]
    assert check_file("dir", tmp_path)["overall"] == "error"


def test_plot_is_for_one_capture(tmp_path):
    r = runner.invoke(app, ["check", str(SAMPLES / "crafted"), "--plot", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "single capture" in r.output
