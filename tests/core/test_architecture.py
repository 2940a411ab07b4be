"""docs/architecture.md is true of the code.

* the layer table (between ``<!-- layers`` markers) assigns every ``kindling_core`` module to
  one layer, and module-level imports only go to the same or a lower layer;
* nothing outside ``kindling_core/spark/`` imports pyspark, py4j or delta; inside it, only
  inside functions; only the modules in :data:`SPARK_CALLERS` import ``kindling_core.spark``, and
  only inside functions (planning and execution never do);
* ``import kindling_core`` loads none of the heavy parts;
* the exception tree in the doc is the one generated from the code;
* every relative link, repo path and ``kindling_core`` dotted name cited in the docs, the README
  and the code's docstrings exists; nothing cites material outside the repository.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindling_core.error_tree import BEGIN, END, exception_classes, render_exception_tree

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SPARK_LIBRARIES = ("pyspark", "py4j", "delta")
#: The only modules outside kindling_core/spark/ that may import kindling_core.spark, and then
#: only inside functions (docs/architecture.md, "The Spark boundary").
SPARK_CALLERS = {"kindling_core/app.py", "kindling_core/cli/run_cmd.py"}


# ------------------------------------------------------------------------------ imports


def core_modules() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kindling_core").rglob("*.py") if "__pycache__" not in p.parts)


def module_name(rel: str) -> str:
    parts = Path(rel).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(rel: str) -> Iterator[tuple[str, int, bool]]:
    """``(imported module or module.name, line, at module level)`` for every runtime import
    (imports under ``if TYPE_CHECKING:`` are skipped; relative imports are resolved)."""
    package = module_name(rel) if rel.endswith("__init__.py") else module_name(rel).rpartition(".")[0]

    def visit(nodes: list[ast.AST], top: bool) -> Iterator[tuple[str, int, bool]]:
        for child in nodes:
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from visit(list(child.orelse), top)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, top
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(anchor + ([child.module] if child.module else []))
                yield base, child.lineno, top
                for alias in child.names:
                    yield f"{base}.{alias.name}", child.lineno, top
            else:  # a class body runs at import time; a function body does not
                inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                yield from visit(list(ast.iter_child_nodes(child)), inner)

    yield from visit(list(ast.parse((ROOT / rel).read_text(encoding="utf-8")).body), True)


def path_of(module: str) -> str | None:
    for candidate in (ROOT / (module.replace(".", "/") + ".py"), ROOT / module.replace(".", "/") / "__init__.py"):
        if candidate.is_file():
            return str(candidate.relative_to(ROOT))
    return None


# ------------------------------------------------------------------------------ layers


def layer_table() -> list[tuple[int, str, list[str]]]:
    """``(rank, layer, module paths)`` rows of the doc's layer table."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- layers:begin -->", 1)[1].split("<!-- layers:end -->", 1)[0]
    rows = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            rows.append((int(cells[0]), cells[1], re.findall(r"`(kindling_core/[^`]*)`", cells[2])))
    return rows


def layer_of(rel: str, table: list[tuple[int, str, list[str]]]) -> tuple[int, str] | None:
    best: tuple[int, int, str] | None = None
    for rank, layer, paths in table:
        for path in paths:
            if rel == path or (path.endswith("/") and rel.startswith(path)):
                if best is None or len(path) > best[1]:
                    best = (rank, len(path), layer)
    return None if best is None else (best[0], best[2])


def test_the_layer_table_covers_every_module_and_cites_real_paths() -> None:
    table = layer_table()
    assert [rank for rank, _, _ in table] == list(range(len(table))), "layers are numbered 0, 1, 2, ... in order"
    for _, layer, paths in table:
        for path in paths:
            assert (ROOT / path).exists(), f"layer {layer!r} of docs/architecture.md names {path}, which does not exist"
    unassigned = [rel for rel in core_modules() if layer_of(rel, table) is None]
    assert not unassigned, f"add these modules to a layer in docs/architecture.md's layer table: {unassigned}"


def test_module_level_imports_go_down_the_layers() -> None:
    table = layer_table()
    upward = []
    for rel in core_modules():
        rank, layer = layer_of(rel, table) or (None, "")
        for module, line, top in imports(rel):
            target = path_of(module) if module.startswith("kindling_core") else None
            target_layer = layer_of(target, table) if target else None
            if top and rank is not None and target_layer is not None and target_layer[0] > rank:
                upward.append(f"{rel}:{line} ({layer}) imports {module} ({target_layer[1]})")
    assert not upward, "module-level imports into a higher layer (import inside the function instead, or move the code):\n" + "\n".join(
        upward
    )


