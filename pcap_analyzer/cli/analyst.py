"""``pcapan plot`` and ``pcapan export``: files for analysts and notebooks."""
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .options import CaptureArg, OutputOpt, QuietOpt, StreamOpt, app, fail
from .output import write_atomically
from .running import load


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


DirectoryOpt = Annotated[Path, typer.Option("--output", "-o", help="Directory to write the tables into "
                                            "(created if missing).", show_default=False)]
ExportFormatOpt = Annotated[ExportFormat, typer.Option("--format", "-f", help="File format of the tables.")]


@app.command()
def plot(capture: CaptureArg, output: OutputOpt = None, stream: StreamOpt = None,
         quiet: QuietOpt = False) -> None:
    """Time-sequence graph of one TCP stream (PNG; SVG/PDF by the file name): segments, retransmissions, ACKs, window."""
    if output is None and sys.stdout.isatty():
        raise fail("plot writes a PNG: give --output FILE.png or redirect stdout to a file")
    a = load(capture, quiet)
    if stream is None:
        tcp = a.streams[a.streams["proto"] == "tcp"] if len(a.streams) else a.streams
        if tcp.empty:
            raise fail(f"{capture}: no TCP stream to plot")
        payload = tcp["client_bytes"].fillna(0) + tcp["server_bytes"].fillna(0)
        stream = int(tcp.loc[payload.idxmax(), "stream"])  # ties: the earliest stream
    from ..tables import one_stream

    try:
        one_stream(a.packets, stream, "tcp")
    except ValueError as exc:  # the message lists the stream numbers there are
        raise fail(f"{capture}: {exc}") from None

    import matplotlib

    matplotlib.use("Agg")  # no display needed, whatever the environment says
    from ..plot import image_format, time_sequence_image

    image = time_sequence_image(a.packets, stream, image_format(output))
    if output is None:
        sys.stdout.buffer.write(image)
        return
    write_atomically(output, image, capture)
    if not quiet:
        typer.echo(f"pcapan: wrote {output} (TCP stream {stream})", err=True)


@app.command()
def export(capture: CaptureArg, output: DirectoryOpt, format: ExportFormatOpt = ExportFormat.parquet,
           quiet: QuietOpt = False) -> None:
    """Write the packets, streams and events tables as parquet or CSV files into a directory."""
    from ..export import ExportError, write_tables

    a = load(capture, quiet)
    try:
        paths = write_tables(a, output, format.value)
    except ExportError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{output}: cannot write ({exc.strerror or exc})") from None
    if not quiet:
        for path in paths:
            typer.echo(f"pcapan: wrote {path}", err=True)
