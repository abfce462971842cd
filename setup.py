"""Build of pcapan's compiled stages (Cython, C++); everything else is in pyproject.toml.

The compiled stages are not optional: reading and analysing captures is
done there and nowhere else.  Before anything is compiled this checks that
a C++ compiler and Python's headers are there, and stops with a message
that names what is missing.

The stages' constants (labels, coded values, thresholds, column layouts)
are written into ``pcap_analyzer/_vocabulary.pxi`` from
``pcap_analyzer/vocabulary.py`` and ``pcap_analyzer/columns.py``, which are
the only place they are declared.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "pcap_analyzer")

# (module, sources) of every compiled stage
STAGES = (
    ("pcap_analyzer.capture._framing", ["pcap_analyzer/capture/_framing.pyx"]),
    ("pcap_analyzer.capture._decode", ["pcap_analyzer/capture/_decode.pyx"]),
    ("pcap_analyzer.tcp._flows", ["pcap_analyzer/tcp/_flows.pyx"]),
    ("pcap_analyzer.tcp._sequence", ["pcap_analyzer/tcp/_sequence.pyx"]),
    ("pcap_analyzer.tcp._facts", ["pcap_analyzer/tcp/_facts.pyx"]),
    ("pcap_analyzer.tcp._analysis", ["pcap_analyzer/tcp/_analysis.pyx"]),
    ("pcap_analyzer.report._csv", ["pcap_analyzer/report/_csv.pyx"]),
)

MISSING_COMPILER = """\
pcapan cannot be installed: building its compiled core needs {what}.
Install it and run pip again, e.g. on Debian or Ubuntu: apt-get install -y g++ python3-dev
(on Fedora: dnf install gcc-c++ python3-devel; on macOS: xcode-select --install)."""


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_pcapan_build_{name}", os.path.join(PACKAGE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_constants(path: str) -> None:
    """The compiled stages' constants, from vocabulary.py and columns.py (written only when they change)."""
    vocabulary, columns = _load("vocabulary"), _load("columns")
    lines = ["# Written by setup.py from vocabulary.py and columns.py: edit those, not this.", "cdef enum:"]

    def const(name: str, value: int) -> None:
        lines.append(f"    {name} = {value}")

    for bit, name in enumerate(vocabulary.LABEL_NAMES):
        const(f"LB_{name.upper()}", bit)
        const(f"L_{name.upper()}", 1 << bit)
    const("N_LABELS", len(vocabulary.LABEL_NAMES))
    for prefix, values in (("P_", vocabulary.PROTOS), ("PH_", vocabulary.PHASES), ("V_", vocabulary.VERDICTS),
                           ("FR_", vocabulary.FRAGMENTS), ("M_", vocabulary.LAYERS)):
        for code, value in enumerate(values):
            const(prefix + (value or "none").upper(), code)
    for prefix, names in columns.PREFIXES:
        for i, name in enumerate(names):
            const(prefix + name.upper(), i)
        const(f"N{prefix.rstrip('_')}", len(names))
    for name in vocabulary.COMPILED_CONSTANTS:
        const(name, getattr(vocabulary, name))
    for i, (_name, low, high) in enumerate(vocabulary.EPHEMERAL_RANGES):
        const(f"EPHEMERAL_LOW_{i}", low)
        const(f"EPHEMERAL_HIGH_{i}", high)
    const("WILDCARD_REPLY_PORT", vocabulary.WILDCARD_REPLY_PORTS[0])
    text = "\n".join(lines) + "\n"
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)


def check_compiler() -> None:
    """Stop with a message naming what is missing when the core cannot be compiled here."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    cxx = getattr(compiler, "compiler_cxx", None) or getattr(compiler, "compiler", None) or ["c++"]
    program = cxx[0] if cxx else "c++"
    if shutil.which(program) is None:
        sys.exit(MISSING_COMPILER.format(what=f"a C++ compiler ('{program}' was not found)"))
    include = sysconfig.get_paths().get("include") or ""
    if not os.path.exists(os.path.join(include, "Python.h")):
        sys.exit(MISSING_COMPILER.format(what=f"Python's C headers (no Python.h in {include})"))


def extensions():
    from Cython.Build import cythonize

    write_constants(os.path.join(PACKAGE, "_vocabulary.pxi"))
    modules = [Extension(name, sources, language="c++", extra_compile_args=["-O3"]) for name, sources in STAGES]
    return cythonize(modules, include_path=[PACKAGE], compiler_directives={"language_level": 3})


# Commands that only describe the project need no compiler.
_DESCRIBING = {"egg_info", "dist_info", "sdist", "--version", "--name", "clean"}
if not _DESCRIBING.intersection(sys.argv[1:]):
    check_compiler()
setup(ext_modules=extensions())
