"""Frame-by-frame agreement with tshark 4.0, 4.4 and 4.6, recorded once per sample capture.

tests/oracle/tshark-RELEASE/ holds what that tshark printed for every
capture under sample_captures/ (broken ones included): streams, relative
sequence and acknowledgement numbers, lengths, windows, every tcp.analysis
flag and the numbers that come with them, and checksum verdicts (checksum
validation on; 4.0's "bad" equals our bad or offloaded, 4.4's "good" our
good or offloaded).  pcapan, told to follow each release's rules, is
compared with that release's records without tshark.  Each record is
checked against a tshark of its release wherever one is found
(``tshark.find``); the others are skipped with the reason.

On failure the message lists, per field and per flag, how many frames
differ and the first of them.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from conftest import CAPTURE_EXTS, ROOT, SAMPLES
from pcap_analyzer import CaptureError, analyze, tshark
from pcap_analyzer.vocabulary import DEFAULT_WIRESHARK, WIRESHARK_VERSIONS

ORACLES = ROOT / "tests" / "oracle"
RERECORD = "re-record with python scripts/record_tshark.py"
# The damage a pcapan warning names, for each kind tshark reports on stderr.
WARNING_OF_DAMAGE = {"damaged": "capture damaged", "corrupt_compression": "capture damaged",
                     "cut_short": "capture truncated"}


def every_capture() -> list[Path]:
    """Every capture the recorder records: recorded, crafted and broken."""
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.name.endswith(CAPTURE_EXTS))


CAPTURES = every_capture()


def rel(path: Path) -> str:
    return path.relative_to(SAMPLES).as_posix()


def is_broken(path: Path) -> bool:
    return rel(path).startswith("broken/")


def oracle(version: str) -> Path:
    return ORACLES / f"tshark-{version}"


@functools.lru_cache(maxsize=None)
def _load(path: Path, version: str) -> tshark.Record | None:
    where = oracle(version) / tshark.record_name(rel(path))
    return tshark.load_record(where) if where.is_file() else None


@functools.lru_cache(maxsize=None)
def _digest(path: Path) -> tuple[str, int]:
    return tshark.sha256(path), path.stat().st_size


def record_of(path: Path, version: str = DEFAULT_WIRESHARK) -> tshark.Record:
    """The capture's record by tshark *version*, failing unless it was made from these very bytes."""
    r = _load(path, version)
    if r is None:
        pytest.fail(f"no tshark record of {rel(path)} in {oracle(version).relative_to(ROOT)}: {RERECORD}")
    digest, size = _digest(path)
    if (r.sha256, r.size) != (digest, size):
        pytest.fail(f"{rel(path)} changed since tshark's record of it (sha256 {digest[:12]}..., "
                    f"{size} bytes; recorded {r.sha256[:12]}..., {r.size} bytes): {RERECORD}")
    return r


@functools.lru_cache(maxsize=None)
def _analysis(path: Path, version: str):
    try:
        return analyze(path, wireshark=version), None
    except CaptureError as exc:
        return None, exc


# --- (a) the records are complete and current -------------------------------------------------

@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
@pytest.mark.parametrize("path", CAPTURES, ids=rel)
def test_record_is_current(path, version):
    r = record_of(path, version)
    assert r.capture == rel(path), f"{r.path.name} records {r.capture}: {RERECORD}"
    made = ".".join(map(str, r.version_tuple[:2]))
    assert made == version, f"{r.path.name} was made by {r.version}, not tshark {version}"
    missing = [n for n in tshark.RECORD_FIELDS if n not in r.names]
    assert not missing, f"{r.path.name} lacks {missing}: {RERECORD}"
    if r.exit_status != 0:
        assert r.damage, (f"tshark failed on {rel(path)} without reporting damage ({r.stderr!r}); "
                          "a record of a failed run compares nothing")


def test_records_hold_every_compared_field_once():
    names = tshark.RECORD_FIELDS
    assert len(set(names)) == len(names)
    assert set(names) == set(tshark.BASE_FIELDS) | set(tshark.EXTRA_FIELDS) | set(tshark.ANALYSIS_FLAGS)


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_no_record_without_its_capture(version):
    wanted = {tshark.record_name(rel(p)) for p in CAPTURES}
    stale = sorted(p.name for p in oracle(version).glob("*" + tshark.RECORD_SUFFIX) if p.name not in wanted)
    assert not stale, f"records of captures that are gone: {stale}: {RERECORD}"


