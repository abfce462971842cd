"""``pcapan report``, ``pcapan packets`` and ``pcapan streams``: a capture's tables and summary."""
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from .formats import Formats
from .options import (CaptureArg, CapturesArg, ColumnsOpt, LabelOpt, OutputOpt, ProtoOpt, QuietOpt, StreamOpt,
                      WhereOpt, WideOpt, WiresharkOpt, WorkersOpt, app, fail, picked_columns)
from .html import emit_html
from .output import emit, emit_with, render, terminal_width
from .running import load, load_digest, run

# The formats each command writes, its default first.
PACKETS = Formats("packets", "table", "csv", "json", "markdown", "parquet")
STREAMS = Formats("streams", "table", "csv", "json", "markdown", "parquet", "html")
REPORT = Formats("report", "table", "csv", "json", "markdown", "html")

# Under a table laid out for a terminal: how to see the columns it left out.
_TABLE_HINT = "--wide shows every column, --columns picks them"

# A batch this long gets a progress bar (on a terminal, without --quiet).
_PROGRESS_MIN_FILES = 8


@contextmanager
def selecting(capture: Path):
    """A selection of nothing the capture has (a stream it lacks, an expression that cannot be
    evaluated on its frames) ends the command with a one-line error naming what there is."""
    from ..selection import SelectionError

    try:
        yield
    except SelectionError as exc:
        raise fail(f"{capture}: {exc}") from None


@app.command()
def packets(capture: CaptureArg, format: PACKETS.option = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, label: LabelOpt = None,
            where: WhereOpt = None, columns: ColumnsOpt = None, wide: WideOpt = False,
            quiet: QuietOpt = False, wireshark: WiresharkOpt = None) -> None:
    """One row per frame: stream, flags, raw and relative numbers, phase, labels, what it does."""
    from ..schema import PACKET_COLUMNS, column_names

    fmt = PACKETS.choose(format, output)
    layout = _layouts()["packets"]
    picked = picked_columns(columns, column_names(PACKET_COLUMNS), layout.headers)
    if fmt == "csv" and stream is None and proto is None and not label and where is None and picked is None:
        from ..report.packets_csv import streamable

        if streamable(capture):
            _packets_csv(capture, output, quiet)
            return
    a = load(capture, quiet)
    from ..report.documents import PACKET_TABLE_COLUMNS, packets_document

    terminal = terminal_width(fmt, output) is not None and not wide
    if picked is None and fmt == "table" and not wide:
        # a terminal's layout picks from every column; a file or a pipe gets the text table's columns
        picked = None if terminal else PACKET_TABLE_COLUMNS
    with selecting(capture):
        doc = packets_document(a, stream, proto.value if proto else None, label, where=where, columns=picked)
    layouts = {"packets": layout.keeping_order() if columns is not None else layout}
    emit(render(doc, fmt, "packets", output, layouts, _TABLE_HINT, wide), output, capture)


def _layouts() -> dict:
    from ..report.documents import TERMINAL_LAYOUTS

    return TERMINAL_LAYOUTS


def _packets_csv(capture: Path, output: Optional[Path], quiet: bool) -> None:
    """The whole packets table as csv, written chunk by chunk as the capture is read."""
    from types import SimpleNamespace

    from ..report.packets_csv import write_csv

    def job(path, progress=None):
        return SimpleNamespace(info=emit_with(lambda f: write_csv(path, f, progress), output, capture))

    run(capture, quiet, job)


@app.command()
def streams(capture: CaptureArg, format: STREAMS.option = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, columns: ColumnsOpt = None, wide: WideOpt = False,
            quiet: QuietOpt = False, wireshark: WiresharkOpt = None) -> None:
    """One row per TCP/UDP stream: endpoints, ISNs, handshake, state, counts (on a terminal, a line per
    stream of what matters first)."""
    from ..schema import STREAM_COLUMNS, column_names

    fmt = STREAMS.choose(format, output)
    picked = picked_columns(columns, column_names(STREAM_COLUMNS))
    if fmt == "html":
        return emit_html("streams", capture, output, quiet, stream=stream)
    a = load_digest(capture, quiet, events=False)   # the streams table, read in chunks
    from ..report.documents import streams_document

    overview = picked is None and not wide and terminal_width(fmt, output) is not None
    with selecting(capture):
        doc = streams_document(a, stream, proto.value if proto else None, columns=picked, overview=overview)
    emit(render(doc, fmt, "streams", output, _layouts(), _TABLE_HINT, wide), output, capture)


def is_batch(specs: list[str]) -> bool:
    """True when *specs* name more than one capture: several names, a directory or a glob pattern."""
    from ..files import is_pattern

    return len(specs) != 1 or Path(specs[0]).is_dir() or is_pattern(specs[0])


@contextmanager
def batch_progress(total: int, verb: str, quiet: bool):
    """A progress bar on stderr for a long batch on a terminal; yields the (done, total) callback or None."""
    import sys

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
    from ..files import collect

    if "-" in specs:
        raise fail("'-' (standard input) is read as the only capture of a command; "
                   "give the other captures in a run of their own")
    files = collect(specs)
    if not files:
        raise fail(f"no {what} found in {' '.join(specs)}")
    if output is not None and output.resolve() in {p.resolve() for _, p in files}:
        raise fail(f"{output}: is one of the {what}; write elsewhere")
    return files


@app.command()
def report(captures: CapturesArg, format: REPORT.option = None, output: OutputOpt = None,
           stream: StreamOpt = None, label: LabelOpt = None, where: WhereOpt = None,
           wide: WideOpt = False, workers: WorkersOpt = None, quiet: QuietOpt = False,
           wireshark: WiresharkOpt = None) -> None:
    """A readable summary: capture facts, streams, notable frames; several captures: one row each.

    With --stream, --label or --where, every count, the checksum verdicts and the streams are those
    of the frames selected."""
    fmt = REPORT.choose(format, output)
    if fmt == "html" and not is_batch(captures):
        if label or where is not None:
            raise fail("--label and --where: a page shows every frame (its tables filter by label)")
        return emit_html("report", Path(captures[0]), output, quiet, stream=stream)
    if is_batch(captures):
        if stream is not None or label or where is not None:
            raise fail("--stream, --label and --where apply to one capture; give a single file")
        _report_many(captures, fmt, output, wide, workers, quiet)
        return
    capture = Path(captures[0])
    for_table = fmt in ("table", "markdown")
    if stream is None and not label and where is None:
        # The whole capture: read in chunks, so memory stays bounded on big files.
        # csv carries the streams only; json lists every labelled frame as well
        d = load_digest(capture, quiet, events=fmt == "json")
        from ..report.documents import digest_document

        doc = digest_document(d, for_table)
    else:
        a = load(capture, quiet)
        from ..report.documents import report_document

        with selecting(capture):
            doc = report_document(a, stream, label, for_table=for_table, where=where)
    emit(render(doc, fmt, "streams", output, _layouts(), "--wide shows every column", wide), output, capture)


def _report_many(specs: list[str], fmt: str, output: Optional[Path], wide: bool, workers: Optional[int],
                 quiet: bool) -> None:
    from ..batch import report_many

    files = batch_files(specs, output, "captures")
    with batch_progress(len(files), "analysing", quiet) as progress:
        table = report_many(files, workers, progress)
    emit(render({"captures": table}, fmt, "captures", output, hint="--wide shows every column", wide=wide),
         output, None)
    failed = table["error"].notna().sum()
    if not quiet and failed:
        typer.echo(f"pcapan: {failed} of {len(table)} captures could not be analysed (see the error column)",
                   err=True)
