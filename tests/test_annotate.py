"""pcapan annotate: a pcapng copy of the capture with pcapan's comment on every packet, and
everything else the capture held kept as it was."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from builder import (ACK, FIN, PSH, Conversation, custom_block, custom_option, dsb, epb, idb, isb, nrb, obsolete_pb,
                     shb, spb)
from conftest import SAMPLES, needs_tshark
from pcap_analyzer import analyze
from pcap_analyzer.annotate import AnnotateError, annotate, comments, is_pcapan_comment
from pcap_analyzer.capture import CaptureInfo, read_frames
from pcap_analyzer.cli import app

runner = CliRunner()

CAPTURES = ["http_like.pcap", "crafted/multi_if.pcapng", "crafted/nanosecond.pcap", "cooked_v2.pcap",
            "bulk_loss.pcap", "crafted/big_endian_nano.pcap", "crafted/snaplen_truncated.pcap",
            "crafted/gzip_pcap.pcap.gz", "dumpcap.pcapng", "crafted/pcapng_two_sections.pcapng",
            "crafted/pcapng_big_endian.pcapng", "crafted/pcapng_epb_options.pcapng",
            "crafted/pcapng_obsolete_packets.pcapng", "crafted/pcapng_year3000.pcapng",
            "crafted/pcapng_simple_packets.pcapng", "crafted/pcapng_shb_idb_options.pcapng",
            "crafted/pcapng_tsresol.pcapng", "crafted/pcapng_tsresol_1s.pcapng", "crafted/pcapng_tsoffset_huge.pcapng",
            "crafted/pcapng_big_shb.pcapng"]

SHB_TYPE, IDB_TYPE, PB_TYPE, SPB_TYPE, EPB_TYPE = 0x0A0D0D0A, 1, 2, 3, 6
NRB_TYPE, ISB_TYPE, DSB_TYPE, CUSTOM, CUSTOM_NOT_COPIABLE = 4, 5, 10, 0x00000BAD, 0x40000BAD
COMMENT, FLAGS, HASH, DROPCOUNT, PACKET_ID, QUEUE, VERDICT = 1, 2, 3, 4, 5, 6, 7
NOT_COPIABLE = {2989, 19373}
PEN = 32473                                 # the enterprise number set aside for examples
OURS = b"pcapan | "


# -- a minimal pcapng reader of our own, so that the checks do not trust the code they check --

def parse_blocks(data: bytes) -> list[tuple[int, str, bytes]]:
    """(type, byte order, whole block) of every block."""
    out, pos, order = [], 0, "<"
    while pos < len(data):
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, length = struct.unpack_from(order + "II", data, pos)
        block = data[pos:pos + length]
        assert len(block) == length and struct.unpack_from(order + "I", block, length - 4)[0] == length
        out.append((btype, order, block))
        pos += length
    return out


def parse_options(area: bytes, order: str) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 4 <= len(area):
        code, length = struct.unpack_from(order + "HH", area, pos)
        if code == 0:
            assert area[pos + 4:].strip(b"\x00") == b""      # nothing after opt_endofopt
            break
        out.append((code, area[pos + 4:pos + 4 + length]))
        pos += 4 + length + (-length % 4)
    return out


def parse_packet(btype: int, order: str, block: bytes) -> dict:
    """The fields of a packet block; a simple one's time and interface as 0 (it has neither)."""
    if btype == SPB_TYPE:
        (original,) = struct.unpack_from(order + "I", block, 8)
        return dict(iface=0, ts=(0, 0), captured=original, original=original, data=block[12:12 + original],
                    options=[], drops=None)
    if btype == EPB_TYPE:
        iface, high, low, captured, original = struct.unpack_from(order + "5I", block, 8)
        drops = None
    else:
        iface, drops, high, low, captured, original = struct.unpack_from(order + "HH4I", block, 8)
    return dict(iface=iface, ts=(high, low), captured=captured, original=original, data=block[28:28 + captured],
                options=parse_options(block[28 + captured + (-captured % 4):-4], order), drops=drops)


