"""Self-contained HTML pages: the report of a capture and the feedback of a graded lab submission.

One file holds everything -- styles, script, pictures -- and fetches
nothing: it can be mailed to a student or opened offline.  Its
Content-Security-Policy allows no network at all and only the page's own
inline style and script (by their SHA-256), so nothing a capture carries
can run even if it slipped past the escaping; and everything that comes
from a capture (comments, interface names and descriptions, the file name,
sentences) is escaped (:func:`.svg.esc`).

A page holds the capture facts, every stream's row (a sortable table), the
notable frames, and for the streams a reader is likely to open (all of a
small capture's TCP streams; the most eventful ones of a big capture, or
the one asked for with ``--stream``) a section each: the ladder diagram,
the time-sequence graph and the stream's frames with their sentences,
filterable by label.  What a page leaves out it says, with the command
that gives it.

:func:`report_page` and :func:`check_page` read a capture and return a
:class:`Page`; :func:`write_html` is what the command line calls.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from importlib import resources
from typing import Callable

import numpy as np
import pandas as pd

from ...ladder import LadderError, ladder, shown_labels
from ...vocabulary import MEANINGS, STREAM_COUNTED
from .svg import esc, ladder_svg, legend_svg

# A capture of at most this many frames shows every TCP stream's diagram (up to MAX_DIAGRAMS).
SMALL_CAPTURE_FRAMES = 50_000
# Streams drawn on a page: the most eventful ones.
MAX_DIAGRAMS = 12
# Rows of one stream's frame table: the frames drawn, the labelled ones, then the first ones.
MAX_TABLE_ROWS = 1_000
# Rows of the streams table shown at first (all are in the page; the rest on request).
STREAM_ROWS_SHOWN = 500

_FRAME_COLUMNS = (("frame", "frame"), ("time_rel_s", "time (s)"), ("dir", "direction"), ("flags", "flags"),
                  ("rel_seq", "seq"), ("rel_ack", "ack"), ("payload_len", "len"), ("window_size", "window"),
                  ("labels", "labels"), ("explain", "what the frame does"), ("comment", "comment"))
_NUMERIC = {"frame", "time_rel_s", "rel_seq", "rel_ack", "payload_len", "window_size"}


@dataclass
class Page:
    """A page made from a capture: its bytes, and the capture's facts (``info.warnings`` for the CLI)."""

    info: object
    html: bytes


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _document(title: str, heading: str, nav: list[tuple[str, str]], body: list[str]) -> bytes:
    css, js = _asset("page.css"), _asset("page.js")
    policy = (f"default-src 'none'; style-src {_hash(css)}; script-src {_hash(js)}; img-src data:; "
              "base-uri 'none'; form-action 'none'")
    links = "".join(f'<a href="#{anchor}">{esc(text)}</a>' for anchor, text in nav)
    page = ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title><style>{css}</style></head><body>",
            f"<header><h1>{heading}</h1><nav>{links}</nav></header><main>",
            *body, f"</main><script>{js}</script></body></html>\n"]
    return "".join(page).encode("utf-8")


# --- pieces -------------------------------------------------------------------------

