"""The ladder (message sequence) diagram of one TCP stream: which frames it shows, where each arrow goes.

A course draws TCP as two vertical lines, client on the left and server on
the right, time running down, each segment an arrow from its sender to its
receiver labelled with its flags and relative numbers (Wireshark's Flow
Graph).  A stream of thousands of frames cannot be drawn whole, so
:func:`choose_frames` keeps what a reader looks for: the first frames
(handshake and the first data), every labelled frame (retransmissions,
duplicate ACKs, zero windows, ...) with a few frames of context, frames
asked for (a grade's evidence), and the teardown; the stretches between
are *elided* and drawn as such.

:func:`ladder` lays the chosen frames out.  Time runs down, but not on a
linear scale (a pause of seconds would push everything off the page): the
events (each frame leaving its sender, each frame reaching its receiver)
are placed in the order of their times, a gap between two of them growing
with its duration up to a bound, and two frames captured one after the
other at least a row apart, so every label stays readable.  The capture
saw each frame at one point only.  When the stream's handshake was
captured, which of the handshake's two gaps is the long one says which end
the capture was taken at (near the client, the SYN waits a round trip for
its SYN-ACK), and half the shortest round trip seen (the handshake's, or
a later one measured by the far end's ACKs) is the one-way delay; each
arrow then leaves its sender and reaches its receiver that one-way delay
apart, so arrows slant as a textbook draws them and data and ACKs in
flight cross.  Without a handshake arrows are level (as Wireshark draws
them all).

The result (:class:`Ladder`) holds coordinates, texts and colours only:
the HTML page draws it as SVG (:mod:`.report.html`), ``pcapan plot --kind
ladder`` and notebooks with matplotlib (:mod:`.ladder_figure`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .tables import one_stream
from .vocabulary import LABEL_NAMES, SEQUENCE_LABELS

# --- what is shown ------------------------------------------------------------------

FIRST_FRAMES = 8        # the handshake and the first data and ACKs
CONTEXT_FRAMES = 2      # before and after each labelled or requested frame
LAST_FRAMES = 3         # the end of the stream, after the teardown's FINs or RST
MIN_ELIDED = 3          # a shorter stretch between shown frames is shown rather than elided
MAX_ARROWS = 200        # a diagram stays readable (and a page small)

# The labels an arrow is shown for: what TCP did (Wireshark's analysis flags), a damaged
# segment; not a checksum left to the network card or a frame cut by the snapshot length.
SHOWN_LABELS: tuple[str, ...] = LABEL_NAMES[:SEQUENCE_LABELS] + (
    "reused_ports", "malformed", "bad_ip_checksum", "bad_tcp_checksum")

# Colours of the labels (the time-sequence graph's colours for the resends: matplotlib's
# tab:brown, tab:purple, tab:red); labels not named here are drawn in LABEL_COLOUR.
LABEL_COLOURS: dict[str, str] = {
    "spurious_retransmission": "#8c564b",
    "fast_retransmission": "#9467bd",
    "retransmission": "#d62728",
    "out_of_order": "#e377c2",
    "lost_segment": "#7f7f7f",
    "ack_lost_segment": "#7f7f7f",
    "duplicate_ack": "#ff7f0e",
    "zero_window": "#17becf",
    "zero_window_probe": "#17becf",
    "zero_window_probe_ack": "#17becf",
    "window_full": "#17becf",
    "window_update": "#2ca02c",
    "reused_ports": "#bcbd22",
}
LABEL_COLOUR = "#b8860b"
# Arrow colours by what the segment does (a label's colour wins).
CONNECT_COLOUR = "#1f77b4"    # SYN, SYN-ACK, the handshake's ACK
DATA_COLOUR = "#222222"
ACK_COLOUR = "#666666"
CLOSE_COLOUR = "#2f4f4f"      # FIN
RESET_COLOUR = "#b22222"      # RST

# --- layout, in pixels (an SVG user unit) ----------------------------------------------

WIDTH = 920
TIME_X = 8              # the left column: frame number and time
CLIENT_X = 170
SERVER_X = 620          # right of it: the labels' names, then the phases' brackets
BRACKET_X = 900
TOP = 78                # below the endpoint names
ROW = 34                # between two frames captured one after the other
MAX_PAUSE = 60          # a long pause between events is drawn this high at most
SLANT = 30              # the one-way delay, drawn this high (when it is known)
ELIDED = 34             # the band of an elided stretch
TEXT_OFFSET = 22        # an arrow's text starts this far along it from a line
BOTTOM = 30

Range = tuple  # (first, last): frame numbers, either None


class LadderError(ValueError):
    """What is asked cannot be drawn: no such TCP stream, a bad range, no frame in it."""


@dataclass
class Arrow:
    """One frame: from its sender's line at ``send_y`` to its receiver's at ``arrive_y``."""

    frame: int
    from_client: bool
    time_s: float          # since the capture's first frame (as captured)
    captured_y: float      # where the capture saw it: the time column's text goes there
    send_y: float
    arrive_y: float
    text: str              # "SYN seq=0", "ACK seq=1 ack=1", "PSH,ACK seq=1 ack=1 len=94"
    labels: tuple          # the shown labels it carries
    colour: str
    explain: str = ""

    @property
    def start_x(self) -> float:
        return CLIENT_X if self.from_client else SERVER_X

    @property
    def end_x(self) -> float:
        return SERVER_X if self.from_client else CLIENT_X

    def text_place(self, captured_near: str | None) -> tuple[float, float, float, str, bool]:
        """Where the arrow's text goes: (x, y, angle in degrees clockwise, anchor "start" or "end",
        above the arrow or below it).

        Along the arrow, read left to right, at the end where the capture saw it: frames captured one
        after the other are a row apart there, so their texts keep apart whatever bursts crowd the
        other end.  Above an arrow leaving that end, below one reaching it: each text stays in the band
        its own arrow opens, clear of the neighbours' lines."""
        at_client = captured_near != "server"
        x0, y0 = (self.start_x, self.send_y) if self.from_client == at_client else (self.end_x, self.arrive_y)
        x1, y1 = (self.end_x, self.arrive_y) if self.from_client == at_client else (self.start_x, self.send_y)
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        x, y = x0 + (x1 - x0) / length * TEXT_OFFSET, y0 + (y1 - y0) / length * TEXT_OFFSET
        left, right = ((x0, y0), (x1, y1)) if x0 < x1 else ((x1, y1), (x0, y0))
        angle = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
        leaving = self.from_client == at_client
        return x, y, angle, "start" if at_client else "end", leaving or self.send_y == self.arrive_y


