"""The explain column: one sentence per frame, on real and crafted captures."""
from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES, sample_captures
from pcap_analyzer import analyze
from pcap_analyzer.cli import app
from pcap_analyzer.explain import explain, topics
from pcap_analyzer.vocabulary import MEANINGS, NOTES, TOPICS

runner = CliRunner()


def sentences(name: str) -> dict[int, str]:
    p = analyze(SAMPLES / name).packets
    return dict(zip(p["frame"].tolist(), p["explain"].tolist()))


def test_handshake_in_words():
    a = analyze(SAMPLES / "http_like.pcap")
    p = a.packets.set_index("frame")
    s = p["explain"]
    assert s[3] == (f"Client opens the connection: SYN with random ISN {p.loc[3, 'seq']} (relative 0) "
                    f"from ephemeral port {p.loc[3, 'sport']}")
    assert s[4] == (f"Server accepts: SYN-ACK with its own ISN {p.loc[4, 'seq']}, "
                    "ack = client ISN + 1 (relative 1)")
    assert s[5] == "Client completes the three-way handshake: ACK = server ISN + 1 (relative 1)"
    assert s[6] == "Client sends 94 bytes: relative seq 1 to 94"
    assert s[7] == "Server acknowledges every byte before relative 95: it expects 95 next"
    assert s[36] == "Server closes its side: FIN at relative seq 20088, it has no more data to send"
    assert s[37] == ("Client acknowledges the server's FIN and closes its side too: FIN at relative seq 95, "
                     "ack relative 20089")
    assert s[38] == ("Server acknowledges the client's FIN (relative seq 95): ack relative 96: "
                     "the client will send no more data")
    assert s[1].startswith("ARP: ")


def test_data_in_the_handshake_ack():
    s = sentences("crafted/data_in_handshake_ack.pcap")
    assert s[3] == "Client completes the three-way handshake and already sends 53 bytes: relative seq 1 to 53"


def test_duplicate_acks_count_up():
    s = sentences("bulk_loss.pcap")
    assert s[25] == "First duplicate ACK for relative 13033: the receiver is asking for that segment again"
    assert s[29] == "Third duplicate ACK for relative 13033: the receiver is asking for that segment again"


def test_retransmissions_say_why():
    s = sentences("bulk_loss.pcap")
    # frame 38 was asked for by the duplicate ACKs; frame 40 follows them in the same loss recovery (the
    # first copies were dropped by the queue before the capture point)
    assert s[38].startswith("Fast retransmission of relative seq 13033 (1448 bytes) after duplicate ACKs asked for it")
    assert s[40].startswith("Retransmission of relative seq 15929: loss recovery, the receiver's ACK in frame 37 "
                            "still asked for it; its first copy was not captured")
    # the snapshot length of 128 bytes is the note after the sentence
    assert s[40].endswith("; only 128 of its 1514 bytes captured (snapshot length)")
    syn = sentences("crafted/syn_only.pcap")
    assert syn[2] == "SYN sent again after 1000 ms (timeout: no SYN-ACK reached the client)"
    assert sentences("crafted/half_open.pcap")[3] == \
        "SYN-ACK sent again after 1000 ms (timeout: no handshake ACK reached the server)"


def test_offloaded_checksums_are_explained_not_blamed():
    s = sentences("offload.pcap")
    note = "checksum not filled in: captured before the network card computed it (offload)"
    assert s[3].startswith("Client opens the connection: SYN")
    assert s[3].endswith("; " + note)
    assert s[15] == f"Client sends a UDP datagram of 35 bytes to port 5353 (no handshake, no ACKs); {note}"
    assert "offload" not in s[4]   # the server's checksums are right


def test_analysis_labels_in_words(monkeypatch):
    # frame 6 as Wireshark 4.0 and 4.4 label it: out of order (4.6: a retransmission)
    monkeypatch.setenv("PCAPAN_WIRESHARK", "4.0")
    s = sentences("crafted/tcp_analysis.pcap")
    assert s[5] == "Previous segment not captured: the client's data jumps ahead to relative seq 201, leaving a gap"
    assert s[6] == "Out of order: relative seq 101 arrives after later data (reordered on the way)"
    assert s[13] == "Spurious retransmission of relative seq 1: the server had already acknowledged these bytes"
    assert s[18] == "Server acknowledges up to relative 201: data the capture never saw"
    assert s[23] == "Zero window: the server's receive buffer is full, the client must stop sending"
    assert s[24].startswith("Zero-window probe: the client sends one byte at relative seq 101")
    # two labels: the probe's answer is the topic, the zero window a note
    assert s[25] == ("Server answers the zero-window probe: its window is now 0 bytes; "
                     "zero window: the server's receive buffer is full")
    assert s[26] == "Window update: the server now advertises 64256 bytes, nothing new acknowledged"


