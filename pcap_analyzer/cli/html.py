"""``--format html`` (or ``-o FILE.html``, see :mod:`.formats`) for ``report``, ``streams`` and ``check``: one
self-contained page.

The page is made in :mod:`pcap_analyzer.report.html`; here it is only read with the commands' progress
display and one-line errors, and written like any other output.
"""
from pathlib import Path
from typing import Optional

from .options import fail
from .output import emit
from .running import run


def emit_html(command: str, capture: Path, output: Optional[Path], quiet: bool, **options) -> None:
    """Read *capture*, make *command*'s page and write it to *output* (or stdout)."""
    from ..report.html import write_html
    from ..selection import SelectionError

    try:
        write_html(command, capture, output, run=lambda path, job: _read(path, job, quiet),
                   emit=lambda data: emit(data, output, capture), **options)
    except SelectionError as exc:
        raise fail(f"{capture}: {exc}") from None


def _read(path: Path, job, quiet: bool):
    from ..selection import SelectionError

    failed = []

    def guarded(p, progress=None):
        try:
            return job(p, progress) if progress is not None else job(p)
        except SelectionError as exc:   # a stream the capture lacks: not an internal error
            failed.append(exc)
            return _Nothing()
    page = run(path, quiet, guarded)
    if failed:
        raise failed[0]
    return page


class _Nothing:
    class info:  # noqa: N801  (what run() reads of a result)
        warnings: list = []
