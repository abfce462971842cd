"""Ports: well-known service names and the ephemeral (client) port ranges.

A small module of its own: the compiled stages look service names up while
they read, before the tables' libraries are loaded.
"""
from __future__ import annotations

import socket
from functools import lru_cache

import numpy as np

from .vocabulary import EPHEMERAL_RANGES


@lru_cache(maxsize=4096)
def service_name(port: int, proto: str = "tcp") -> str | None:
    """Well-known service name of *port* from the system's services database."""
    try:
        return socket.getservbyport(int(port), proto)
    except (OSError, OverflowError, TypeError, ValueError):
        return None


def port_ranges(port: int) -> list[str]:
    """Names of the ephemeral ranges *port* lies in."""
    return [name for name, lo, hi in EPHEMERAL_RANGES if lo <= port <= hi]


def range_names(ports: np.ndarray) -> np.ndarray:
    """:func:`port_ranges` of every port, ";"-joined (None for none), as an object array."""
    ports = np.asarray(ports)
    which = np.zeros(len(ports), dtype=np.int64)
    for bit, (_name, lo, hi) in enumerate(EPHEMERAL_RANGES):
        which |= ((ports >= lo) & (ports <= hi)).astype(np.int64) << bit
    texts = [";".join(name for bit, (name, _lo, _hi) in enumerate(EPHEMERAL_RANGES) if k >> bit & 1) or None
             for k in range(1 << len(EPHEMERAL_RANGES))]
    return np.array(texts, dtype=object)[which]