def test_spark_stays_behind_the_spark_boundary() -> None:
    problems = []
    for rel in core_modules():
        inside = rel.startswith("kindling_core/spark/")
        for module, line, top in imports(rel):
            root = module.split(".")[0]
            if root in SPARK_LIBRARIES and (not inside or top):
                problems.append(f"{rel}:{line} imports {module}" + (" at module level" if inside else ""))
            if module.startswith("kindling_core.spark") and not inside and (rel not in SPARK_CALLERS or top):
                problems.append(f"{rel}:{line} imports {module}" + (" at module level" if top else ""))
    assert not problems, "docs/architecture.md, 'The Spark boundary':\n" + "\n".join(problems)


def test_planning_and_execution_never_mention_the_spark_package_in_imports() -> None:
    for rel in core_modules():
        if rel.startswith(("kindling_core/planning/", "kindling_core/execution/")):
            found = [m for m, _, _ in imports(rel) if m.startswith("kindling_core.spark") or m.split(".")[0] in SPARK_LIBRARIES]
            assert not found, f"{rel} imports {found}"


def test_importing_kindling_core_stays_cheap() -> None:
    heavy = ["pyspark", "py4j", "delta", "blinker", "networkx", "click"] + [
        f"kindling_core.{name}" for name in ("app", "plugins", "signals", "model", "planning", "execution", "spark", "cli")
    ]
    code = f"import sys, kindling_core; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"`import kindling_core` loaded {result.stdout.strip()}"


# ------------------------------------------------------------------------------ exceptions


def test_the_exception_tree_in_the_doc_is_generated_from_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/architecture.md lost its exception-tree markers"
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == render_exception_tree().strip(), "the exception tree is stale: run `python -m kindling_core.docgen`"


def test_every_exception_class_is_documented_and_in_the_tree() -> None:
    tree = render_exception_tree()
    for cls in exception_classes():
        assert cls.__dict__.get("__doc__"), f"{cls.__module__}.{cls.__qualname__} has no docstring"
        assert f"`{cls.__name__}`" in tree, f"{cls.__qualname__} is missing from the rendered tree"


# ------------------------------------------------------------------------------ citations

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
CODE = sorted(p for folder in ("kindling_core", "plugins", "benchmarks", "scripts") for p in (ROOT / folder).rglob("*.py"))
TOP_LEVEL = ("kindling_core/", "plugins/", "contrib/", "examples/", "tests/", "docs/", "benchmarks/", "scripts/", ".ci/")
ROOT_FILES = {"pyproject.toml", "Makefile", "README.md"}
#: Citations of material outside the repository (the design brief, its source documents).
FOREIGN = re.compile(r"ARCHITECTURE\.md|\.\./shared|\bthe seed\b|\bseed's\b|(?i:\bthe (?:design )?evaluation\b)")
KNOWN_FOREIGN: set[str] = set()


def strip_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def cited_paths(text: str) -> set[str]:
    """Repo paths in inline code (markdown backticks, RST double backticks) and plain prose."""
    found = set()
    prose = r"(?<![\w/.])((?:" + "|".join(map(re.escape, TOP_LEVEL)) + r")[\w./-]+)"
    for token in re.findall(r"`+([^`\n]+)`+", text) + re.findall(prose, text):
        token = token.strip().split("::")[0].rstrip(".,:;)")
        if any(ch in token for ch in "<>*{} ") or "..." in token:
            continue
        if token.startswith(TOP_LEVEL) or token in ROOT_FILES:
            found.add(token)
    return found


def test_relative_links_in_the_docs_exist() -> None:
    missing = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", strip_fences(doc.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            if not (doc.parent / target.split("#")[0]).resolve().exists():
                missing.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not missing, "broken relative links:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", DOCS + CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_repo_paths_exist(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    text = strip_fences(text) if path.suffix == ".md" else text
    missing = sorted(p for p in cited_paths(text) if not (ROOT / p).exists())
    assert not missing, f"{path.relative_to(ROOT)} cites paths that do not exist: {missing}"


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_dotted_names_in_the_docs_exist(doc: Path) -> None:
    names = set(re.findall(r"`(kindling_(?:core|plugins)(?:\.\w+)+)", strip_fences(doc.read_text(encoding="utf-8"))))
    missing = sorted(name for name in names if not resolves(name))
    assert not missing, f"{doc.relative_to(ROOT)} names what does not exist: {missing}"


def test_nothing_cites_material_outside_the_repository() -> None:
    offenders = set()
    for path in DOCS + CODE + sorted((ROOT / "tests").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel != "tests/core/test_architecture.py" and FOREIGN.search(path.read_text(encoding="utf-8")):
            offenders.add(rel)
    assert offenders - KNOWN_FOREIGN == set(), "cite files of this repository instead (docs/architecture.md...)"
    assert KNOWN_FOREIGN - offenders == set(), "fixed: remove these from KNOWN_FOREIGN"
