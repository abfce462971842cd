"""Each kind of sentence the explain column writes, pinned word for word on a crafted or recorded
capture whose answer is known (the crafted captures' descriptions in sample_captures/README.md say
what each frame is; tshark's recorded labels say which frames Wireshark calls what)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLES
from pcap_analyzer import analyze, tshark
from pcap_analyzer.check import check
from pcap_analyzer.cli import app
from pcap_analyzer.explain import _CAUSES, resend_cause
from pcap_analyzer.vocabulary import DUPLICATE_WITHIN_S

ORACLE = ROOT / "tests" / "oracle" / "tshark-4.0"
CAUSES = SAMPLES / "crafted" / "resend_causes.pcap"
CLOSING = SAMPLES / "crafted" / "closing.pcap"


def frames(path):
    # the sentences pinned here name the labels Wireshark 4.0 gives (ORACLE holds them)
    return analyze(path, wireshark="4.0").packets.set_index("frame")


def tshark_labels(path) -> dict[int, set[str]]:
    """Which tcp.analysis flags tshark 4.0 set on each frame (its recorded answer)."""
    name = str(path.relative_to(SAMPLES)).replace("/", "__") + ".tsv"
    fields = tshark.load_record(ORACLE / name).fields
    flags = [c for c in fields.columns if c.startswith("tcp.analysis.") and c.split(".")[-1] in (
        "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order", "lost_segment",
        "reused_ports")]
    return {int(row["frame.number"]): {c.split(".")[-1] for c in flags if str(row[c]) not in ("", "nan", "None")}
            for _, row in fields.iterrows()}


@pytest.fixture(scope="module")
def causes():
    return frames(CAUSES)


@pytest.fixture(scope="module")
def closing():
    return frames(CLOSING)


# --- resends: one cause, decided once --------------------------------------------------

def test_tshark_calls_every_crafted_resend_a_retransmission():
    """The crafted resends are what Wireshark labels retransmission, whatever their cause."""
    labels = tshark_labels(CAUSES)
    assert [f for f, s in labels.items() if "retransmission" in s] == [5, 12, 18, 25, 27, 33]
    assert labels[11] == {"lost_segment"}


def test_the_same_packet_captured_twice_is_no_resend(causes):
    assert causes.loc[5, "copy_frame"] == 4
    assert causes.loc[5, "since_copy_s"] == pytest.approx(20e-6, abs=1e-9)
    assert causes.loc[5, "since_copy_s"] <= DUPLICATE_WITHIN_S
    assert causes.loc[5, "explain"] == ("The same segment captured twice: relative seq 1 (100 bytes) again 20 µs "
                                        "after frame 4, too soon for TCP to resend it (the capture saw one "
                                        "packet twice)")


def test_a_gap_filled_without_a_captured_copy_claims_no_timeout(causes):
    assert np.isnan(causes.loc[12, "since_copy_s"]) and causes.loc[12, ["copy_frame", "asked_frame"]].isna().all()
    assert causes.loc[12, "explain"] == (
        "Segment at relative seq 101 (100 bytes) whose first copy was not captured (lost before the capture "
        "point, or captured elsewhere): Wireshark labels it a retransmission because it lies below the highest "
        "sequence number seen")


def test_a_resend_without_any_ack_is_a_timeout(causes):
    assert causes.loc[18, "explain"] == ("Retransmission of relative seq 1 after 300 ms without an ACK (timeout; "
                                         "earlier copy in frame 17)")
    assert causes.loc[25, "explain"] == ("Retransmission of relative seq 1 after 301 ms without an ACK (timeout; "
                                         "earlier copy in frame 23)")


def test_a_resend_after_a_partial_ack_is_loss_recovery(causes):
    # frame 26 acknowledges the first resent segment only; the second is resent 1 ms later
    assert causes.loc[27, "asked_frame"] == 26 and causes.loc[27, "copy_frame"] == 24
    assert causes.loc[27, "explain"] == ("Retransmission of relative seq 101, 306 ms after its earlier copy "
                                         "(frame 24): loss recovery, the receiver's ACK in frame 26 still asked "
                                         "for it")


def test_a_resend_sooner_than_a_round_trip_claims_no_cause(causes):
    assert pd.isna(causes.loc[33, "asked_frame"]) and causes.loc[33, "copy_frame"] == 32
    assert causes.loc[33, "explain"] == ("Retransmission of relative seq 1, 2 ms after its earlier copy (frame 32): "
                                         "sooner than one round trip, so neither an ACK nor a timeout asked for it")


def test_resend_cause_names_each_cause(causes):
    p = analyze(CAUSES).packets
    cause = dict(zip(p["frame"], resend_cause(p)))
    assert {f: cause[f] for f in (5, 12, 18, 25, 27, 33)} == {5: "duplicate", 12: "resent", 18: "timeout",
                                                              25: "timeout", 27: "recovery", 33: "early"}
    assert all(pd.isna(cause[f]) for f in (4, 11, 26))   # not resends: missing


def test_first_copies_lost_before_the_capture_point_on_a_real_capture():
    """bulk_loss.pcap was recorded behind the queue that dropped: the resends' first copies were never
    captured, so no sentence may say when they were first sent."""
    p = frames(SAMPLES / "bulk_loss.pcap")
    assert p.loc[60, "explain"].startswith("Retransmission of relative seq 37649: loss recovery, the receiver's ACK "
                                           "in frame 57 still asked for it; its first copy was not captured")
    assert p.loc[40, "explain"] == ("Retransmission of relative seq 15929: loss recovery, the receiver's ACK in "
                                    "frame 37 still asked for it; its first copy was not captured (lost before "
                                    "the capture point); only 128 of its 1514 bytes captured (snapshot length)")
    resent = p[p["labels"].astype(str).str.contains("retransmission")]
    assert resent["copy_frame"].isna().all()
    assert not resent["explain"].str.contains("first sent|timeout").any()


def test_syn_and_syn_ack_timeouts_count_from_the_previous_copy():
    syn = frames(SAMPLES / "crafted" / "syn_only.pcap")["explain"]
    # the client's timer doubles: 1, 2, 4 s between the copies
    assert [syn[f] for f in (2, 3, 4)] == [f"SYN sent again after {ms} ms (timeout: no SYN-ACK reached the client)"
                                           for ms in (1000, 2000, 4000)]
    half = frames(SAMPLES / "crafted" / "half_open.pcap")["explain"]
    assert half[3] == "SYN-ACK sent again after 1000 ms (timeout: no handshake ACK reached the server)"


@pytest.mark.parametrize("capture", ["bulk_loss.pcap", "lab_upload.pcapng", "dumpcap.pcapng", "zero_window.pcap",
                                     "crafted/resend_causes.pcap", "crafted/tcp_analysis.pcap"])
def test_check_reads_the_same_causes(capture):
    """pcapan check's retransmissions table takes its causes from resend_cause, frame by frame."""
    a = analyze(SAMPLES / capture)
    table = check(a).retransmissions
    cause = dict(zip(a.packets["frame"], resend_cause(a.packets)))
    assert len(table)
    assert all(cause[row.frame] == row.cause for row in table.itertuples())
    assert set(table["cause"]) <= set(_CAUSES)


