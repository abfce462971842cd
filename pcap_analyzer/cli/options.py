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
def _known_labels(labels: Optional[list[str]]) -> Optional[list[str]]:
    """--label checked before anything is read: a typo is an error, not an empty table."""
    from ..selection import SelectionError, check_labels

    try:
        check_labels(labels)
    except SelectionError as exc:
        raise fail(str(exc)) from None
    return labels


def _plain_condition(expr: Optional[str]) -> Optional[str]:
    """--where checked against the packets table's columns before anything is read."""
    if expr is None:
        return None
    from ..schema import PACKET_COLUMNS, column_names
    from ..selection import SelectionError, check_where

    try:
        check_where(expr, column_names(PACKET_COLUMNS))
    except SelectionError as exc:
        raise fail(str(exc)) from None
    return expr


StreamOpt = Annotated[Optional[int], typer.Option(
    "--stream", "-s", help="Only this stream (TCP's; UDP's when there is no such TCP stream, or with "
                           "--proto udp). A stream the capture does not have is an error.",
    show_default=False, min=0)]
ProtoOpt = Annotated[Optional[Proto], typer.Option("--proto", "-p", help="Only this protocol.", show_default=False)]
LabelOpt = Annotated[Optional[list[str]], typer.Option("--label", "-l",
                                                       help="Only frames with this label (repeatable; "
                                                            "an unknown label is an error).",
                                                       show_default=False, callback=_known_labels)]
WhereOpt = Annotated[Optional[str], typer.Option(
    "--where", "-w", metavar="EXPR", show_default=False, callback=_plain_condition,
    help="Only frames for which EXPR holds: a condition on the packets table's columns, evaluated by "
         "pandas' DataFrame.query (python engine), e.g. \"rel_seq > 1000 and stream == 3\" or "
         "\"phase in ['syn', 'fin']\". Only column names, numbers, quoted text, comparisons, arithmetic, "
         "and/or/not and in are accepted (checked before it is evaluated); no function calls, "
         "attributes or @variables.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or warnings on stderr.")]
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", "-j", help="Processes for several captures, one capture each (default: one per core).",
    show_default=False, min=1)]



def _wireshark_release(value: Optional[str]) -> Optional[str]:
    """--wireshark checked before anything is read, and made the release every analysis of this run follows
    (through the environment, so that worker processes follow it too)."""
    if value is None:
        return None
    from ..vocabulary import WIRESHARK_ENV, UnknownWireshark, wireshark_version

    try:
        os.environ[WIRESHARK_ENV] = wireshark_version(value)
    except UnknownWireshark as exc:
        raise fail(str(exc)) from None
    return value


WiresharkOpt = Annotated[Optional[str], typer.Option(
    "--wireshark", metavar="VERSION", show_default=False, callback=_wireshark_release,
    help="Label frames as this Wireshark release does where releases differ: 4.6 (default), 4.4 or 4.0 "
         "(also PCAPAN_WIRESHARK).")]


def format_name(fmt: Optional[Format]) -> str:
    return fmt.value if fmt is not None else "table"


def fail(message: str, code: int = 2) -> "typer.Exit":
    """The one-line error every command ends with when it cannot do its job."""
    typer.echo(f"pcapan: {message}", err=True)
    return typer.Exit(code)


def debugging() -> bool:
    return bool(os.environ.get("PCAPAN_DEBUG"))
