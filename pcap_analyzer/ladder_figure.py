"""The ladder diagram as a matplotlib figure: ``pcapan plot --kind ladder`` and ``df.pcapan.ladder()``.

It draws the layout :func:`pcap_analyzer.ladder.ladder` decides (the same
frames, places, texts and colours as the HTML page's SVG) on axes where one
unit is one pixel at :data:`PIXELS_PER_INCH`, so that texts slant with
their arrows.  Figures are :class:`matplotlib.figure.Figure` objects, not
pyplot's: no backend is chosen and nothing is kept in global state.
"""
from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from .ladder import (ACK_COLOUR, BRACKET_X, CLIENT_X, CLOSE_COLOUR, CONNECT_COLOUR, DATA_COLOUR, RESET_COLOUR,
                     SERVER_X, TIME_X, Ladder, ladder)

PIXELS_PER_INCH = 100
DPI = 150            # PNG: sharp on a slide
_PT = 72 / PIXELS_PER_INCH   # points per layout pixel
_INK = "#1d2430"
_MUTED = "#5b6575"


def ladder_figure(packets: pd.DataFrame, stream: int, frames=None, include=()) -> Figure:
    """The ladder diagram of TCP stream *stream* of a packets table (see :func:`.ladder.ladder` for
    *frames* and *include*); raises :class:`.ladder.LadderError` (a ``ValueError``)."""
    return draw(ladder(packets, stream, frames=frames, include=include))


def draw(lad: Ladder) -> Figure:
    """A figure of a laid-out ladder."""
    legend_h = 30
    w, h = lad.width, lad.height + legend_h
    fig = Figure(figsize=(w / PIXELS_PER_INCH, h / PIXELS_PER_INCH), dpi=PIXELS_PER_INCH)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, -legend_h)
    ax.set_axis_off()
    _legend(ax, lad, -legend_h + 14)
    for x, title, addr in ((CLIENT_X, "Client", lad.client), (SERVER_X, "Server", lad.server)):
        ax.text(x, 22, title, ha="center", va="baseline", fontsize=15 * _PT, fontweight="bold", color=_INK)
        ax.text(x, 40, addr, ha="center", va="baseline", fontsize=12 * _PT, family="monospace", color=_INK)
        ax.plot([x, x], [50, lad.height - 12], color="#8a93a3", linewidth=2 * _PT, zorder=1)
    ax.text(TIME_X, 40, "frame  time (s)", fontsize=11.5 * _PT, family="monospace", color=_MUTED)
    for e in lad.elisions:
        ax.fill_between([TIME_X, w - TIME_X], e.y - 11, e.y + 11, color="#f1f3f6", zorder=2, linewidth=0)
        ax.text((CLIENT_X + SERVER_X) / 2, e.y + 4, f"\u22ee {e.text} \u22ee", ha="center", fontsize=12 * _PT,
                style="italic", color=_MUTED, zorder=3)
    for name, top, bottom in lad.phases:
        ax.plot([BRACKET_X - 8, BRACKET_X, BRACKET_X, BRACKET_X - 8], [top, top, bottom, bottom], color=_MUTED,
                linewidth=1.5 * _PT)
        ax.text(BRACKET_X + 8, (top + bottom) / 2, name, rotation=-90, ha="center", va="center",
                fontsize=12.5 * _PT, fontweight="bold", color=_MUTED)
    for a in lad.arrows:
        _arrow(ax, a, lad.captured_near)
    return fig


def _arrow(ax, a, captured_near) -> None:
    x1, x2 = a.start_x, a.end_x
    ax.annotate("", xy=(x2, a.arrive_y), xytext=(x1, a.send_y), zorder=4,
                arrowprops=dict(arrowstyle="-|>", color=a.colour, linewidth=2 * _PT, mutation_scale=12,
                                shrinkA=0, shrinkB=0))
    tx, ty, angle, anchor, above = a.text_place(captured_near)
    # the y axis points down: a slope down the page is a clockwise (negative) rotation; the offset from
    # the arrow is along the rotated text's own up
    ax.annotate(a.text, (tx, ty), xytext=(0, 3 if above else -3), textcoords="offset points", rotation=-angle,
                rotation_mode="anchor", ha="left" if anchor == "start" else "right",
                va="bottom" if above else "top", fontsize=12.5 * _PT, family="monospace", color=a.colour,
                zorder=5)
    if a.labels:
        ax.text(SERVER_X + 12, a.captured_y + 4, " + ".join(x.replace("_", " ") for x in a.labels),
                fontsize=11.5 * _PT, fontweight="bold", color=a.colour)
    ax.text(TIME_X, a.captured_y + 4, f"{a.frame}  {a.time_s:.6f}", fontsize=11.5 * _PT, family="monospace",
            color=_INK)


_KINDS = (("SYN, SYN-ACK, handshake ACK", CONNECT_COLOUR), ("data", DATA_COLOUR), ("pure ACK", ACK_COLOUR),
          ("FIN", CLOSE_COLOUR), ("RST", RESET_COLOUR))


def _legend(ax, lad: Ladder, y: float) -> None:
    x = 4.0
    for text, colour in list(_KINDS) + [(n.replace("_", " "), c) for n, c in lad.legend]:
        width = 34 + 7.2 * len(text)
        if x + width > lad.width:
            break
        ax.plot([x, x + 22], [y - 4, y - 4], color=colour, linewidth=3 * _PT)
        ax.text(x + 27, y, text, fontsize=12.5 * _PT, color=colour)
        x += width


def ladder_image(packets: pd.DataFrame, stream: int, fmt: str = "png", frames=None, include=()) -> bytes:
    """The ladder diagram of TCP stream *stream* as the bytes of a *fmt* file (png, svg, pdf, ...)."""
    return figure_bytes(ladder_figure(packets, stream, frames, include), fmt)


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI if fmt == "png" else PIXELS_PER_INCH)
    return buf.getvalue()


class LadderDiagram:
    """A ladder diagram for a notebook: shown inline (SVG) by Jupyter; ``.figure`` is the matplotlib
    figure, ``.layout`` the :class:`.ladder.Ladder` (frames, coordinates, texts), ``.save(path)`` writes
    it (PNG, SVG or PDF by the name)."""

    def __init__(self, layout: Ladder) -> None:
        self.layout = layout
        self.figure = draw(layout)

    @property
    def frames(self) -> list[int]:
        """The frames drawn, top to bottom."""
        return [a.frame for a in self.layout.arrows]

    def _repr_svg_(self) -> str:
        return figure_bytes(self.figure, "svg").decode("utf-8")

    def save(self, path) -> None:
        from pathlib import Path

        from .plot import image_format

        Path(path).write_bytes(figure_bytes(self.figure, image_format(path)))

    def __repr__(self) -> str:
        return f"<ladder diagram: {self.layout.caption}>"
