#!/usr/bin/env python3
"""pcapan against tshark on the benchmark capture: medians, ratio, peak memory.

    python benchmarks/run.py [--packets 1200000] [--repeat 3] [--check] [--folder N]
    python benchmarks/run.py --formats [--packets 1200000] [--repeat 3]
    python benchmarks/run.py --syn-flood 1000000
    python benchmarks/run.py --memory 1000000,10000000

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

The run then compares the formats pcapan reads, on the same packets: the
capture is also saved as pcapng (`editcap -F pcapng`) and as a
gzip-compressed classic pcap (`gzip -c`), both cached next to it, and,
taking turns in rounds,

  pcapan report F --format csv -q -o /dev/null
  tshark -n -r F -T fields -e frame.number -e tcp.stream -e tcp.seq -e tcp.ack -e tcp.analysis.flags

run on each of the three files, `cat F | pcapan report - ...` on the pcapng
and on the gzip file (a row says "not supported" when pcapan refuses
standard input), and analyze() on the classic pcap and on the pcapng.  It
prints each format's medians, tshark's time over pcapan's against the
target of 40x, and analyze()'s pcapng time over its pcap time against the
target of at most 1.2.  --formats runs only this comparison.

--syn-flood N instead writes a capture of N lone SYNs, each its own stream
(make_capture.py --syn-flood), and prints the wall time and peak RSS of
`pcapan report`, `pcapan streams` and `pcapan check` on it; what each needs
per stream is its peak less its peak on a capture of a few SYNs, over N,
against the targets of 1 KiB per stream and 1.5 GiB in all.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def timed(cmd: list[str], stdout: str = os.devnull) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run of *cmd* (its output written to *stdout*).

    Each command measured runs in one process; its peak resident memory is
    what the kernel reports when it ends (nothing samples it meanwhile, so
    the timing is not disturbed).
    """
    run = attempt(cmd, stdout)
    if run.code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {run.err.strip()[:300]}")
    return run.seconds, run.rss


@dataclass
class Run:
    seconds: float
    rss: int            # KiB
    code: int           # exit status
    err: str            # what the command wrote on stderr
    processes: int = 1  # processes seen in its tree (when sampled)

    def first_err_line(self) -> str:
        return next((line.strip() for line in self.err.splitlines() if line.strip()), "")


def attempt(cmd: list[str], stdout: str = os.devnull, stdin: str | None = None,
            tree: bool = False) -> Run:
    """One run of *cmd*, whether it succeeds or not.

    stdin: a file that `cat` pipes into the command (so the command sees a
    pipe, not a file it could seek or map).  The peak RSS is the kernel's
    for the command's own process; wait4 folds in its children only as the
    largest of them, not their sum.  tree: also add up, every 50 ms, the
    resident memory of the command and every process under it, and keep the
    larger of that peak and the kernel's (a sampled sum can miss a brief
    peak, so it is a lower bound; a command that starts no process loses
    nothing).  The kernel's figure is never below this script's own peak
    RSS (some 16 MiB): it counts the child from its start, while it still
    shares this process's memory, before the exec.
    """
    with open(stdout, "wb") as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        feeder = subprocess.Popen(["cat", stdin], stdout=subprocess.PIPE) if stdin else None
        # stderr into a file, not a pipe: a command that writes much there must not stall
        proc = subprocess.Popen(cmd, stdin=feeder.stdout if feeder else None, stdout=out, stderr=err)
        if feeder:
            feeder.stdout.close()    # the command holds the only reading end: cat sees it go
        sampler = _TreeSampler(proc.pid) if tree else None
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if feeder:
            feeder.wait()
        elapsed = time.perf_counter() - start
        rss, procs = usage.ru_maxrss, 1
        if sampler:
            summed, procs = sampler.stop()
            rss = max(rss, summed)
        err.seek(0)
        text = err.read().decode(errors="replace")
    return Run(elapsed, rss, proc.returncode, text, procs)


