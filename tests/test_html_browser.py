"""The HTML pages in a real browser: headless Chromium (Debian's ``chromium``) driven by playwright.

Every page loads with no console error and no request beyond the page itself (every request is
routed and refused); the ladder has one arrow per frame it shows, in order and in the direction
the frame went; clicking a stream's row shows its diagram; the label filter filters; markup in a
capture's comments and interface names runs nothing and reads as text; a rubric's evidence frame
links to its arrow.  Skipped, with the reason, without playwright or Chromium.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES
from test_html import HOSTILE, client_ports, hostile_capture, recorded

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed "
                                                             "(pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    from pcap_analyzer.cli import app

    d = tmp_path_factory.mktemp("pages")
    runner = CliRunner()
    made = {}
    for name, args in {
        "report": ["report", str(SAMPLES / "bulk_loss.pcap")],
        "http": ["report", str(SAMPLES / "http_like.pcap")],
        "check": ["check", str(SAMPLES / "lab_upload.pcapng")],
        "hostile": ["report", str(hostile_capture(d / "hostile.pcapng"))],
        "streams": ["streams", str(SAMPLES / "dumpcap.pcapng")],
    }.items():
        out = d / f"{name}.html"
        result = runner.invoke(app, [*args, "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        made[name] = out
    return made


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Opened:
    """A page opened with every request but the page's own refused and recorded, and its console."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.url = path.as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.route("**/*", self._route)
        self.page.goto(self.url)
        self.page.wait_for_load_state("load")

    def _route(self, route) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            self.requests.append(route.request.url)
            route.abort()

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def opened(browser):
    made = []

    def open_(path: Path) -> Opened:
        o = Opened(browser, path)
        made.append(o)
        return o
    yield open_
    for o in made:
        o.close()


@pytest.mark.parametrize("name", ["report", "http", "check", "hostile", "streams"])
def test_a_page_loads_with_no_error_and_no_request(pages, opened, name):
    o = opened(pages[name])
    o.page.wait_for_timeout(200)
    assert o.errors == [] and o.requests == [] and o.dialogs == []
    assert o.page.locator("svg.ladder").first.is_visible()
    graph = o.page.locator("img.tsg").first           # loaded lazily, when scrolled to
    graph.scroll_into_view_if_needed()
    assert graph.evaluate("i => i.decode().then(() => i.naturalWidth)") > 0
    assert o.errors == [] and o.requests == []


def arrows(o: Opened, stream: int) -> list[dict]:
    return o.page.eval_on_selector_all(
        f'article[data-stream="{stream}"] g.arrow',
        """gs => gs.map(g => {
             const l = g.querySelector('line.shaft'), box = g.getBoundingClientRect();
             return {frame: +g.dataset.frame, from: g.dataset.from,
                     x1: +l.getAttribute('x1'), x2: +l.getAttribute('x2'),
                     y: +g.querySelector('text.time-text').getAttribute('y'),
                     text: g.querySelector('text.arrow-text').textContent, height: box.height};
           })""")


@pytest.mark.parametrize("capture, name, stream", [("http_like.pcap", "http", 0), ("bulk_loss.pcap", "report", 0),
                                                   ("lab_upload.pcapng", "check", 1)])
def test_one_arrow_per_frame_in_order_and_direction(pages, opened, capture, name, stream):
    from test_html import numbers

    o = opened(pages[name])
    drawn = arrows(o, stream)
    fields = recorded(capture)
    elided = o.page.eval_on_selector_all(f'article[data-stream="{stream}"] .elided-text',
                                         "ts => ts.map(t => t.textContent)")
    hidden = sum(int(t.split()[1].replace(",", "")) for t in elided)
    assert len(drawn) + hidden == int((fields["tcp.stream"] == str(stream)).sum())
    assert len({a["frame"] for a in drawn}) == len(drawn)
    assert [a["frame"] for a in drawn] == sorted(a["frame"] for a in drawn)
    assert [a["y"] for a in drawn] == sorted(a["y"] for a in drawn)     # time runs down
    direction = client_ports(SAMPLES / capture)
    for a in drawn:
        assert (a["from"] == "client") == direction[a["frame"]]
        assert (a["x1"] < a["x2"]) == direction[a["frame"]]             # client on the left
        assert numbers(a["text"])["seq"] == int(fields.loc[a["frame"], "tcp.seq"])
    assert [a["text"].split()[0] for a in drawn[:3]] == ["SYN", "SYN,ACK", "ACK"]


def test_clicking_a_stream_shows_its_diagram(pages, opened):
    o = opened(pages["report"])
    first, second = o.page.locator('article[data-stream="0"]'), o.page.locator('article[data-stream="1"]')
    assert first.is_visible() and not second.is_visible()
    o.page.locator('#streams-table tr.has-diagram[data-stream="1"]').click()
    assert second.is_visible() and not first.is_visible()
    assert second.locator("g.arrow").first.is_visible()
    assert o.page.locator("#stream-select").input_value() == "1"
    o.page.select_option("#stream-select", "0")
    assert first.is_visible() and not second.is_visible()


