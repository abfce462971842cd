"""Text renderers for a document: table (rich), csv, json, markdown."""
from __future__ import annotations

import io
import json
from typing import Mapping

import pandas as pd

from . import FORMATS
from .csv_text import frame_csv, frame_csv_blocks

Document = Mapping[str, "pd.DataFrame | dict"]


def _cell(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".") if v != int(v) or abs(v) < 1e15 else str(v)
    if isinstance(v, (list, tuple)):
        return "; ".join(map(str, v))
    return str(v)


def _csv(doc: Document, main: str) -> str:
    df = doc[main]
    assert isinstance(df, pd.DataFrame)
    return frame_csv(df)


def _json_value(v):
    if isinstance(v, pd.DataFrame):
        return json.loads(v.to_json(orient="records", date_format="iso", date_unit="ns"))
    return v


def _json(doc: Document, main: str) -> str:
    if len(doc) == 1:
        return json.dumps(_json_value(doc[main]), indent=1, default=str) + "\n"
    return json.dumps({k: _json_value(v) for k, v in doc.items()}, indent=1, default=str) + "\n"


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _markdown(doc: Document, main: str) -> str:
    out = []
    for name, section in doc.items():
        if len(doc) > 1:
            out.append(f"## {name.replace('_', ' ').capitalize()}\n")
        if isinstance(section, pd.DataFrame):
            cols = list(section.columns)
            out.append("| " + " | ".join(cols) + " |")
            out.append("|" + "|".join("---" for _ in cols) + "|")
            for row in section.itertuples(index=False, name=None):
                out.append("| " + " | ".join(_md_escape(_cell(v)) for v in row) + " |")
        else:
            out.append("| fact | value |")
            out.append("|---|---|")
            for k, v in section.items():
                out.append(f"| {_md_escape(str(k))} | {_md_escape(_cell(v))} |")
        out.append("")
    return "\n".join(out)


# Prose cells (longer than this, with spaces) wrap in a terminal table, in
# a column at least _PROSE_MIN wide; every other cell stays on one line.
_PROSE = 24
_PROSE_MIN = 24


def _frame_table(section: pd.DataFrame, title: str | None, width: int | None, console):
    """A rich table of *section* for a terminal *width* (None: no limit).

    Short values never wrap, prose wraps; when even that is too wide, the
    rightmost columns are left out.  Returns the table and the names of the
    columns left out."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    sample = section.head(200)
    prose = set()
    if width is not None:
        for c in section.columns:
            cells = [_cell(v) for v in sample[c]]
            if any(len(v) > _PROSE and " " in v for v in cells):
                prose.add(c)

    def build(cols, rows, measuring=False):
        t = Table(title=title, title_justify="left", show_lines=False, header_style="bold",
                  pad_edge=False, box=box.SIMPLE_HEAD, collapse_padding=True)
        for c in cols:
            numeric = pd.api.types.is_numeric_dtype(section[c]) and not pd.api.types.is_bool_dtype(section[c])
            wraps = c in prose
            t.add_column(str(c), justify="right" if numeric else "left", no_wrap=not wraps,
                         min_width=_PROSE_MIN if wraps else None,
                         width=_PROSE_MIN if wraps and measuring else None)
        for row in rows[cols].itertuples(index=False, name=None):
            t.add_row(*(Text(_cell(v)) for v in row))  # data, never markup
        return t

    columns = list(section.columns)
    if width is not None:
        unbounded = console.options.update(width=100_000, max_width=100_000)
        while len(columns) > 1 and \
                build(columns, sample, measuring=True).__rich_measure__(console, unbounded).maximum > width:
            columns.pop()
    return build(columns, section), [c for c in section.columns if c not in columns]


def _table(doc: Document, main: str, width: int | None = None, color: bool = False) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    # Off a terminal nothing wraps: rows stay whole for grep and less -S.
    console = Console(file=buf, width=width or 1000, force_terminal=color, no_color=not color,
                      highlight=False, soft_wrap=False)
    for name, section in doc.items():
        title = name.replace("_", " ").capitalize()
        if isinstance(section, pd.DataFrame):
            if not len(section):
                console.print(f"[bold]{title}[/bold]: none")
                console.print()
                continue
            t, hidden = _frame_table(section, title if len(doc) > 1 else None, width, console)
            console.print(t)
            if hidden:
                console.print(Text(f"(not shown at this width: {', '.join(map(str, hidden))}; "
                                   "a wider terminal or --format markdown shows them)", style="dim"))
        else:
            t = Table(title=title, title_justify="left", show_header=False, pad_edge=False, box=None)
            t.add_column("fact", style="bold")
            t.add_column("value", overflow="fold")
            for k, v in section.items():
                t.add_row(str(k).replace("_", " "), Text(_cell(v)))
            console.print(t)
        console.print()
    # rich pads every line to the table width; trailing blanks only get in the way
    return "\n".join(line.rstrip() for line in buf.getvalue().split("\n"))


def render_bytes(doc: Document, fmt: str, main: str, width: int | None = None, color: bool = False) -> bytes:
    """:func:`render` encoded as UTF-8 (csv made as bytes directly: a packets table's text is big)."""
    return b"".join([bytes(block) for block in render_blocks(doc, fmt, main, width, color)])


def render_blocks(doc: Document, fmt: str, main: str, width: int | None = None, color: bool = False):
    """:func:`render_bytes` in consecutive blocks, each to be written before the next is asked for
    (a csv table's blocks may reuse one buffer)."""
    if fmt == "csv":
        df = doc[main]
        assert isinstance(df, pd.DataFrame)
        return frame_csv_blocks(df)
    return iter([render(doc, fmt, main, width=width, color=color).encode("utf-8")])


def render(doc: Document, fmt: str, main: str, width: int | None = None, color: bool = False) -> str:
    """Render *doc* as *fmt*; csv carries the *main* section only."""
    if fmt == "csv":
        return _csv(doc, main)
    if fmt == "json":
        return _json(doc, main)
    if fmt == "markdown":
        return _markdown(doc, main)
    if fmt == "table":
        return _table(doc, main, width, color)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
