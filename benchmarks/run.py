#!/usr/bin/env python3
"""pcapan against tshark on the benchmark capture: medians, ratio, peak memory.

    python benchmarks/run.py [--packets 1200000] [--repeat 3] [--check] [--folder N]

Writes the capture with make_capture.py (cached in benchmarks/out/), then
times, side by side and several times each:

  pcapan report CAPTURE --format csv -q -o /dev/null
  pcapan packets CAPTURE --format csv -q -o /dev/null
  python -c "from pcap_analyzer import analyze; analyze(CAPTURE)"
  tshark -r CAPTURE -T fields -e frame.number -e tcp.stream -e tcp.seq -e tcp.ack -e tcp.analysis.flags
  tcptrace -n CAPTURE      (if installed: a compiled analyser's speed, for scale)

and prints the median wall time of each, pcapan's speed as a multiple of
tshark's, and the peak resident memory of each.  The commands take turns,
one run each per round, so that the machine's slower spells weigh on all of
them alike.  --check also
compares pcapan's labels with tshark's frame by frame on that capture.
--folder N times `pcapan report DIR` on a folder of N captures of
--folder-packets packets each, with one worker process and with one per
core, and prints the speed-up.  --memory 1000000,10000000 instead prints
the peak RSS of `pcapan report` (table) and `pcapan check` on benchmark
captures of those sizes: both read the capture in chunks, so it should not
grow with the packets.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def timed(cmd: list[str], stdout: str = os.devnull) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run of *cmd* (its output written to *stdout*).

    Each command measured runs in one process; its peak resident memory is
    what the kernel reports when it ends (nothing samples it meanwhile, so
    the timing is not disturbed).
    """
    start = time.perf_counter()
    with open(stdout, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.strip()[:300]}")
    return elapsed, usage.ru_maxrss


def _compiled_bytecode() -> None:
    """Byte-compile pcapan's modules, as installing it does: a run from the source tree would
    otherwise compile them at every start when Python writes no bytecode (PYTHONDONTWRITEBYTECODE)."""
    import compileall

    import pcap_analyzer

    compileall.compile_dir(os.path.dirname(pcap_analyzer.__file__), quiet=1)


def generated(workdir: str, packets: int) -> str:
    """The benchmark capture of *packets* packets (made once, then reused)."""
    os.makedirs(workdir, exist_ok=True)
    capture = os.path.join(workdir, f"bench_{packets}.pcap")
    if not os.path.exists(capture):
        subprocess.run([sys.executable, os.path.join(HERE, "make_capture.py"), capture,
                        "--packets", str(packets)], check=True)
    return capture


def folder_speedup(workdir: str, count: int, packets: int, repeat: int) -> None:
    """Time `pcapan report DIR` with one worker and with one per core."""
    source = generated(workdir, packets)
    folder = os.path.join(workdir, f"folder_{count}x{packets}")
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        copy = os.path.join(folder, f"capture_{i:03d}.pcap")
        if not os.path.exists(copy):
            shutil.copyfile(source, copy)
    cores = os.cpu_count() or 1
    base = [sys.executable, "-m", "pcap_analyzer", "report", folder, "--format", "csv", "-q", "-o", os.devnull]
    one = statistics.median(timed(base + ["-j", "1"])[0] for _ in range(repeat))
    all_ = statistics.median(timed(base + ["-j", str(cores)])[0] for _ in range(repeat))
    print(f"report on {count} captures of {packets} packets: {one:.2f} s with 1 process, "
          f"{all_:.2f} s with {cores}: speed-up {one / all_:.2f}x")
    # what this machine allows: the same report of one capture run once, then once per core at the same time
    single = [sys.executable, "-m", "pcap_analyzer", "report", source, "--format", "csv", "-q", "-o", os.devnull]
    alone = statistics.median(timed(single)[0] for _ in range(repeat))
    together = statistics.median(_all_at_once(single, cores) for _ in range(repeat))
    print(f"one capture's report alone {alone:.2f} s, {cores} at once {together:.2f} s: "
          f"at most {cores * alone / together:.2f}x from {cores} cores here")


def _all_at_once(cmd: list[str], count: int) -> float:
    """Wall seconds of *count* copies of *cmd* started together."""
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"{' '.join(cmd)} failed")
    return time.perf_counter() - start


