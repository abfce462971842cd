"""The csv writers write exactly what ``DataFrame.to_csv`` writes, byte for byte, with times and lists as
pcapan writes them.

``pcapan ... -f csv`` prints ``df.to_csv(index=False, lineterminator="\\n")`` of its table once every time
is ISO 8601 text in UTC ending in ``Z`` (six decimals for microseconds or coarser units, nine for
nanoseconds: the capture's precision) and every list is its items joined by "; "; the writers in
pcap_analyzer/report/csv_text.py build the same text: the compiled one
(``report/_csv.pyx: csv_rows``) for tables of the column kinds it knows, the one of
arrow compute for the rest.  Every table the commands print, on every
sample capture, and frames made to hold the awkward cases are written by
each writer and by pandas, and compared.
"""
from __future__ import annotations

import datetime as dt
import decimal
import io
import re

import numpy as np
import pandas as pd
import pytest

from conftest import sample_captures
from pcap_analyzer import analyze
from pcap_analyzer.report import documents, render
from pcap_analyzer.report import csv_text
from pcap_analyzer.report.writers import render_bytes
from pcap_analyzer.schema import PACKET_COLUMNS
from pcap_analyzer.report.digest import digest


def pandas_csv(df: pd.DataFrame) -> str:
    """What the csv output is: pandas' text once the times and lists are text (numpy's ISO 8601 of each
    time, in UTC)."""
    out = df.copy(deep=False)
    for j in range(out.shape[1]):
        col = out.iloc[:, j]
        if getattr(col.dtype, "kind", "") == "M":
            stamps = pd.DatetimeIndex(col)
            if stamps.tz is not None:
                stamps = stamps.tz_convert("UTC").tz_localize(None)
            unit = "ns" if stamps.unit == "ns" else "us"
            text = np.datetime_as_string(stamps.to_numpy().astype(f"datetime64[{unit}]"), unit=unit)
            out.isetitem(j, pd.Series([None if t == "NaT" else t + "Z" for t in text], index=out.index, dtype=object))
        elif col.dtype == object and any(isinstance(v, list) for v in col) \
                and all(isinstance(v, list) or v is None for v in col):
            out.isetitem(j, col.map(lambda v: "; ".join(map(str, v)) if isinstance(v, list) else v))
        elif (col.dtype == object or isinstance(col.dtype, (pd.StringDtype, pd.CategoricalDtype))) \
                and any(isinstance(v, str) and v[:1] in "=+-@\t\r'" for v in col):
            # text a spreadsheet would run as a formula (OWASP's list, and the quote itself) gets a quote
            out.isetitem(j, col.astype(object).map(
                lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r", "'") else v))
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    text = buf.getvalue()
    # RFC 4180: a field holding a carriage return is quoted (Python 3.11's csv module does not)
    bare = {v for j in range(out.shape[1]) for v in out.iloc[:, j] if isinstance(v, str) and "\r" in v
            and not any(c in v for c in ',"\n')}
    for v in bare:
        text = re.sub(r"(^|,)" + re.escape(v) + r"(?=,|\n)", lambda m: m.group(1) + '"' + v + '"', text, flags=re.M)
    return text


def written(df: pd.DataFrame) -> str:
    return render({"table": df}, "csv", "table")


def assert_same(df: pd.DataFrame) -> None:
    got, want = written(df), pandas_csv(df)
    if got != want:
        g, w = got.split("\n"), want.split("\n")
        first = next((i for i, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
        pytest.fail(f"differs from pandas at line {first + 1}: got {g[first:first + 1]!r}, "
                    f"want {w[first:first + 1]!r} ({len(got)} / {len(want)} characters)")
    # what the commands write: the same text, made as UTF-8 bytes
    assert render_bytes({"table": df}, "csv", "table") == want.encode("utf-8")


class Spy:
    """Counts what pandas wrote: whole tables (rows > 0) and single columns."""

    def __init__(self, monkeypatch):
        self.tables = 0
        self.columns = []
        pandas_csv_, pandas_cells = csv_text._pandas_csv, csv_text._pandas_cells

        def whole(df):
            if len(df):
                self.tables += 1
            return pandas_csv_(df)

        def cells(frame):
            self.columns.append(frame.columns[0])
            return pandas_cells(frame)

        monkeypatch.setattr(csv_text, "_pandas_csv", whole)
        monkeypatch.setattr(csv_text, "_pandas_cells", cells)


@pytest.fixture()
def spy(monkeypatch):
    return Spy(monkeypatch)


@pytest.fixture(params=["compiled", "arrow"])
def writer(request, monkeypatch):
    """Each test below runs with the compiled writer, and with the arrow writer alone."""
    if request.param == "arrow":
        monkeypatch.setattr(csv_text, "_compiled_columns", lambda df: None)
    return request.param


# --- the tables of the commands, on every sample capture ---------------------

def command_tables(path) -> dict[str, pd.DataFrame]:
    a = analyze(path)
    tables = {
        "packets": documents.packets_document(a)["packets"],
        "packets for a table": documents.packets_document(a, for_table=True)["packets"],
        "tcp packets": documents.packets_document(a, proto="tcp")["packets"],
        "streams": documents.streams_document(a)["streams"],
        "events": documents.events_table(a.packets),
    }
    report = documents.report_document(a, for_table=False)
    tables["report streams"] = report["streams"]
    tables["report events"] = report["events"]
    overview = documents.report_document(a, for_table=True)
    tables["report overview"] = overview["streams"]
    tables["notable frames"] = overview["notable_frames"]
    chunked = documents.digest_document(digest(path, events=True), for_table=False)
    tables["chunked streams"] = chunked["streams"]
    tables["chunked events"] = chunked["events"]
    return tables


@pytest.mark.parametrize("path", sample_captures(), ids=lambda p: p.name)
def test_command_tables_match_pandas(path, spy, writer):
    for name, df in command_tables(path).items():
        assert written(df) == pandas_csv(df), f"{name} of {path.name}"
    # written by the fast writer, not handed back to pandas
    assert spy.tables == 0
    assert spy.columns == []


def test_samples_have_rows():
    # the comparisons above are about something
    a = analyze(next(p for p in sample_captures() if p.name == "bulk_loss.pcap"))
    assert len(a.packets) > 100 and len(documents.events_table(a.packets)) > 0
    assert a.packets["explain"].str.contains(",").any()


def test_packets_across_batches_and_threads(monkeypatch, spy):
    # many small batches, written by one thread and by several
    path = next(p for p in sample_captures() if p.name == "bulk_loss.pcap")
    packets = analyze(path).packets
    want = pandas_csv(packets)
    for threads in (1, 2):
        monkeypatch.setattr(csv_text, "_CSV_THREADS", threads)
        for cells in (len(packets.columns), 7 * len(packets.columns) + 1, 10_000):
            monkeypatch.setattr(csv_text, "_CSV_BATCH_CELLS", cells)
            assert written(packets) == want, (threads, cells)
    assert spy.tables == 0 and spy.columns == []


# --- frames made for the awkward cases ------------------------------------------

FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 0.1 + 0.2, 1 / 3, 2 / 3, 1.7e-05, 2.2e-05, 1e-4, 9.999999999999999e-05,
          1e-5, 1.5e-5, -1.5e-5, 1e-6, 2.5e-6, -2.5e-6, 1e-7, 1.5e-7, -1e-7, 1e-9, 9.999999999999999e-10, 1e-10,
          1e-300, 5e-324, 2.2250738585072014e-308, 12.0, 123.456, 1e9, 9999999999.0, 1e10, 1.5e10, 123456789012.5,
          1e15, 1e15 + 0.5, 9007199254740993.0, 1e16, 1.2345e16, 1e17, 123456789012345680.0, 1e22, 1e23,
          1.7976931348623157e308, float("inf"), float("-inf"), float("nan"), 325.277621, 0.181658, -7.25]

TEXTS = ["plain", "", "a,b", 'say "hi"', '"', '""', ",", "line\nbreak", "carriage\rreturn", "crlf\r\n", "\n",
         " leading", "trailing ", " ", "  both  ", "tab\there", "é", "naïve, café", "日本語", "emoji 🙂",
         "\u2028separator", "\ufeffbom", "\x85next", "semi;colon", "back\\slash", "'single'", "#hash", "-",
         "NaN", "None", "nan", "a" * 5000]


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def cycle(values, n):
    return [values[i % len(values)] for i in range(n)]


def fast_frames() -> dict[str, pd.DataFrame]:
    """Frames of the dtypes the fast writer writes itself."""
    n = len(TEXTS)
    texts_na = TEXTS + [None, None]
    times = pd.to_datetime(["2024-01-01 00:00:01.123456789", None, "1969-12-31 23:59:59.9999999",
                            "1677-09-22 00:12:43.145224193", "1969-12-31 23:59:59.000000999",
                            "2262-04-10 23:47:16.854775807", "1970-01-01", "2024-03-31 01:30:00"],
                           format="ISO8601")
    with np.errstate(over="ignore"):
        singles, halves = np.array(FLOATS, dtype=np.float32), np.array(FLOATS, dtype=np.float16)
    seconds = np.array([-62135596800, 0, 253402300799, -40000000000, -30000000000, 1700000000, -1],
                       dtype="datetime64[s]")
    return {
        "floats": frame(x=FLOATS, y=[-v for v in FLOATS], z=[v * 1e-3 for v in FLOATS]),
        "float32": frame(x=singles, h=halves),
        "nullable floats": frame(x=pd.array([*FLOATS[:-4], None], dtype="Float64"),
                                 all_na=pd.array([None] * (len(FLOATS) - 3), dtype="Float64")),
        "ints": frame(i64=[0, -1, 2**63 - 1, -2**63, 42], u64=np.array([0, 1, 2**64 - 1, 7, 8], dtype=np.uint64),
                      i8=np.array([0, -128, 127, 1, -1], dtype=np.int8), b=[True, False, True, True, False]),
        "nullable ints": frame(a=pd.array([1, None, -5, 2**63 - 1, None], dtype="Int64"),
                               b=pd.array([None, 1, 2, None, 4], dtype="Int8"),
                               c=pd.array([None, 0, 2**64 - 1, None, 3], dtype="UInt64"),
                               d=pd.array([None] * 5, dtype="Int64"),
                               e=pd.array([True, None, False, None, True], dtype="boolean"),
                               f=pd.array([None] * 5, dtype="boolean")),
        "object texts": frame(t=texts_na, u=texts_na[::-1]),
        "object texts with NaN": frame(t=[*TEXTS[:5], np.nan, None, "x"]),
        "object all missing": frame(t=[None, np.nan, None], n=[1, 2, 3]),
        "string texts": frame(t=pd.array(texts_na, dtype="string"), u=pd.array(texts_na, dtype="string[python]"),
                              v=pd.Series(texts_na, dtype="str"), w=pd.Series([None] * (n + 2), dtype="string")),
        "categories": frame(c=pd.Categorical(texts_na), d=pd.Categorical(texts_na[::-1], categories=TEXTS[::-1]),
                            e=pd.Categorical([None] * (n + 2), categories=["x", "y"]),
                            f=pd.Categorical([None] * (n + 2)),
                            g=pd.Categorical(cycle(["tcp", "udp", None], n + 2))),
        "times": frame(naive=times, utc=times.tz_localize("UTC"),
                       paris=times.tz_localize("UTC").tz_convert("Europe/Paris"),
                       new_york=times.tz_localize("UTC").tz_convert("America/New_York"),
                       us=times.as_unit("us"), ms=times.as_unit("ms"), s=times.as_unit("s")),
        "times all missing": frame(t=pd.to_datetime([None, None]).tz_localize("UTC"), n=[1, 2]),
        "seconds from year 1 to 9999": frame(t=seconds),
        "lists": frame(labels=[["a", "b"], [], None, ["x,y"], ['say "hi"']], n=range(5)),
        "single column of texts": frame(t=["", None, "a", " ", '"', "b,c", ""]),
        "single empty string column": frame(t=pd.array(["", None, ""], dtype="string")),
        "single column of numbers": frame(x=[1.5, np.nan, 0.0]),
        "single category": frame(c=pd.Categorical(["", None, "a"])),
        "awkward names": pd.DataFrame([[1, 2, 3, 4, 5, 6, 7]],
                                      columns=["a,b", 'q"', "new\nline", " lead", 3, "", "a,b"]),
        "zero rows": pd.DataFrame({c.name: pd.Series([], dtype=c.dtype)
                                   for c in PACKET_COLUMNS}),
        "mixed": frame(t=TEXTS, x=cycle(FLOATS, n), i=pd.array(cycle([1, None, 3], n), dtype="Int64"),
                       c=pd.Categorical(cycle(["a,b", None, "c"], n)), s=pd.array(cycle(TEXTS[::-1], n), "string"),
                       when=pd.to_datetime(cycle(["2024-01-01 00:00:00.5", None], n), format="ISO8601", utc=True)),
    }


@pytest.mark.parametrize("name", list(fast_frames()))
def test_fast_frames_match_pandas(name, spy, writer):
    df = fast_frames()[name]
    assert_same(df)
    assert spy.tables == 0 and spy.columns == [], "written by pandas instead"


def pandas_frames() -> dict[str, pd.DataFrame]:
    """Frames with columns (or cells) the fast writer leaves to pandas."""
    stamp = pd.Timestamp("2024-01-01 00:00:01.123456789", tz="UTC")
    objects = [None, np.nan, pd.NA, pd.NaT, "x,y", 1.5, np.float64(2.5), np.float32(0.1), [1, "a"], ["a,b", 'q"'],
               (1, 2), {"k": "v"}, stamp, dt.datetime(2020, 1, 2, 3, 4, 5, 6), dt.date(2020, 1, 2), b"ab",
               decimal.Decimal("1.10"), True, np.int64(3), 7, pd.Timedelta("1s"), pd.Period("2020-01"), np.str_("s"),
               float("inf"), -0.0, 1e16, 1e-7, complex(1, 2)]
    n = len(objects)
    return {
        "objects": frame(o=objects, n=range(n)),
        "category of floats": frame(c=pd.Categorical([1.5, None, 2.0, 1e16, 1e-7]), n=range(5)),
        "category of ints and bools": frame(c=pd.Categorical([1, None, 3]), d=pd.Categorical([True, None, False])),
        "category of times": frame(c=pd.Categorical([stamp, None, stamp.replace(year=2030)])),
        "timedeltas": frame(d=pd.to_timedelta(["1s", None, "-1 days 00:00:00.000001"]), n=[1, 2, 3]),
        "periods": frame(p=pd.period_range("2020-01", periods=3, freq="M")),
        "intervals": frame(i=pd.interval_range(0, 3)),
        "nullable float32": frame(x=pd.array([0.1, None, 1e16], dtype="Float32")),
        "arrow dtypes": frame(i=pd.array([1, None, 3], dtype="int64[pyarrow]"),
                              f=pd.array([0.1, None, 1e16], dtype="double[pyarrow]"),
                              b=pd.array([True, None, False], dtype="bool[pyarrow]")),
        "complex": frame(z=np.array([1 + 2j, 0, -1.5j])),
        "single column of objects": frame(o=[None, "", [1], 2.5]),
    }


@pytest.mark.parametrize("name", list(pandas_frames()))
def test_pandas_columns_match_pandas(name, spy):
    df = pandas_frames()[name]
    assert_same(df)
    assert spy.tables == 0, "the whole table went to pandas"
    assert spy.columns, "expected pandas to write a column"


def test_pandas_columns_across_batches(monkeypatch):
    df = pandas_frames()["objects"]
    big = pd.concat([df] * 50, ignore_index=True)
    big["t"] = cycle(TEXTS, len(big))
    monkeypatch.setattr(csv_text, "_CSV_BATCH_CELLS", 3 * 37)
    assert_same(big)


def test_zero_columns():
    for df in (pd.DataFrame(), pd.DataFrame(index=range(3))):
        assert_same(df)


def test_floats_of_every_kind(writer):
    rng = np.random.default_rng(7)
    n = 200_000
    bits = rng.integers(0, 2**64, size=n, dtype=np.uint64).view(np.float64)
    digits = rng.integers(1, 10 ** rng.integers(1, 17, n), dtype=np.int64)
    scaled = digits * 10.0 ** rng.integers(-30, 30, n).astype(float)
    fractions = digits / 10.0 ** rng.integers(0, 25, n).astype(float)
    micros = rng.integers(0, 10**9, n) / 1e6
    nanos = rng.integers(0, 10**7, n) * 1e-9
    df = frame(bits=bits, scaled=scaled, fractions=fractions, negative=-fractions, micros=micros, nanos=nanos)
    assert_same(df)
    assert_same(df.astype("Float64"))
    # the arrow layout itself, not only the numpy layout it stands in for when it does not hold
    assert csv_text._arrow_float_layout_holds()
    for name, x in df.items():
        x = x.to_numpy()
        missing = np.isnan(x)
        assert csv_text._arrow_float_cells(x, missing).to_pylist() == np.where(missing, "", x.astype(str)).tolist(), name


def test_long_table_of_every_kind(monkeypatch, writer):
    rng = np.random.default_rng(3)
    n = 30_000
    texts = np.array(TEXTS + [None], dtype=object)
    df = frame(
        t=texts[rng.integers(0, len(texts), n)],
        s=pd.array(texts[rng.integers(0, len(texts), n)], dtype="string"),
        c=pd.Categorical(texts[rng.integers(0, len(texts), n)]),
        x=np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 10.0 ** rng.integers(-9, 18, n)),
        i=pd.array(np.where(rng.random(n) < 0.5, None, rng.integers(-2**40, 2**40, n)), dtype="Int64"),
        b=pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5), dtype="boolean"),
        when=pd.to_datetime(rng.integers(-2 * 10**18, 9 * 10**18, n)).tz_localize("UTC"),
    )
    df.loc[rng.random(n) < 0.1, "when"] = pd.NaT
    for cells in (csv_text._CSV_BATCH_CELLS, 1000):
        monkeypatch.setattr(csv_text, "_CSV_BATCH_CELLS", cells)
        assert_same(df)


