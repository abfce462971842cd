"""The progress bar of a long read, on stderr: frames done of the capture's total, the rate, the time left.

A mapped capture file's frames are counted before it is read, so its bar
fills up; for standard input, a pipe or a compressed file the total is not
known, and the bar only moves to and fro next to the frames and bytes read
so far.  The commands show it only on a terminal and without ``--quiet``
(see :mod:`.running`).
"""
import threading

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text


class _Frames(ProgressColumn):
    """"1,234/5,678 frames", or "1,234 frames, 2.1 MB" when the total is not known."""

    def render(self, task) -> Text:
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,} frames, {decimal(int(task.fields.get('bytes_read', 0)))}")
        return Text(f"{done:,}/{int(task.total):,} frames")


class _Rate(ProgressColumn):
    """Frames per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} frames/s" if speed else "", style="progress.data.speed")


class ProgressBar:
    """A progress bar for the read of the capture *name*, fed by :meth:`update` with the library's
    :class:`pcap_analyzer.pipeline.Progress`; it vanishes when the ``with`` block ends.

    With *wait* it appears only once frames were read (a short stream shows nothing)."""

    def __init__(self, name: str, wait: bool = False) -> None:
        self.name = name
        self.wait = wait
        self._bar = None
        self._task = None
        self._step = None
        self._lock = threading.Lock()       # updates come from the thread reading the capture

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()

    def update(self, state) -> None:
        """Show where the read stands (*state*: a :class:`pcap_analyzer.pipeline.Progress`)."""
        with self._lock:
            if self._bar is None:
                if self.wait and not state.frames:
                    return
                self._bar = Progress(TextColumn("{task.description}"), BarColumn(), _Frames(), _Rate(),
                                     TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                                     refresh_per_second=4, redirect_stdout=False, redirect_stderr=False)
                self._task = self._bar.add_task(self.name, total=state.total)
                self._bar.start()
            description = f"{self.name}: {state.step}"
            if state.step != self._step and self._task is not None and state.frames < self._bar.tasks[0].completed:
                # a second read (check reads the graded conversation again): the bar starts over
                self._bar.reset(self._task, total=state.total, completed=0)
            self._step = state.step
            self._bar.update(self._task, description=description, completed=state.frames, total=state.total,
                             bytes_read=state.bytes_read)
