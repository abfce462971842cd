"""Messages name files and quote captures, which strangers name: they stay one line and cannot
drive the terminal."""
from __future__ import annotations

from typer.testing import CliRunner

from pcap_analyzer.cli import app


def test_a_file_name_with_a_newline_and_an_escape_stays_one_inert_line(tmp_path):
    name = tmp_path / "cap\n\x1b[2J\x1b[31mFAKE: all good.pcap"
    name.write_bytes(b"not a capture at all, but long enough to be looked at")
    result = CliRunner().invoke(app, ["report", str(name)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert "\x1b" not in result.output
    assert "\\n\\x1b[2J\\x1b[31mFAKE" in lines[0]
