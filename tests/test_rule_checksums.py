"""Checksum verdicts: crafted good/bad pairs, and a real transmit-offload capture."""
from __future__ import annotations

import dpkt
import pytest

from conftest import SAMPLES
from pcap_analyzer import analyze

CRAFTED = SAMPLES / "crafted"


def verdicts(path):
    p = analyze(path).packets
    return p["ip_checksum"].astype(str).tolist(), p["l4_checksum"].astype(str).tolist(), p


def test_good_bad_pairs():
    ip, l4, p = verdicts(CRAFTED / "checksum_pairs.pcap")
    # odd frames good, even frames bad (frame 14: the IPv4 header checksum is the bad one)
    for frame in range(1, 14):
        want = "good" if frame % 2 else "bad"
        assert l4[frame - 1] == want, (frame, p.iloc[frame - 1].to_dict())
    assert ip[13] == "bad" and l4[13] == "good"
    labels = p["labels"].astype("string").fillna("").tolist()
    assert labels[1] == "bad_tcp_checksum" and labels[3] == "bad_udp_checksum" and labels[13] == "bad_ip_checksum"


def test_udp_zero_checksum():
    ip, l4, p = verdicts(CRAFTED / "udp_zero_checksum.pcap")
    v4 = p["ip_version"] == 4
    udp = p["proto"] == "udp"
    assert p.loc[udp & v4, "l4_checksum"].isna().all()                     # 0 over IPv4: no checksum
    assert l4[2:4] == ["bad", "bad"] and l4[4:6] == ["good", "good"]       # 0 over IPv6: invalid
    assert p["labels"].iloc[2] == "bad_udp_checksum"


def test_snaplen_cut_packets_are_unverified():
    _ip, l4, p = verdicts(CRAFTED / "snaplen_truncated.pcap")
    data = p["payload_len"].fillna(0) > 0
    assert set(p.loc[data, "l4_checksum"].astype(str)) == {"unverified"}


@pytest.fixture()
def offload_capture():
    path = SAMPLES / "offload.pcap"
    if not path.exists():
        pytest.skip("offload.pcap not recorded")
    return path


def test_offload_is_not_called_bad(offload_capture):
    p = analyze(offload_capture).packets
    l4 = p["l4_checksum"].astype(str)
    assert (l4 == "offloaded").sum() >= 4
    assert (l4 == "bad").sum() == 0
    senders = set(p.loc[l4 == "offloaded", "src"])
    assert len(senders) == 1
    assert (p.loc[p["src"].isin(senders) & p["proto"].isin(["tcp", "udp"]), "l4_checksum"].astype(str)
            == "offloaded").all()


def test_corrupted_packet_in_offload_capture_is_still_bad(offload_capture, tmp_path):
    """Flip one payload bit of a packet the capturing host received: that one is bad."""
    r = dpkt.pcap.Reader(open(offload_capture, "rb"))
    frames = list(r)
    p = analyze(offload_capture).packets
    target = p[(p["l4_checksum"].astype(str) == "good") & (p["payload_len"].fillna(0) > 0)]["frame"].iloc[0]
    ts, buf = frames[target - 1]
    buf = bytearray(buf)
    buf[-1] ^= 0x01
    frames[target - 1] = (ts, bytes(buf))
    out = tmp_path / "corrupted.pcap"
    with open(out, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=r.datalink())
        for ts, b in frames:
            w.writepkt(b, ts=ts)
    q = analyze(out).packets
    l4 = q["l4_checksum"].astype(str)
    assert l4.iloc[target - 1] == "bad"
    assert (l4 == "bad").sum() == 1
    assert (l4 == "offloaded").sum() == (p["l4_checksum"].astype(str) == "offloaded").sum()
