"""Files: which captures a command names (files, directories, glob patterns), and writing outputs.

Kept apart from :mod:`.batch` and :mod:`.export` (which load pandas) so that
the command line can tell one capture from many, and write what it made,
without loading them.
"""
from __future__ import annotations

import glob
import os
import stat
from pathlib import Path
from typing import Callable, Iterable

# Files in a submissions folder that are certainly not captures (notes,
# earlier grade sheets, the instructor's plots).
NOT_CAPTURES = (".md", ".txt", ".csv", ".json", ".html", ".pdf", ".png", ".svg", ".docx", ".xlsx", ".zip")

_GLOB_CHARS = "*?["


def is_pattern(spec: str) -> bool:
    """Whether *spec* is a glob pattern: it has a glob character and is not itself a file's name."""
    return any(ch in spec for ch in _GLOB_CHARS) and not os.path.lexists(spec)


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


class ExportError(Exception):
    """The tables cannot be written where asked (the message says why)."""


def replace_atomically(path: str | os.PathLike, write: Callable[[str], None],
                       capture: str | os.PathLike | None = None) -> None:
    """Call ``write(tmp)`` on a temporary file next to *path*, then rename it to *path*.

    Raises :class:`ExportError` when *path* is the input *capture*.
    """
    path = Path(path)
    if capture is not None and _same_file(path, Path(capture)):
        raise ExportError(f"{path}: refusing to write over the input capture")
    if path.is_symlink():
        # written where the link points (the link stays a link), even when that file is not there yet
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise ExportError(f"{path}: is a directory")
        # /dev/null, a FIFO: renaming over it would replace the device.
        write(os.fspath(path))
        return
    tmp = temporary_next_to(path)
    try:
        # the permissions a new file gets (temporary ones are private), or those of the file replaced
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode) if path.exists() else 0o666 & ~_umask())
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        discard_temporary(tmp)
        raise
    finished(tmp)


# The temporary files being written.  A command stopped by a signal unwinds and removes its
# temporary file; a signal that arrives between the file's making and the ``try`` that cleans
# it up (or inside that clean-up) would leave it behind, so the command line removes what is
# still listed here before it exits (:func:`remove_unfinished`).
_UNFINISHED: set[str] = set()


def temporary_next_to(path: Path) -> str:
    """A new empty file, private to its owner, next to *path* and named after it
    (``.NAME.XXXXXXXX.tmp``); listed as unfinished until :func:`finished` or
    :func:`discard_temporary`."""
    for _ in range(100):
        tmp = os.fspath(path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp")
        _UNFINISHED.add(tmp)        # listed before it exists: no moment when it is made but not listed
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            _UNFINISHED.discard(tmp)
            continue
        except OSError:
            _UNFINISHED.discard(tmp)
            raise
        os.close(fd)
        return tmp
    raise FileExistsError(f"{path.parent}: no free name for a temporary file")


def finished(tmp: str) -> None:
    """*tmp* was put in place (renamed): no longer a temporary file to remove."""
    _UNFINISHED.discard(tmp)


def discard_temporary(tmp: str) -> None:
    """Remove the temporary file *tmp* (if it is there)."""
    try:
        os.unlink(tmp)
    except OSError:
        pass
    _UNFINISHED.discard(tmp)


def remove_unfinished() -> None:
    """Remove the temporary files of writes that did not finish."""
    for tmp in list(_UNFINISHED):
        discard_temporary(tmp)


def _umask() -> int:
    """The process's file creation mask (from /proc where there is one: setting it to read it back
    would race with other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _same_file(path: Path, capture: Path) -> bool:
    if path.exists() and capture.exists():
        return os.path.samefile(path, capture)
    return path.resolve() == capture.resolve()
