"""The ``pcapan`` command line: a thin typer layer over the library.

Library errors become one-line messages and exit status 2; nothing here
decides anything about packets.
"""
from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .analysis import Analysis, analyze
from .export import ExportError, replace_atomically
from .reader import CaptureError
from .report import FORMATS, packets_document, render, report_document, streams_document

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


def _load(path: Path, quiet: bool) -> Analysis:
    try:
        size = path.stat().st_size if path.is_file() else 0
        if quiet or size < _PROGRESS_MIN_BYTES or not sys.stderr.isatty():
            a = analyze(path)
        else:
            from rich.console import Console

            # A spinner on stderr naming the step under way; it vanishes when done.
            with Console(stderr=True).status(f"{path.name}: reading") as status:
                a = analyze(path, progress=lambda step: status.update(f"{path.name}: {step}"))
    except CaptureError as exc:
        raise _fail(str(exc)) from None
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


def _emit(text: str, output: Optional[Path], capture: Path) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    write_atomically(output, text.encode("utf-8"), capture)


def write_atomically(output: Path, data: bytes, capture: Path | None = None) -> None:
    """Write *data* to *output* through a temporary file and a rename (see export)."""
    def write(path: str) -> None:
        with open(path, "wb") as f:
            f.write(data)

    try:
        replace_atomically(output, write, capture)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{output}: cannot write ({exc.strerror or exc})") from None


def _fmt(fmt: Optional[Format]) -> str:
    return fmt.value if fmt is not None else "table"


def _render(doc, fmt: str, main: str, output: Optional[Path]) -> str:
    color = output is None and sys.stdout.isatty() and fmt == "table"
    width = None
    if fmt == "table" and output is None and sys.stdout.isatty():
        width = os.get_terminal_size().columns
    return render(doc, fmt, main, width=width, color=color)


@app.command()
def packets(capture: CaptureArg, format: FormatOpt = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, label: LabelOpt = None,
            quiet: QuietOpt = False) -> None:
    """One row per frame: stream, flags, raw and relative numbers, phase, labels."""
    a = _load(capture, quiet)
    fmt = _fmt(format)
    doc = packets_document(a, stream, proto.value if proto else None, label, for_table=fmt == "table")
    _emit(_render(doc, fmt, "packets", output), output, capture)


@app.command()
def streams(capture: CaptureArg, format: FormatOpt = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, quiet: QuietOpt = False) -> None:
    """One row per TCP/UDP stream: endpoints, handshake, state, counts."""
    a = _load(capture, quiet)
    doc = streams_document(a, stream, proto.value if proto else None)
    _emit(_render(doc, _fmt(format), "streams", output), output, capture)


@app.command()
def report(capture: CaptureArg, format: FormatOpt = None, output: OutputOpt = None,
           stream: StreamOpt = None, label: LabelOpt = None, quiet: QuietOpt = False) -> None:
    """A readable summary: capture facts, streams, notable frames."""
    a = _load(capture, quiet)
    fmt = _fmt(format)
    doc = report_document(a, stream, label, for_table=fmt in ("table", "markdown"))
    _emit(_render(doc, fmt, "streams", output), output, capture)


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
    except BrokenPipeError:
        # `pcapan packets x | head`: the reader went away; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
