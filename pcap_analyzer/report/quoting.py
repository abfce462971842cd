"""How the csv module quotes a field, as pandas writes csv with it (probed once).

Kept apart from :mod:`.csv_text`, which it serves, so that the rule is
probed in one place.
"""
from __future__ import annotations

import csv
import functools
import io

import numpy as np


@functools.lru_cache(maxsize=None)
def csv_quoting() -> bytes | None:
    """The characters that make the csv module quote a field; None if it quotes by another rule.

    pandas writes with the csv module's minimal quoting: a field containing
    the delimiter, the quote character or a character of the line terminator
    ("\\r" as well in newer Pythons) goes in double quotes with the quotes in
    it doubled; a row of one empty field is written as ""; every other field,
    spaces included, as it is.
    """
    def write(row) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        return buf.getvalue()

    quoted = []
    try:
        for code in [*range(128), 0x85, 0xA0, 0x2028, 0x2029, 0xFEFF]:
            field = f"a{chr(code)}b"
            out = write([field])
            if out == '"' + field.replace('"', '""') + '"\n':
                quoted.append(code)
            elif out != field + "\n":
                return None
        if any(write([f]) != f + "\n" for f in (" a", "a ", " ", "\t", "é")) \
                or write([""]) != '""\n' or write(["", ""]) != ",\n" or write(["a", ""]) != "a,\n":
            return None
    except csv.Error:
        return None
    if not {ord(","), ord('"'), ord("\n")} <= set(quoted) or any(c >= 128 for c in quoted):
        return None
    # a bare carriage return ends a row for spreadsheets and for the csv module's reader: quoted
    # always (Python 3.12's writer does so; 3.11's does not)
    return bytes(sorted(set(quoted) | {ord("\r")}))


@functools.lru_cache(maxsize=None)
def special_bytes() -> np.ndarray:
    special = np.zeros(256, dtype=np.uint8)
    special[list(csv_quoting())] = 1
    return special


def quoted_cell(text: str) -> bytes:
    """*text* as the csv module writes a field (quoted if it holds a special character)."""
    raw = text.encode("utf-8")
    if any(b in csv_quoting() for b in raw):
        return b'"' + raw.replace(b'"', b'""') + b'"'
    return raw
