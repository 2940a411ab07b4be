"""The third-party path end to end: wheels → a fresh venv → ``kindling plugins list/check``.

What it proves: kindling-core installed from its **wheel** (not the editable checkout) finds
the kindling-webhook **wheel**'s entry point, attributes it to its distribution, loads it
with its settings from the working directory's ``pyproject.toml``, and honours
``KINDLING_DISABLE_PLUGINS``.

How it stays fast and offline:

* **Sources are copied** to a temporary folder before building, so building never writes
  ``build/`` or ``*.egg-info`` into the checkout that other work is using.
* **Wheels are built by this interpreter's pip** with ``pip wheel --no-deps``. When this
  environment already satisfies both projects' ``[build-system] requires`` (and can make
  wheels: setuptools >= 70.1, or setuptools plus ``wheel``) the build runs with
  ``--no-build-isolation --no-index`` and needs no network; otherwise pip builds in its
  usual isolated environment, which fetches the build backend from the package index.
* **Runtime dependencies are not downloaded.** The venv is created ``--without-pip`` and the
  two wheels are installed into it by this interpreter's pip (``pip --python VENV install
  --no-deps --no-index``). kindling-core's dependencies (pluggy, blinker, ...) are resolved
  from its metadata *in this environment*; their top-level import packages and
  ``.dist-info`` folders are symlinked into one folder that a ``.pth`` file puts on the
  venv's path. Nothing else of this environment is visible there: not its editable
  kindling-core, not its editable kindling-webhook (either would make the entry points
  ambiguous). A ``.pth`` onto the whole of this environment's site-packages was rejected
  for exactly that reason.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WEBHOOK = REPO / "contrib" / "kindling-webhook"
URL = "http://127.0.0.1:9/kindling"  # never contacted: listing plugins posts nothing
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", "tests", ".*")


# ----------------------------------------------------------------------------- building


def _copy_sources(project: Path, dest: Path) -> Path:
    """Copy the top-level files and the package folders ``pyproject.toml`` names."""
    dest.mkdir(parents=True)
    setuptools_cfg = tomllib.loads((project / "pyproject.toml").read_text())["tool"].get("setuptools", {})
    roots = {str(p).split("/")[0] for p in setuptools_cfg.get("package-dir", {}).values()}
    roots |= {p.split(".")[0] for p in setuptools_cfg.get("packages", []) if p.split(".")[0] not in setuptools_cfg.get("package-dir", {})}
    for entry in project.iterdir():
        if entry.is_file():
            shutil.copy2(entry, dest / entry.name)
        elif entry.name in roots:
            shutil.copytree(entry, dest / entry.name, ignore=_SKIP)
    return dest


def _installed(requirement: str) -> bool:
    req = Requirement(requirement)
    if req.marker is not None and not req.marker.evaluate():
        return True
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        return False
    return req.specifier.contains(version, prereleases=True)


def _can_build_offline(projects: Iterable[Path]) -> bool:
    """Whether this environment has every build requirement and can produce wheels."""
    for project in projects:
        requires = tomllib.loads((project / "pyproject.toml").read_text())["build-system"]["requires"]
        if not all(_installed(r) for r in requires):
            return False
    try:
        bundled_bdist_wheel = Version(md.version("setuptools")) >= Version("70.1")
    except md.PackageNotFoundError:
        return False
    return bundled_bdist_wheel or _installed("wheel")


def _build_wheels(projects: list[Path], out: Path) -> list[Path]:
    offline = _can_build_offline(projects)
    flags = ["--no-build-isolation", "--no-index"] if offline else []
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), *flags, *map(str, projects)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"building wheels failed ({'offline' if offline else 'isolated build: needs the package index'}):\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return sorted(out.glob("*.whl"))


# ------------------------------------------------------------------------ dependencies


def _closure(roots: Iterable[str]) -> list[md.Distribution]:
    """Installed distributions needed at run time by ``roots`` (markers evaluated, no extras)."""
    environment = dict(default_environment(), extra="")
    seen: dict[str, md.Distribution] = {}
    todo = [canonicalize_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        dist = md.distribution(name)
        seen[name] = dist
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(environment):
                todo.append(canonicalize_name(req.name))
    return list(seen.values())


def _top_level_entries(dist: md.Distribution) -> set[str]:
    entries = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
    return {e for e in entries if e != "__pycache__" and not e.endswith(".pth")}


def _link_dependencies(target_python: Path, deps_dir: Path) -> list[str]:
    """Symlink kindling-core's runtime dependencies into ``deps_dir`` and put it on the path
    of ``target_python`` through a ``.pth`` file; return the distributions linked."""
    deps_dir.mkdir()
    linked = []
    for dist in _closure(["kindling-core"]):
        if canonicalize_name(dist.metadata["Name"]) == "kindling-core":
            continue  # it comes from its wheel
        site = Path(str(dist.locate_file("")))
        for entry in _top_level_entries(dist):
            (deps_dir / entry).symlink_to(site / entry)
        linked.append(dist.metadata["Name"])
    purelib = subprocess.run(
        [str(target_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    Path(purelib, "_kindling_test_deps.pth").write_text(f"{deps_dir}\n")
    return sorted(linked)


# --------------------------------------------------------------------------- the venv


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("webhook-install")
    wheels = _build_wheels(
        [_copy_sources(REPO, root / "src" / "kindling-core"), _copy_sources(WEBHOOK, root / "src" / "kindling-webhook")],
        root / "wheels",
    )
    names = sorted(w.name.split("-")[0] for w in wheels)
    assert names == ["kindling_core", "kindling_webhook"], wheels
    env_dir = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    linked = _link_dependencies(python, root / "deps")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", *map(str, wheels)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    project = root / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "demo-pipelines"\nversion = "0.0.0"\n\n'
        f'[tool.kindling.settings.webhook]\nurl = "{URL}"\nretries = 1\n'
    )
    return {"bin": bindir, "python": python, "project": project, "root": root, "linked": linked}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KINDLING_", "PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def _run(venv: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv["bin"] / "kindling"), *args],
        cwd=venv["project"], env=_env(**env), capture_output=True, text=True, timeout=60,
    )


def _listing(venv: dict[str, Any], *args: str, **env: str) -> dict[str, dict[str, Any]]:
    result = _run(venv, *args, "plugins", "list", "--json", **env)
    assert result.returncode == 0, result.stderr
    return {entry["id"]: entry for entry in json.loads(result.stdout)}


# ----------------------------------------------------------------------------- tests


def test_kindling_core_comes_from_the_wheel(venv: dict[str, Any]) -> None:
    code = "import kindling_core, kindling_webhook; print(kindling_core.__file__); print(kindling_webhook.__file__)"
    result = subprocess.run([str(venv["python"]), "-c", code], capture_output=True, text=True, env=_env(), cwd=venv["project"])
    assert result.returncode == 0, result.stderr
    for line in result.stdout.split():
        assert Path(line).is_relative_to(venv["root"] / "venv"), line
    assert "pluggy" in venv["linked"] and "kindling-core" not in venv["linked"]


def test_plugins_list_shows_the_installed_webhook(venv: dict[str, Any]) -> None:
    webhook = _listing(venv)["webhook"]
    assert webhook["distribution"] == "kindling-webhook"
    assert webhook["version"] == "0.1.0"
    assert webhook["status"] == "active", webhook["error"]
    assert webhook["error"] is None
    assert webhook["provides"]["error-handlers"] == ["webhook"]


def test_plugins_check_passes(venv: dict[str, Any]) -> None:
    result = _run(venv, "plugins", "check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_disabled_through_the_environment(venv: dict[str, Any]) -> None:
    webhook = _listing(venv, KINDLING_DISABLE_PLUGINS="webhook")["webhook"]
    assert webhook["status"] == "disabled"
    assert webhook["provides"]["error-handlers"] == []


def test_unconfigured_is_active_and_provides_nothing(venv: dict[str, Any], tmp_path: Path) -> None:
    bare = tmp_path / "pyproject.toml"
    bare.write_text('[project]\nname = "bare"\nversion = "0"\n')
    webhook = _listing(venv, "--config", str(bare))["webhook"]
    assert webhook["status"] == "active" and webhook["provides"]["error-handlers"] == []


def test_bad_settings_fail_check_naming_the_key(venv: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "pyproject.toml"
    bad.write_text(f'[tool.kindling.settings.webhook]\nurl = "{URL}"\nretries = -1\n')
    result = _run(venv, "--config", str(bad), "plugins", "check")
    assert result.returncode != 0
    assert "webhook (kindling-webhook 0.1.0)" in result.stderr
    assert "tool.kindling.settings.webhook.retries must be an integer >= 0" in result.stderr
