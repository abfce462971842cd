"""The ``pcapan`` command line: a thin typer layer over the library.

Library errors become one-line messages and exit status 2; nothing here
decides anything about packets.  The library is imported inside the
commands: a report starts reading the capture on the compiled engine's
thread before pandas and the writers are loaded (see :func:`_load_digest`).
"""
from __future__ import annotations

import os
import sys

# pcapan does no linear algebra: numpy's BLAS would only start threads that
# spin and take a core from the engine (set before numpy is first imported)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .report import FORMATS

app = typer.Typer(
    help="Read a packet capture and explain what TCP did in it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Format = Enum("Format", {f: f for f in FORMATS}, type=str)  # type: ignore[misc]


class Proto(str, Enum):
    tcp = "tcp"
    udp = "udp"


CaptureArg = Annotated[Path, typer.Argument(help="Capture file: pcap or pcapng, optionally gzip-compressed.",
                                            show_default=False)]
FormatOpt = Annotated[Optional[Format], typer.Option("--format", "-f", help="Output format (default: table).",
                                                     show_default=False)]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.",
                                                   show_default=False)]
StreamOpt = Annotated[Optional[int], typer.Option("--stream", "-s", help="Only this stream index.",
                                                  show_default=False, min=0)]
ProtoOpt = Annotated[Optional[Proto], typer.Option("--proto", "-p", help="Only this protocol.", show_default=False)]
LabelOpt = Annotated[Optional[list[str]], typer.Option("--label", "-l",
                                                       help="Only frames with this label (repeatable).",
                                                       show_default=False)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or warnings on stderr.")]

# Captures smaller than this are analysed before a progress display would help.
_PROGRESS_MIN_BYTES = 8 * 1024 * 1024


def _fail(message: str, code: int = 2) -> "typer.Exit":
    typer.echo(f"pcapan: {message}", err=True)
    return typer.Exit(code)


def _load(path: Path, quiet: bool) -> "Analysis":
    from .analysis import analyze

    return _run(path, quiet, analyze)


def _load_digest(path: Path, quiet: bool, events: bool):
    """What a report of *path* shows, read in chunks (memory bounded by streams, not frames).

    The compiled engine reads the capture on a thread of its own while this
    one loads the libraries that make and write the report's tables.
    """
    from . import engine

    def job(p, progress=None):
        if not engine.available():
            from .streaming import digest

            return digest(p, events=events, progress=progress)
        reads = engine.Background(lambda: engine.report_reads(p, events, progress))
        # meanwhile: pandas and the code that makes and writes the report's tables
        from . import results, streaming  # noqa: F401
        from .report import documents, writers  # noqa: F401

        return results.digest_of(*reads.result())

    return _run(path, quiet, job)


def _run(path: Path, quiet: bool, job):
    from . import engine
    from .reader import CaptureError

    if engine._engine is None and not quiet:
        typer.echo("pcapan: note: the compiled engine is not built (pip install needs a C++ compiler); "
                   "analysing with the readable pipeline, which is much slower", err=True)
    try:
        size = path.stat().st_size if path.is_file() else 0
        if quiet or size < _PROGRESS_MIN_BYTES or not sys.stderr.isatty():
            a = job(path)
        else:
            from rich.console import Console

            # A spinner on stderr naming the step under way; it vanishes when done.
            with Console(stderr=True).status(f"{path.name}: reading") as status:
                a = job(path, progress=lambda step: status.update(f"{path.name}: {step}"))
    except CaptureError as exc:
        raise _fail(str(exc)) from None
    except typer.Exit:
        raise
    except MemoryError:
        raise _fail(f"{path}: not enough memory to analyse this capture", 1) from None
    except Exception as exc:  # a bug must still not print a traceback at users
        if os.environ.get("PCAPAN_DEBUG"):
            raise
        raise _fail(f"{path}: internal error ({type(exc).__name__}: {exc}); "
                    "set PCAPAN_DEBUG=1 for details", 1) from None
    if not quiet:
        for w in a.info.warnings:
            typer.echo(f"pcapan: warning: {path.name}: {w}", err=True)
    return a


class _Written:
    """What a job that wrote its output itself hands back to :func:`_run`: the capture's info."""

    def __init__(self, info) -> None:
        self.info = info


def _emit(data, output: Optional[Path], capture: Path | None) -> None:
    """Write rendered output (UTF-8 bytes, or consecutive blocks of them) to *output*, or to stdout."""
    _emit_with(_writer(data), output, capture)


def _writer(data):
    """A function writing *data* (bytes, or consecutive blocks of them) to the binary file it is given."""
    blocks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data

    def write(f) -> None:
        for block in blocks:
            f.write(block)
    return write


class _TextOut:
    """A text-only stdout (some notebook or test harnesses) taking UTF-8 bytes."""

    def __init__(self, text) -> None:
        self._text = text

    def write(self, block) -> None:
        self._text.write(bytes(block).decode("utf-8"))


def _emit_with(write, output: Optional[Path], capture: Path | None):
    """``write(f)`` with *f* a binary file for *output*, or stdout; returns what it returns."""
    if output is None:
        out = getattr(sys.stdout, "buffer", None)
        try:
            sys.stdout.flush()
            result = write(out if out is not None else _TextOut(sys.stdout))
            (out or sys.stdout).flush()
        except BrokenPipeError:
            # `pcapan packets x | head`: the reader went away; that is not an error.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        return result
    return _write_file(output, write, capture)


def write_atomically(output: Path, data, capture: Path | None = None) -> None:
    """Write *data* (bytes, or consecutive blocks of them) to *output* through a temporary file and a
    rename (see export)."""
    _write_file(output, _writer(data), capture)


def _write_file(output: Path, write, capture: Path | None):
    """``write(f)`` with *f* open on a temporary file that then replaces *output*; returns what it
    returns."""
    from .files import ExportError, replace_atomically

    result = []

    def to(path: str) -> None:
        with open(path, "wb") as f:
            result.append(write(f))

    try:
        replace_atomically(output, to, capture)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{output}: cannot write ({exc.strerror or exc})") from None
    return result[0]


def _fmt(fmt: Optional[Format]) -> str:
    return fmt.value if fmt is not None else "table"


def _render(doc, fmt: str, main: str, output: Optional[Path]):
    color = output is None and sys.stdout.isatty() and fmt == "table"
    width = None
    if fmt == "table" and output is None and sys.stdout.isatty():
        width = os.get_terminal_size().columns
    from .report.writers import render_blocks

    return render_blocks(doc, fmt, main, width=width, color=color)


@app.command()
def packets(capture: CaptureArg, format: FormatOpt = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, label: LabelOpt = None,
            quiet: QuietOpt = False) -> None:
    """One row per frame: stream, flags, raw and relative numbers, phase, labels."""
    fmt = _fmt(format)
    if fmt == "csv" and stream is None and proto is None and not label:
        from . import packet_csv

        if packet_csv.available():
            # the whole table as csv, written chunk by chunk as the engine reads the capture
            def write(path: Path, progress=None):
                info, _reads = _emit_with(lambda f: packet_csv.write_csv(path, f, progress), output, capture)
                return _Written(info)

            _run(capture, quiet, write)
            return
    a = _load(capture, quiet)
    from .report.documents import packets_document

    doc = packets_document(a, stream, proto.value if proto else None, label, for_table=fmt == "table")
    _emit(_render(doc, fmt, "packets", output), output, capture)


CapturesArg = Annotated[list[str], typer.Argument(
    help="A capture file; or a directory, a glob pattern or several files (one row per capture, "
         "analysed on every core).", show_default=False)]
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", "-j", help="Processes for several captures, one capture each (default: one per core).",
    show_default=False, min=1)]


