"""Write the packets, streams and events tables to files, and read them back.

Parquet keeps every documented dtype (nullable integers, categories, text,
UTC times, booleans), so a notebook can reload an analysis without the
capture.  CSV is for spreadsheets; reading it back restores the documented
dtypes from :mod:`.schema`, but a text value that is the empty string comes
back empty (NA), as CSV cannot tell the two apart.

Every file is written to a temporary file in the target directory and renamed
into place, so a reader never sees half a table; the input capture is never
overwritten.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd

from . import schema
from .files import ExportError, _same_file, replace_atomically  # noqa: F401  (part of this module's API)

if TYPE_CHECKING:
    from .analysis import Analysis

FORMATS = ("parquet", "csv")
TABLES = ("packets", "streams", "events")

EVENT_COLUMNS = schema.EVENT_COLUMNS

TABLE_COLUMNS: dict[str, tuple[schema.Column, ...]] = {
    "packets": schema.PACKET_COLUMNS,
    "streams": schema.STREAM_COLUMNS,
    "events": EVENT_COLUMNS,
}


# pandas 3 parses floats exactly by default (and deprecates the option);
# pandas 2 needs to be asked, or the last digit of a time may change.
_ROUND_TRIP_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def write_tables(analysis: "Analysis", directory: str | os.PathLike, fmt: str = "parquet") -> list[Path]:
    """Write ``packets``, ``streams`` and ``events`` as *fmt* files into *directory*.

    The directory is created if needed.  Returns the paths written.  Raises
    :class:`ExportError` when a file would replace the input capture or the
    directory is not a directory.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    out = Path(directory)
    capture = Path(analysis.info.path)
    if _same_file(out, capture):
        raise ExportError(f"{out}: refusing to write over the input capture")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a directory")
    targets = {name: out / f"{name}.{fmt}" for name in TABLES}
    for path in targets.values():
        if _same_file(path, capture):
            raise ExportError(f"{path}: refusing to write over the input capture")
    out.mkdir(parents=True, exist_ok=True)

    frames = {"packets": analysis.packets, "streams": analysis.streams, "events": analysis.events}
    for name, path in targets.items():
        df = frames[name]
        if fmt == "parquet":
            replace_atomically(path, lambda tmp, df=df: df.to_parquet(tmp, index=False))
        else:
            replace_atomically(path, lambda tmp, df=df: df.to_csv(tmp, index=False))
    return list(targets.values())


def read_parquet(directory: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read the tables :func:`write_tables` wrote as parquet, with their documented dtypes."""
    return {name: _restore(pd.read_parquet(Path(directory) / f"{name}.parquet"), TABLE_COLUMNS[name])
            for name in TABLES}


def read_csv(directory: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read the tables :func:`write_tables` wrote as CSV, with their documented dtypes."""
    out = {}
    for name in TABLES:
        columns = TABLE_COLUMNS[name]
        # Text-like columns are read as Python objects so that the categories
        # rebuilt from them match the ones the analysis built.
        dtypes = {c.name: (object if c.dtype in ("category", "string") or c.dtype.startswith("datetime64")
                           else c.dtype) for c in columns}
        df = pd.read_csv(Path(directory) / f"{name}.csv", dtype=dtypes, keep_default_na=False, na_values=[""],
                         **_ROUND_TRIP_FLOATS)
        out[name] = _restore(df, columns)
    return out


def _restore(df: pd.DataFrame, columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    """Put *df* back into the documented column order and exact dtypes."""
    df = schema.conform(df, columns)
    for col in columns:
        # Times parsed from text get the resolution of their digits; the
        # tables use nanoseconds.
        if col.dtype.startswith("datetime64") and str(df[col.name].dtype) != col.dtype:
            df[col.name] = df[col.name].astype(col.dtype)
    return df