# --- (b) pcapan agrees with the records ----------------------------------------------------

# Rules of a release pcapan does not follow yet (docs/wireshark-versions.md, "Not followed yet"):
# exactly these frames differ, and nothing else may.
_SYN_AGAIN_AFTER_ITS_SYN_ACK = {"out_of_order (tshark only)": [24], "retransmission (pcapan only)": [24]}
NOT_FOLLOWED = {("crafted/closing.pcap", "4.4"): _SYN_AGAIN_AFTER_ITS_SYN_ACK,
                ("crafted/closing.pcap", "4.6"): _SYN_AGAIN_AFTER_ITS_SYN_ACK}


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
@pytest.mark.parametrize("path", CAPTURES, ids=rel)
def test_agrees_with_tshark_frame_by_frame(path, version):
    r = record_of(path, version)
    a, refused = _analysis(path, version)
    if refused is not None:
        assert is_broken(path), f"pcapan refuses a good sample: {refused}"
        # What pcapan refuses outright, tshark must not have read frames from
        # either: a capture damaged part-way is read up to the damage
        # (test_robustness), so only a file with no frame to show is refused.
        assert r.fields.empty or r.damage == "not_a_capture", (
            f"pcapan refuses {rel(path)} ({refused}) but tshark read {len(r.fields)} frames "
            f"(exit {r.exit_status})")
        return
    packets = a.packets
    if is_broken(path) and r.damage and len(packets) > len(r.fields):
        # tshark stops at damage pcapan reads past (a packet naming an interface the file does
        # not describe): the frames before it agree, and pcapan says which frame it was
        stop = len(r.fields) + 1
        assert any(re.search(rf"\bframe {stop}\b", w) for w in a.info.warnings), (rel(path), stop, a.info.warnings)
        packets = packets.iloc[:len(r.fields)]
    c = tshark.compare(packets, r.fields, check_flags=True, check_checksums=True, release=version)
    if is_broken(path):
        # A header that makes no sense is a labelled row (test_robustness);
        # past it tshark's numbers are wherever its dissector stopped, so on
        # those frames only the stream is held to tshark's.
        bad = set(a.packets.loc[a.packets["malformed"].notna(), "frame"].astype(int))
        unexplained = {what: frames for what, frames in c.mismatches.items()
                       if what in ("frame count", "tcp.stream", "udp.stream", "tcp frame missed",
                                   "udp frame missed") or not set(frames) <= bad}
        assert not unexplained, f"{rel(path)}: {c.describe()} (malformed frames: {sorted(bad)})"
    else:
        gaps = NOT_FOLLOWED.get((rel(path), version), {})
        assert {what: frames for what, frames in c.mismatches.items() if gaps.get(what) != frames} == {}, \
            f"{rel(path)} against tshark {version}: {c.describe()}"
        assert c.tcp_frames or c.udp_frames or path.name == "unknown_linktype.pcap"
    # A capture damaged part-way is read up to the damage, with a warning,
    # exactly when tshark says it is damaged.
    warnings = a.summary()["warnings"]
    said = WARNING_OF_DAMAGE.get(r.damage)
    if said:
        assert any(w.startswith(said) for w in warnings), (
            f"tshark reports {rel(path)} {r.damage}, pcapan warns {warnings}")
    else:
        damage_warnings = [w for w in warnings if w.startswith(tuple(WARNING_OF_DAMAGE.values()))]
        assert not damage_warnings, f"tshark reads {rel(path)} whole, pcapan warns {damage_warnings}"


@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
def test_samples_cover_every_analysis_flag(version):
    """The recorded and crafted samples together show every flag tshark knows, in tshark's
    records and in pcapan's labels, for every release."""
    good = [p for p in CAPTURES if not is_broken(p)]
    shown = set()
    labelled = set()
    for path in good:
        fields = record_of(path, version).fields
        shown.update(f for f in tshark.ANALYSIS_FLAGS if (fields[f] != "").any())
        a, refused = _analysis(path, version)
        assert refused is None, f"{rel(path)}: {refused}"
        for ls in a.packets["labels"].dropna():
            labelled.update(ls.split(";"))
    assert not set(tshark.ANALYSIS_FLAGS) - shown, f"no sample shows {sorted(set(tshark.ANALYSIS_FLAGS) - shown)}"
    missing = set(tshark.ANALYSIS_FLAGS.values()) - labelled
    assert not missing, f"no sample capture shows {sorted(missing)}"


