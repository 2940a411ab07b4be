"""Opt-in pytest fixtures for plugin authors.

Enable with ``pytest_plugins = ["kindling_core.testing.pytest_plugin"]`` in a conftest, or
``pytest -p kindling_core.testing.pytest_plugin``. It is not registered as a ``pytest11``
entry point, so it never loads by itself.

Fixtures:

``kindling_app_factory``
    ``kindling_app_factory(plugins=None, config=None, **overrides)`` → a fresh isolated
    :class:`~kindling_core.app.App`; apps are closed after the test.
``recording_error_handler``
    a :class:`~kindling_core.testing.RecordingErrorHandler` to pass as a plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kindling_core.testing import RecordingErrorHandler, make_app


@pytest.fixture
def kindling_app_factory() -> Iterator[Callable[..., Any]]:
    apps: list[Any] = []

    def factory(plugins: Any = None, config: Any = None, **overrides: Any) -> Any:
        app = make_app(plugins, config=config, **overrides)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
def recording_error_handler() -> RecordingErrorHandler:
    return RecordingErrorHandler()