@dataclass
class Elision:
    """A stretch of frames not drawn, between two shown ones."""

    y: float
    count: int
    first: int
    last: int

    @property
    def text(self) -> str:
        what = "1 frame" if self.count == 1 else f"{self.count:,} frames"
        return f"{what} not shown (frames {self.first}\u2013{self.last})" if self.count > 1 else \
            f"{what} not shown (frame {self.first})"


@dataclass
class Ladder:
    """A laid-out ladder diagram of one TCP stream."""

    stream: int
    client: str             # "10.0.0.1:40000"
    server: str
    arrows: list[Arrow]
    elisions: list[Elision]
    height: float
    frames: int             # frames in the stream
    one_way_s: float | None  # the one-way delay the arrows are slanted by (None: level arrows)
    captured_near: str | None  # "client" or "server"
    left_out: int = 0       # labelled frames beyond MAX_ARROWS, not drawn
    width: float = WIDTH
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, colour) of the labels drawn
    phases: list[tuple[str, float, float]] = field(default_factory=list)  # (name, top, bottom) brackets

    @property
    def caption(self) -> str:
        """What the reader needs to read the diagram right."""
        shown = f"{len(self.arrows):,} of the stream's {self.frames:,} frames"
        if self.one_way_s is not None:
            timing = (f"arrows slanted by the one-way delay, half the shortest round trip seen "
                      f"({_duration(self.one_way_s)}); captured near the {self.captured_near}")
        else:
            timing = "arrows level: without the handshake the one-way delay is not known"
        more = (f"; {self.left_out:,} more labelled frames not drawn (choose frames to see them)"
                if self.left_out else "")
        return f"TCP stream {self.stream}: {shown}; time runs down, not to scale; {timing}{more}"


def parse_frames(text: str) -> Range:
    """``"a:b"`` -> ``(a, b)`` frame numbers (either side may be empty); :class:`LadderError` otherwise."""
    start, colon, end = text.partition(":")
    if not colon:
        raise LadderError(f"{text!r} is not a range of frames FIRST:LAST (either side may be empty)")

    def number(side: str) -> int | None:
        side = side.strip()
        if not side:
            return None
        if not side.isdigit():
            raise LadderError(f"{side!r} in {text!r} is not a frame number")
        return int(side)

    r = (number(start), number(end))
    if r[0] is not None and r[1] is not None and r[0] > r[1]:
        raise LadderError(f"the range {text!r} is empty: its first frame must not be after its last")
    return r


