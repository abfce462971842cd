"""The graded conversation: its streams-table row and its frames, with the views every check shares."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocabulary import RESENDS

# Frame lists in one line of text are cut after this many (the JSON output has them all).
MAX_FRAMES_IN_TEXT = 12


class Conversation:
    """The graded stream's row and packets (``from_client`` and the flags as boolean columns)."""

    def __init__(self, row: pd.Series, p: pd.DataFrame, wire: dict | None = None) -> None:
        self.row = row
        self.p = p
        self.wire = wire or {}   # frame -> wire.Headers, for the few frames read again
        self.client, self.server = str(row["client"]), str(row["server"])
        self.client_port, self.server_port = int(row["client_port"]), int(row["server_port"])
        self.client_text = endpoint(self.client, self.client_port)
        self.server_text = endpoint(self.server, self.server_port)
        flags = p["flags"].fillna("").astype(str)
        self.has = {f: flags.str.contains(rf"\b{f}\b", regex=True) for f in ("SYN", "ACK", "FIN", "RST")}
        self.from_client = p["from_client"].fillna(False).astype(bool)
        self.labels = p["labels"].astype("string").fillna("").str.split(";")
        self.data = p["payload_len"].fillna(0) > 0

    def label(self, name: str) -> pd.Series:
        return self.labels.map(lambda ls: name in ls).astype(bool)

    def resent(self) -> pd.Series:
        """Frames carrying any retransmission label."""
        out = np.zeros(len(self.p), dtype=bool)
        for name in RESENDS:
            out |= self.label(name).to_numpy()
        return pd.Series(out, index=self.p.index)

    def frame(self, n) -> pd.Series | None:
        if n is None or pd.isna(n):
            return None
        rows = self.p[self.p["frame"] == int(n)]
        return rows.iloc[0] if len(rows) else None

    def value(self, name: str):
        v = self.row[name]
        return None if pd.isna(v) else v

    def mss(self, of_client: bool = False) -> int | None:
        """The MSS the client (else the server) announced in its SYN: what the *other* side may send."""
        frame = self.frame(self.value("syn_frame" if of_client else "syn_ack_frame"))
        if frame is None or pd.isna(frame["mss"]):
            return None
        return int(frame["mss"])


def endpoint(addr, port) -> str:
    addr = str(addr)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def frames_text(frames) -> str:
    """Every frame number, once, comma-joined."""
    return ", ".join(str(f) for f in dict.fromkeys(int(f) for f in frames))


def some(frames, limit: int = MAX_FRAMES_IN_TEXT) -> str:
    """The first *limit* frame numbers and how many more there are."""
    frames = list(dict.fromkeys(int(f) for f in frames))
    text = ", ".join(map(str, frames[:limit]))
    return text + (f", ... ({len(frames) - limit} more)" if len(frames) > limit else "")


def wireshark_filter(frames) -> str:
    """A Wireshark display filter showing *frames* (``frame.number in {...}``), at most 40 of them."""
    frames = list(dict.fromkeys(int(f) for f in frames))[:40]
    if not frames:
        return ""
    if len(frames) == 1:
        return f"frame.number == {frames[0]}"
    return "frame.number in {" + " ".join(map(str, frames)) + "}"