def test_the_label_filter_filters(pages, opened):
    o = opened(pages["report"])
    fields = recorded("bulk_loss.pcap")
    in_stream = fields[fields["tcp.stream"] == "0"]
    for label, field in (("retransmission", "tcp.analysis.retransmission"),
                         ("duplicate_ack", "tcp.analysis.duplicate_ack")):
        want = sorted(in_stream.index[in_stream[field] != ""].tolist())
        o.page.select_option('select.label-filter[data-table="frames-0"]', label)
        shown = o.page.eval_on_selector_all("#frames-0 tbody tr", "rs => rs.filter(r => !r.hidden).map(r => "
                                            "+r.children[0].textContent)")
        assert shown == want and want
    o.page.select_option('select.label-filter[data-table="frames-0"]', "")
    assert o.page.eval_on_selector_all("#frames-0 tbody tr", "rs => rs.filter(r => r.hidden).length") == 0


def test_a_hostile_capture_runs_nothing_and_reads_as_text(pages, opened):
    o = opened(pages["hostile"])
    o.page.locator("g.arrow").first.click()
    assert o.page.evaluate("typeof window.__pwned") == "undefined"
    assert o.errors == [] and o.dialogs == [] and o.requests == []
    text = o.page.locator("main").inner_text()
    for markup in HOSTILE:
        assert markup in text
    assert o.page.locator("main img").count() == o.page.locator("img.tsg").count()
    assert o.page.locator("main script").count() == 0


def test_an_arrow_and_an_evidence_frame_show_the_frame(pages, opened):
    o = opened(pages["check"])
    o.page.locator('#rubric-table a.frame-link[data-frame="22"]').first.click()
    assert o.page.locator('g.arrow[data-frame="22"]').get_attribute("class") == "arrow selected"
    detail = o.page.locator("article.stream .detail").inner_text()
    assert "Frame 22" in detail and "Server accepts: SYN-ACK" in detail
    o.page.locator('g.arrow[data-frame="23"]').click()
    assert "Frame 23" in o.page.locator("article.stream .detail").inner_text()


def test_headings_sort_the_streams_table(pages, opened):
    o = opened(pages["streams"])
    o.page.locator("#streams-table th", has_text="duration s").click()
    column = o.page.eval_on_selector_all("#streams-table thead th", "hs => hs.map(h => h.textContent)") \
        .index("duration s")
    values = o.page.eval_on_selector_all(
        "#streams-table tbody tr", f"rs => rs.map(r => parseFloat(r.children[{column}].textContent))")
    assert values == sorted(values) and len(values) > 2
    o.page.locator("#streams-table th", has_text="duration s").click()
    values = o.page.eval_on_selector_all(
        "#streams-table tbody tr", f"rs => rs.map(r => parseFloat(r.children[{column}].textContent))")
    assert values == sorted(values, reverse=True)


def test_a_long_streams_table_shows_its_first_rows_until_asked(tmp_path, opened, monkeypatch):
    from pcap_analyzer.cli import app
    from pcap_analyzer.report import html

    monkeypatch.setattr(html, "STREAM_ROWS_SHOWN", 1)
    monkeypatch.setattr(html, "MAX_DIAGRAMS", 1)
    out = tmp_path / "long.html"
    result = CliRunner().invoke(app, ["report", str(SAMPLES / "dumpcap.pcapng"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    o = opened(out)
    rows = o.page.locator("#streams-table tbody tr")
    total = rows.count()
    visible = o.page.eval_on_selector_all("#streams-table tbody tr", "rs => rs.filter(r => !r.hidden).length")
    drawn = o.page.locator("#streams-table tr.has-diagram")
    assert total > 3 and drawn.count() == 1 and drawn.is_visible()
    assert visible == 1 + (0 if o.page.locator("#streams-table tbody tr").first.get_attribute("class") else 1)
    o.page.get_by_role("button", name=f"Show all {total} rows").click()
    assert o.page.eval_on_selector_all("#streams-table tbody tr", "rs => rs.filter(r => r.hidden).length") == 0
    assert o.errors == [] and o.requests == []


@pytest.mark.parametrize("capture", ["crafted/tcp_analysis.pcap", "crafted/seq_wrap.pcap",
                                     "crafted/no_syn_midstream.pcap", "crafted/rejected.pcap", "crafted/syn_only.pcap", "port_reuse.pcap",
                                     "crafted/multi_if.pcapng", "zero_window.pcap", "reset.pcap"])
def test_crafted_and_recorded_captures_draw_every_stream(tmp_path, opened, capture):
    """Each TCP stream of a small capture has its diagram: every frame of it an arrow or counted in an
    elided stretch (tshark's stream numbers), seq as tshark gives it."""
    from pcap_analyzer.cli import app
    from test_html import numbers

    out = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["report", str(SAMPLES / capture), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    o = opened(out)
    fields = recorded(capture)
    streams = sorted({int(s) for s in fields["tcp.stream"] if s != ""})
    assert streams
    for stream in streams:
        o.page.select_option("#stream-select", str(stream))
        assert o.page.locator(f'article[data-stream="{stream}"] svg.ladder').is_visible()
        drawn = arrows(o, stream)
        elided = o.page.eval_on_selector_all(f'article[data-stream="{stream}"] .elided-text',
                                             "ts => ts.map(t => t.textContent)")
        hidden = sum(int(t.split()[1].replace(",", "")) for t in elided)
        assert len(drawn) + hidden == int((fields["tcp.stream"] == str(stream)).sum())
        for a in drawn:
            assert numbers(a["text"])["seq"] == int(fields.loc[a["frame"], "tcp.seq"])
    assert o.errors == [] and o.requests == []