def test_check_names_the_trigger_of_each_cause():
    table = check(analyze(CAUSES)).retransmissions.set_index("frame")
    assert table.loc[25, "trigger"] == "retransmission timeout: no ACK 0.301 s after the earlier copy (frame 23)"
    assert table.loc[27, "trigger"] == ("loss recovery after the receiver's partial ACK (frame 26), which reports "
                                        "what is missing")
    # frame 380 resends bytes the receiver's SACK blocks report missing: Wireshark 4.0 does not read
    # SACK blocks (a plain resend), 4.4 and later call it a fast retransmission into a SACK hole
    table = check(analyze(SAMPLES / "bulk_loss.pcap", wireshark="4.0")).retransmissions.set_index("frame")
    assert table.loc[380, "cause"] == "resent"
    assert table.loc[380, "trigger"] == "sent before; no earlier copy waiting for an ACK was captured"
    table = check(analyze(SAMPLES / "bulk_loss.pcap", wireshark="4.6")).retransmissions.set_index("frame")
    assert table.loc[380, "cause"] == "fast"
    assert table.loc[380, "trigger"] == ("2 duplicate ACKs of relative 242193 (frames 376, 379, repeating ACK "
                                         "frame 371) whose SACK blocks leave it missing")


# --- closing and restarting --------------------------------------------------------------

