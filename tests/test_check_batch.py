"""pcapan check on a class: one row per file found, errors as rows, copies caught, a sheet safe to open."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES, broken_captures
from pcap_analyzer.batch import check_file, check_many, collect_submissions
from pcap_analyzer.check import RUBRIC_KEYS, SUMMARY_COLUMNS
from pcap_analyzer.cli import app

runner = CliRunner()

SUBMISSIONS = ([SAMPLES / "lab_upload.pcapng", SAMPLES / "lab_offload.pcapng"]
               + sorted((SAMPLES / "crafted").glob("lab_*.pcap")) + broken_captures())
# Files no analysis can read: their rows carry the error.
UNREADABLE = {"empty.pcap", "not_a_capture.pcap"}
# Distinct recordings: no two share a segment.
DISTINCT = [SAMPLES / n for n in ("lab_upload.pcapng", "lab_offload.pcapng", "lab_no_teardown.pcapng",
                                  "lab_tso.pcapng", "http_like.pcap", "bulk_loss.pcap", "dumpcap.pcapng",
                                  "keepalive.pcap", "reset.pcap", "crafted/lab_reset.pcap",
                                  "crafted/lab_no_handshake.pcap", "crafted/lab_nat.pcap", "zero_window.pcap",
                                  "port_reuse.pcap", "crafted/lab_split_1.pcap", "crafted/lab_split_2.pcap")]
EDITCAP = shutil.which("editcap")


def sheet(*args) -> list[dict]:
    r = runner.invoke(app, ["check", *map(str, args), "-f", "csv", "-q"])
    assert r.exit_code == 0, r.output
    return list(csv.DictReader(io.StringIO(r.stdout)))


def build(folder, n: int = 200) -> dict[str, str]:
    """*n* submissions in *folder*, each student's a link to one sample; name -> sample name."""
    names = {}
    for i in range(n):
        src = SUBMISSIONS[i % len(SUBMISSIONS)]
        name = f"student{i:03d}_{src.name}"
        os.symlink(src, folder / name)
        names[name] = src.name
    return names


