"""Text renderers for a document: table (rich), csv, json, markdown."""
from __future__ import annotations

import io
import json
import re
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from ..times import time_text, time_texts
from . import FORMATS
from .csv_text import frame_csv, frame_csv_blocks, list_cell

Document = Mapping[str, "pd.DataFrame | dict"]


def _cell(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, pd.Timestamp):
        return time_text(v) or ""
    if isinstance(v, float):
        if v in (float("inf"), float("-inf")):
            return str(v)
        return f"{v:.6f}".rstrip("0").rstrip(".") if v != int(v) or abs(v) < 1e15 else str(v)
    if isinstance(v, (list, tuple)):
        return list_cell(v)
    return str(v)


def _csv(doc: Document, main: str) -> str:
    df = doc[main]
    assert isinstance(df, pd.DataFrame)
    return frame_csv(df)


# rows of a table encoded to JSON at a time
_JSON_BLOCK_ROWS = 20_000


def _json(doc: Document, main: str) -> str:
    return "".join(_json_blocks(doc, main))


def _json_blocks(doc: Document, main: str) -> Iterator[str]:
    """The text of ``json.dumps(value, indent=1)`` for *doc* (its *main* section alone when it has
    one section; tables as lists of records, as pandas' ``to_json`` gives them), in blocks: a big
    table is encoded a part of its rows at a time."""
    if len(doc) == 1:
        yield from _json_value_blocks(doc[main], 0)
        yield "\n"
        return
    yield "{"
    for k, (name, value) in enumerate(doc.items()):
        yield ("," if k else "") + "\n " + json.dumps(name) + ": "
        yield from _json_value_blocks(value, 1)
    yield "\n}\n" if doc else "}\n"


def _json_value_blocks(value, level: int) -> Iterator[str]:
    """``json.dumps(value, indent=1)`` nested *level* deep: every line after its first indented by
    *level* spaces (JSON strings hold no raw newline, so each newline starts a line)."""
    indent = "\n" + " " * level
    if not isinstance(value, pd.DataFrame):
        yield json.dumps(value, indent=1, default=str).replace("\n", indent)
        return
    if value.empty or not len(value.columns):
        yield json.dumps(_records(value), indent=1).replace("\n", indent)
        return
    yield "[" + indent
    for start in range(0, len(value), _JSON_BLOCK_ROWS):
        records = _records(value.iloc[start:start + _JSON_BLOCK_ROWS])
        text = _flat_records_text(records)
        if text is None:     # a cell holds a list or an object: the encoder lays it out
            text = json.dumps(records, indent=1)[2:-2]
        yield ("," + indent if start else "") + text.replace("\n", indent)
    yield indent + "]"


def _records(df: pd.DataFrame) -> list:
    times = {c: time_texts(df[c]) for c in df.columns if _is_time(df[c].dtype)}
    if times:
        df = df.assign(**times)
    return json.loads(df.to_json(orient="records", date_format="iso", date_unit="ns"))


def _is_time(dtype) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M")


# between items: what the compiled encoder writes with this separator, then each place made what
# json.dumps(..., indent=1) writes for a list of flat records
_ITEM = ",\n  "


def _flat_records_text(records: list) -> str | None:
    """``json.dumps(records, indent=1)`` without its opening "[\\n" and closing "\\n]", written by the
    compiled encoder; None unless every record is a non-empty dict of plain values."""
    for r in records:
        if not r or not isinstance(r, dict) or any(isinstance(v, (dict, list)) for v in r.values()):
            return None
    text = json.dumps(records, separators=(_ITEM, ": "))
    # a raw newline only appears in the separators, so "}" + separator + "{" is between records
    return " {\n  " + text[2:-2].replace("}" + _ITEM + "{", "\n },\n {\n  ") + "\n }"


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _md_escaped(cells: list[str]) -> list[str]:
    """:func:`_md_escape` of each cell (only looked at one by one if some need it)."""
    text = "".join(cells)
    return [_md_escape(v) for v in cells] if "|" in text or "\n" in text else cells


def _markdown(doc: Document, main: str) -> str:
    return "".join(_markdown_blocks(doc))


def _markdown_blocks(doc: Document) -> Iterator[str]:
    """The markdown of *doc* in blocks (a big table a part of its rows at a time)."""
    for k, (name, section) in enumerate(doc.items()):
        if k:
            yield "\n"
        if len(doc) > 1:
            yield f"## {name.replace('_', ' ').capitalize()}\n\n"
        if isinstance(section, pd.DataFrame):
            cols = list(section.columns)
            yield "| " + " | ".join(cols) + " |\n" + "|" + "|".join("---" for _ in cols) + "|\n"
            for start in range(0, len(section), _PLAIN_BLOCK_ROWS):
                part = section.iloc[start:start + _PLAIN_BLOCK_ROWS]
                cells = [_md_escaped(_column_cells(part[c])) for c in cols]
                yield "".join(["| " + " | ".join(row) + " |\n" for row in zip(*cells)])
        else:
            yield "| fact | value |\n|---|---|\n" + "".join(
                f"| {_md_escape(str(k))} | {_md_escape(_cell(v))} |\n" for k, v in section.items())


