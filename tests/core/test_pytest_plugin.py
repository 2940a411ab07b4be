"""The opt-in pytest plugin: not loaded by default, works when requested."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TEST_FILE = '''
from kindling_core.testing import RecordingErrorHandler

def test_fixtures(kindling_app_factory, recording_error_handler):
    assert isinstance(recording_error_handler, RecordingErrorHandler)
    app = kindling_app_factory({"rec": recording_error_handler})
    app.errors.report(RuntimeError("boom"), source="pipe", subject="p")
    assert [str(e) for e in recording_error_handler.errors] == ["boom"]
'''


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_uses_fixtures.py").write_text(TEST_FILE, encoding="utf-8")
    (folder / "pyproject.toml").write_text("[tool.kindling]\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(folder)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fixtures_work_when_the_plugin_is_requested(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-p", "kindling_core.testing.pytest_plugin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_plugin_is_not_autoloaded(tmp_path: Path) -> None:
    result = run_pytest(tmp_path)
    assert result.returncode != 0
    assert "fixture 'kindling_app_factory' not found" in result.stdout
