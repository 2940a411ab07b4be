"""Error handlers: every enabled handler runs; a failing one never masks the error."""

from __future__ import annotations

import logging

import pytest

from kindling_core.errorhandling import ERROR_REPORTED, HANDLER_FAILED
from kindling_core.testing import RecordingErrorHandler, make_app


def test_builtin_log_handler_logs_under_kindling(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    error = ValueError("bad row")
    with caplog.at_level(logging.ERROR, logger="kindling"):
        app.errors.report(error, source="pipe", subject="silver.orders", attempt=2)
    [record] = [r for r in caplog.records if r.name == "kindling.pipe"]
    assert "silver.orders" in record.getMessage() and "bad row" in record.getMessage()
    assert "attempt=2" in record.getMessage()
    assert record.exc_info[1] is error


def test_builtin_signal_handler_emits_error_reported() -> None:
    app = make_app()
    seen = []
    app.signals.connect(ERROR_REPORTED, lambda sender, payload: seen.append(payload))
    error = RuntimeError("x")
    app.errors.report(error, source="pipe", subject="gold.sales")
    assert [(p.error, p.source, p.subject) for p in seen] == [(error, "pipe", "gold.sales")]


def test_all_enabled_handlers_run_and_a_failing_one_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    failing = RecordingErrorHandler("failing", fail_with=OSError("pager down"))
    after = RecordingErrorHandler("after")
    app = make_app(
        {"failing": failing, "after": after},
        config={"error-handlers": {"order": ["failing", "..."]}},
    )
    assert app.registry.family("error-handlers").names() == ("failing", "log", "signal", "after")
    failures = []
    app.signals.connect(HANDLER_FAILED, lambda sender, payload: failures.append(payload))
    original = KeyError("missing")
    with caplog.at_level(logging.ERROR, logger="kindling"):
        event = app.errors.report(original, source="pipe", subject="p")
    assert event.error is original  # never masked
    assert failing.errors == [original] and after.errors == [original]
    assert [(f.handler, type(f.error)) for f in failures] == [("failing", OSError)]
    assert any("error handler 'failing' failed" in r.getMessage() and "pager down" in r.getMessage() for r in caplog.records)


def test_disabled_handler_does_not_run() -> None:
    recorder = RecordingErrorHandler("rec")
    app = make_app({"rec": recorder}, config={"error-handlers": {"disable": ["rec", "log"]}})
    app.errors.report(RuntimeError("x"), source="pipe", subject="p")
    assert recorder.events == []
    assert app.registry.family("error-handlers").names() == ("signal",)


def test_receiver_that_raises_reaches_error_handlers_and_emitter_continues() -> None:
    recorder = RecordingErrorHandler()
    app = make_app({"rec": recorder})
    later = []

    def bad(sender, payload):
        raise ZeroDivisionError("receiver bug")

    app.signals.connect(HANDLER_FAILED, bad)
    app.signals.connect(HANDLER_FAILED, lambda sender, payload: later.append(payload))
    from kindling_core.errorhandling import HandlerFailure
    from kindling_core.items import ErrorEvent

    event = ErrorEvent(error=RuntimeError("e"), source="pipe", subject="p")
    app.signals.emit(HANDLER_FAILED, HandlerFailure("h", event, RuntimeError("h")))
    assert len(later) == 1  # the later receiver still ran
    [reported] = recorder.events
    assert isinstance(reported.error, ZeroDivisionError)
    assert reported.source == "signal-receiver"
    assert "bad" in reported.subject
    assert reported.context["signal"] == "errors.handler_failed"


def test_receiver_error_propagates_when_configured() -> None:
    from kindling_core.errors import ReceiverError

    app = make_app(config={"signals": {"propagate-receiver-errors": True}})

    def bad(sender, payload):
        raise ZeroDivisionError("receiver bug")

    app.signals.connect(ERROR_REPORTED, bad)
    with pytest.raises(ReceiverError) as info:
        app.signals.emit(ERROR_REPORTED, __import__("kindling_core").ErrorEvent(RuntimeError("e"), "pipe", "p"))
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_raising_receiver_of_error_reported_cannot_recurse() -> None:
    app = make_app()
    calls = []

    def bad(sender, payload):
        calls.append(payload)
        raise RuntimeError("receiver of error_reported fails")

    app.signals.connect(ERROR_REPORTED, bad)
    app.errors.report(ValueError("original"), source="pipe", subject="p")
    assert len(calls) == 1


def test_builtin_handlers_run_first_by_default() -> None:
    app = make_app({"zz": RecordingErrorHandler("aa-first-alphabetically")})
    assert app.registry.family("error-handlers").names() == ("log", "signal", "aa-first-alphabetically")