def test_two_hundred_submissions_give_two_hundred_rows(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    names = build(folder)
    (folder / "notes.md").write_text("not a submission\n")
    out = tmp_path / "grades.csv"
    r = runner.invoke(app, ["check", str(folder), "--format", "csv", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == list(SUMMARY_COLUMNS)
    assert len(rows) == 201
    assert [row["file"] for row in rows] == sorted([*names, "notes.md"])
    notes = next(row for row in rows if row["file"] == "notes.md")
    assert notes["overall"] == "error" and "not a pcap or pcapng file" in notes["error"]
    for row in rows:
        if row["file"] == "notes.md":
            continue
        sample = names[row["file"]]
        if sample in UNREADABLE:
            assert row["overall"] == "error" and "not a pcap or pcapng file" in row["error"], row
            assert all(row[k] == "" for k in RUBRIC_KEYS)
        else:
            assert row["overall"] in ("pass", "warn", "fail") and row["error"] == "", row
            assert all(row[k] in ("pass", "warn", "fail", "info", "n.a.") for k in RUBRIC_KEYS), row
        if sample == "lab_upload.pcapng":
            assert row["overall"] == "pass" and row["retransmitted_segments"] == "37"
        if sample == "lab_reset.pcap":
            assert row["teardown"] == "info"
        if sample == "truncated_last_record.pcap":
            assert "truncated" in row["warnings"]


def _editcap(*args):
    subprocess.run(["editcap", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def class_folder(tmp_path):
    """A class of 34 files: distinct submissions, copies of some (renamed, byte-identical, re-saved as
    pcapng and as pcap, shifted in time, trimmed), notes, links (dangling, to a device, to a folder)
    and a FIFO.  Returns the folder and {file: the names of the files it copies (or is copied by)}."""
    if EDITCAP is None:
        pytest.skip("editcap (Wireshark's tools: apt-get install -y tshark) makes the re-saved copies")
    folder = tmp_path / "class"
    (folder / "late").mkdir(parents=True)
    for i, src in enumerate(DISTINCT):
        shutil.copyfile(src, folder / f"s{i:02d}_{src.name}")
    groups = {
        "s00_lab_upload.pcapng": ["late/copy_of_upload.pcapng", "renamed.pcap", "upload_resaved.pcapng",
                                  "upload_shifted.pcapng", "upload_trimmed.pcapng"],
        "s02_lab_no_teardown.pcapng": ["teardown_as_pcap.pcap", "teardown_shifted_back.pcapng"],
        "s09_lab_reset.pcap": ["reset_to_pcapng.pcapng"],
    }
    shutil.copyfile(DISTINCT[0], folder / "late" / "copy_of_upload.pcapng")       # byte-identical
    shutil.copyfile(DISTINCT[0], folder / "renamed.pcap")                          # renamed
    _editcap("-F", "pcapng", DISTINCT[0], folder / "upload_resaved.pcapng")       # re-saved
    _editcap("-t", "3600.25", DISTINCT[0], folder / "upload_shifted.pcapng")       # time-shifted
    _editcap("-r", DISTINCT[0], folder / "upload_trimmed.pcapng", "1-120")         # trimmed
    _editcap("-F", "pcap", DISTINCT[2], folder / "teardown_as_pcap.pcap")
    _editcap("-t", "-86400", DISTINCT[2], folder / "teardown_shifted_back.pcapng")
    _editcap("-F", "pcapng", DISTINCT[9], folder / "reset_to_pcapng.pcapng")
    # not a copy: a part of the same recording holding another conversation (the short download)
    _editcap("-r", DISTINCT[0], folder / "only_dns_and_download.pcapng", "1-20")
    (folder / "notes.txt").write_text("my answers are in the report\n")
    (folder / "report.docx").write_bytes(b"PK\x03\x04 not really a document")
    (folder / "=cmd.pcap").write_bytes(DISTINCT[3].read_bytes()[:0] + b"\x00" * 10)
    os.symlink(tmp_path / "nowhere.pcap", folder / "dangling.pcap")
    os.symlink("/dev/null", folder / "devnull.pcap")
    os.symlink(tmp_path, folder / "link_to_folder")
    os.mkfifo(folder / "fifo.pcap")
    (folder / ".DS_Store").write_bytes(b"\x00\x00")
    copies = {}
    for original, others in groups.items():
        everyone = [original, *others]
        for name in everyone:
            copies[name] = sorted(n for n in everyone if n != name)
    return folder, copies


def test_class_folder_gives_one_row_per_file_and_flags_exactly_the_copies(class_folder):
    folder, copies = class_folder
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if (p.is_symlink() or not p.is_dir()) and not p.name.startswith("."))
    assert len(found) >= 30
    rows = sheet(folder)
    shown = ["'" + f if f.startswith("=") else f for f in found]   # a spreadsheet's formula, as text
    assert [r["file"] for r in rows] == shown           # one row each, named relative to the folder, sorted
    by_file = {r["file"]: r for r in rows}
    for name, row in by_file.items():
        got = sorted(filter(None, row["copy_of"].split("; ")))
        assert got == copies.get(name, []), name
    errors = {name: row["error"] for name, row in by_file.items() if row["overall"] == "error"}
    assert "broken symbolic link" in errors["dangling.pcap"]
    assert "named pipe (FIFO)" in errors["fifo.pcap"]
    assert "device" in errors["devnull.pcap"]
    assert "directory" in errors["link_to_folder"]
    assert "not a pcap or pcapng file" in errors["notes.txt"] and "not a pcap or pcapng file" in errors["report.docx"]
    # a sheet a spreadsheet opens without running anything: the file name starting with "=" is text
    assert "'=cmd.pcap" in by_file and by_file["'=cmd.pcap"]["overall"] == "error"
    # the same order every run, whatever the number of workers
    assert [r["file"] for r in sheet(folder, "-j", "1")] == shown


def _pcap_records(data: bytes):
    """The global header of a little-endian microsecond pcap and its records as (header, bytes)."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    at, records = 24, []
    while at < len(data):
        incl = int.from_bytes(data[at + 8:at + 12], "little")
        records.append((bytearray(data[at:at + 16]), data[at + 16:at + 16 + incl]))
        at += 16 + incl
    return data[:24], records


def _shifted(data: bytes, seconds: int, micros: int = 0) -> bytes:
    head, records = _pcap_records(data)
    out = [head]
    for h, body in records:
        sec, usec = int.from_bytes(h[:4], "little"), int.from_bytes(h[4:8], "little") + micros
        h[:4], h[4:8] = (sec + seconds + usec // 1_000_000).to_bytes(4, "little"), (usec % 1_000_000).to_bytes(4, "little")
        out += [bytes(h), body]
    return b"".join(out)


def _trimmed(data: bytes, first: int, last: int) -> bytes:
    head, records = _pcap_records(data)
    return head + b"".join(bytes(h) + body for h, body in records[first:last])


def test_copies_made_without_wireshark_tools(tmp_path):
    """Renamed, byte-identical, shifted and trimmed copies of a pcap, made in Python, beside distinct
    captures: exactly the copies are flagged."""
    reset = (SAMPLES / "crafted" / "lab_reset.pcap").read_bytes()
    (tmp_path / "a.pcap").write_bytes(reset)
    (tmp_path / "a_renamed.cap").write_bytes(reset)
    (tmp_path / "a_shifted.pcap").write_bytes(_shifted(reset, 86_400 * 30, 250_000))
    (tmp_path / "a_trimmed.pcap").write_bytes(_trimmed(reset, 3, 17))
    for name in ("lab_no_handshake.pcap", "lab_nat.pcap", "lab_split_1.pcap", "lab_split_2.pcap"):
        (tmp_path / name).write_bytes((SAMPLES / "crafted" / name).read_bytes())
    (tmp_path / "http_like.pcap").write_bytes((SAMPLES / "http_like.pcap").read_bytes())
    rows = {r["file"]: sorted(filter(None, r["copy_of"].split("; "))) for r in sheet(tmp_path)}
    group = ["a.pcap", "a_renamed.cap", "a_shifted.pcap", "a_trimmed.pcap"]
    for name, copies in rows.items():
        assert copies == ([n for n in group if n != name] if name in group else []), name


def test_names_are_as_given_and_never_collide(tmp_path):
    for d in ("A", "B"):
        (tmp_path / d).mkdir()
        shutil.copyfile(SAMPLES / "crafted" / "lab_reset.pcap", tmp_path / d / "cap.pcap")
    os.chdir(tmp_path)
    rows = sheet("A/cap.pcap", "B/cap.pcap")
    assert [r["file"] for r in rows] == ["A/cap.pcap", "B/cap.pcap"]
    assert rows[0]["copy_of"] == "B/cap.pcap" and rows[1]["copy_of"] == "A/cap.pcap"
    rows = sheet("A", "B")
    assert [r["file"] for r in rows] == ["A/cap.pcap", "B/cap.pcap"]
    (tmp_path / "A" / "notes.txt").write_text("x")
    # a folder and a glob pattern list the same files, non-captures included
    assert [r["file"] for r in sheet("A")] == ["cap.pcap", "notes.txt"]
    assert [r["file"] for r in sheet("A/*")] == ["A/cap.pcap", "A/notes.txt"]


def test_formula_cells_are_neutralised_and_numbers_stay_numbers(tmp_path):
    """A spreadsheet runs a cell that starts with =, +, -, @, a tab or a carriage return: such text is
    written with a leading quote (OWASP); numbers are written as numbers."""
    names = ["=HYPERLINK(\"x\";1)", "+SUM(1).pcap", "-2+3.pcap", "@cmd.pcap", "\tx.pcap", "plain.pcap"]
    for n in names:
        shutil.copyfile(SAMPLES / "crafted" / "lab_reset.pcap", tmp_path / n)
    rows = sheet(tmp_path)
    cells = {r["file"] for r in rows}
    assert cells == {"'" + n if n[0] in "=+-@\t\r" else n for n in names}
    for r in rows:
        assert r["client_port"].isdigit() and float(r["score"]) == 100.0
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values()), r
    # read as a spreadsheet would: nothing that starts a formula
    reader = csv.reader(io.StringIO(runner.invoke(app, ["check", str(tmp_path), "-f", "csv", "-q"]).stdout))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in reader for cell in row)


def test_feedback_for_a_class(tmp_path):
    for i, src in enumerate([SAMPLES / "lab_upload.pcapng", SAMPLES / "lab_upload.pcapng", SAMPLES / "lab_tso.pcapng"]):
        shutil.copyfile(src, tmp_path / f"s{i}.pcapng")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("x")
    notes = tmp_path.parent / (tmp_path.name + "_notes")
    r = runner.invoke(app, ["check", str(tmp_path), "--feedback", str(notes), "-q", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in notes.iterdir()) == ["s0.pcapng.md", "s1.pcapng.md", "s2.pcapng.md",
                                                     "sub__notes.txt.md"]
    assert "The same capture as: s1.pcapng." in (notes / "s0.pcapng.md").read_text()
    assert "Not graded: sub/notes.txt: not a pcap or pcapng file" in (notes / "sub__notes.txt.md").read_text()


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
    files = collect_submissions([str(tmp_path), str(tmp_path / "missing.pcap")])
    assert [name for name, _ in files] == [os.path.join(str(tmp_path), "a.pcap"),
                                           os.path.join(str(tmp_path), "grades.csv"), str(tmp_path / "missing.pcap")]
    grades = check_many(files, workers=1)
    assert grades["overall"].tolist() == ["pass", "error", "error"]
    assert "no such file" in grades["error"].iloc[2]
    assert check_file("dir", tmp_path)["overall"] == "error"


def test_plot_is_for_one_capture(tmp_path):
    r = runner.invoke(app, ["check", str(SAMPLES / "crafted"), "--plot", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "single capture" in r.output
