"""Text renderers for a document: table (rich), csv, json, markdown."""
from __future__ import annotations

import io
import json
from typing import Mapping

import pandas as pd

FORMATS = ("table", "csv", "json", "markdown")

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
    buf = io.StringIO()
    df.to_csv(buf, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ", lineterminator="\n")
    return buf.getvalue()


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
            t = Table(title=title if len(doc) > 1 else None, title_justify="left", show_lines=False,
                      header_style="bold", pad_edge=False)
            for c in section.columns:
                numeric = pd.api.types.is_numeric_dtype(section[c]) and not pd.api.types.is_bool_dtype(section[c])
                t.add_column(str(c), justify="right" if numeric else "left", overflow="fold",
                             no_wrap=width is None)
            for row in section.itertuples(index=False, name=None):
                t.add_row(*(Text(_cell(v)) for v in row))  # data, never markup
            if not len(section):
                console.print(f"[bold]{title}[/bold]: none")
                continue
            console.print(t)
        else:
            t = Table(title=title, title_justify="left", show_header=False, pad_edge=False, box=None)
            t.add_column("fact", style="bold")
            t.add_column("value", overflow="fold")
            for k, v in section.items():
                t.add_row(str(k).replace("_", " "), Text(_cell(v)))
            console.print(t)
        console.print()
    return buf.getvalue()


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