def _frame_table(section: pd.DataFrame, title: str | None, console):
    """A rich table of *section* off a terminal: every column, every cell whole on one line."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, title_justify="left", show_lines=False, header_style="bold",
              pad_edge=False, box=box.SIMPLE_HEAD, collapse_padding=True)
    for c in section.columns:
        numeric = pd.api.types.is_numeric_dtype(section[c]) and not pd.api.types.is_bool_dtype(section[c])
        t.add_column(str(c), justify="right" if numeric else "left", no_wrap=True)
    for row in section.itertuples(index=False, name=None):
        t.add_row(*(Text(_cell(v)) for v in row))  # data, never markup
    return t


# Off a terminal, a frame of more rows than this is laid out by _plain_table
# (rich measures and renders every cell: about a millisecond a row).
PLAIN_MIN_ROWS = 2000
# rich's console width off a terminal, at least (see _table): a wider table widens it
_OFF_TERMINAL_WIDTH = 1000
_PLAIN_BLOCK_ROWS = 20_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _column_cells(col: pd.Series) -> list[str]:
    """Every cell of *col* as :func:`_cell` writes it, made column-wise where the dtype allows."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        names = [_cell(v) for v in dtype.categories] + [""]
        return [names[k] for k in col.cat.codes.to_numpy().tolist()]
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = col.to_numpy(dtype=object, na_value=None)
        return ["" if v is None else str(v) for v in values.tolist()]
    if pd.api.types.is_float_dtype(dtype):
        values = col.to_numpy(dtype=float, na_value=float("nan"))
        if (np.abs(values[~np.isnan(values)]) < 1e15).all():    # _cell's common case, without its tests
            return ["" if v != v else ("%.6f" % v).rstrip("0").rstrip(".") for v in values.tolist()]
        return [_cell(v) for v in values.tolist()]
    if pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, np.dtype):
        return [v if isinstance(v, str) else "" for v in col.to_numpy(dtype=object, na_value=None).tolist()]
    if _is_time(dtype):
        return [v if isinstance(v, str) else "" for v in time_texts(col).tolist()]
    return [_cell(v) for v in col.tolist()]


def _plain_table(section: pd.DataFrame) -> Iterator[str] | None:
    """The text :func:`_table` writes for *section* as its only, untitled table off a terminal (no
    colour, nothing wrapped, lines without trailing blanks), laid out column by column and given in blocks of lines;
    None where rich would have to do more than pad (a control character in a cell, a table wider than
    its console)."""
    from rich.cells import cell_len

    columns = []
    for c in section.columns:
        col = section[c]
        cells = _column_cells(col)
        header = str(c)
        text = "".join(cells)
        if _CONTROL.search(text) or _CONTROL.search(header):
            return None
        right = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        ascii = text.isascii()
        if ascii and header.isascii():
            width = max(len(header), max(map(len, cells), default=0))
        else:
            width = max(cell_len(header), max(map(cell_len, cells), default=0))
        columns.append((header, cells, width, right, ascii))
    inner = sum(col[2] for col in columns) + 2 * (len(columns) - 1)

    def padded(cells: list[str], width: int, right: bool) -> list[str]:
        if all(map(str.isascii, cells)):
            return [v.rjust(width) for v in cells] if right else [v.ljust(width) for v in cells]
        fill = [" " * (width - cell_len(v)) for v in cells]
        return [f + v for v, f in zip(cells, fill)] if right else [v + f for v, f in zip(cells, fill)]

    # a row is one %-format: ASCII cells padded by it, others padded first
    line = " " + "  ".join(f"%{'' if right else '-'}{width}s" if ascii else "%s"
                           for _h, _c, width, right, ascii in columns)

    def blocks() -> Iterator[str]:
        head = [padded([h], w, r)[0] for h, _c, w, r, _a in columns]
        yield "\n" + (" " + "  ".join(head)).rstrip() + "\n " + "\u2500" * inner + "\n"
        n = len(section)
        for start in range(0, n, _PLAIN_BLOCK_ROWS):
            stop = min(start + _PLAIN_BLOCK_ROWS, n)
            parts = [cells[start:stop] if ascii else padded(cells[start:stop], w, r)
                     for _h, cells, w, r, ascii in columns]
            yield "".join([(line % row).rstrip() + "\n" for row in zip(*parts)])
        # the table's bottom edge (blank), then the empty line _table prints after a table
        yield "\n\n"
    return blocks()


