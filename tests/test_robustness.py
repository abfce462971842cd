"""Hostile input: damaged files give clean messages or labelled partial results."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from builder import ACK, FIN, PSH, Conversation
from conftest import SAMPLES
from pcap_analyzer import CaptureError, analyze
from pcap_analyzer.cli import app
from pcap_analyzer import columns
from pcap_analyzer.capture._decode import decode_bytes

runner = CliRunner()
BROKEN = SAMPLES / "broken"


def conversation_bytes(tmp_path) -> bytes:
    c = Conversation()
    c.handshake()
    for i in range(5):
        c.c(PSH | ACK, 1 + 100 * i, 1, 100)
        c.s(ACK, 1, 101 + 100 * i)
    c.c(FIN | ACK, 501, 1)
    c.s(FIN | ACK, 1, 502)
    return open(c.write(tmp_path / "good.pcap"), "rb").read()


def test_every_truncation_of_the_first_records(tmp_path):
    data = conversation_bytes(tmp_path)
    boundaries = [24]
    while boundaries[-1] < len(data):
        caplen = int.from_bytes(data[boundaries[-1] + 8: boundaries[-1] + 12], "little")
        boundaries.append(boundaries[-1] + 16 + caplen)
    for cut in range(0, 400):
        f = tmp_path / "cut.pcap"
        f.write_bytes(data[:cut])
        try:
            a = analyze(f)
        except CaptureError as exc:
            assert cut < 24, f"cut at {cut}: {exc}"
            continue
        whole = sum(1 for b in boundaries[1:] if b <= cut)
        assert len(a.packets) == whole, cut
        if cut in boundaries:
            assert not a.info.warnings
        else:
            assert a.info.warnings == [a.info.warnings[0]]
            assert f"capture truncated after frame {whole}" in a.info.warnings[0]


def test_random_byte_flips_never_crash(tmp_path):
    data = bytearray(conversation_bytes(tmp_path))
    rng = random.Random(1234)
    for i in range(300):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(24, len(buf))
            buf[pos] = rng.randrange(256)
        f = tmp_path / "flip.pcap"
        f.write_bytes(bytes(buf))
        try:
            analyze(f)
        except CaptureError:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linktype=st.sampled_from([0, 1, 101, 108, 113, 127, 228, 229, 239, 276, 9, 10, 147]),
       data=st.binary(max_size=200))
def test_decoder_takes_any_bytes(linktype, data):
    row, addresses = decode_bytes(linktype, data, len(data))
    assert set(row) == set(columns.FRAME)
    assert all(-1 <= row[name] < len(addresses) for name in ("src", "dst", "other_src", "other_dst"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300), magic=st.sampled_from([
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b", b"junk"]))
def test_reader_takes_any_bytes(tmp_path, body, magic):
    f = tmp_path / "fuzz.pcap"
    f.write_bytes(magic + body)
    try:
        a = analyze(f)
    except CaptureError as exc:
        assert "\n" not in str(exc)
        return
    assert len(a.packets) == a.info.frames


EXPECTED = {
    "empty.pcap": (2, "empty file"),
    "not_a_capture.pcap": (2, "not a pcap or pcapng file"),
    "header_only.pcap": (0, None),
    "truncated_last_record.pcap": (0, "capture truncated after frame"),
    "truncated_record_header.pcap": (0, "capture truncated after frame"),
    "absurd_caplen.pcap": (0, "record claims"),
    "pcapng_bad_block_len.pcapng": (0, "block lengths disagree"),
    "pcapng_unknown_block.pcapng": (0, None),
    "gzip_corrupt.pcap.gz": (0, "compressed data is corrupt after"),
    "gzip_truncated.pcap.gz": (0, "compressed data ends early"),
    "pcapng_bad_interface.pcapng": (0, "names interface 9999"),
}


@pytest.mark.skipif(not BROKEN.is_dir(), reason="broken captures not generated")
@pytest.mark.parametrize("name,code,message", [(k, *v) for k, v in EXPECTED.items()])
def test_broken_files_messages_and_exit_codes(name, code, message):
    r = runner.invoke(app, ["report", str(BROKEN / name), "--format", "csv"])
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    if message:
        assert message in r.output


@pytest.mark.skipif(not BROKEN.is_dir(), reason="broken captures not generated")
def test_unknown_pcapng_block_is_skipped():
    a = analyze(BROKEN / "pcapng_unknown_block.pcapng")
    assert len(a.packets) == 4 and not a.info.warnings


@pytest.mark.skipif(not BROKEN.is_dir(), reason="broken captures not generated")
def test_malformed_headers_are_labelled_rows():
    p = analyze(BROKEN / "bad_ihl.pcap").packets
    assert p["malformed"].astype(str).tolist()[1] == "ip"
    p = analyze(BROKEN / "bad_tcp_offset.pcap").packets
    assert p["malformed"].astype(str).tolist()[1:3] == ["tcp", "tcp"]
    assert all("malformed" in str(x) for x in p["labels"].iloc[1:3])
    p = analyze(BROKEN / "vlan_stack.pcap").packets
    assert len(p) == 2
