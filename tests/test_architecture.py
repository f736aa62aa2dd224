"""The package's layers (ARCHITECTURE.md): no module imports a later stage.

Every module of ``walt_bayes`` is parsed with :mod:`ast`; every ``import`` statement counts,
wherever it is (module level, inside functions, under ``if TYPE_CHECKING``).  Imports made by
``importlib.import_module`` (the lazy exports of ``walt_bayes/__init__.py`` and
``walt_bayes/compare/__init__.py``) are not statements and are not counted.

Stages, in order (a module may import its own stage and earlier ones)::

    foundation → sources → panel → spec → model → fit → analyses → api → cli

The known exceptions are :data:`ALLOWED_BACK_EDGES`, each with its reason.  The list can only
shrink: an entry whose import is gone fails the test until it is deleted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "walt_bayes"

STAGES = ("foundation", "sources", "panel", "spec", "model", "fit", "analyses", "api", "cli")

#: Stage of each top-level module or subpackage of walt_bayes ("" is the package itself).
STAGE_OF = {
    "": "foundation",
    "errors": "foundation",
    "atomic": "foundation",
    "paths": "foundation",
    "citation": "foundation",
    "defaults": "foundation",
    "executor": "foundation",  # serial / Dask task runner shared by grid, SBC, k-fold and studies
    "sources": "sources",
    "panel": "panel",
    "spec": "spec",
    "model": "model",
    "fit": "fit",
    "hypotheses": "analyses",
    "compare": "analyses",
    "report": "analyses",
    "calibrate": "analyses",
    "grid": "analyses",
    "scenario": "analyses",
    "export": "analyses",
    "plotting": "analyses",
    "study": "analyses",  # robustness studies: grids of fits and their evidence tables
    "api": "api",
    "cli": "cli",
    "__main__": "cli",
}

#: Imports of a later stage that exist today, (importer, imported) → why.  Remove an entry
#: when its import goes; add one only with a reason the layering cannot express.
ALLOWED_BACK_EDGES: dict[tuple[str, str], str] = {}

#: Modules outside walt_bayes/cli/ allowed to import it: entry points of the command line.
CLI_ENTRY_POINTS = {
    "walt_bayes.__main__": "`python -m walt_bayes` runs the same command as `walt-bayes`",
}


# ------------------------------------------------------------------ the detector
def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``walt_bayes.a.b`` for ``root/a/b.py`` (``root/a/__init__.py`` is ``walt_bayes.a``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([root.name, *parts])


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package: name → file."""
    return {
        module_name(p, root): p
        for p in sorted(root.rglob("*.py"))
        if "__pycache__" not in p.parts and "_bundled" not in p.parts
    }


def stage(module: str) -> str:
    """The stage of a ``walt_bayes`` module (KeyError for a module no stage claims)."""
    parts = module.split(".")
    return STAGE_OF[parts[1] if len(parts) > 1 else ""]


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The ``walt_bayes`` modules an import statement anywhere in ``source`` names.

    Parameters
    ----------
    source : str
        Python source of ``module``.
    module : str
        Its dotted name (resolves relative imports).
    is_package : bool
        Whether it is a package's ``__init__`` (relative imports start at itself).
    known : set of str
        The package's modules: ``from walt_bayes.a import b`` names ``walt_bayes.a.b`` when that
        is a module, else ``walt_bayes.a``.

    Returns
    -------
    set of str
    """
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            if name == "walt_bayes" or name.startswith("walt_bayes."):
                # `import walt_bayes.a.b` names b; an attribute path names its deepest module.
                while name not in known and "." in name:
                    name = name.rpartition(".")[0]
                found.add(name)
    return found


def import_graph(modules: dict[str, str], packages: set[str]) -> dict[str, set[str]]:
    """importer → the modules it imports, for sources given as ``{module: source}``."""
    known = set(modules)
    return {
        name: imported_modules(source, name, name in packages, known) - {name}
        for name, source in modules.items()
    }


def back_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where the imported module belongs to a later stage."""
    return {
        (importer, target)
        for importer, targets in graph.items()
        for target in targets
        if STAGES.index(stage(target)) > STAGES.index(stage(importer))
    }


