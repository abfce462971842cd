"""pcapan: read packet captures and explain what TCP did in them.

>>> from pcap_analyzer import analyze
>>> a = analyze("sample_captures/http_like.pcap")   # doctest: +SKIP
>>> a.packets, a.streams                            # doctest: +SKIP

The names below are loaded when first used, so that ``pcapan`` starts
reading a capture before pandas has finished loading.  The ``.pcapan``
DataFrame accessor (:mod:`.accessor`) is registered when pcapan makes its
first table; if pandas is already loaded, as in a notebook that imported
it first, at once.
"""
from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"

__all__ = ["Analysis", "CaptureError", "analyze", "read_frames", "read_packets", "__version__"]

_LAZY = {
    "analyze": ("analysis", "analyze"),
    "Analysis": ("analysis", "Analysis"),
    "CaptureError": ("capture.info", "CaptureError"),
    "read_frames": ("capture", "read_frames"),
    "read_packets": ("capture", "read_frames"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if "pandas" in sys.modules:
    from . import accessor  # noqa: F401  (registers the DataFrame.pcapan accessor)