def _cell_text(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else str(v)
    if isinstance(v, (list, tuple)):
        return "; ".join(map(str, v))
    return str(v)


def _facts(facts: dict) -> str:
    rows = "".join(f"<dt>{esc(str(k).replace('_', ' '))}</dt><dd>{esc(_cell_text(v))}</dd>"
                   for k, v in facts.items() if _cell_text(v) != "")
    return f'<dl class="facts">{rows}</dl>'


def _table(df: pd.DataFrame, table_id: str, sortable: bool = False, prose=(), row_attrs=None,
           cell_html: dict | None = None, page: int | None = None, always=frozenset()) -> str:
    """*df* as an HTML table; *row_attrs(i)* gives each row's attributes, *cell_html* columns whose
    cells are already markup (made with :func:`esc`).  With *page*, rows after the first *page* are
    hidden until the reader asks for them (a browser lays out tens of thousands of rows slowly), but for
    the rows numbered in *always*."""
    cols = list(df.columns)
    cell_html = cell_html or {}
    numeric = {c for c in cols if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    cls = ' class="sortable"' if sortable else ""
    paged = page is not None and len(df) > page
    if paged:
        cls += f' data-page="{page}"'
    lines = [f'<div class="table-wrap"><table id="{table_id}"{cls}><thead><tr>{head}</tr></thead><tbody>']
    columns = [df[c].tolist() for c in cols]
    for i, row in enumerate(zip(*columns)):
        attrs = row_attrs(i) if row_attrs else ""
        cells = []
        for c, v in zip(cols, row):
            kind = ' class="num"' if c in numeric else ' class="prose"' if c in prose else ""
            cells.append(f"<td{kind}>{cell_html[c][i] if c in cell_html else esc(_cell_text(v))}</td>")
        hide = paged and i >= page and i not in always
        lines.append(f"<tr{attrs}{' hidden' if hide else ''}>{''.join(cells)}</tr>")
    lines.append("</tbody></table></div>")
    if paged:
        lines.append(f'<p class="note"><span id="{table_id}-paging">The first {page:,} of {len(df):,} rows '
                     f'(in the order chosen by sorting){" and those with a diagram" if always else ""}.</span> '
                     f'<button type="button" class="show-all" '
                     f'data-table="{table_id}">Show all {len(df):,} rows</button></p>')
    return "".join(lines)


def _capture_facts(overview: dict, info) -> dict:
    """The report's capture facts, with what a pcapng file says about itself."""
    out = dict(overview)
    for k, section in enumerate(getattr(info, "sections", []) or []):
        for key, value in section.items():
            if value:
                name = "section comment" if key == "comments" else f"section {key}"
                out[f"{name} {k + 1}" if len(info.sections) > 1 else name] = value
    for i in getattr(info, "interfaces", []) or []:
        text = " - ".join(str(v) for v in (i.get("name"), i.get("description")) if v)
        if text or i.get("comments"):
            out[f"interface {i.get('interface')}"] = "; ".join([text] + list(i.get("comments") or []))
    return out


def _eventful(streams: pd.DataFrame) -> pd.Series:
    """How much a stream is worth a look: its labelled frames and bad checksums, then its frames."""
    score = pd.Series(0.0, index=streams.index)
    for label in STREAM_COUNTED:
        for who in ("client", "server"):
            col = f"{who}_{label}"
            if col in streams.columns:
                score += streams[col].fillna(0).astype(float)
    for col in ("client_bad_checksums", "server_bad_checksums"):
        if col in streams.columns:
            score += streams[col].fillna(0).astype(float)
    packets = streams["client_packets"].fillna(0).astype(float) + streams["server_packets"].fillna(0).astype(float)
    return score * 1e9 + packets


def _diagram_streams(streams: pd.DataFrame, stream: int | None, small: bool) -> list[int]:
    tcp = streams[streams["proto"].astype(str) == "tcp"] if len(streams) else streams
    if stream is not None:
        return [int(stream)] if (tcp["stream"] == stream).any() else []
    if tcp.empty:
        return []
    if small and len(tcp) <= MAX_DIAGRAMS:
        return sorted(int(s) for s in tcp["stream"])
    top = _eventful(tcp).sort_values(ascending=False, kind="stable").index[:MAX_DIAGRAMS]
    return sorted(int(s) for s in tcp.loc[top, "stream"])


def _streams_section(overview: pd.DataFrame, streams: pd.DataFrame, drawn: set) -> str:
    keys = list(zip(streams["proto"].astype(str), streams["stream"].astype("Int64")))

    def attrs(i: int) -> str:
        proto, n = keys[i]
        if proto == "tcp" and n is not pd.NA and int(n) in drawn:
            return f' class="has-diagram" data-stream="{int(n)}" title="show this stream\'s diagram"'
        return ""
    note = ("Click a column heading to sort. A stream named in blue has a diagram below: click its row to show it."
            if drawn else "Click a column heading to sort.")
    return (f'<section id="streams"><h2>Streams ({len(streams):,})</h2><p class="note">{esc(note)}</p>'
            + _table(overview, "streams-table", sortable=True, row_attrs=attrs, page=STREAM_ROWS_SHOWN,
                     always={i for i, (proto, n) in enumerate(keys) if proto == "tcp" and n is not pd.NA
                             and int(n) in drawn})
            + "</section>")


def _notable_section(notable) -> str:
    if notable is None or not len(notable):
        return '<section id="notable"><h2>Notable frames</h2><p>None: no frame carries an analysis label.</p></section>'
    return ('<section id="notable"><h2>Notable frames</h2><p class="note">Grouped by label, with an example '
            "frame and what it means.</p>" + _table(notable, "notable-table", prose=("meaning", "example"))
            + "</section>")


def _time_sequence(packets: pd.DataFrame, stream: int) -> str:
    """The stream's time-sequence graph (the figure ``pcapan plot`` draws) as an SVG image."""
    import matplotlib

    from ...plot import PlotError, time_sequence_image

    try:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "pcapan"}):
            image = time_sequence_image(packets, stream, "svg")
    except PlotError as exc:
        return f'<p class="note">No time-sequence graph: {esc(exc)}</p>'
    data = base64.b64encode(image).decode("ascii")
    alt = esc(f"time-sequence graph of TCP stream {stream}")
    return (f'<figure><img class="tsg" loading="lazy" decoding="async" alt="{alt}" '
            f'src="data:image/svg+xml;base64,{data}"><figcaption>Time-sequence graph: each data segment a '
            "vertical bar at the time it was captured, from its first to its last byte; the receiver's ACK "
            "the green steps, its window edge dashed.</figcaption></figure>")


