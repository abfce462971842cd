"""Reading: formats, byte orders, timestamp resolutions, interfaces, gzip, link types."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading

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


# --- one read, from anything ---------------------------------------------------------------


READ_ONCE = [SAMPLES / "bulk_loss.pcap", SAMPLES / "lab_upload.pcapng", C / "pcapng_two_sections.pcapng"]


def _pcapan() -> list[str]:
    exe = shutil.which("pcapan", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "pcap_analyzer"]


def _report(args: list[str], stdin: bytes | None = None, shell: str | None = None) -> dict:
    cmd = _pcapan() + ["report", *args, "--format", "json", "--quiet"]
    if shell is not None:
        r = subprocess.run(["bash", "-c", shell.replace("PCAPAN", " ".join(cmd))], capture_output=True, timeout=120)
    else:
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(r.stdout)
    doc["capture"].pop("file")
    doc["capture"]["format"] = doc["capture"]["format"].replace(" (gzip)", "")
    return doc


@pytest.mark.parametrize("path", READ_ONCE, ids=lambda p: p.name)
def test_standard_input_a_pipe_of_gzip_a_fifo_and_process_substitution_read_as_the_file(path, tmp_path):
    want = _report([str(path)])
    data = path.read_bytes()
    assert _report(["-"], stdin=data) == want
    assert _report(["-"], stdin=gzip.compress(data)) == want
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    try:
        assert _report([str(fifo)]) == want
    finally:
        writer.join(timeout=60)
    assert _report([], shell=f"PCAPAN <(cat '{path}')") == want


@pytest.mark.parametrize("path", READ_ONCE, ids=lambda p: p.name)
def test_standard_input_redirected_from_a_file_reads_as_the_file(path, tmp_path):
    """`pcapan report - < F` (compressed or not) gives what `pcapan report F` gives; so does a file
    handed over part-way, after bytes that are not the capture's (read from where it stands)."""
    want = _report([str(path)])
    data = path.read_bytes()
    squeezed = tmp_path / "capture.gz"
    squeezed.write_bytes(gzip.compress(data))
    after_junk = tmp_path / "after_junk"
    after_junk.write_bytes(b"not the capture " + data)
    for f, skip in ((path, 0), (squeezed, 0), (after_junk, 16)):
        with open(f, "rb") as stdin:
            stdin.seek(skip)
            r = subprocess.run(_pcapan() + ["report", "-", "--format", "json", "--quiet"], stdin=stdin,
                               capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        doc = json.loads(r.stdout)
        doc["capture"].pop("file")
        doc["capture"]["format"] = doc["capture"]["format"].replace(" (gzip)", "")
        assert doc == want, f.name


def test_standard_input_from_a_file_is_mapped_only_from_its_start(monkeypatch):
    """A file on standard input is mapped (framed where it lies, as fast as the file named) when
    it is read from its start; a file handed over part-way is read on from where it stands."""
    from pcap_analyzer.capture import sources

    path = SAMPLES / "bulk_loss.pcap"
    with open(path, "rb") as f:
        monkeypatch.setattr(sys, "stdin", f)
        w = sources.open_bytes("-")
        assert w.mapped and w.end == path.stat().st_size
        f.seek(24)
        w = sources.open_bytes("-")
        assert not w.mapped
        at = w.more(0, 16)
        assert bytes(w.buf[at:at + 16]) == path.read_bytes()[24:40]


def test_a_stream_in_pieces_reads_as_the_file(monkeypatch):
    """Records straddling the pieces a stream is read in are put together."""
    from pcap_analyzer.capture import sources

    path = SAMPLES / "dumpcap.pcapng"
    want = analyze(path).packets
    monkeypatch.setattr(sources, "PIECE_BYTES", 1000)
    monkeypatch.setattr(sources, "WINDOW_BYTES", 1000)
    r, w = os.pipe()
    data = path.read_bytes()
    writer = threading.Thread(target=lambda: (os.write(w, data), os.close(w)))
    writer.start()
    try:
        got = analyze(f"/dev/fd/{r}").packets
    finally:
        writer.join(timeout=60)
        os.close(r)
    for name in ("frame", "stream", "rel_seq", "rel_ack", "labels", "comment", "time"):
        assert got[name].equals(want[name]), name


def test_gzip_members_one_after_another(tmp_path):
    data = (SAMPLES / "http_like.pcap").read_bytes()
    f = tmp_path / "two_members.pcap.gz"
    f.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]))
    a, b = analyze(SAMPLES / "http_like.pcap"), analyze(f)
    assert a.packets["frame"].equals(b.packets["frame"]) and not b.info.warnings


# --- times a date cannot hold, big section headers, corrupt compression ----------------------

@pytest.mark.parametrize("name,first_s", [("pcapng_year3000.pcapng", 32503680000),
                                          ("pcapng_tsoffset_huge.pcapng", 2 ** 40),
                                          ("pcapng_tsresol_1s.pcapng", 2 ** 40)])
def test_times_after_2262_are_kept(name, first_s):
    a = analyze(C / name)
    p = a.packets
    assert len(p) == 10 and p["time"].isna().all()
    assert a.info.time_base_ns == first_s * 10 ** 9
    assert p["time_rel_s"].iloc[0] == 0 and p["time_rel_s"].is_monotonic_increasing
    assert any("1677-2262" in w for w in a.info.warnings)
    assert p["initial_rtt_s"].notna().any()


def test_a_section_header_longer_than_any_packet_is_read():
    a = analyze(C / "pcapng_big_shb.pcapng")
    assert len(a.packets) == 10 and not a.info.warnings
    assert sum(len(c) for c in a.info.sections[0]["comments"]) > 256 * 1024


