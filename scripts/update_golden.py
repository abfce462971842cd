#!/usr/bin/env python3
"""Regenerate the golden outputs the tests compare against.

    python scripts/update_golden.py

For every sample capture (recorded and crafted) writes, under tests/golden/,
the packets table as CSV and the streams table as JSON, exactly as
``pcapan packets -f csv`` and ``pcapan streams -f json`` print them.  Review
the diff (git diff tests/golden) before committing: every change in it is a
change in what users see.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from conftest import SAMPLES, sample_captures  # noqa: E402

from pcap_analyzer import analyze  # noqa: E402
from pcap_analyzer.report import packets_document, render, streams_document  # noqa: E402

GOLDEN = os.path.join(ROOT, "tests", "golden")


def golden_outputs(path) -> dict[str, str]:
    a = analyze(path)
    return {"packets.csv": render(packets_document(a), "csv", "packets"),
            "streams.json": render(streams_document(a), "json", "streams")}


def golden_name(path, kind: str) -> str:
    rel = path.relative_to(SAMPLES).as_posix().replace("/", "__")
    return os.path.join(GOLDEN, f"{rel}.{kind}")


def main() -> int:
    os.makedirs(GOLDEN, exist_ok=True)
    for path in sample_captures():
        for kind, text in golden_outputs(path).items():
            with open(golden_name(path, kind), "w", newline="") as f:
                f.write(text)
    print(f"wrote golden outputs for {len(sample_captures())} captures into {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