def _frame_rows(p: pd.DataFrame, drawn: set, extra=()) -> tuple[pd.DataFrame, int]:
    """The rows of the stream's frame table: all of them, or the drawn, labelled and asked-for frames
    and then the first ones up to MAX_TABLE_ROWS; and how many were left out."""
    if len(p) <= MAX_TABLE_ROWS:
        return p, 0
    number = p["frame"].to_numpy(dtype=np.int64)
    labelled = np.array([bool(x) for x in shown_labels(p["labels"])], dtype=bool)
    keep = np.isin(number, np.array(sorted(drawn | set(extra)), dtype=np.int64))
    for mask in (labelled, np.ones(len(p), dtype=bool)):
        room = MAX_TABLE_ROWS - int(keep.sum())
        if room <= 0:
            break
        keep[np.flatnonzero(mask & ~keep)[:room]] = True
    return p[keep], len(p) - int(keep.sum())


def _stream_article(packets: pd.DataFrame, stream: int, capture_arg: str, include=(), shown: bool = False,
                    heading: str | None = None) -> str:
    """A stream's section: its ladder (drawing *include* too), time-sequence graph and frame table;
    *capture_arg* is the capture as the hints' commands name it."""
    p = packets[(packets["proto"].astype(str) == "tcp") & (packets["stream"] == stream)].reset_index(drop=True)
    hidden = "" if shown else " hidden"
    out = [f'<article class="stream" id="stream-{stream}" data-stream="{stream}"{hidden}>',
           f"<h3>{esc(heading or f'TCP stream {stream}')}</h3>"]
    if p.empty:
        return "".join(out) + '<p class="note">No frames of this stream were read.</p></article>'
    try:
        lad = ladder(p, stream, include=include)
    except LadderError as exc:
        return "".join(out) + f'<p class="note">{esc(exc)}</p></article>'
    drawn = {a.frame for a in lad.arrows}
    out.append('<div class="figures"><figure>')
    out.append(legend_svg(lad))
    out.append('<div class="detail" aria-live="polite">Point at or click an arrow: the frame\'s row and what it '
               "does appear here.</div>")
    out.append(f'<div class="ladder-box">{ladder_svg(lad)}</div>')
    caption = lad.caption
    if lad.left_out:
        caption += f" (pcapan plot {capture_arg} --kind ladder --stream {stream} --frames FIRST:LAST)"
    out.append(f"<figcaption>{esc(caption)}.</figcaption></figure>")
    out.append(_time_sequence(p, stream))
    out.append("</div>")
    rows, left = _frame_rows(p, drawn, include)
    out.append(_frames_table(rows, stream, left, len(p), capture_arg))
    out.append("</article>")
    return "".join(out)


