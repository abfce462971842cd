"""The benchmark script still runs end to end (a tiny capture; no timing is asserted)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

from conftest import ROOT


def test_benchmark_runs_on_a_small_capture(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--packets", "2000", "--repeat", "1",
           "--folder", "2", "--folder-packets", "2000", "--workdir", str(tmp_path)]
    if shutil.which("tshark"):
        cmd.append("--check")
    else:
        cmd.append("--no-tshark")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "pcapan report" in out and "peak RSS MiB" in out
    assert "report on 2 captures of 2000 packets" in out
    if shutil.which("tshark"):
        assert "x tshark's speed" in out
        assert re.search(r"labels vs tshark: (19\d\d) TCP and 0 UDP frames agree", out), out
        assert "report label counts agree with the frame-by-frame labels" in out, out