def _table(doc: Document, main: str, width: int | None = None, color: bool = False,
           layouts: Mapping | None = None, hint: str = "") -> str:
    """*doc* as text tables: for a terminal of *width* columns laid out to fit it (see
    :mod:`.terminal`; *layouts* by section name, *hint* says how to see the columns left out), off
    a terminal (*width* None) every column and every cell whole, lines as long as they need."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width or _OFF_TERMINAL_WIDTH, force_terminal=color, no_color=not color,
                      highlight=False, soft_wrap=False)
    for name, section in doc.items():
        title = name.replace("_", " ").capitalize()
        if isinstance(section, pd.DataFrame):
            if not len(section):
                console.print(f"[bold]{title}[/bold]: none")
                console.print()
                continue
            if width is not None:
                if len(doc) > 1:
                    console.print(Text(title, style="bold"))
                _print_laid_out(console, section, width, (layouts or {}).get(name), hint)
            else:
                t = _frame_table(section, title if len(doc) > 1 else None, console)
                # off a terminal nothing is cut or wrapped: the console is as wide as the table
                need = t.__rich_measure__(console, console.options.update(width=10**7, max_width=10**7)).maximum
                console.width = max(_OFF_TERMINAL_WIDTH, need)
                console.print(t)
                console.width = _OFF_TERMINAL_WIDTH
        else:
            t = Table(title=title, title_justify="left", show_header=False, pad_edge=False, box=None)
            t.add_column("fact", style="bold")
            t.add_column("value", overflow="fold")
            for k, v in section.items():
                t.add_row(str(k).replace("_", " "), Text(_cell(v)))
            if width is None:
                need = t.__rich_measure__(console, console.options.update(width=10**7, max_width=10**7)).maximum
                console.width = max(_OFF_TERMINAL_WIDTH, need)
            console.print(t)
            console.width = width or _OFF_TERMINAL_WIDTH
        console.print()
    # rich pads every line to the table width; trailing blanks only get in the way
    return "\n".join(line.rstrip() for line in buf.getvalue().split("\n"))


_LINE_STYLES = {"header": "bold", "rule": None, "below": None, "note": "dim", None: None}


def _print_laid_out(console, section: pd.DataFrame, width: int, layout, hint: str) -> None:
    from rich.color import ColorSystem
    from rich.style import Style

    from .terminal import Layout, terminal_lines

    lines = terminal_lines(section, width, layout or Layout(), _column_cells, hint)
    styles = {k: Style.parse(v) for k, v in _LINE_STYLES.items() if v} if console.color_system else {}
    block = []
    for line, style in lines:
        # styled as rich styles them, without a console.print per line (a packets table has thousands)
        block.append((styles[style].render(line, color_system=ColorSystem.STANDARD)
                      if style in styles and line else line) + "\n")
        if len(block) >= _PLAIN_BLOCK_ROWS:
            console.file.write("".join(block))
            block = []
    console.file.write("".join(block))


def _parquet(doc: Document, main: str) -> bytes:
    df = doc[main]
    assert isinstance(df, pd.DataFrame)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def render_bytes(doc: Document, fmt: str, main: str, width: int | None = None, color: bool = False,
                 layouts: Mapping | None = None, hint: str = "") -> bytes:
    """:func:`render` encoded as UTF-8 (csv made as bytes directly: a packets table's text is big)."""
    return b"".join([bytes(block) for block in render_blocks(doc, fmt, main, width, color, layouts, hint)])


def render_blocks(doc: Document, fmt: str, main: str, width: int | None = None, color: bool = False,
                  layouts: Mapping | None = None, hint: str = ""):
    """:func:`render_bytes` in consecutive blocks, each to be written before the next is asked for
    (a csv table's blocks may reuse one buffer)."""
    if fmt == "parquet":
        return iter([_parquet(doc, main)])
    if fmt == "csv":
        df = doc[main]
        assert isinstance(df, pd.DataFrame)
        return frame_csv_blocks(df)
    if fmt == "table" and width is None and not color and len(doc) == 1:
        section = next(iter(doc.values()))
        if isinstance(section, pd.DataFrame) and len(section) > PLAIN_MIN_ROWS:
            blocks = _plain_table(section)
            if blocks is not None:
                return (b.encode("utf-8") for b in blocks)
    if fmt == "json":
        return (b.encode("utf-8") for b in _json_blocks(doc, main))
    if fmt == "markdown":
        return (b.encode("utf-8") for b in _markdown_blocks(doc))
    return iter([render(doc, fmt, main, width=width, color=color, layouts=layouts, hint=hint).encode("utf-8")])


def render(doc: Document, fmt: str, main: str, width: int | None = None, color: bool = False,
           layouts: Mapping | None = None, hint: str = "") -> str:
    """Render *doc* as *fmt* (text formats); csv carries the *main* section only.  A table for a
    terminal of *width* columns is laid out by the section's :class:`~.terminal.Layout` in *layouts*."""
    if fmt == "csv":
        return _csv(doc, main)
    if fmt == "json":
        return _json(doc, main)
    if fmt == "markdown":
        return _markdown(doc, main)
    if fmt == "table":
        return _table(doc, main, width, color, layouts, hint)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
