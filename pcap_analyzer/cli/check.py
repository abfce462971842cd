"""``pcapan check``: grade TCP lab submissions, one capture or a whole folder.

The rubric and the answers are decided in :mod:`pcap_analyzer.check`, the
batch in :mod:`pcap_analyzer.batch`.
"""
from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import FormatOpt, OutputOpt, QuietOpt, WiresharkOpt, WorkersOpt, app, fail, format_name
from .output import emit, render, write_atomically
from .running import run
from .tables import batch_files, batch_progress, is_batch

CapturesArg = Annotated[list[str], typer.Argument(
    help="A capture file; or a directory, a glob pattern or several files to grade as a batch "
         "(one row per submission).", show_default=False)]
ServerOpt = Annotated[Optional[str], typer.Option(
    "--server", help="The server the student was asked to capture: HOST or HOST:PORT (IP address, "
                     "[IPv6]:PORT). Default: the TCP conversation with a complete handshake and the most "
                     "payload.", show_default=False)]
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", help="Also write the conversation's time-sequence graph (slow start) to this PNG "
                   "(SVG/PDF by the name); one capture only.", show_default=False)]


@app.command()
def check(captures: CapturesArg, server: ServerOpt = None, format: FormatOpt = None,
          output: OutputOpt = None, plot: PlotOpt = None, workers: WorkersOpt = None,
          quiet: QuietOpt = False, wireshark: WiresharkOpt = None) -> None:
    """Grade a TCP lab capture: rubric verdicts with frame evidence and the lab's answers; a folder gives a grade sheet."""
    from ..check import CheckError, parse_server

    if server is not None:
        try:
            parse_server(server)
        except CheckError as exc:
            raise fail(str(exc)) from None
    fmt = format_name(format)
    if is_batch(captures):
        if plot is not None:
            raise fail("--plot draws one conversation: give a single capture file")
        _batch(captures, server, fmt, output, workers, quiet)
        return
    capture = Path(captures[0])
    from ..check import check_file

    graded = {}

    def job(path, progress=None):
        # read chunk by chunk: memory grows with streams, not frames
        graded["result"], a = check_file(path, server, progress)
        return a

    a = run(capture, quiet, job)
    result = graded["result"]
    if fmt == "csv":
        import pandas as pd

        data = render({"grades": pd.DataFrame([result.summary])}, "csv", "grades", output)
    else:
        data = render(result.document(), fmt, "rubric", output)
    if plot is not None:
        _plot(a, result, plot, capture, quiet)
    emit(data, output, capture)


def _plot(a, result, path: Path, capture: Path, quiet: bool) -> None:
    if result.stream is None:
        raise fail(f"{capture}: no TCP conversation to plot")
    import matplotlib

    matplotlib.use("Agg")
    from ..plot import PlotError, image_format, time_sequence_image

    try:
        image = time_sequence_image(a.packets, result.stream, image_format(path))
    except PlotError as exc:  # a conversation without data
        raise fail(f"{capture}: {exc}") from None
    write_atomically(path, image, capture)
    if not quiet:
        typer.echo(f"pcapan: wrote {path} (TCP stream {result.stream})", err=True)


def _batch(specs, server, fmt, output, workers, quiet) -> None:
    from ..batch import check_many

    files = batch_files(specs, output, "submissions")
    with batch_progress(len(files), "grading", quiet) as progress:
        grades = check_many(files, server, workers, progress)
    data = render({"submissions": grades}, fmt, "submissions", output)
    emit(data, output, None)
    if not quiet:
        counts = grades["overall"].value_counts()
        typer.echo("pcapan: graded " + ", ".join(f"{n} {v}" for v, n in counts.items()), err=True)