# --- (c) the records are what the installed tshark prints ------------------------------------

@functools.lru_cache(maxsize=None)
def _installed(version: str) -> str | None:
    return tshark.find(version)


@pytest.mark.tshark
@pytest.mark.parametrize("version", WIRESHARK_VERSIONS)
@pytest.mark.parametrize("path", CAPTURES, ids=rel)
def test_installed_tshark_prints_the_record(path, version):
    exe = _installed(version)
    if exe is None:
        pytest.skip(f"no tshark {version} here (looked on PATH, in ${tshark.TSHARK_ENV} and "
                    f"/opt/tshark-{version}/tshark)")
    r = record_of(path, version)
    # The record's own field list, relative path and folder: the same command.
    live = tshark.run(rel(path), r.names, tshark=exe, cwd=SAMPLES)
    if live.exit_status != 0 and r.exit_status == 0:
        pytest.fail(f"tshark exited {live.exit_status} on {rel(path)}, which it read cleanly when "
                    f"recorded: {live.stderr or '(no message)'}")
    assert (live.exit_status, live.damage) == (r.exit_status, r.damage), (
        f"{rel(path)}: tshark now exits {live.exit_status} ({live.stderr!r}), "
        f"recorded {r.exit_status} ({r.stderr!r})")
    if not live.fields.equals(r.fields):
        assert len(live.fields) == len(r.fields), (
            f"{rel(path)}: tshark now prints {len(live.fields)} frames, recorded {len(r.fields)}")
        differ = live.fields.ne(r.fields)
        rows = differ.any(axis=1)
        first = rows.idxmax()
        cols = list(differ.columns[differ.loc[first]])
        pytest.fail(f"{rel(path)}: {int(rows.sum())} frames differ from the record, first frame "
                    f"{r.fields.at[first, 'frame.number']}: "
                    + ", ".join(f"{c} now {live.fields.at[first, c]!r}, recorded {r.fields.at[first, c]!r}"
                                for c in cols))


# --- (c) read in small chunks, state carried from chunk to chunk ----------------------------------

SMALL_CHUNKS = [p for p in CAPTURES if not is_broken(p) and p.stat().st_size > 20_000] + [
    SAMPLES / "crafted" / "tcp_analysis.pcap", SAMPLES / "crafted" / "port_reuse_crafted.pcap",
    SAMPLES / "crafted" / "ip_fragments.pcap", SAMPLES / "offload.pcap"]


@pytest.mark.parametrize("path", SMALL_CHUNKS, ids=rel)
def test_agrees_with_tshark_read_seven_frames_at_a_time(path, monkeypatch):
    """Every stream's state carries from one chunk to the next: the captures read 7 frames at a
    time (a stream 1 kB at a time) agree with tshark as they do whole, and so do the report's counts."""
    from pcap_analyzer import pipeline
    from pcap_analyzer.capture import reader, sources
    from pcap_analyzer.report.digest import digest

    monkeypatch.setattr(pipeline, "FRAMES_PER_CHUNK", 7)
    monkeypatch.setattr(reader, "FRAMES_PER_CHUNK", 7)
    monkeypatch.setattr(sources, "PIECE_BYTES", 1000)
    monkeypatch.setattr(sources, "WINDOW_BYTES", 1000)
    r = record_of(path)
    a = analyze(path)
    c = tshark.compare(a.packets, r.fields, check_flags=True, check_checksums=True, release=DEFAULT_WIRESHARK)
    assert c.ok, f"{rel(path)}: {c.describe()}"
    d = digest(path, events=True)
    shown = dict(zip(d.notable["label"], d.notable["count"]))
    for flag, label in tshark.ANALYSIS_FLAGS.items():
        assert shown.get(label, 0) == int((r.fields[flag] != "").sum()), (rel(path), label)
    assert len(d.streams) == len(a.streams)
