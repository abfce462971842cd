"""The progress bar of a long read, on stderr: frames done of the capture's total, the rate, the time left.

A capture file's bar fills up with its bytes read (a compressed file's
compressed bytes), whether or not its frames get counted on the way; for
standard input or a pipe the total is not known, and the bar only moves to
and fro next to the frames and bytes read so far.  The commands show it
only on a terminal and without ``--quiet`` (see :mod:`.running`).
"""
import threading

from rich.console import Console
from rich.filesize import decimal, pick_unit_and_suffix
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text


class _Frames(ProgressColumn):
    """"2.1/9.8 MB" when the file's size is known (the rate beside it is in frames), else
    "1,234 frames, 2.1 MB"."""

    def render(self, task) -> Text:
        frames, read, size = (int(task.fields.get(k) or 0) for k in ("frames", "bytes_read", "size"))
        if size:
            unit, suffix = pick_unit_and_suffix(size, ["bytes", "kB", "MB", "GB", "TB", "PB"], 1000)
            return Text(f"{read / unit:,.1f}/{size / unit:,.1f} {suffix}")
        return Text(f"{frames:,} frames, {decimal(read)}")


class _Rate(ProgressColumn):
    """Frames per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if speed and task.fields.get("size"):
            # the bar follows bytes: their rate, in frames (the frames read so far per byte)
            read = task.fields.get("bytes_read") or 0
            speed = speed * (task.fields.get("frames") or 0) / read if read else None
        return Text(_per_second(speed) if speed else "", style="progress.data.speed")


def _per_second(speed: float) -> str:
    """"2.7M frames/s", "45k frames/s", "812 frames/s"."""
    if speed >= 1e6:
        return f"{speed / 1e6:.1f}M frames/s"
    if speed >= 1e4:
        return f"{speed / 1e3:.0f}k frames/s"
    return f"{speed:,.0f} frames/s"


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
                # on a narrow terminal the description gives way (cut short), the figures stay whole
                self._bar = Progress(TextColumn("{task.description}", table_column=Column(ratio=2, no_wrap=True,
                                                                                         overflow="ellipsis")),
                                     BarColumn(bar_width=None, table_column=Column(ratio=1)),
                                     _Frames(table_column=Column(no_wrap=True)),
                                     _Rate(table_column=Column(no_wrap=True)),
                                     TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                                     refresh_per_second=4, redirect_stdout=False, redirect_stderr=False, expand=True)
                self._task = self._bar.add_task(self.name, total=state.size, **_fields(state))
                self._bar.start()
            description = f"{self.name}: {state.step}"
            # the file's bytes when its size is known (a frame count made on the way is not shown)
            done = state.bytes_read if state.size else state.frames
            if state.step != self._step and self._task is not None and done < self._bar.tasks[0].completed:
                # a second read (check reads the graded conversation again): the bar starts over
                self._bar.reset(self._task, total=state.size, completed=0)
            self._step = state.step
            self._bar.update(self._task, description=description, completed=done, total=state.size,
                             **_fields(state))


def _fields(state) -> dict:
    return {"frames": state.frames, "bytes_read": state.bytes_read, "size": state.size}
