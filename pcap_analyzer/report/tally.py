"""A report's counts, added up chunk by chunk: the notable frames per label and the checksum verdicts.

Both take plain arrays, in any order of frames and as many times as there
are chunks, and keep what a report shows only: per label its count, its
first frames and the streams it occurs in (one entry per stream, so memory
follows streams, not frames); per checksum layer a count per verdict.  The
same tallies serve the report of a whole capture read in chunks
(:mod:`.digest`) and the report of an analysed table (``--stream``,
``--label``), through :meth:`LabelTally.add_table` and
:meth:`ChecksumTally.add_table`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from ..vocabulary import LABEL_NAMES, MEANINGS, PROTOS, VERDICTS

if TYPE_CHECKING:       # the tallies are fed while pandas is still loading; tables come after
    import pandas as pd

# Frames and streams named per label; the rest are counted.
FRAMES_LISTED = 12
STREAMS_LISTED = 4
# Frames with a wrong checksum named in the checksum sentence.
BAD_FRAMES_LISTED = 8
# One number per (protocol, stream): streams are numbered per protocol.
_STREAM_BITS = 40
_NONE = np.zeros(0, dtype=np.int64)
_GOOD, _BAD, _OFFLOADED, _UNVERIFIED = (VERDICTS.index(v) for v in ("good", "bad", "offloaded", "unverified"))
NOTABLE_COLUMNS = ["label", "count", "streams", "frames", "meaning", "example"]


def stream_keys(proto: np.ndarray, stream: np.ndarray) -> np.ndarray:
    """One number per frame naming its (protocol, stream); -1 outside a stream."""
    proto, stream = np.asarray(proto, dtype=np.int64), np.asarray(stream, dtype=np.int64)
    return np.where((stream >= 0) & (proto >= 0), proto << _STREAM_BITS | stream, -1)


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    if len(values) <= k:
        return np.sort(values)
    return np.sort(np.partition(values, k - 1)[:k])


class _Label:
    """One label's count, first frames and (stream key, first frame) pairs."""

    __slots__ = ("count", "frames", "keys", "key_first")

    def __init__(self) -> None:
        self.count = 0
        self.frames = _NONE
        self.keys = _NONE
        self.key_first = _NONE

    def add(self, frames: np.ndarray, keys: np.ndarray) -> None:
        self.count += len(frames)
        self.frames = _smallest(np.concatenate([self.frames, frames]), FRAMES_LISTED)
        inside = keys >= 0
        if inside.any():
            k = np.concatenate([self.keys, keys[inside]])
            f = np.concatenate([self.key_first, frames[inside]])
            order = np.lexsort((f, k))
            k, f = k[order], f[order]
            first = np.ones(len(k), dtype=bool)
            first[1:] = k[1:] != k[:-1]
            self.keys, self.key_first = k[first], f[first]

    def streams(self) -> tuple[list[str], int]:
        """The first streams (in the order they first carry the label) as text, and how many in all."""
        shown = self.keys[np.argsort(self.key_first, kind="stable")[:STREAMS_LISTED]]
        mask = (1 << _STREAM_BITS) - 1
        return [f"{PROTOS[int(k) >> _STREAM_BITS]} {int(k) & mask}" for k in shown], len(self.keys)