def test_pcapng_options_are_kept():
    a = analyze(C / "pcapng_epb_options.pcapng")
    several = a.info.packet_comments
    assert several and all(len(v) == 2 for v in several.values())
    frame, texts = next(iter(several.items()))
    assert a.packets.set_index("frame").loc[frame, "comment"] == "\n".join(texts)
    assert any(code == 2 for opts in a.info.packet_options.values() for code, _ in opts)   # epb_flags
    a = analyze(C / "pcapng_shb_idb_options.pcapng")
    assert a.info.sections[0].get("os") and a.info.interfaces[0].get("name")


def test_corrupt_compression_keeps_what_came_before():
    a = analyze(SAMPLES / "broken" / "gzip_corrupt.pcap.gz")
    assert len(a.packets) == 6
    assert a.info.warnings[-1].startswith("capture damaged after frame 6: compressed data is corrupt")


def test_chunks_in_reused_arrays_are_decoded_ahead_and_left_alone_while_held():
    """With reused arrays, the next chunk is decoded while the caller still works on this one (the
    two stages run side by side), and the chunk the caller holds is never written over."""
    import time

    import numpy as np

    from pcap_analyzer.pipeline import Run

    path = SAMPLES / "dumpcap.pcapng"
    whole = analyze(path).packets
    run = Run(path)
    decoded = []

    class Counting:
        """The run's decoder, counting the chunks it decoded."""

        def __init__(self, inner) -> None:
            self.inner = inner

        def decode(self, *args) -> None:
            self.inner.decode(*args)
            decoded.append(1)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    run.decoder = Counting(run.decoder)
    frames, seen = [], 0
    for c in run.chunks(limit=100, reuse=1):
        seen += 1
        held = c.inp.copy(), c.out.copy()
        if seen * 100 < len(whole):     # a chunk comes after this one
            deadline = time.monotonic() + 10
            while len(decoded) <= seen and time.monotonic() < deadline:
                time.sleep(0.001)
            assert len(decoded) > seen, "the next chunk was not decoded while this one was held"
        assert np.array_equal(c.inp, held[0]) and np.array_equal(c.out, held[1])
        frames.extend(c.inp[0].tolist())
    assert seen > 2
    assert frames == whole["frame"].tolist()


def test_a_stream_header_is_read_from_the_first_piece_without_waiting_for_a_full_window():
    """A capture arriving through a pipe (``tcpdump -w - | pcapan report -``) is opened as soon as its
    first piece is there: the reader does not wait for a whole window of bytes (64 MiB) first."""
    from pcap_analyzer.capture import sources
    from pcap_analyzer.capture.reader import Reader

    data = (SAMPLES / "http_like.pcap").read_bytes()
    records = data[24:]
    body = data[:24] + records * (sources.PIECE_BYTES // len(records) + 2)    # a little over one piece
    assert sources.PIECE_BYTES < len(body) < sources.WINDOW_BYTES
    r, w = os.pipe()
    done = threading.Event()

    def write() -> None:
        view = memoryview(body)
        while view:
            view = view[os.write(w, view):]
        done.wait(60)      # the pipe stays open, as a running capture's does
        os.close(w)

    writer = threading.Thread(target=write)
    writer.start()
    opened = []
    opening = threading.Thread(target=lambda: opened.append(Reader(f"/dev/fd/{r}")))
    opening.start()
    try:
        opening.join(timeout=20)
        assert opened, "the reader waited for more than the first piece before reading the header"
        assert opened[0].info.file_format == "pcap"
    finally:
        done.set()
        writer.join(timeout=60)
        opening.join(timeout=60)
        for reader in opened:
            reader.close()
        os.close(r)


@pytest.mark.parametrize("content,message", [
    (b"", "standard input: empty, not a pcap or pcapng file"),
    (b"hello, this is text\n" * 3, "standard input: not a pcap or pcapng file"),
    (b"\x1f\x8b\x08\x00" + b"\xff" * 40, "standard input: gzip-compressed, but compressed data is corrupt"),
])
def test_bad_standard_input_is_named_so_in_one_line(content, message):
    r = subprocess.run(_pcapan() + ["report", "-"], input=content, capture_output=True, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_standard_input_that_cannot_be_read_is_one_line_exit_2(tmp_path):
    f = tmp_path / "written.pcap"
    f.write_bytes((SAMPLES / "bulk_loss.pcap").read_bytes())
    with open(f, "ab") as write_only:
        r = subprocess.run(_pcapan() + ["report", "-"], stdin=write_only, capture_output=True, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.strip() == "pcapan: standard input: reading failed (Bad file descriptor)", err


def test_a_stream_failing_before_its_header_is_complete_says_how_not_gzip(monkeypatch):
    from pcap_analyzer.capture import sources
    from pcap_analyzer.capture.info import CaptureError
    from pcap_analyzer.capture.reader import Reader

    def pieces(fd, path):
        os.close(fd)
        yield b"\xd4\xc3\xb2\xa1"
        raise sources.Damage("reading failed (Input/output error)")

    monkeypatch.setattr(sources, "_read_pieces", pieces)
    with pytest.raises(CaptureError) as e:
        Reader("/dev/null")
    assert str(e.value) == "/dev/null: reading failed (Input/output error)"


def test_standard_input_at_a_terminal_is_refused_at_once():
    """`pcapan report -` typed at a terminal would wait for a capture typed in: it says what to do."""
    import pty

    main, sub = pty.openpty()
    try:
        r = subprocess.run(_pcapan() + ["report", "-"], stdin=sub, capture_output=True, timeout=60)
    finally:
        os.close(sub)
        os.close(main)
    err = r.stderr.decode()
    assert r.returncode == 2 and "standard input is a terminal, not a capture: pipe one in or redirect it" in err, err
    assert len(err.strip().splitlines()) == 1
