"""Shared test configuration.

Tests never depend on the plugins installed in the environment: build apps and registries
with :mod:`kindling_core.testing` (built-ins plus explicit plugins). The environment variables
that change plugin loading are cleared for every test.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_kindling_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KINDLING_DISABLE_PLUGIN_AUTOLOAD", "KINDLING_DISABLE_PLUGINS", "KINDLING_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stray_sigints() -> Iterator[list[int]]:
    """For tests that press Ctrl-C: make SIGINT deliverable (CI may start the suite in the
    background, with SIGINT ignored, which kindling rightly leaves alone) and record any SIGINT
    that reaches this handler instead of kindling's (the list should stay empty), so a missing
    kindling handler fails the test instead of aborting the pytest session."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)