def _frames_table(rows: pd.DataFrame, stream: int, left: int, total: int, capture_arg: str) -> str:
    table_id = f"frames-{stream}"
    every = [set(str(v).split(";")) if isinstance(v, str) and v else set()
             for v in rows["labels"].astype("string").fillna("").tolist()]
    counts: dict[str, int] = {}
    for s in every:
        for name in s:
            counts[name] = counts.get(name, 0) + 1
    options = ['<option value="">every frame</option>', '<option value="*">any label</option>']
    options += [f'<option value="{esc(name)}">{esc(name)} ({counts[name]})</option>'
                for name in MEANINGS if name in counts]
    view = pd.DataFrame({
        "frame": rows["frame"].astype("Int64"),
        "time (s)": rows["time_rel_s"].round(6),
        "direction": np.where(rows["from_client"].fillna(True).astype(bool), "client \u2192 server",
                              "server \u2192 client"),
        "flags": rows["flags"].astype("string").fillna(""),
        "seq": rows["rel_seq"].astype("Int64"),
        "ack": rows["rel_ack"].astype("Int64"),
        "len": rows["payload_len"].astype("Int64"),
        "window": rows["window_size"].astype("Int64"),
        "labels": rows["labels"].astype("string").fillna(""),
        "what the frame does": rows["explain"].astype("string").fillna("") if "explain" in rows.columns else "",
        "comment": rows["comment"].astype("string").fillna("") if "comment" in rows.columns else "",
    })
    frames = view["frame"].tolist()
    label_attr = [" ".join(sorted(s)) for s in every]

    def attrs(i: int) -> str:
        return f' id="f{stream}-{frames[i]}" data-labels="{esc(label_attr[i])}"'
    label_html = [" ".join(f'<span class="label">{esc(x)}</span>' for x in sorted(s)) for s in every]
    note = (f"All {total:,} frames of the stream." if not left else
            f"{len(rows):,} of the stream's {total:,} frames: those drawn, the labelled ones, then the first; "
            f"pcapan packets {capture_arg} --stream {stream} lists all {total:,}.")
    return (f'<h3>Frames of TCP stream {stream}</h3><div class="picker"><label>Show: <select class="label-filter" '
            f'data-table="{table_id}">{"".join(options)}</select></label><span id="{table_id}-count" '
            f'class="note">{len(rows):,} frames shown</span></div><p class="note">{esc(note)}</p>'
            + _table(view, table_id, prose=("what the frame does", "comment"), row_attrs=attrs,
                     cell_html={"labels": label_html}))


def _conversation_section(packets: pd.DataFrame, streams: list[int], capture_arg: str, total_tcp: int,
                          streams_table: pd.DataFrame) -> str:
    if not streams:
        return ('<section id="conversation"><h2>Ladder diagrams</h2><p>No TCP stream to draw.</p></section>')
    described = dict(zip(streams_table["stream"].astype("Int64").tolist(),
                         (streams_table["client"].astype(str) + ":" + streams_table["client_port"].astype(str)
                          + " \u2192 " + streams_table["server"].astype(str) + ":"
                          + streams_table["server_port"].astype(str)).tolist())) if len(streams_table) else {}
    options = "".join(f'<option value="{s}">TCP stream {s}: {esc(described.get(s, ""))}</option>' for s in streams)
    left = total_tcp - len(streams)
    note = "Choose a stream here or click its row in the streams table."
    if left > 0:
        note += (f" This page draws {len(streams)} of the capture's {total_tcp:,} TCP streams, the most eventful "
                 f"(labelled frames, then frames); for any other: pcapan report {capture_arg} --stream N -o page.html.")
    out = ['<section id="conversation"><h2>Ladder diagrams</h2>',
           f'<div class="picker"><label>Stream: <select id="stream-select">{options}</select></label></div>',
           f'<p class="note">{esc(note)}</p>']
    for k, s in enumerate(streams):
        out.append(_stream_article(packets, s, capture_arg, shown=k == 0))
    out.append("</section>")
    return "".join(out)


