"""Installing without a C++ compiler stops at once and says what is missing."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import ROOT


def test_no_compiler_is_named_before_anything_is_built(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "*.so", "*.cpp", "build",
                                                              "sample_captures", "tests", "benchmarks"))
    env = dict(os.environ, CC="/nonexistent/cc", CXX="/nonexistent/c++")
    r = subprocess.run([sys.executable, "setup.py", "build_ext"], cwd=copy, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0
    message = r.stderr + r.stdout
    assert "pcapan cannot be installed" in message and "C++ compiler" in message, message
    assert "/nonexistent/c++" in message and "apt-get install -y g++" in message, message
    assert not list((copy / "pcap_analyzer").rglob("*.cpp")), "compiled before checking for a compiler"


def test_with_a_compiler_the_check_lets_the_build_go_on():
    """The same check passes on this machine (so the test above fails for the right reason)."""
    code = ("import ast, sys; tree = ast.parse(open('setup.py').read());"
            "body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))"
            " or (isinstance(n, ast.Assign)) or (isinstance(n, ast.FunctionDef) and n.name == 'check_compiler')];"
            "ns = {'__file__': 'setup.py'}; exec(compile(ast.Module(body=body, type_ignores=[]), 'setup.py', 'exec'), ns);"
            "ns['check_compiler'](); print('compiler found')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "compiler found" in r.stdout
