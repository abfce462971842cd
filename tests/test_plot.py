"""The time-sequence graph: what is drawn, in which units, the zooms, and ``pcapan plot``."""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from typer.testing import CliRunner

from analysis_check import check
from builder import ACK, FIN, PSH, Conversation
from conftest import SAMPLES
from pcap_analyzer import analyze
from pcap_analyzer.cli import app
from pcap_analyzer.plot import (ACK_LABEL, DATA_LABEL, WINDOW_LABEL, ZERO_WINDOW_LABEL, PlotError,
                                parse_range, save_time_sequence, time_sequence_figure)

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BULK = SAMPLES / "bulk_loss.pcap"
HTTP = SAMPLES / "http_like.pcap"
ZERO_WINDOW = SAMPLES / "zero_window.pcap"
D = PSH | ACK


@pytest.fixture(scope="module")
def bulk():
    return analyze(BULK)


@pytest.fixture(scope="module")
def http():
    return analyze(HTTP)


@pytest.fixture
def crafted(tmp_path):
    """Three segments, the middle one lost and fast-retransmitted, a 300 ms zero window, then a
    segment resent after a timeout.  Times in ms after the SYN, sequence numbers relative."""
    c = Conversation()
    c.handshake(rtt=0.010)                       # SYN 0, SYN-ACK 5 (ack 1), ACK 10
    c.c(D, 1, 1, 1000)                           # 4: 11 ms, 1-1001
    c.c(D, 1001, 1, 1000)                        # 5: 12 ms, lost after the capture point
    c.c(D, 2001, 1, 1000)                        # 6: 13 ms
    c.s(ACK, 1, 1001)                            # 7: 14 ms
    dup1, dup2 = c.s(ACK, 1, 1001), c.s(ACK, 1, 1001)
    fast = c.c(D, 1001, 1, 1000, after=0.002)    # 10: 18 ms
    zero = c.s(ACK, 1, 3001, win=0, after=0.010)  # 11: 28 ms
    update = c.s(ACK, 1, 3001, after=0.300)      # 12: 328 ms, window 64240 again
    c.c(D, 3001, 1, 1000)                        # 13: 329 ms
    again = c.c(D, 3001, 1, 1000, after=0.200)   # 14: 529 ms
    c.s(ACK, 1, 4001, after=0.005)               # 15: 534 ms
    path = check(c, tmp_path, {dup1: {"duplicate_ack"}, dup2: {"duplicate_ack"},
                               fast: {"fast_retransmission", "retransmission"}, zero: {"zero_window"},
                               update: {"window_update"}, again: {"retransmission"}})
    return analyze(path)


def legend_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def lines(fig):
    return {line.get_label(): line for line in fig.axes[0].get_lines()}


def tick_labels(fig, axis):
    """The tick labels drawn on *axis*: those within its limits."""
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    low, high = ax.get_xlim() if axis == "x" else ax.get_ylim()
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks if low <= (t.get_position()[0 if axis == "x" else 1]) <= high]


def resent(packets, stream, label, unless=()):
    s = packets[(packets["proto"] == "tcp") & (packets["stream"] == stream) & (packets["payload_len"] > 0)]
    labels = s["labels"].astype("string").fillna("").str.split(";")
    return s[labels.map(lambda ls: label in ls and not set(unless) & set(ls)).astype(bool)]


# --- what is drawn ---------------------------------------------------------------------

def test_crafted_conversation_every_mark_where_it_belongs(crafted):
    fig = time_sequence_figure(crafted.packets, 0)
    ax = fig.axes[0]
    ms = 1e-3
    assert legend_labels(fig) == [DATA_LABEL, "fast retransmission", "retransmission", ACK_LABEL,
                                  "window edge not drawn (reaches 66.6 KiB)", ZERO_WINDOW_LABEL]
    marks = lines(fig)
    # each segment's marker at its time and the top of its bar (seq + length)
    np.testing.assert_allclose(marks[DATA_LABEL].get_xdata(), [11 * ms, 12 * ms, 13 * ms, 329 * ms], atol=1e-6)
    np.testing.assert_array_equal(marks[DATA_LABEL].get_ydata(), [1001, 2001, 3001, 4001])
    np.testing.assert_allclose(marks["fast retransmission"].get_xdata(), [18 * ms], atol=1e-6)
    np.testing.assert_array_equal(marks["fast retransmission"].get_ydata(), [2001])
    np.testing.assert_allclose(marks["retransmission"].get_xdata(), [529 * ms], atol=1e-6)
    np.testing.assert_array_equal(marks["retransmission"].get_ydata(), [4001])
    assert len({marks[k].get_marker() for k in ("fast retransmission", "retransmission", DATA_LABEL)}) == 3
    assert len({marks[k].get_color() for k in ("fast retransmission", "retransmission", DATA_LABEL)}) == 3
    # the receiver's ACK line: SYN-ACK (1), the three ACKs of 1001, 3001 twice, 4001
    np.testing.assert_array_equal(marks[ACK_LABEL].get_ydata(), [1, 1001, 1001, 1001, 3001, 3001, 4001])
    # the zero window from the ACK that closed it to the one that opened it
    [shade] = [p for p in ax.patches if p.get_label() == ZERO_WINDOW_LABEL]
    assert shade.get_x() == pytest.approx(28 * ms, abs=1e-6)
    assert shade.get_x() + shade.get_width() == pytest.approx(328 * ms, abs=1e-6)
    # the window edge (1 + 64240 at most ... 4001 + 64240) would squeeze 4 KB of data: left out
    assert WINDOW_LABEL not in marks
    assert ax.get_ylim()[1] < 4200
    assert ax.get_xlabel() == "time since the stream's first frame (ms)"
    assert ax.get_ylabel() == "data sender's relative sequence number (KiB)"
    assert ax.get_title() == "TCP stream 0: data from 10.0.0.1:40000 to 10.0.0.2:80"