# --- the pages -------------------------------------------------------------------------

def report_page(path, progress: Callable | None = None, stream: int | None = None, command: str = "report") -> Page:
    """The report of the capture at *path* as a page (*stream*: draw that TCP stream only)."""
    from ...analysis import analyze, stream_frames
    from ..documents import digest_document, report_document, stream_overview
    from ..digest import digest

    name = str(path)
    if name != "-" and os.path.isfile(path):
        d = digest(path, progress=progress)
        doc = digest_document(d, True)
        info, streams, frames = d.info, d.streams, d.facts["packets"]
        drawn = _diagram_streams(streams, stream, frames <= SMALL_CAPTURE_FRAMES)
        packets = stream_frames(path, "tcp", drawn, progress) if drawn else None
    else:       # read once: standard input, a pipe
        a = analyze(path, progress)
        doc = report_document(a, for_table=True)
        info, streams = a.info, a.streams
        drawn = _diagram_streams(streams, stream, len(a.packets) <= SMALL_CAPTURE_FRAMES)
        packets = a.packets
    if stream is not None and not drawn:
        from ...selection import SelectionError, stream_numbers, number_ranges

        raise SelectionError(f"no TCP stream {stream} (TCP streams: "
                             f"{number_ranges(stream_numbers(streams, 'tcp')) or 'none'})")
    capture_arg = _shell_word(name)
    total_tcp = int((streams["proto"].astype(str) == "tcp").sum()) if len(streams) else 0
    overview = stream_overview(streams).reset_index(drop=True) if len(streams) else pd.DataFrame()
    body = [f'<section id="capture"><h2>Capture</h2>{_facts(_capture_facts(doc["capture"], info))}</section>',
            _streams_section(overview, streams.reset_index(drop=True), set(drawn)),
            _notable_section(doc.get("notable_frames")),
            _conversation_section(packets if packets is not None else pd.DataFrame(), drawn, capture_arg, total_tcp,
                                  streams[streams["proto"].astype(str) == "tcp"] if len(streams) else streams)]
    base = os.path.basename(name) if name != "-" else "standard input"
    html = _document(f"pcapan {command}: {base}",
                     f'pcapan {esc(command)} <span class="file">{esc(base)}</span>',
                     [("capture", "Capture"), ("streams", "Streams"), ("notable", "Notable frames"),
                      ("conversation", "Ladder diagrams")], body)
    return Page(info=info, html=html)


def _shell_word(text: str) -> str:
    """*text* as one word of a shell command (quoted when it needs it): shown as text, never run."""
    import shlex

    return shlex.quote(text)


_VERDICT_CLASS = {"pass": "pass", "warn": "warn", "fail": "fail", "n.a.": "na"}


def _frame_links(text, stream) -> str:
    """Frame numbers in *text* ("3, 4, 5") as links to the frames in the diagram; other text escaped."""
    text = _cell_text(text)
    if stream is None:
        return esc(text)
    out, last = [], 0
    for m in re.finditer(r"\d+", text):
        out.append(esc(text[last:m.start()]))
        out.append(f'<a class="frame-link" href="#f{stream}-{m.group()}" data-stream="{stream}" '
                   f'data-frame="{m.group()}">{m.group()}</a>')
        last = m.end()
    out.append(esc(text[last:]))
    return "".join(out)


