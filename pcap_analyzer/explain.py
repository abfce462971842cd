"""One plain-language sentence per frame: the packets table's ``explain`` column.

The sentence says what the frame does in the words of a networking course
("Client opens the connection: SYN with random ISN 584359 (relative 0) from
ephemeral port 54846"), from the columns the pipeline already computed:
phase, flags, relative numbers, labels and checksum verdicts.

How a sentence is chosen:

* the *topic* is the most important TCP analysis label of the frame (the
  order of :data:`TOPICS`: a resend matters more than the window it
  advertised); a frame without one is described by its phase (TCP) or
  protocol (UDP, ICMP, ARP, ...);
* one short *note* may follow after a semicolon: a wrong or offloaded
  checksum, a zero or full window when that is not already the topic, or a
  frame cut by the snapshot length (the first of :data:`NOTES` present).

Every sentence is built for all frames of one template at once (numbers
turned into text and joined column-wise), never row by row: the column
costs about 0.3 s per million frames (the 1.2-million-frame capture of
``benchmarks/make_capture.py``).
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .vocabulary import (DUPLICATE_WITHIN_S, EPHEMERAL_RANGES, ICMP_CODE_MEANINGS, ICMP_CODES, ICMP_TYPES,
                         LAYER_NAMES, NOTES, RESENDS, TOPICS)

_ACK_NAME = "ACK"     # as the flags column spells it
_ORDINALS = ("", "First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth",
             "Tenth")
# Protocols without a stream: one fixed sentence each.
_PROTOCOL_SENTENCES = {
    "arp": "ARP: asks which hardware address belongs to an IP address, or answers that question",
    "icmp": "ICMP: a control or error message of the IP layer (ping, unreachable, time exceeded)",
    "icmpv6": "ICMPv6: a control or error message of IPv6, including neighbour discovery (IPv6's ARP)",
    "ipv4": "IPv4 packet carrying a protocol pcapan does not analyse",
    "ipv6": "IPv6 packet carrying a protocol pcapan does not analyse",
    "other": "Frame without an IP packet that pcapan can read",
}
_FRAGMENT_SENTENCE = ("IP fragment: one piece of a larger datagram; the frame that completes it "
                      "carries the TCP/UDP header")

def _join(parts: tuple) -> pa.Array:
    """Concatenate text constants and equally long text arrays element-wise."""
    if len(parts) == 1:
        return pa.array(np.full(1, parts[0], dtype=object)) if isinstance(parts[0], str) else parts[0]
    return pc.binary_join_element_wise(*parts, "")


class _Sentences:
    """Text pieces for sets of rows, assembled into one column at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows: list[np.ndarray] = []
        self.texts: list[pa.Array] = []

    def add(self, rows: np.ndarray, *parts) -> None:
        if not len(rows):
            return
        if all(isinstance(p, str) for p in parts):
            # A constant sentence: one string, repeated by index.
            text = pa.array(["".join(parts)]).take(pa.array(np.zeros(len(rows), dtype=np.int64)))
        else:
            text = _join(parts)
        self.rows.append(rows)
        self.texts.append(text.cast(pa.large_string()))

    def column(self) -> pa.Array:
        """One value per row; rows nobody described are null."""
        if not self.rows:
            return pa.nulls(self.n, pa.large_string())
        at = np.full(self.n, -1, dtype=np.int64)
        at[np.concatenate(self.rows)] = np.arange(sum(len(r) for r in self.rows))
        return pa.concat_arrays(self.texts).take(pa.array(at, mask=at < 0))


