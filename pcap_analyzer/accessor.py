"""``df.pcapan``: questions a notebook asks of the packets table.

pcapan registers the accessor when it makes its first table (or when
:mod:`pcap_analyzer` is imported after pandas)::

    a = analyze("sample_captures/bulk_loss.pcap")
    a.packets.pcapan.stream(0)                 # one TCP stream's frames
    a.packets.pcapan.with_label("retransmission")
    a.packets.pcapan.handshakes()              # SYN, SYN-ACK, ACK of every stream
    a.packets.pcapan.time_sequence(0)          # a matplotlib Figure
    a.packets.pcapan.time_sequence(0, time=(0, 0.05), seq=(0, 100_000))  # zoomed
    a.packets.pcapan.ladder(0)                 # the ladder diagram, shown inline by Jupyter

Every method returns a new object and leaves the table alone.
"""
from __future__ import annotations

import pandas as pd

from .tables import filter_packets, one_stream
from .vocabulary import MEANINGS

# Columns the methods below read; checked when the accessor is first used on
# a frame, so a wrong table fails with one clear message instead of a KeyError
# deep inside.
REQUIRED_COLUMNS = ("frame", "time_rel_s", "proto", "stream", "src", "sport", "dst", "dport", "from_client",
                    "flags", "seq", "ack", "rel_seq", "rel_ack", "payload_len", "window_size", "mss", "wscale",
                    "phase", "labels")

HANDSHAKE_PHASES = ("syn", "syn_ack", "handshake_ack")

_HANDSHAKE_COLUMNS = ["stream", "phase", "frame", "time_rel_s", "src", "sport", "dst", "dport", "flags",
                      "seq", "ack", "rel_seq", "rel_ack", "window_size", "mss", "wscale"]


@pd.api.extensions.register_dataframe_accessor("pcapan")
class PcapanAccessor:
    """Filters and views of a pcapan packets table (``Analysis.packets``)."""

    def __init__(self, packets: pd.DataFrame) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in packets.columns]
        if missing:
            # AttributeError is what pandas expects from an accessor that does
            # not apply to this frame.
            raise AttributeError(
                "df.pcapan works on a pcapan packets table (Analysis.packets); "
                f"this frame lacks the columns {', '.join(missing)}")
        self._packets = packets

    def stream(self, n: int, proto: str = "tcp") -> pd.DataFrame:
        """The frames of stream *n* of *proto* (``tcp`` or ``udp``), in capture order."""
        return one_stream(self._packets, n, proto)

    def with_label(self, name: str) -> pd.DataFrame:
        """The frames carrying the analysis label *name* (one of the names in ``labels``)."""
        known = MEANINGS
        if name not in known:
            raise ValueError(f"unknown label {name!r}; labels are: {', '.join(sorted(known))}")
        return filter_packets(self._packets, labels=[name])

    def handshakes(self) -> pd.DataFrame:
        """The three-way handshake frames of every TCP stream, one row each.

        Columns: the frame's own fields (raw ``seq``/``ack`` and relative
        ``rel_seq``/``rel_ack``, MSS and window scale options) plus, on every
        row of a stream, ``client_port``, ``server_port``, ``client_isn`` and
        ``server_isn``: the ISNs are the raw sequence numbers of the SYN and
        the SYN-ACK.  A retransmitted SYN gives a second ``syn`` row; the
        ISN is taken from the first.
        """
        p = self._packets
        hs = p[(p["proto"] == "tcp") & p["phase"].isin(HANDSHAKE_PHASES)]
        hs = hs[_HANDSHAKE_COLUMNS].sort_values(["stream", "frame"], kind="stable")
        syn = hs[hs["phase"] == "syn"].groupby("stream").first()
        syn_ack = hs[hs["phase"] == "syn_ack"].groupby("stream").first()
        per_stream = pd.DataFrame({
            "client_port": syn["sport"].combine_first(syn_ack["dport"]),
            "server_port": syn["dport"].combine_first(syn_ack["sport"]),
            "client_isn": syn["seq"],
            "server_isn": syn_ack["seq"],
        }).astype("Int64")
        out = hs.join(per_stream, on="stream")
        out["phase"] = out["phase"].astype(pd.CategoricalDtype(HANDSHAKE_PHASES))
        return out.reset_index(drop=True)

    def time_sequence(self, stream: int, time=None, seq=None, window: bool | None = None):
        """The Stevens time-sequence graph of TCP stream *stream* (a matplotlib Figure).

        ``time=(start, end)`` zooms to seconds since the stream's first frame,
        ``seq=(start, end)`` to relative bytes (either end ``None``, or the text
        ``"start:end"``); ``window`` forces the receive window edge on or off
        (see :mod:`pcap_analyzer.plot`).
        """
        from .plot import time_sequence_figure

        return time_sequence_figure(self._packets, stream, time=time, seq=seq, window=window)

    def ladder(self, stream: int, frames=None, include=()):
        """The ladder (message sequence) diagram of TCP stream *stream*, shown inline by Jupyter.

        The handshake and first data, every labelled frame with a few frames around it, the frames in
        *include*, and the teardown; ``frames=(first, last)`` (or ``"first:last"``) draws that range of
        frame numbers instead.  Returns a :class:`pcap_analyzer.ladder_figure.LadderDiagram`
        (``.figure``, ``.frames``, ``.save(path)``); raises ``ValueError`` for a stream the table lacks.
        """
        from .ladder import ladder
        from .ladder_figure import LadderDiagram

        return LadderDiagram(ladder(self._packets, stream, frames=frames, include=include))
