"""pcapan: read packet captures and explain what TCP did in them.

>>> from pcap_analyzer import analyze
>>> a = analyze("sample_captures/http_like.pcap")   # doctest: +SKIP
>>> a.packets, a.streams                            # doctest: +SKIP

The names below are loaded when first used, so that ``pcapan`` starts
reading a capture before pandas has finished loading.  Importing the
package registers the ``.pcapan`` DataFrame accessor (:mod:`.accessor`):
at once if pandas is loaded, else as soon as it is.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

__all__ = ["Analysis", "CaptureError", "analyze", "read_frames", "read_packets", "__version__"]

_LAZY = {
    "analyze": ("analysis", "analyze"),
    "Analysis": ("analysis", "Analysis"),
    "CaptureError": ("reader", "CaptureError"),
    "read_frames": ("reader", "read_frames"),
    "read_packets": ("reader", "read_frames"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _AccessorAfterPandas(importlib.abc.MetaPathFinder):
    """Registers the DataFrame accessor right after pandas is first imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "pandas":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            importlib.import_module(f"{__name__}.accessor")

        spec.loader.exec_module = exec_module
        return spec


if "pandas" in sys.modules:
    from . import accessor  # noqa: F401  (registers the DataFrame.pcapan accessor)
elif not any(isinstance(f, _AccessorAfterPandas) for f in sys.meta_path):
    sys.meta_path.insert(0, _AccessorAfterPandas())
