"""Apps own their state: two apps in one process do not see each other."""

from __future__ import annotations

import pytest

from kindling_core import ErrorHandler
from kindling_core.errorhandling import ERROR_REPORTED
from kindling_core.errors import PluginError
from kindling_core.testing import RecordingErrorHandler, make_app, plugin_from


def test_two_apps_are_isolated() -> None:
    first_recorder = RecordingErrorHandler()
    first = make_app({"rec": first_recorder})
    second = make_app()
    seen_first, seen_second = [], []
    first.signals.connect(ERROR_REPORTED, lambda s, payload: seen_first.append(payload))
    second.signals.connect(ERROR_REPORTED, lambda s, payload: seen_second.append(payload))
    second.errors.report(RuntimeError("only second"), source="pipe", subject="p")
    assert seen_first == [] and first_recorder.events == []
    assert len(seen_second) == 1
    assert "recording" in first.registry.family("error-handlers").names()
    assert "recording" not in second.registry.family("error-handlers").names()


def test_configure_hook_gets_signals_and_settings() -> None:
    received = {}

    def configure(signals, settings):
        received["settings"] = dict(settings)
        signals.connect(ERROR_REPORTED, lambda s, payload: received.setdefault("events", []).append(payload.subject))

    app = make_app({"observer": plugin_from(kindling_configure=configure)}, config={"settings": {"observer": {"k": 1}}})
    app.errors.report(RuntimeError("x"), source="pipe", subject="silver.orders")
    assert received == {"settings": {"k": 1}, "events": ["silver.orders"]}


def test_configure_failure_is_attributed_lenient_and_fatal_strict() -> None:
    def configure():
        raise RuntimeError("no credentials")

    recorder = RecordingErrorHandler()
    app = make_app({"observer": plugin_from(kindling_configure=configure), "rec": recorder})
    [problem] = app.configure_problems
    assert "observer (inline)" in str(problem) and "no credentials" in str(problem)
    assert recorder.errors == [problem]
    with pytest.raises(PluginError, match="observer"):
        make_app({"observer": plugin_from(kindling_configure=configure)}, config={"plugins": {"strict": True}})


def test_app_repr_and_context_manager() -> None:
    with make_app() as app:
        assert "error-handlers" in repr(app)


def test_app_overrides_are_validated() -> None:
    from kindling_core.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy"):
        make_app(strategi="batch")
    app = make_app(error_handlers={"disable": ["log"]})
    assert app.registry.family("error-handlers").names() == ("signal",)


def test_handler_item_validation_happens_at_construction() -> None:
    with pytest.raises(ValueError, match="invalid ErrorHandler name"):
        ErrorHandler(name="_x", description="d", handle=print)
    with pytest.raises(ValueError, match="non-empty"):
        ErrorHandler(name="x", description=" ", handle=print)
    with pytest.raises(TypeError, match="callable"):
        ErrorHandler(name="x", description="d", handle="print")  # type: ignore[arg-type]
