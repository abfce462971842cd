"""``pcapan annotate``: the capture as pcapng, every packet commented with pcapan's reading.

Registered on the app by :mod:`.cli`; like it, this layer only turns options
into library calls and library errors into one-line messages.
"""
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``annotate`` command to *app*."""
    # Imported here: cli imports this module while it is being built.  (No
    # ``from __future__ import annotations``: typer must see the option
    # aliases, which are local names, as real annotations.)
    from .cli import CaptureArg, QuietOpt, _fail, _load

    PcapngOpt = Annotated[Path, typer.Option("--output", "-o", help="pcapng file to write (atomically; never "
                                             "the input capture).", show_default=False)]

    @app.command()
    def annotate(capture: CaptureArg, output: PcapngOpt, quiet: QuietOpt = False) -> None:
        """Write the capture as pcapng with a comment on every packet (phase, relative numbers, labels, explanation) that Wireshark shows."""
        from .annotate import AnnotateError, annotate as write_annotated
        from .export import ExportError
        from .reader import CaptureError

        a = _load(capture, quiet)
        try:
            n = write_annotated(a, output)
        except (AnnotateError, ExportError, CaptureError) as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"{output}: cannot write ({exc.strerror or exc})") from None
        if not quiet:
            typer.echo(f"pcapan: wrote {output} ({n:,} frames, each with a comment)", err=True)
