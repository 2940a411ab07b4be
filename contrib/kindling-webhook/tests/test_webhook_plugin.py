"""The plugin through kindling-core: registration, configuration errors, and error reporting."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from webhook_server import Reply, WebhookServer

from kindling_core.errors import SettingsError
from kindling_core.plugins import PluginStatus, load_plugins
from kindling_core.testing import RecordingErrorHandler, make_app, make_config, make_registry
from kindling_webhook import plugin as plugin_module
from kindling_webhook.delivery import WebhookDeliveryError

FAST = {"timeout-seconds": 2.0, "retries": 1, "backoff-seconds": 0.01, "max-delay-seconds": 0.02}


def _config(url: str | None = None, **extra: Any) -> dict[str, Any]:
    settings = {"url": url, **FAST} if url else {}
    return {"settings": {"webhook": settings}, **extra}


def test_unconfigured_plugin_registers_nothing_and_is_healthy() -> None:
    registry = make_registry({"webhook": plugin_module}, config=_config(), include_builtins=False)
    record = registry.plugin("webhook")
    assert record.status is PluginStatus.ACTIVE and record.error is None
    assert record.to_json()["provides"]["error-handlers"] == []
    assert "webhook" not in registry.family("error-handlers").names()
    assert not registry.problems


def test_url_from_environment_registers_the_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINDLING_WEBHOOK_URL", "https://hooks.example.com/k")
    registry = make_registry({"webhook": plugin_module}, config=_config(), include_builtins=False)
    assert registry.plugin("webhook").provides["error-handlers"] == ("webhook",)
    assert "hooks.example.com" in registry.plugin("webhook").descriptions["error-handlers:webhook"]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"timeout-seconds": -1}, "tool.kindling.settings.webhook.timeout-seconds must be a number >= 0, got -1"),
        ({"timeout-seconds": 0}, "tool.kindling.settings.webhook.timeout-seconds must be a positive number (seconds), got 0"),
        ({"retires": 2}, "tool.kindling.settings.webhook.retires is not a setting of plugin webhook (inline). Did you mean 'retries'?"),
    ],
)
def test_bad_settings_stop_the_app_in_lenient_and_strict_mode(table: dict, message: str, strict: bool) -> None:
    config = {"settings": {"webhook": {"url": "https://hooks.example.com/k", **table}}, "plugins": {"strict": strict}}
    with pytest.raises(SettingsError) as info:
        make_app({"webhook": plugin_module}, config=config, include_builtins=False)
    assert str(info.value).startswith(message)
    assert info.value.path.startswith("tool.kindling.settings.webhook.")


def test_bad_settings_fail_the_plugin_where_problems_are_reported() -> None:
    config = make_config({"settings": {"webhook": {"url": "https://hooks.example.com/k", "retries": -1}}})
    registry = load_plugins(config, entry_points=[], inline={"webhook": plugin_module}, raise_config_errors=False).registry
    record = registry.plugin("webhook")
    assert record.status is PluginStatus.FAILED
    assert "tool.kindling.settings.webhook.retries must be an integer >= 0 and <= 20, got -1" in record.error
    (problem,) = registry.problems
    assert problem.plugin == "webhook"


def test_handler_receives_the_declared_defaults() -> None:
    registry = make_registry({"webhook": plugin_module}, config=_config("https://hooks.example.com/k"), include_builtins=False)
    settings = registry.settings_for("webhook")
    assert settings["max-payload-bytes"] == 65_536 and settings["retries"] == 1  # default, configured
    assert registry.plugin("webhook").settings_schema is not None


def test_reported_error_reaches_the_server(server: WebhookServer) -> None:
    with make_app({"webhook": plugin_module}, config=_config(server.url, app="pipelines:app")) as app:
        assert "webhook" in app.registry.family("error-handlers").names()
        app.errors.report(RuntimeError("boom"), source="pipe", subject="silver.orders", attempt=2)
    (request,) = server.wait_for(1)
    doc = request.json()
    assert (doc["source"], doc["subject"], doc["error_type"], doc["message"]) == (
        "pipe",
        "silver.orders",
        "RuntimeError",
        "boom",
    )
    assert doc["context"] == {"attempt": 2} and doc["app"] == "pipelines:app"


def test_webhook_failure_does_not_stop_other_handlers(
    server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Reply(503)
    recorder = RecordingErrorHandler()
    config = _config(server.url, **{"error-handlers": {"order": ["webhook", "recording", "..."]}})
    failures: list[Any] = []
    with make_app({"webhook": plugin_module, "recorder": recorder}, config=config) as app:
        assert app.registry.family("error-handlers").names()[:2] == ("webhook", "recording")
        app.signals.connect("errors.handler_failed", lambda sender, payload: failures.append(payload))
        original = RuntimeError("boom")
        with caplog.at_level(logging.WARNING):
            event = app.errors.report(original, source="pipe", subject="silver.orders")
    assert event.error is original
    assert recorder.errors == [original]  # the handler after the failing webhook still ran
    assert len(server.wait_for(2)) == 2  # one try plus one retry
    (failure,) = failures
    assert failure.handler == "webhook" and isinstance(failure.error, WebhookDeliveryError)
    assert failure.error.status == 503 and failure.event.error is original
    webhook_logs = [r.getMessage() for r in caplog.records if r.name == "kindling.webhook"]
    assert any(server.host in m and "HTTP 503" in m for m in webhook_logs)
