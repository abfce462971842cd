"""Grading many submissions at once: one summary row per file, on every core.

:func:`collect` turns directories, glob patterns and file names into the
list of submissions; :func:`check_many` grades them in worker processes and
returns one row per file (:data:`pcap_analyzer.check.SUMMARY_COLUMNS`), in
the order given.  A file that cannot be read, or that breaks the analysis,
becomes a row whose ``overall`` is ``error`` and whose ``error`` says why:
the batch never stops for one submission.
"""
from __future__ import annotations

import glob
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from .check import SUMMARY_COLUMNS, error_row

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


def check_file(name: str, path: str | os.PathLike, server: str | None = None) -> dict:
    """The summary row of one submission; never raises."""
    from .analysis import analyze
    from .check import check
    from .reader import CaptureError

    try:
        row = check(analyze(path), server).summary
    except CaptureError as exc:
        return error_row(name, str(exc))
    except MemoryError:
        return error_row(name, "not enough memory to analyse this capture")
    except Exception as exc:  # one bad submission must not stop the batch
        return error_row(name, f"internal error ({type(exc).__name__}: {exc})")
    row["file"] = name
    return row


def check_many(files: list[tuple[str, Path]], server: str | None = None, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Grade *files* (from :func:`collect`) in *workers* processes (default: every core).

    *progress*, if given, is called in this process with (done, total)
    after each file.  Returns one row per file, in the order of *files*.
    """
    total = len(files)
    rows: list[dict | None] = [None] * total
    done = 0

    def finished(i: int, row: dict) -> None:
        nonlocal done
        rows[i] = row
        done += 1
        if progress:
            progress(done, total)

    workers = max(1, min(workers or os.cpu_count() or 1, total or 1))
    if workers == 1:
        for i, (name, path) in enumerate(files):
            finished(i, check_file(name, path, server))
    else:
        orphans = _in_pool(list(enumerate(files)), server, workers, finished)
        # A worker that died (a crash, the kernel's OOM killer) breaks the
        # whole pool; its files are tried again one at a time, so only the
        # file that kills a worker is lost, as an error row.
        for i, (name, path) in orphans:
            if _in_pool([(i, (name, path))], server, 1, finished):
                finished(i, error_row(name, "the worker process analysing this file died"))
    return pd.DataFrame([r for r in rows if r is not None], columns=list(SUMMARY_COLUMNS))


def _in_pool(jobs, server, workers, finished) -> list:
    """Run *jobs* ((index, (name, path))) in a pool; return those lost to a broken pool."""
    lost = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = {pool.submit(check_file, name, str(path), server): (i, (name, path)) for i, (name, path) in jobs}
        for future in as_completed(futures):
            i, (name, path) = futures[future]
            try:
                finished(i, future.result())
            except BrokenProcessPool:
                lost.append((i, (name, path)))
            except Exception as exc:  # pickling trouble and the like: still one row
                finished(i, error_row(name, f"internal error ({type(exc).__name__}: {exc})"))
    return sorted(lost, key=lambda job: job[0])


def _context():
    # Workers start from a clean server process rather than a fork of this
    # one, which may hold threads (the progress display) and a large heap.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else None)
