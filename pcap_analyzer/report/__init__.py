"""Reporters: one writer per output format, chosen by one ``--format`` option.

Every writer takes a "document" -- an ordered mapping of section name to a
DataFrame or a dict of facts -- and returns text.  What goes into the
document for each command is decided in :mod:`.documents`.  The writers and
documents load with pandas, when first used; the constants here do not.
"""
from __future__ import annotations

import importlib

FORMATS = ("table", "csv", "json", "markdown")
from ..vocabulary import REPORT_LEAVES_OUT

_LAZY = {
    "events_table": "documents", "packets_document": "documents", "report_document": "documents",
    "streams_document": "documents", "render": "writers",
}

__all__ = ["FORMATS", "REPORT_LEAVES_OUT", "events_table", "packets_document", "render", "report_document",
           "streams_document"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
