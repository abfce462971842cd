"""Text cells a spreadsheet would run as a formula, made inert (CSV injection).

Captures come from students and strangers: a packet comment, an interface
name or a file name may start with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return, which Excel, LibreOffice and Google Sheets read as the
start of a formula.  Following OWASP's advice, such a text cell is written
with a leading single quote (which spreadsheets show as "text" and hide).
A text cell that itself starts with a quote gets one more, so that
:func:`restore_frame` gives back exactly what was written.  Numbers, times
and booleans are never touched: only text columns are.
"""
from __future__ import annotations

import pandas as pd

# first characters a spreadsheet treats as the start of a formula; the quote is the escape itself
_RISKY = ("=", "+", "-", "@", "\t", "\r", "'")
_RISKY_PATTERN = r"^[=+\-@\t\r']"


def neutralise_text(value: str) -> str:
    """*value* with a leading quote when a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(_RISKY) else value


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c, t in df.dtypes.items()
            if t == object or isinstance(t, (pd.StringDtype, pd.CategoricalDtype))]


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """*df* with every risky text cell quoted (a new frame; *df* is not changed).  Categorical
    columns are fixed in their categories, so a big table costs one pass over its distinct texts."""
    changed = {}
    for c in _text_columns(df):
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            if cats.dtype == object or isinstance(cats.dtype, pd.StringDtype):
                risky = cats.astype(str).str.match(_RISKY_PATTERN)
                if risky.any():
                    new = [neutralise_text(x) if r else x for x, r in zip(cats, risky)]
                    if len(set(new)) == len(new):
                        changed[c] = s.cat.rename_categories(new)
                    else:
                        changed[c] = s.astype(object).map(_cell, na_action="ignore")
            continue
        texts = s.dropna()
        texts = texts[[isinstance(v, str) for v in texts]] if s.dtype == object else texts
        if len(texts) and texts.str.match(_RISKY_PATTERN).any():
            changed[c] = s.map(_cell, na_action="ignore")
    return df.assign(**changed) if changed else df


def _cell(v):
    return neutralise_text(v) if isinstance(v, str) else v


def restore_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The text :func:`neutralise_frame` was given, from the cells it wrote (read back from CSV)."""
    changed = {}
    for c in _text_columns(df):
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            if (cats.dtype == object or isinstance(cats.dtype, pd.StringDtype)) and \
                    cats.astype(str).str.match(r"^'[=+\-@\t\r']").any():
                changed[c] = s.cat.rename_categories([_restore(x) for x in cats])
            continue
        changed[c] = s.map(_restore, na_action="ignore")
    return df.assign(**changed) if changed else df


def _restore(v):
    if isinstance(v, str) and len(v) > 1 and v[0] == "'" and v[1] in _RISKY:
        return v[1:]
    return v
