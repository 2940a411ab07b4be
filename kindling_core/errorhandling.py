"""Dispatch reported errors to every enabled error handler.

Invariants:

* every enabled handler runs, in configured order, for every reported error;
* a handler that raises is logged under ``kindling.errors`` and signalled as
  ``errors.handler_failed``; the remaining handlers still run and the original error is
  returned/raised by the caller unchanged (a handler never masks it);
* an error reported *while* handlers run on the same thread (a receiver of
  ``errors.error_reported`` that raises, a handler that reports) is logged only, never
  dispatched again, so error handling cannot recurse.

One policy for a plugin item that fails while the core uses it (:func:`call_plugin_item`):
an exception it raises, or a return value the core cannot use, becomes a
:class:`~kindling_core.errors.PluginItemError` naming the item, its family, its plugin,
distribution and version and what the core was doing; it is given to the error handlers
(source ``plugin-item``, subject the item name) and the caller goes on with the rest of the
chain. Failure classifiers, recovery strategies and cache heuristics run through it; so should
change detectors. (The selected execution strategy cannot be skipped: the planner raises
a :class:`~kindling_core.planning.StrategyError` naming it instead.)
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

import attrs

from kindling_core.errors import PluginItemError
from kindling_core.families import family_of
from kindling_core.items import ErrorEvent, ErrorHandler, Item
from kindling_core.plugins.registry import Provided
from kindling_core.signals import SignalBus, SignalSpec

__all__ = [
    "ErrorReporter",
    "HandlerFailure",
    "ERROR_REPORTED",
    "HANDLER_FAILED",
    "EMITS",
    "ItemResultError",
    "SKIPPED",
    "call_plugin_item",
]

R = TypeVar("R")

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


class ItemResultError(Exception):
    """Raised by the ``accept`` check of :func:`call_plugin_item`: the item returned something
    the core cannot use. The message says what it returned and what was expected
    (``returned str 'transient', not a Classification or None``)."""


class _Skipped(enum.Enum):
    SKIPPED = "skipped"

    def __repr__(self) -> str:
        return "SKIPPED"


#: What :func:`call_plugin_item` returns for an item that failed (and was reported).
SKIPPED: Final = _Skipped.SKIPPED


def call_plugin_item(
    errors: ErrorReporter | None,
    entry: Provided[Any] | Item,
    function: Callable[..., Any],
    *args: Any,
    during: str,
    accept: Callable[[Any], R] | None = None,
    **context: Any,
) -> R | Any:
    """Call ``function(*args)`` (a method of ``entry``'s item) under the plugin-item policy.

    Returns its result, passed through ``accept`` when given (``accept`` checks or converts
    it and raises :class:`ItemResultError` for an unusable value). When the call raises an
    ``Exception`` or ``accept`` rejects its result, reports a
    :class:`~kindling_core.errors.PluginItemError` to ``errors`` (source ``plugin-item``,
    subject the item name, context: ``family``, ``plugin``, ``distribution``, ``version``,
    ``during`` and ``context``) and returns :data:`SKIPPED`, so the caller goes on with the
    rest of its chain. ``during`` says what the core was doing (``classifying the failure of
    pipe 'silver.orders'``). ``entry`` is the item with its plugin
    (:meth:`~kindling_core.plugins.FamilyView.attributed`); a bare item is reported as from an
    unknown plugin. Without ``errors`` the failure is logged under ``kindling.errors``.
    ``KeyboardInterrupt`` and other non-``Exception`` errors propagate.
    """
    provided = entry if isinstance(entry, Provided) else None
    item: Item = provided.item if provided is not None else entry  # type: ignore[assignment]
    cause: BaseException | None = None
    try:
        result = function(*args)
        return result if accept is None else accept(result)
    except ItemResultError as bad:
        problem = str(bad)
    except Exception as exc:  # noqa: BLE001 - the policy: any failure of the item is reported, never raised
        problem, cause = f"raised {type(exc).__name__}: {exc}", exc
    family = family_of(item)
    origin = f"plugin {provided.label}" if provided is not None else "an unknown plugin"
    error = PluginItemError(
        f"{family.noun} {item.name!r} of {origin} {problem} while {during}; "
        f"it was skipped and the rest of the {family.key} went on",
        item=item.name,
        family=family.key,
        plugin=provided.plugin if provided is not None else None,
        distribution=provided.distribution if provided is not None else None,
        version=provided.version if provided is not None else None,
        culprit=f"{family.noun} {item.name!r}",
        remedy=f"fix the {family.noun} in {_package(provided)}, or disable it with "
        f"[tool.kindling.{family.config_section}] disable = [{item.name!r}]",
    )
    error.__cause__ = cause
    details = {
        "family": family.key,
        "plugin": error.plugin,
        "distribution": error.distribution,
        "version": error.version,
        "during": during,
        **context,
    }
    if errors is not None:
        errors.report(error, source="plugin-item", subject=item.name, **details)
    else:
        logger.error("%s", error, exc_info=(type(cause), cause, cause.__traceback__) if cause else None)
    return SKIPPED


def _package(provided: Provided[Any] | None) -> str:
    if provided is None:
        return "its plugin"
    return f"{provided.distribution} {provided.version or ''}".rstrip() if provided.distribution else f"plugin {provided.plugin}"