class LabelTally:
    """The notable frames grouped per label, for the report's table (:meth:`table`)."""

    def __init__(self, leave_out: tuple = ()) -> None:
        self.shown = sum(1 << b for b, name in enumerate(LABEL_NAMES) if name not in set(leave_out))
        self.labels: dict[int, _Label] = {}

    def add(self, frames: np.ndarray, bits: np.ndarray, proto: np.ndarray, stream: np.ndarray) -> None:
        """Frames (numbers) with their label bits, protocols (into PROTOS) and streams; the stream keys
        (:func:`stream_keys`) are made for the labelled frames only."""
        bits = np.asarray(bits, dtype=np.int64) & self.shown
        rows = np.flatnonzero(bits)
        if not len(rows):
            return
        frames, bits = np.asarray(frames, dtype=np.int64)[rows], bits[rows]
        keys = stream_keys(np.asarray(proto)[rows], np.asarray(stream)[rows])
        present = int(np.bitwise_or.reduce(bits))
        for b in range(len(LABEL_NAMES)):
            if present >> b & 1:
                hit = (bits >> b & 1).astype(bool)
                self.labels.setdefault(b, _Label()).add(frames[hit], keys[hit])

    def add_table(self, packets: pd.DataFrame) -> None:
        """The frames of a packets table (its ``frame``, ``labels``, ``proto`` and ``stream`` columns)."""
        from ..schema import coded

        if packets.empty:
            return
        codes, sets = coded(packets["labels"])
        set_bits = np.array([sum(1 << LABEL_NAMES.index(n) for n in str(s).split(";") if n in LABEL_NAMES)
                             for s in sets] + [0], dtype=np.int64)
        proto_codes, protos = coded(packets["proto"])
        proto_index = np.array([PROTOS.index(p) if p in PROTOS else -1 for p in protos] + [-1], dtype=np.int64)
        stream = packets["stream"].to_numpy(dtype=np.int64, na_value=-1)
        self.add(packets["frame"].to_numpy(dtype=np.int64), set_bits[codes], proto_index[proto_codes], stream)

    def table(self, examples: pd.DataFrame) -> pd.DataFrame:
        """One row per label, most frequent first (equal counts: the label seen first, and first among
        a frame's labels, first).  *examples* are frames with their ``explain`` sentences, among them
        the first frame of each label set: a label's example is the first of them whose sentence is
        about it, else the first carrying it."""
        import pandas as pd

        from ..explain import topics
        from ..schema import texts

        if not self.labels:
            return pd.DataFrame(columns=NOTABLE_COLUMNS)
        examples = examples[examples["labels"].notna()]
        ex_frames = examples["frame"].to_numpy(dtype=np.int64)
        ex_text = texts(examples["explain"])
        ex_about = texts(topics(examples)) if len(examples) else np.zeros(0, dtype=object)
        ex_sets = [set(str(v).split(";")) for v in texts(examples["labels"])]
        rows = []
        for b in sorted(self.labels, key=lambda b: (int(self.labels[b].frames[0]), b)):
            d, name = self.labels[b], LABEL_NAMES[b]
            carrying = np.array([name in s for s in ex_sets], dtype=bool)
            about = carrying & (ex_about == name)
            pick = about if about.any() else carrying
            example = ""
            if pick.any():
                i = int(np.flatnonzero(pick)[np.argmin(ex_frames[pick])])
                example = f"frame {ex_frames[i]}: {ex_text[i]}"
            frames = ", ".join(str(f) for f in d.frames.tolist())
            if d.count > FRAMES_LISTED:
                frames += f", … {d.count - FRAMES_LISTED} more"
            streams, total = d.streams()
            more = total - STREAMS_LISTED
            rows.append({"label": name, "count": d.count,
                         "streams": ", ".join(streams) + (f", … {more} more" if more > 0 else ""),
                         "frames": frames, "meaning": MEANINGS.get(name, ""), "example": example})
        return pd.DataFrame(rows).sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


