"""Running a library job on a capture for a command: a progress bar on long runs, one-line errors.

Library errors become one-line messages and exit status 2; nothing here
decides anything about packets.
"""
import os
import sys
from pathlib import Path

import typer

from .options import debugging, fail, printable

# Captures smaller than this are analysed before a progress display would help.
PROGRESS_MIN_BYTES = 8 * 1024 * 1024


def load(path: Path, quiet: bool):
    """The :class:`~pcap_analyzer.analysis.Analysis` of the capture at *path*."""
    from ..analysis import analyze

    return run(path, quiet, analyze)


def load_digest(path: Path, quiet: bool, events: bool):
    """What a report of *path* shows, read in chunks (memory bounded by streams, not frames)."""
    from ..report.digest import digest

    return run(path, quiet, lambda p, progress=None: digest(p, events=events, progress=progress))


def run(path: Path, quiet: bool, job):
    """``job(path[, progress])`` with a progress bar on a terminal for long captures; a capture that
    cannot be read ends the command with its one-line message (exit status 2)."""
    from ..capture.info import CaptureError, named

    source = "-" if str(path) == "-" else path
    name = os.path.basename(named(str(path)))     # as the progress bar and the warnings name it
    try:
        regular = source != "-" and path.is_file()
        size = path.stat().st_size if regular else None
        if quiet or not sys.stderr.isatty() or (size is not None and size < PROGRESS_MIN_BYTES):
            a = job(source)
        else:
            from .progress import ProgressBar

            with ProgressBar(name, wait=size is None) as bar:
                a = job(source, progress=bar.update)
    except CaptureError as exc:
        raise fail(str(exc)) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except MemoryError:
        raise fail(f"{path}: not enough memory to analyse this capture", 1) from None
    except Exception as exc:  # a bug must still not print a traceback at users
        if debugging():
            raise
        raise fail(f"{path}: internal error ({type(exc).__name__}: {exc}); "
                   "set PCAPAN_DEBUG=1 for details", 1) from None
    if not quiet:
        for w in a.info.warnings:
            typer.echo(printable(f"pcapan: warning: {name}: {w}"), err=True)
    return a