def test_data_is_drawn_over_the_ack_line_and_the_window_edge(bulk):
    fig = time_sequence_figure(bulk.packets, 0)
    ax = fig.axes[0]
    marks = lines(fig)
    bars = ax.collections
    assert bars and min(b.get_zorder() for b in bars) > marks[ACK_LABEL].get_zorder()
    assert marks[DATA_LABEL].get_zorder() > marks[WINDOW_LABEL].get_zorder()
    assert marks["retransmission"].get_zorder() > marks[DATA_LABEL].get_zorder()
    assert marks[WINDOW_LABEL].get_linestyle() == "--"  # dashed: an edge on the ACK line leaves both visible


def test_retransmissions_of_each_kind_marked_and_in_the_legend(bulk):
    fig = time_sequence_figure(bulk.packets, 0)
    assert legend_labels(fig) == [DATA_LABEL, "fast retransmission", "retransmission", ACK_LABEL, WINDOW_LABEL]
    marks = lines(fig)
    start = bulk.packets.loc[bulk.packets["stream"] == 0, "time_rel_s"].iloc[0]
    for label, kind, unless in (("retransmission", "retransmission", ("fast_retransmission",)),
                                ("fast retransmission", "fast_retransmission", ())):
        expected = resent(bulk.packets, 0, kind, unless)
        # (Wireshark 4.6 calls most of this stream's resends fast retransmissions: 42 are plain)
        assert len(expected) > (30 if kind == "retransmission" else 0)
        np.testing.assert_allclose(marks[label].get_xdata(), expected["time_rel_s"] - start)
        np.testing.assert_allclose(marks[label].get_ydata(), expected["rel_seq"] + expected["payload_len"])
    assert ZERO_WINDOW_LABEL not in legend_labels(fig)


def test_ack_and_window_lines_come_from_the_receiver(bulk):
    fig = time_sequence_figure(bulk.packets, 0)
    marks = lines(fig)
    s = bulk.packets.pcapan.stream(0)
    acks = s[~s["from_client"] & s["flags"].str.contains("ACK")]
    assert marks[ACK_LABEL].get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(marks[ACK_LABEL].get_ydata(), acks["rel_ack"].astype(float))
    np.testing.assert_array_equal(marks[WINDOW_LABEL].get_ydata(), (acks["rel_ack"] + acks["window_size"]).astype(float))
    # the edge reaches 2.2 times the data (1.5 MB): drawn, and the axis made room for it
    assert fig.axes[0].get_ylim()[1] > marks[WINDOW_LABEL].get_ydata().max()


def test_short_exchange_in_ms_and_kib_without_the_window_edge(http):
    fig = time_sequence_figure(http.packets, 0)
    ax = fig.axes[0]
    # the server's 20,088 bytes in 0.52 ms under the client's window edge at up to 98,937 (96.6 KiB)
    assert ax.get_xlabel().endswith("(ms)") and ax.get_ylabel().endswith("(KiB)")
    assert tick_labels(fig, "x") == ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]
    assert tick_labels(fig, "y")[-1] == "20.0"
    assert "data from 10.99.0.2:8080" in ax.get_title()
    assert WINDOW_LABEL not in lines(fig)
    assert legend_labels(fig) == [DATA_LABEL, ACK_LABEL, "window edge not drawn (reaches 96.6 KiB)"]
    assert 20_088 < ax.get_ylim()[1] < 21_000

    forced = time_sequence_figure(http.packets, 0, window=True)
    assert legend_labels(forced) == [DATA_LABEL, ACK_LABEL, WINDOW_LABEL]
    assert forced.axes[0].get_ylim()[1] > 98_937