def test_the_ack_of_a_fin_names_the_fin(closing):
    assert [closing.loc[f, "fin_frame"] for f in (9, 19, 20)] == [8, 18, 19]
    # tshark: the ACKs of frames 8 and 19 are frames 9 and 20
    fields = tshark.load_record(ORACLE / "crafted__closing.pcap.tsv").fields
    acks = dict(zip(fields["frame.number"].astype(int), fields["tcp.analysis.acks_frame"]))
    assert (acks[9], acks[20]) == ("8", "19")
    assert closing.loc[9, "explain"] == ("Client acknowledges the server's FIN (relative seq 301): ack relative 302: "
                                         "the server will send no more data")
    assert closing.loc[19, "explain"] == ("Client acknowledges the server's FIN and closes its side too: FIN at "
                                          "relative seq 54, ack relative 302")
    assert closing.loc[20, "explain"] == ("Server acknowledges the client's FIN (relative seq 54): ack relative 55: "
                                          "the client will send no more data")
    # an ACK of data stays one
    assert closing.loc[7, "explain"] == "Client acknowledges every byte before relative 301: it expects 301 next"


def test_a_reset_after_the_senders_own_fin_says_so(closing):
    assert closing.loc[10, "fin_frame"] == 8
    assert closing.loc[10, "explain"] == "Server closed its side with FIN (frame 8), then resets the connection: RST"
    assert closing.loc[21, "explain"] == "Client closed its side with FIN (frame 19), then resets the connection: RST"
    # a RST without a FIN of its sender is still an abort
    r = frames(SAMPLES / "reset.pcap")["explain"]
    assert r[16] == "Client aborts the connection: RST, without the orderly FIN exchange"


def test_a_syn_ack_with_a_new_isn_is_named_a_syn_ack(closing):
    assert tshark_labels(CLOSING)[25] == {"reused_ports", "lost_segment"}
    assert closing.loc[25, "explain"] == ("Server accepts a new connection on ports used before: SYN-ACK with its "
                                          "new ISN 9000000, ack relative 1 (the client's new ISN + 1)")
    # the SYN sent again, which the server had answered, found its earlier copy
    assert closing.loc[24, "copy_frame"] == 22
    assert closing.loc[24, "explain"] == "SYN sent again after 2 ms (timeout: no SYN-ACK reached the client)"


def test_sentences_through_the_packets_command():
    """The CSV written chunk by chunk says what analyze() says."""
    r = CliRunner().invoke(app, ["packets", str(CLOSING), "-f", "csv"])
    assert r.exit_code == 0, r.output
    assert "Server closed its side with FIN (frame 8), then resets the connection" in r.stdout
    r = CliRunner().invoke(app, ["packets", str(CAUSES), "-f", "csv"])
    assert r.exit_code == 0, r.output
    assert "The same segment captured twice: relative seq 1 (100 bytes) again 20 µs after frame 4" in r.stdout


# --- ICMP ------------------------------------------------------------------------------------

ICMP = SAMPLES / "crafted" / "icmp_errors.pcap"


def test_icmp_messages_name_their_type_code_and_quoted_packet():
    s = frames(ICMP)["explain"]
    assert s[2] == ("ICMP destination unreachable (port unreachable) about a UDP datagram from port 50000 to port "
                    "30000 (UDP stream 0): nothing listens on that port")
    assert s[4] == ("ICMP time exceeded (TTL exceeded in transit) about a TCP segment from port 40000 to port 80 "
                    "(TCP stream 0): the packet's TTL ran out on the way (traceroute, or a routing loop)")
    # 8 bytes of TCP are too few to file under a stream: the type and code are still named
    assert s[6] == ("ICMP destination unreachable (fragmentation needed but DF set): the packet is too big for a "
                    "link on the way and may not be fragmented (path MTU discovery)")
    assert s[8] == ("ICMPv6 destination unreachable (port unreachable) about a UDP datagram from port 50001 to port "
                    "30000 (UDP stream 1): nothing listens on that port")
    assert (s[9], s[10]) == ("ICMP echo request: a ping", "ICMP echo reply: the answer to a ping")


