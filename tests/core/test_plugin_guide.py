"""docs/plugins.md is complete and true: its example plugin is examples/acme-kindling/, every
file of which the guide shows verbatim, and that plugin's own tests pass."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kindling_core.testing import make_app

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "acme-kindling"
BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _generated(part: str) -> bool:
    """Folders an install, a build or a test run leaves in the example."""
    return part in ("__pycache__", "build", ".pytest_cache") or part.endswith(".egg-info")


def example_files() -> dict[str, str]:
    return {
        path.relative_to(EXAMPLE).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file() and not any(_generated(part) for part in path.relative_to(EXAMPLE).parts)
    }


def shown_files() -> dict[str, str]:
    """Code blocks of the guide whose first line is ``# <a file of the example>``."""
    shown: dict[str, str] = {}
    for match in BLOCK.finditer(GUIDE.read_text(encoding="utf-8")):
        body = match.group(1)
        first = body.split("\n", 1)[0]
        if first.startswith("# ") and (EXAMPLE / first[2:].strip()).is_file():
            shown[first[2:].strip()] = body
    return shown


def test_the_guide_shows_every_file_of_the_example_verbatim() -> None:
    files = example_files()
    assert set(files) == {"pyproject.toml", "acme_kindling/__init__.py", "tests/conftest.py", "tests/test_acme.py"}
    shown = shown_files()
    assert set(shown) == set(files), "docs/plugins.md must show every file of examples/acme-kindling"
    for name, text in files.items():
        assert shown[name] == text, f"docs/plugins.md's copy of {name} differs from examples/acme-kindling/{name}"


def test_the_example_plugins_own_tests_pass() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout


def test_the_shipped_entry_point_loads_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    with (EXAMPLE / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    points = project["entry-points"]["kindling"]
    assert points == {"acme": "acme_kindling"}
    monkeypatch.syspath_prepend(str(EXAMPLE))
    app = make_app([md.EntryPoint(name, value, "kindling") for name, value in points.items()])
    record = app.registry.plugin("acme")
    assert record.status.value == "active", record.error
    assert app.registry.family("execution-strategies").names().count("critical-first") == 1
