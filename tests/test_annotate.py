"""pcapan annotate: a pcapng copy of the capture with a comment on every packet."""
from __future__ import annotations

import hashlib
import struct
import subprocess

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES, needs_tshark
from pcap_analyzer import analyze
from pcap_analyzer.annotate import AnnotateError, Interface, annotate, comments, interfaces
from pcap_analyzer.cli import app
from pcap_analyzer.capture import CaptureInfo, read_frames

runner = CliRunner()

CAPTURES = ["http_like.pcap", "crafted/multi_if.pcapng", "crafted/nanosecond.pcap", "cooked_v2.pcap",
            "bulk_loss.pcap", "crafted/big_endian_nano.pcap", "crafted/snaplen_truncated.pcap",
            "crafted/gzip_pcap.pcap.gz", "dumpcap.pcapng"]


def frames(path) -> list[tuple]:
    """Everything the reader gives of each frame, the bytes as a hash."""
    return [(f.ts_ns, f.wire_len, f.linktype, f.iface, len(f.data), hashlib.sha256(f.data).hexdigest())
            for f in read_frames(path)]


def run_annotate(capture, out):
    r = runner.invoke(app, ["annotate", str(capture), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return r


@pytest.mark.parametrize("name", CAPTURES)
def test_frames_bytes_and_times_are_kept(tmp_path, name):
    out = tmp_path / "annotated.pcapng"
    run_annotate(SAMPLES / name, out)
    info = CaptureInfo(path=str(out))
    assert frames(out) == frames(SAMPLES / name)
    list(read_frames(out, info))
    assert info.file_format == "pcapng" and not info.warnings


def test_every_frame_carries_our_comment_and_old_comments_stay(tmp_path):
    capture = SAMPLES / "crafted" / "multi_if.pcapng"
    out = tmp_path / "a.pcapng"
    run_annotate(capture, out)
    a = analyze(capture)
    got = [f.comment for f in read_frames(out)]   # every comment of a packet, one per line
    old = a.packets["comment"]
    for i, (comment, before) in enumerate(zip(got, old)):
        lines = comment.split("\n")
        if isinstance(before, str):
            assert lines[0] == before == "first data segment on tun0"
            assert len(lines) == 2 and lines[1].startswith("pcapan | ")
        else:
            assert len(lines) == 1 and comment.startswith("pcapan | ")
    assert old.notna().sum() == 1


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


def test_interfaces_are_described_as_in_the_input(tmp_path):
    out = tmp_path / "a.pcapng"
    run_annotate(SAMPLES / "crafted" / "multi_if.pcapng", out)
    info = CaptureInfo(path=str(out))
    list(read_frames(out, info))
    src = CaptureInfo(path=str(SAMPLES / "crafted" / "multi_if.pcapng"))
    list(read_frames(src.path, src))
    assert info.linktypes == src.linktypes == {0: 1, 1: 101}
    before, after = interfaces(src), interfaces(info)
    assert [(i.linktype, i.snaplen, i.units_per_s, i.options) for i in before] == \
        [(i.linktype, i.snaplen, i.units_per_s, i.options) for i in after]
    assert (2, b"eth0") in after[0].options   # if_name


def test_nanosecond_pcap_gets_nanosecond_resolution(tmp_path):
    capture = SAMPLES / "crafted" / "nanosecond.pcap"
    out = tmp_path / "a.pcapng"
    run_annotate(capture, out)
    info = CaptureInfo(path=str(out))
    list(read_frames(out, info))
    (iface,) = interfaces(info)
    assert iface.units_per_s == 10 ** 9 and (9, bytes([9])) in iface.options
    assert [f.ts_ns % 1000 for f in read_frames(out)][0] == 789   # x.000000789


def test_pcap_input_has_one_interface_with_its_snaplen(tmp_path):
    capture = SAMPLES / "crafted" / "snaplen_truncated.pcap"
    out = tmp_path / "a.pcapng"
    run_annotate(capture, out)
    info = CaptureInfo(path=str(out))
    list(read_frames(out, info))
    (iface,) = interfaces(info)
    assert (iface.linktype, iface.snaplen) == (1, 64)
    # frames cut by the snapshot length keep their original length
    assert any(w > c for _, w, _, _, c, _ in frames(out))


def test_ticks_round_trip_for_any_resolution():
    for units in (10 ** 6, 10 ** 9, 2 ** 20, 2 ** 32, 10 ** 12):
        i = Interface(linktype=1, snaplen=0, units_per_s=units, offset_s=3)
        for ticks in (0, 1, 999_999, 1_700_000_000 * units + 123_457, 2 ** 63 // 10 ** 9 * 7):
            ts_ns = 3 * 10 ** 9 + ticks * 10 ** 9 // units       # what the reader makes of them
            back = i.ticks(ts_ns)
            assert 3 * 10 ** 9 + back * 10 ** 9 // units == ts_ns, (units, ticks)
            if units <= 10 ** 9:   # no finer than the reader's nanoseconds: the very same ticks
                assert back == ticks, (units, ticks)


def test_zero_timestamp_stays_zero(tmp_path):
    # a frame at the epoch: dpkt's writer would stamp it with the current time
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


def test_errors_are_one_line_and_exit_2(tmp_path):
    r = runner.invoke(app, ["annotate", str(SAMPLES / "broken" / "not_a_capture.pcap"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "not a pcap or pcapng file" in r.output
    assert not (tmp_path / "o").exists()
    copy = tmp_path / "c.pcap"
    copy.write_bytes((SAMPLES / "http_like.pcap").read_bytes())
    r = runner.invoke(app, ["annotate", str(copy), "-o", str(copy)])
    assert r.exit_code == 2 and "refusing to write over the input capture" in r.output
    assert copy.read_bytes() == (SAMPLES / "http_like.pcap").read_bytes()
    r = runner.invoke(app, ["annotate", str(copy), "-o", str(tmp_path)])
    assert r.exit_code == 2 and "is a directory" in r.output
    r = runner.invoke(app, ["annotate", str(copy), "-o", str(tmp_path / "missing" / "o.pcapng")])
    assert r.exit_code == 2 and "cannot write" in r.output
    assert [p.name for p in tmp_path.iterdir()] == ["c.pcap"]   # no temporary file left behind


def test_damaged_capture_is_annotated_up_to_the_damage(tmp_path):
    capture = SAMPLES / "broken" / "truncated_last_record.pcap"
    out = tmp_path / "a.pcapng"
    r = run_annotate(capture, out)
    assert "capture truncated after frame 9" in r.output
    assert frames(out) == frames(capture)


def test_an_unknown_interface_is_an_error(tmp_path):
    from pcap_analyzer.annotate import write_pcapng
    from pcap_analyzer.capture import RawFrame

    with pytest.raises(AnnotateError, match="interface 1"):
        write_pcapng((tmp_path / "x").open("wb"), [RawFrame(0, 1, 1, 1, b"x", None)],
                     [Interface(linktype=1, snaplen=0)], ["note"])


def tshark_fields(path, *fields) -> list[str]:
    args = ["tshark", "-r", str(path), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    return r.stdout.splitlines()


@needs_tshark
@pytest.mark.parametrize("name", ["http_like.pcap", "crafted/multi_if.pcapng", "crafted/nanosecond.pcap",
                                  "cooked_v2.pcap", "offload.pcap", "dumpcap.pcapng"])
def test_tshark_shows_a_comment_on_every_frame(tmp_path, name):
    capture = SAMPLES / name
    out = tmp_path / "a.pcapng"
    run_annotate(capture, out)
    shown = tshark_fields(out, "frame.comment")
    n = len(analyze(capture).packets)
    assert len(shown) == n and all("pcapan | " in c for c in shown)
    fields = ["frame.time_epoch", "frame.len", "frame.cap_len", "frame.encap_type", "frame.protocols"]
    if capture.suffix == ".pcapng":
        fields.append("frame.interface_id")
    assert tshark_fields(out, *fields) == tshark_fields(capture, *fields)


@needs_tshark
def test_tshark_shows_the_old_comment_and_ours():
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "a.pcapng"
        run_annotate(SAMPLES / "crafted" / "multi_if.pcapng", out)
        r = subprocess.run(["tshark", "-r", str(out), "-Y", "frame.number == 9", "-T", "json",
                            "-e", "frame.comment"], capture_output=True, text=True, check=True)
    shown = json.loads(r.stdout)[0]["_source"]["layers"]["frame.comment"]
    assert shown[0] == "first data segment on tun0"
    assert shown[1].startswith("pcapan | tcp stream 1 | phase data | rel_seq 1 rel_ack 1 | Client sends 53 bytes")