def shown_labels(labels: pd.Series) -> list[tuple]:
    """The :data:`SHOWN_LABELS` each frame of a ``labels`` column carries, in the vocabulary's order."""
    shown = set(SHOWN_LABELS)
    out = []
    for v in labels.astype("string").fillna("").tolist():
        out.append(tuple(x for x in v.split(";") if x in shown) if v else ())
    return out


def choose_frames(p: pd.DataFrame, frames: Range | None = None, include=(),
                  limit: int = MAX_ARROWS) -> tuple[np.ndarray, int]:
    """Which rows of one stream's frames *p* (in capture order) a ladder shows, and how many labelled
    frames did not fit in *limit* arrows.

    With *frames* ``(first, last)`` the frames numbered in that range (at most *limit*); otherwise the
    first frames, every labelled frame and every frame in *include* with their context, and the
    teardown.  Short stretches between shown frames are shown too."""
    n = len(p)
    number = p["frame"].to_numpy(dtype=np.int64)
    if frames is not None:
        low = -math.inf if frames[0] is None else frames[0]
        high = math.inf if frames[1] is None else frames[1]
        keep = (number >= low) & (number <= high)
        at = np.flatnonzero(keep)
        if len(at) > limit:
            keep[at[limit:]] = False
        return keep, 0
    keep = np.zeros(n, dtype=bool)
    keep[:FIRST_FRAMES] = True
    phase = p["phase"].astype("string").fillna("").to_numpy(dtype=object)
    closing = np.flatnonzero((phase == "fin") | (phase == "rst"))
    keep[max(0, n - LAST_FRAMES):] = True
    marked = np.zeros(n, dtype=bool)
    marked[closing] = True
    labelled = np.array([bool(x) for x in shown_labels(p["labels"])], dtype=bool).reshape(n)
    wanted = np.isin(number, np.asarray(list(include), dtype=np.int64))
    mandatory = keep | _widen(marked | wanted, CONTEXT_FRAMES)
    extra = _widen(labelled, CONTEXT_FRAMES) & ~mandatory
    left_out = 0
    budget = limit - int(mandatory.sum())
    if budget < 0:     # even the mandatory frames do not fit: the first of them
        at = np.flatnonzero(mandatory)
        mandatory[at[limit:]] = False
        return _filled(mandatory, limit), int(labelled[at[limit:]].sum())
    at = np.flatnonzero(extra)
    if len(at) > budget:
        left_out = int(labelled[at[budget:]].sum())
        extra[at[budget:]] = False
    return _filled(mandatory | extra, limit), left_out


def _widen(mask: np.ndarray, k: int) -> np.ndarray:
    out = mask.copy()
    for d in range(1, k + 1):
        out[d:] |= mask[:-d]
        out[:-d] |= mask[d:]
    return out


def _filled(keep: np.ndarray, limit: int) -> np.ndarray:
    """*keep* with stretches of fewer than MIN_ELIDED frames between shown ones shown too."""
    at = np.flatnonzero(keep)
    room = limit - len(at)
    for a, b in zip(at[:-1], at[1:]):
        if 1 < b - a <= MIN_ELIDED and room >= b - a - 1:
            keep[a + 1:b] = True
            room -= b - a - 1
    return keep


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} \u00b5s"


def _endpoint(addr, port) -> str:
    addr = str(addr)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def arrow_text(flags: str, rel_seq, rel_ack, payload_len) -> str:
    """The label of an arrow: flags, relative seq, ack (when the ACK flag is set), length (when there is
    payload) -- the numbers Wireshark's Flow Graph and ``tcp.seq``/``tcp.ack``/``tcp.len`` give."""
    names = [f for f in (flags or "").split(",") if f]
    parts = [",".join(names)] if names else []
    if rel_seq is not None:
        parts.append(f"seq={rel_seq}")
    if "ACK" in names and rel_ack is not None:
        parts.append(f"ack={rel_ack}")
    if payload_len:
        parts.append(f"len={payload_len}")
    return " ".join(parts)


def _colour(flags: str, phase: str, labels: tuple, payload: int) -> str:
    if labels:
        return LABEL_COLOURS.get(labels[0], LABEL_COLOUR)
    if phase in ("syn", "syn_ack", "handshake_ack"):
        return CONNECT_COLOUR
    if phase == "rst":
        return RESET_COLOUR
    if phase == "fin":
        return CLOSE_COLOUR
    return DATA_COLOUR if payload else ACK_COLOUR


