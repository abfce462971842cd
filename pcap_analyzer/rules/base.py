"""What a rule is, and the read-only view of the packet table rules work on.

A rule is a small dataclass: its options are its fields, ``labels`` maps
each label it emits to a one-line meaning, ``columns`` names the packet
columns it adds.  ``run`` reads the table through :class:`RuleContext` and
writes only through it, so rules never see or change each other's output
except what the registry order hands on (``ctx.column``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterator

import numpy as np
import pandas as pd

from ..schema import categorical


class RuleContext:
    """Column arrays of the packet table, label sink and added columns."""

    def __init__(self, packets: pd.DataFrame) -> None:
        self.packets = packets
        self.n = len(packets)
        self._arrays: dict[tuple, np.ndarray] = {}
        self._marks: list[tuple[np.ndarray, str]] = []   # (row positions, label), in the order given
        self.added: dict[str, object] = {}

    def array(self, name: str, fill=0, dtype=None) -> np.ndarray:
        """A column as a numpy array, missing values replaced by *fill* (cached)."""
        key = (name, fill, dtype)
        if key not in self._arrays:
            s = pd.Series(self.column(name))
            self._arrays[key] = s.fillna(fill).to_numpy(dtype=dtype) if s.isna().any() \
                else s.to_numpy(dtype=dtype)
        return self._arrays[key]

    def label(self, row: int, name: str) -> None:
        self._marks.append((np.array([row], dtype=np.int64), name))

    def label_rows(self, rows, name: str) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows):
            self._marks.append((rows, name))

    def label_bits(self, rows: np.ndarray, bits: np.ndarray, names: tuple[str, ...]) -> None:
        """Label ``rows[i]`` with ``names[b]`` for every bit b set in ``bits[i]``."""
        for b, name in enumerate(names):
            self.label_rows(rows[(bits >> b) & 1 == 1], name)

    def labels_column(self) -> pd.Series:
        """Every row's labels joined by ";" (missing for none), each label once, in the
        order labels were first given (rules emit theirs in one fixed order)."""
        if not self._marks:
            return categorical(np.full(self.n, -1, dtype=np.int64), [], self.packets.index)
        order = list(dict.fromkeys(name for _, name in self._marks))
        index = {name: i for i, name in enumerate(order)}
        mask = np.zeros(self.n, dtype=np.uint64)
        for rows, name in self._marks:
            mask[rows] |= np.uint64(1 << index[name])
        codes, sets = pd.factorize(mask)
        text = [";".join(order[i] for i in range(len(order)) if int(m) >> i & 1) or None for m in sets]
        # the set of no labels (an empty text) is missing
        codes = np.where(np.array([t is None for t in text] + [True])[codes], -1, codes)
        return categorical(codes, text, self.packets.index)

    def add_column(self, name: str, values) -> None:
        self.added[name] = values

    def column(self, name: str):
        """A column added by an earlier rule, or one of the table's."""
        return self.added[name] if name in self.added else self.packets[name]

    def tcp_groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every TCP stream's rows, grouped: (row positions, stream by stream in frame order;
        each group's start and end in them; each group's stream index)."""
        proto = self.packets["proto"].to_numpy()
        stream = self.array("stream", fill=-1, dtype=np.int64)
        rows = np.flatnonzero((proto == "tcp") & (stream >= 0))
        rows = rows[np.argsort(stream[rows], kind="stable")]
        ids = stream[rows]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(rows) else np.zeros(0, dtype=np.int64)
        ends = np.r_[starts[1:], len(rows)].astype(np.int64)
        return rows, starts.astype(np.int64), ends, ids[starts]

    def tcp_streams(self) -> Iterator[tuple[int, np.ndarray]]:
        """(stream index, row positions in frame order) for every TCP stream."""
        rows, starts, ends, ids = self.tcp_groups()
        for stream, a, b in zip(ids.tolist(), starts.tolist(), ends.tolist()):
            yield stream, rows[a:b]


@dataclass
class Rule:
    """Base class: subclasses set ``labels``/``columns`` and implement ``run``."""

    name: ClassVar[str] = ""
    labels: ClassVar[dict[str, str]] = {}
    columns: ClassVar[dict[str, str]] = {}

    def run(self, ctx: RuleContext) -> None:  # pragma: no cover - interface
        raise NotImplementedError