def test_failure_inside_falls_back_to_pandas(monkeypatch):
    def broken(cells):
        raise RuntimeError("boom")

    monkeypatch.setattr(csv_text, "_rows_bytes", broken)
    df = fast_frames()["mixed"]
    assert written(df) == pandas_csv(df)


def test_quoting_rule_of_this_python():
    # the csv module's rule, as probed: at least the separator, the quote and the newline
    assert set(b',"\n') <= set(csv_text.csv_quoting())


# --- the compiled writer ---------------------------------------------------------

def test_compiled_writer_takes_the_packets_table():
    packets = analyze(next(p for p in sample_captures() if p.name == "bulk_loss.pcap")).packets
    assert csv_text._compiled_columns(packets) is not None
    for name in ("floats", "nullable ints", "string texts", "categories"):
        df = fast_frames()[name]
        if name == "nullable ints":
            df = df.drop(columns=["c"])      # UInt64 is left to the arrow writer
        assert csv_text._compiled_columns(df) is not None, name


def test_compiled_writer_blocks(monkeypatch):
    # rows split over many blocks, and a row longer than the block (the buffer grows)
    path = next(p for p in sample_captures() if p.name == "http_like.pcap")
    packets = analyze(path).packets
    want = pandas_csv(packets)
    for size in (64, 1000, 1 << 16):
        monkeypatch.setattr(csv_text, "_BLOCK_BYTES", size)
        blocks = [bytes(b) for b in csv_text.frame_csv_blocks(packets)]
        assert b"".join(blocks).decode() == want, size
        if size < 1000:
            assert len(blocks) > 5


def test_compiled_float_text_is_reprs_and_arrows():
    import pyarrow as pa
    import pyarrow.compute as pc
    from pcap_analyzer.report import _csv

    rng = np.random.default_rng(11)
    x = np.concatenate([np.array([v for v in FLOATS if v == v]),
                        rng.integers(0, 2**64, size=50_000, dtype=np.uint64).view(np.float64),
                        rng.random(50_000) * 10.0 ** rng.integers(-12, 24, 50_000)])
    x = x[np.isfinite(x) | np.isinf(x)]
    assert _csv._float_texts(x, True) == [repr(v) for v in x.tolist()]
    finite = x[np.isfinite(x)]
    assert _csv._float_texts(finite, False) == pc.cast(pa.array(finite), pa.string()).to_pylist()
