"""Many captures on a Dask cluster: the packets and streams tables as Dask DataFrames.

Each capture is one partition, built by :func:`pcap_analyzer.analyze` on a
worker, with a ``file`` column (the path as given) in front so that every row
says where it came from.  The other columns, their order and dtypes are those
of the single-process tables (:mod:`.schema`), with one rule that lets
partitions concatenate: a category column always has ``str`` categories,
also when a capture has no value in it (where ``analyze`` leaves an empty
category list of ``object`` dtype; :func:`concatenable` is that rule).  The
tables' meta declares the category columns' categories unknown, because each
capture has its own; a computed table holds the union of them, and
:func:`one_capture` gives back one capture's rows exactly as ``analyze``
builds them.

A capture that cannot be read (not a capture, missing on the worker, an
analysis that breaks on it) contributes no rows and one row to the ``errors``
table (``file``, ``error``): the job never stops for one file.

Dask is an optional extra (``pip install 'pcapan[dask]'``); it is imported
only when a function here is called.  Workers need pcapan installed and the
capture paths readable (a shared filesystem).
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

import pandas as pd

from . import schema

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

INSTALL_HINT = "pcap_analyzer.distributed needs Dask: pip install 'pcapan[dask]'"

# Leading column of the packets and streams tables on the cluster.
FILE_COLUMN = schema.Column("file", "string", "the capture's path, as given")

ERROR_COLUMNS: tuple[schema.Column, ...] = (
    FILE_COLUMN,
    schema.Column("error", "string", "why the capture gave no rows (one line)"),
)

# The Parquet datasets :func:`to_parquet` writes, one file per capture in each.
DATASETS = ("packets", "streams")


class Tables(NamedTuple):
    """The lazy (or persisted) tables of many captures."""

    packets: "dd.DataFrame"
    streams: "dd.DataFrame"
    errors: "dd.DataFrame"


def tables(paths: Iterable[str | os.PathLike], client: "Client | None" = None) -> Tables:
    """Packets, streams and errors of every capture in *paths*, one partition per capture.

    Without *client* the tables are lazy: computing them analyses the
    captures on the scheduler in use (a ``distributed.Client`` made earlier
    is used by default).  Compute them together, ``dask.compute(packets,
    streams, errors)``, to analyse each capture once.  With *client*, the
    three tables are persisted on its cluster at once: each capture is
    analysed once and its rows stay in the workers' memory while the tables
    are referenced.
    """
    dd, delayed = _dask()
    names = [os.fspath(p) for p in paths]
    if not names:
        raise ValueError("no captures given")
    # One analysis per capture, shared by the three tables.  Not pure: a
    # capture rewritten between two calls is read again.
    results = [delayed(_analyze_one)(name) for name in names]
    metas = (_meta(schema.PACKET_COLUMNS), _meta(schema.STREAM_COLUMNS), _empty(ERROR_COLUMNS))
    out = Tables(*(dd.from_delayed([delayed(_take)(r, i) for r in results], meta=meta, verify_meta=False)
                   for i, meta in enumerate(metas)))
    if client is not None:
        out = Tables(*client.persist(list(out)))
    return out


def to_parquet(paths: Iterable[str | os.PathLike], directory: str | os.PathLike,
               client: "Client | None" = None) -> pd.DataFrame:
    """Write the packets and streams of every capture in *paths* as Parquet datasets.

    *directory* gets ``packets/`` and ``streams/``, each with one file per
    capture (``part.00000.parquet`` for the first path, and so on; a capture
    that could not be read gives a file without rows).  The workers write the
    files, so *directory* must be writable from every one of them.  Each
    capture is analysed once.  Returns the errors table (``file``,
    ``error``), empty when every capture was read.  Raises
    :class:`pcap_analyzer.export.ExportError` when a dataset folder already
    holds files (old parts would mix with the new ones).
    """
    from .export import ExportError

    _dask()
    import dask

    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a directory")
    for name in DATASETS:
        target = out / name
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ExportError(f"{target}: already exists and is not empty; choose a new directory")
    t = tables(paths)
    # Zero-padded to one width so that the files sort in the order the captures were given.
    part_name = partial(_part_name, width=max(5, len(str(t.packets.npartitions - 1))))
    writes = [getattr(t, name).to_parquet(os.fspath(out / name), compute=False, write_index=False,
                                          name_function=part_name)
              for name in DATASETS]
    if client is not None:
        *_, errors = client.gather(client.compute([*writes, t.errors]))
    else:
        *_, errors = dask.compute(*writes, t.errors)
    return errors.reset_index(drop=True)


def read_parquet(directory: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the datasets :func:`to_parquet` wrote into one packets and one streams DataFrame.

    Rows come in the order the captures were given; the categories of a
    category column are the union of the captures' (see :func:`one_capture`).
    """
    # Read as one dataset: the parts' categories are unified, and the
    # zero-padded part names keep the captures' order.
    packets, streams = (pd.read_parquet(Path(directory) / name) for name in DATASETS)
    return packets, streams


