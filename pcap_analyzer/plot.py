"""The Stevens time-sequence graph of one TCP stream.

x is the time since the stream's first frame, y the data sender's relative
sequence number, each in the unit the shown range asks for (µs, ms or s;
B, KiB or MiB), chosen again whenever the limits change.  Each data segment
is a vertical bar from its first byte to just past its last with a dot on
top, so steady sending climbs as a staircase; resent segments are drawn in
their own colour and marker, one per kind (Wireshark's retransmission, fast
retransmission, spurious retransmission).  The receiver's acknowledgement
number is a step line, the edge of its advertised window (ACK + window) a
dashed step line above it: the sender may send up to that edge.  Spells in
which the receiver advertised a zero window are shaded.

Segments are drawn over the lines, so the ACK line, which often runs right
along the staircase, never hides them.  The window edge is left out when
it would stretch the sequence axis to more than :data:`WINDOW_SQUEEZE` times
the range the data and the ACKs need (a short exchange under a large
window would be squeezed into the bottom of the figure); a legend entry
then says how high the edge reaches.  ``window=True`` draws it anyway,
``window=False`` never.

Zooms: ``time=(start, end)`` in seconds since the stream's first frame and
``seq=(start, end)`` in relative bytes, either end ``None`` (or the text
``"start:end"``, either side empty); the other axis fits what the zoom
shows.

Figures are built with :class:`matplotlib.figure.Figure`, not pyplot, so no
backend is chosen and no figure is kept in global state; in a notebook they
display like any figure (with ``%matplotlib inline``).
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import Formatter, MaxNLocator

from .tables import filter_packets, one_stream
from .vocabulary import RESENDS

# The window edge is left out by default when showing it would make the
# sequence axis this many times taller than the data and ACKs need.
WINDOW_SQUEEZE = 4.0
FIGURE_SIZE_IN = (10, 5.6)  # reads well on a 16:9 slide
DPI = 150

DATA_LABEL = "data segment"
ACK_LABEL = "ACK (receiver)"
WINDOW_LABEL = "receive window edge (ACK + window)"
WINDOW_OFF_LABEL = "window edge not drawn"
ZERO_WINDOW_LABEL = "zero window (receiver full)"
# label -> (legend text, colour, marker); in RESENDS' order of precedence
RESEND_STYLES = {
    "spurious_retransmission": ("spurious retransmission", "tab:brown", "o"),
    "fast_retransmission": ("fast retransmission", "tab:purple", "^"),
    "retransmission": ("retransmission", "tab:red", "x"),
}
_DATA_COLOUR = "tab:blue"
_ACK_COLOUR = "tab:green"
_WINDOW_COLOUR = "tab:orange"
_ZERO_WINDOW_COLOUR = "0.55"
_TIME_UNITS = (("s", 1.0, 1.0), ("ms", 1e-3, 1e-4), ("µs", 1e-6, 0.0))  # (name, size, from this span on)
_BYTE_UNITS = (("GiB", 2 ** 30, 2 ** 30), ("MiB", 2 ** 20, 2 ** 20), ("KiB", 2 ** 10, 2 ** 10), ("B", 1, 0))
_MARGIN = 0.03  # of the span, on each side the zoom leaves open

Range = tuple[float | None, float | None]


class PlotError(ValueError):
    """What is asked cannot be drawn: no such stream, no data, a bad or empty zoom."""


def parse_range(text: str) -> Range:
    """``"a:b"`` -> ``(a, b)``; either side may be empty (``None``).  ``PlotError`` when it is not a range."""
    start, colon, end = text.partition(":")
    if not colon:
        raise PlotError(f"{text!r} is not a range START:END (either side may be empty)")

    def number(side: str) -> float | None:
        side = side.strip()
        if not side:
            return None
        try:
            value = float(side)
        except ValueError:
            raise PlotError(f"{side!r} in {text!r} is not a number") from None
        if not math.isfinite(value):
            raise PlotError(f"{side!r} in {text!r} is not a finite number")
        return value

    return _checked((number(start), number(end)), text)


def time_sequence_figure(packets: pd.DataFrame, stream: int, time: Range | str | None = None,
                         seq: Range | str | None = None, window: bool | None = None) -> Figure:
    """Draw the time-sequence graph of TCP stream *stream* of a packets table.

    The data sender is the side that sent more payload bytes.  *time* and
    *seq* zoom (see the module's docstring); *window* forces the receive
    window edge on or off.  Raises :class:`PlotError` (a ``ValueError``) when
    the table has no such TCP stream, the stream carries no data, or a zoom
    is not a range or shows none of the stream.
    """
    parts = _stream_parts(packets, stream)
    view = _view(parts, _as_range(time), _as_range(seq), window)

    fig = Figure(figsize=FIGURE_SIZE_IN, layout="constrained")
    ax = fig.add_subplot()
    handles = _draw(ax, parts, view)
    ax.set_xlim(*view.x)
    ax.set_ylim(*view.y)
    _unit_axis(ax, "x", _TIME_UNITS, "time since the stream's first frame ({})")
    _unit_axis(ax, "y", _BYTE_UNITS, "data sender's relative sequence number ({})")
    ax.set_title(parts.title, fontsize=14)
    ax.tick_params(labelsize=11)
    ax.grid(True, alpha=0.3)
    legend = ax.legend(handles=handles, loc="best", fontsize=10, framealpha=0.9)
    for handle, text in zip(handles, legend.get_texts()):
        if handle.get_label().startswith(WINDOW_OFF_LABEL):
            text.set_color("0.35")
    return fig


def save_time_sequence(packets: pd.DataFrame, stream: int, path: str | os.PathLike,
                       capture: str | os.PathLike | None = None, **zoom) -> None:
    """Write the time-sequence graph of TCP stream *stream* to *path*.

    PNG, or another format matplotlib writes when the file name ends in it
    (``.svg``, ``.pdf``, ...); *zoom* takes :func:`time_sequence_figure`'s
    ``time``, ``seq`` and ``window``.  The file is replaced atomically; with
    *capture* given, writing over that file is refused
    (:class:`pcap_analyzer.export.ExportError`).
    """
    from .files import replace_atomically

    image = time_sequence_image(packets, stream, image_format(path), **zoom)
    replace_atomically(path, lambda tmp: Path(tmp).write_bytes(image), capture)


def time_sequence_image(packets: pd.DataFrame, stream: int, fmt: str = "png", **zoom) -> bytes:
    """The time-sequence graph of TCP stream *stream* as the bytes of a *fmt* file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = time_sequence_figure(packets, stream, **zoom)
    FigureCanvasAgg(fig)  # render with Agg whatever backend the session uses
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    return buf.getvalue()


def image_format(path: str | os.PathLike | None) -> str:
    """The image format a file name asks for (``.svg``, ``.pdf``, ...); PNG otherwise."""
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(path).suffix.lstrip(".").lower() if path is not None else ""
    return suffix if suffix in FigureCanvasBase.get_supported_filetypes() else "png"


# --- what the stream holds ----------------------------------------------------------

@dataclass
class _Parts:
    """One stream as the figure needs it, times in seconds since its first frame."""
    stream: int
    title: str
    duration: float
    data: pd.DataFrame       # t, low, high, kind ("" or the resend label)
    acks: pd.DataFrame       # t, ack, edge (NaN without a window size)
    zero_windows: np.ndarray  # (n, 2): start and end of each zero-window spell


def _stream_parts(packets: pd.DataFrame, stream: int) -> _Parts:
    try:
        p = one_stream(packets, stream, "tcp")
    except ValueError as exc:  # the message lists the stream numbers there are
        raise PlotError(str(exc)) from None
    t = (p["time_rel_s"] - p["time_rel_s"].iloc[0]).to_numpy(dtype=float)
    from_client = p["from_client"].fillna(False).astype(bool).to_numpy()
    payload = p["payload_len"].fillna(0).to_numpy(dtype=np.int64)
    sender_is_client = payload[from_client].sum() >= payload[~from_client].sum()
    sent = from_client == sender_is_client
    is_data = sent & (payload > 0) & p["rel_seq"].notna().to_numpy()
    if not is_data.any():
        raise PlotError(f"TCP stream {stream} carries no data (no segment with a payload): nothing to plot")

    d = p[is_data]
    kind = pd.Series("", index=d.index)
    for label in reversed(RESENDS):  # the first of RESENDS wins
        kind[kind.index.isin(filter_packets(d, labels=[label]).index)] = label
    low = d["rel_seq"].to_numpy(dtype=float)
    data = pd.DataFrame({"t": t[is_data], "low": low, "high": low + payload[is_data], "kind": kind.to_numpy()})

    received = ~sent
    has_ack = (p["flags"].astype("string").fillna("").str.split(",").map(lambda f: "ACK" in f).astype(bool)
               & p["rel_ack"].notna()).to_numpy()
    r = p[received & has_ack]
    ack = r["rel_ack"].to_numpy(dtype=float)
    acks = pd.DataFrame({"t": t[received & has_ack], "ack": ack,
                         "edge": ack + r["window_size"].to_numpy(dtype=float, na_value=np.nan)})

    src, sport, dst, dport = d.iloc[0][["src", "sport", "dst", "dport"]]
    title = f"TCP stream {stream}: data from {_endpoint(src, sport)} to {_endpoint(dst, dport)}"
    return _Parts(stream, title, float(t[-1]), data, acks, _zero_window_spells(p, t, received))


def _zero_window_spells(p: pd.DataFrame, t: np.ndarray, received: np.ndarray) -> np.ndarray:
    """From the receiver's first zero window (Wireshark's label) to its next non-zero window;
    a spell still open at the end of the stream lasts to its last frame."""
    opened = received & (p["window_size"].fillna(0).to_numpy() > 0)
    zero = received & p.index.isin(filter_packets(p, labels=["zero_window"]).index)
    state = pd.Series(np.where(zero, 1.0, np.where(opened, 0.0, np.nan))).ffill().fillna(0).to_numpy()
    change = np.diff(np.concatenate([[0.0], state, [0.0]]))
    starts, ends = np.flatnonzero(change > 0), np.flatnonzero(change < 0)
    return np.column_stack([t[starts], t[np.minimum(ends, len(t) - 1)]]) if len(starts) else np.empty((0, 2))


def _endpoint(addr, port) -> str:
    addr = str(addr)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


# --- what the figure shows ------------------------------------------------------------

@dataclass
class _View:
    x: tuple[float, float]
    y: tuple[float, float]
    data: pd.DataFrame     # the segments in view
    window: bool           # the window edge is drawn
    edge_low: float        # the edge's lowest and highest value in the time shown (NaN: no window sizes)
    edge_top: float


def _view(parts: _Parts, time: Range, seq: Range, window: bool | None) -> _View:
    data, acks = parts.data, parts.acks
    in_seq_data = _overlapping(data["low"], data["high"], seq)
    if seq == (None, None):
        times = np.array([0.0, parts.duration]) if not _outside(time, 0.0, parts.duration) else np.empty(0)
    else:  # the time those bytes were sent and acknowledged
        times = np.concatenate([data["t"][_within(data["t"], time) & in_seq_data],
                                acks["t"][_within(acks["t"], time) & _within(acks["ack"], seq)]])
    if not len(times):
        raise PlotError(f"{_zoom_text(time, seq)} shows nothing of TCP stream {parts.stream} (it lasts "
                        f"{_duration_text(parts.duration)}; its data spans relative bytes "
                        f"{data['low'].min():.0f}:{data['high'].max():.0f})")
    x = _limits(time, times.min(), times.max(), fallback=1e-3)

    shown = data[_within(data["t"], x) & in_seq_data]
    shown_acks = acks[_within(acks["t"], x) | _carried_in(acks["t"], x)]
    values = np.concatenate([shown["low"], shown["high"], shown_acks["ack"]])
    values = values[_within(values, seq)]
    if not len(values) and seq == (None, None):
        raise PlotError(f"{_zoom_text(time, seq)} shows no data or ACK of TCP stream {parts.stream} (it lasts "
                        f"{_duration_text(parts.duration)})")
    low = seq[0] if seq[0] is not None else (values.min() if len(values) else seq[1])
    high = seq[1] if seq[1] is not None else (values.max() if len(values) else low)
    edges = shown_acks["edge"].dropna()
    edge_low, edge_top = (float(edges.min()), float(edges.max())) if len(edges) else (math.nan, math.nan)
    if window is None:
        # a fixed top end clips the edge: it cannot squeeze anything
        window = seq[1] is not None or not edge_top - low > WINDOW_SQUEEZE * max(high - low, 1.0)
    if window and seq[1] is None and len(edges):
        high = max(high, edge_top)
    y = _limits(seq, low, high, fallback=1024.0)
    return _View(x, y, shown, bool(window and len(edges)), edge_low, edge_top)


def _as_range(value: Range | str | None) -> Range:
    if value is None:
        return (None, None)
    if isinstance(value, str):
        return parse_range(value)
    start, end = value
    return _checked((None if start is None else float(start), None if end is None else float(end)),
                    _text((start, end)))


def _checked(r: Range, text: str) -> Range:
    if r[0] is not None and r[1] is not None and r[0] >= r[1]:
        raise PlotError(f"the range {text!r} is empty: its start must be before its end")
    return r


def _text(r: Range) -> str:
    return ":".join("" if v is None else f"{v:.15g}" for v in r)


def _zoom_text(time: Range, seq: Range) -> str:
    parts = ([f"time {_text(time)} s"] if time != (None, None) else []) + (
        [f"sequence {_text(seq)}"] if seq != (None, None) else [])
    return "the zoom to " + " and ".join(parts)


def _duration_text(seconds: float) -> str:
    name, size, _ = next((u for u in _TIME_UNITS if seconds >= u[2]), _TIME_UNITS[-1])
    return f"{seconds / size:.3g} {name}"


def _within(values, r: Range) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return (v >= (-np.inf if r[0] is None else r[0])) & (v <= (np.inf if r[1] is None else r[1]))


def _overlapping(low, high, r: Range) -> np.ndarray:
    return ((np.asarray(high, dtype=float) >= (-np.inf if r[0] is None else r[0]))
            & (np.asarray(low, dtype=float) <= (np.inf if r[1] is None else r[1])))


def _carried_in(t, r: Range) -> np.ndarray:
    """The last point before the range starts: a step line holds its value into the range."""
    t = np.asarray(t, dtype=float)
    mask = np.zeros(len(t), dtype=bool)
    if r[0] is not None:
        before = np.flatnonzero(t < r[0])
        if len(before):
            mask[before[-1]] = True
    return mask


def _outside(r: Range, low: float, high: float) -> bool:
    return (r[0] is not None and r[0] > high) or (r[1] is not None and r[1] < low)


def _limits(r: Range, low: float, high: float, fallback: float) -> tuple[float, float]:
    """The given ends as they are; an open end a margin beyond what is shown."""
    low = low if r[0] is None else r[0]
    high = high if r[1] is None else r[1]
    if high <= low:  # one point (or nothing beyond a given end): a *fallback* wide view
        if r[0] is None and r[1] is None:
            return float(low - fallback / 2), float(high + fallback / 2)
        return (float(low), float(low + fallback)) if r[1] is None else (float(high - fallback), float(high))
    span = high - low
    return (float(low - _MARGIN * span if r[0] is None else low),
            float(high + _MARGIN * span if r[1] is None else high))


# --- drawing --------------------------------------------------------------------------

def _draw(ax, parts: _Parts, view: _View) -> list:
    """Draw everything; the legend handles, each only when what it names is in view.

    Painter's order: zero-window shading, ACK line, window edge (dashed: where
    a zero window lays it on the ACK line both show), segments, resent
    segments' markers on top.
    """
    handles = []
    data = view.data
    plain = data[data["kind"] == ""]
    if len(plain):
        ax.vlines(plain["t"], plain["low"], plain["high"], colors=_DATA_COLOUR, linewidth=1.8, zorder=3)
        handles += ax.plot(plain["t"], plain["high"], linestyle="none", marker="o", markersize=2.5,
                           color=_DATA_COLOUR, zorder=3, label=DATA_LABEL)
    for label, (text, colour, marker) in RESEND_STYLES.items():
        rows = data[data["kind"] == label]
        if rows.empty:
            continue
        ax.vlines(rows["t"], rows["low"], rows["high"], colors=colour, linewidth=2.2, zorder=4)
        # One marker per segment, at its top: the legend entry, and a handle to count.
        # the rarer kinds over plain retransmissions
        handles += ax.plot(rows["t"], rows["high"], linestyle="none", marker=marker, markersize=7,
                           markeredgewidth=1.8, color=colour, markerfacecolor="none" if marker == "o" else colour,
                           zorder=5 if label == "retransmission" else 6, label=text)

    acks = parts.acks
    if len(acks):
        handles += ax.step(acks["t"], acks["ack"], where="post", color=_ACK_COLOUR, linewidth=1.3, alpha=0.9,
                           zorder=2, label=ACK_LABEL)
    edge = acks.dropna(subset=["edge"])
    if view.window:
        line = ax.step(edge["t"], edge["edge"], where="post", color=_WINDOW_COLOUR, linewidth=1.3,
                       linestyle=(0, (4, 3)), zorder=2.5, label=WINDOW_LABEL)  # dashes: the ACK shows through
        if view.edge_top >= view.y[0] and view.edge_low <= view.y[1]:  # in view
            handles += line
    elif not math.isnan(view.edge_top) and view.edge_top > view.y[1]:
        handles.append(Line2D([], [], linestyle="none", label=f"{WINDOW_OFF_LABEL} (reaches "
                                                              f"{_size_text(view.edge_top)})"))

    spells = parts.zero_windows
    spells = spells[(spells[:, 1] >= view.x[0]) & (spells[:, 0] <= view.x[1])] if len(spells) else spells
    for i, (start, end) in enumerate(spells):
        shade = ax.axvspan(start, end, color=_ZERO_WINDOW_COLOUR, alpha=0.25, linewidth=0, zorder=0,
                           label=ZERO_WINDOW_LABEL if i == 0 else None)
        if i == 0:
            handles.append(shade)
    return handles


def _size_text(n: float) -> str:
    name, size, _ = next(u for u in _BYTE_UNITS if n >= u[2])
    return f"{n / size:.3g} {name}"


# --- axes in units that fit their range --------------------------------------------

class _UnitLocator(MaxNLocator):
    """Round ticks in the axis's current unit (0, 256 KiB, ... not 0, 262144)."""

    def __init__(self, unit: "_Unit") -> None:
        super().__init__(nbins="auto", steps=[1, 2, 2.5, 5, 10])
        self.unit = unit

    def tick_values(self, vmin, vmax):
        return super().tick_values(vmin / self.unit.size, vmax / self.unit.size) * self.unit.size


class _UnitFormatter(Formatter):
    """Tick labels in the axis's current unit, with as many decimals as the ticks need."""

    def __init__(self, unit: "_Unit") -> None:
        self.unit = unit
        self.decimals = 0

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        values = np.asarray(locs, dtype=float) / self.unit.size
        scale = max(1.0, float(np.abs(values).max())) if len(values) else 1.0
        self.decimals = next((d for d in range(7) if np.allclose(values, np.round(values, d), atol=1e-9 * scale,
                                                                  rtol=0)), 6)

    def __call__(self, x, pos=None) -> str:
        value = x / self.unit.size
        if abs(value) < 0.5 * 10 ** -self.decimals:
            value = 0.0  # no "-0"
        return f"{value:,.{self.decimals}f}"


@dataclass
class _Unit:
    units: tuple
    template: str
    name: str = ""
    size: float = 1.0

    def fit(self, span: float) -> None:
        self.name, self.size, _ = next((u for u in self.units if span >= u[2]), self.units[-1])


def _unit_axis(ax, which: str, units: tuple, template: str) -> None:
    """Label and tick *which* axis in the unit its shown span asks for, now and after every zoom."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    unit = _Unit(units, template)
    axis.set_major_locator(_UnitLocator(unit))
    axis.set_major_formatter(_UnitFormatter(unit))

    def refit(axes) -> None:
        low, high = axis.get_view_interval()
        unit.fit(abs(high - low))
        axis.set_label_text(template.format(unit.name), fontsize=12)

    refit(ax)
    ax.callbacks.connect(f"{which}lim_changed", refit)
