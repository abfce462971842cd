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
    # no temporary files; the manifest says which capture the tables are of
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([p.name for p in written]
                                                                           + ["pcapan-export.json"])
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
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{t}.{fmt}" for t in TABLES] + ["pcapan-export.json"])
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


# --- a directory never mixes two captures' tables; a failure leaves nothing behind ---------------

OTHER = SAMPLES / "reset.pcap"


def test_export_refuses_a_directory_holding_another_captures_tables(tmp_path):
    out = tmp_path / "tables"
    assert runner.invoke(app, ["export", str(CAPTURE), "-o", str(out), "-f", "csv", "-q"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = runner.invoke(app, ["export", str(OTHER), "-o", str(out), "-f", "parquet", "-q"])
    assert result.exit_code == 2, result.output
    assert "another capture (bulk_loss.pcap)" in result.output and "--force" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written, nothing mixed

    # with --force the other capture's tables replace them, in one format only
    result = runner.invoke(app, ["export", str(OTHER), "-o", str(out), "-f", "parquet", "-q", "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{t}.parquet" for t in TABLES] + ["pcapan-export.json"])
    assert len(read_parquet(out)["packets"]) == len(analyze(OTHER).packets)


def test_the_same_capture_may_be_exported_in_both_formats(analysis, tmp_path):
    write_tables(analysis, tmp_path, "csv")
    write_tables(analyze(CAPTURE), tmp_path, "parquet")  # the same capture, read again
    import json

    manifest = json.loads((tmp_path / "pcapan-export.json").read_text())
    assert manifest["formats"] == ["csv", "parquet"] and manifest["frames"] == len(analysis.packets)
    assert_same_tables(read_csv(tmp_path), analysis)
    assert_same_tables(read_parquet(tmp_path), analysis)


def test_tables_of_unknown_origin_are_not_replaced(analysis, tmp_path):
    (tmp_path / "packets.csv").write_text("somebody's table\n")
    with pytest.raises(ExportError, match="cannot tell the capture of"):
        write_tables(analysis, tmp_path, "csv")
    assert (tmp_path / "packets.csv").read_text() == "somebody's table\n"


def _disk_full_at_the_second_table(monkeypatch):
    import errno

    written = []
    real = pd.DataFrame.to_parquet

    def to_parquet(self, path, *a, **kw):
        written.append(path)
        if len(written) == 2:
            with open(path, "wb") as f:
                f.write(b"PAR1 half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *a, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)


def test_a_failed_export_into_a_new_directory_leaves_nothing(analysis, tmp_path, monkeypatch):
    _disk_full_at_the_second_table(monkeypatch)
    out = tmp_path / "new" / "tables"
    with pytest.raises(OSError):
        write_tables(analysis, out)
    assert list(tmp_path.iterdir()) == []  # neither directory is left, nor a temporary file


def test_a_failed_export_keeps_the_earlier_tables_whole(analysis, tmp_path, monkeypatch):
    write_tables(analysis, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _disk_full_at_the_second_table(monkeypatch)
    result = runner.invoke(app, ["export", str(CAPTURE), "-o", str(tmp_path), "-q"])
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# --- text from a capture is never a spreadsheet formula -------------------------------------------

FORMULA = '=HYPERLINK("http://x.invalid","click")'


@pytest.fixture(scope="module")
def commented(tmp_path_factory):
    """A capture whose first packet comment is a formula, the second a minus sign, the third a quote."""
    import dpkt

    from builder import epb, idb, shb

    path = tmp_path_factory.mktemp("formula") / "formula.pcapng"
    comments = [FORMULA, "-1+2", "'quoted", "plain"]
    blocks = [shb(), idb(1)]
    with open(CAPTURE, "rb") as f:
        for i, (ts, buf) in enumerate(dpkt.pcap.Reader(f)):
            note = comments[i] if i < len(comments) else None
            blocks.append(epb(0, int(round(ts * 1e6)), buf, opts=[(1, note.encode())] if note else ()))
    path.write_bytes(b"".join(blocks))
    return path


def test_csv_cells_that_would_run_as_formulas_are_quoted(commented, tmp_path):
    import csv

    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["packets", str(commented), "-f", "csv", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["comment"] for r in rows[:4]] == ["'" + FORMULA, "'-1+2", "''quoted", "plain"]
    # numbers stay numbers, negative or not
    assert rows[0]["frame"] == "1" and float(rows[1]["time_rel_s"]) >= 0


def test_exported_csv_is_quoted_and_reads_back_as_it_was(commented, tmp_path):
    a = analyze(commented)
    write_tables(a, tmp_path, "csv")
    raw = (tmp_path / "packets.csv").read_text()
    assert "'=HYPERLINK" in raw and "\n=HYPERLINK" not in raw and ",=HYPERLINK" not in raw
    assert read_csv(tmp_path)["packets"]["comment"].head(4).tolist() == [FORMULA, "-1+2", "'quoted", "plain"]


# --- signals and links ----------------------------------------------------------------------------

@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_stopped_command_leaves_no_temporary_file(signame, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    # a capture big enough to be stopped while its csv is written: the sample's records, repeated
    data = CAPTURE.read_bytes()
    big = tmp_path / "big.pcap"
    big.write_bytes(data[:24] + data[24:] * 120)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "pcap_analyzer", "packets", str(big), "-f", "csv",
                             "-o", str(out / "o.csv")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(out.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if proc.poll() is not None:
        pytest.skip("the command finished before it could be stopped")
    proc.send_signal(getattr(signal, signame))
    assert proc.wait(60) == 128 + getattr(signal, signame)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("command", [["streams", "-f", "csv", "-o", "OUT/s.csv"], ["export", "-o", "OUT"]])
def test_a_signal_right_after_a_temporary_file_is_made_leaves_nothing(command, tmp_path):
    # The stop arrives the moment the temporary file exists, before the code that would clean
    # it up has started: what the command leaves must still be nothing.
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    argv = ["pcapan", command[0], str(CAPTURE)] + [a.replace("OUT", str(out)) for a in command[1:]]
    script = f"""
import os, signal, sys
real_open = os.open
def open_then_stopped(path, flags, *args, **kw):
    fd = real_open(path, flags, *args, **kw)
    if str(path).endswith(".tmp"):
        os.kill(os.getpid(), signal.SIGTERM)
    return fd
os.open = open_then_stopped
from pcap_analyzer.cli import main
sys.argv = {argv!r}
main()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 128 + 15, proc.stderr
    assert list(out.iterdir()) == []


def test_output_through_a_symbolic_link_goes_to_its_target(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "later.csv")
    for name in (link, dangling):
        result = runner.invoke(app, ["streams", str(CAPTURE), "-f", "csv", "-o", str(name), "-q"])
        assert result.exit_code == 0, result.output
        assert name.is_symlink()
    assert target.read_text().startswith("proto,stream,")
    assert (tmp_path / "later.csv").read_text() == target.read_text()
