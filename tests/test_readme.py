"""The README is for newcomers: short, its links lead somewhere, and what it shows works."""
import re
import shlex

import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLES
from pcap_analyzer.cli import app

README = (ROOT / "README.md").read_text()


def _block_after(heading: str) -> str:
    section = README.split(heading, 1)[1]
    return section.split("```", 2)[1]


def test_short_enough_to_read():
    assert len(README.splitlines()) <= 200


def test_every_local_link_exists():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links
    for link in links:
        assert (ROOT / link).exists(), link
    for doc in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / link).exists(), (doc.name, link)


def _terminal_examples():
    for line in _block_after("## In a terminal").splitlines():
        command = line.split("#", 1)[0].strip()
        if command.startswith("pcapan "):
            yield command


@pytest.mark.parametrize("command", list(_terminal_examples()))
def test_terminal_examples_work(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = shlex.split(command)[1:]
    args = [str(SAMPLES / "bulk_loss.pcap") if a == "capture.pcapng" else a for a in args]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    if "-o" in args:
        written = tmp_path / args[args.index("-o") + 1]
        assert written.stat().st_size > 0
        if written.suffix == ".csv":
            assert written.read_text().startswith("proto,stream,")
    else:
        assert r.stdout.strip()


def test_check_file_returns_what_the_readme_says():
    assert "result, analysis = pcap_analyzer.check.check_file(path)" in README
    from pcap_analyzer.analysis import Analysis
    from pcap_analyzer.check import CheckResult, check_file

    result, analysis = check_file(SAMPLES / "lab_upload.pcapng")
    assert isinstance(result, CheckResult) and isinstance(analysis, Analysis)
    for name in ("rubric", "answers", "segments", "retransmissions"):
        assert len(getattr(result, name)) > 0, name
    assert result.summary["overall"] == "pass"
    # the graded conversation's frames are the analysis's (stream 1 of the lab capture)
    assert set(analysis.packets["stream"].dropna()) == {1}
