"""Tables laid out for a terminal of a given width: what matters first, prose wrapped, nothing cut.

A :class:`Layout` says, for one table, which columns matter first, which
long sentences may go on lines of their own under their row, and the short
headers a terminal shows.  :func:`terminal_lines` chooses the columns that
fit the width in that order: short values keep one line, long text wraps in
its column, a sentence without room for a column of its own is written,
wrapped, under its row; the columns left out are named under the table.
rich measures the cells (wide characters count twice), wraps the text and
styles the lines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pandas as pd

# The narrowest a text column is made when it cannot have its widest cell's width (it then wraps
# at words, or folds a longer word).
WRAP_MIN = 24
# A sentence that may go under its row gets a column only when it can be this wide (or whole).
BELOW_COLUMN_MIN = 48
# Under its row, a sentence is indented this much.
BELOW_INDENT = 4
_GAP = 2
_LEAD = 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Layout:
    """How one table is shown on a terminal.

    *first*: the columns in the order they matter (the table's own order when
    empty; columns it does not name come after, in the table's order);
    *below*: sentences that go under their row when they have no room beside
    it; *headers*: shorter headers; *values*: a cell text for some values
    of a column (``from_client`` True -> "→"), or a function of the cell's text; *below_formats*:
    how a cell reads under its row (``"[{}]"``), *below_join*: what joins the cells under a row
    into one paragraph (None: a paragraph each)."""
    first: tuple[str, ...] = ()
    below: tuple[str, ...] = ()
    headers: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    below_formats: dict = field(default_factory=dict)
    below_join: str | None = None
    # the narrowest column a sentence of *below* is given beside its row (else BELOW_COLUMN_MIN)
    below_min: dict = field(default_factory=dict)
    only_first: bool = False      # columns not in *first* are never shown
    # columns someone picked: a sentence gets a column only where it leaves room for the others
    keep_all: bool = False

    def keeping_order(self) -> "Layout":
        """This layout for columns someone picked: their order kept, none left out for being unnamed."""
        from dataclasses import replace

        return replace(self, first=(), only_first=False, keep_all=True)

    def order(self, columns) -> list:
        named = [c for c in self.first if c in columns]
        rest = [] if self.only_first else [c for c in columns if c not in named]
        return named + rest


def _terminal_text(cell: str) -> str:
    """A cell as one terminal line: line breaks and other control characters (data, never
    terminal commands) shown as spaces."""
    return _CONTROL.sub(" ", cell) if _CONTROL.search(cell) else cell


def terminal_lines(section: pd.DataFrame, width: int, layout: Layout, cells_of: Callable,
                   hidden_hint: str = "") -> Iterator[tuple[str, str | None]]:
    """The lines of *section* laid out for *width* columns, each with its style ("header", "rule",
    "below", "note" or None); *cells_of(column)* gives a column's cells as text."""
    from rich.cells import cell_len

    names = layout.order(list(section.columns))
    cols = {}
    for c in names:
        mapping = layout.values.get(c)
        if isinstance(mapping, dict):
            raw = section[c].astype(object).tolist()
            cells = [mapping.get(v, "") if not pd.isna(v) else "" for v in raw]
        else:
            cells = cells_of(section[c])
            if mapping is not None:
                cells = [mapping(v) if v else v for v in cells]
        cells = [_terminal_text(v) for v in cells]
        header = layout.headers.get(c, str(c))
        natural = max([cell_len(header)] + [cell_len(v) for v in cells])
        numeric = pd.api.types.is_numeric_dtype(section[c]) and not pd.api.types.is_bool_dtype(section[c])
        # the narrowest it may be made: numbers never wrap, text wraps (at words, or folded)
        least = natural if numeric else min(natural, layout.below_min.get(c, BELOW_COLUMN_MIN)
                                            if c in layout.below else WRAP_MIN)
        cols[c] = {"cells": cells, "header": header, "natural": natural, "right": numeric and not mapping,
                   "least": least, "width": natural}

    shown, below, hidden = [], [], []
    used = _LEAD
    for k, c in enumerate(names):
        col = cols[c]
        gap = _GAP if shown else 0
        room = width - used - gap
        if layout.keep_all:     # leave the columns after it their narrowest
            room -= sum(_GAP + cols[d]["least"] for d in names[k + 1:] if d not in layout.below)
        if c in layout.below:
            if room >= col["least"]:
                # all the room there is: the sentence matters more than the columns after it
                col["width"] = min(col["natural"], room)
            elif any(col["cells"]):
                below.append(c)
                continue
            else:
                continue
        elif col["natural"] <= room:
            col["width"] = col["natural"]      # whole on one line
        elif col["least"] <= max(room, 0) or (layout.keep_all and col["least"] <= width - used - gap):
            col["width"] = col["least"]        # wrapped; what is left widens it below
        else:
            hidden.append(c)
            continue
        shown.append(c)
        used += gap + col["width"]
    # what is left widens the wrapping columns, in the order they matter
    spare = width - used
    for c in shown:
        col = cols[c]
        if spare > 0:
            more = min(spare, col["natural"] - col["width"])
            col["width"] += more
            spare -= more
    yield from _lines(shown, below, cols, section.shape[0], width, layout)
    if hidden:
        for line in _wrapped(f"(not shown at this width: {', '.join(cols[c]['header'] for c in hidden)}"
                             f"{'; ' + hidden_hint if hidden_hint else ''})", width):
            yield line, "note"


def _wrapped(text: str, width: int) -> list[str]:
    """*text* wrapped at words into lines of at most *width* cells (a longer word is folded)."""
    if not text:
        return [""]
    if text.isascii():
        import textwrap

        return textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    from rich.console import Console
    from rich.text import Text

    console = Console(width=max(width, 1), no_color=True, highlight=False)
    return [line.plain.rstrip() for line in Text(text).wrap(console, width, overflow="fold")] or [""]


def _pad(text: str, width: int, right: bool) -> str:
    from rich.cells import cell_len

    fill = " " * max(0, width - (len(text) if text.isascii() else cell_len(text)))
    return fill + text if right else text + fill


def _lines(shown: list, below: list, cols: dict, n: int, width: int,
           layout: Layout) -> Iterator[tuple[str, str | None]]:
    lead = " " * _LEAD
    gap = " " * _GAP
    if shown:
        # a header longer than its column's width (a wrapped column's) is wrapped too
        heads = [_wrapped(cols[c]["header"], cols[c]["width"]) if _too_wide(cols[c]["header"], cols[c]["width"])
                 else [cols[c]["header"]] for c in shown]
        for k in range(max(map(len, heads))):
            yield (lead + gap.join(_pad(h[k] if k < len(h) else "", cols[c]["width"], cols[c]["right"])
                                   for h, c in zip(heads, shown))).rstrip(), "header"
        yield lead + "\u2500" * (sum(cols[c]["width"] for c in shown) + _GAP * (len(shown) - 1)), "rule"
    indent = " " * BELOW_INDENT
    for i in range(n):
        parts = []
        for c in shown:
            col = cols[c]
            cell = col["cells"][i]
            if _too_wide(cell, col["width"]):
                parts.append(_wrapped(cell, col["width"]))
            else:
                parts.append([cell])
        height = max((len(p) for p in parts), default=1)
        for k in range(height):
            line = gap.join(_pad(p[k] if k < len(p) else "", cols[c]["width"], cols[c]["right"])
                            for p, c in zip(parts, shown))
            yield (lead + line).rstrip(), None
        paragraphs = [layout.below_formats.get(c, "{}").format(cols[c]["cells"][i])
                      for c in below if cols[c]["cells"][i]]
        if layout.below_join is not None and paragraphs:
            paragraphs = [layout.below_join.join(paragraphs)]
        for paragraph in paragraphs:
            for text in _wrapped(paragraph, width - BELOW_INDENT):
                yield indent + text, "below"


def _too_wide(cell: str, width: int) -> bool:
    from rich.cells import cell_len

    return (len(cell) if cell.isascii() else cell_len(cell)) > width
