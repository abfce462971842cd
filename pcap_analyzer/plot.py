"""The Stevens time-sequence graph of one TCP stream.

x is seconds since the stream's first packet, y the data sender's relative
sequence number.  Each data segment is a short vertical bar from its first to
just past its last byte, so steady sending climbs as a staircase of bars;
retransmissions are drawn in another colour with a marker.  The receiver's
acknowledgement number is a step line under the bars and the edge of its
advertised window (ack + window) a step line above them: the sender may send
up to the upper line.

Figures are built with :class:`matplotlib.figure.Figure`, not pyplot, so no
backend is chosen and no figure is kept in global state; in a notebook they
display like any figure (with ``%matplotlib inline``).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .tables import filter_packets, one_stream
from .vocabulary import RESENDS

_DATA_COLOUR = "tab:blue"
_RETRANSMISSION_COLOUR = "tab:red"
_ACK_COLOUR = "tab:green"
_WINDOW_COLOUR = "tab:orange"
_DPI = 120


def time_sequence_figure(packets: pd.DataFrame, stream: int) -> Figure:
    """Draw the time-sequence graph of TCP stream *stream* of a packets table.

    The data sender is the side that sent more payload bytes.  Raises
    ``ValueError`` when the table has no such TCP stream.
    """
    p = one_stream(packets, stream, "tcp")
    start = p["time_rel_s"].iloc[0]
    from_client = p["from_client"].fillna(False).astype(bool)
    client_bytes = int(p.loc[from_client, "payload_len"].fillna(0).sum())
    server_bytes = int(p.loc[~from_client, "payload_len"].fillna(0).sum())
    sender_is_client = client_bytes >= server_bytes
    sent = p[from_client == sender_is_client]
    received = p[from_client != sender_is_client]

    data = sent[sent["payload_len"].fillna(0) > 0]
    retransmitted = data.index.isin(filter_packets(data, labels=list(RESENDS)).index)

    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.add_subplot()

    acks = received[received["flags"].fillna("").str.split(",").map(lambda f: "ACK" in f).astype(bool)]
    acks = acks[acks["rel_ack"].notna()]
    ack_t = (acks["time_rel_s"] - start).to_numpy(dtype=float)
    ack_y = acks["rel_ack"].to_numpy(dtype=float)
    if len(acks):
        ax.step(ack_t, ack_y, where="post", color=_ACK_COLOUR, linewidth=1, label="ACK (receiver)")
        window = acks[acks["window_size"].notna()]
        ax.step((window["time_rel_s"] - start).to_numpy(dtype=float),
                (window["rel_ack"] + window["window_size"]).to_numpy(dtype=float),
                where="post", color=_WINDOW_COLOUR, linewidth=1, label="receive window edge (ACK + window)")

    for rows, colour, label, marker in ((data[~retransmitted], _DATA_COLOUR, "data segment", None),
                                        (data[retransmitted], _RETRANSMISSION_COLOUR, "retransmission", "x")):
        if rows.empty:
            continue
        t = (rows["time_rel_s"] - start).to_numpy(dtype=float)
        low = rows["rel_seq"].to_numpy(dtype=float)
        high = (rows["rel_seq"] + rows["payload_len"]).to_numpy(dtype=float)
        ax.vlines(t, low, high, colors=colour, linewidth=1.5, label=None if marker else label)
        if marker:
            # One marker per segment, at its top: the legend entry and a handle
            # tests and readers can count.
            ax.plot(t, high, linestyle="none", marker=marker, markersize=6, color=colour, label=label)

    src, sport, dst, dport = (sent if len(sent) else p).iloc[0][["src", "sport", "dst", "dport"]]
    ax.set_title(f"TCP stream {stream}: data from {_endpoint(src, sport)} to {_endpoint(dst, dport)}")
    ax.set_xlabel("time since the stream's first packet (s)")
    ax.set_ylabel("relative sequence number of the data sender (bytes)")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left")
    return fig


def save_time_sequence(packets: pd.DataFrame, stream: int, path: str | os.PathLike,
                       capture: str | os.PathLike | None = None) -> None:
    """Write the time-sequence graph of TCP stream *stream* to *path*.

    PNG, or another format matplotlib writes when the file name ends in it
    (``.svg``, ``.pdf``, ...).  The file is replaced atomically; with *capture*
    given, writing over that file is refused
    (:class:`pcap_analyzer.export.ExportError`).
    """
    from .files import replace_atomically

    image = time_sequence_image(packets, stream, image_format(path))
    replace_atomically(path, lambda tmp: Path(tmp).write_bytes(image), capture)


def time_sequence_image(packets: pd.DataFrame, stream: int, fmt: str = "png") -> bytes:
    """The time-sequence graph of TCP stream *stream* as the bytes of a *fmt* file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = time_sequence_figure(packets, stream)
    FigureCanvasAgg(fig)  # render with Agg whatever backend the session uses
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=_DPI)
    return buf.getvalue()


def image_format(path: str | os.PathLike | None) -> str:
    """The image format a file name asks for (``.svg``, ``.pdf``, ...); PNG otherwise."""
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(path).suffix.lstrip(".").lower() if path is not None else ""
    return suffix if suffix in FigureCanvasBase.get_supported_filetypes() else "png"


def _endpoint(addr, port) -> str:
    addr = str(addr)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