class _Frames:
    """The packet columns the sentences read, as numpy arrays (missing values filled)."""

    def __init__(self, packets: pd.DataFrame, accepted: np.ndarray | None = None) -> None:
        self.p = packets
        self.n = len(packets)
        self.accepted = accepted    # TCP streams that had a SYN-ACK (None: those in the table)
        self._cache: dict = {}

    def ints(self, name: str) -> np.ndarray:
        key = ("i", name)
        if key not in self._cache:
            self._cache[key] = pd.Series(self.p[name]).to_numpy(dtype=np.int64, na_value=0)
        return self._cache[key]

    def floats(self, name: str) -> np.ndarray:
        key = ("f", name)
        if key not in self._cache:
            self._cache[key] = pd.Series(self.p[name]).to_numpy(dtype=np.float64, na_value=np.nan)
        return self._cache[key]

    def codes(self, name: str) -> tuple[np.ndarray, list]:
        """(integer code per row, -1 for missing; the values the codes stand for)."""
        key = ("c", name)
        if key not in self._cache:
            s = self.p[name]
            if isinstance(s.dtype, pd.CategoricalDtype):
                self._cache[key] = (s.cat.codes.to_numpy(), [str(v) for v in s.cat.categories])
            else:
                codes, uniques = pd.factorize(s)
                self._cache[key] = (codes, [str(v) for v in uniques])
        return self._cache[key]

    def mask(self, name: str, value: str) -> np.ndarray:
        codes, values = self.codes(name)
        return codes == values.index(value) if value in values else np.zeros(self.n, dtype=bool)

    def text(self, name: str, rows: np.ndarray) -> pa.Array:
        """Integer column *name* at *rows* as decimal text."""
        return pc.cast(pa.array(self.ints(name)[rows]), pa.string())

    def sender(self) -> np.ndarray:
        """1 for the client's frames, 0 for the server's, -1 when not known."""
        key = ("sender",)
        if key not in self._cache:
            self._cache[key] = pd.Series(self.p["from_client"]).to_numpy(dtype=np.int8, na_value=-1) \
                if "from_client" in self.p else np.full(self.n, -1, dtype=np.int8)
        return self._cache[key]

    def flag(self, name: str) -> np.ndarray:
        """Whether each frame has the TCP flag *name* (as the flags column spells it)."""
        key = ("flag", name)
        if key not in self._cache:
            codes, texts = self.codes("flags")
            has = np.array([name in t.split(",") for t in texts] + [False], dtype=bool)
            self._cache[key] = has[codes]   # code -1 (no flags) picks the appended False
        return self._cache[key]

    def sides(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, str, str]]:
        """(rows, sender, other side) for the client's, the server's and unattributed frames."""
        fc = self.sender()[rows]
        yield rows[fc == 1], "Client", "server"
        yield rows[fc == 0], "Server", "client"
        yield rows[fc == -1], "Sender", "receiver"


