"""Which captures a command names: files, directories and glob patterns.

Kept apart from :mod:`.batch` (which loads pandas and the analysis) so that
the command line can tell one capture from many before loading anything.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterable

# Files in a submissions folder that are certainly not captures (notes,
# earlier grade sheets, the instructor's plots).
NOT_CAPTURES = (".md", ".txt", ".csv", ".json", ".html", ".pdf", ".png", ".svg", ".docx", ".xlsx", ".zip")

_GLOB_CHARS = "*?["


def is_pattern(spec: str) -> bool:
    return any(ch in spec for ch in _GLOB_CHARS)


def collect(specs: Iterable[str]) -> list[tuple[str, Path]]:
    """(name shown in the grades, path) for every submission *specs* name.

    A directory gives every file below it (hidden files and documents
    skipped; names relative to it); a glob pattern the files it matches; a
    file itself.  A name that matches nothing is kept, so that it becomes an
    error row rather than vanishing from the grade sheet.
    """
    out: list[tuple[str, Path]] = []
    seen: set[Path] = set()

    def add(name: str, path: Path) -> None:
        # The path as named, links not followed: two students may hand in links
        # to (or copies of) the same capture, and each gets a row.
        key = Path(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            out.append((name, path))

    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path)
                if f.is_file() and not any(part.startswith(".") for part in rel.parts) \
                        and not f.name.lower().endswith(NOT_CAPTURES):
                    add(rel.as_posix(), f)
        elif is_pattern(spec):
            for match in sorted(glob.glob(spec, recursive=True)):
                if Path(match).is_file():
                    add(match, Path(match))
        else:
            add(spec, path)
    return out