def one_way_delay(p: pd.DataFrame) -> tuple[float | None, str | None]:
    """Half the shortest round trip seen (the handshake's, or a later one from the far end's ACKs), and
    which end the capture was taken near; (None, None) without a SYN, its SYN-ACK and the handshake's
    ACK in *p* (one stream's frames)."""
    phase = p["phase"].astype("string").fillna("")
    times = {}
    for name in ("syn", "syn_ack", "handshake_ack"):
        rows = p.loc[(phase == name).to_numpy(), "time_rel_s"]
        if rows.empty:
            return None, None
        times[name] = float(rows.iloc[0] if name != "syn" else rows.iloc[-1])
    to_answer = times["syn_ack"] - times["syn"]     # a round trip when captured near the client
    to_ack = times["handshake_ack"] - times["syn_ack"]  # a round trip when captured near the server
    if to_answer < 0 or to_ack < 0 or to_answer + to_ack <= 0:
        return None, None
    near = "client" if to_answer >= to_ack else "server"
    rtt = max(to_answer, to_ack)
    # a later round trip may be shorter (the handshake's waited in a queue): the shortest seen is the
    # closest to the path's own delay, and keeps every answer after what it answers
    if "ack_rtt_s" in p.columns:
        far = ~p["from_client"].fillna(True).astype(bool) if near == "client" else p["from_client"].fillna(False)
        samples = p.loc[far.astype(bool).to_numpy(), "ack_rtt_s"].dropna()
        samples = samples[samples > 0]
        if len(samples):
            rtt = min(rtt, float(samples.min()))
    return rtt / 2, near


def ladder(packets: pd.DataFrame, stream: int, frames: Range | str | None = None, include=(),
           limit: int = MAX_ARROWS) -> Ladder:
    """Choose and lay out the ladder diagram of TCP stream *stream* of a packets table.

    *frames* (``(first, last)`` or the text ``"first:last"``) shows that range of frame numbers
    instead of the chosen frames; *include* names frames that must be shown (with context).
    Raises :class:`LadderError` (a ``ValueError``) for a stream the table lacks or a range
    holding none of its frames.
    """
    if isinstance(frames, str):
        frames = parse_frames(frames)
    try:
        p = one_stream(packets, stream, "tcp").reset_index(drop=True)
    except ValueError as exc:
        raise LadderError(str(exc)) from None
    keep, left_out = choose_frames(p, frames, include, limit)
    if not keep.any():
        raise LadderError(f"TCP stream {stream} has no frame in the range {frames[0] or ''}:{frames[1] or ''} "
                          f"(its frames are {int(p['frame'].iloc[0])} to {int(p['frame'].iloc[-1])})")
    one_way, near = one_way_delay(p)
    first = p.iloc[0]
    from_client0 = bool(first["from_client"]) if pd.notna(first["from_client"]) else True
    client = _endpoint(first["src"], first["sport"]) if from_client0 else _endpoint(first["dst"], first["dport"])
    server = _endpoint(first["dst"], first["dport"]) if from_client0 else _endpoint(first["src"], first["sport"])
    arrows, elisions, height = _layout(p, keep, one_way, near)
    drawn = [label for a in arrows for label in a.labels]
    legend = [(name, LABEL_COLOURS.get(name, LABEL_COLOUR)) for name in SHOWN_LABELS if name in drawn]
    return Ladder(stream=stream, client=client, server=server, arrows=arrows, elisions=elisions,
                  height=height, frames=len(p), one_way_s=one_way, captured_near=near, left_out=left_out,
                  legend=legend, phases=_phases(p, keep, arrows))


def _phases(p: pd.DataFrame, keep: np.ndarray, arrows: list[Arrow]) -> list[tuple[str, float, float]]:
    """Brackets beside the arrows: the three-way handshake (SYN to the handshake's ACK) and the teardown
    (the first FIN or RST to the last frame), where the arrows shown hold them."""
    phase = p["phase"].astype("string").fillna("").to_numpy(dtype=object)[keep]
    out = []

    def span(name: str, first: int, last: int) -> None:
        ys = [y for a in arrows[first:last + 1] for y in (a.send_y, a.arrive_y)]
        out.append((name, min(ys), max(ys)))
    syn = [k for k, v in enumerate(phase) if v == "syn"]
    ack = [k for k, v in enumerate(phase) if v == "handshake_ack"]
    if syn and ack and ack[0] > syn[0]:
        span("three-way handshake", syn[0], ack[0])
    closing = [k for k, v in enumerate(phase) if v in ("fin", "rst")]
    if closing:
        span("teardown" if phase[closing[0]] == "fin" else "reset", closing[0], len(arrows) - 1)
    return out


