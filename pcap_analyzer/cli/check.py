"""``pcapan check``: grade TCP lab submissions, one capture or a whole class.

The rubric and the answers are decided in :mod:`pcap_analyzer.check` and
:mod:`pcap_analyzer.grading`, the class in :mod:`pcap_analyzer.batch`.
"""
from pathlib import Path
from typing import Annotated, Optional

import typer

from .formats import Formats
from .html import emit_html
from .options import OutputOpt, QuietOpt, WiresharkOpt, WorkersOpt, app, fail
from .output import emit, render, write_atomically
from .running import run
from .tables import batch_progress, is_batch

CapturesArg = Annotated[list[str], typer.Argument(
    help="A capture file; or a folder, a glob pattern or several files to grade as a class "
         "(one row per file found).", show_default=False)]
ServerOpt = Annotated[Optional[str], typer.Option(
    "--server", help="The server the student was asked to capture: HOST or HOST:PORT (IP address, "
                     "[IPv6]:PORT). Default: the rubric's, else the TCP conversation with a complete handshake "
                     "and the most payload.", show_default=False)]
RubricOpt = Annotated[Optional[Path], typer.Option(
    "--rubric", help="A rubric file (TOML): items on or off, their severity and weight, the lab's server, upload "
                     "size, number of first segments and alpha; an example ships in the package "
                     "(rubrics/example.toml).",
    show_default=False)]
FeedbackOpt = Annotated[Optional[Path], typer.Option(
    "--feedback", help="Also write one short markdown note per submission into this folder.", show_default=False)]
CHECK = Formats("check", "table", "csv", "json", "markdown", "html")   # the formats check writes, its default first
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", help="Also write the conversation's time-sequence graph (slow start) to this PNG "
                   "(SVG/PDF by the name); one capture only.", show_default=False)]

# A class's sheet on a terminal: what a teacher reads first (every column with -f csv).
_TERMINAL_SHEET = ["file", "overall", "score", "error", "copy_of", "warnings"]


@app.command()
def check(captures: CapturesArg, server: ServerOpt = None, rubric: RubricOpt = None,
          format: CHECK.option = None, output: OutputOpt = None, feedback: FeedbackOpt = None,
          plot: PlotOpt = None, workers: WorkersOpt = None, quiet: QuietOpt = False,
          wireshark: WiresharkOpt = None) -> None:
    """Grade a TCP lab capture: rubric verdicts with frame evidence and the lab's answers; a folder gives a grade sheet."""
    from ..check import CheckError, parse_server

    if server is not None:
        try:
            parse_server(server)
        except CheckError as exc:
            raise fail(str(exc)) from None
    graded_by = _rubric(rubric)
    if feedback is not None and feedback.exists() and not feedback.is_dir():
        raise fail(f"--feedback {feedback}: is not a folder")
    fmt = CHECK.choose(format, output)
    if fmt == "html" and not is_batch(captures):
        if plot is not None:
            raise fail("--plot: the page already holds the time-sequence graph")
        return emit_html("check", Path(captures[0]), output, quiet, server=server, rubric=graded_by)
    if is_batch(captures):
        if plot is not None:
            raise fail("--plot draws one conversation: give a single capture file")
        _batch(captures, server, graded_by, fmt, output, feedback, workers, quiet)
        return
    capture = Path(captures[0])
    from ..check import check_file

    graded = {}

    def job(path, progress=None):
        # read chunk by chunk: memory grows with streams, not frames
        graded["result"], a = check_file(path, server, progress, rubric=graded_by)
        return a

    a = run(capture, quiet, job)
    # named as given, as in a class's sheet ("-" is standard input)
    result = graded["result"].rename(captures[0] if captures[0] != "-" else graded["result"].file)
    if fmt == "csv":
        import pandas as pd

        data = render({"grades": pd.DataFrame([result.summary])}, "csv", "grades", output)
    else:
        data = render(result.document(full=fmt != "table"), fmt, "rubric", output)
    if plot is not None:
        _plot(a, result, plot, capture, quiet)
    if feedback is not None:
        from ..grading.feedback import feedback_markdown

        _write_notes(feedback, {capture.name or "standard input": feedback_markdown(result)}, capture, quiet)
    emit(data, output, capture)


def _rubric(path: Optional[Path]):
    if path is None:
        return None
    from ..grading.rubric import RubricError, load_rubric

    try:
        return load_rubric(path)
    except RubricError as exc:
        raise fail(f"--rubric {exc}") from None


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


def _write_notes(folder: Path, notes: dict, capture, quiet: bool) -> None:
    from ..grading.feedback import feedback_name

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--feedback {folder}: cannot create ({exc.strerror or exc})") from None
    used: dict[str, int] = {}
    for file, note in notes.items():
        name = feedback_name(file)
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:   # two paths that flatten alike still get a note each
            name = name[:-3] + f"_{used[name]}.md"
        write_atomically(folder / name, note.encode("utf-8"), capture)
    if not quiet:
        typer.echo(f"pcapan: wrote {len(notes)} feedback note{'s' if len(notes) != 1 else ''} into {folder}",
                   err=True)


def _batch(specs, server, graded_by, fmt, output, feedback, workers, quiet) -> None:
    from ..batch import check_many, collect_submissions

    if "-" in specs:
        raise fail("'-' (standard input) is read as the only capture of a command; "
                   "give the other captures in a run of their own")
    files = collect_submissions(specs)
    if not files:
        raise fail(f"no submissions found in {' '.join(specs)}")
    if output is not None:
        # the sheet written into the folder it grades is not a submission
        files = [(n, p) for n, p in files if not (p.exists() and output.exists() and p.samefile(output))]
    notes = {} if feedback is not None else None
    with batch_progress(len(files), "grading", quiet) as progress:
        grades = check_many(files, server, workers, progress, rubric=graded_by, feedback=notes)
    if fmt == "table":
        from ..grading.rubric import DEFAULT

        grades = grades[_TERMINAL_SHEET + list((graded_by or DEFAULT).keys)]
    data = render({"submissions": grades}, fmt, "submissions", output)
    if notes is not None:
        _write_notes(feedback, notes, None, quiet)
    emit(data, output, None)
    if not quiet:
        counts = grades["overall"].value_counts()
        copies = int((grades["copy_of"].astype(str) != "").sum())
        typer.echo("pcapan: graded " + ", ".join(f"{n} {v}" for v, n in counts.items())
                   + (f"; {copies} submissions are copies of another (column copy_of)" if copies else ""), err=True)
