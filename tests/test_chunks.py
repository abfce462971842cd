"""Reading a capture in chunks gives, concatenated, exactly the whole-file packet table.

The whole-file readers (the compiled path for classic pcap, else the
per-frame decoder over ``reader.read_frames``, as ``analyze`` uses them) are
the reference: for every sample capture and part of the development
captures, chunks of 7 and 1000 frames (and of 1 frame for small captures)
must concatenate to the same table, same dtypes, and leave the same capture
facts in ``info``; files that are not captures raise the same error.
"""
from __future__ import annotations

import socket
import struct
from pathlib import Path

import dpkt
import pandas as pd
import pytest

from conftest import SAMPLES, SHARED
from pcap_analyzer import decode, fastpath, reader
from pcap_analyzer.chunks import iter_packet_tables

SMALL = 3000          # captures with fewer frames are also read one frame per chunk


def _samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix != ".md")


def _dev_subset(limit: int = 40) -> list[Path]:
    if not SHARED.is_dir():
        return []
    files = sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix != ".md")
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def whole_table(path):
    """(table, info, error message) as analyze() reads the whole file today."""
    info = reader.CaptureInfo(path=str(path))
    try:
        table = fastpath.build_table(str(path), info)
        if table is None:
            table = decode.build_table(reader.read_frames(path, info))
    except reader.CaptureError as exc:
        return None, info, str(exc)
    return table, info, None


def chunked(path, size):
    info = reader.CaptureInfo(path=str(path))
    seen = []
    parts = list(iter_packet_tables(path, info, size, progress=seen.append))
    return parts, info, seen


def assert_chunks_make_the_whole(path) -> None:
    want, want_info, error = whole_table(path)
    if error is not None:
        tables = iter_packet_tables(path, reader.CaptureInfo(path=str(path)), 7)   # nothing read yet
        with pytest.raises(reader.CaptureError) as got:
            next(tables)
        assert str(got.value) == error
        return
    sizes = (1, 7, 1000) if len(want) < SMALL else (7, 1000)
    for size in sizes:
        parts, info, seen = chunked(path, size)
        where = f"{path.name} in chunks of {size}"
        assert info == want_info, where
        if not len(want):
            assert parts == [] and seen == [], where
            continue
        assert all(0 < len(p) <= size for p in parts), where
        assert all(len(p) == size for p in parts[:-1]), where
        counts = [len(p) for p in parts]
        assert seen == [sum(counts[:i + 1]) for i in range(len(counts))], where
        got = pd.concat(parts, ignore_index=True)
        pd.testing.assert_frame_equal(got, want, obj=where)


