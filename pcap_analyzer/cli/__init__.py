"""The ``pcapan`` command line: a thin typer layer over the library.

Each command module adds its commands to the one app (:mod:`.options`
holds it and the options they share); nothing here decides anything about
packets.  The library is imported inside the commands: a report starts
reading the capture on a thread of its own before pandas and the writers
are loaded.
"""
import os
import signal
import sys

# pcapan does no linear algebra: numpy's BLAS would only start threads that
# spin and take a core from the analysis (set before numpy is first imported)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from .. import __version__  # noqa: E402
from ..files import remove_unfinished  # noqa: E402
from . import analyst, annotate, check, tables  # noqa: E402,F401  (each adds its commands to the app)
from .options import app  # noqa: E402


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pcapan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Read a packet capture and explain what TCP did in it."""


def _stop(signum, frame) -> None:
    # Unwinds like Ctrl-C does, so that a half-written output's temporary file is removed.
    raise SystemExit(128 + signum)


def main() -> None:
    """Entry point: run the app; usage errors exit 2 (click's convention)."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is signal.SIG_DFL:
            signal.signal(getattr(signal, name), _stop)
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code
    # what a signal stopped between making a temporary file and cleaning it up left behind
    remove_unfinished()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    # Everything is written; tearing the interpreter down (pandas and the
    # rest, object by object) would take a good part of a second more.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code or 0)


__all__ = ["app", "main"]
