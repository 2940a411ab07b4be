"""The ``kindling`` CLI, run as a real subprocess against really installed (fake) plugins.

A fake plugin is "installed" by writing a ``*.dist-info`` folder with ``entry_points.txt``
into a temporary site folder on ``PYTHONPATH`` — exactly what pip leaves behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FAMILY_KEYS = {
    "execution-strategies",
    "cache-heuristics",
    "failure-classifiers",
    "recovery-strategies",
    "change-detectors",
    "error-handlers",
}


def install_fake(site: Path, distribution: str, version: str, plugin_id: str, module: str, source: str) -> None:
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[kindling]\n{plugin_id} = {module}\n", encoding="utf-8")


def kindling(args: list[str], cwd: Path, site: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KINDLING_")}
    if site is not None:
        environment["PYTHONPATH"] = str(site) + os.pathsep + environment.get("PYTHONPATH", "")
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kindling_core", *args], cwd=cwd, capture_output=True, text=True, env=environment, timeout=120
    )


GOOD = """
from kindling_core import ErrorHandler, hookimpl

@hookimpl
def kindling_error_handlers():
    return [ErrorHandler(name="pager", description="page someone", handle=lambda event: None)]
"""

BROKEN = """
raise ImportError("libpager.so not found")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.kindling]\n", encoding="utf-8")
    return tmp_path


def test_plugins_list_json_shape(project: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "acme-pager", "1.4.0", "pager", "acme_pager", GOOD)
    result = kindling(["plugins", "list", "--json"], project, site)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)  # machine-clean: nothing else on stdout
    assert all(set(row) == {"id", "distribution", "version", "status", "provides", "error"} for row in rows)
    assert all(set(row["provides"]) == FAMILY_KEYS for row in rows)
    pager = next(row for row in rows if row["id"] == "pager")
    assert pager == {
        "id": "pager",
        "distribution": "acme-pager",
        "version": "1.4.0",
        "status": "active",
        "provides": {key: (["pager"] if key == "error-handlers" else []) for key in FAMILY_KEYS},
        "error": None,
    }
    strategies = next(row for row in rows if row["id"] == "strategies")
    assert strategies["distribution"] == "kindling-core"


def test_plugins_list_human_and_verbose(project: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "acme-pager", "1.4.0", "pager", "acme_pager", GOOD)
    result = kindling(["plugins", "list", "--verbose"], project, site)
    assert result.returncode == 0, result.stderr
    assert "error-handlers: pager - page someone" in result.stdout
    assert "failure-classifiers [chain]:" in result.stdout


def test_broken_plugin_listed_as_failed_and_check_fails(project: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "acme-broken", "0.9.0", "broken", "acme_broken", BROKEN)
    listing = kindling(["plugins", "list", "--json"], project, site)
    assert listing.returncode == 0, listing.stderr
    broken = next(row for row in json.loads(listing.stdout) if row["id"] == "broken")
    assert broken["status"] == "failed"
    assert "broken (acme-broken 0.9.0)" in broken["error"] and "libpager.so" in broken["error"]
    check = kindling(["plugins", "check"], project, site)
    assert check.returncode == 1
    assert "broken (acme-broken 0.9.0)" in check.stderr
    disabled = kindling(["plugins", "check"], project, site, env={"KINDLING_DISABLE_PLUGINS": "broken"})
    assert disabled.returncode == 0, disabled.stderr
    flag = kindling(["--disable-plugin", "broken", "plugins", "list", "--json"], project, site)
    assert next(r for r in json.loads(flag.stdout) if r["id"] == "broken")["status"] == "disabled"


def test_check_fails_for_missing_required_plugin(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.kindling.plugins]\nrequire = ['pager>=2']\n")
    result = kindling(["plugins", "check"], project)
    assert result.returncode == 1
    assert "required plugin 'pager>=2'" in result.stderr


def test_check_passes_on_a_clean_install(project: Path) -> None:
    result = kindling(["plugins", "check"], project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")


def test_config_errors_are_reported_without_traceback(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.kindling.plugins]\ndisable = ['strategys']\n")
    result = kindling(["plugins", "list"], project)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown plugin 'strategys'")
    assert "Traceback" not in result.stderr
    bad = project / "bad.toml"
    bad.write_text("[tool.kindling\n")
    result = kindling(["--config", str(bad), "plugins", "list"], project)
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_signals_list_json(project: Path) -> None:
    result = kindling(["signals", "list", "--json"], project)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = [row["name"] for row in rows]
    assert names == sorted(names)
    assert "errors.error_reported" in names
    row = next(r for r in rows if r["name"] == "errors.error_reported")
    assert row["payload"] == "ErrorEvent" and "error" in row["fields"]


def test_version_lists_active_plugins(project: Path) -> None:
    result = kindling(["--version"], project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kindling-core 0.1.0")
    assert "strategies (kindling-core 0.1.0)" in result.stdout
