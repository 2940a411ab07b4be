"""Shared fixtures for planning tests, and the hypothesis profiles.

Profiles (select with ``HYPOTHESIS_PROFILE``; default ``ci``):

* ``ci``: 200 examples per property (the CI gate);
* ``nightly``: 2000 examples per property (run by hand: ``HYPOTHESIS_PROFILE=nightly pytest tests/planning``);
* ``dev``: 50 examples, for quick local iterations.

Deadlines are off: timing varies on shared CI machines and the benchmarks cover speed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[2]


def _ensure_builtin_plugins() -> None:
    """Make ``kindling_plugins`` importable from ``plugins/`` when the package is not installed."""
    if importlib.util.find_spec("kindling_plugins") is not None:
        return
    spec = importlib.util.spec_from_file_location(
        "kindling_plugins", ROOT / "plugins" / "__init__.py", submodule_search_locations=[str(ROOT / "plugins")]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kindling_plugins"] = module
    spec.loader.exec_module(module)


_ensure_builtin_plugins()

from planning_helpers import make_app  # noqa: E402  (after the plugins are importable)


@pytest.fixture
def app():
    """A fresh app with the built-in strategies and cache heuristic only (no entry points)."""
    application = make_app()
    yield application
    application.close()
