"""Dispatch reported errors to every enabled error handler.

Invariants:

* every enabled handler runs, in configured order, for every reported error;
* a handler that raises is logged under ``kindling.errors`` and signalled as
  ``errors.handler_failed``; the remaining handlers still run and the original error is
  returned/raised by the caller unchanged (a handler never masks it);
* an error reported *while* handlers run on the same thread (a receiver of
  ``errors.error_reported`` that raises, a handler that reports) is logged only, never
  dispatched again, so error handling cannot recurse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import attrs

from kindling_core.items import ErrorEvent, ErrorHandler
from kindling_core.signals import SignalBus, SignalSpec

__all__ = ["ErrorReporter", "HandlerFailure", "ERROR_REPORTED", "HANDLER_FAILED", "EMITS"]

logger = logging.getLogger("kindling.errors")


@attrs.frozen
class HandlerFailure:
    """Payload of ``errors.handler_failed``: which handler raised what, handling which event."""

    handler: str
    event: ErrorEvent
    error: BaseException


ERROR_REPORTED = SignalSpec(
    "errors.error_reported",
    ErrorEvent,
    doc="An error was reported to the error handlers (emitted by the built-in `signal` handler).",
    emitter="error-handlers",
)
HANDLER_FAILED = SignalSpec(
    "errors.handler_failed",
    HandlerFailure,
    doc="An error handler raised while handling an error; the original error stands.",
    emitter="ErrorReporter",
)

EMITS: tuple[SignalSpec, ...] = (ERROR_REPORTED, HANDLER_FAILED)


class ErrorReporter:
    """Runs the app's error handlers for each reported error (see the module invariants)."""

    def __init__(self, handlers: Iterable[ErrorHandler], signals: SignalBus):
        self._handlers: tuple[ErrorHandler, ...] = tuple(handlers)
        self._signals = signals
        self._local = threading.local()

    @property
    def handlers(self) -> tuple[ErrorHandler, ...]:
        return self._handlers

    def report(self, error: BaseException, *, source: str, subject: str, **context: Any) -> ErrorEvent:
        """Give ``error`` to every handler; return the event. Never raises a handler's error."""
        event = ErrorEvent(error=error, source=source, subject=subject, context=context)
        if getattr(self._local, "active", False):
            logger.error(
                "error while handling an error (%s %s): %s: %s",
                source,
                subject,
                type(error).__name__,
                error,
                exc_info=(type(error), error, error.__traceback__),
            )
            return event
        self._local.active = True
        try:
            for handler in self._handlers:
                try:
                    handler.handle(event)
                except Exception as exc:  # a handler never masks the original error
                    logger.error(
                        "error handler %r failed while handling %s from %s %r: %s: %s",
                        handler.name,
                        type(error).__name__,
                        source,
                        subject,
                        type(exc).__name__,
                        exc,
                        exc_info=(type(exc), exc, exc.__traceback__),
                    )
                    try:
                        self._signals.emit(HANDLER_FAILED, HandlerFailure(handler.name, event, exc))
                    except Exception:  # pragma: no cover - propagate mode receivers
                        logger.exception("receiver of errors.handler_failed raised")
        finally:
            self._local.active = False
        return event
