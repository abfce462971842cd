"""The HTML pages and the ladder diagram, without a browser: the frames a ladder draws and its numbers
(tshark's, recorded and live), escaping of everything a capture carries, the page's Content-Security-
Policy, the commands that write pages and ladder figures, and a big capture's bounded page.
(tests/test_html_browser.py opens the pages in Chromium.)"""
from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest
from typer.testing import CliRunner

from builder import ACK, FIN, PSH, SYN, Conversation, epb, idb, shb
from conftest import ROOT, SAMPLES, needs_tshark
from pcap_analyzer import analyze
from pcap_analyzer.cli import app
from pcap_analyzer.ladder import LadderError, ladder, parse_frames
from pcap_analyzer.tshark import load_record
from pcap_analyzer.vocabulary import DEFAULT_WIRESHARK

# the pages follow the default Wireshark release's labels: that release's recorded fields
ORACLE = ROOT / "tests" / "oracle" / f"tshark-{DEFAULT_WIRESHARK}"
HOSTILE = ("</style><script>window.__pwned = 1</script>", '<img src=x onerror="window.__pwned = 2">',
           "<script>window.__pwned = 3</script>", "=HYPERLINK(\"http://example.com\")")


# --- captures ------------------------------------------------------------------------------

def transfer(retransmit_at: int | None = 20, segments: int = 40, rtt: float = 0.010) -> Conversation:
    """Handshake, *segments* client segments of 100 bytes each ACKed, the one numbered *retransmit_at*
    unanswered and sent again 300 ms later, then FIN both ways."""
    c = Conversation()
    c.c(SYN, 0, 0, after=0)
    c.s(SYN | ACK, 0, 1, after=rtt)          # captured at the client: the SYN-ACK a round trip later
    c.c(ACK, 1, 1, after=0.0001)
    seq = 1
    for k in range(segments):
        c.c(PSH | ACK, seq, 1, data=100)
        if k == retransmit_at:
            c.c(PSH | ACK, seq, 1, data=100, after=0.3)
        c.s(ACK, 1, seq + 100, after=rtt)
        seq += 100
    c.c(FIN | ACK, seq, 1)
    c.s(FIN | ACK, 1, seq + 1, after=rtt)
    c.c(ACK, seq + 1, 2)
    return c


def hostile_capture(path: Path) -> Path:
    """A pcapng whose section comment, interface name and description and packet comments are markup."""
    c = Conversation()
    c.handshake()
    c.c(PSH | ACK, 1, 1, data=50)
    c.s(ACK, 1, 51)
    c.c(FIN | ACK, 51, 1)
    c.s(FIN | ACK, 1, 52)
    c.c(ACK, 52, 2)
    blocks = [shb(opts=[(1, HOSTILE[0])]), idb(opts=[(2, HOSTILE[1]), (3, HOSTILE[2])])]
    for k, (ts, data) in enumerate(c.frames):
        blocks.append(epb(0, int(round(ts * 1e6)), data, opts=[(1, HOSTILE[k % len(HOSTILE)])]))
    path.write_bytes(b"".join(blocks))
    return path


def client_ports(capture: Path) -> dict[int, bool]:
    """frame number -> sent by its connection's client (the side that sent the connection's first SYN),
    read with dpkt."""
    out, clients = {}, {}
    with open(capture, "rb") as f:
        reader = dpkt.pcapng.Reader(f) if capture.suffix == ".pcapng" else dpkt.pcap.Reader(f)
        for n, (_ts, buf) in enumerate(reader, start=1):
            eth = dpkt.ethernet.Ethernet(buf)
            tcp = getattr(eth.data, "data", None)
            if not isinstance(tcp, dpkt.tcp.TCP):
                continue
            me, peer = (bytes(eth.data.src), tcp.sport), (bytes(eth.data.dst), tcp.dport)
            key = frozenset((me, peer))
            if tcp.flags & SYN and not tcp.flags & ACK:
                clients.setdefault(key, me)
            out[n] = clients.get(key) == me
    return out


def recorded(capture: str):
    """The default release's tshark fields for a sample capture, indexed by frame number."""
    f = load_record(ORACLE / (capture.replace("/", "__") + ".tsv")).fields
    return f.set_index(f["frame.number"].astype(int))


NUMBERS = re.compile(r"(seq|ack|len)=(\d+)")


def numbers(text: str) -> dict:
    return {k: int(v) for k, v in NUMBERS.findall(text)}


# --- the ladder ---------------------------------------------------------------------------------

@pytest.mark.parametrize("capture, stream", [("http_like.pcap", 0), ("bulk_loss.pcap", 0), ("bulk_loss.pcap", 1),
                                             ("lab_upload.pcapng", 1), ("zero_window.pcap", 0)])