def test_keep_alive_reset_refused_and_reused_ports():
    k = sentences("keepalive.pcap")
    assert k[8] == "Keep-alive: the client asks whether the idle connection is still there"
    assert k[9] == "Server answers the keep-alive: the connection is still alive"
    r = sentences("reset.pcap")
    assert r[4] == "Server refuses the connection: RST in answer to the SYN (nothing listens on port 8081)"
    assert r[16] == "Client aborts the connection: RST, without the orderly FIN exchange"
    reuse = analyze(SAMPLES / "port_reuse.pcap").packets
    again = reuse[reuse["labels"] == "reused_ports"]["explain"]
    assert len(again) == 2 and again.str.startswith("Client opens a new connection on ports used before").all()
    z = sentences("zero_window.pcap")
    assert z[66].startswith("Window probe: the client asks whether the server's zero window has opened")


def test_checksum_errors_and_malformed_frames():
    s = sentences("crafted/checksum_pairs.pcap")
    assert s[2].endswith("; TCP checksum wrong: the segment was damaged and the receiver would drop it")
    assert s[14].endswith("; IPv4 header checksum wrong: the receiver would drop this packet")
    m = sentences("broken/bad_tcp_offset.pcap")
    assert m[2] == "Malformed TCP header: pcapan cannot decode the frame past it"


def test_every_label_and_phase_has_words():
    labels = set(MEANINGS)
    assert labels <= set(TOPICS) | set(NOTES), labels - set(TOPICS) - set(NOTES)
    seen_phases = set()
    for path in sample_captures():
        p = analyze(path).packets
        assert p["explain"].notna().all(), path
        assert (p["explain"].str.len() > 10).all(), path
        seen_phases |= set(p["phase"].dropna().astype(str))
    assert seen_phases == {"syn", "syn_ack", "handshake_ack", "data", "ack", "fin", "rst"}


def test_explain_is_the_same_on_the_finished_table():
    p = analyze(SAMPLES / "bulk_loss.pcap").packets
    assert explain(p).equals(p["explain"])
    about = topics(p)
    assert about[p["frame"] == 38].iloc[0] == "fast_retransmission"
    assert about[p["frame"] == 3].isna().all()


def test_packets_command_shows_the_sentence():
    r = runner.invoke(app, ["packets", str(SAMPLES / "http_like.pcap"), "-f", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[2]["explain"].startswith("Client opens the connection: SYN with random ISN")
    r = runner.invoke(app, ["packets", str(SAMPLES / "http_like.pcap")])
    assert r.exit_code == 0, r.output
    assert "Client completes the three-way handshake" in r.stdout


@pytest.mark.parametrize("fmt", ["markdown", "table"])
def test_report_gives_an_example_sentence_per_label(fmt):
    r = runner.invoke(app, ["report", str(SAMPLES / "bulk_loss.pcap"), "-f", fmt])
    assert r.exit_code == 0, r.output
    assert "frame 25: First duplicate ACK for relative 13033" in r.stdout
    # the retransmission example is a plain one: the fast one is the fast_retransmission example
    assert "frame 40: Retransmission of relative seq 15929: loss recovery" in r.stdout
    assert "frame 38: Fast retransmission" in r.stdout


@pytest.mark.parametrize("capture", ["bulk_loss.pcap", "lab_upload.pcapng", "dumpcap.pcapng"])
def test_retransmission_causes_agree_with_check(capture):
    """The sentence and pcapan check name the same cause for every retransmission."""
    from pcap_analyzer import analyze
    from pcap_analyzer.check import check

    a = analyze(SAMPLES / capture)
    explain_by_frame = a.packets.set_index("frame")["explain"]
    words = {"fast": "Fast retransmission", "recovery": "loss recovery, the receiver's ACK in frame",
             "timeout": "(timeout", "spurious": "Spurious retransmission", "duplicate": "captured twice",
             "resent": "first copy was not captured", "early": "sooner than one round trip"}
    table = check(a).retransmissions
    assert len(table)
    for row in table.itertuples():
        assert words[row.cause] in explain_by_frame[row.frame], (row.frame, row.cause)
