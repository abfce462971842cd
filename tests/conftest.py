"""Shared fixtures: where the sample captures are, and tshark."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_captures"
SHARED = ROOT.parent / "shared" / "captures"
CAPTURE_EXTS = (".pcap", ".pcapng", ".gz")


def sample_captures() -> list[Path]:
    """Every good sample capture (recorded and crafted; not the broken ones)."""
    out = []
    for p in sorted(SAMPLES.rglob("*")):
        if p.is_file() and p.name.endswith(CAPTURE_EXTS) and "broken" not in p.parts:
            out.append(p)
    return out


def recorded_captures() -> list[Path]:
    return [p for p in sample_captures() if p.parent == SAMPLES]


def broken_captures() -> list[Path]:
    d = SAMPLES / "broken"
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix != ".md") if d.is_dir() else []


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None,
                                  reason="tshark is not installed (apt-get install -y tshark)")


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


def pytest_report_header(config):
    return f"tshark: {shutil.which('tshark') or 'not installed (live tshark tests skip; the recorded ones run)'}; shared captures: {'yes' if SHARED.is_dir() else 'no'}"
