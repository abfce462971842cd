"""Reading: formats, byte orders, timestamp resolutions, interfaces, gzip, link types."""
from __future__ import annotations

import pytest

from conftest import SAMPLES
from pcap_analyzer import analyze
from pcap_analyzer.capture import CaptureInfo, read_frames

C = SAMPLES / "crafted"


def frames(name):
    info = CaptureInfo(path=str(C / name))
    return list(read_frames(C / name, info)), info


def test_nanosecond_timestamps_are_exact():
    fr, info = frames("nanosecond.pcap")
    assert info.file_format == "pcap-ns"
    assert any(f.ts_ns % 1000 for f in fr)          # sub-microsecond digits survive
    a = analyze(C / "nanosecond.pcap")
    assert (a.packets["time"].astype("int64") == [f.ts_ns for f in fr]).all()


@pytest.mark.parametrize("big,little", [("big_endian.pcap", "eth_vlan.pcap")])
def test_both_byte_orders(big, little):
    fr, info = frames(big)
    assert info.file_format == "pcap" and fr and info.linktypes[0] == 1
    a = analyze(C / big)
    assert (a.packets["proto"] == "tcp").any()


def test_big_endian_nanosecond():
    fr, info = frames("big_endian_nano.pcap")
    assert info.file_format == "pcap-ns" and fr


def test_pcapng_with_two_link_types_and_a_comment():
    fr, info = frames("multi_if.pcapng")
    assert info.file_format == "pcapng"
    assert sorted(set(info.linktypes.values())) == [1, 101]
    assert {f.iface for f in fr} == {0, 1}
    p = analyze(C / "multi_if.pcapng").packets
    assert p["comment"].notna().sum() == 1
    assert set(p["linktype"].astype(str)) == {"ethernet", "raw"}


@pytest.mark.parametrize("name", ["gzip_pcap.pcap.gz", "gzipped_noext.pcap"])
def test_gzip_detected_by_content(name):
    fr, info = frames(name)
    assert info.compressed and fr


@pytest.mark.parametrize("name,linktype", [
    ("sll_v1.pcap", "linux_sll"), ("sll_v2.pcap", "linux_sll2"), ("null_loopback.pcap", "null"),
    ("loop.pcap", "loop"), ("raw_ipv4.pcap", "ipv4"), ("raw_ipv6.pcap", "ipv6"),
    ("raw_ip_mixed.pcap", "raw"), ("eth_qinq.pcap", "ethernet"),
])
def test_link_types_reach_tcp(name, linktype):
    p = analyze(C / name).packets
    assert set(p["linktype"].astype(str)) == {linktype}
    assert (p["proto"] == "tcp").any()
    assert p.loc[p["proto"] == "tcp", "stream"].notna().all()


def test_unknown_link_type_keeps_every_frame():
    fr, _ = frames("unknown_linktype.pcap")
    p = analyze(C / "unknown_linktype.pcap").packets
    assert len(p) == len(fr) > 0
    assert set(p["proto"].astype(str)) == {"other"}


def test_ip_options_extension_headers_and_fragments():
    p = analyze(C / "ipv4_options.pcap").packets
    assert (p["proto"] == "tcp").all()
    p = analyze(C / "ipv6_ext.pcap").packets
    assert (p["proto"] == "tcp").any()
    p = analyze(C / "ip_fragments.pcap").packets
    pieces = p["fragment"].astype(str)
    assert (p.loc[pieces == "first", "proto"] == "ipv4").all()
    assert (p.loc[pieces == "reassembled", "proto"].isin(["tcp", "udp"])).all()
    assert (p.loc[pieces.isin(["first", "non_first"]), "l4_checksum"].astype(str) == "unverified").all()
