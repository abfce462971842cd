"""One crafted capture per decision of the sequence analysis."""
from builder import ACK, FIN, PSH, RST, SYN, Conversation
from analysis_check import check

import pytest
from pcap_analyzer import analyze

D = PSH | ACK


def test_clean_transfer_has_no_labels(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    c.s(ACK, 1, 101)
    c.c(FIN | ACK, 101, 1)
    c.s(FIN | ACK, 1, 102)
    c.c(ACK, 102, 2)
    check(c, tmp_path, {})


def test_timeout_retransmission_reports_rto(tmp_path):
    c = Conversation()
    c.handshake()
    first = c.c(D, 1, 1, 100)
    again = c.c(D, 1, 1, 100, after=0.200)
    c.s(ACK, 1, 101)
    check(c, tmp_path, {again: {"retransmission"}})
    p = analyze(tmp_path / "case.pcap").packets.set_index("frame")
    assert p.loc[again, "rto_frame"] == first
    assert p.loc[again, "rto_s"] == pytest.approx(0.200, abs=1e-6)


def test_syn_synack_and_fin_retransmissions(tmp_path):
    c = Conversation()
    c.c(SYN, 0, 0)
    syn2 = c.c(SYN, 0, 0, after=1.0)
    c.s(SYN | ACK, 0, 1)
    synack2 = c.s(SYN | ACK, 0, 1, after=1.0)
    c.c(ACK, 1, 1)
    c.c(FIN | ACK, 1, 1)
    fin2 = c.c(FIN | ACK, 1, 1, after=0.5)
    c.s(ACK, 1, 2)
    check(c, tmp_path, {syn2: {"retransmission"}, synack2: {"retransmission"}, fin2: {"retransmission"}})


def test_fast_retransmission_after_two_duplicate_acks(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    c.c(D, 101, 1, 100)           # will be "lost" at the receiver
    c.c(D, 201, 1, 100)
    c.s(ACK, 1, 101)
    d1 = c.s(ACK, 1, 101)
    d2 = c.s(ACK, 1, 101)
    fast = c.c(D, 101, 1, 100, after=0.002)
    check(c, tmp_path, {d1: {"duplicate_ack"}, d2: {"duplicate_ack"},
                        fast: {"fast_retransmission", "retransmission"}})
    p = analyze(tmp_path / "case.pcap").packets.set_index("frame")
    assert (p.loc[d1, "dup_ack_num"], p.loc[d2, "dup_ack_num"]) == (1, 2)
    assert p.loc[d2, "dup_ack_of"] == d1 - 1


def test_resend_after_two_dup_acks_but_too_late_is_plain(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    c.c(D, 101, 1, 100)
    c.s(ACK, 1, 101)
    d1 = c.s(ACK, 1, 101)
    d2 = c.s(ACK, 1, 101)
    late = c.c(D, 101, 1, 100, after=0.025)   # 25 ms > 20 ms window
    check(c, tmp_path, {d1: {"duplicate_ack"}, d2: {"duplicate_ack"}, late: {"retransmission"}})


def test_one_dup_ack_then_resend_is_not_fast(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    c.c(D, 101, 1, 100)
    c.s(ACK, 1, 101)
    d1 = c.s(ACK, 1, 101)
    again = c.c(D, 101, 1, 100, after=0.001)
    check(c, tmp_path, {d1: {"duplicate_ack"}, again: {"retransmission"}})


def test_out_of_order_within_threshold_and_gap(tmp_path):
    c = Conversation()
    c.handshake(rtt=0.050)
    c.c(D, 1, 1, 100)
    gap = c.c(D, 201, 1, 100)
    ooo = c.c(D, 101, 1, 100, after=0.001)
    check(c, tmp_path, {gap: {"lost_segment"}, ooo: {"out_of_order"}})


def test_partial_overlap_is_a_retransmission(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    c.c(D, 101, 1, 100)
    overlap = c.c(D, 51, 1, 100, after=0.3)
    check(c, tmp_path, {overlap: {"retransmission"}})


def test_spurious_retransmission(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    c.s(ACK, 1, 101)
    again = c.c(D, 1, 1, 100, after=0.3)
    check(c, tmp_path, {again: {"spurious_retransmission", "retransmission"}})


def test_ack_of_unseen_segment(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    acked = c.s(ACK, 1, 201)
    check(c, tmp_path, {acked: {"ack_lost_segment"}})


def test_zero_window_probe_and_update(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    zw = c.s(ACK, 1, 101, win=0)
    probe = c.c(ACK, 101, 1, 1, after=0.2)
    probe_ack = c.s(ACK, 1, 101, win=0)
    update = c.s(ACK, 1, 101, win=8000, after=0.1)
    check(c, tmp_path, {zw: {"zero_window"}, probe: {"zero_window_probe"},
                        probe_ack: {"zero_window_probe_ack", "zero_window"},
                        update: {"window_update"}})


def test_keep_alive_and_its_ack(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 10)
    c.s(ACK, 1, 11)
    ka = c.c(ACK, 10, 1, after=1.0)
    kaack = c.s(ACK, 1, 11)
    check(c, tmp_path, {ka: {"keep_alive"}, kaack: {"keep_alive_ack"}})


def test_window_full(tmp_path):
    c = Conversation()
    c.handshake()
    shrink = c.s(ACK, 1, 1, win=300)      # a new window with nothing else: an update
    c.c(D, 1, 1, 100)
    c.c(D, 101, 1, 100)
    full = c.c(D, 201, 1, 100)
    check(c, tmp_path, {shrink: {"window_update"}, full: {"window_full"}})


def test_port_reuse_starts_a_new_stream(tmp_path):
    c = Conversation()
    c.handshake()
    c.c(FIN | ACK, 1, 1)
    c.s(FIN | ACK, 1, 2)
    c.c(ACK, 2, 2)
    c.client_isn += 777_777
    c.server_isn += 333_333
    syn = c.c(SYN, 0, 0, after=2.0)
    c.s(SYN | ACK, 0, 1)
    c.c(ACK, 1, 1)
    check(c, tmp_path, {syn: {"reused_ports"}})
    p = analyze(tmp_path / "case.pcap").packets
    assert p["stream"].tolist() == [0] * 6 + [1] * 3
    assert p["rel_seq"].iloc[6] == 0


def test_rst_after_syn_is_rejected(tmp_path):
    c = Conversation()
    c.c(SYN, 0, 0)
    c.s(RST | ACK, 0, 1)
    check(c, tmp_path, {})
    s = analyze(tmp_path / "case.pcap").streams.iloc[0]
    assert s["conn_state"] == "REJ"
    assert s["handshake"] == "syn_only"


def test_rtt_columns(tmp_path):
    c = Conversation()
    c.handshake(rtt=0.020)
    data = c.c(D, 1, 1, 100)
    ack = c.s(ACK, 1, 101, after=0.015)
    check(c, tmp_path, {})
    a = analyze(tmp_path / "case.pcap")
    p = a.packets.set_index("frame")
    assert p.loc[ack, "acks_frame"] == data
    assert p.loc[ack, "ack_rtt_s"] == pytest.approx(0.015, abs=1e-6)
    assert p.loc[data, "bytes_in_flight"] == 100
    assert a.streams.iloc[0]["initial_rtt_s"] == pytest.approx(0.020, abs=1e-6)


def test_linux_style_probe_of_a_closed_window(tmp_path):
    """Linux probes a zero window with a keep-alive-shaped segment: Wireshark says keep_alive,
    we add window_probe beside it."""
    c = Conversation()
    c.handshake()
    c.c(D, 1, 1, 100)
    zw = c.s(ACK, 1, 101, win=0)
    probe = c.c(ACK, 100, 1, after=0.2)       # zero bytes at next expected - 1
    check(c, tmp_path, {zw: {"zero_window"}, probe: {"keep_alive"}})
    p = analyze(tmp_path / "case.pcap").packets.set_index("frame")
    assert p.loc[probe, "labels"] == "keep_alive;window_probe"
