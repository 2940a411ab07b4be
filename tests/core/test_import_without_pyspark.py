"""The core imports, configures, loads plugins and plans without pyspark installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HIDE_PYSPARK = """
import sys, importlib.abc
class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("pyspark", "delta") or name.startswith(("pyspark.", "delta.")):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by test)", name=name)
        return None
sys.meta_path.insert(0, _Hide())
"""


def run_hidden(code: str) -> subprocess.CompletedProcess[str]:
    script = HIDE_PYSPARK + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_import_kindling_core_without_pyspark() -> None:
    result = run_hidden(
        """
        import kindling_core
        assert "pyspark" not in sys.modules
        print(kindling_core.__version__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_app_plugins_and_cli_work_without_pyspark() -> None:
    result = run_hidden(
        """
        from kindling_core import App
        from kindling_core.testing import make_app
        import kindling_core.cli, kindling_core.spark
        app = make_app()
        assert app.registry.family("error-handlers").names()
        assert "pyspark" not in sys.modules, sorted(m for m in sys.modules if "spark" in m)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_has_no_side_effects() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import threading, importlib.metadata as md\n"
            "before = threading.active_count()\n"
            "import kindling_core, kindling_core.app, kindling_core.plugins, kindling_core.signals\n"
            "assert threading.active_count() == before\n"
            "import logging\n"
            "assert not logging.getLogger('kindling').handlers\n"
            "print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
