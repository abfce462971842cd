"""Many captures at once: one row per file, on every core.

:func:`.files.collect` turns directories, glob patterns and file names into
the list of captures for ``pcapan report``; :func:`collect_submissions` does
it for a class's submissions, keeping every file found (notes, links, FIFOs:
each gets a row with its error).  :func:`check_many` grades them as TCP lab
submissions (one row per file, :data:`pcap_analyzer.check.SUMMARY_COLUMNS`,
copies of one capture flagged) and :func:`report_many` gives an overview row
per capture (:data:`REPORT_COLUMNS`), both through :func:`run_many`, in
worker processes, in the order given.  A file that cannot be read, or that
breaks the analysis, becomes a row whose ``error`` says why: the batch never
stops for one file.
"""
from __future__ import annotations

import glob
import multiprocessing
import os
import stat
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Callable

import pandas as pd

from .check import SUMMARY_COLUMNS, error_row
from .files import collect, is_pattern

__all__ = ["check_file", "check_many", "collect", "collect_submissions", "report_file", "report_many", "run_many"]


def collect_submissions(specs) -> list[tuple[str, Path]]:
    """(name on the grade sheet, path) for every file *specs* name or hold, once each, in a stable order.

    A directory gives every file below it, hidden ones aside, sorted by path:
    captures, and also notes, links (dangling ones too) and FIFOs, which get a
    row with their error.  Its files are named relative to it when it is the
    only spec, else as the folder was given joined with that path.  A glob
    pattern gives what it matches, a name itself; both as given."""
    specs = list(specs)
    out: list[tuple[str, Path]] = []
    seen: set[str] = set()

    def add(name: str, path: Path) -> None:
        key = os.path.abspath(path)   # links not followed: two students' links to one file are two rows
        if key not in seen:
            seen.add(key)
            out.append((name, path))

    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = []
            for top, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                # links to directories are listed, not followed (a link can make a loop)
                found += [Path(top) / d for d in dirs if os.path.islink(Path(top) / d)]
                found += [Path(top) / f for f in files if not f.startswith(".")]
            for f in sorted(found, key=lambda f: f.relative_to(path).as_posix()):
                rel = f.relative_to(path).as_posix()
                add(rel if len(specs) == 1 else os.path.join(spec, rel), f)
        elif is_pattern(spec) and not os.path.lexists(spec):
            for match in sorted(glob.glob(spec, recursive=True)):
                if not os.path.isdir(match) or os.path.islink(match):
                    add(match, Path(match))
        else:
            add(spec, path)
    return out


def not_a_file(path) -> str | None:
    """Why *path* is no capture file to read (a dangling link, a FIFO, a device, a directory), or None."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"broken symbolic link (to {os.readlink(path)}): the file it points to does not exist"
        return "no such file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    mode = st.st_mode
    link = " (a symbolic link to it)" if os.path.islink(path) else ""
    if stat.S_ISFIFO(mode):
        return f"a named pipe (FIFO){link}, not a capture file: not read, as reading one can wait for ever"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"a device{link}, not a capture file"
    if stat.S_ISSOCK(mode):
        return f"a socket{link}, not a capture file"
    if stat.S_ISDIR(mode):
        return f"a directory{link}, not a capture file (not looked into)"
    return None


def check_file(name: str, path: str | os.PathLike, server: str | None = None, rubric=None,
               notes: bool = False) -> dict:
    """The grade-sheet row of one submission; never raises.  The row also carries ``_fingerprint``
    (for :func:`check_many` to find copies) and, with *notes*, ``_feedback`` (its markdown note)."""
    from . import check
    from .grading.copies import fingerprint
    from .grading.feedback import feedback_markdown

    why = not_a_file(path)
    if why is not None:
        return error_row(name, why)

    def row(graded) -> dict:
        result, a = graded
        out = dict(result.rename(name).summary)
        out["_fingerprint"] = fingerprint(a.packets, result.stream, path)
        if notes:
            out["_feedback"] = feedback_markdown(result)
        return out

    def failed(name: str, message: str) -> dict:
        # the message names the file as the sheet does, not by the path it was read from
        return error_row(name, message.replace(os.fspath(path), name))

    # read in chunks, as `pcapan check` does
    return _guarded(name, path, row, failed, load=lambda p: check.check_file(p, server, rubric=rubric))


def check_many(files: list[tuple[str, Path]], server: str | None = None, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None, rubric=None,
               feedback: dict | None = None) -> pd.DataFrame:
    """Grade *files* (from :func:`collect_submissions`) in *workers* processes (default: every core).

    *progress*, if given, is called in this process with (done, total)
    after each file.  Returns one row per file, in the order of *files*, with
    ``copy_of`` naming the other files that are the same capture.  A dict
    given as *feedback* receives each file's markdown note by name.
    """
    from .grading.copies import find_copies
    from .grading.feedback import error_markdown

    job = partial(check_file, server=server, rubric=rubric, notes=feedback is not None)
    rows = run_many(files, job, error_row, workers, progress)
    prints = [row.pop("_fingerprint", None) for row in rows]
    for row, copies in zip(rows, find_copies([r["file"] for r in rows], prints)):
        row["copy_of"] = "; ".join(copies)
        if feedback is not None:
            note = row.pop("_feedback", None) or error_markdown(row["file"], row["error"])
            if copies:
                note += f"\nThe same capture as: {', '.join(copies)}.\n"
            feedback[row["file"]] = note
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


# --- one overview row per capture (pcapan report on many captures) ---------

REPORT_COLUMNS = ["file", "format", "packets", "tcp_streams", "udp_streams", "complete_handshakes", "duration_s",
                  "retransmissions", "duplicate_acks", "lost_segments", "zero_windows", "bad_checksums",
                  "offloaded_checksums", "truncated_frames", "malformed_frames", "warnings", "error"]
_COUNT_COLUMNS = [c for c in REPORT_COLUMNS[2:-2] if c != "duration_s"]


def report_error_row(file: str, message: str) -> dict:
    """The overview row of a capture that could not be analysed."""
    return {col: message if col == "error" else (file if col == "file" else [] if col == "warnings" else None)
            for col in REPORT_COLUMNS}


def _report_row(d) -> dict:
    """The overview row of a capture's report digest (:func:`pcap_analyzer.report.digest.digest`)."""
    facts = d.summary()
    checks = d.checksums
    tcp = d.streams[d.streams["proto"] == "tcp"] if len(d.streams) else d.streams

    def frames_with(label: str) -> int:
        """Frames carrying *label*: the streams table counts them per side."""
        return int(tcp[f"client_{label}"].sum() + tcp[f"server_{label}"].sum()) if len(tcp) else 0

    return {"error": None, "warnings": list(facts["warnings"]), "format": facts["format"],
            "packets": facts["packets"], "tcp_streams": facts["tcp_streams"], "udp_streams": facts["udp_streams"],
            "complete_handshakes": int((tcp["handshake"] == "complete").sum()) if len(tcp) else 0,
            "duration_s": round(facts["duration_s"], 6), "retransmissions": frames_with("retransmission"),
            "duplicate_acks": frames_with("duplicate_ack"), "lost_segments": frames_with("lost_segment"),
            "zero_windows": frames_with("zero_window"), "bad_checksums": checks["bad_frames"],
            "offloaded_checksums": checks["offloaded_frames"], "truncated_frames": facts["truncated_frames"],
            "malformed_frames": facts["malformed_frames"]}