class ChecksumTally:
    """Checksum verdicts per layer (IP header; TCP/UDP), the frames with a wrong one, the senders
    whose checksums were not filled in (offloaded)."""

    def __init__(self) -> None:
        self.ip = np.zeros(len(VERDICTS), dtype=np.int64)
        self.l4 = np.zeros(len(VERDICTS), dtype=np.int64)
        self.bad_frames = 0
        self.first_bad = _NONE
        self.offloaded_frames = 0
        self.offloading: set = set()

    def add(self, frames: np.ndarray, ip: np.ndarray, l4: np.ndarray, src: np.ndarray) -> None:
        """Frames (numbers) with their verdict codes (into VERDICTS) and senders (any hashable ids)."""
        ip, l4 = np.asarray(ip, dtype=np.int64), np.asarray(l4, dtype=np.int64)
        self.ip += np.bincount(ip[ip > 0], minlength=len(VERDICTS))[:len(VERDICTS)]
        self.l4 += np.bincount(l4[l4 > 0], minlength=len(VERDICTS))[:len(VERDICTS)]
        bad = (ip == _BAD) | (l4 == _BAD)
        if bad.any():
            self.bad_frames += int(np.count_nonzero(bad))
            self.first_bad = _smallest(np.concatenate([self.first_bad, np.asarray(frames)[bad]]), BAD_FRAMES_LISTED)
        off = np.flatnonzero((ip == _OFFLOADED) | (l4 == _OFFLOADED))
        if len(off):
            self.offloaded_frames += len(off)
            self.offloading.update(set(np.asarray(src)[off].tolist()))

    def add_table(self, packets: pd.DataFrame) -> None:
        """The frames of a packets table (``frame``, ``ip_checksum``, ``l4_checksum``, ``src``)."""
        from ..schema import coded, texts

        def verdicts(column: pd.Series) -> np.ndarray:
            codes, names = coded(column)
            index = np.array([VERDICTS.index(n) if n in VERDICTS else 0 for n in names] + [0], dtype=np.int64)
            return index[codes]
        self.add(packets["frame"].to_numpy(dtype=np.int64), verdicts(packets["ip_checksum"]),
                 verdicts(packets["l4_checksum"]), texts(packets["src"]))

    def facts(self, host: Callable = str) -> dict:
        """The counts per layer and verdict (``ip_good``, ``tcp_udp_offloaded``, ...), the frames with a
        wrong or an offloaded checksum, and one sentence that says what they mean; *host(sender)* names
        a sender."""
        facts: dict = {}
        for layer, counts in (("ip", self.ip), ("tcp_udp", self.l4)):
            for v in (_GOOD, _BAD, _OFFLOADED, _UNVERIFIED):
                facts[f"{layer}_{VERDICTS[v]}"] = int(counts[v])
        facts["bad_frames"] = self.bad_frames
        facts["offloaded_frames"] = self.offloaded_frames
        notes = []
        if self.offloaded_frames:
            hosts = ", ".join(sorted(str(host(h)) for h in self.offloading if h is not None)[:3])
            notes.append(f"{self.offloaded_frames:,} packets from {hosts} carry checksums that were not filled in "
                         "yet: the capture was taken on that host before its network card computed them "
                         "(checksum offload), which is normal and not an error.")
        if self.bad_frames:
            frames = ", ".join(str(f) for f in self.first_bad.tolist())
            notes.append(f"{self.bad_frames:,} packets have a wrong checksum (frames {frames}"
                         f"{', …' if self.bad_frames > BAD_FRAMES_LISTED else ''}): "
                         "their bits changed between sender and capture, so the receiver would discard them.")
        if not notes:
            good = self.ip[_GOOD] + self.l4[_GOOD]
            notes.append("Every verified checksum is correct." if good else "No checksum could be verified.")
        facts["meaning"] = " ".join(notes)
        return facts


def checksum_line(checks: dict) -> str:
    """The checksum facts in one line whose counts add up per layer."""
    parts = []
    for layer, name in (("ip", "IP header"), ("tcp_udp", "TCP/UDP")):
        counts = {v: checks[f"{layer}_{v}"] for v in ("good", "bad", "offloaded", "unverified")}
        total = sum(counts.values())
        shown = [f"{n:,} {v}" for v, n in counts.items() if n or v in ("good", "bad")]
        parts.append(f"{name} {total:,}: {', '.join(shown)}")
    return "; ".join(parts) + ". " + checks["meaning"]
