"""The benchmark script still runs end to end (tiny captures; no timing is asserted)."""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys

from conftest import ROOT

RUN = ROOT / "benchmarks" / "run.py"
FORMAT_ROWS = ("classic pcap", "pcapng", "gzip pcap", "pcapng, cat | report -", "gzip pcap, cat | report -")


def _bench(*args: str) -> str:
    done = subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _format_rows(out: str) -> dict[str, str]:
    """Each format's row of the comparison, by its label: the rest of its line."""
    rows = {}
    for line in out.splitlines():
        for label in sorted(FORMAT_ROWS, key=len, reverse=True):
            if line.startswith(label + " "):
                rows.setdefault(label, line[len(label):].strip())
                break
    return rows


def _assert_formats(out: str, tshark: bool) -> None:
    rows = _format_rows(out)
    assert set(rows) == set(FORMAT_ROWS), out
    for label in FORMAT_ROWS[:3]:
        assert re.match(r"\d+\.\d\d ", rows[label]), out
    for label in FORMAT_ROWS[3:]:
        # standard input is read, or the row says why not, and the run goes on
        assert re.match(r"\d+\.\d\d |not supported \(exit [1-9]\d*: .+\)$", rows[label]), out
    if tshark:
        for label in FORMAT_ROWS[:3]:
            assert re.search(rf"{label} \d+\.\dx (meets|MISSES) it", out), out
    else:
        assert "40x target: not measured" in out, out
    assert re.search(r"analyze\(\): classic pcap \d+\.\d\d s, pcapng \d+\.\d\d s: pcapng/pcap \d+\.\d\d "
                     r"\(target at most 1\.2: (meets|MISSES) it\)", out), out


def test_benchmark_runs_on_a_small_capture(tmp_path):
    args = ["--packets", "2000", "--repeat", "1", "--folder", "2", "--folder-packets", "2000",
            "--workdir", str(tmp_path)]
    tshark = shutil.which("tshark") is not None
    out = _bench(*args, "--check" if tshark else "--no-tshark")
    assert "pcapan report" in out and "peak RSS MiB" in out
    assert "report on 2 captures of 2000 packets" in out
    if tshark:
        assert "x tshark's speed" in out
        assert re.search(r"labels vs tshark: (19\d\d) TCP and 0 UDP frames agree", out), out
        assert "report label counts agree with the frame-by-frame labels" in out, out
    _assert_formats(out, tshark)
    assert (tmp_path / "bench_2000.pcapng").is_file() and (tmp_path / "bench_2000.pcap.gz").is_file()


def test_formats_alone(tmp_path):
    out = _bench("--formats", "--packets", "1000", "--repeat", "1", "--no-tshark", "--workdir", str(tmp_path))
    _assert_formats(out, tshark=False)
    assert "pcapan packets" not in out and "report on" not in out


def test_syn_flood(tmp_path):
    out = _bench("--syn-flood", "1500", "--workdir", str(tmp_path))
    for name in ("pcapan report", "pcapan streams", "pcapan check"):
        assert re.search(rf"^{name} +\d+\.\d +\d+ +\d+ +-?\d+\.\d\d +\d+$", out, re.M), out
        assert re.search(rf"^{name} -?\d+\.\d\d KiB per stream \((meets|MISSES) 1 KiB\), "
                         rf"\d+\.\d\d GiB in all \((meets|MISSES) under 1\.5 GiB\)$", out, re.M), out
    assert "pcapan report counted 1,500 TCP streams" in out, out


def _run_module():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module     # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_pcapng_copy_and_piped_input(tmp_path):
    """The pcapng written without editcap holds the same frames; a command fed through cat gets every byte."""
    from pcap_analyzer.capture import read_frames

    run = _run_module()
    source = str(ROOT / "sample_captures" / "bulk_loss.pcap")
    copy = str(tmp_path / "copy.pcapng")
    run.pcapng_copy(source, copy)

    def frames(path):
        return [(f.ts_ns, f.data, f.wire_len) for f in read_frames(path)]
    assert frames(copy) == frames(source)
    flood = str(tmp_path / "flood.pcap")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_capture.py"), flood, "--syn-flood", "50"],
                   check=True, capture_output=True)
    assert frames(flood) and len({f[1][26:38] for f in frames(flood)}) == 50   # addresses and ports
    counted = tmp_path / "count.txt"
    got = run.attempt(["wc", "-c"], stdout=str(counted), stdin=source)
    assert got.code == 0 and int(counted.read_text()) == (ROOT / "sample_captures" / "bulk_loss.pcap").stat().st_size
    refused = run.attempt([sys.executable, "-c", "import sys; sys.exit('no input\\nmore')"], stdin=source)
    assert refused.code == 1 and refused.first_err_line() == "no input"