def _warm(path: str) -> None:
    """Read *path* once so that every timed command finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 24):
            pass


def memory(workdir: str, sizes: list[int]) -> None:
    """Peak RSS of `report` and `check` on benchmark captures of each size: flat in packets.

    Each command runs once, after the capture has been read into the page cache."""
    print(f"{'packets':>11} {'streams':>8}  {'command':<14} {'seconds':>8} {'peak RSS MiB':>13}")
    report = os.path.join(workdir, "memory_report.txt")
    for n in sizes:
        capture = generated(workdir, n)
        _warm(capture)
        sec, rss = timed([sys.executable, "-m", "pcap_analyzer", "report", capture, "-q"], stdout=report)
        with open(report, encoding="utf-8") as f:
            found = re.search(r"TCP in ([\d,]+) streams", f.read())
        streams = int(found.group(1).replace(",", "")) if found else -1
        print(f"{n:>11,} {streams:>8,}  {'pcapan report':<14} {sec:>8.1f} {rss / 1024:>13.0f}")
        _warm(capture)
        sec, rss = timed([sys.executable, "-m", "pcap_analyzer", "check", capture, "--format", "json", "-q"])
        print(f"{n:>11,} {streams:>8,}  {'pcapan check':<14} {sec:>8.1f} {rss / 1024:>13.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--capture", help="use this capture instead of generating one")
    ap.add_argument("--check", action="store_true", help="compare labels with tshark frame by frame")
    ap.add_argument("--no-tshark", action="store_true", help="time pcapan only")
    ap.add_argument("--folder", type=int, default=0, help="also time report on a folder of this many captures")
    ap.add_argument("--folder-packets", type=int, default=100_000, help="packets per capture in --folder")
    ap.add_argument("--workdir", default=os.path.join(HERE, "out"), help="where generated captures are kept")
    ap.add_argument("--memory", default="", metavar="N,N,...",
                    help="only measure peak RSS of report and check on captures of these sizes")
    ns = ap.parse_args()
    _compiled_bytecode()
    if ns.memory:
        memory(ns.workdir, [int(x) for x in ns.memory.split(",")])
        return 0

    capture = ns.capture or generated(ns.workdir, ns.packets)
    pcapan = [sys.executable, "-m", "pcap_analyzer"]
    runs = {
        "pcapan report": pcapan + ["report", capture, "--format", "csv", "-q", "-o", os.devnull],
        "pcapan packets": pcapan + ["packets", capture, "--format", "csv", "-q", "-o", os.devnull],
        "analyze()": [sys.executable, "-c", f"from pcap_analyzer import analyze; analyze({capture!r})"],
    }
    if not ns.no_tshark and shutil.which("tshark"):
        runs["tshark fields"] = ["tshark", "-r", capture, "-T", "fields", "-e", "frame.number",
                                 "-e", "tcp.stream", "-e", "tcp.seq", "-e", "tcp.ack", "-e", "tcp.analysis.flags"]
    if not ns.no_tshark and shutil.which("tcptrace"):
        # a compiled TCP analyser for scale (connection summaries, no per-frame labels)
        runs["tcptrace -n"] = ["tcptrace", "-n", capture]
    timed(runs["pcapan report"])   # warm the page cache
    # round by round, every command once a round: a slower spell of the
    # machine then weighs on all of them alike
    samples: dict = {name: [] for name in runs}
    for _ in range(ns.repeat):
        for name, cmd in runs.items():
            samples[name].append(timed(cmd))
    results = {name: (statistics.median(x[0] for x in got), max(x[1] for x in got)) for name, got in samples.items()}
    size = os.path.getsize(capture)
    print(f"capture: {capture} ({size / 1e6:.1f} MB)")
    print(f"{'command':<16} {'median s':>9} {'peak RSS MiB':>13}")
    for name, (sec, rss) in results.items():
        print(f"{name:<16} {sec:>9.2f} {rss / 1024:>13.0f}")
    if "tshark fields" in results:
        t = results["tshark fields"][0]
        for name in ("pcapan report", "pcapan packets"):
            print(f"{name} is {t / results[name][0]:.2f}x tshark's speed")
    if "tcptrace -n" in results:
        print(f"pcapan report takes {results['pcapan report'][0] / results['tcptrace -n'][0]:.2f}x "
              "the time of tcptrace")
    for name in ("pcapan packets", "analyze()"):
        print(f"{name} takes {results[name][0] / results['pcapan report'][0]:.2f}x the time of pcapan report")
    if ns.folder:
        folder_speedup(ns.workdir, ns.folder, ns.folder_packets, ns.repeat)
    if ns.check and shutil.which("tshark"):
        from pcap_analyzer import analyze, streaming, tshark
        a = analyze(capture)
        c = tshark.compare(a.packets, tshark.fields(capture), check_flags=True)
        print(f"labels vs tshark: {c.describe()}")
        # the report's counts come from the chunked pass, which keeps no frames: the same labels
        d = streaming.digest(capture)
        counted = a.events["label"].astype(str).value_counts()
        shown = dict(zip(d.notable["label"], d.notable["count"]))
        agree = all(counted.get(label, 0) == n for label, n in shown.items()) and \
            set(shown) == set(counted.index) - {"truncated"}
        print(f"report label counts {'agree' if agree else 'DIFFER'} with the frame-by-frame labels: "
              + ", ".join(f"{k} {v}" for k, v in shown.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