def test_window_edge_can_be_turned_off(bulk):
    fig = time_sequence_figure(bulk.packets, 0, window=False)
    assert WINDOW_LABEL not in lines(fig)
    assert fig.axes[0].get_ylim()[1] < 1.05 * 1_500_000


def test_whole_bulk_transfer_in_s_and_mib(bulk):
    fig = time_sequence_figure(bulk.packets, 0)
    assert fig.axes[0].get_xlabel().endswith("(s)") and fig.axes[0].get_ylabel().endswith("(MiB)")
    assert tick_labels(fig, "x")[:3] == ["0.00", "0.25", "0.50"]
    assert tick_labels(fig, "y")[:3] == ["0.0", "0.5", "1.0"]


def test_zero_window_spells_shaded(tmp_path):
    a = analyze(ZERO_WINDOW)
    fig = time_sequence_figure(a.packets, 0)
    assert ZERO_WINDOW_LABEL in legend_labels(fig)
    p = a.packets.set_index("frame")["time_rel_s"]
    start = p[3]  # the SYN
    # the receiver closed its window in frames 65 and 91 and opened it in 71 and 94
    spans = [(r.get_x(), r.get_x() + r.get_width()) for r in fig.axes[0].patches]
    np.testing.assert_allclose(spans, [(p[65] - start, p[71] - start), (p[91] - start, p[94] - start)])


def test_unit_follows_a_later_zoom_in_a_notebook(bulk):
    fig = bulk.packets.pcapan.time_sequence(0)
    ax = fig.axes[0]
    ax.set_xlim(0, 0.03)
    ax.set_ylim(0, 80_000)
    assert ax.get_xlabel().endswith("(ms)") and ax.get_ylabel().endswith("(KiB)")
    assert tick_labels(fig, "x")[:3] == ["0", "5", "10"]


# --- zooms -----------------------------------------------------------------------------

def test_time_zoom_sets_the_x_limits_and_fits_y(crafted):
    fig = time_sequence_figure(crafted.packets, 0, time=(0.010, 0.030))
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.010, 0.030)
    # in view: segments up to 3001 and ACKs of 1 (carried in from the SYN-ACK) to 3001
    low, high = ax.get_ylim()
    assert low < 1 and 3001 < high < 3200
    # the edge in view: 1001 + 64240 bytes (63.7 KiB) before the window closed
    assert legend_labels(fig) == [DATA_LABEL, "fast retransmission", ACK_LABEL,
                                  "window edge not drawn (reaches 63.7 KiB)", ZERO_WINDOW_LABEL]
    assert ax.get_xlabel().endswith("(ms)")


def test_seq_zoom_sets_the_y_limits_and_fits_time(crafted):
    fig = time_sequence_figure(crafted.packets, 0, seq=(2000, 3500))
    ax = fig.axes[0]
    assert ax.get_ylim() == (2000, 3500)
    # bytes 2000-3500 were sent from 12 ms (the lost segment's last byte) to 529 ms (the timeout resend)
    low, high = ax.get_xlim()
    span = 0.529 - 0.012
    assert low == pytest.approx(0.012 - 0.03 * span, abs=1e-6)  # a margin of 3% on the open sides
    assert high == pytest.approx(0.529 + 0.03 * span, abs=1e-6)
    assert ax.get_ylabel().endswith("(KiB)")
    assert tick_labels(fig, "y")[:2] == ["2.0", "2.2"]
    narrow = time_sequence_figure(crafted.packets, 0, seq=(2000, 2900))
    assert narrow.axes[0].get_ylabel().endswith("(B)")
    assert tick_labels(narrow, "y")[:2] == ["2,000", "2,100"]


def test_open_ended_zooms(bulk):
    duration = bulk.packets.pcapan.stream(0)["time_rel_s"].agg(lambda t: t.iloc[-1] - t.iloc[0])
    fig = time_sequence_figure(bulk.packets, 0, time="1.5:", seq=":1300000")
    low, high = fig.axes[0].get_xlim()
    # the right end fits the last data at or below 1,300,000, sent well before the stream ends
    s = bulk.packets.pcapan.stream(0)
    sent = s[s["from_client"] & (s["payload_len"] > 0) & (s["rel_seq"] <= 1_300_000)]
    last = sent["time_rel_s"].max() - s["time_rel_s"].iloc[0]
    assert low == 1.5 and last < high < duration
    assert fig.axes[0].get_ylim()[1] == 1_300_000


