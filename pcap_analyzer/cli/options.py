"""The options the commands share, defined once (typer's ``Annotated`` aliases), and the app itself.

Command modules decorate :data:`app` with their commands; :mod:`pcap_analyzer.cli`
imports them all.  (No ``from __future__ import annotations`` here or in the
command modules: typer reads the aliases as real annotations.)
"""
import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..report import FORMATS

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


CaptureArg = Annotated[Path, typer.Argument(
    help="Capture file: pcap or pcapng, optionally gzip-compressed; '-' reads standard input.",
    show_default=False)]
CapturesArg = Annotated[list[str], typer.Argument(
    help="A capture file ('-': standard input); or a directory, a glob pattern or several files (one row "
         "per capture, analysed on every core).", show_default=False)]
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
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", "-j", help="Processes for several captures, one capture each (default: one per core).",
    show_default=False, min=1)]


def format_name(fmt: Optional[Format]) -> str:
    return fmt.value if fmt is not None else "table"


def fail(message: str, code: int = 2) -> "typer.Exit":
    """The one-line error every command ends with when it cannot do its job."""
    typer.echo(f"pcapan: {message}", err=True)
    return typer.Exit(code)


def debugging() -> bool:
    return bool(os.environ.get("PCAPAN_DEBUG"))
