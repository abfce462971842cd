"""The layout holds: the core imports neither the reports nor the command line, no import cycle
(imports inside functions included), no source file over 1,000 lines, no class over 300, and the
compiled stages were built from the vocabulary as it stands."""
from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "pcap_analyzer"
# Everything left of the tables, and the tables: reading, analysing, explaining.
CORE = ("vocabulary", "columns", "schema", "capture", "tcp", "pipeline", "tables", "analysis", "explain", "ports",
        "selection", "times")
# What the core may not import, even inside a function.
ABOVE_CORE = ("report", "cli", "check", "batch", "export", "distributed", "annotate")
SOURCES = (".py", ".pyx", ".pxd", ".pxi")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".pyx") and "__pycache__" not in path.parts:
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(name: str, path: Path) -> set[str]:
    """Every pcap_analyzer module *name* imports or cimports, anywhere in it."""
    text = path.read_text()
    found: set[str] = set()
    is_package = path.name.startswith("__init__")
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module) if node.level else node.module
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
    else:
        for m in re.finditer(r"^\s*(?:from\s+(\S+)\s+c?import\s+([\w, ]+)|c?import\s+(\S+))", text, re.M):
            base = m.group(1) or m.group(3)
            found.add(base)
            if m.group(2):
                found.update(f"{base}.{n.strip()}" for n in m.group(2).split(","))
    known = modules()
    # a module's own packages are imported before it anyway: not an edge
    ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
    return {m for m in found if m in known and m != name and m not in ancestors}


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in modules().items()}


def _part(name: str) -> str:
    return name.split(".")[1] if "." in name else ""


def test_the_core_imports_no_report_application_or_command_line():
    wrong = {name: sorted(m for m in deps if _part(m) in ABOVE_CORE)
             for name, deps in graph().items() if _part(name) in CORE}
    wrong = {k: v for k, v in wrong.items() if v}
    assert not wrong, wrong


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(g.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(g):
        if node not in state:
            cycle = visit(node)
            assert cycle is None, " -> ".join(cycle)


def test_the_import_graph_is_read():
    """The check above sees real imports (else it could pass on nothing)."""
    g = graph()
    assert "pcap_analyzer.pipeline" in g["pcap_analyzer.analysis"]
    assert "pcap_analyzer.tcp._flows" in g["pcap_analyzer.tcp._analysis"]
    assert "pcap_analyzer.report.documents" in g["pcap_analyzer.report.digest"]


@pytest.mark.parametrize("path", [p for p in sorted(PACKAGE.rglob("*")) if p.suffix in SOURCES],
                         ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_source_file_over_a_thousand_lines_or_class_over_three_hundred(path):
    lines = path.read_text().split("\n")
    assert len(lines) <= 1000, f"{len(lines)} lines"
    for i, line in enumerate(lines):
        m = re.match(r"(?:cdef )?class (\w+)", line)
        if not m:
            continue
        end = i + 1
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "#"))):
            end += 1
        while end > i and not lines[end - 1].strip():
            end -= 1
        assert end - i <= 300, f"class {m.group(1)}: {end - i} lines"


def test_compiled_stages_were_built_from_the_vocabulary_as_it_stands(tmp_path):
    """The constants the stages were compiled with are what setup.py writes from vocabulary.py and
    columns.py now (else: python setup.py build_ext --inplace)."""
    spec = importlib.util.spec_from_file_location("pcapan_setup_constants", ROOT / "setup.py")
    source = (ROOT / "setup.py").read_text()
    # only the function that writes the constants, not the build itself
    tree = ast.parse(source)
    wanted = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
              or (isinstance(n, ast.FunctionDef) and n.name in ("write_constants", "_load"))
              or (isinstance(n, ast.Assign) and any(getattr(t, "id", "") in ("HERE", "PACKAGE") for t in n.targets))]
    namespace = {"__file__": str(ROOT / "setup.py")}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(ROOT / "setup.py"), "exec"), namespace)
    del spec
    fresh = tmp_path / "constants.pxi"
    namespace["write_constants"](str(fresh))
    built = PACKAGE / "_vocabulary.pxi"
    assert built.exists(), "the compiled stages are not built (pip install -e .)"
    assert fresh.read_text() == built.read_text(), "vocabulary.py or columns.py changed: rebuild"
