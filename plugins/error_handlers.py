"""Built-in error handlers: ``log`` (stdlib logging) and ``signal`` (``errors.error_reported``).

``log`` writes one ERROR record with the traceback to the logger ``kindling.<source>``
(``kindling.pipe``, ``kindling.signal-receiver``...), with the subject and context in the
message and as ``extra`` fields (``kindling_source``, ``kindling_subject``).
``signal`` emits ``errors.error_reported`` with the :class:`~kindling_core.items.ErrorEvent`.
"""

from __future__ import annotations

import logging

from kindling_core.plugin import ErrorEvent, ErrorHandler, SignalBus, hookimpl

#: The core declares this signal (payload: the ErrorEvent) on every app's bus.
ERROR_REPORTED = "errors.error_reported"


def log_error(event: ErrorEvent) -> None:
    """Log ``event`` at ERROR with its traceback under ``kindling.<source>``."""
    error = event.error
    context = "".join(f" {key}={value!r}" for key, value in event.context.items())
    logging.getLogger(f"kindling.{event.source}").error(
        "%s %r failed: %s: %s%s",
        event.source,
        event.subject,
        type(error).__name__,
        error,
        context,
        exc_info=(type(error), error, error.__traceback__),
        extra={"kindling_source": event.source, "kindling_subject": event.subject},
    )


@hookimpl
def kindling_error_handlers(signals: SignalBus) -> list[ErrorHandler]:
    """Register ``log`` and ``signal``."""
    bound = signals.bound(ERROR_REPORTED)
    return [
        ErrorHandler(name="log", description="log the error with its traceback under kindling.<source>", handle=log_error),
        ErrorHandler(
            name="signal",
            description="emit errors.error_reported with the error event",
            handle=lambda event: bound.emit(event),
        ),
    ]