@pytest.mark.parametrize("path", _samples(), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sample_chunks_make_the_whole_table(path):
    assert_chunks_make_the_whole(path)


@pytest.mark.parametrize("path", _samples(), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sample_chunks_make_the_whole_table_without_fast_path(path, monkeypatch):
    monkeypatch.setenv("PCAPAN_NO_FASTPATH", "1")
    assert_chunks_make_the_whole(path)


@pytest.mark.corpus
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared development captures not present")
@pytest.mark.parametrize("path", _dev_subset(), ids=lambda p: str(p.relative_to(SHARED)))
def test_dev_capture_chunks_make_the_whole_table(path):
    assert_chunks_make_the_whole(path)


# --- an IP datagram whose fragments fall into different chunks -------------------------

CLIENT, SERVER = ("192.0.2.1", 40000), ("198.51.100.2", 80)
CLIENT6, SERVER6 = ("2001:db8::1", 40001), ("2001:db8::2", 80)
_MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"


def _tcp(sport, dport, seq, flags, payload=b""):
    return dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=1, flags=flags, win=65535, data=payload)


def _eth4(ip: dpkt.ip.IP) -> bytes:
    ip.len = len(ip)
    return _MAC + b"\x08\x00" + bytes(ip)


def _ip4(tcp_or_bytes, ident=1, more=0, offset=0) -> dpkt.ip.IP:
    """IPv4 from the client to the server; *offset* in 8-byte units as in the header."""
    return dpkt.ip.IP(src=socket.inet_aton(CLIENT[0]), dst=socket.inet_aton(SERVER[0]), p=6, ttl=64,
                      id=ident, mf=more, offset=offset, data=tcp_or_bytes)


def _fragments4(payload: bytes, ident: int, cuts=(512, 1024)) -> list[bytes]:
    """The TCP segment carrying *payload*, as IPv4 fragments cut at *cuts* (multiples of 8)."""
    whole = _ip4(_tcp(CLIENT[1], SERVER[1], 1000, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, payload), ident)
    whole.len = len(whole)
    segment = bytes(whole)[20:]          # TCP header and data, checksum filled in
    bounds = [0, *cuts, len(segment)]
    frames = []
    for a, b in zip(bounds, bounds[1:]):
        frames.append(_eth4(_ip4(segment[a:b], ident, int(b < len(segment)), a // 8)))
    return frames


def _fragments6(payload: bytes, ident: int, cut=512) -> list[bytes]:
    """The TCP segment carrying *payload* over IPv6, in two fragments cut at *cut*."""
    src, dst = socket.inet_pton(socket.AF_INET6, CLIENT6[0]), socket.inet_pton(socket.AF_INET6, SERVER6[0])
    tcp = _tcp(CLIENT6[1], SERVER6[1], 7000, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, payload)
    tcp.sum = 0
    header = bytes(tcp)[:20]
    pseudo = src + dst + struct.pack("!IxxxB", len(header) + len(payload), 6)
    tcp.sum = dpkt.in_cksum(pseudo + header + payload)
    segment = bytes(tcp)
    frames = []
    for a, b in ((0, cut), (cut, len(segment))):
        more = 1 if b < len(segment) else 0
        frag = struct.pack("!BBHI", 6, 0, a | more, ident) + segment[a:b]
        ip6 = struct.pack("!IHBB", 6 << 28, len(frag), 44, 64) + src + dst + frag
        frames.append(_MAC + b"\x86\xdd" + ip6)
    return frames


def _plain(seq: int) -> bytes:
    return _eth4(_ip4(_tcp(SERVER[1], CLIENT[1], seq, dpkt.tcp.TH_ACK)))


def _fragmented_capture(path) -> str:
    """Fragments spread so that chunks of 2, 3 and 7 frames all cut some datagram apart."""
    f4a = _fragments4(b"a" * 1400, ident=0x1111)            # three fragments
    f4b = _fragments4(b"b" * 600, ident=0x2222, cuts=(304,))  # two fragments
    f6 = _fragments6(b"c" * 900, ident=0x3333)              # two fragments
    frames = [_plain(1), _plain(2), _plain(3), _plain(4), _plain(5), _plain(6),
              f4a[0],                  # frame 7: last of the first chunk of 7
              _plain(7), f6[0],        # frames 8, 9
              f4a[1],                  # frame 10
              f4b[0], _plain(8),       # frames 11, 12
              _plain(9), _plain(10),   # frames 13, 14
              f4a[2],                  # frame 15: completes the first datagram, third chunk of 7
              f6[1], f4b[1],           # frames 16, 17
              _plain(11)]
    with open(path, "wb") as out:
        writer = dpkt.pcap.Writer(out, nano=True)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + i / 1000)
    return str(path)


@pytest.mark.parametrize("fast", [True, False], ids=["compiled", "decoder"])
def test_fragments_split_across_chunks_reassemble_as_in_the_whole_file(tmp_path, monkeypatch, fast):
    if not fast:
        monkeypatch.setenv("PCAPAN_NO_FASTPATH", "1")
    elif fastpath.numba is None:
        pytest.skip("numba not installed")
    path = _fragmented_capture(tmp_path / "fragments.pcap")
    want, _info, _error = whole_table(path)
    done = want.set_index("frame")
    assert done.loc[15, "fragment"] == "reassembled" and done.loc[15, "sport"] == CLIENT[1]
    assert done.loc[15, "payload_len"] == 1400 and done.loc[15, "l4_checksum"] == "good"
    assert done.loc[16, "fragment"] == "reassembled" and done.loc[16, "dport"] == SERVER6[1]
    assert done.loc[16, "l4_checksum"] == "good"
    assert done.loc[17, "fragment"] == "reassembled" and done.loc[17, "payload_len"] == 600
    assert list(done.loc[[7, 9, 10, 11], "fragment"]) == ["first", "first", "non_first", "first"]
    for size in (1, 2, 3, 7):
        parts, _, _ = chunked(path, size)
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), want, obj=f"chunks of {size}")
    # with chunks of 7 the first datagram's pieces lie in three different chunks
    parts, _, _ = chunked(path, 7)
    assert [list(p["fragment"].dropna()) for p in parts] == [
        ["first"], ["first", "non_first", "first"], ["reassembled", "reassembled", "reassembled"]]


def test_fragments_are_not_reassembled_across_captures(tmp_path):
    """Two captures read side by side, chunk by chunk, keep their own pending fragments."""
    path = _fragmented_capture(tmp_path / "fragments.pcap")
    want, _info, _error = whole_table(path)
    a = iter_packet_tables(path, reader.CaptureInfo(path=path), 1)
    b = iter_packet_tables(path, reader.CaptureInfo(path=path), 2)
    got_a, got_b = [], []
    for table in a:
        got_a.append(table)
        got_b.append(next(b, None))
    got_b = [t for t in got_b if t is not None] + list(b)
    pd.testing.assert_frame_equal(pd.concat(got_a, ignore_index=True), want)
    pd.testing.assert_frame_equal(pd.concat(got_b, ignore_index=True), want)
    assert decode._defrag is None


# --- the generator itself ---------------------------------------------------------------

def test_not_a_capture_raises_when_the_first_chunk_is_asked_for(tmp_path):
    path = tmp_path / "notes.pcap"
    path.write_text("not a capture\n")
    tables = iter_packet_tables(path, reader.CaptureInfo(path=str(path)))
    with pytest.raises(reader.CaptureError, match="not a pcap or pcapng file"):
        next(tables)


def test_missing_file_raises_capture_error(tmp_path):
    with pytest.raises(reader.CaptureError, match="no such file"):
        list(iter_packet_tables(tmp_path / "absent.pcap", reader.CaptureInfo(path="absent.pcap")))


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError):
        next(iter_packet_tables(SAMPLES / "reset.pcap", reader.CaptureInfo(path="reset.pcap"), 0))


