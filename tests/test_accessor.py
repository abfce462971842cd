"""The DataFrame accessor ``df.pcapan`` on real captures."""
from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

import pcap_analyzer  # noqa: F401  (importing the package registers the accessor)
from conftest import SAMPLES
from pcap_analyzer import analyze


@pytest.fixture(scope="module")
def bulk():
    return analyze(SAMPLES / "bulk_loss.pcap")


def label_sets(df: pd.DataFrame) -> pd.Series:
    return df["labels"].astype("string").fillna("").str.split(";").map(set)


def test_registered_on_import_and_only_for_packet_tables(bulk):
    assert hasattr(bulk.packets, "pcapan")
    with pytest.raises(AttributeError, match="packets table.*frame, time_rel_s"):
        bulk.streams.pcapan
    with pytest.raises(AttributeError, match="lacks the columns labels"):
        bulk.packets.drop(columns="labels").pcapan


def test_stream_is_one_tcp_stream_in_capture_order(bulk):
    s = bulk.packets.pcapan.stream(1)
    facts = bulk.streams[(bulk.streams["proto"] == "tcp") & (bulk.streams["stream"] == 1)].iloc[0]
    assert (s["proto"] == "tcp").all() and (s["stream"] == 1).all()
    assert len(s) == facts["client_packets"] + facts["server_packets"]
    assert s["frame"].iloc[0] == facts["first_frame"] and s["frame"].iloc[-1] == facts["last_frame"]
    assert s["frame"].is_monotonic_increasing


def test_stream_udp_and_bad_numbers():
    a = analyze(SAMPLES / "offload.pcap")
    udp = a.packets.pcapan.stream(0, proto="udp")
    assert len(udp) and (udp["proto"] == "udp").all()
    with pytest.raises(ValueError, match=r"no TCP stream 7 \(TCP streams: 0\)"):
        a.packets.pcapan.stream(7)
    with pytest.raises(ValueError, match="proto must be"):
        a.packets.pcapan.stream(0, proto="icmp")


def test_with_label_matches_whole_labels_only(bulk):
    p = bulk.packets
    fast = p.pcapan.with_label("fast_retransmission")
    retrans = p.pcapan.with_label("retransmission")
    assert len(fast) > 0
    assert label_sets(fast).map(lambda s: "fast_retransmission" in s).all()
    # every frame with the label, and nothing else
    expected = label_sets(p).map(lambda s: "retransmission" in s)
    assert retrans["frame"].tolist() == p.loc[expected, "frame"].tolist()
    # Wireshark marks a fast retransmission as a retransmission too
    assert set(fast["frame"]) <= set(retrans["frame"])
    with pytest.raises(ValueError, match="unknown label 'retransmissions'"):
        p.pcapan.with_label("retransmissions")


def test_handshakes_agree_with_the_streams_table(bulk):
    hs = bulk.packets.pcapan.handshakes()
    assert hs["phase"].tolist() == ["syn", "syn_ack", "handshake_ack"] * 2
    for _, facts in bulk.streams.iterrows():
        rows = hs[hs["stream"] == facts["stream"]].set_index("phase")
        assert rows["frame"].tolist() == [facts["syn_frame"], facts["syn_ack_frame"], facts["handshake_ack_frame"]]
        assert (rows["client_isn"] == facts["client_isn"]).all()
        assert (rows["server_isn"] == facts["server_isn"]).all()
        assert (rows["client_port"] == facts["client_port"]).all()
        assert (rows["server_port"] == facts["server_port"]).all()
        # the ISNs are the raw numbers of SYN and SYN-ACK; relative numbers start at 0
        assert rows.loc["syn", "seq"] == facts["client_isn"] and rows.loc["syn", "rel_seq"] == 0
        assert rows.loc["syn_ack", "seq"] == facts["server_isn"]
        assert rows.loc["syn_ack", "ack"] == (facts["client_isn"] + 1) % 2**32
        assert rows.loc["handshake_ack", "rel_seq"] == 1 and rows.loc["handshake_ack", "rel_ack"] == 1


def test_handshakes_with_a_lone_syn():
    # reset.pcap: a SYN to a closed port gets RST, no SYN-ACK
    a = analyze(SAMPLES / "reset.pcap")
    hs = a.packets.pcapan.handshakes()
    rejected = a.streams[a.streams["conn_state"] == "REJ"]["stream"].iloc[0]
    rows = hs[hs["stream"] == rejected]
    assert rows["phase"].tolist() == ["syn"]
    assert rows["server_isn"].isna().all() and rows["client_isn"].notna().all()


def test_methods_leave_the_table_alone(bulk):
    before = bulk.packets.copy()
    p = bulk.packets
    s = p.pcapan.stream(0)
    s["rel_seq"] = 0
    hs = p.pcapan.handshakes()
    hs["seq"] = 0
    p.pcapan.with_label("duplicate_ack")
    pd.testing.assert_frame_equal(bulk.packets, before)


def test_time_sequence_is_a_figure(bulk):
    fig = bulk.packets.pcapan.time_sequence(0)
    assert isinstance(fig, Figure)
    assert "TCP stream 0" in fig.axes[0].get_title()