class _TreeSampler:
    """Peak of the summed RSS of a process and its descendants, read from /proc on a thread."""

    INTERVAL = 0.05

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self.seen: set[int] = {root}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[int, int]:
        """(peak summed RSS in KiB, processes seen)."""
        self._done.set()
        self._thread.join()
        return self.peak, len(self.seen)

    def _loop(self) -> None:
        page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
        while not self._done.is_set():
            tree = self._tree()
            self.seen.update(tree)
            total = 0
            for pid in tree:
                try:
                    with open(f"/proc/{pid}/statm", "rb") as f:
                        total += int(f.read().split()[1]) * page_kib
                except (OSError, IndexError, ValueError):
                    pass     # ended meanwhile
            self.peak = max(self.peak, total)
            self._done.wait(self.INTERVAL)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    # the command name may hold spaces and parentheses: the fields follow its last ')'
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
        out, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, ()))
        return out


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


PCAPAN = [sys.executable, "-m", "pcap_analyzer"]
TSHARK_FIELDS = ["-T", "fields", "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.seq", "-e", "tcp.ack",
                 "-e", "tcp.analysis.flags"]
CLASSIC_MAGICS = {0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1}
FORMAT_TARGET = 40.0      # tshark's time over pcapan's, in every format
PCAPNG_TARGET = 1.2       # analyze() on pcapng over analyze() on the same packets as classic pcap
STREAM_TARGET_KIB = 1.0   # memory per stream of a SYN flood
TOTAL_TARGET_GIB = 1.5    # peak of one command on the SYN flood
TINY_SYNS = 100           # the small capture that gives each command's fixed cost


def _derived(workdir: str, source: str, suffix: str, make) -> str:
    """*source* saved another way by make(source, dest), kept in *workdir* until *source* changes."""
    os.makedirs(workdir, exist_ok=True)
    stem = os.path.basename(source)
    stem = stem[:-len(".pcap")] if stem.endswith(".pcap") else stem
    dest = os.path.join(workdir, stem + suffix)
    if not os.path.exists(dest) or os.path.getmtime(dest) < os.path.getmtime(source):
        # written aside and renamed, so that an interrupted run leaves no half file to reuse
        tmp = dest + ".tmp"
        make(source, tmp)
        os.replace(tmp, dest)
    return dest


def _editcap_pcapng(source: str, dest: str) -> None:
    if shutil.which("editcap"):
        subprocess.run(["editcap", "-F", "pcapng", source, dest], check=True)
    else:
        pcapng_copy(source, dest)


def _gzip(source: str, dest: str) -> None:
    with open(dest, "wb") as out:
        subprocess.run(["gzip", "-c", source], stdout=out, check=True)


def pcapng_copy(source: str, dest: str) -> None:
    """Write the classic pcap *source* as pcapng, packet for packet, as editcap -F pcapng does.

    For machines without Wireshark's tools: one section, one interface
    (the file's link type, snapshot length and timestamp resolution), one
    enhanced packet block per record.
    """
    import struct

    with open(source, "rb") as f, open(dest, "wb") as out:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        order = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nanos = magic in (0xA1B23C4D, 0x4D3CB2A1)
        _magic, _major, _minor, _zone, _sigfigs, snaplen, linktype = struct.unpack(order + "IHHiIII", head)

        def block(kind: int, body: bytes) -> bytes:
            body += b"\0" * (-len(body) % 4)
            return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

        out.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        # if_tsresol 9 (nanoseconds) when the pcap has them; the default, microseconds, needs no option
        options = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0) if nanos else b""
        out.write(block(1, struct.pack("<HHI", linktype & 0xFFFF, 0, snaplen) + options))
        record = struct.Struct(order + "IIII")
        scale = 10**9 if nanos else 10**6
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, caplen, wirelen = record.unpack(rec)
            data = f.read(caplen)
            ts = sec * scale + frac
            out.write(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), wirelen) + data))