def _layout(p: pd.DataFrame, keep: np.ndarray, one_way: float | None, near: str | None):
    rows = np.flatnonzero(keep)
    q = p.iloc[rows]
    t = q["time_rel_s"].to_numpy(dtype=float, na_value=0.0)
    from_client = q["from_client"].fillna(True).astype(bool).to_numpy()
    # the other end of each arrow: a one-way delay after (or before) the capture saw it
    if one_way is not None:
        captured_at_sender = from_client == (near == "client")
        other = np.where(captured_at_sender, t + one_way, t - one_way)
        scale = SLANT / one_way
    else:
        other, scale = t, 0.0
    # elided stretches: before shown row k when rows[k] does not follow rows[k - 1]
    gap_before = np.zeros(len(rows), dtype=bool)
    gap_before[1:] = np.diff(rows) > 1
    leading = rows[0] > 0 if len(rows) else False

    events = sorted([(t[k], 0, k) for k in range(len(rows))] + [(other[k], 1, k) for k in range(len(rows))])
    captured_y = np.zeros(len(rows))
    other_y = np.zeros(len(rows))
    y = TOP + (ELIDED if leading else 0)
    last_captured = -math.inf
    previous = None
    elisions = []
    if leading:
        elisions.append(Elision(TOP + ELIDED / 2 - ROW / 2, int(rows[0]), int(p["frame"].iloc[0]),
                                int(p["frame"].iloc[rows[0] - 1])))
    for time, kind, k in events:
        if previous is not None and scale:
            y += min(max(time - previous, 0.0) * scale, MAX_PAUSE)
        previous = time
        if kind == 0:
            floor = last_captured + ROW + (ELIDED if gap_before[k] else 0)
            if k == 0:
                floor = max(floor, TOP + (ELIDED if leading else 0))
            y = max(y, floor)
            if gap_before[k]:
                a, b = rows[k - 1] + 1, rows[k] - 1
                elisions.append(Elision(last_captured + (y - last_captured) / 2 - ROW / 4, int(b - a + 1),
                                        int(p["frame"].iloc[a]), int(p["frame"].iloc[b])))
            captured_y[k] = last_captured = y
        else:
            other_y[k] = y
    # an arrow reaching back above the frame captured before it (a sender's time before the
    # capture's first event) starts at the top
    other_y = np.maximum(other_y, TOP - ROW / 2)
    bottom = max(float(captured_y.max(initial=TOP)), float(other_y.max(initial=TOP)))
    if len(rows) and rows[-1] < len(p) - 1:
        a, b = rows[-1] + 1, len(p) - 1
        # below the last arrow's text
        elisions.append(Elision(bottom + ROW * 0.9, int(b - a + 1), int(p["frame"].iloc[a]), int(p["frame"].iloc[b])))
        bottom += ELIDED + ROW * 0.4

    flags = q["flags"].astype("string").fillna("").tolist()
    phase = q["phase"].astype("string").fillna("").tolist()
    rel_seq = q["rel_seq"].astype("Int64").tolist()
    rel_ack = q["rel_ack"].astype("Int64").tolist()
    payload = q["payload_len"].fillna(0).astype("int64").tolist()
    labels = shown_labels(q["labels"])
    explain = (q["explain"].astype("string").fillna("").tolist() if "explain" in q.columns
               else [""] * len(q))
    arrows = []
    for k in range(len(rows)):
        if one_way is not None:
            at_sender = bool(from_client[k]) == (near == "client")
            send_y, arrive_y = (captured_y[k], other_y[k]) if at_sender else (other_y[k], captured_y[k])
        else:
            send_y = arrive_y = captured_y[k]
        arrows.append(Arrow(
            frame=int(q["frame"].iloc[k]), from_client=bool(from_client[k]), time_s=float(t[k]),
            captured_y=float(captured_y[k]), send_y=float(send_y), arrive_y=float(arrive_y),
            text=arrow_text(flags[k], _value(rel_seq[k]), _value(rel_ack[k]), payload[k]),
            labels=labels[k], colour=_colour(flags[k], phase[k], labels[k], payload[k]), explain=explain[k]))
    return arrows, elisions, bottom + BOTTOM


def _value(v):
    return None if v is None or v is pd.NA else int(v)