def test_icmp_columns_agree_with_tshark():
    import shutil
    import subprocess

    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    fields = ["frame.number", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code", "tcp.stream", "udp.stream",
              "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"]
    out = subprocess.run(["tshark", "-n", "-r", str(ICMP), "-T", "fields", "-E", "occurrence=f",
                          *[a for f in fields for a in ("-e", f)]], capture_output=True, text=True, check=True)
    p = frames(ICMP)
    checked = 0
    for line in out.stdout.splitlines():
        row = dict(zip(fields, line.split("\t")))
        frame = int(row["frame.number"])
        kind = row["icmp.type"] or row["icmpv6.type"]
        if not kind:
            continue
        assert p.loc[frame, "icmp_type"] == int(kind)
        assert p.loc[frame, "icmp_code"] == int(row["icmp.code"] or row["icmpv6.code"])
        proto = "tcp" if row["tcp.stream"] else "udp" if row["udp.stream"] else None
        if proto is None:
            assert pd.isna(p.loc[frame, "quoted_stream"])
            continue
        assert p.loc[frame, "quoted_proto"] == proto
        assert p.loc[frame, "quoted_stream"] == int(row[f"{proto}.stream"])
        assert (p.loc[frame, "quoted_sport"], p.loc[frame, "quoted_dport"]) == (
            int(row[f"{proto}.srcport"]), int(row[f"{proto}.dstport"]))
        checked += 1
    assert checked == 3


# --- the rest: every other kind of sentence, pinned once ------------------------------------

def test_frames_the_analysis_says_little_about():
    s = frames(SAMPLES / "crafted" / "odd_frames.pcap")["explain"]
    assert s[1] == "Client sends an empty segment without the ACK flag"
    assert s[2] == "IPv4 packet carrying a protocol pcapan does not analyse"
    assert s[3] == "IPv6 packet carrying a protocol pcapan does not analyse"
    assert s[4] == ("TCP segment whose header is incomplete: not analysed; only 46 of its 54 bytes captured "
                    "(snapshot length)")
    # the type is captured but not the code: no name is guessed
    assert s[5] == ("ICMP: a control or error message of the IP layer (ping, unreachable, time exceeded); only 35 "
                    "of its 46 bytes captured (snapshot length)")


@pytest.mark.parametrize("capture, frame, sentence", [
    ("bulk_loss.pcap", 2362, "Client sends its last 1320 bytes with FIN: relative seq 1498681 to 1500001, then "
                             "nothing more; only 128 of its 1386 bytes captured (snapshot length)"),
    ("bulk_loss.pcap", 446, "Duplicate ACK number 11 for relative 242193: the receiver is asking for that segment "
                            "again"),
    ("crafted/checksum_pairs.pcap", 4, "Server sends a UDP datagram of 60 bytes to port 51000 (no handshake, no "
                                       "ACKs); UDP checksum wrong (or missing over IPv6): the receiver would drop it"),
    ("crafted/ip_fragments.pcap", 4, "IP fragment: one piece of a larger datagram; the frame that completes it "
                                     "carries the TCP/UDP header"),
    ("crafted/macsec.pcap", 13, "Frame without an IP packet that pcapan can read"),
    ("lab_tso.pcapng", 35, "Client's data fills the server's advertised window: it must wait for an ACK before "
                           "sending more; checksum not filled in: captured before the network card computed it "
                           "(offload)"),
])
def test_other_sentence_kinds(capture, frame, sentence):
    assert frames(SAMPLES / capture).loc[frame, "explain"] == sentence
