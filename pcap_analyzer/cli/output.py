"""Writing what a command made: rendered text to stdout or to a file, which is replaced atomically."""
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .options import fail


def render(doc, fmt: str, main: str, output: Optional[Path]):
    """*doc* rendered as *fmt* (bytes, or blocks of them), for a terminal when it goes to one."""
    from ..report.writers import render_blocks

    if fmt == "html":
        raise fail("--format html: a page is made by report, streams and check (of one capture)")
    color = output is None and sys.stdout.isatty() and fmt == "table"
    width = None
    if fmt == "table" and output is None and sys.stdout.isatty():
        width = os.get_terminal_size().columns
    return render_blocks(doc, fmt, main, width=width, color=color)


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
