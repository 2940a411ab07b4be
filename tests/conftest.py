"""Shared test configuration.

Tests never depend on the plugins installed in the environment: build apps and registries
with :mod:`kindling_core.testing` (built-ins plus explicit plugins). The environment variables
that change plugin loading are cleared for every test.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_kindling_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KINDLING_DISABLE_PLUGIN_AUTOLOAD", "KINDLING_DISABLE_PLUGINS", "KINDLING_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
