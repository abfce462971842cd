"""The time-sequence graph: what is drawn, and ``pcapan plot``."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import SAMPLES
from pcap_analyzer import analyze
from pcap_analyzer.cli import app
from pcap_analyzer.plot import save_time_sequence, time_sequence_figure
from pcap_analyzer.vocabulary import RESENDS as RETRANSMISSION_LABELS

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BULK = SAMPLES / "bulk_loss.pcap"


@pytest.fixture(scope="module")
def bulk():
    return analyze(BULK)


def retransmitted_segments(packets, stream):
    s = packets[(packets["proto"] == "tcp") & (packets["stream"] == stream) & (packets["payload_len"] > 0)]
    labels = s["labels"].astype("string").fillna("").str.split(";")
    return s[labels.map(lambda ls: any(x in RETRANSMISSION_LABELS for x in ls)).astype(bool)]


def legend_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_retransmissions_have_their_own_marker_and_legend_entry(bulk):
    fig = time_sequence_figure(bulk.packets, 0)
    ax = fig.axes[0]
    assert legend_labels(fig) == ["ACK (receiver)", "receive window edge (ACK + window)", "data segment",
                                  "retransmission"]
    marks = [line for line in ax.get_lines() if line.get_label() == "retransmission"]
    assert len(marks) == 1 and marks[0].get_marker() == "x"
    expected = retransmitted_segments(bulk.packets, 0)
    assert len(expected) > 100
    start = bulk.packets.loc[bulk.packets["stream"] == 0, "time_rel_s"].iloc[0]
    # one marker per resent segment, at its time and at the top of its bar
    np.testing.assert_allclose(marks[0].get_xdata(), expected["time_rel_s"] - start)
    np.testing.assert_allclose(marks[0].get_ydata(), expected["rel_seq"] + expected["payload_len"])
    assert marks[0].get_color() != ax.collections[0].get_color().tolist()
    assert ax.get_title() == "TCP stream 0: data from 10.99.0.1:57638 to 10.99.0.2:5001"
    assert "time" in ax.get_xlabel() and "relative sequence number" in ax.get_ylabel()


def test_ack_and_window_lines_come_from_the_receiver(bulk):
    fig = time_sequence_figure(bulk.packets, 0)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    s = bulk.packets.pcapan.stream(0)
    acks = s[~s["from_client"] & s["flags"].str.contains("ACK")]
    assert lines["ACK (receiver)"].get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(lines["ACK (receiver)"].get_ydata(), acks["rel_ack"].astype(float))
    edge = lines["receive window edge (ACK + window)"].get_ydata()
    assert (edge >= lines["ACK (receiver)"].get_ydata()).all()


def test_a_clean_transfer_has_no_retransmission_entry():
    a = analyze(SAMPLES / "http_like.pcap")
    fig = time_sequence_figure(a.packets, 0)
    assert "retransmission" not in legend_labels(fig)
    # the server sent more payload: its data is plotted, the client's ACKs are the lines
    assert "data from 10.99.0.2:8080" in fig.axes[0].get_title()


def test_save_writes_png_and_svg(bulk, tmp_path):
    save_time_sequence(bulk.packets, 1, tmp_path / "s.png")
    save_time_sequence(bulk.packets, 1, tmp_path / "s.svg")
    assert (tmp_path / "s.png").read_bytes().startswith(PNG_SIGNATURE)
    assert b"<svg" in (tmp_path / "s.svg").read_bytes()[:1000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png", "s.svg"]


def test_importing_the_library_sets_no_backend():
    code = ("import sys, pcap_analyzer, pcap_analyzer.plot; "
            "print('matplotlib.pyplot' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_cli_plot_writes_a_png_of_the_busiest_stream(tmp_path):
    out = tmp_path / "seq.png"
    result = runner.invoke(app, ["plot", str(BULK), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and b"IEND" in data[-12:]
    # bulk_loss.pcap: both streams carry 1.5 MB; the first of equals is taken
    assert "TCP stream 0" in result.output


def test_cli_plot_stream_option(tmp_path):
    out = tmp_path / "seq.png"
    result = runner.invoke(app, ["plot", str(BULK), "--stream", "1", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert result.output == ""


def test_cli_plot_bad_stream_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["plot", str(BULK), "--stream", "9", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    assert "no TCP stream 9 (TCP streams: 0-1)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_without_tcp_and_over_the_input(tmp_path):
    no_tcp = runner.invoke(app, ["plot", str(SAMPLES / "crafted" / "unknown_linktype.pcap"),
                                 "-o", str(tmp_path / "x.png")])
    assert no_tcp.exit_code == 2 and "no TCP stream to plot" in no_tcp.output
    capture = tmp_path / "cap.pcap"
    shutil.copyfile(BULK, capture)
    over = runner.invoke(app, ["plot", str(capture), "-o", str(capture)])
    assert over.exit_code == 2 and "refusing to write over the input capture" in over.output
    assert capture.read_bytes() == BULK.read_bytes()
