"""csv text of a table, fast: byte for byte what pandas writes with

    df.to_csv(buf, index=False, lineterminator="\n")

once every time in it is text as :func:`pcap_analyzer.times.time_texts` writes
it (`_pandas_csv`).  pandas turns every cell into a Python object and
hands the rows one by one to the standard csv module, which takes most of
the time on a big packets table.  `_fast_csv` writes the same text with
vectorised arrow compute instead: each column of a batch of rows becomes an
array of the cells pandas would write, quoted as the csv module quotes them,
and the cells are joined into rows.  What it has no exact rule for is
written by pandas: a column of any other dtype (or contents) by
`_pandas_cells`, the whole table when anything else goes wrong.
"""
from __future__ import annotations

import functools
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..times import digits_of, time_text_array, time_texts
from .formulas import neutralise_frame
from .quoting import csv_quoting, quoted_cell, special_bytes

_CSV_ARGS = {"index": False, "lineterminator": "\n"}
# cells in a batch of rows (about 50,000 rows of the packets table): bounds the
# memory the arrays of a batch take
_CSV_BATCH_CELLS = 2_000_000
# batches formatted at the same time (arrow computes without holding the GIL)
_CSV_THREADS = min(2, os.cpu_count() or 1)
# pandas writes the columns the fast writer does not, one batch at a time
_PANDAS_LOCK = threading.Lock()


def _pandas_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    _times_as_text(df).to_csv(buf, **_CSV_ARGS)
    return buf.getvalue()


def _is_time(dtype) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M")


def _times_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """*df* with its time columns as :func:`time_texts` writes them and its columns of lists as
    :func:`list_cell` does (other columns as they are)."""
    texts = {}
    for j in range(df.shape[1]):
        dtype = df.dtypes.iloc[j]
        if _is_time(dtype):
            texts[j] = time_texts(df.iloc[:, j])
        elif dtype == object:
            joined = _lists_joined(df.iloc[:, j].to_numpy())
            if joined is not None:
                texts[j] = joined
    if not texts:
        return df
    df = df.copy(deep=False)
    for j, cells in texts.items():
        df.isetitem(j, pd.Series(cells, index=df.index, dtype=object))
    return df


def frame_csv(df: pd.DataFrame) -> str:
    """*df* as ``df.to_csv(index=False, lineterminator="\\n")`` writes it, its times as :func:`time_texts`
    writes them."""
    return frame_csv_bytes(df).decode("utf-8")


def frame_csv_bytes(df: pd.DataFrame) -> bytes:
    """:func:`frame_csv` encoded as UTF-8, made as bytes (no text of the whole table in between)."""
    return b"".join([bytes(block) for block in frame_csv_blocks(df)])


def frame_csv_blocks(df: pd.DataFrame, header: bool = True) -> Iterator:
    """:func:`frame_csv_bytes` in consecutive blocks of bytes; a block (perhaps a view of a buffer
    the next one reuses) must be written or copied before the next is asked for.  Without *header*
    the rows only (the text that follows another table's of the same columns).  Text a spreadsheet
    would run as a formula is written quoted (:mod:`.formulas`)."""
    df = neutralise_frame(df)
    names = _pandas_csv(df.iloc[:0]).encode("utf-8")     # the column names, quoted as pandas quotes them
    if df.shape[1] == 0 or len(df) == 0 or csv_quoting() is None:
        # nothing to speed up, or a csv module that quotes otherwise
        yield _pandas_csv(df).encode("utf-8")[0 if header else len(names):]
        return
    try:
        specs = _compiled_columns(df)
    except Exception:  # noqa: BLE001 - the arrow writer takes the table
        specs = None
    if specs is None:
        try:
            data = _fast_csv(df)
        except Exception:  # noqa: BLE001 - pandas writes the table (or raises its own error)
            data = _pandas_csv(df).encode("utf-8")
        yield data[0 if header else len(names):]
        return
    if header:
        yield names
    yield from _compiled_rows(specs, len(df))


# --- the compiled writer (report/_csv.pyx: csv_rows) ------------------------

