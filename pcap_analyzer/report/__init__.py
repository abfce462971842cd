"""Reporters: one writer per output format, chosen by one ``--format`` option.

Every writer takes a "document" -- an ordered mapping of section name to a
DataFrame or a dict of facts -- and returns text.  What goes into the
document for each command is decided in :mod:`.documents`.
"""
from __future__ import annotations

from .documents import events_table, packets_document, report_document, streams_document
from .writers import FORMATS, render

__all__ = ["FORMATS", "events_table", "packets_document", "render", "report_document", "streams_document"]
