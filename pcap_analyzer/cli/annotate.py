"""``pcapan annotate``: the capture as pcapng, every packet commented with pcapan's reading."""
from pathlib import Path
from typing import Annotated

import typer

from .options import QuietOpt, WiresharkOpt, app, fail
from .running import load

# annotate reads the capture twice (to analyse it, then to copy it), which a stream cannot give.
CaptureFileArg = Annotated[Path, typer.Argument(
    help="Capture file: pcap or pcapng, optionally gzip-compressed (a file, not standard input or a pipe: "
         "it is read twice).", show_default=False)]
PcapngOpt = Annotated[Path, typer.Option("--output", "-o", help="pcapng file to write (atomically; never "
                                         "the input capture).", show_default=False)]


@app.command()
def annotate(capture: CaptureFileArg, output: PcapngOpt, quiet: QuietOpt = False,
             wireshark: WiresharkOpt = None) -> None:
    """Write the capture as pcapng with a comment on every packet (phase, relative numbers, labels, explanation) that Wireshark shows; everything else the capture holds is kept."""
    from ..annotate import AnnotateError, annotate as write_annotated, check_source
    from ..capture.info import CaptureError
    from ..files import ExportError

    try:
        check_source(capture)       # before the analysis, which a second read could not follow
    except AnnotateError as exc:
        raise fail(str(exc)) from None
    a = load(capture, quiet)
    try:
        n = write_annotated(a, output)
    except (AnnotateError, ExportError, CaptureError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{output}: cannot write ({exc.strerror or exc})") from None
    if not quiet:
        typer.echo(f"pcapan: wrote {output} ({n:,} frames, each with a comment)", err=True)
