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

app = typer.Typer(
    help="Read a packet capture and explain what TCP did in it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Proto(str, Enum):
    tcp = "tcp"
    udp = "udp"


CaptureArg = Annotated[Path, typer.Argument(
    help="Capture file: pcap or pcapng, optionally gzip-compressed; '-' reads standard input.",
    show_default=False)]
CapturesArg = Annotated[list[str], typer.Argument(
    help="A capture file ('-': standard input); or a directory, a glob pattern or several files (one row "
         "per capture, analysed on every core).", show_default=False)]
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
ColumnsOpt = Annotated[Optional[str], typer.Option(
    "--columns", "-c", metavar="A,B,...", show_default=False,
    help="Only these columns of the table, in this order (names as in --format csv's header), in every "
         "format; on a terminal long text wraps to make room for them.")]
WideOpt = Annotated[bool, typer.Option(
    "--wide", help="On a terminal too, every column with every cell on one line, however wide "
                   "(as when written to a file or a pipe).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or warnings on stderr.")]
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", "-j", help="Processes for several captures, one capture each (default: one per core).",
    show_default=False, min=1)]


def printable(text: str) -> str:
    """*text* with control characters (a newline or a terminal escape in a file name or a capture's
    comment) written as escapes, so that a message stays one line and cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def picked_columns(text: Optional[str], names: list[str], aliases: Optional[dict] = None) -> Optional[list[str]]:
    """The columns ``--columns`` names (*text*), each one of *names* (or a short name of *aliases*,
    name -> short name); a name the table lacks ends the command naming the nearest and the rest."""
    if text is None:
        return None
    import difflib

    by_alias = {short: name for name, short in (aliases or {}).items()}
    picked = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name = item if item in names else by_alias.get(item)
        if name is None:
            near = difflib.get_close_matches(item, list(names) + list(by_alias), n=1, cutoff=0.6)
            did = f" (did you mean {near[0]}?)" if near else ""
            raise fail(f"--columns: no column {item!r}{did}; the columns are {', '.join(names)}")
        if name not in picked:
            picked.append(name)
    if not picked:
        raise fail(f"--columns: no column named; the columns are {', '.join(names)}")
    return picked


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


def fail(message: str, code: int = 2) -> "typer.Exit":
    """The one-line error every command ends with when it cannot do its job."""
    typer.echo(f"pcapan: {printable(message)}", err=True)
    return typer.Exit(code)


def debugging() -> bool:
    return bool(os.environ.get("PCAPAN_DEBUG"))
