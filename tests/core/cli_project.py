"""A throwaway project for in-process CLI tests: an app module, fake installed plugins, a pyproject.

Module names carry a per-test suffix, so ``sys.modules`` caching cannot hide a bug, and
everything a test imported is forgotten afterwards. Fake plugins are "installed" the way pip
leaves them: a module plus a ``*.dist-info`` folder with ``entry_points.txt`` in a site folder
put on ``sys.path``.
"""

from __future__ import annotations

import logging
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kindling_core.cli import cli

PIPELINE = """
from kindling_core import App

app = App()
app.entity("raw.orders", path="lake/raw/orders")
app.entity("silver.orders", path="lake/silver/orders", merge_keys=["order_id"])


@app.pipe("silver.orders", inputs=["raw.orders"], output="silver.orders", write="merge")
def silver(orders):
    return orders
"""

#: A plugin that fails to import, leaving ``<module>.imported`` behind as proof it was tried
#: (a module that raises on import is not left in ``sys.modules``).
BROKEN_PLUGIN = """
import pathlib

pathlib.Path(__file__).with_suffix(".imported").touch()
raise ImportError("libacme.so not found")
"""


class Project:
    """A project folder (the working directory) and a site folder on ``sys.path``."""

    def __init__(self, root: Path, site: Path, suffix: str) -> None:
        self.root = root
        self.site = site
        self.suffix = suffix

    def module(self, stem: str, source: str, folder: Path | None = None) -> str:
        """Write ``<stem>_<suffix>.py`` (in the project unless ``folder``); return its name."""
        name = f"{stem}_{self.suffix}"
        target = folder or self.root
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        return name

    def path_of(self, module: str, folder: Path | None = None) -> Path:
        return (folder or self.root) / f"{module}.py"

    def pyproject(self, text: str, folder: Path | None = None) -> Path:
        path = (folder or self.root) / "pyproject.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def unload(self) -> None:
        """Forget every module of this project, as a new ``kindling`` process would."""
        for name in [n for n in sys.modules if n.endswith(self.suffix)]:
            del sys.modules[name]

    def imported(self, plugin_module: str) -> bool:
        """Whether the broken plugin's module was imported (once or more) since :meth:`forget`."""
        return (self.site / f"{plugin_module}.imported").exists()

    def forget(self, plugin_module: str) -> None:
        (self.site / f"{plugin_module}.imported").unlink(missing_ok=True)

    def install_plugin(
        self, plugin_id: str = "acme", distribution: str = "acme-kindling", version: str = "1.2.0", source: str = BROKEN_PLUGIN
    ) -> str:
        """Install a plugin distribution; return the name of its module."""
        module = self.module(f"{plugin_id.replace('-', '_')}_plugin", source, self.site)
        info = self.site / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(f"[kindling]\n{plugin_id} = {module}\n", encoding="utf-8")
        return module


def project_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The body of a ``project`` fixture: ``yield from project_in(tmp_path, monkeypatch)``."""
    suffix = re.sub(r"\W", "_", tmp_path.name)
    root, site = tmp_path / "project", tmp_path / "site"
    root.mkdir()
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(root)
    logger = logging.getLogger("kindling")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        yield Project(root, site, suffix)
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved  # the CLI configures it
        Project(root, site, suffix).unload()


def kindling(*args: str, env: dict[str, str] | None = None) -> Result:
    """``kindling ARGS`` in this process (stdout and stderr apart)."""
    return CliRunner().invoke(cli, list(args), env=env)