def test_zoom_with_the_accessor(bulk):
    fig = bulk.packets.pcapan.time_sequence(0, time=(0, 0.05), seq=(0, 100_000), window=False)
    assert fig.axes[0].get_xlim() == (0, 0.05) and fig.axes[0].get_ylim() == (0, 100_000)
    assert WINDOW_LABEL not in lines(fig)
    # only what lies in view is drawn and named
    data = lines(fig)[DATA_LABEL]
    assert data.get_xdata().max() <= 0.05 and data.get_ydata().min() >= 0


@pytest.mark.parametrize("text, expected", [("0.2:1.5", (0.2, 1.5)), (":1.5", (None, 1.5)), ("2e3:", (2000, None)),
                                            (":", (None, None)), (" 1 : 2 ", (1, 2))])
def test_parse_range(text, expected):
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["1", "a:2", "2:1", "1:1", "nan:", ":inf", "1:2:3"])
def test_parse_range_refuses(text):
    with pytest.raises(PlotError):
        parse_range(text)


def test_a_zoom_that_shows_nothing_is_an_error(crafted):
    with pytest.raises(PlotError, match="shows nothing of TCP stream 0"):
        time_sequence_figure(crafted.packets, 0, time=(5, 6))
    with pytest.raises(PlotError, match="shows nothing of TCP stream 0"):
        time_sequence_figure(crafted.packets, 0, seq=(10_000, None))


# --- files and the command line ---------------------------------------------------------

def test_save_writes_png_and_svg(bulk, tmp_path):
    save_time_sequence(bulk.packets, 1, tmp_path / "s.png")
    save_time_sequence(bulk.packets, 1, tmp_path / "s.svg", time=(0, 0.5))
    png = (tmp_path / "s.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert struct.unpack(">II", png[16:24]) == (1500, 840)  # 10 x 5.6 in at 150 dpi
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


def test_cli_plot_stream_zoom_and_window_options(tmp_path):
    out = tmp_path / "seq.svg"
    result = runner.invoke(app, ["plot", str(BULK), "--stream", "1", "--time", "0.2:0.4", "--seq", "100000:",
                                 "--no-window", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert b"<svg" in out.read_bytes()[:1000]
    assert result.output == ""


@pytest.mark.parametrize("args, message", [
    (["--time", "x:1"], "pcapan: --time: 'x' in 'x:1' is not a number"),
    (["--time", "1:0"], "pcapan: --time: the range '1:0' is empty: its start must be before its end"),
    (["--seq", "100"], "pcapan: --seq: '100' is not a range START:END (either side may be empty)"),
    (["--time", "5:6"], "the zoom to time 5:6 s shows nothing of TCP stream 0 (it lasts 1.71 s; its data "
                        "spans relative bytes 1:1500001)"),
    (["--seq", "2e6:"], "the zoom to sequence 2000000: shows nothing of TCP stream 0"),
])
def test_cli_plot_bad_zoom_is_one_line_exit_2(tmp_path, args, message):
    out = tmp_path / "x.png"
    result = runner.invoke(app, ["plot", str(BULK), "-o", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_plot_bad_stream_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["plot", str(BULK), "--stream", "9", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    assert "no TCP stream 9 (TCP streams: 0-1)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_stream_without_data_is_one_line_exit_2(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(FIN | ACK, 1, 1)
    c.s(FIN | ACK, 1, 2)
    c.c(ACK, 2, 2)
    capture = c.write(tmp_path / "empty.pcap")
    out = tmp_path / "x.png"
    chosen = runner.invoke(app, ["plot", capture, "-o", str(out)])
    assert chosen.exit_code == 2, chosen.output
    assert chosen.output.strip() == f"pcapan: {capture}: no TCP stream carries data to plot"
    given = runner.invoke(app, ["plot", str(SAMPLES / "reset.pcap"), "-s", "0", "-o", str(out)])
    assert given.exit_code == 2, given.output
    assert given.output.strip().endswith("TCP stream 0 carries no data (no segment with a payload): nothing to plot")
    graded = runner.invoke(app, ["check", capture, "--plot", str(out), "-q"])
    assert graded.exit_code == 2 and "carries no data" in graded.output
    assert not out.exists()


def test_cli_plot_without_tcp_and_over_the_input(tmp_path):
    no_tcp = runner.invoke(app, ["plot", str(SAMPLES / "crafted" / "unknown_linktype.pcap"),
                                 "-o", str(tmp_path / "x.png")])
    assert no_tcp.exit_code == 2 and "no TCP stream to plot" in no_tcp.output
    capture = tmp_path / "cap.pcap"
    shutil.copyfile(BULK, capture)
    over = runner.invoke(app, ["plot", str(capture), "-o", str(capture)])
    assert over.exit_code == 2 and "refusing to write over the input capture" in over.output
    assert capture.read_bytes() == BULK.read_bytes()
