"""Which frames and streams a person asked for: label names, stream numbers, ``--where`` expressions.

Each is checked strictly: a label that is not in the vocabulary, a stream
the capture does not have or an expression that is not a plain condition
on the packets table's columns raises :class:`SelectionError`, whose
message is one line naming what there is.  Nothing here reads a capture;
pandas is imported only where a table is filtered, so that the command line
can check a label before it starts reading.
"""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Iterable

from .vocabulary import LABEL_NAMES

if TYPE_CHECKING:
    import pandas as pd


class SelectionError(ValueError):
    """A label, stream or expression that selects nothing that exists; the message is one line."""


# --- labels ----------------------------------------------------------------------

def check_labels(labels: Iterable[str] | None) -> None:
    """Raise :class:`SelectionError` for the first of *labels* that is not a label, suggesting the
    nearest (a typo must not quietly select nothing)."""
    import difflib

    for name in labels or ():
        if name in LABEL_NAMES:
            continue
        near = difflib.get_close_matches(name, LABEL_NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise SelectionError(f"unknown label {name!r}{hint} (labels: {', '.join(LABEL_NAMES)})")


# --- streams ---------------------------------------------------------------------

def stream_numbers(table: pd.DataFrame, proto: str) -> list[int]:
    """The stream numbers of *proto* in a table with ``proto`` and ``stream`` columns (the packets or
    the streams table), in order."""
    if not len(table):
        return []
    return sorted(int(s) for s in table.loc[table["proto"] == proto, "stream"].dropna().unique())


def number_ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``; ``"none"`` when empty."""
    if not numbers:
        return "none"
    parts, start, prev = [], numbers[0], numbers[0]
    for n in numbers[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def stream_proto(table: pd.DataFrame, stream: int, proto: str | None = None) -> str:
    """The protocol of stream *stream* in *table* (packets or streams): *proto* when given, else TCP,
    else UDP (stream numbers are counted per protocol; TCP is meant first).  Raises
    :class:`SelectionError` naming the streams there are when there is no such stream."""
    protos = (proto,) if proto else ("tcp", "udp")
    known = {p: stream_numbers(table, p) for p in protos}
    for p in protos:
        if stream in known[p]:
            return p
    if not proto and not known["udp"]:
        protos = ("tcp",)
    names = " or ".join(p.upper() for p in protos)
    there = "; ".join(f"{p.upper()} streams: {number_ranges(known[p])}" for p in protos)
    raise SelectionError(f"no {names} stream {stream} ({there})")


# --- --where expressions ---------------------------------------------------------

# What an expression may be made of: columns, literals, comparisons, arithmetic, and/or/not.
# No calls, attributes, subscripts or @variables: an expression selects rows, it runs nothing.
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Invert,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.BitAnd, ast.BitOr,
    ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple,
)


def check_where(expr: str, columns: Iterable[str]) -> None:
    """Raise :class:`SelectionError` unless *expr* is a condition made only of the *columns*, literals
    and operators (see :data:`_ALLOWED`)."""
    columns = list(columns)
    text = expr.strip()
    if not text:
        raise SelectionError("--where: the expression is empty")
    try:
        tree = ast.parse(text.replace("\n", " "), mode="eval")
    except SyntaxError as exc:
        raise SelectionError(f"--where: not a valid expression ({exc.msg}) in {expr!r}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in columns:
                import difflib

                near = difflib.get_close_matches(node.id, columns, n=1, cutoff=0.6)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise SelectionError(f"--where: unknown column {node.id!r}{hint} "
                                     f"(columns: {', '.join(columns)})")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, str, bool, type(None))):
                raise SelectionError(f"--where: {node.value!r} is not a number or text")
        elif not isinstance(node, _ALLOWED):
            raise SelectionError(f"--where: {_what(node)} not allowed in {expr!r} (only columns, numbers, "
                                 "quoted text, comparisons, arithmetic, and/or/not, in)")


def _what(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return "a function call is"
    if isinstance(node, ast.Attribute):
        return f"an attribute ('.{node.attr}') is"
    if isinstance(node, ast.Subscript):
        return "indexing ('[...]') is"
    if isinstance(node, ast.MatMult):
        return "'@' is"
    return f"{type(node).__name__} is"


def where(table: pd.DataFrame, expr: str) -> pd.DataFrame:
    """The rows of *table* for which *expr* (checked by :func:`check_where`) holds; a row where it
    cannot be told (a missing value) is left out.  Raises :class:`SelectionError` when the
    expression cannot be evaluated (comparing text with a number, say)."""
    import numpy as np
    import pandas as pd

    check_where(expr, table.columns)
    try:
        # the python engine evaluates the names the check allowed and nothing else; no
        # variables of the caller are in reach
        mask = table.eval(expr.replace("\n", " "), engine="python", local_dict={}, global_dict={})
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds for an expression it cannot do
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SelectionError(f"--where: cannot evaluate {expr!r} ({message})") from None
    if not isinstance(mask, pd.Series) or not (pd.api.types.is_bool_dtype(mask.dtype)):
        raise SelectionError(f"--where: {expr!r} is not a condition (true or false for each frame)")
    return table[np.asarray(mask.fillna(False), dtype=bool)]