# bytes of csv text made at a time (one buffer, reused: fresh memory costs page faults)
_BLOCK_BYTES = 16 << 20


def _compiled_rows(specs: list, n: int) -> Iterator[memoryview]:
    from . import _csv

    buf = np.empty(_BLOCK_BYTES, dtype=np.uint8)
    row = 0
    while row < n:
        done, size = _csv.csv_rows(specs, special_bytes(), row, n, buf)
        if done == row:      # one row longer than the buffer
            buf = np.empty(2 * len(buf), dtype=np.uint8)
            continue
        yield memoryview(buf)[:size]
        row = done


def _compiled_columns(df: pd.DataFrame) -> list | None:
    """The columns of *df* as the compiled writer takes them; None when a column is of a kind it
    does not write (then the arrow writer below does)."""
    if df.shape[1] < 2:
        return None         # a row of one empty field is written "": the arrow writer knows it
    specs = []
    for j in range(df.shape[1]):
        spec = _compiled_column(df.iloc[:, j])
        if spec is None:
            return None
        specs.append(spec)
    return specs


def _compiled_column(s: pd.Series):
    """How the compiled writer takes column *s* (see ``_csv.csv_rows``); None if it does not."""
    dtype = s.dtype
    values = s.array
    if isinstance(dtype, np.dtype):
        x = s.to_numpy()
        if dtype.kind == "i" or (dtype.kind == "u" and dtype.itemsize < 8):
            return ("int", np.ascontiguousarray(x, dtype=np.int64), None)
        if dtype.kind == "b":
            return ("bool", np.ascontiguousarray(x).view(np.uint8), None)
        if dtype == np.float64:
            return ("float", np.ascontiguousarray(x))
        return None
    if isinstance(values, pd.arrays.IntegerArray) and dtype.numpy_dtype.itemsize < 8 or \
            isinstance(values, pd.arrays.IntegerArray) and dtype.numpy_dtype.kind == "i":
        return ("int", np.ascontiguousarray(values._data, dtype=np.int64),
                np.ascontiguousarray(values._mask).view(np.uint8))
    if isinstance(values, pd.arrays.BooleanArray):
        return ("bool", np.ascontiguousarray(values._data).view(np.uint8),
                np.ascontiguousarray(values._mask).view(np.uint8))
    if isinstance(dtype, pd.DatetimeTZDtype):
        if str(dtype.tz) != "UTC" or dtype.unit not in ("us", "ns"):
            return None
        ns = values.asi8 if dtype.unit == "ns" else values.as_unit("ns").asi8    # (raises beyond 1677-2262)
        return ("time", np.ascontiguousarray(ns, dtype=np.int64),
                np.ascontiguousarray(np.asarray(values.isna())).view(np.uint8), digits_of(dtype.unit))
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if len(categories) and pd.api.types.infer_dtype(categories, skipna=False) != "string":
            return None
        cells = [quoted_cell(str(c)) for c in categories]
        return ("category", np.ascontiguousarray(s.cat.codes.to_numpy(), dtype=np.int64), cells)
    if isinstance(dtype, pd.StringDtype):
        text = _arrow(values)
        if not pa.types.is_large_string(text.type):
            text = text.cast(pa.large_string())
        n = len(text)
        offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset:text.offset + n + 1]
        data = text.buffers()[2]
        data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
        missing = np.ascontiguousarray(text.is_null().to_numpy(zero_copy_only=False)).view(np.uint8)
        return ("text", np.ascontiguousarray(offsets), data, missing)
    return None


class _PandasWrites(Exception):
    """This column (of this batch) is written by pandas."""


