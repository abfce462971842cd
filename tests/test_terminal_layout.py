"""Tables on a real terminal: pcapan run on a pseudo-terminal of 80 and 120 columns.

On a terminal each command shows what matters first, never wider than the
terminal, long sentences wrapped instead of cut; ``COLUMNS`` gives the width
when the terminal does not say; ``--columns`` and ``--wide`` choose.
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios

import pytest

from conftest import ROOT, SAMPLES
from pcap_analyzer import analyze

BULK = SAMPLES / "bulk_loss.pcap"
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def on_terminal(args: list, columns: int, rows: int = 50, env: dict | None = None) -> str:
    """What ``pcapan ARGS`` writes on a pseudo-terminal *columns* wide (0: a terminal of unknown
    size), without colours; the exit status must be 0."""
    pid, fd = pty.fork()
    if pid == 0:     # the child: pcapan, with the pseudo-terminal as its stdin, stdout and stderr
        environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        environ["PYTHONPATH"] = str(ROOT) + os.pathsep + environ.get("PYTHONPATH", "")
        environ.update(env or {})
        try:
            os.execve(sys.executable, [sys.executable, "-m", "pcap_analyzer", *map(str, args)], environ)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    out = bytearray()
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:      # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    text = _ESCAPE.sub("", out.decode("utf-8")).replace("\r\n", "\n")
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    return text


def widest(text: str) -> int:
    from rich.cells import cell_len

    return max(cell_len(line) for line in text.splitlines())


def flat(text: str) -> str:
    """*text* with every run of blanks and line ends one space: a wrapped sentence reads whole again."""
    return " ".join(text.split())


def header_of(text: str) -> list[str]:
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("\u2500"))
    return lines[rule - 1].split()


@pytest.fixture(scope="module")
def bulk():
    return analyze(BULK)


@pytest.mark.parametrize("columns", [80, 120])
def test_packets_fit_with_what_matters_first(bulk, columns):
    out = on_terminal(["packets", BULK], columns)
    assert widest(out) <= columns
    header = header_of(out)
    assert header[:8] == ["frame", "time_rel_s", "stream", "dir", "flags", "rel_seq", "rel_ack", "len"]
    text = flat(out)
    p = bulk.packets
    # every explanation is there, whole (wrapped under its row or in its column)
    for sentence in p["explain"].dropna().unique():
        assert flat(sentence) in text, sentence
    # a row: frame 38 is the client's fast retransmission of relative seq 13033 (1448 bytes)
    row = next(line for line in out.splitlines() if line.split()[:1] == ["38"])
    assert row.split()[2:8] == ["0", "\u2192", "ACK", "13033", "1", "1448"]
    if columns == 80:    # the labels go with the sentence under the row
        assert "[fast_retransmission, retransmission, truncated] Fast retransmission of relative seq 13033" in text
    else:
        assert "labels" in header
        assert "fast_retransmission, retransmission, truncated" in row


@pytest.mark.parametrize("columns", [80, 120])
def test_streams_fit_with_endpoints_state_and_counts(columns):
    out = on_terminal(["streams", BULK], columns)
    assert widest(out) <= columns
    header = header_of(out)
    assert header[:5] == ["stream", "client", "server", "state", "handshake"]
    assert "10.99.0.1:57638" in out and "10.99.0.2:5001" in out and "complete (576,658,659)" in out
    if columns == 120:
        assert "packets" in header and "1041/717" in out and "1500000/11" in out
    assert "--wide shows every column" in flat(out)


@pytest.mark.parametrize("columns", [80, 120])
def test_report_fits_and_keeps_every_example_whole(bulk, columns):
    out = on_terminal(["report", BULK], columns)
    assert widest(out) <= columns
    text = flat(out)
    for label in ("duplicate_ack", "retransmission", "fast_retransmission", "lost_segment", "out_of_order"):
        frame = int(bulk.packets[bulk.packets["labels"].astype("string").str.contains(label, regex=False)
                                 .fillna(False)]["frame"].iloc[0])
        sentence = bulk.packets.loc[bulk.packets["frame"] == frame, "explain"].iloc[0]
        assert flat(f"frame {frame}: {sentence}") in text, label
    assert "SF" in out and "10.99.0.1:57650" in out


def test_columns_from_the_environment_when_the_terminal_does_not_say():
    out = on_terminal(["packets", BULK], 0, env={"COLUMNS": "100"})
    assert 80 < widest(out) <= 100


def test_columns_picked_keep_their_order_and_wrap_instead_of_leaving_out(bulk):
    out = on_terminal(["packets", BULK, "--columns", "frame,explain,seq,dir"], 80)
    assert widest(out) <= 80
    assert header_of(out) == ["frame", "explain", "seq", "dir"]     # the sentence wrapped in its column
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["3"])
    isn = str(int(bulk.packets.loc[bulk.packets["frame"] == 3, "seq"].iloc[0]))
    assert lines[at].split()[-2:] == [isn, "\u2192"]
    # frame 3's sentence, read down its column (the lines up to the next frame's row)
    header = next(line for line in lines if line.split()[:1] == ["frame"])
    left, right = header.index("explain"), header.index(" seq") + 4 - len(isn) - 2
    rows = lines[at:next(i for i in range(at + 1, len(lines)) if lines[i].split()[:1] == ["4"])]
    assert flat(" ".join(line[left:right] for line in rows)) == flat(bulk.packets["explain"].iloc[2])
    assert "not shown" not in out
    narrow = on_terminal(["packets", BULK, "--columns", "frame,explain,seq,dir"], 60)
    assert widest(narrow) <= 60
    assert header_of(narrow) == ["frame", "seq", "dir"]             # the sentence under its row
    assert flat(bulk.packets["explain"].iloc[2]) in flat(narrow)


def test_wide_shows_every_column_however_wide():
    out = on_terminal(["streams", BULK, "--wide"], 80)
    assert widest(out) > 80
    header = header_of(out)
    assert header[:4] == ["proto", "stream", "client", "client_port"] and "server_window_probe" in header


def test_no_line_wider_than_the_terminal_on_any_sample():
    """Every sample capture's packets, streams and report, laid out as on terminals of 40 to 120
    columns: no line is wider, and every explanation is there whole."""
    from conftest import sample_captures
    from pcap_analyzer import CaptureError
    from pcap_analyzer.report.documents import (TERMINAL_LAYOUTS, packets_document, report_document,
                                                streams_document)
    from pcap_analyzer.report.writers import render

    for path in sample_captures():
        try:
            a = analyze(path)
        except CaptureError:
            continue
        docs = [packets_document(a), streams_document(a, overview=True), streams_document(a),
                report_document(a, for_table=True)]
        sentences = [flat(s) for s in a.packets["explain"].dropna().unique()]
        for width in (40, 60, 80, 120):
            for doc in docs:
                text = render(doc, "table", next(iter(doc)), width=width, layouts=TERMINAL_LAYOUTS)
                assert widest(text) <= width, (path.name, next(iter(doc)), width)
            text = flat(render(docs[0], "table", "packets", width=width, layouts=TERMINAL_LAYOUTS))
            for sentence in sentences:
                assert sentence in text, (path.name, width, sentence)
