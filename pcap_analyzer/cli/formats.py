"""Which output format a command writes: ``--format``, or the extension of ``--output``.

:data:`SUFFIX_FORMATS` is the one list of file extensions and the formats
they ask for; each command declares the formats it writes with a
:class:`Formats`, whose :attr:`Formats.option` is its ``--format`` option and
whose :meth:`Formats.choose` settles the format of a run.  A command that
learns a new format (a writer for it in :mod:`pcap_analyzer.report.writers`)
adds its name to its :class:`Formats`; a new extension is a line here.
(Images are another matter: ``plot`` takes the image type from the file name
as matplotlib knows it.)
"""
from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import fail

# The format a file name asks for by its extension (compared in lower case).
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".parquet": "parquet",
    ".html": "html",
    ".htm": "html",
}

# Formats that are bytes for programs, never text for a terminal.
BINARY_FORMATS = ("parquet",)


def suffix_format(output: Optional[Path]) -> Optional[str]:
    """The format *output*'s extension asks for; None for a name without one of :data:`SUFFIX_FORMATS`."""
    if output is None:
        return None
    return SUFFIX_FORMATS.get(Path(output).suffix.lower())


class Formats:
    """The formats *command* writes, the first its default."""

    #: every command's formats, by command (to say which command writes a format another does not)
    written: dict = {}

    def __init__(self, command: str, *names: str) -> None:
        self.command = command
        self.names = names
        Formats.written[command] = names
        #: the command's ``--format`` option (typer's ``Annotated`` alias); checked by :meth:`choose`, so
        #: that a format of another command is a one-line error saying which command writes it
        self.option = Annotated[Optional[str], typer.Option(
            "--format", "-f", metavar="|".join(names), show_default=False,
            help=f"Output format (default: {names[0]}; with --output, the file's extension when it is one of "
                 f"{', '.join(_suffixes(names))}).")]

    def choose(self, fmt: Optional[str], output: Optional[Path]) -> str:
        """The format of this run: ``--format`` (*fmt*, None when not given) or *output*'s extension;
        a contradiction, or a format this command does not write, ends the command."""
        given = fmt
        if given is not None and given not in self.names:
            raise fail(f"--format {given}: {self.command} writes {', '.join(self.names)}{self._elsewhere(given)}")
        wanted = suffix_format(output)
        if given is not None and wanted is not None and given != wanted:
            raise fail(f"--format {given} contradicts {output} (a {wanted} file name): "
                       "give one or make them agree")
        if wanted is not None and wanted not in self.names:
            raise fail(f"{output}: {self.command} does not write {wanted}; it writes "
                       f"{', '.join(self.names)} (as --format, or by a file name ending in "
                       f"{', '.join(_suffixes(self.names))}){self._elsewhere(wanted)}")
        chosen = given or wanted or self.names[0]
        if chosen in BINARY_FORMATS and output is None:
            import sys

            if sys.stdout.isatty():
                raise fail(f"{chosen} is binary: give --output FILE.{chosen} or redirect standard output")
        return chosen

    def _elsewhere(self, fmt: str) -> str:
        others = sorted(c for c, names in Formats.written.items() if fmt in names and c != self.command)
        if not others:
            return ""
        named = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} and {others[-1]}"
        return f"; {fmt} is written by {named}"


def _suffixes(names) -> list[str]:
    return [s for s, f in SUFFIX_FORMATS.items() if f in names]
