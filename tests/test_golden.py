"""Outputs on every sample capture equal the reviewed golden files.

Regenerate them with ``python scripts/update_golden.py`` after an intended
change, and review the diff.
"""
from __future__ import annotations

import importlib.util
import os

import pytest

from conftest import ROOT, sample_captures

_spec = importlib.util.spec_from_file_location("update_golden", ROOT / "scripts" / "update_golden.py")
update_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(update_golden)


@pytest.mark.parametrize("path", sample_captures(), ids=lambda p: p.name)
def test_outputs_match_golden(path):
    for kind, text in update_golden.golden_outputs(path).items():
        golden = update_golden.golden_name(path, kind)
        assert os.path.exists(golden), f"no golden file {golden}: run python scripts/update_golden.py"
        with open(golden, newline="") as f:
            expected = f.read()
        if text != expected:
            got_lines, want_lines = text.splitlines(), expected.splitlines()
            first = next((i for i, (a, b) in enumerate(zip(got_lines, want_lines)) if a != b),
                         min(len(got_lines), len(want_lines)))
            pytest.fail(f"{os.path.basename(golden)} differs from line {first + 1}: "
                        f"got {got_lines[first:first + 1]} want {want_lines[first:first + 1]}")