def _fast_csv(df: pd.DataFrame) -> bytes:
    header = _pandas_csv(df.iloc[:0]).encode("utf-8")   # the column names, quoted as pandas quotes them
    n, k = df.shape
    columns = [_column_cells(df, j) for j in range(k)]
    step = max(1, _CSV_BATCH_CELLS // k)
    _arrow_float_layout_holds()

    def rows(start: int) -> bytes:
        return _rows_bytes([cells(start, min(n, start + step)) for cells in columns])

    starts = range(0, n, step)
    if len(starts) == 1 or _CSV_THREADS < 2:
        return b"".join([header, *map(rows, starts)])
    with ThreadPoolExecutor(_CSV_THREADS) as pool:
        return b"".join([header, *pool.map(rows, starts)])


def _rows_bytes(cells: list) -> bytes:
    """The rows of the (quoted, complete) cell arrays, each ended by a newline."""
    if len(cells) == 1:
        # the csv module writes a row of one empty field as ""
        cells = [pc.if_else(pc.equal(pc.binary_length(cells[0]), 0), _scalar('""'), cells[0])]
    last = pc.binary_join_element_wise(cells[-1], _scalar("\n"), _scalar(""))
    rows = pc.binary_join_element_wise(*cells[:-1], last, _scalar(",")) if len(cells) > 1 else last
    if rows.null_count or rows.type != pa.large_string():
        raise ValueError("a cell is missing")
    offsets, data = rows.buffers()[1:3]
    bounds = np.frombuffer(offsets, dtype=np.int64)[[rows.offset, rows.offset + len(rows)]]
    return bytes(memoryview(data)[bounds[0]:bounds[1]])


def _column_cells(df: pd.DataFrame, j: int):
    """A function (start, stop) -> the cells of rows start:stop of column *j*, as pandas writes them, quoted."""
    s = df.iloc[:, j]
    dtype = s.dtype
    values = s.to_numpy() if isinstance(dtype, np.dtype) else s.array

    def cells_by(fmt):
        def cells(start: int, stop: int):
            try:
                return fmt(values[start:stop])
            except _PandasWrites:
                with _PANDAS_LOCK:
                    return _quote(_pandas_cells(df.iloc[start:stop, [j]]))
        return cells

    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_cells(s)
    if _is_time(dtype):
        return cells_by(_datetime_cells)
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iu":
            return cells_by(_int_cells)
        if dtype.kind == "b":
            return cells_by(_bool_cells)
        if dtype == np.float64:
            return cells_by(lambda v: _float_cells(v, np.isnan(v)))
        if dtype.kind == "f":
            return cells_by(lambda v: _numpy_float_cells(v, np.isnan(v)))
        if dtype == object:
            return cells_by(_object_cells)
    elif isinstance(values, pd.arrays.IntegerArray):
        return cells_by(_int_cells)
    elif isinstance(values, pd.arrays.BooleanArray):
        return cells_by(_bool_cells)
    elif isinstance(values, pd.arrays.FloatingArray) and dtype == pd.Float64Dtype():
        return cells_by(_masked_float_cells)
    elif isinstance(dtype, pd.StringDtype):
        return cells_by(_string_cells)
    return cells_by(_pandas_only)


def _pandas_only(values):
    raise _PandasWrites


def _text():
    return pa.large_string()


def _scalar(s: str):
    return pa.scalar(s, pa.large_string())


def _arrow(values):
    """An arrow array (one chunk) of pandas or numpy *values*."""
    arr = pa.array(values)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _fill(cells):
    """Missing cells are empty."""
    return pc.fill_null(cells, _scalar("")) if cells.null_count else cells


def _blank(cells, missing):
    """*cells* with the ones under the numpy mask *missing* empty."""
    return pc.if_else(pa.array(missing), _scalar(""), cells) if missing.any() else cells


def _patch(cells, rows, new):
    """*cells* with the ones at the (increasing) positions *rows* replaced by *new*."""
    take = np.arange(len(cells))
    take[rows] = len(cells) + np.arange(len(rows))
    return pa.concat_arrays([cells, new]).take(pa.array(take))


def _int_cells(values):
    return _fill(pc.cast(_arrow(values), _text()))


def _bool_cells(values):
    return _fill(pc.if_else(_arrow(values), _scalar("True"), _scalar("False")))


def _masked_float_cells(values):
    missing = np.asarray(values.isna())
    x = values.to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(x[~missing]).any():
        raise _PandasWrites       # a NaN that is not missing
    return _float_cells(x, missing)


def _numpy_float_cells(x, missing):
    """What pandas writes for floats: numpy's astype(str), missing cells empty."""
    return _blank(pa.array(x.astype(str), _text()), missing)


def _float_cells(x, missing):
    """Python's repr of each float64 (numpy's astype(str) writes the same), missing cells empty."""
    if not _arrow_float_layout_holds():
        return _numpy_float_cells(x, missing)
    return _arrow_float_cells(x, missing)


def _arrow_float_cells(x, missing):
    """Python's repr of each float64, from arrow's cast.

    The cast writes the same shortest round-trip digits as repr, laid out
    differently: in fixed notation from 1e-6 up to 1e10, without ".0" on
    whole numbers, where repr writes fixed notation from 1e-4 up to 1e16 and
    exponents of at least two digits.  The cells are laid out again by
    magnitude; those from 1e10 up to 1e16 (rare) are numpy's.
    """
    cells = pc.cast(pa.array(x), _text())
    ax = np.abs(x)
    negative = x < 0
    with np.errstate(invalid="ignore"):
        whole = (ax < 1e10) & (x == np.floor(x))                 # "12" -> "12.0", "-0" -> "-0.0"
        tiny = (ax < 1e-6) & (ax >= 1e-9)                        # "1.5e-7" -> "1.5e-07"
        large = (ax >= 1e10) & (ax < 1e16)                       # "1.5e+10" -> "15000000000.0"
    rows = [np.flatnonzero(whole)]
    new = [pc.binary_join_element_wise(cells.take(pa.array(rows[0])), _scalar(".0"), _scalar(""))]
    # "0.0000ddd" -> "d.dde-05", "0.00000ddd" -> "d.dde-06" (with a sign, one more character to drop)
    for low, high, zeros, exponent in ((1e-5, 1e-4, "0.0000", "e-05"), (1e-6, 1e-5, "0.00000", "e-06")):
        band = (ax >= low) & (ax < high)
        for sign in (False, True):
            r = np.flatnonzero(band & (negative == sign))
            if len(r):
                digits = pc.utf8_replace_slice(cells.take(pa.array(r)), 0, len(zeros) + sign, "")
                d = pc.utf8_replace_slice(digits, 1, 1, ".")
                d = pc.binary_join_element_wise(*([_scalar("-")] if sign else []), d, _scalar(exponent), _scalar(""))
                rows.append(r)
                new.append(pc.replace_substring(d, ".e", "e"))
    rows.append(np.flatnonzero(tiny))
    new.append(pc.replace_substring(cells.take(pa.array(rows[-1])), "e-", "e-0"))
    rows.append(np.flatnonzero(large))
    new.append(pa.array(x[rows[-1]].astype(str), _text()))
    if sum(map(len, rows)):
        order = np.concatenate(rows)
        sort = np.argsort(order, kind="stable")
        cells = _patch(cells, order[sort], pa.concat_arrays(new).take(pa.array(sort)))
    return _blank(cells, missing)


@functools.lru_cache(maxsize=None)
def _arrow_float_layout_holds() -> bool:
    """`_arrow_float_cells` agrees with numpy for this pyarrow, checked once on numbers of every magnitude."""
    probe = [0.0, -0.0, 0.5, 1 / 3, 2 / 3, 0.1 + 0.2, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
             float("inf"), -float("inf"), 9007199254740993.0, 123456789012345680.0]
    for e in range(-12, 24):
        p = 10.0 ** e
        for m in (1.0, 1.5, 1.2345, 9.999999999999998, 1.0000000000000002, 7.0, 3.141592653589793):
            probe += [m * p, -m * p]
        probe += [np.nextafter(p, 0), np.nextafter(p, np.inf), -np.nextafter(p, 0), -np.nextafter(p, np.inf)]
    x = np.array(probe, dtype=np.float64)
    try:
        got = _arrow_float_cells(x, np.zeros(len(x), dtype=bool)).to_pylist()
    except Exception:  # noqa: BLE001 - then numpy writes the floats
        return False
    return got == x.astype(str).tolist()


def _datetime_cells(values):
    """Each time as :func:`time_texts` writes it, a missing one empty (never quoted: no special byte)."""
    try:
        return _fill(time_text_array(values))
    except (ValueError, OverflowError, pa.ArrowException) as exc:    # a year arrow cannot write
        raise _PandasWrites from exc


def _string_cells(values):
    return _quote(_fill(pc.cast(_arrow(values), _text())))


def list_cell(items) -> str:
    """The one cell a list (of warnings, say) is written as in csv and text tables (json keeps the list)."""
    return "; ".join(map(str, items))


def _lists_joined(values: np.ndarray) -> np.ndarray | None:
    """An object column whose cells are lists (or missing) with each list as :func:`list_cell`; None
    when some cell is something else."""
    if not any(isinstance(v, (list, tuple)) for v in values):
        return None
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, (list, tuple)):
            out[i] = list_cell(v)
        elif v is None or v is pd.NA or (isinstance(v, float) and v != v):
            out[i] = None
        else:
            return None
    return out