@app.command()
def streams(capture: CaptureArg, format: FormatOpt = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, quiet: QuietOpt = False) -> None:
    """One row per TCP/UDP stream: endpoints, handshake, state, counts."""
    a = _load_digest(capture, quiet, events=False)   # the streams table, read in chunks
    from .report.documents import streams_document

    doc = streams_document(a, stream, proto.value if proto else None)
    _emit(_render(doc, _fmt(format), "streams", output), output, capture)


# A batch this long gets a progress bar (on a terminal, without --quiet).
_PROGRESS_MIN_FILES = 8


def is_batch(specs: list[str]) -> bool:
    """True when *specs* name more than one capture: several names, a directory or a glob pattern."""
    from .files import is_pattern

    return len(specs) != 1 or Path(specs[0]).is_dir() or is_pattern(specs[0])


@contextmanager
def batch_progress(total: int, verb: str, quiet: bool):
    """A progress bar on stderr for a long batch on a terminal; yields the (done, total) callback or None."""
    if quiet or total < _PROGRESS_MIN_FILES or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # Redrawn after each file rather than by a refresh thread: with no thread
    # running, the worker processes can be forked from this one (see batch).
    with Progress(TextColumn(verb), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True, auto_refresh=False) as bar:
        task = bar.add_task(verb, total=total)
        bar.refresh()
        yield lambda done, _total: bar.update(task, completed=done, refresh=True)


