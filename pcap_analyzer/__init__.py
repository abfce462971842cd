"""pcapan: read packet captures and explain what TCP did in them.

>>> from pcap_analyzer import analyze
>>> a = analyze("sample_captures/http_like.pcap")   # doctest: +SKIP
>>> a.packets, a.streams                            # doctest: +SKIP
"""
from .analysis import Analysis, analyze
from .reader import CaptureError, read_frames
from . import accessor  # noqa: F401  (registers the DataFrame.pcapan accessor)

__version__ = "0.1.0"

read_packets = read_frames

__all__ = ["Analysis", "CaptureError", "analyze", "read_frames", "read_packets", "__version__"]
