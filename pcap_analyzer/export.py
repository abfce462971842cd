"""Write the packets, streams and events tables to files, and read them back.

Parquet keeps every documented dtype (nullable integers, categories, text,
UTC times, booleans), so a notebook can reload an analysis without the
capture.  CSV is for spreadsheets; reading it back restores the documented
dtypes from :mod:`.schema`, but a text value that is the empty string comes
back empty (NA), as CSV cannot tell the two apart.

Every file is written to a temporary file in the target directory and renamed
into place, so a reader never sees half a table; the input capture is never
overwritten.  A manifest (``pcapan-export.json``) says which capture the
tables were made from, so that a directory never mixes two captures' tables.
In CSV, text a spreadsheet would run as a formula is written quoted.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import schema
from .files import ExportError, _same_file, _umask, replace_atomically  # noqa: F401  (part of this module's API)
from .files import discard_temporary, finished, temporary_next_to
from .report.formulas import neutralise_frame, restore_frame

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


# the file that says which capture a folder's tables were made from
MANIFEST = "pcapan-export.json"


def write_tables(analysis: "Analysis", directory: str | os.PathLike, fmt: str = "parquet",
                 force: bool = False) -> list[Path]:
    """Write ``packets``, ``streams`` and ``events`` as *fmt* files into *directory*.

    The directory is created if needed.  Returns the paths written.  Raises
    :class:`ExportError` when a file would replace the input capture, the
    directory is not a directory, or it holds tables made from another
    capture (unless *force*: then those are replaced and the other format's
    tables removed).  Nothing is left behind when writing fails: the tables
    are written to temporary files and put in place together, and a
    directory made for them is removed again.
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
    identity = _identity(analysis)
    formats = _formats_kept(out, identity, force)

    made = _missing_parents(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = {"packets": analysis.packets, "streams": analysis.streams, "events": analysis.events}
    temporary: list[str] = []
    try:
        staged = {}
        for name, path in targets.items():
            tmp = temporary_next_to(path)
            temporary.append(tmp)
            if fmt == "parquet":
                frames[name].to_parquet(tmp, index=False)
            else:
                neutralise_frame(frames[name]).to_csv(tmp, index=False)
            os.chmod(tmp, 0o666 & ~_umask())
            staged[tmp] = path
        manifest = dict(identity, formats=sorted(formats | {fmt}), tables=list(TABLES))
        tmp = temporary_next_to(out / MANIFEST)
        temporary.append(tmp)
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
        os.chmod(tmp, 0o666 & ~_umask())
        staged[tmp] = out / MANIFEST
        for tmp, path in staged.items():
            os.replace(tmp, path)
            finished(tmp)
    except BaseException:
        for tmp in temporary:
            discard_temporary(tmp)
        for d in made:  # the directories made for the tables, deepest first
            try:
                d.rmdir()
            except OSError:
                break
        raise
    for other in set(FORMATS) - formats - {fmt}:
        for name in TABLES:  # another capture's tables in the other format, replaced with force
            (out / f"{name}.{other}").unlink(missing_ok=True)
    return list(targets.values())


def _identity(analysis: "Analysis") -> dict:
    """What tells one capture's tables from another's: its name, frames, bytes and first and last times."""
    p = analysis.packets
    times = p["time"].dropna() if "time" in p else p.iloc[:0]
    return {"capture": analysis.info.name, "frames": int(len(p)),
            "bytes": int(p["cap_len"].sum()) if "cap_len" in p else 0,
            "first": str(times.iloc[0]) if len(times) else None,
            "last": str(times.iloc[-1]) if len(times) else None}


def _formats_kept(out: Path, identity: dict, force: bool) -> set[str]:
    """The formats of the tables already in *out* that stay (made from the same capture); raises
    :class:`ExportError` when *out* holds another capture's tables and *force* is not given."""
    present = {fmt for fmt in FORMATS for name in TABLES if (out / f"{name}.{fmt}").exists()}
    if not present:
        return set()
    try:
        manifest = json.loads((out / MANIFEST).read_text())
        same = all(manifest.get(k) == v for k, v in identity.items() if k != "capture")
        was = manifest.get("capture")
    except (OSError, ValueError, AttributeError):
        same, was = False, None
    if same:
        return present & set(manifest.get("formats") or [])
    if force:
        return set()
    whose = f"the tables of another capture ({was})" if was else "tables pcapan cannot tell the capture of"
    raise ExportError(f"{out}: holds {whose}; choose another directory, or --force to replace them")


def _missing_parents(out: Path) -> list[Path]:
    """The directories of *out*'s path that do not exist yet, deepest first."""
    missing = []
    d = out.absolute()
    while not d.exists():
        missing.append(d)
        d = d.parent
    return missing


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
        out[name] = _restore(restore_frame(df), columns)
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