def test_every_arrow_carries_tsharks_relative_numbers(capture, stream):
    a = analyze(SAMPLES / capture)
    lad = ladder(a.packets, stream)
    fields = recorded(capture)
    in_stream = fields[fields["tcp.stream"] == str(stream)]
    # every frame of the stream is drawn or counted in an elided stretch
    assert len(lad.arrows) + sum(e.count for e in lad.elisions) == len(in_stream)
    assert [a.frame for a in lad.arrows] == sorted(a.frame for a in lad.arrows)
    for arrow in lad.arrows:
        row = fields.loc[arrow.frame]
        assert row["tcp.stream"] == str(stream)
        shown = numbers(arrow.text)
        assert shown["seq"] == int(row["tcp.seq"]), arrow
        assert shown.get("len", 0) == int(row["tcp.len"]), arrow
        if "ack" in shown:
            assert shown["ack"] == int(row["tcp.ack"]), arrow
    # the handshake first, as Wireshark's Flow Graph shows it: SYN seq=0; SYN,ACK seq=0 ack=1; ACK seq=1 ack=1
    assert [a.text.split()[0] for a in lad.arrows[:3]] == ["SYN", "SYN,ACK", "ACK"]
    assert [numbers(a.text) for a in lad.arrows[:3]] == [{"seq": 0}, {"seq": 0, "ack": 1}, {"seq": 1, "ack": 1}]
    directions = client_ports(SAMPLES / capture)
    assert all(a.from_client == directions[a.frame] for a in lad.arrows)


@needs_tshark
def test_the_handshake_ladder_is_tsharks_flow():
    capture = SAMPLES / "http_like.pcap"
    out = subprocess.run(["tshark", "-r", str(capture), "-Y", "tcp.stream == 0", "-T", "fields", "-e",
                          "frame.number", "-e", "tcp.seq", "-e", "tcp.ack", "-e", "tcp.len", "-e",
                          "tcp.flags.str"], capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()[:3]]
    lad = ladder(analyze(capture).packets, 0)
    for (frame, seq, ack, length, flags), arrow in zip(rows, lad.arrows[:3]):
        assert arrow.frame == int(frame)
        shown = numbers(arrow.text)
        assert shown["seq"] == int(seq) and shown.get("len", 0) == int(length)
        assert ("ack" in shown) == ("A" in flags.replace("\u00b7", ""))
        if "ack" in shown:
            assert shown["ack"] == int(ack)


