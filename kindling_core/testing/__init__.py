"""Helpers for plugin authors' tests (and ours).

Nothing here is loaded automatically. Use the functions directly, or opt in to the pytest
fixtures with ``pytest_plugins = ["kindling_core.testing.pytest_plugin"]`` in a
``conftest.py`` (or ``pytest -p kindling_core.testing.pytest_plugin``).

What is here:

* :func:`make_app` / :func:`make_registry` / :func:`make_config`: an app, a registry or a
  config from kindling's built-in plugins plus exactly the plugins you pass (inline objects by
  id, or :class:`FakeEntryPoint` objects), ignoring whatever else is installed;
* :class:`ScriptedRunner` and :func:`fail`: run a pipeline through the real executor
  (classifiers, retries, failure policies, signals) without Spark, pipe by pipe scripted;
* :class:`RecordingErrorHandler`: an error-handler plugin that keeps every event;
* :func:`plugin_from`: a plugin object from plain hook functions.

``docs/plugins.md`` shows them at work on a complete plugin. Typical use::

    from kindling_core.testing import make_app, RecordingErrorHandler

    def test_my_classifier_runs_first():
        app = make_app({"mine": my_plugin_module},
                       config={"failure-classifiers": {"order": ["mine-rules", "..."]}})
        assert app.registry.family("failure-classifiers").names()[0] == "mine-rules"
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from kindling_core.config import KindlingConfig, parse_config
from kindling_core.hookspecs import ENTRY_POINT_GROUP, hookimpl
from kindling_core.items import ErrorEvent, ErrorHandler
from kindling_core.plugins import Registry, load_plugins

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App

__all__ = [
    "FakeDistribution",
    "FakeEntryPoint",
    "RecordingErrorHandler",
    "builtin_entry_points",
    "make_app",
    "make_config",
    "make_registry",
]


@attrs.frozen
class FakeDistribution:
    """The part of ``importlib.metadata.Distribution`` discovery reads."""

    name: str
    version: str = "1.0.0"


@attrs.frozen
class FakeEntryPoint:
    """An entry point that loads ``target`` (an object, or a zero-argument callable when
    ``call=True``, e.g. one that raises to simulate a broken import)."""

    name: str
    target: Any = attrs.field(eq=False)
    distribution: str | None = "fake-plugin"
    version: str = "1.0.0"
    call: bool = False
    group: str = ENTRY_POINT_GROUP

    @property
    def value(self) -> str:
        return f"fake:{self.name}"

    @property
    def dist(self) -> FakeDistribution | None:
        return FakeDistribution(self.distribution, self.version) if self.distribution else None

    def load(self) -> Any:
        return self.target() if self.call else self.target


def builtin_entry_points() -> list[Any]:
    """The installed entry points of kindling-core's own built-in plugins (no third parties)."""
    return [
        ep
        for ep in md.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name.replace("_", "-").lower() == "kindling-core"
    ]


def make_config(config: KindlingConfig | Mapping[str, Any] | None = None) -> KindlingConfig:
    """A config from a ``[tool.kindling]``-shaped mapping (dash keys), validated like TOML."""
    if isinstance(config, KindlingConfig):
        return config
    return parse_config(dict(config or {}))


def _entry_points(plugins: Mapping[str, Any] | Iterable[Any] | None, include_builtins: bool) -> tuple[list[Any], dict[str, Any]]:
    points: list[Any] = builtin_entry_points() if include_builtins else []
    inline: dict[str, Any] = {}
    if isinstance(plugins, Mapping):
        inline = dict(plugins)
    elif plugins is not None:
        points.extend(plugins)
    return points, inline


def make_registry(
    plugins: Mapping[str, Any] | Iterable[Any] | None = None,
    *,
    config: KindlingConfig | Mapping[str, Any] | None = None,
    include_builtins: bool = True,
) -> Registry:
    """A fresh registry from inline plugin objects (``{"id": obj}``) or fake entry points.

    Installed third-party plugins are ignored; the built-ins are included unless
    ``include_builtins=False``. Requirement problems are recorded, not raised.
    """
    points, inline = _entry_points(plugins, include_builtins)
    return load_plugins(make_config(config), entry_points=points, inline=inline, raise_requirements=False).registry


def make_app(
    plugins: Mapping[str, Any] | Iterable[Any] | None = None,
    *,
    config: KindlingConfig | Mapping[str, Any] | None = None,
    include_builtins: bool = True,
    name: str = "test-app",
    **overrides: Any,
) -> App:
    """A fresh :class:`~kindling_core.app.App` isolated from installed third-party plugins."""
    from kindling_core.app import App

    points, inline = _entry_points(plugins, include_builtins)
    return App(name, config=make_config(config), entry_points=points, plugins=inline, **overrides)


class RecordingErrorHandler:
    """An error-handler plugin that records every :class:`ErrorEvent` it receives.

    Register it as a plugin object: ``make_app({"recorder": recorder})``; read
    ``recorder.events``. ``fail_with`` makes the handler raise (to test isolation).
    """

    def __init__(self, name: str = "recording", *, fail_with: BaseException | None = None):
        self.name = name
        self.events: list[ErrorEvent] = []
        self.fail_with = fail_with

    def handle(self, event: ErrorEvent) -> None:
        self.events.append(event)
        if self.fail_with is not None:
            raise self.fail_with

    @property
    def errors(self) -> list[BaseException]:
        return [event.error for event in self.events]

    @hookimpl
    def kindling_error_handlers(self) -> list[ErrorHandler]:
        return [ErrorHandler(name=self.name, description="records error events for tests", handle=self.handle)]


class ScriptedRunner:
    """A pipe runner that runs no Spark: each pipe's behaviour is scripted per attempt.

    ``ScriptedRunner({"silver.orders": fail(ConnectionError("reset"), times=1)})`` makes that
    pipe fail once, then succeed; pass it as ``app.run(runner=...)`` to test failure policies,
    retries and signals of a pipeline without a JVM. ``calls`` records ``(pipe_id, attempt)``;
    ``cancelled`` the job tags the executor cancelled.
    """

    def __init__(self, script: Mapping[str, Callable[[int, Any], None]] | None = None):
        self.script = dict(script or {})
        self.calls: list[tuple[str, int]] = []
        self.cancelled: list[str] = []
        self.threads: set[str] = set()

    def run_pipe(self, pipe: Any, context: Any) -> None:
        import threading

        self.calls.append((pipe.id, context.attempt))
        self.threads.add(threading.current_thread().name)
        action = self.script.get(pipe.id)
        if action is not None:
            action(context.attempt, context)

    def cancel(self, context: Any) -> None:
        self.cancelled.append(context.tag)


def fail(error: BaseException, times: int | None = None) -> Callable[[int, Any], None]:
    """A :class:`ScriptedRunner` action raising ``error`` on the first ``times`` attempts
    (every attempt when ``times`` is ``None``)."""

    def action(attempt: int, context: Any) -> None:
        if times is None or attempt <= times:
            raise error

    return action


def plugin_from(**hooks: Callable[..., Any]) -> Any:
    """A plugin object from hook functions: ``plugin_from(kindling_error_handlers=fn)``."""
    namespace = {name: staticmethod(hookimpl(fn)) for name, fn in hooks.items()}
    return type("InlinePlugin", (), namespace)()


__all__ += ["plugin_from", "ScriptedRunner", "fail"]