def _object_cells(values):
    """Python objects: str cells as they are, lists as :func:`list_cell`, missing ones empty; others
    are written by pandas."""
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values = _lists_joined(values)
        if values is None:
            raise _PandasWrites
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = ""
    return _quote(pa.array(values, _text()))


def _categorical_cells(s: pd.Series):
    """Each category written once (by pandas unless it is a str), picked per row by its code."""
    categories = s.cat.categories
    if len(categories) and pd.api.types.infer_dtype(categories, skipna=False) == "string":
        names = _quote(pa.array(np.asarray(categories, dtype=object), _text()))
    elif len(categories):
        one_each = pd.Categorical.from_codes(np.arange(len(categories)), dtype=s.dtype)
        names = _quote(_pandas_cells(pd.DataFrame({"category": one_each})))
    else:
        names = pa.array([], _text())
    names = pa.concat_arrays([names, pa.array([""], _text())])    # code -1, missing: an empty cell
    codes = s.cat.codes.to_numpy()

    def cells(start: int, stop: int):
        c = codes[start:stop]
        return names.take(pa.array(np.where(c < 0, len(categories), c)))
    return cells


def _quote(cells):
    """*cells* (complete) quoted as the csv module quotes fields: in double quotes, inner quotes doubled."""
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int64)[cells.offset:cells.offset + len(cells) + 1]
    data = cells.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return cells
    text = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]]
    special = np.zeros(len(text), dtype=bool)
    for byte in csv_quoting():              # ASCII: never part of a longer UTF-8 character
        special |= text == byte
    at = np.flatnonzero(special)
    if not len(at):
        return cells
    rows = np.searchsorted(offsets, at + offsets[0], side="right") - 1
    rows = rows[np.r_[True, rows[1:] != rows[:-1]]]
    picked = cells.take(pa.array(rows))
    quoted = pc.binary_join_element_wise(_scalar('"'), pc.replace_substring(picked, '"', '""'), _scalar('"'),
                                         _scalar(""))
    return _patch(cells, rows, quoted)


def _pandas_cells(frame: pd.DataFrame):
    """The cells of the one-column *frame*, unquoted, exactly as pandas writes them.

    pandas writes the column (with "\\r\\n" line ends, so that any cell with a
    line break in it is quoted) and arrow's csv reader reads the cells back.
    """
    import pyarrow.csv as pa_csv

    body = frame.to_csv(header=False, index=False, lineterminator="\r\n")
    # a first row of our own, so that a byte-order mark opening the first cell stays in it
    data = b"-\r\n" + body.encode("utf-8")
    table = pa_csv.read_csv(
        io.BytesIO(data),
        read_options=pa_csv.ReadOptions(column_names=["cell"], block_size=max(1 << 20, 2 * len(data))),
        parse_options=pa_csv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, escape_char=False,
                                          newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(column_types={"cell": pa.large_string()}, strings_can_be_null=False,
                                              quoted_strings_can_be_null=False))
    cells = table.column("cell").combine_chunks()[1:]
    if len(cells) != len(frame) or cells.null_count:
        raise ValueError("pandas wrote a different number of cells")
    return cells