def _is_classic(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    return len(head) == 4 and int.from_bytes(head, "little") in CLASSIC_MAGICS


def _analyze_cmd(capture: str) -> list[str]:
    return [sys.executable, "-c", f"from pcap_analyzer import analyze; analyze({capture!r})"]


Runs = dict[str, tuple[list[str], str | None]]   # name: (command, file cat pipes into it, if any)
PIPED = {"pcapng, cat | report -": "pcapng", "gzip pcap, cat | report -": "gzip pcap"}


def format_runs(workdir: str, capture: str, tshark: bool) -> tuple[dict[str, str], Runs] | None:
    """The files of the format comparison (classic pcap, pcapng, gzip pcap) and the commands it times;
    None when *capture* is not a classic pcap to start from."""
    if not _is_classic(capture):
        return None
    files = {
        "classic pcap": capture,
        "pcapng": _derived(workdir, capture, ".pcapng", _editcap_pcapng),
        "gzip pcap": _derived(workdir, capture, ".pcap.gz", _gzip),
    }
    options = ["--format", "csv", "-q", "-o", os.devnull]
    runs: Runs = {}
    for label, path in files.items():
        runs[f"pcapan {label}"] = (PCAPAN + ["report", path] + options, None)
        if tshark:
            runs[f"tshark {label}"] = (["tshark", "-n", "-r", path] + TSHARK_FIELDS, None)
    for label, fmt in PIPED.items():
        runs[f"pcapan {label}"] = (PCAPAN + ["report", "-"] + options, files[fmt])
    for label in ("classic pcap", "pcapng"):
        runs[f"analyze() {label}"] = (_analyze_cmd(files[label]), None)
    return files, runs


def in_rounds(runs: Runs, repeat: int) -> tuple[dict[str, list[Run]], dict[str, Run]]:
    """Every command of *runs* once a round, *repeat* rounds: (the runs of each, the first failure of each
    command fed from a pipe).

    Round by round, so that a slower spell of the machine weighs on all of
    them alike, every other round in reverse order.  Commands that are the
    same (by two names) run once a round.
    A command reading a pipe may fail (pcapan may not read standard input):
    it is not run again, and the others go on; any other failure ends the run.
    """
    samples: dict[str, list[Run]] = {name: [] for name in runs}
    failed: dict[str, Run] = {}
    first: dict[tuple, str] = {}
    for name, (cmd, stdin) in runs.items():
        first.setdefault((tuple(cmd), stdin), name)
    for turn in range(repeat):
        # every other round in reverse: on a virtual machine the first big allocation after a
        # pause costs far more kernel time than one right after another (pages the host took
        # back), so a command must not always follow the same one
        order = list(runs.items())
        if turn % 2:
            order.reverse()
        for name, (cmd, stdin) in order:
            if name in failed or first[(tuple(cmd), stdin)] != name:
                continue
            run = attempt(cmd, stdin=stdin)
            if run.code != 0:
                if stdin is None:
                    raise SystemExit(f"{' '.join(cmd)} failed: {run.err.strip()[:300]}")
                failed[name] = run
                continue
            samples[name].append(run)
    for name, (cmd, stdin) in runs.items():
        samples[name] = samples[first[(tuple(cmd), stdin)]]
    return samples, failed


def print_formats(files: dict[str, str], samples: dict[str, list[Run]], failed: dict[str, Run],
                  repeat: int) -> None:
    med = {name: statistics.median(r.seconds for r in got) for name, got in samples.items() if got}
    peak = {name: max(r.rss for r in got) for name, got in samples.items() if got}
    sizes = ", ".join(f"{label} {os.path.getsize(p) / 1e6:.1f} MB" for label, p in files.items())
    print(f"\nformats: {os.path.basename(files['classic pcap'])} as {sizes}; "
          f"median of {repeat} round{'' if repeat == 1 else 's'}")
    print(f"{'format':<28} {'pcapan s':>9} {'tshark s':>9} {'tshark/pcapan':>14} {'pcapan peak MiB':>16}")
    ratios: dict[str, float] = {}
    for label, fmt in [(label, label) for label in files] + list(PIPED.items()):
        name = f"pcapan {label}"
        if name in failed:
            run = failed[name]
            what = "failed in a later round" if samples[name] else "not supported"
            print(f"{label:<28} {what} (exit {run.code}: {run.first_err_line()})")
            continue
        t = med.get(f"tshark {fmt}")
        if t is not None:
            ratios[label] = t / med[name]
        shown_t = f"{t:>9.2f}" if t is not None else f"{'-':>9}"
        shown_r = f"{ratios[label]:>13.1f}x" if label in ratios else f"{'-':>14}"
        print(f"{label:<28} {med[name]:>9.2f} {shown_t} {shown_r} {peak[name] / 1024:>16.0f}")
    if any(label in PIPED for label in ratios):
        print("(the rows from standard input are set against tshark reading the same file)")
    if ratios:
        print(f"{FORMAT_TARGET:.0f}x target: " + "; ".join(
            f"{label} {r:.1f}x {'meets it' if r >= FORMAT_TARGET else 'MISSES it'}" for label, r in ratios.items()))
    else:
        print(f"{FORMAT_TARGET:.0f}x target: not measured (tshark not run)")
    a_pcap, a_ng = med["analyze() classic pcap"], med["analyze() pcapng"]
    r = a_ng / a_pcap
    print(f"analyze(): classic pcap {a_pcap:.2f} s, pcapng {a_ng:.2f} s: pcapng/pcap {r:.2f} "
          f"(target at most {PCAPNG_TARGET}: {'meets it' if r <= PCAPNG_TARGET else 'MISSES it'})")


def _not_classic(capture: str) -> None:
    print(f"\nformats: skipped, {capture} is not a classic pcap to convert from")


def formats(workdir: str, capture: str, repeat: int, tshark: bool) -> None:
    """Only the format comparison: pcapan report against tshark on each format, and analyze()."""
    made = format_runs(workdir, capture, tshark)
    if made is None:
        _not_classic(capture)
        return
    files, runs = made
    for path in files.values():
        _warm(path)
    timed(runs["pcapan classic pcap"][0])   # and pcapan's modules
    samples, failed = in_rounds(runs, repeat)
    print_formats(files, samples, failed, repeat)


def syn_flood(workdir: str, n: int) -> None:
    """Peak RSS and wall time of report, streams and check on a capture of *n* lone SYNs, per stream."""
    def capture(count: int) -> str:
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, f"syn_flood_{count}.pcap")
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.join(HERE, "make_capture.py"), path,
                            "--syn-flood", str(count)], check=True)
        return path

    flood, tiny = capture(n), capture(TINY_SYNS)
    listing = os.path.join(workdir, "syn_flood_report.txt")
    commands = {
        # the report as a table, as people read it; its first lines say how many streams it found
        "pcapan report": (lambda c: PCAPAN + ["report", c, "-q"], listing),
        # every stream as csv: the table of a million rows would measure its renderer
        # (milliseconds and tens of KiB a row), not the reading of the capture
        "pcapan streams": (lambda c: PCAPAN + ["streams", c, "--format", "csv", "-q", "-o", os.devnull], os.devnull),
        "pcapan check": (lambda c: PCAPAN + ["check", c, "--format", "json", "-q"], os.devnull),
    }
    print(f"SYN flood: {flood} ({os.path.getsize(flood) / 1e6:.1f} MB, {n:,} SYNs, each its own four-tuple); "
          f"fixed cost from {os.path.basename(tiny)} ({TINY_SYNS} SYNs)")
    print(f"{'command':<15} {'seconds':>8} {'peak RSS MiB':>13} {'tiny MiB':>9} {'per stream KiB':>15} "
          f"{'processes':>10}")
    verdicts = []
    streams = None
    for name, (make, out) in commands.items():
        runs = []
        for path in (tiny, flood):
            _warm(path)
            run = attempt(make(path), stdout=out, tree=True)
            if run.code != 0:
                raise SystemExit(f"{' '.join(make(path))} failed: {run.err.strip()[:300]}")
            runs.append(run)
        base, big = runs
        if name == "pcapan report":
            with open(listing, encoding="utf-8") as f:
                found = re.search(r"TCP in ([\d,]+) streams", f.read())
            streams = int(found.group(1).replace(",", "")) if found else None
        per = (big.rss - base.rss) / n
        print(f"{name:<15} {big.seconds:>8.1f} {big.rss / 1024:>13.0f} {base.rss / 1024:>9.0f} {per:>15.2f} "
              f"{big.processes:>10}")
        verdicts.append(f"{name} {per:.2f} KiB per stream "
                        f"({'meets' if per <= STREAM_TARGET_KIB else 'MISSES'} {STREAM_TARGET_KIB:g} KiB), "
                        f"{big.rss / 2**20:.2f} GiB in all "
                        f"({'meets' if big.rss < TOTAL_TARGET_GIB * 2**20 else 'MISSES'} "
                        f"under {TOTAL_TARGET_GIB:g} GiB)")
    print(f"pcapan report counted {streams:,} TCP streams" if streams is not None
          else "pcapan report: stream count not found in its output")
    for line in verdicts:
        print(line)


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
    ap.add_argument("--formats", action="store_true",
                    help="only compare classic pcap, pcapng and gzip pcap (pcapan report, tshark, analyze())")
    ap.add_argument("--syn-flood", type=int, default=0, metavar="N",
                    help="only measure report, streams and check on a capture of N SYNs, N streams")
    ns = ap.parse_args()
    _compiled_bytecode()
    if ns.memory:
        memory(ns.workdir, [int(x) for x in ns.memory.split(",")])
        return 0
    if ns.syn_flood:
        syn_flood(ns.workdir, ns.syn_flood)
        return 0
    with_tshark = not ns.no_tshark and shutil.which("tshark") is not None
    if ns.formats:
        formats(ns.workdir, ns.capture or generated(ns.workdir, ns.packets), ns.repeat, with_tshark)
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
    everything: Runs = {name: (cmd, None) for name, cmd in runs.items()}
    # the format comparison takes its turns in the same rounds; the report and
    # analyze() of the classic pcap are the commands above, timed once a round
    made = format_runs(ns.workdir, capture, with_tshark)
    if made:
        everything.update(made[1])
        for path in made[0].values():
            _warm(path)
    timed(runs["pcapan report"])   # warm the page cache
    samples, failed = in_rounds(everything, ns.repeat)
    results = {name: (statistics.median(r.seconds for r in samples[name]), max(r.rss for r in samples[name]))
               for name in runs}
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
    if made:
        print_formats(made[0], samples, failed, ns.repeat)
    else:
        _not_classic(capture)
    if ns.folder:
        folder_speedup(ns.workdir, ns.folder, ns.folder_packets, ns.repeat)
    if ns.check and shutil.which("tshark"):
        from pcap_analyzer import analyze, tshark
        from pcap_analyzer.report.digest import digest
        version = tshark.release()        # labels as the installed tshark's release gives them
        a = analyze(capture, wireshark=version)
        c = tshark.compare(a.packets, tshark.fields(capture), check_flags=True, release=version)
        print(f"labels vs tshark: {c.describe()}")
        # the report's counts come from the chunked pass, which keeps no frames: the same labels
        os.environ["PCAPAN_WIRESHARK"] = version
        d = digest(capture)
        counted = a.events["label"].astype(str).value_counts()
        shown = dict(zip(d.notable["label"], d.notable["count"]))
        agree = all(counted.get(label, 0) == n for label, n in shown.items()) and \
            set(shown) == set(counted.index) - {"truncated"}
        print(f"report label counts {'agree' if agree else 'DIFFER'} with the frame-by-frame labels: "
              + ", ".join(f"{k} {v}" for k, v in shown.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