def batch_files(specs: list[str], output: Optional[Path], what: str) -> list:
    """The (name, path) of every capture *specs* name; a clean exit when there is none."""
    from .files import collect

    files = collect(specs)
    if not files:
        raise _fail(f"no {what} found in {' '.join(specs)}")
    if output is not None and output.resolve() in {p.resolve() for _, p in files}:
        raise _fail(f"{output}: is one of the {what}; write elsewhere")
    return files


@app.command()
def report(captures: CapturesArg, format: FormatOpt = None, output: OutputOpt = None,
           stream: StreamOpt = None, label: LabelOpt = None, workers: WorkersOpt = None,
           quiet: QuietOpt = False) -> None:
    """A readable summary: capture facts, streams, notable frames; several captures: one row each."""
    if is_batch(captures):
        if stream is not None or label:
            raise _fail("--stream and --label apply to one capture; give a single file")
        _report_many(captures, format, output, workers, quiet)
        return
    capture = Path(captures[0])
    fmt = _fmt(format)
    for_table = fmt in ("table", "markdown")
    if stream is None and not label:
        # The whole capture: read in chunks, so memory stays bounded on big files.
        # csv carries the streams only; json lists every labelled frame as well
        d = _load_digest(capture, quiet, events=fmt == "json")
        from .report.documents import digest_document

        doc = digest_document(d, for_table)
    else:
        a = _load(capture, quiet)
        from .report.documents import report_document

        doc = report_document(a, stream, label, for_table=for_table)
    _emit(_render(doc, fmt, "streams", output), output, capture)


def _report_many(specs: list[str], format, output: Optional[Path], workers: Optional[int], quiet: bool) -> None:
    from .batch import report_many

    files = batch_files(specs, output, "captures")
    with batch_progress(len(files), "analysing", quiet) as progress:
        table = report_many(files, workers, progress)
    _emit(_render({"captures": table}, _fmt(format), "captures", output), output, None)
    failed = table["error"].notna().sum()
    if not quiet and failed:
        typer.echo(f"pcapan: {failed} of {len(table)} captures could not be analysed (see the error column)",
                   err=True)


# Commands that live in their own modules register themselves on the app:
# each module has register(app) and reuses the option types above.
from . import cli_analyst  # noqa: E402
from . import cli_check  # noqa: E402
from . import cli_annotate  # noqa: E402
for _module in (cli_analyst, cli_check, cli_annotate):
    _module.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pcapan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Read a packet capture and explain what TCP did in it."""


def main() -> None:
    """Entry point: run the app; usage errors exit 2 (click's convention)."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code
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