def one_capture(table: pd.DataFrame, file: str | os.PathLike) -> pd.DataFrame:
    """The rows of *file* in a computed packets or streams *table*, as ``analyze`` builds them.

    The ``file`` column is dropped, the index runs from 0, and each category
    column keeps only the categories present, sorted (what ``analyze``
    does), with ``object`` categories when none is present.
    """
    rows = table[table["file"] == os.fspath(file)].drop(columns="file").reset_index(drop=True)
    for col in rows.columns:
        s = rows[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            present = s.cat.remove_unused_categories().cat.categories
            if len(present):
                rows[col] = s.cat.set_categories(present.sort_values())
            else:
                rows[col] = s.astype(object).astype("category")
    return rows


def concatenable(df: pd.DataFrame) -> pd.DataFrame:
    """*df* with ``str`` categories in every category column, so that tables of different captures concatenate.

    Only category columns without any category change (their empty category
    list becomes ``str`` instead of ``object``); values and every other
    dtype stay as they are.
    """
    out = df.copy(deep=False)
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype) and len(s.cat.categories) == 0:
            out[col] = s.cat.set_categories(pd.Index([], dtype="str"))
    return out


def _dask():
    try:
        import dask.dataframe as dd
        from dask import delayed
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return dd, delayed


def _analyze_one(path: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(packets, streams, errors) of one capture, each with its ``file`` column; never raises."""
    from .analysis import analyze
    from .capture.info import CaptureError

    try:
        a = analyze(path)
    except (CaptureError, OSError) as exc:
        message = str(exc)
    except MemoryError:
        message = "not enough memory to analyse this capture"
    except Exception as exc:  # one bad capture must not stop the job
        message = f"internal error ({type(exc).__name__}: {exc})"
    else:
        return (_with_file(concatenable(a.packets), path), _with_file(concatenable(a.streams), path),
                _empty(ERROR_COLUMNS))
    errors = schema.conform(pd.DataFrame({"file": [path], "error": [message]}), ERROR_COLUMNS)
    return _no_rows(schema.PACKET_COLUMNS), _no_rows(schema.STREAM_COLUMNS), errors


def _take(result: tuple, i: int) -> Any:
    return result[i]


def _with_file(df: pd.DataFrame, path: str) -> pd.DataFrame:
    return df.assign(file=pd.Series(path, index=df.index, dtype=FILE_COLUMN.dtype))[
        [FILE_COLUMN.name, *df.columns]]


def _empty(columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    return schema.conform(pd.DataFrame(index=pd.RangeIndex(0)), columns)


def _no_rows(columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    """A packets or streams table without rows, as a partition of the cluster's table."""
    return _with_file(concatenable(_empty(columns)), "")


def _meta(columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    """The tables' meta: every category column's categories unknown (each capture has its own)."""
    from dask.dataframe.utils import clear_known_categories

    return clear_known_categories(_no_rows(columns))


def _part_name(i: int, width: int) -> str:
    return f"part.{i:0{width}d}.parquet"