def cli_importers(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where a module outside ``walt_bayes.cli`` imports it."""
    inside = ("walt_bayes.cli", "walt_bayes.cli.")
    return {
        (importer, target)
        for importer, targets in graph.items()
        if not importer.startswith(inside) and importer != "walt_bayes.cli"
        for target in targets
        if target == "walt_bayes.cli" or target.startswith("walt_bayes.cli.")
    }


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = package_modules()
    packages = {name for name, path in files.items() if path.name == "__init__.py"}
    return import_graph({n: p.read_text(encoding="utf-8") for n, p in files.items()}, packages)


# ------------------------------------------------------------------ the detector can fail
SYNTHETIC = {
    "walt_bayes": "",
    "walt_bayes.panel": "",
    "walt_bayes.panel.columns": "",
    "walt_bayes.panel.early": (
        "from walt_bayes.panel import columns\n"  # same stage: fine
        "def f():\n"
        "    from walt_bayes.model.design import Design\n"  # a function-level back-edge
        "    return Design\n"
    ),
    "walt_bayes.model": "",
    "walt_bayes.model.design": "from ..panel.columns import X\n",  # relative, earlier: fine
    "walt_bayes.hypotheses": "",
    "walt_bayes.hypotheses.effects": "import walt_bayes.cli._common\n",  # reaches into the CLI
    "walt_bayes.cli": "from walt_bayes.cli import _common\n",
    "walt_bayes.cli._common": "from walt_bayes.errors import WaltError\n",
    "walt_bayes.errors": "",
}


def test_the_detector_finds_back_edges_in_synthetic_sources():
    packages = {"walt_bayes", "walt_bayes.panel", "walt_bayes.model", "walt_bayes.hypotheses",
                "walt_bayes.cli"}
    g = import_graph(SYNTHETIC, packages)
    assert g["walt_bayes.model.design"] == {"walt_bayes.panel.columns"}
    assert g["walt_bayes.panel.early"] == {"walt_bayes.panel.columns", "walt_bayes.model.design"}
    assert back_edges(g) == {
        ("walt_bayes.panel.early", "walt_bayes.model.design"),
        ("walt_bayes.hypotheses.effects", "walt_bayes.cli._common"),
    }
    assert cli_importers(g) == {("walt_bayes.hypotheses.effects", "walt_bayes.cli._common")}


# ------------------------------------------------------------------ the package
def test_every_module_has_a_stage(graph):
    unplaced = []
    for name in graph:
        try:
            stage(name)
        except KeyError:
            unplaced.append(name)
    assert not unplaced, f"add these to STAGE_OF (and ARCHITECTURE.md): {unplaced}"


def test_no_module_imports_a_later_stage(graph):
    new = sorted(back_edges(graph) - set(ALLOWED_BACK_EDGES))
    assert not new, "imports of a later stage (see ARCHITECTURE.md):\n" + "\n".join(
        f"  {a} ({stage(a)}) → {b} ({stage(b)})" for a, b in new
    )


def test_every_allowed_back_edge_still_exists(graph):
    gone = sorted(set(ALLOWED_BACK_EDGES) - back_edges(graph))
    assert not gone, f"these back-edges are gone: delete them from ALLOWED_BACK_EDGES: {gone}"


def test_nothing_outside_the_cli_package_imports_it(graph):
    found = sorted((a, b) for a, b in cli_importers(graph) if a not in CLI_ENTRY_POINTS)
    assert not found, f"only walt_bayes/cli/ may import the command line: {found}"
    assert set(CLI_ENTRY_POINTS) <= set(graph), "an entry point in CLI_ENTRY_POINTS is gone"


def test_the_console_script_names_the_cli_entry_point():
    import importlib
    import tomllib

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    target = pyproject["project"]["scripts"]["walt-bayes"]
    module, _, function = target.partition(":")
    assert (module, function) == ("walt_bayes.cli", "main")
    assert callable(getattr(importlib.import_module(module), function))


# ------------------------------------------------------------------ cycles between subpackages
def subpackage(module: str) -> str:
    """``walt_bayes.compare`` for ``walt_bayes.compare.kfold``; the package itself is ``walt_bayes``."""
    return ".".join(module.split(".")[:2])


def subpackage_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more subpackages (Tarjan) in the import graph."""
    edges: dict[str, set[str]] = {}
    for importer, targets in graph.items():
        a = subpackage(importer)
        edges.setdefault(a, set()).update(
            subpackage(t) for t in targets if subpackage(t) not in (a, "walt_bayes")
        )
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_detector_finds_a_cycle():
    g = {"walt_bayes.compare.a": {"walt_bayes.grid.b"}, "walt_bayes.grid.b": {"walt_bayes.compare.c"},
         "walt_bayes.compare.c": set(), "walt_bayes.fit.d": {"walt_bayes.compare.a"}}
    assert subpackage_cycles(g) == [["walt_bayes.compare", "walt_bayes.grid"]]
    g["walt_bayes.grid.b"] = set()
    assert subpackage_cycles(g) == []


def test_no_import_cycle_between_subpackages(graph):
    cycles = subpackage_cycles(graph)
    assert not cycles, f"subpackages that import each other (imports in functions count too): {cycles}"


# ------------------------------------------------------------------ imports inside functions
#: A function-level import is allowed only with a reason on its line (or the line above):
#: ``# lazy: <why>`` — a heavy or optional dependency kept off the import path of light commands.
LAZY_MARK = re.compile(r"#\s*lazy:\s*\S")


def unexplained_function_imports(source: str) -> list[int]:
    """Line numbers of import statements inside functions that carry no ``# lazy:`` reason."""
    lines = source.splitlines()
    bad = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                here = lines[node.lineno - 1]
                above = lines[node.lineno - 2] if node.lineno > 1 else ""
                if not (LAZY_MARK.search(here) or (above.strip().startswith("#") and LAZY_MARK.search(above))):
                    bad.append(node.lineno)
    return sorted(set(bad))


def test_the_lazy_import_rule_can_fail():
    source = (
        "import numpy\n"
        "def f():\n"
        "    import pymc  # lazy: PyMC costs 2 s at start-up\n"
        "    # lazy: matplotlib only for figures\n"
        "    import matplotlib\n"
        "    from walt_bayes import paths\n"
        "    return pymc, matplotlib, paths\n"
    )
    assert unexplained_function_imports(source) == [6]


def test_imports_inside_functions_say_why():
    found = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in package_modules().values()
        if (lines := unexplained_function_imports(path.read_text(encoding="utf-8")))
    }
    assert not found, (
        "imports inside functions without a `# lazy: <reason>` comment (move them to the top of "
        f"the module unless a heavy or optional dependency must stay off the import path): {found}"
    )