def read_back(path) -> list[tuple[int, str, bytes]]:
    data = open(path, "rb").read()
    return parse_blocks(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


# -- the capture with everything pcapng can hold around its packets --

def conversation() -> Conversation:
    c = Conversation()
    c.handshake()
    c.c(PSH | ACK, 1, 1, data=b"GET / HTTP/1.1\r\n\r\n")
    c.s(ACK, 1, 19)
    c.s(PSH | ACK, 1, 19, data=600)
    c.s(PSH | ACK, 1, 19, data=600, after=0.3)        # resent
    c.c(ACK, 19, 601)
    c.c(FIN | ACK, 19, 601)
    c.s(FIN | ACK, 601, 20)
    c.c(ACK, 20, 602)
    return c


def ns(t: float) -> int:
    return round(t * 1_000_000_000)


def full_capture(path) -> str:
    """Two sections: the first little-endian, with every kind of block and option around an
    Ethernet TCP conversation; the second big-endian, with one raw-IP interface of its own."""
    frames = conversation().frames
    f = [b for _, b in frames]
    t = [ns(ts) for ts, _ in frames]
    blocks = [
        shb([(COMMENT, "lab 3 — Ünïcode capture"), (COMMENT, "second section comment"),
             (2, "x86_64 lab PC"), (3, "Linux 6.1"), (4, "dumpcap (Wireshark) 4.0.17"),
             custom_option(PEN, b"keep this", text=True), custom_option(PEN, b"not this", copiable=False)]),
        idb(1, 262144, [(2, "eth0"), (3, "lab uplink"), (9, b"\x09"), (11, b"\x00tcp port 80"),
                        (12, "Linux 6.1"), (14, struct.pack("<q", 0)), (COMMENT, "the student's laptop"),
                        custom_option(PEN, b"\x01\x02", text=False)]),
        idb(1, 65535, [(2, "eth1"), custom_option(PEN, b"gone", copiable=False, text=True)]),
        nrb([(1, bytes([10, 0, 0, 2]) + b"server.lab\x00")], [(COMMENT, "names")]),
        dsb(0x544C534B, b"CLIENT_RANDOM 00 11\n"),
        epb(0, t[0], f[0], [(COMMENT, "pcapan rocks")]),                       # a student's, not ours
        epb(0, t[1], f[1], [(FLAGS, struct.pack("<I", 1)), (HASH, b"\x02" + bytes(range(4))),
                            (DROPCOUNT, struct.pack("<Q", 7)), (PACKET_ID, struct.pack("<Q", 0xABCDEF)),
                            (QUEUE, struct.pack("<I", 3)), (VERDICT, b"\x00\x01\x02"),
                            custom_option(PEN, b"text", text=True), custom_option(PEN, b"bin"),
                            custom_option(PEN, b"drop", copiable=False)]),
        obsolete_pb(0, t[2], f[2], drops=3, opts=[(COMMENT, "handshake done"), (FLAGS, struct.pack("<I", 2))]),
        custom_block(PEN, b"copy me"),
        epb(0, t[3], f[3], [(COMMENT, "first"), (COMMENT, "second"), (FLAGS, struct.pack("<I", 2))]),
        custom_block(PEN, b"do not copy me", copiable=False),
        spb(f[4]),
        epb(0, t[5], f[5], [(COMMENT, b"caf\xe9 \xff\x00 bytes"), (COMMENT, "pcapan | an old reading")]),
        epb(1, t[6] // 1000, f[6], [(FLAGS, struct.pack("<I", 1))]),         # eth1: microseconds
        epb(0, t[7], f[7]),
        epb(0, t[8], f[8]),
        epb(0, t[9], f[9]),
        isb(0, t[9], [(COMMENT, "statistics"), (4, struct.pack("<Q", 10)), (5, struct.pack("<Q", 0))]),
    ]
    second = Conversation(client=("10.0.1.1", 41000), server=("10.0.1.2", 22), t=1_700_000_100.0)
    second.handshake()
    blocks += [
        shb([(COMMENT, "second section"), (2, "router")], order=">"),
        idb(101, 9000, [(2, "tun9"), (14, struct.pack(">q", 100))], order=">"),
        *[epb(0, ns(ts - 100) // 1000, frame[14:], [(COMMENT, f"section two, frame {i}")], order=">")
          for i, (ts, frame) in enumerate(second.frames)],
    ]
    with open(path, "wb") as out:
        out.write(b"".join(blocks))
    return str(path)


def run_annotate(capture, out):
    r = runner.invoke(app, ["annotate", str(capture), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return r


def frames(path) -> list[tuple]:
    """Everything the reader gives of each frame but its comments, the bytes as a hash."""
    return [(f.ts_ns, f.wire_len, f.linktype, f.iface, len(f.data), hashlib.sha256(f.data).hexdigest())
            for f in read_frames(path)]


# -- everything kept --

@pytest.fixture
def full(tmp_path):
    capture = full_capture(tmp_path / "full.pcapng")
    out = tmp_path / "annotated.pcapng"
    run_annotate(capture, out)
    return capture, out


def test_the_crafted_capture_reads_as_built(full):
    capture, _ = full
    info = CaptureInfo(path=capture)
    assert len(list(read_frames(capture, info))) == 13 and not info.warnings
    assert len(info.sections) == 2 and len(info.interfaces) == 3


def test_every_block_is_kept_in_place(full):
    capture, out = full
    before, after = read_back(capture), read_back(out)
    # packet blocks of every kind become enhanced ones; the custom block not to be copied is left out
    expected = [EPB_TYPE if t in (PB_TYPE, SPB_TYPE) else t for t, _, _ in before if t != CUSTOM_NOT_COPIABLE]
    assert [t for t, _, _ in after] == expected
    kept = [(t, o, b) for t, o, b in before if t != CUSTOM_NOT_COPIABLE]
    for (t, order, old), (_, order_after, new) in zip(kept, after):
        assert order_after == order
        if t in (NRB_TYPE, DSB_TYPE, ISB_TYPE, CUSTOM):
            assert new == old
    # the sections' byte orders: the second section is big-endian, as it was
    assert [o for t, o, _ in after if t == SHB_TYPE] == ["<", ">"]


def test_section_headers_and_interfaces_keep_their_options(full):
    capture, out = full
    before = [(t, o, b) for t, o, b in read_back(capture) if t in (SHB_TYPE, IDB_TYPE)]
    after = [(t, o, b) for t, o, b in read_back(out) if t in (SHB_TYPE, IDB_TYPE)]
    assert len(before) == len(after) == 5
    for (t, order, old), (_, _, new) in zip(before, after):
        at = 24 if t == SHB_TYPE else 16
        old_options = [(c, v) for c, v in parse_options(old[at:-4], order) if c not in NOT_COPIABLE]
        assert parse_options(new[at:-4], order) == old_options
        if t == SHB_TYPE:
            assert new[8:16] == old[8:16]                                # byte-order magic, version
            assert struct.unpack_from(order + "q", new, 16)[0] == -1     # the section's length: not given
        else:
            assert new[8:16] == old[8:16]                                # link type, snapshot length
    shb0 = dict(parse_options(after[0][2][24:-4], "<"))
    assert shb0[2] == b"x86_64 lab PC" and shb0[3] == b"Linux 6.1" and shb0[4] == b"dumpcap (Wireshark) 4.0.17"
    idbs = [b for t, _, b in read_back(out) if t == IDB_TYPE]
    assert idbs[0] == [b for t, _, b in read_back(capture) if t == IDB_TYPE][0]   # byte for byte
    assert dict(parse_options(idbs[0][16:-4], "<"))[9] == b"\x09"
    assert parse_options(idbs[1][16:-4], "<") == [(2, b"eth1")]           # its uncopiable option left out


def test_every_packet_keeps_its_fields_and_options_and_gets_one_comment_of_ours(full):
    capture, out = full
    before = [parse_packet(t, o, b) for t, o, b in read_back(capture) if t in (PB_TYPE, SPB_TYPE, EPB_TYPE)]
    after_blocks = [(t, o, b) for t, o, b in read_back(out) if t in (PB_TYPE, SPB_TYPE, EPB_TYPE)]
    assert {t for t, _, _ in after_blocks} == {EPB_TYPE}
    after = [parse_packet(t, o, b) for t, o, b in after_blocks]
    notes = comments(analyze(capture).packets).tolist()
    assert len(before) == len(after) == len(notes) == 13
    for old, new, note in zip(before, after, notes):
        for key in ("iface", "ts", "captured", "original", "data"):
            assert new[key] == old[key], key
        options = [(c, v) for c, v in old["options"]
                   if c not in NOT_COPIABLE and not (c == COMMENT and v.startswith(OURS))]
        if old["drops"] is not None:                   # the obsolete block's drop count, as an option
            options.insert(0, (DROPCOUNT, struct.pack("<Q", old["drops"])))
        assert new["options"] == options + [(COMMENT, note.encode())]
    # what the student wrote stays as it was, whatever it holds
    assert (COMMENT, b"pcapan rocks") in after[0]["options"]
    assert after[2]["options"][:3] == [(DROPCOUNT, struct.pack("<Q", 3)), (COMMENT, b"handshake done"),
                                       (FLAGS, struct.pack("<I", 2))]
    assert [v for c, v in after[3]["options"] if c == COMMENT][:2] == [b"first", b"second"]
    assert after[5]["options"][0] == (COMMENT, b"caf\xe9 \xff\x00 bytes")
    assert [v for c, v in after[5]["options"] if c == COMMENT and v.startswith(b"pcapan")] == [notes[5].encode()]


def test_annotating_twice_gives_the_same_file(full, tmp_path):
    _, out = full
    again = tmp_path / "again.pcapng"
    run_annotate(out, again)
    assert again.read_bytes() == out.read_bytes()
    for t, order, block in read_back(again):
        if t == EPB_TYPE:
            ours = [v for c, v in parse_packet(t, order, block)["options"] if c == COMMENT and v.startswith(OURS)]
            assert len(ours) == 1


@pytest.mark.parametrize("name", CAPTURES)
def test_frames_bytes_and_times_are_kept(tmp_path, name):
    out = tmp_path / "annotated.pcapng"
    run_annotate(SAMPLES / name, out)
    info = CaptureInfo(path=str(out))
    assert frames(out) == frames(SAMPLES / name)
    list(read_frames(out, info))
    assert info.file_format == "pcapng"
    assert not [w for w in info.warnings if "outside the years" not in w]      # the year-3000 capture's


def test_the_pcapan_comment_is_recognised():
    assert is_pcapan_comment(b"pcapan | tcp stream 0 | phase syn")
    assert is_pcapan_comment(b"pcapan")
    assert not is_pcapan_comment(b"pcapan rocks")
    assert not is_pcapan_comment(b"see the pcapan | notes")


def test_comment_text():
    a = analyze(SAMPLES / "bulk_loss.pcap")
    c = comments(a.packets)
    frame = dict(zip(a.packets["frame"], c))
    assert frame[1].startswith("pcapan | ARP: ")
    assert frame[3] == ("pcapan | tcp stream 0 | phase syn | rel_seq 0 rel_ack 0 | "
                        + a.packets["explain"].iloc[2])
    assert frame[29].startswith("pcapan | tcp stream 0 | phase ack | rel_seq 1 rel_ack 13033 | "
                                "labels duplicate_ack | Third duplicate ACK for relative 13033")
    assert c.notna().all()


# -- classic pcap in, pcapng out --

def pcap_interface(out) -> tuple[int, str, int, int, list]:
    """(number of sections, byte order, link type, snapshot length, options) of a pcap's annotated copy."""
    blocks = read_back(out)
    (section,) = [b for t, _, b in blocks if t == SHB_TYPE]
    (interface,) = [(o, b) for t, o, b in blocks if t == IDB_TYPE]
    order, block = interface
    linktype, _, snaplen = struct.unpack_from(order + "HHI", block, 8)
    return len([section]), order, linktype, snaplen, parse_options(block[16:-4], order)


def pcap_header(path) -> tuple[int, int, bool]:
    """(link type, snapshot length, nanoseconds) as a classic pcap file's header gives them."""
    data = open(path, "rb").read()
    head = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)[:24]
    magic = head[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    snaplen, linktype = struct.unpack_from(order + "II", head, 16)
    return linktype & 0x0FFFFFFF, snaplen, magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


@pytest.mark.parametrize("name, order, nano", [
    ("http_like.pcap", "<", False),
    ("crafted/big_endian.pcap", ">", False),
    ("crafted/nanosecond.pcap", "<", True),
    ("crafted/big_endian_nano.pcap", ">", True),
    ("crafted/snaplen_truncated.pcap", "<", False),
    ("crafted/gzip_pcap.pcap.gz", "<", False),
    ("cooked_v2.pcap", "<", False),
])
def test_pcap_becomes_one_interface_with_its_link_type_snaplen_and_resolution(tmp_path, name, order, nano):
    capture = SAMPLES / name
    linktype, snaplen, is_nano = pcap_header(capture)
    data = open(capture, "rb").read()
    assert is_nano == nano and (data[:2] == b"\x1f\x8b" or (data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"))
                                == (order == "<"))
    out = tmp_path / "a.pcapng"
    run_annotate(capture, out)
    sections, _, got_linktype, got_snaplen, options = pcap_interface(out)
    assert (sections, got_linktype, got_snaplen) == (1, linktype, snaplen)
    assert options == ([(9, b"\x09")] if nano else [])
    assert frames(out) == frames(capture)
    if name == "crafted/snaplen_truncated.pcap":
        assert snaplen == 64


def test_nanoseconds_are_kept(tmp_path):
    capture = SAMPLES / "crafted" / "nanosecond.pcap"
    out = tmp_path / "a.pcapng"
    run_annotate(capture, out)
    assert [f.ts_ns % 1000 for f in read_frames(out)][0] == 789   # x.000000789


def test_frames_cut_by_the_snapshot_length_keep_their_original_length(tmp_path):
    out = tmp_path / "a.pcapng"
    run_annotate(SAMPLES / "crafted" / "snaplen_truncated.pcap", out)
    assert any(w > c for _, w, _, _, c, _ in frames(out))


def test_zero_timestamp_stays_zero(tmp_path):
    pcap = tmp_path / "epoch.pcap"
    frame = bytes(14) + b"\x00" * 20
    pcap.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
    out = tmp_path / "a.pcapng"
    run_annotate(pcap, out)
    assert frames(out) == frames(pcap) and frames(out)[0][0] == 0


def test_library_call(tmp_path):
    a = analyze(SAMPLES / "http_like.pcap")
    assert annotate(a, tmp_path / "x.pcapng") == 38
    assert frames(tmp_path / "x.pcapng") == frames(SAMPLES / "http_like.pcap")


def test_a_gzip_pcapng_is_copied_block_by_block(tmp_path, full):
    capture, out = full
    packed = tmp_path / "full.pcapng.gz"
    packed.write_bytes(gzip.compress(open(capture, "rb").read()))
    out2 = tmp_path / "from_gzip.pcapng"
    run_annotate(packed, out2)
    assert out2.read_bytes() == out.read_bytes()


# -- damage and errors --

def test_a_capture_changed_after_its_analysis_is_an_error(tmp_path):
    capture = tmp_path / "c.pcapng"
    full_capture(capture)
    a = analyze(capture)
    data = capture.read_bytes()
    capture.write_bytes(data[:-200])          # cut inside the second section
    with pytest.raises(AnnotateError, match="changed while it was being read"):
        annotate(a, tmp_path / "out.pcapng")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pcapng"]


def test_a_packet_naming_an_undescribed_interface_is_copied(tmp_path):
    capture = tmp_path / "c.pcapng"
    c = Conversation()
    c.handshake()
    capture.write_bytes(shb() + idb(1) + b"".join(epb(i % 2 * 5, ns(ts), f) for i, (ts, f) in enumerate(c.frames)))
    out = tmp_path / "a.pcapng"
    r = run_annotate(capture, out)
    assert "interface 5" in r.output
    assert [parse_packet(t, o, b)["iface"] for t, o, b in read_back(out) if t == EPB_TYPE] == [0, 5, 0]


def test_damaged_capture_is_annotated_up_to_the_damage(tmp_path):
    capture = SAMPLES / "broken" / "truncated_last_record.pcap"
    out = tmp_path / "a.pcapng"
    r = run_annotate(capture, out)
    assert "capture truncated after frame 9" in r.output
    assert frames(out) == frames(capture)


def test_a_damaged_pcapng_is_copied_up_to_the_damage(tmp_path):
    capture = tmp_path / "c.pcapng"
    c = conversation()
    good = shb() + idb(1) + b"".join(epb(0, ns(ts), f) for ts, f in c.frames[:4])
    capture.write_bytes(good + struct.pack("<II", 6, 13) + bytes(40))      # a length no block can have
    out = tmp_path / "a.pcapng"
    r = run_annotate(capture, out)
    assert "capture damaged after frame 4" in r.output
    assert frames(out) == frames(capture) and len(frames(out)) == 4


def test_errors_are_one_line_and_exit_2(tmp_path):
    r = runner.invoke(app, ["annotate", str(SAMPLES / "broken" / "not_a_capture.pcap"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "not a pcap or pcapng file" in r.output
    assert not (tmp_path / "o").exists()
    copy = tmp_path / "c.pcap"
    copy.write_bytes((SAMPLES / "http_like.pcap").read_bytes())
    r = runner.invoke(app, ["annotate", str(copy), "-o", str(copy)])
    assert r.exit_code == 2 and "refusing to write over the input capture" in r.output
    assert copy.read_bytes() == (SAMPLES / "http_like.pcap").read_bytes()
    os.symlink(copy, tmp_path / "link.pcapng")
    r = runner.invoke(app, ["annotate", str(copy), "-o", str(tmp_path / "link.pcapng")])
    assert r.exit_code == 2 and "refusing to write over the input capture" in r.output
    assert copy.read_bytes() == (SAMPLES / "http_like.pcap").read_bytes()
    os.unlink(tmp_path / "link.pcapng")
    r = runner.invoke(app, ["annotate", str(copy), "-o", str(tmp_path)])
    assert r.exit_code == 2 and "is a directory" in r.output
    r = runner.invoke(app, ["annotate", str(copy), "-o", str(tmp_path / "missing" / "o.pcapng")])
    assert r.exit_code == 2 and "cannot write" in r.output
    assert [p.name for p in tmp_path.iterdir()] == ["c.pcap"]   # no temporary file left behind


def test_standard_input_is_refused_in_one_line(tmp_path):
    data = (SAMPLES / "http_like.pcap").read_bytes()
    r = subprocess.run([sys.executable, "-m", "pcap_analyzer", "annotate", "-", "-o", str(tmp_path / "o.pcapng")],
                       input=data, capture_output=True, check=False,
                       env={**os.environ, "PYTHONPATH": str(SAMPLES.parent)})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcapan: -: ") and "standard input" in lines[0]
    assert not (tmp_path / "o.pcapng").exists()


# -- what tshark shows --

def tshark_json(path, *fields) -> list[dict]:
    args = ["tshark", "-r", str(path), "-T", "json"]
    for f in fields:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, check=True)
    return [p["_source"]["layers"] for p in json.loads(r.stdout.decode("utf-8", "replace"))]


def tshark_fields(path, *fields) -> list[str]:
    args = ["tshark", "-r", str(path), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    return r.stdout.splitlines()


FRAME_FIELDS = ["frame.number", "frame.section_number", "frame.interface_id", "frame.interface_name",
                "frame.interface_description", "frame.packet_flags", "frame.packet_flags_direction",
                "frame.drop_count", "frame.packet_id", "frame.interface_queue", "frame.verdict",
                "frame.len", "frame.cap_len", "frame.protocols", "frame.time_epoch"]


@needs_tshark
def test_tshark_reads_every_comment_flag_and_interface_as_before(full):
    capture, out = full
    before = tshark_json(capture, "frame.comment", "frame.cb_copy", *FRAME_FIELDS)
    after = tshark_json(out, "frame.comment", "frame.cb_copy", *FRAME_FIELDS)
    # tshark shows each custom block as a record of its own: the copiable one stays, the other goes
    assert [r["frame.cb_copy"] for r in before if "frame.cb_copy" in r] == [["1"], ["0"]]
    assert [r["frame.cb_copy"] for r in after if "frame.cb_copy" in r] == [["1"]]
    before = [{k: v for k, v in r.items() if k != "frame.number"} for r in before if "frame.cb_copy" not in r]
    after = [{k: v for k, v in r.items() if k != "frame.number"} for r in after if "frame.cb_copy" not in r]
    notes = comments(analyze(capture).packets).tolist()
    assert len(before) == len(after) == 13
    for i, (old, new) in enumerate(zip(before, after)):
        old_comments = [c for c in old.pop("frame.comment", []) if not c.startswith("pcapan | ")]
        assert new.pop("frame.comment") == old_comments + [notes[i]]
        if i == 4:      # the simple packet block: no time before, time 0 as an enhanced block
            assert "frame.time_epoch" not in old and new.pop("frame.time_epoch") == ["0.000000000"]
        assert new == old
    assert after[1]["frame.packet_flags_direction"] == ["0x00000001"]
    assert after[3]["frame.packet_flags_direction"] == ["0x00000002"]
    assert after[2]["frame.drop_count"] == ["3"] and after[1]["frame.packet_id"] == [str(0xABCDEF)]
    assert before[0]["frame.interface_name"] == ["eth0"] and after[6]["frame.interface_name"] == ["eth1"]
    assert [f["frame.section_number"] for f in after[-3:]] == [["2"]] * 3


def capinfos(path) -> list[str]:
    r = subprocess.run(["capinfos", "-M", str(path)], capture_output=True, text=True, check=True)
    skip = ("File name", "File size", "Data byte rate", "Data bit rate", "SHA", "RIPEMD", "Strict time order",
            "Capture duration", "First packet", "Last packet", "Data size", "Average packet")
    return [line for line in r.stdout.splitlines() if not line.startswith(skip)]


@needs_tshark
def test_capinfos_shows_the_same_section_and_interfaces(full):
    capture, out = full
    shown = capinfos(out)
    assert shown == capinfos(capture)
    text = "\n".join(shown)
    for expected in ("x86_64 lab PC", "Linux 6.1", "dumpcap (Wireshark) 4.0.17", "lab 3 — Ünïcode capture",
                     "Name = eth0", "Description = lab uplink", "tcp port 80", "Time precision = nanoseconds"):
        assert expected in text, expected


@needs_tshark
@pytest.mark.parametrize("name", ["http_like.pcap", "crafted/multi_if.pcapng", "crafted/nanosecond.pcap",
                                  "cooked_v2.pcap", "offload.pcap", "dumpcap.pcapng",
                                  "crafted/pcapng_epb_options.pcapng", "crafted/pcapng_two_sections.pcapng"])
def test_tshark_shows_a_comment_on_every_frame(tmp_path, name):
    capture = SAMPLES / name
    out = tmp_path / "a.pcapng"
    run_annotate(capture, out)
    shown = tshark_fields(out, "frame.comment")
    n = len(analyze(capture).packets)
    assert len(shown) == n and all("pcapan | " in c for c in shown)
    fields = ["frame.time_epoch", "frame.len", "frame.cap_len", "frame.encap_type", "frame.protocols"]
    if capture.suffix == ".pcapng":
        fields += ["frame.interface_id", "frame.packet_flags"]
    assert tshark_fields(out, *fields) == tshark_fields(capture, *fields)


def test_what_is_not_a_capture_file_is_refused_in_one_line(tmp_path):
    r = runner.invoke(app, ["annotate", str(tmp_path / "missing.pcap"), "-o", str(tmp_path / "o.pcapng")])
    assert r.exit_code == 2 and r.output.strip() == f"pcapan: {tmp_path / 'missing.pcap'}: no such file"
    r = runner.invoke(app, ["annotate", str(tmp_path), "-o", str(tmp_path / "o.pcapng")])
    assert r.exit_code == 2 and r.output.strip() == f"pcapan: {tmp_path}: is a directory, not a capture file"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = runner.invoke(app, ["annotate", str(fifo), "-o", str(tmp_path / "o.pcapng")])
    assert r.exit_code == 2 and "(not standard input or a pipe)" in r.output and len(r.output.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_a_capture_analysed_from_standard_input_cannot_be_annotated(tmp_path):
    a = analyze(SAMPLES / "http_like.pcap")
    a.info.path = "-"          # what analyze("-") records
    with pytest.raises(AnnotateError, match=r"^-: annotate copies every frame .* \(not standard input or a pipe\)$"):
        annotate(a, tmp_path / "o.pcapng")
    assert not list(tmp_path.iterdir())
