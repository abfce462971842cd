"""``pcapan plot`` and ``pcapan export``: files for analysts and notebooks."""
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import CaptureArg, OutputOpt, QuietOpt, StreamOpt, WiresharkOpt, app, fail
from .output import write_atomically
from .running import load


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


DirectoryOpt = Annotated[Path, typer.Option("--output", "-o", help="Directory to write the tables into "
                                            "(created if missing).", show_default=False)]
ExportFormatOpt = Annotated[ExportFormat, typer.Option("--format", "-f", help="File format of the tables.")]


TimeRangeOpt = Annotated[Optional[str], typer.Option(
    "--time", metavar="START:END", show_default=False,
    help="Zoom to these seconds since the stream's first frame (either side may be empty: 0.2:, :1.5).")]
SeqRangeOpt = Annotated[Optional[str], typer.Option(
    "--seq", metavar="START:END", show_default=False,
    help="Zoom to these relative sequence numbers of the data sender, in bytes (either side may be empty).")]
WindowOpt = Annotated[Optional[bool], typer.Option(
    "--window/--no-window", show_default=False,
    help="Draw the receiver's window edge (ACK + window) or not; by default it is drawn unless it would "
         "stretch the sequence axis to more than 4 times what the data and ACKs need (the legend then says "
         "how high it reaches).")]


class PlotKind(str, Enum):
    time_sequence = "time-sequence"
    ladder = "ladder"


KindOpt = Annotated[PlotKind, typer.Option(
    "--kind", "-k", help="time-sequence: the Stevens graph; ladder: the message sequence diagram (handshake, "
                         "first data, labelled frames with context, teardown).")]
FramesOpt = Annotated[Optional[str], typer.Option(
    "--frames", metavar="FIRST:LAST", show_default=False,
    help="--kind ladder: draw these frame numbers of the stream (either side may be empty).")]


@app.command()
def plot(capture: CaptureArg, output: OutputOpt = None, stream: StreamOpt = None,
         kind: KindOpt = PlotKind.time_sequence, frames: FramesOpt = None, time: TimeRangeOpt = None,
         seq: SeqRangeOpt = None, window: WindowOpt = None, quiet: QuietOpt = False,
         wireshark: WiresharkOpt = None) -> None:
    """Time-sequence graph or ladder diagram of one TCP stream (PNG; SVG/PDF by the file name): segments,
    retransmissions, ACKs, window edge, zero-window spells."""
    from ..plot import PlotError, image_format, parse_range

    if kind is PlotKind.ladder:
        if time is not None or seq is not None or window is not None:
            raise fail("--time, --seq and --window zoom the time-sequence graph; a ladder takes --frames")
        return _ladder(capture, output, stream, frames, quiet)
    if frames is not None:
        raise fail("--frames chooses the frames of a ladder: add --kind ladder")

    zoom = {"window": window}
    for name, option, text in (("time", "--time", time), ("seq", "--seq", seq)):
        try:
            zoom[name] = parse_range(text) if text is not None else None
        except PlotError as exc:
            raise fail(f"{option}: {exc}") from None
    if output is None and sys.stdout.isatty():
        raise fail("plot writes a PNG: give --output FILE.png or redirect stdout to a file")
    a = load(capture, quiet)
    if stream is None:
        tcp = a.streams[a.streams["proto"] == "tcp"] if len(a.streams) else a.streams
        if tcp.empty:
            raise fail(f"{capture}: no TCP stream to plot")
        payload = tcp["client_bytes"].fillna(0) + tcp["server_bytes"].fillna(0)
        if not (payload > 0).any():
            raise fail(f"{capture}: no TCP stream carries data to plot")
        stream = int(tcp.loc[payload.idxmax(), "stream"])  # ties: the earliest stream

    import matplotlib

    matplotlib.use("Agg")  # no display needed, whatever the environment says
    from ..plot import time_sequence_image

    try:
        image = time_sequence_image(a.packets, stream, image_format(output), **zoom)
    except PlotError as exc:  # no such stream (the message lists those there are), no data, an empty view
        raise fail(f"{capture}: {exc}") from None
    if output is None:
        sys.stdout.buffer.write(image)
        return
    write_atomically(output, image, capture)
    if not quiet:
        typer.echo(f"pcapan: wrote {output} (TCP stream {stream})", err=True)


def _ladder(capture: Path, output: Optional[Path], stream: Optional[int], frames: Optional[str],
            quiet: bool) -> None:
    from ..ladder import LadderError, parse_frames

    try:
        span = parse_frames(frames) if frames is not None else None
    except LadderError as exc:
        raise fail(f"--frames: {exc}") from None
    if output is None and sys.stdout.isatty():
        raise fail("plot writes a PNG: give --output FILE.png or redirect stdout to a file")
    a = load(capture, quiet)
    if stream is None:
        tcp = a.streams[a.streams["proto"] == "tcp"] if len(a.streams) else a.streams
        if tcp.empty:
            raise fail(f"{capture}: no TCP stream to draw")
        stream = int(tcp["stream"].iloc[0])
    import matplotlib

    matplotlib.use("Agg")
    from ..ladder_figure import ladder_image
    from ..plot import image_format

    try:
        image = ladder_image(a.packets, stream, image_format(output), frames=span)
    except LadderError as exc:
        raise fail(f"{capture}: {exc}") from None
    if output is None:
        sys.stdout.buffer.write(image)
        return
    write_atomically(output, image, capture)
    if not quiet:
        typer.echo(f"pcapan: wrote {output} (ladder of TCP stream {stream})", err=True)


@app.command()
def export(capture: CaptureArg, output: DirectoryOpt, format: ExportFormatOpt = ExportFormat.parquet,
           force: Annotated[bool, typer.Option("--force", help="Replace tables another capture left in the "
                                               "directory.")] = False,
           quiet: QuietOpt = False, wireshark: WiresharkOpt = None) -> None:
    """Write the packets, streams and events tables as parquet or CSV files into a directory."""
    from ..export import ExportError, write_tables

    a = load(capture, quiet)
    try:
        paths = write_tables(a, output, format.value, force=force)
    except ExportError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{output}: cannot write ({exc.strerror or exc})") from None
    if not quiet:
        for path in paths:
            typer.echo(f"pcapan: wrote {path}", err=True)
