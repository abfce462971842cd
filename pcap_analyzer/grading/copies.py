"""Submissions that are the same capture: byte-identical, renamed, re-saved, time-shifted or trimmed.

Two recordings of TCP never share segments: each connection draws random
initial sequence numbers, so the raw sequence and acknowledgement numbers of
its segments are its own.  A copy keeps them, whatever was done to the file:
renamed, re-saved as pcapng or pcap, shifted in time (``editcap -t``), cut
to a part (``editcap -r``, ``-A``/``-B``).  So a submission's
:func:`fingerprint` is the set of its graded conversation's segments (ports,
raw seq and ack, flags, length) with their capture times, and two
submissions are copies (:func:`find_copies`) when they share at least
:data:`COPY_MIN_SHARED` segments spaced alike (one time shift fits nearly all
of them), or when their bytes are identical.
"""
from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict

import numpy as np
import pandas as pd

from ..vocabulary import COPY_MIN_ALIGNED, COPY_MIN_SHARED, COPY_TIME_TOLERANCE_S

# Segments kept per submission: those with the smallest keys (the same rule in every file, so a
# trimmed copy keeps a share of what the whole capture keeps).
SKETCH_SIZE = 4000
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def file_digest(path) -> str:
    """SHA-256 of the file's bytes ("" when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def fingerprint(packets: pd.DataFrame, stream: int | None, path=None) -> dict:
    """The submission's fingerprint: the file's SHA-256 and its conversation's segments as
    (key, capture time in ns), the smallest :data:`SKETCH_SIZE` keys."""
    out = {"sha256": file_digest(path) if path is not None and str(path) != "-" else "", "keys": None,
           "times": None, "ports": None}
    if stream is None or packets.empty:
        return out
    p = packets[(packets["proto"] == "tcp") & (packets["stream"] == stream)]
    p = p[p["seq"].notna()]
    if p.empty:
        return out
    flags = p["flags"].astype("string").fillna("").map(lambda f: zlib.crc32(f.encode())).to_numpy(np.uint64)
    seq = p["seq"].to_numpy(np.uint64)
    ack = p["ack"].fillna(0).to_numpy(np.uint64)
    length = p["payload_len"].fillna(0).to_numpy(np.uint64)
    side = p["from_client"].fillna(False).to_numpy(bool).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = _mix(seq * np.uint64(0x9E3779B97F4A7C15) ^ _mix(ack + (length << np.uint64(33)))
                   ^ (flags << np.uint64(1)) ^ side)
    times = p["time"].astype("int64").to_numpy() if "time" in p else (p["time_rel_s"] * 1e9).astype("int64").to_numpy()
    # a key seen twice (a duplicate ACK, a resend) says nothing about timing: keep its first time
    keys, first = np.unique(key, return_index=True)
    keep = np.argsort(keys, kind="stable")[:SKETCH_SIZE]
    ports = sorted(int(v) for v in (p["sport"].iloc[0], p["dport"].iloc[0]))
    out.update(keys=keys[keep].tolist(), times=times[first[keep]].tolist(), ports=ports)
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64): spreads every input bit over the key."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def same_capture(a: dict, b: dict) -> bool:
    """Whether fingerprints *a* and *b* are of the same capture (see the module's docstring)."""
    if a.get("sha256") and a["sha256"] == b.get("sha256"):
        return True
    if not a.get("keys") or not b.get("keys") or a["ports"] != b["ports"]:
        return False
    tb = dict(zip(b["keys"], b["times"]))
    offsets = np.array([t - tb[k] for k, t in zip(a["keys"], a["times"]) if k in tb], dtype=np.int64)
    if len(offsets) < COPY_MIN_SHARED:
        return False
    shift = np.median(offsets)
    aligned = np.abs(offsets - shift) <= COPY_TIME_TOLERANCE_S * 1e9
    return aligned.mean() >= COPY_MIN_ALIGNED


def find_copies(names: list[str], prints: list[dict | None]) -> list[list[str]]:
    """For each submission, the names of the other submissions that are the same capture."""
    groups = defaultdict(list)   # only submissions that could match are compared
    for i, fp in enumerate(prints):
        if not fp:
            continue
        if fp.get("sha256"):
            groups[("sha", fp["sha256"])].append(i)
        if fp.get("ports"):
            groups[("ports", *fp["ports"])].append(i)
    matches: list[set[int]] = [set() for _ in names]
    for members in groups.values():
        for x, i in enumerate(members):
            for j in members[x + 1:]:
                if j not in matches[i] and same_capture(prints[i], prints[j]):
                    matches[i].add(j)
                    matches[j].add(i)
    return [[names[j] for j in sorted(m)] for m in matches]