def _cited_frames(*tables) -> list[int]:
    frames: set[int] = set()
    for t in tables:
        if t is not None and "frames" in getattr(t, "columns", ()):
            for v in t["frames"].tolist():
                frames.update(int(x) for x in re.findall(r"\d+", _cell_text(v)))
    return sorted(frames)


def check_page(path, server: str | None = None, progress: Callable | None = None, rubric=None) -> Page:
    """The graded lab submission at *path* as the page a student reads: the rubric with its evidence
    frames linked to the diagram, the lab's answers, the graded conversation drawn; *rubric* as for
    :func:`~pcap_analyzer.check.check_file`."""
    from ...check import check_file

    result, a = check_file(path, server, progress, rubric=rubric)
    stream = getattr(result, "stream", None)
    facts = dict(getattr(result, "facts", {}) or {})
    overall = str(facts.pop("overall", getattr(result, "overall", "")))
    rubric = getattr(result, "rubric", None)
    answers = getattr(result, "answers", None)
    body = [f'<section id="submission"><h2>Submission</h2><p class="overall">Overall: '
            f'<span class="verdict {_VERDICT_CLASS.get(overall, "na")}">{esc(overall)}</span></p>'
            f"{_facts(_capture_facts(facts, a.info))}</section>"]
    if rubric is not None and len(rubric):
        verdicts = [f'<span class="verdict {_VERDICT_CLASS.get(str(v), "na")}">{esc(v)}</span>'
                    for v in rubric["verdict"].tolist()] if "verdict" in rubric.columns else None
        cells = {"frames": [_frame_links(v, stream) for v in rubric["frames"].tolist()]} \
            if "frames" in rubric.columns else {}
        if verdicts is not None:
            cells["verdict"] = verdicts
        body.append('<section id="rubric"><h2>Rubric</h2><p class="note">Each item with its verdict and the frames '
                    "it rests on: click a frame number to see it in the diagram.</p>"
                    + _table(rubric, "rubric-table", prose=("evidence",), cell_html=cells) + "</section>")
    if answers is not None and len(answers):
        cells = {"frames": [_frame_links(v, stream) for v in answers["frames"].tolist()]} \
            if "frames" in answers.columns else {}
        body.append('<section id="answers"><h2>The lab\'s answers</h2>'
                    + _table(answers, "answers-table", prose=("question", "answer"), cell_html=cells) + "</section>")
    if stream is not None:
        cited = _cited_frames(rubric, answers)
        body.append('<section id="conversation"><h2>The graded conversation</h2>'
                    '<p class="note">Every frame the rubric cites is drawn (with the frames around it); the rest '
                    "of a long conversation is elided.</p>"
                    + _stream_article(a.packets, int(stream), _shell_word(str(path)), include=cited, shown=True,
                                      heading=f"TCP stream {stream}: {facts.get('client', '')} \u2192 "
                                              f"{facts.get('server', '')}")
                    + "</section>")
    base = os.path.basename(str(path)) if str(path) != "-" else "standard input"
    html = _document(f"pcapan check: {base}", f'pcapan check <span class="file">{esc(base)}</span>',
                     [("submission", "Submission"), ("rubric", "Rubric"), ("answers", "Answers"),
                      ("conversation", "Graded conversation")], body)
    return Page(info=a.info, html=html)


def write_html(command: str, capture, output, run, emit, **options) -> None:
    """Make the page of *command* (``report``, ``streams`` or ``check``) for *capture* and write it:
    ``run(capture, job)`` reads the capture (with the caller's progress display and errors),
    ``emit(data)`` writes the bytes to *output* or stdout."""
    if command == "check":
        page = run(capture, lambda path, progress=None: check_page(path, options.get("server"), progress,
                                                                          options.get("rubric")))
    else:
        page = run(capture, lambda path, progress=None: report_page(path, progress, options.get("stream"), command))
    emit(page.html)


__all__ = ["Page", "check_page", "report_page", "write_html"]