def flow_graph(capture: Path) -> list[dict]:
    """tshark's text rendering of Wireshark's Flow Graph (``-z flow,tcp,network``): one entry per frame
    with its time, flags, length, comment numbers, ports and direction (left to right or not)."""
    out = subprocess.run(["tshark", "-r", str(capture), "-q", "-z", "flow,tcp,network"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    entries = []
    for first, second in zip(out, out[1:]):
        head = re.match(r"(?:\d+\s*)?\|(\d+\.\d+)\s*\|\s*(.*?)\s*\|(?:.*\|)?(Seq = .*)$", first)
        arrow = re.search(r"\((\d+)\)\s*(<?-+>?)\s*\((\d+)\)", second)
        if not head or not arrow:
            continue
        # "PSH, ACK - Len: 94"; a long one is cut at the column's edge ("FIN, PSH, ACK - Len:")
        parts = re.match(r"(.*?)(?:\s*-\s*Len:\s*(\d+)?.*)?$", head.group(2).split("|")[0])
        cut = "Len:" in head.group(2) and parts.group(2) is None
        entries.append({"time": head.group(1), "flags": parts.group(1).replace(" ", ""),
                        "len": None if cut else int(parts.group(2) or 0),
                        "numbers": {k.lower(): int(v) for k, v in re.findall(r"(Seq|Ack) = (\d+)", head.group(3))},
                        "ports": {int(arrow.group(1)), int(arrow.group(3))},
                        "rightwards": arrow.group(2).endswith(">")})
    return entries


@needs_tshark
@pytest.mark.parametrize("capture, stream", [("http_like.pcap", 0), ("bulk_loss.pcap", 1)])
def test_the_arrows_are_wiresharks_flow_graph(capture, stream):
    """Same frames, flags, relative numbers and directions as Wireshark's Flow Graph (tshark's text of
    it, whose left column is the first address seen: the client here)."""
    a = analyze(SAMPLES / capture)
    lad = ladder(a.packets, stream)
    row = a.streams[(a.streams["proto"] == "tcp") & (a.streams["stream"] == stream)].iloc[0]
    ports = {int(row["client_port"]), int(row["server_port"])}
    flow = [e for e in flow_graph(SAMPLES / capture) if e["ports"] == ports]
    by_time = {e["time"]: e for e in flow}
    assert len(flow) == len(by_time) == int(row["client_packets"] + row["server_packets"])
    first = lad.arrows[:8]
    assert [a.frame for a in first] == sorted(a.packets[(a.packets["stream"] == stream)
                                                        & (a.packets["proto"] == "tcp")]["frame"])[:8]
    for arrow in lad.arrows:          # and every other arrow drawn
        e = by_time[f"{arrow.time_s:.6f}"]
        flags, shown = arrow.text.split()[0], numbers(arrow.text)
        assert flags == e["flags"]
        assert {k: v for k, v in shown.items() if k != "len"} == e["numbers"]
        assert shown.get("len", 0) == e["len"] or e["len"] is None
        assert arrow.from_client == e["rightwards"]


def test_the_ladder_shows_the_start_the_resend_with_context_and_the_teardown(tmp_path):
    cap = transfer(retransmit_at=20).write(tmp_path / "t.pcap")
    a = analyze(cap)
    lad = ladder(a.packets, 0)
    resend = 3 + 2 * 20 + 2          # handshake, 20 segments with their ACKs, the 21st, its resend
    assert "retransmission" in a.packets.set_index("frame").loc[resend, "labels"]
    frames = [x.frame for x in lad.arrows]
    assert frames[:8] == list(range(1, 9))
    assert set(range(resend - 2, resend + 3)) <= set(frames)
    total = len(a.packets)
    assert set(range(total - 2, total + 1)) <= set(frames)       # FIN, FIN, ACK
    assert next(x for x in lad.arrows if x.frame == resend).labels == ("retransmission",)
    assert len(lad.elisions) == 2
    assert len(frames) + sum(e.count for e in lad.elisions) == total
    assert [name for name, _, _ in lad.phases] == ["three-way handshake", "teardown"]


def test_arrows_slant_by_half_the_handshake_round_trip(tmp_path):
    a = analyze(transfer(rtt=0.010).write(tmp_path / "t.pcap"))
    lad = ladder(a.packets, 0)
    assert lad.captured_near == "client"
    assert lad.one_way_s == pytest.approx(0.005, rel=1e-6)
    syn, syn_ack = lad.arrows[0], lad.arrows[1]
    assert syn.arrive_y > syn.send_y and syn_ack.arrive_y > syn_ack.send_y
    assert syn.send_y == syn.captured_y and syn_ack.arrive_y == syn_ack.captured_y   # seen at the client
    # without a handshake nothing says the one-way delay: level arrows
    mid = ladder(analyze(SAMPLES / "crafted" / "no_syn_midstream.pcap").packets, 0)
    assert mid.one_way_s is None and all(x.send_y == x.arrive_y for x in mid.arrows)


def test_frames_choose_a_range_and_bad_ranges_are_errors(tmp_path):
    a = analyze(transfer().write(tmp_path / "t.pcap"))
    lad = ladder(a.packets, 0, frames="10:14")
    assert [x.frame for x in lad.arrows] == [10, 11, 12, 13, 14]
    assert parse_frames(":5") == (None, 5)
    for bad in ("5", "a:b", "9:3"):
        with pytest.raises(LadderError):
            parse_frames(bad)
    with pytest.raises(LadderError, match="no TCP stream 7"):
        ladder(a.packets, 7)
    with pytest.raises(LadderError, match="no frame in the range"):
        ladder(a.packets, 0, frames="5000:")


def test_a_notebook_shows_the_ladder_inline():
    p = analyze(SAMPLES / "http_like.pcap").packets
    d = p.pcapan.ladder(0)
    assert d.frames[:3] == [3, 4, 5]
    svg = d._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    from IPython.core.formatters import DisplayFormatter

    shown, _ = DisplayFormatter().format(d)      # what Jupyter puts in the cell's output
    assert "<svg" in shown["image/svg+xml"]


# --- the pages ----------------------------------------------------------------------------------

runner = CliRunner()


def page(tmp_path, *args) -> str:
    out = tmp_path / "page.html"
    result = runner.invoke(app, [*args, "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def inline(html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)


def test_the_policy_allows_no_network_and_only_the_pages_own_code(tmp_path):
    html = page(tmp_path, "report", str(SAMPLES / "http_like.pcap"))
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src &#x27;none&#x27;" in policy
    styles, scripts = inline(html, "style"), inline(html, "script")
    assert len(styles) == 1 and len(scripts) == 1
    for kind, body in (("style-src", styles[0]), ("script-src", scripts[0])):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{kind} &#x27;sha256-{digest}&#x27;" in policy
    assert "img-src data:" in policy
    assert not re.search(r"\s(src|href)=\"(https?:)?//", html)     # nothing to fetch
    assert ' style="' not in html                                     # would be refused by the policy


def test_markup_in_a_capture_is_text(tmp_path):
    cap = hostile_capture(tmp_path / 'x"<b>.pcapng')
    html = page(tmp_path, "report", str(cap))
    assert html.count("<script>") == 1 and html.count("</style>") == 1
    assert "<img src=x" not in html and 'onerror="' not in html
    for text in HOSTILE[:3]:
        assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in html
    assert "x&quot;&lt;b&gt;.pcapng" in html


def test_report_streams_and_check_write_pages(tmp_path):
    for args in (["report", str(SAMPLES / "bulk_loss.pcap")], ["streams", str(SAMPLES / "bulk_loss.pcap")],
                 ["check", str(SAMPLES / "lab_upload.pcapng")]):
        html = page(tmp_path, *args)
        assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
        assert html.count('<g class="arrow"') > 0
    result = runner.invoke(app, ["report", str(SAMPLES / "http_like.pcap"), "--format", "html"])
    assert result.exit_code == 0 and result.stdout.startswith("<!DOCTYPE html>")
    piped = subprocess.run([sys.executable, "-m", "pcap_analyzer", "report", "-", "--format", "html", "-q"],
                           input=(SAMPLES / "http_like.pcap").read_bytes(), capture_output=True, timeout=120,
                           cwd=ROOT)
    assert piped.returncode == 0, piped.stderr
    assert b'pcapan report <span class="file">standard input</span>' in piped.stdout
    assert piped.stdout.count(b'<g class="arrow"') == 13
    check = page(tmp_path, "check", str(SAMPLES / "lab_upload.pcapng"))
    assert 'class="frame-link" href="#f1-21"' in check        # the rubric's evidence links to the frames
    assert 'id="f1-21"' in check and '<g class="arrow" data-frame="21"' in check


@pytest.mark.parametrize("args, message", [
    (["packets", "sample_captures/http_like.pcap", "-f", "html"], "html is written by check, report and streams"),
    (["report", "sample_captures/http_like.pcap", "--stream", "9", "-o", "x.html"], "no TCP stream 9"),
    (["report", "sample_captures/http_like.pcap", "-l", "retransmission", "-o", "x.html"], "--label"),
    (["plot", "sample_captures/http_like.pcap", "--frames", "1:3", "-o", "x.png"], "--kind ladder"),
    (["plot", "sample_captures/http_like.pcap", "--kind", "ladder", "--frames", "x", "-o", "x.png"], "--frames"),
    (["plot", "sample_captures/http_like.pcap", "--kind", "ladder", "-s", "4", "-o", "x.png"], "no TCP stream 4"),
])
def test_what_cannot_be_made_is_a_one_line_error(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_kind_ladder_writes_a_figure(tmp_path, suffix, magic):
    out = tmp_path / ("ladder" + suffix)
    result = runner.invoke(app, ["plot", str(SAMPLES / "bulk_loss.pcap"), "--kind", "ladder", "-s", "1",
                                 "--frames", "576:640", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)


def test_a_big_capture_gets_a_bounded_page_that_says_what_it_left_out(tmp_path, monkeypatch):
    from pcap_analyzer.report import html as pages

    monkeypatch.setattr(pages, "MAX_DIAGRAMS", 1)
    monkeypatch.setattr(pages, "SMALL_CAPTURE_FRAMES", 0)
    monkeypatch.setattr(pages, "MAX_TABLE_ROWS", 300)
    html = pages.report_page(SAMPLES / "bulk_loss.pcap").html.decode()
    # the most eventful stream is drawn, every stream has its row
    streams = analyze(SAMPLES / "bulk_loss.pcap").streams
    counted = [c for c in streams.columns if c.startswith(("client_", "server_")) and c.endswith(
        ("retransmission", "duplicate_ack", "lost_segment", "out_of_order", "window_update"))]
    busiest = int(streams.loc[streams[counted].sum(axis=1).idxmax(), "stream"])
    assert re.findall(r'<article class="stream" id="stream-(\d+)"', html) == [str(busiest)]
    assert html.count('<tr class="has-diagram"') == 1
    assert "draws 1 of the capture&#x27;s 2 TCP streams" in html and "--stream N -o page.html" in html
    assert f"pcapan packets {SAMPLES / 'bulk_loss.pcap'} --stream {busiest} lists all" in html


def test_check_page_grades_by_the_rubric_file(tmp_path):
    """--rubric applies to the page as to the terminal: the example asks for the teardown and names
    another server, so the lab's own capture is graded against that."""
    from typer.testing import CliRunner

    from pcap_analyzer.cli import app

    rubric = Path(__file__).resolve().parents[1] / "pcap_analyzer" / "rubrics" / "example.toml"
    out = tmp_path / "c.html"
    result = CliRunner().invoke(app, ["check", str(Path(__file__).resolve().parents[1] / "sample_captures"
                                                 / "lab_upload.pcapng"), "--rubric", str(rubric), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Wireshark Lab: TCP (alice.txt upload to gaia)" in page
    assert "labels</dt><dd>as Wireshark 4.6 shows them" in page