def _number(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _milliseconds(seconds: np.ndarray) -> pa.Array:
    """Seconds as milliseconds text: whole above 10 ms, one decimal above 1 ms, else two."""
    ms = seconds * 1000.0
    ms = np.where(ms >= 10, np.round(ms), np.where(ms >= 1, np.round(ms, 1), np.round(ms, 2)))
    return pc.cast(pa.array(ms), pa.string())


def _duration(seconds: np.ndarray) -> pa.Array:
    """Seconds as text with a unit: microseconds below a millisecond, else milliseconds."""
    us = seconds < 0.001
    text = pc.binary_join_element_wise(_milliseconds(seconds), pa.scalar(" ms"), "")
    micro = pc.binary_join_element_wise(_number(np.round(seconds * 1e6).astype(np.int64)), pa.scalar(" µs"), "")
    return pc.if_else(pa.array(us), micro, text)


def _fin_frame(f: "_Frames", rows: np.ndarray) -> np.ndarray:
    """Per row: the FIN the segment follows (the ``fin_frame`` column), -1 for none."""
    if "fin_frame" not in f.p:
        return np.full(len(rows), -1, dtype=np.int64)
    return pd.Series(f.p["fin_frame"]).to_numpy(dtype=np.int64, na_value=-1)[rows]


def _last_byte(f: _Frames, rows: np.ndarray) -> pa.Array:
    """Relative number of the segment's last payload byte."""
    nxt = pd.Series(f.p["next_rel_seq"]).isna().to_numpy()[rows]
    end = np.where(nxt, f.ints("rel_seq")[rows] + f.ints("payload_len")[rows], f.ints("next_rel_seq")[rows]) - 1
    return _number(end)


# --- Sentences about a topic label -------------------------------------------------
# Each takes the sentence collector, the frames and the rows whose topic it is.

def _malformed(out: _Sentences, f: _Frames, rows: np.ndarray) -> None:
    codes, layers = f.codes("malformed")
    for i, layer in enumerate(layers):
        out.add(rows[codes[rows] == i],
                f"Malformed {LAYER_NAMES.get(layer, layer)} header: pcapan cannot decode the frame past it")
    out.add(rows[codes[rows] < 0], "Malformed header: pcapan cannot decode the frame past it")


def _reused_ports(out, f, rows):
    answer = f.mask("phase", "syn_ack")[rows]
    for sub, who, _ in f.sides(rows[~answer]):
        out.add(sub, f"{who} opens a new connection on ports used before: SYN with new ISN ", f.text("seq", sub),
                " (relative 0) from port ", f.text("sport", sub))
    for sub, who, peer in f.sides(rows[answer]):
        out.add(sub, f"{who} accepts a new connection on ports used before: SYN-ACK with its new ISN ",
                f.text("seq", sub), ", ack relative ", f.text("rel_ack", sub), f" (the {peer}'s new ISN + 1)")


# Why a segment was sent again, in the order they are decided (resend_cause() gives the names).
_CAUSES = ("duplicate", "spurious", "fast", "recovery", "resent", "timeout", "early")


def _causes(f: _Frames) -> np.ndarray:
    """Index into _CAUSES per row (-1: not a resend); see resend_cause()."""
    key = ("causes",)
    if key in f._cache:
        return f._cache[key]
    codes, sets = f.codes("labels")
    kinds = []
    for text in sets:
        labels = set(text.split(";"))
        kinds.append(next((RESENDS.index(k) for k in RESENDS if k in labels), -1))
    kind = np.array(kinds + [-1], dtype=np.int8)[codes]
    spurious, fast, plain = (kind == RESENDS.index(k) for k in RESENDS)
    since = f.floats("since_copy_s") if "since_copy_s" in f.p else np.full(f.n, np.nan)
    copied = ~np.isnan(since)
    asked = f.p["asked_frame"].notna().to_numpy() if "asked_frame" in f.p else np.zeros(f.n, bool)
    rtt = f.floats("initial_rtt_s") if "initial_rtt_s" in f.p else np.full(f.n, np.nan)
    waited = np.isnan(rtt) | ~(since < rtt)
    cause = np.select([(kind >= 0) & copied & (since <= DUPLICATE_WITHIN_S), spurious, fast,
                       plain & asked, plain & ~copied, plain & waited, plain],
                      list(range(len(_CAUSES))), -1).astype(np.int8)
    f._cache[key] = cause
    return cause


def resend_cause(packets: pd.DataFrame) -> pd.Series:
    """Why each resent segment was sent again (missing for other frames), decided here once for the
    ``explain`` sentences and ``pcapan check``:

    * ``duplicate``: the same bytes were captured at most ``DUPLICATE_WITHIN_S`` before: the
      capture saw one packet twice (two interfaces, a mirror port), TCP resent nothing;
    * ``spurious``: the receiver had already acknowledged them;
    * ``fast``: fast retransmission, asked for by duplicate ACKs (Wireshark's label);
    * ``recovery``: loss recovery: the receiver's duplicate ACKs, or a partial ACK that moved up to
      these bytes, asked for them while it kept acknowledging;
    * ``resent``: no earlier copy was captured (lost before the capture point, or captured
      elsewhere): Wireshark calls it a retransmission because it lies below the highest sequence
      number seen, but when and why it was first sent is not known;
    * ``timeout``: no ACK asked for it and it waited at least one round trip (the handshake's)
      since its earlier copy: the sender's retransmission timer fired;
    * ``early``: sent again sooner than one round trip after its earlier copy, unasked.
    """
    cause = _causes(_Frames(packets))
    values = np.array(_CAUSES + (None,), dtype=object)[cause]   # -1 picks the trailing None
    return pd.Series(values, index=packets.index, dtype="string")


def _resend(out, f, rows):
    """Every resend (spurious, fast or plain), by its cause."""
    cause = _causes(f)[rows]
    by = {name: rows[cause == i] for i, name in enumerate(_CAUSES)}
    sub = by["duplicate"]
    out.add(sub, "The same segment captured twice: relative seq ", f.text("rel_seq", sub), " (",
            f.text("payload_len", sub), " bytes) again ", _duration(f.floats("since_copy_s")[sub]), " after frame ",
            f.text("copy_frame", sub), ", too soon for TCP to resend it (the capture saw one packet twice)")
    for sub, _, peer in f.sides(by["spurious"]):
        out.add(sub, "Spurious retransmission of relative seq ", f.text("rel_seq", sub),
                f": the {peer} had already acknowledged these bytes")
    sub = by["fast"]
    out.add(sub, "Fast retransmission of relative seq ", f.text("rel_seq", sub), " (",
            f.text("payload_len", sub), " bytes) after duplicate ACKs asked for it")
    rec = by["recovery"]
    copied = ~np.isnan(f.floats("since_copy_s")[rec])
    sub = rec[copied]
    out.add(sub, "Retransmission of relative seq ", f.text("rel_seq", sub), ", ",
            _duration(f.floats("since_copy_s")[sub]), " after its earlier copy (frame ", f.text("copy_frame", sub),
            "): loss recovery, the receiver's ACK in frame ", f.text("asked_frame", sub), " still asked for it")
    sub = rec[~copied]
    out.add(sub, "Retransmission of relative seq ", f.text("rel_seq", sub), ": loss recovery, the receiver's ACK in "
            "frame ", f.text("asked_frame", sub), " still asked for it; its first copy was not captured "
            "(lost before the capture point)")
    sub = by["resent"]
    out.add(sub, "Segment at relative seq ", f.text("rel_seq", sub), " (", f.text("payload_len", sub),
            " bytes) whose first copy was not captured (lost before the capture point, or captured elsewhere): "
            "Wireshark labels it a retransmission because it lies below the highest sequence number seen")
    timeout = by["timeout"]
    syn, syn_ack = f.mask("phase", "syn")[timeout], f.mask("phase", "syn_ack")[timeout]
    for sel, head, tail in ((syn, "SYN sent again after ", " (timeout: no SYN-ACK reached the {who})"),
                            (syn_ack, "SYN-ACK sent again after ", " (timeout: no handshake ACK reached the {who})")):
        for sub, who, _ in f.sides(timeout[sel]):
            out.add(sub, head, _duration(f.floats("since_copy_s")[sub]), tail.format(who=who.lower()))
    sub = timeout[~syn & ~syn_ack]
    out.add(sub, "Retransmission of relative seq ", f.text("rel_seq", sub), " after ",
            _duration(f.floats("since_copy_s")[sub]), " without an ACK (timeout; earlier copy in frame ",
            f.text("copy_frame", sub), ")")
    sub = by["early"]
    out.add(sub, "Retransmission of relative seq ", f.text("rel_seq", sub), ", ",
            _duration(f.floats("since_copy_s")[sub]), " after its earlier copy (frame ", f.text("copy_frame", sub),
            "): sooner than one round trip, so neither an ACK nor a timeout asked for it")


def _out_of_order(out, f, rows):
    out.add(rows, "Out of order: relative seq ", f.text("rel_seq", rows),
            " arrives after later data (reordered on the way)")


def _zero_window_probe(out, f, rows):
    for sub, who, peer in f.sides(rows):
        out.add(sub, f"Zero-window probe: the {who.lower()} sends one byte at relative seq ", f.text("rel_seq", sub),
                f" to see whether the {peer}'s window has opened")


def _window_probe(out, f, rows):
    for sub, who, peer in f.sides(rows):
        out.add(sub, f"Window probe: the {who.lower()} asks whether the {peer}'s zero window has opened "
                "(Wireshark calls it a keep-alive)")


def _keep_alive(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"Keep-alive: the {who.lower()} asks whether the idle connection is still there")


def _zero_window_probe_ack(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"{who} answers the zero-window probe: its window is now ", f.text("window_size", sub),
                " bytes")


def _keep_alive_ack(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"{who} answers the keep-alive: the connection is still alive")


def _duplicate_ack(out, f, rows):
    num = f.ints("dup_ack_num")[rows]
    for k in range(1, len(_ORDINALS)):
        sub = rows[num == k]
        out.add(sub, f"{_ORDINALS[k]} duplicate ACK for relative ", f.text("rel_ack", sub),
                ": the receiver is asking for that segment again")
    sub = rows[(num >= len(_ORDINALS)) | (num < 1)]
    out.add(sub, "Duplicate ACK number ", f.text("dup_ack_num", sub), " for relative ", f.text("rel_ack", sub),
            ": the receiver is asking for that segment again")


def _ack_lost_segment(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"{who} acknowledges up to relative ", f.text("rel_ack", sub),
                ": data the capture never saw")


def _lost_segment(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"Previous segment not captured: the {who.lower()}'s data jumps ahead to relative seq ",
                f.text("rel_seq", sub), ", leaving a gap")


def _zero_window(out, f, rows):
    for sub, who, peer in f.sides(rows):
        out.add(sub, f"Zero window: the {who.lower()}'s receive buffer is full, the {peer} must stop sending")


def _window_full(out, f, rows):
    for sub, who, peer in f.sides(rows):
        out.add(sub, f"{who}'s data fills the {peer}'s advertised window: it must wait for an ACK "
                "before sending more")


def _window_update(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"Window update: the {who.lower()} now advertises ", f.text("window_size", sub),
                " bytes, nothing new acknowledged")


_TOPIC_SENTENCES: dict[str, Callable[[_Sentences, _Frames, np.ndarray], None]] = {
    "malformed": _malformed,
    "reused_ports": _reused_ports,
    "spurious_retransmission": _resend,
    "fast_retransmission": _resend,
    "retransmission": _resend,
    "out_of_order": _out_of_order,
    "zero_window_probe": _zero_window_probe,
    "window_probe": _window_probe,
    "keep_alive": _keep_alive,
    "zero_window_probe_ack": _zero_window_probe_ack,
    "keep_alive_ack": _keep_alive_ack,
    "duplicate_ack": _duplicate_ack,
    "ack_lost_segment": _ack_lost_segment,
    "lost_segment": _lost_segment,
    "zero_window": _zero_window,
    "window_full": _window_full,
    "window_update": _window_update,
}


# --- Sentences about a phase (TCP frames without a topic label) ---------------------

def _syn(out, f, rows):
    port = f.ints("sport")[rows]
    ephemeral = np.zeros(len(rows), dtype=bool)
    for _name, lo, hi in EPHEMERAL_RANGES:
        ephemeral |= (port >= lo) & (port <= hi)
    for sel, word in ((ephemeral, "ephemeral port "), (~ephemeral, "port ")):
        for sub, who, _ in f.sides(rows[sel]):
            out.add(sub, f"{who} opens the connection: SYN with random ISN ", f.text("seq", sub),
                    f" (relative 0) from {word}", f.text("sport", sub))


def _syn_ack(out, f, rows):
    one = f.ints("rel_ack")[rows] == 1
    for sub, who, peer in f.sides(rows[one]):
        out.add(sub, f"{who} accepts: SYN-ACK with its own ISN ", f.text("seq", sub),
                f", ack = {peer} ISN + 1 (relative 1)")
    for sub, who, _ in f.sides(rows[~one]):
        out.add(sub, f"{who} accepts: SYN-ACK with its own ISN ", f.text("seq", sub), ", ack relative ",
                f.text("rel_ack", sub))


def _handshake_ack(out, f, rows):
    data = f.ints("payload_len")[rows] > 0
    out.add(rows[~data], "Client completes the three-way handshake: ACK = server ISN + 1 (relative 1)")
    sub = rows[data]
    out.add(sub, "Client completes the three-way handshake and already sends ", f.text("payload_len", sub),
            " bytes: relative seq ", f.text("rel_seq", sub), " to ", _last_byte(f, sub))


def _data(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"{who} sends ", f.text("payload_len", sub), " bytes: relative seq ", f.text("rel_seq", sub),
                " to ", _last_byte(f, sub))


def _ack(out, f, rows):
    flagged = f.flag(_ACK_NAME)[rows]
    fin = _fin_frame(f, rows) >= 0
    for sub, who, peer in f.sides(rows[flagged & fin]):
        ack = f.ints("rel_ack")[sub]
        out.add(sub, f"{who} acknowledges the {peer}'s FIN (relative seq ", _number(ack - 1), "): ack relative ",
                _number(ack), f": the {peer} will send no more data")
    for sub, who, _ in f.sides(rows[flagged & ~fin]):
        ack = f.text("rel_ack", sub)
        out.add(sub, f"{who} acknowledges every byte before relative ", ack, ": it expects ", ack, " next")
    for sub, who, _ in f.sides(rows[~flagged]):
        out.add(sub, f"{who} sends an empty segment without the ACK flag")


def _fin(out, f, rows):
    data = f.ints("payload_len")[rows] > 0
    answer = _fin_frame(f, rows) >= 0
    for sub, who, peer in f.sides(rows[~data & answer]):
        out.add(sub, f"{who} acknowledges the {peer}'s FIN and closes its side too: FIN at relative seq ",
                f.text("rel_seq", sub), ", ack relative ", f.text("rel_ack", sub))
    for sub, who, _ in f.sides(rows[~data & ~answer]):
        out.add(sub, f"{who} closes its side: FIN at relative seq ", f.text("rel_seq", sub),
                ", it has no more data to send")
    for sub, who, _ in f.sides(rows[data]):
        out.add(sub, f"{who} sends its last ", f.text("payload_len", sub), " bytes with FIN: relative seq ",
                f.text("rel_seq", sub), " to ", _last_byte(f, sub), ", then nothing more")


def _rst(out, f, rows):
    # Refused: the server answers the SYN with RST/ACK and never sent a SYN-ACK.
    stream = f.ints("stream")
    accepted = f.accepted
    if accepted is None:
        accepted = np.unique(stream[f.mask("phase", "syn_ack") & f.mask("proto", "tcp")])
    fc = f.sender()[rows]
    refused = (fc == 0) & f.flag(_ACK_NAME)[rows] & ~np.isin(stream[rows], accepted)
    sub = rows[refused]
    out.add(sub, "Server refuses the connection: RST in answer to the SYN (nothing listens on port ",
            f.text("sport", sub), ")")
    rest = rows[~refused]
    closed = _fin_frame(f, rest) >= 0
    for sub, who, _ in f.sides(rest[closed]):
        out.add(sub, f"{who} closed its side with FIN (frame ", _number(_fin_frame(f, sub)),
                "), then resets the connection: RST")
    for sub, who, _ in f.sides(rest[~closed]):
        out.add(sub, f"{who} aborts the connection: RST, without the orderly FIN exchange")


_PHASE_SENTENCES = {
    "syn": _syn, "syn_ack": _syn_ack, "handshake_ack": _handshake_ack, "data": _data, "ack": _ack,
    "fin": _fin, "rst": _rst,
}


def _icmp(out, f, rows):
    """ICMP messages by type and code; an error names the TCP/UDP packet it quotes."""
    if "icmp_type" not in f.p:
        return rows
    kind, code, ver = f.ints("icmp_type")[rows], f.ints("icmp_code")[rows], f.ints("ip_version")[rows]
    known = f.p["icmp_type"].notna().to_numpy()[rows]
    qcodes, qnames = f.codes("quoted_proto") if "quoted_proto" in f.p else (np.full(f.n, -1), [])
    quoted = qcodes[rows]
    key = np.stack([ver, kind, code, quoted], axis=1)[known]
    for v, t, c, q in np.unique(key, axis=0).tolist():
        sub = rows[known & (ver == v) & (kind == t) & (code == c) & (quoted == q)]
        name, meaning = ICMP_TYPES.get((v, t), (f"type {t}", "a control or error message of the IP layer"))
        detail = ICMP_CODES.get((v, t, c), f"code {c}" if c else "")
        meaning = ICMP_CODE_MEANINGS.get((v, t, c), meaning)
        head = f"{'ICMP' if v == 4 else 'ICMPv6'} {name}" + (f" ({detail})" if detail else "")
        if q < 0:
            out.add(sub, f"{head}: {meaning}")
            continue
        proto = qnames[q].upper()
        what = "a TCP segment" if proto == "TCP" else "a UDP datagram"
        out.add(sub, f"{head} about {what} from port ", f.text("quoted_sport", sub), " to port ",
                f.text("quoted_dport", sub), f" ({proto} stream ", f.text("quoted_stream", sub), f"): {meaning}")
    return rows[~known]


def _udp(out, f, rows):
    for sub, who, _ in f.sides(rows):
        out.add(sub, f"{who} sends a UDP datagram of ", f.text("payload_len", sub), " bytes to port ",
                f.text("dport", sub), " (no handshake, no ACKs)")


# --- Notes after the sentence -------------------------------------------------------

def _note_constant(text: str) -> Callable:
    def note(out, f, rows):
        out.add(rows, text)
    return note


def _note_window(template: str) -> Callable:
    def note(out, f, rows):
        for sub, who, peer in f.sides(rows):
            out.add(sub, template.format(who=who.lower(), peer=peer))
    return note


def _note_truncated(out, f, rows):
    cut = f.ints("cap_len")[rows] < f.ints("wire_len")[rows]
    sub = rows[cut]
    out.add(sub, "only ", f.text("cap_len", sub), " of its ", f.text("wire_len", sub),
            " bytes captured (snapshot length)")
    out.add(rows[~cut], "the frame ends before its headers say it should")


_NOTE_SENTENCES = {
    "bad_ip_checksum": _note_constant("IPv4 header checksum wrong: the receiver would drop this packet"),
    "bad_tcp_checksum": _note_constant("TCP checksum wrong: the segment was damaged and the receiver "
                                       "would drop it"),
    "bad_udp_checksum": _note_constant("UDP checksum wrong (or missing over IPv6): the receiver would "
                                       "drop it"),
    "checksum_offloaded": _note_constant("checksum not filled in: captured before the network card "
                                         "computed it (offload)"),
    "zero_window": _note_window("zero window: the {who}'s receive buffer is full"),
    "window_full": _note_window("this fills the {peer}'s advertised window"),
    "truncated": _note_truncated,
}


# --- Topic and note per frame -------------------------------------------------------

def _topics_and_notes(f: _Frames) -> tuple[np.ndarray, np.ndarray]:
    """Index into TOPICS and into NOTES per row (-1: none), decided once per distinct label set."""
    codes, sets = f.codes("labels")
    topic = np.full(len(sets) + 1, -1, dtype=np.int16)   # the extra last entry serves code -1
    note = np.full(len(sets) + 1, -1, dtype=np.int16)
    for i, text in enumerate(sets):
        labels = set(text.split(";"))
        first = next((t for t in TOPICS if t in labels), None)
        topic[i] = TOPICS.index(first) if first else -1
        note[i] = next((j for j, x in enumerate(NOTES) if x in labels and x != first), -1)
    return topic[codes], note[codes]


def topics(packets: pd.DataFrame) -> pd.Series:
    """The label each frame's ``explain`` sentence is about (missing when its phase or protocol is)."""
    f = _Frames(packets)
    topic, _ = _topics_and_notes(f)
    values = np.array(TOPICS + (None,), dtype=object)[topic]   # -1 picks the trailing None
    return pd.Series(values, index=packets.index, dtype="string")


def explain(packets: pd.DataFrame, accepted: np.ndarray | None = None) -> pd.Series:
    """One sentence per frame saying what it does (text; missing only for an empty frame).

    *accepted* are the TCP streams that had a SYN-ACK, when *packets* holds only
    some of a capture's frames (a RST in one of the others refuses a connection).
    """
    f = _Frames(packets, accepted)
    n = f.n
    topic, note = _topics_and_notes(f)
    main = _Sentences(n)
    for i, name in enumerate(TOPICS):
        rows = np.flatnonzero(topic == i)
        if len(rows):
            _TOPIC_SENTENCES[name](main, f, rows)

    plain = topic < 0
    fragment = f.codes("fragment")[0] >= 0
    tcp = f.mask("proto", "tcp")
    for phase, sentence in _PHASE_SENTENCES.items():
        rows = np.flatnonzero(plain & tcp & f.mask("phase", phase))
        if len(rows):
            sentence(main, f, rows)
    main.add(np.flatnonzero(plain & tcp & (f.codes("phase")[0] < 0)),
             "TCP segment whose header is incomplete: not analysed")
    udp = np.flatnonzero(plain & f.mask("proto", "udp"))
    _udp(main, f, udp)
    proto_codes, protos = f.codes("proto")
    for i, proto in enumerate(protos):
        if proto in _PROTOCOL_SENTENCES:
            rows = np.flatnonzero(plain & (proto_codes == i))
            fragments = rows[fragment[rows]]
            main.add(fragments, _FRAGMENT_SENTENCE)
            rest = rows[~fragment[rows]]
            if proto in ("icmp", "icmpv6"):
                rest = _icmp(main, f, rest)
            main.add(rest, _PROTOCOL_SENTENCES[proto])

    notes = _Sentences(n)
    for j, name in enumerate(NOTES):
        rows = np.flatnonzero(note == j)
        if len(rows):
            _NOTE_SENTENCES[name](notes, f, rows)

    text = main.column()
    extra = notes.column()
    empty = pa.scalar("", pa.large_string())
    joined = pc.binary_join_element_wise(text, pa.scalar("; ", pa.large_string()), extra, empty)
    text = pc.if_else(pc.is_null(extra), text, joined)
    return pd.Series(pd.arrays.ArrowStringArray(text), index=packets.index, name="explain")


__all__ = ["explain", "resend_cause", "topics"]
