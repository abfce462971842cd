"""The Python API: analyze() and the documented tables."""
from __future__ import annotations

import pytest

from builder import ACK, PSH, Conversation
from conftest import ROOT
from pcap_analyzer import Analysis, CaptureError, analyze, schema
from pcap_analyzer.vocabulary import MEANINGS


@pytest.fixture()
def analysis(tmp_path) -> Analysis:
    c = Conversation(client=("10.1.1.1", 51000), server=("10.1.1.2", 22))
    c.handshake()
    c.c(PSH | ACK, 1, 1, 10)
    c.s(ACK, 1, 11)
    return analyze(c.write(tmp_path / "a.pcap"))


def test_tables_have_documented_columns_and_dtypes(analysis):
    for df, cols in ((analysis.packets, schema.PACKET_COLUMNS), (analysis.streams, schema.STREAM_COLUMNS)):
        assert list(df.columns) == [c.name for c in cols]
        for c in cols:
            assert str(df[c.name].dtype) == c.dtype, c.name


def test_stream_facts(analysis):
    s = analysis.streams.iloc[0]
    assert (s["client"], s["client_port"], s["server_port"], s["service"]) == ("10.1.1.1", 51000, 22, "ssh")
    assert s["client_port_ephemeral"] and s["client_port_range"] == "iana;linux"
    assert s["handshake"] == "complete"
    assert (s["syn_frame"], s["syn_ack_frame"], s["handshake_ack_frame"]) == (1, 2, 3)
    assert s["client_isn"] == 1_000_000 and s["server_isn"] == 5_000_000
    assert s["conn_state"] == "S1"
    assert s["history"] == "ShADa"
    assert s["completeness"] == 1 | 2 | 4 | 8


def test_phases_and_relative_numbers(analysis):
    p = analysis.packets
    assert p["phase"].astype(str).tolist() == ["syn", "syn_ack", "handshake_ack", "data", "ack"]
    assert p["rel_seq"].tolist() == [0, 0, 1, 1, 1]
    assert p["rel_ack"].tolist()[1:] == [1, 1, 1, 11]
    assert p["seq"].iloc[0] == 1_000_000
    assert p["from_client"].tolist() == [True, False, True, True, False]


def test_time_is_utc(analysis):
    assert str(analysis.packets["time"].dt.tz) == "UTC"
    assert analysis.packets["time_rel_s"].iloc[0] == 0


def test_summary(analysis):
    s = analysis.summary()
    assert s["packets"] == 5 and s["tcp_streams"] == 1 and s["link_types"] == ["ethernet"]


def test_capture_error_for_non_captures(tmp_path):
    f = tmp_path / "x.pcap"
    f.write_text("not a capture")
    with pytest.raises(CaptureError, match="not a pcap or pcapng file"):
        analyze(f)


def test_column_reference_is_current():
    import subprocess, sys
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "columns_doc.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_every_column_and_label_is_in_the_reference():
    readme = (ROOT / "docs" / "columns.md").read_text()
    for c in schema.PACKET_COLUMNS + schema.STREAM_COLUMNS:
        if c.name.split("_", 1)[-1] in MEANINGS and c.name.startswith(("client_", "server_")):
            continue   # documented as client_<label> / server_<label>
        assert f"`{c.name}`" in readme, c.name
    for label in MEANINGS:
        assert f"`{label}`" in readme, label


def test_every_sample_capture_is_described():
    from conftest import SAMPLES
    text = (SAMPLES / "README.md").read_text()
    for p in sorted(SAMPLES.rglob("*")):
        if p.is_file() and p.suffix != ".md":
            rel = p.relative_to(SAMPLES).as_posix()
            assert f"`{rel}`" in text, rel


def test_empty_streams_table_keeps_documented_dtypes():
    from conftest import SAMPLES
    a = analyze(SAMPLES / "crafted" / "unknown_linktype.pcap")
    assert len(a.streams) == 0
    for c in schema.STREAM_COLUMNS:
        assert str(a.streams[c.name].dtype) == c.dtype, c.name