def report_file(name: str, path: str | os.PathLike) -> dict:
    """The overview row of one capture; never raises."""
    from .report.digest import digest

    # read in chunks, as `pcapan report` does: memory bounded by streams, not frames
    return _guarded(name, path, _report_row, report_error_row, load=digest)


def report_many(files: list[tuple[str, Path]], workers: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """One overview row per capture of *files*, analysed on every core, in the order given."""
    rows = run_many(files, report_file, report_error_row, workers, progress)
    table = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    return table.astype({**{c: "Int64" for c in _COUNT_COLUMNS}, "duration_s": "float64",
                         "file": "string", "format": "string", "error": "string"})


# --- the pool ---------------------------------------------------------------

def _guarded(name, path, make_row: Callable, on_error: Callable[[str, str], dict],
             load: Callable | None = None) -> dict:
    """*make_row* of the analysis of *path* (by *load*, default :func:`.analysis.analyze`), with
    ``file`` set; any failure becomes *on_error*'s row."""
    from .analysis import analyze
    from .capture.info import CaptureError

    try:
        row = make_row((load or analyze)(path))
    except CaptureError as exc:
        return on_error(name, str(exc))
    except MemoryError:
        return on_error(name, "not enough memory to analyse this capture")
    except Exception as exc:  # one bad file must not stop the batch
        return on_error(name, f"internal error ({type(exc).__name__}: {exc})")
    row["file"] = name
    return row


def run_many(files: list[tuple[str, Path]], job: Callable[[str, str], dict],
             on_error: Callable[[str, str], dict], workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """``job(name, path)`` for every file, in *workers* processes (default: every core).

    *job* must be picklable (a module-level function or a partial of one)
    and never raise.  *progress*, if given, is called in this process with
    (done, total) after each file.  Returns the rows in the order of *files*.
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
            finished(i, job(name, str(path)))
    else:
        orphans = _in_pool(list(enumerate(files)), job, on_error, workers, finished)
        # A worker that died (a crash, the kernel's OOM killer) breaks the
        # whole pool; its files are tried again one at a time, so only the
        # file that kills a worker is lost, as an error row.
        for i, (name, path) in orphans:
            if _in_pool([(i, (name, path))], job, on_error, 1, finished):
                finished(i, on_error(name, "the worker process analysing this file died"))
    return [r for r in rows if r is not None]


def _in_pool(jobs, job, on_error, workers, finished) -> list:
    """Run *jobs* ((index, (name, path))) in a pool; return those lost to a broken pool."""
    lost = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = {pool.submit(job, name, str(path)): (i, (name, path)) for i, (name, path) in jobs}
        for future in as_completed(futures):
            i, (name, path) = futures[future]
            try:
                finished(i, future.result())
            except BrokenProcessPool:
                lost.append((i, (name, path)))
            except Exception as exc:  # pickling trouble and the like: still one row
                finished(i, on_error(name, f"internal error ({type(exc).__name__}: {exc})"))
    return sorted(lost, key=lambda item: item[0])


def _context():
    # A worker forked from this process starts with everything this process
    # has loaded (pandas and the pipeline), at no cost: the default
    # when nothing else runs here.  With other threads running a fork could
    # copy a lock some thread holds; then workers start from a clean server
    # process instead, which imports the analysis once for all of them.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return multiprocessing.get_context(None)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pcap_analyzer.report.digest", "pcap_analyzer.check"])
    return ctx
