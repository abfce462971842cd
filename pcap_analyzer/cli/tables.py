"""``pcapan report``, ``pcapan packets`` and ``pcapan streams``: a capture's tables and summary."""
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from .options import (CaptureArg, CapturesArg, FormatOpt, LabelOpt, OutputOpt, ProtoOpt, QuietOpt, StreamOpt,
                      WhereOpt, WiresharkOpt, WorkersOpt, app, fail, format_name)
from .output import emit, emit_with, render
from .running import load, load_digest, run

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
def packets(capture: CaptureArg, format: FormatOpt = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, label: LabelOpt = None,
            where: WhereOpt = None, quiet: QuietOpt = False, wireshark: WiresharkOpt = None) -> None:
    """One row per frame: stream, flags, raw and relative numbers, phase, labels."""
    fmt = format_name(format)
    if fmt == "csv" and stream is None and proto is None and not label and where is None:
        from ..report.packets_csv import streamable

        if streamable(capture):
            _packets_csv(capture, output, quiet)
            return
    a = load(capture, quiet)
    from ..report.documents import packets_document

    with selecting(capture):
        doc = packets_document(a, stream, proto.value if proto else None, label, for_table=fmt == "table",
                               where=where)
    emit(render(doc, fmt, "packets", output), output, capture)


def _packets_csv(capture: Path, output: Optional[Path], quiet: bool) -> None:
    """The whole packets table as csv, written chunk by chunk as the capture is read."""
    from types import SimpleNamespace

    from ..report.packets_csv import write_csv

    def job(path, progress=None):
        return SimpleNamespace(info=emit_with(lambda f: write_csv(path, f, progress), output, capture))

    run(capture, quiet, job)


@app.command()
def streams(capture: CaptureArg, format: FormatOpt = None, output: OutputOpt = None,
            stream: StreamOpt = None, proto: ProtoOpt = None, quiet: QuietOpt = False,
            wireshark: WiresharkOpt = None) -> None:
    """One row per TCP/UDP stream: endpoints, handshake, state, counts."""
    a = load_digest(capture, quiet, events=False)   # the streams table, read in chunks
    from ..report.documents import streams_document

    with selecting(capture):
        doc = streams_document(a, stream, proto.value if proto else None)
    emit(render(doc, format_name(format), "streams", output), output, capture)


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
def report(captures: CapturesArg, format: FormatOpt = None, output: OutputOpt = None,
           stream: StreamOpt = None, label: LabelOpt = None, where: WhereOpt = None,
           workers: WorkersOpt = None, quiet: QuietOpt = False, wireshark: WiresharkOpt = None) -> None:
    """A readable summary: capture facts, streams, notable frames; several captures: one row each.

    With --stream, --label or --where, every count, the checksum verdicts and the streams are those
    of the frames selected."""
    if is_batch(captures):
        if stream is not None or label or where is not None:
            raise fail("--stream, --label and --where apply to one capture; give a single file")
        _report_many(captures, format, output, workers, quiet)
        return
    capture = Path(captures[0])
    fmt = format_name(format)
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
    emit(render(doc, fmt, "streams", output), output, capture)


def _report_many(specs: list[str], format, output: Optional[Path], workers: Optional[int], quiet: bool) -> None:
    from ..batch import report_many

    files = batch_files(specs, output, "captures")
    with batch_progress(len(files), "analysing", quiet) as progress:
        table = report_many(files, workers, progress)
    emit(render({"captures": table}, format_name(format), "captures", output), output, None)
    failed = table["error"].notna().sum()
    if not quiet and failed:
        typer.echo(f"pcapan: {failed} of {len(table)} captures could not be analysed (see the error column)",
                   err=True)
