"""Writing what a command made: rendered text to stdout or to a file, which is replaced atomically."""
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .options import fail


def terminal_width(fmt: str, output: Optional[Path]) -> Optional[int]:
    """The width a text table is laid out for: the terminal's when standard output is one (``COLUMNS``
    when it is set, or the terminal's size is unknown; 80 when neither says); None elsewhere (a
    file, a pipe: nothing is cut or wrapped there)."""
    if fmt != "table" or output is not None or not sys.stdout.isatty():
        return None
    import shutil

    columns = shutil.get_terminal_size((0, 0)).columns     # COLUMNS first, then the terminal
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            columns = 0
    return columns if columns > 0 else 80


def render(doc, fmt: str, main: str, output: Optional[Path], layouts=None, hint: str = "", wide: bool = False):
    """*doc* rendered as *fmt* (bytes, or blocks of them), laid out for the terminal when it goes to one
    (*layouts*: the sections' :class:`~pcap_analyzer.report.terminal.Layout`; *hint*: how to see what
    the width leaves out); with *wide*, as wide as the table."""
    from ..report.writers import render_blocks

    if fmt == "html":
        raise fail("--format html: a page is made by report, streams and check (of one capture)")
    width = None if wide else terminal_width(fmt, output)
    color = fmt == "table" and output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return render_blocks(doc, fmt, main, width=width, color=color, layouts=layouts, hint=hint)


def emit(data, output: Optional[Path], capture: Path | None) -> None:
    """Write rendered output (UTF-8 bytes, or consecutive blocks of them) to *output*, or to stdout."""
    emit_with(_writer(data), output, capture)


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


def emit_with(write, output: Optional[Path], capture: Path | None):
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
    return write_file(output, write, capture)


def write_atomically(output: Path, data, capture: Path | None = None) -> None:
    """Write *data* (bytes, or consecutive blocks of them) to *output* through a temporary file and a
    rename."""
    write_file(output, _writer(data), capture)


def write_file(output: Path, write, capture: Path | None):
    """``write(f)`` with *f* open on a temporary file that then replaces *output*; returns what it
    returns."""
    from ..files import ExportError, replace_atomically

    result = []

    def to(path: str) -> None:
        with open(path, "wb") as f:
            result.append(write(f))

    try:
        replace_atomically(output, to, capture if capture is not None and str(capture) != "-" else None)
    except ExportError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{output}: cannot write ({exc.strerror or exc})") from None
    return result[0]
