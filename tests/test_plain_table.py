"""Big tables off a terminal are laid out column by column, as rich lays them out.

rich measures and renders every cell (about a millisecond per packet row),
so ``pcapan packets`` on a big capture, written to a file or a pipe, pads
the columns itself.  rich's output is the reference: on every sample,
broken and small development capture, the packets and streams tables must
come out byte for byte the same both ways.
"""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES, SHARED, broken_captures, sample_captures
from pcap_analyzer import CaptureError, analyze
from pcap_analyzer.cli import app
from pcap_analyzer.report import writers
from pcap_analyzer.report.documents import packets_document, streams_document


def _small_dev_captures() -> list:
    if not SHARED.is_dir():
        return []
    found = sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix != ".md")
    return [p for p in found if p.stat().st_size < 200_000]


def _id(p) -> str:
    return str(p.relative_to(p.parents[1]))


def _analysis(path):
    """The analysis of *path*, or None for a file that is not a capture (nothing to write)."""
    try:
        return analyze(path)
    except CaptureError:
        return None


def _both_ways(doc, monkeypatch) -> tuple[bytes, bytes]:
    monkeypatch.setattr(writers, "PLAIN_MIN_ROWS", 10**9)
    by_rich = writers.render_bytes(doc, "table", "main")
    monkeypatch.setattr(writers, "PLAIN_MIN_ROWS", 0)
    by_columns = writers.render_bytes(doc, "table", "main")
    return by_rich, by_columns


@pytest.mark.parametrize("path", sample_captures() + broken_captures() + _small_dev_captures(), ids=_id)
def test_tables_laid_out_by_column_are_richs(path, monkeypatch):
    a = _analysis(path)
    if a is None:
        return
    for doc in (packets_document(a, for_table=True), packets_document(a), streams_document(a)):
        by_rich, by_columns = _both_ways(doc, monkeypatch)
        assert by_columns == by_rich


def test_cells_rich_would_treat_otherwise_go_to_rich(monkeypatch):
    """Wide characters are measured as rich measures them; a control character leaves the layout to
    rich; a table wider than any terminal is laid out too, every cell whole."""
    import pandas as pd

    wide = {"t": pd.DataFrame({"n": pd.array([1, None, 300], dtype="Int64"),
                               "text": ["plain", "日本語 text", None], "x": [0.5, float("nan"), 2.0]})}
    by_rich, by_columns = _both_ways(wide, monkeypatch)
    assert by_columns == by_rich
    assert "日本語".encode() in by_columns
    assert writers._plain_table(pd.DataFrame({"text": ["a\tb"]})) is None
    assert writers._plain_table(wide["t"]) is not None
    long = {"t": pd.DataFrame({"n": [1, 2], "text": ["x" * 1200, "y " * 700]})}
    by_rich, by_columns = _both_ways(long, monkeypatch)
    assert by_columns == by_rich
    assert b"x" * 1200 in by_columns and b"y " * 699 + b"y" in by_columns     # nothing cut


def test_packets_table_of_a_capture_bigger_than_the_threshold(monkeypatch, tmp_path):
    """The command line writes the big-table layout, and it is rich's."""
    path = SAMPLES / "bulk_loss.pcap"
    doc = packets_document(analyze(path), for_table=True)
    assert len(doc["packets"]) > writers.PLAIN_MIN_ROWS
    monkeypatch.setattr(writers, "PLAIN_MIN_ROWS", 10**9)
    want = writers.render_bytes(doc, "table", "packets")
    monkeypatch.undo()
    out = tmp_path / "packets.txt"
    result = CliRunner().invoke(app, ["packets", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == want


def _json_as_encoded_whole(doc, main: str) -> str:
    """The reference: the whole document decoded from pandas' JSON and encoded by json.dumps at once."""
    import json

    import pandas as pd

    def value(v):
        if isinstance(v, pd.DataFrame):
            rows = json.loads(v.to_json(orient="records", date_format="iso", date_unit="ns"))
            # times to the unit their column holds (the capture's clock precision), made here by
            # strftime (pandas' own ISO writer drops the nanoseconds of zone-aware times)
            for c, t in v.dtypes.items():
                if isinstance(t, pd.DatetimeTZDtype):
                    for row, ts in zip(rows, v[c]):
                        row[c] = None if ts is pd.NaT else (
                            ts.strftime("%Y-%m-%dT%H:%M:%S.%f")
                            + (f"{ts.nanosecond:03d}" if t.unit == "ns" else "") + "Z")
            return rows
        return v

    if len(doc) == 1:
        return json.dumps(value(doc[main]), indent=1, default=str) + "\n"
    return json.dumps({k: value(v) for k, v in doc.items()}, indent=1, default=str) + "\n"


@pytest.mark.parametrize("path", sample_captures() + broken_captures(), ids=_id)
def test_json_written_in_blocks_is_the_whole_documents(path, monkeypatch):
    """JSON is written a block of rows at a time (memory bounded by the block, not by the table's
    Python objects), with exactly the text of encoding the whole document at once."""
    import pandas as pd

    from pcap_analyzer.report.documents import report_document

    a = _analysis(path)
    if a is None:
        return
    monkeypatch.setattr(writers, "_JSON_BLOCK_ROWS", 7)
    mixed = {"first": a.packets.head(9), "facts": {"list": [1, 2], "none": None, "nested": {"a": [{}]}},
             "empty": a.packets.head(0), "listed": pd.DataFrame({"x": [[1, 2], [3]], "y": ["a", "b"]})}
    for doc in (packets_document(a), streams_document(a), report_document(a), mixed):
        main = next(iter(doc))
        assert writers.render_bytes(doc, "json", main).decode() == _json_as_encoded_whole(doc, main)


def _markdown_row_by_row(doc) -> str:
    """The reference: every cell through writers._cell, row by row."""
    import pandas as pd

    out = []
    for name, section in doc.items():
        if len(doc) > 1:
            out.append(f"## {name.replace('_', ' ').capitalize()}\n")
        if isinstance(section, pd.DataFrame):
            out.append("| " + " | ".join(section.columns) + " |")
            out.append("|" + "|".join("---" for _ in section.columns) + "|")
            for row in section.itertuples(index=False, name=None):
                out.append("| " + " | ".join(writers._md_escape(writers._cell(v)) for v in row) + " |")
        else:
            out.append("| fact | value |")
            out.append("|---|---|")
            out += [f"| {writers._md_escape(str(k))} | {writers._md_escape(writers._cell(v))} |"
                    for k, v in section.items()]
        out.append("")
    return "\n".join(out)


@pytest.mark.parametrize("path", sample_captures() + broken_captures(), ids=_id)
def test_markdown_written_column_by_column_is_row_by_rows(path, monkeypatch):
    from pcap_analyzer.report.documents import report_document

    a = _analysis(path)
    if a is None:
        return
    monkeypatch.setattr(writers, "_PLAIN_BLOCK_ROWS", 7)
    for doc in (packets_document(a), streams_document(a), report_document(a)):
        main = next(iter(doc))
        assert writers.render_bytes(doc, "markdown", main).decode() == _markdown_row_by_row(doc)
