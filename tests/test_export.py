"""Exporting the tables: parquet and CSV round trips, atomic writes, the CLI."""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import SAMPLES
from pcap_analyzer import analyze, schema
from pcap_analyzer.cli import app
from pcap_analyzer.export import (EVENT_COLUMNS, TABLE_COLUMNS, TABLES, ExportError, read_csv, read_parquet, write_tables,
                                  replace_atomically)

runner = CliRunner()
CAPTURE = SAMPLES / "bulk_loss.pcap"


@pytest.fixture(scope="module")
def analysis():
    return analyze(CAPTURE)


def tables(a) -> dict[str, pd.DataFrame]:
    return {"packets": a.packets, "streams": a.streams, "events": a.events}


def assert_same_tables(back: dict[str, pd.DataFrame], a) -> None:
    assert sorted(back) == sorted(TABLES)
    for name, original in tables(a).items():
        # dtype by dtype first, for a readable failure; then every value
        for col in TABLE_COLUMNS[name]:
            assert back[name][col.name].dtype == original[col.name].dtype, (name, col.name)
            assert str(back[name][col.name].dtype) == col.dtype, (name, col.name)
        pd.testing.assert_frame_equal(back[name], original, check_exact=True)


def test_events_table_has_declared_dtypes(analysis):
    ev = analysis.events
    assert [str(ev[c.name].dtype) for c in EVENT_COLUMNS] == [c.dtype for c in EVENT_COLUMNS]
    assert isinstance(ev["label"].dtype, pd.CategoricalDtype)
    # one row per (frame, label): as many rows as labels in the packets table
    assert len(ev) == analysis.packets["labels"].dropna().str.split(";").map(len).sum()


def test_parquet_round_trip_keeps_dtypes_exactly(analysis, tmp_path):
    written = write_tables(analysis, tmp_path / "out")
    assert sorted(p.name for p in written) == ["events.parquet", "packets.parquet", "streams.parquet"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)  # no temp files
    assert_same_tables(read_parquet(tmp_path / "out"), analysis)


def test_parquet_files_carry_the_documented_types_for_other_readers(analysis, tmp_path):
    import pyarrow.parquet as pq

    write_tables(analysis, tmp_path)
    t = pq.read_table(tmp_path / "packets.parquet")
    assert str(t.schema.field("time").type) == "timestamp[ns, tz=UTC]"
    assert str(t.schema.field("proto").type).startswith("dictionary")
    assert str(t.schema.field("from_client").type) == "bool"
    assert str(t.schema.field("rel_seq").type) == "int64"
    assert t.column("rel_seq").null_count == int(analysis.packets["rel_seq"].isna().sum())


def test_csv_round_trip_keeps_dtypes(analysis, tmp_path):
    written = write_tables(analysis, tmp_path, "csv")
    assert sorted(p.name for p in written) == ["events.csv", "packets.csv", "streams.csv"]
    header = (tmp_path / "packets.csv").read_text().splitlines()[0].split(",")
    assert header == schema.column_names(schema.PACKET_COLUMNS)
    assert_same_tables(read_csv(tmp_path), analysis)


def test_export_refuses_to_write_over_the_input(tmp_path):
    capture = tmp_path / "packets.parquet"  # a capture that has the name of an output file
    shutil.copyfile(CAPTURE, capture)
    before = capture.read_bytes()
    a = analyze(capture)
    with pytest.raises(ExportError, match="refusing to write over the input capture"):
        write_tables(a, tmp_path)
    with pytest.raises(ExportError, match="refusing"):
        write_tables(a, capture)  # the capture itself given as the directory
    assert capture.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packets.parquet"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "packets.csv"
    target.write_text("old\n")

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half a ta")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        replace_atomically(target, broken)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["packets.csv"]


def test_written_files_get_the_usual_permissions(tmp_path):
    """A new file gets what the umask allows (not the temporary file's private mode); a replaced file
    keeps its own."""
    import stat

    old = os.umask(0o022)
    try:
        new = tmp_path / "new.csv"
        replace_atomically(new, lambda tmp: open(tmp, "w").close())
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        kept = tmp_path / "kept.csv"
        kept.write_text("old\n")
        kept.chmod(0o640)
        replace_atomically(kept, lambda tmp: open(tmp, "w").close())
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_cli_export(fmt, analysis, tmp_path):
    out = tmp_path / "tables"
    result = runner.invoke(app, ["export", str(CAPTURE), "-o", str(out), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.{fmt}" for t in TABLES)
    assert_same_tables(read_parquet(out) if fmt == "parquet" else read_csv(out), analysis)


def test_cli_export_default_format_is_parquet(tmp_path):
    result = runner.invoke(app, ["export", str(CAPTURE), "-o", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "packets.parquet").is_file()


def test_cli_export_protects_the_input(tmp_path):
    capture = tmp_path / "cap.pcap"
    shutil.copyfile(CAPTURE, capture)
    result = runner.invoke(app, ["export", str(capture), "-o", str(capture)])
    assert result.exit_code == 2, result.output
    assert "refusing to write over the input capture" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert capture.read_bytes() == CAPTURE.read_bytes()


def test_cli_export_bad_format(tmp_path):
    result = runner.invoke(app, ["export", str(CAPTURE), "-o", str(tmp_path), "--format", "xlsx"])
    assert result.exit_code == 2