@pytest.mark.parametrize("fast", [True, False], ids=["compiled", "decoder"])
def test_stopping_early_closes_the_file(monkeypatch, fast):
    if not fast:
        monkeypatch.setenv("PCAPAN_NO_FASTPATH", "1")
    path = SAMPLES / "bulk_loss.pcap"
    info = reader.CaptureInfo(path=str(path))
    tables = iter_packet_tables(path, info, 100)
    first = next(tables)
    assert first["frame"].tolist() == list(range(1, 101))
    tables.close()
    assert decode._defrag is None
    whole, _, _ = whole_table(path)
    pd.testing.assert_frame_equal(first, whole.iloc[:100])


def test_frames_numbered_across_chunks_on_a_gzip_pcapng_and_pcap():
    for name in ("crafted/gzip_pcap.pcap.gz", "dumpcap.pcapng", "bulk_loss.pcap"):
        path = SAMPLES / name
        parts, info, seen = chunked(path, 500)
        frames = pd.concat([p["frame"] for p in parts], ignore_index=True)
        assert frames.tolist() == list(range(1, info.frames + 1))
        assert seen[-1] == info.frames


def _reading_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "pcapan-read-ahead"]


def test_stopping_early_stops_the_read_ahead():
    path = SAMPLES / "bulk_loss.pcap"
    tables = iter_packet_tables(path, reader.CaptureInfo(path=str(path)), 50)
    first = next(tables)
    assert len(first) == 50 and _reading_threads()
    tables.close()
    assert not _reading_threads()


def test_an_error_while_reading_ahead_comes_at_the_table_it_stopped():
    from pcap_analyzer.chunks import _read_ahead

    def tables():
        yield pd.DataFrame({"frame": [1]})
        raise ValueError("damaged")

    got = _read_ahead(tables())
    assert next(got)["frame"].tolist() == [1]
    with pytest.raises(ValueError, match="damaged"):
        next(got)
    assert not _reading_threads()
