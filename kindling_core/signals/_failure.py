"""``ReceiverFailure``: one receiver's exception, as reported to the bus's error callback.

Signals observe; they never steer (``docs/architecture.md``, principle 2). So a receiver that raises never
breaks the emitter's work: the bus catches the exception (``Exception`` only —
``KeyboardInterrupt`` and ``SystemExit`` still propagate), calls the remaining receivers,
and reports each failure once, as a :class:`ReceiverFailure`, to ``on_receiver_error`` or,
when no callback was given, to the ``kindling.signals`` logger with the traceback.

Invariants: a report never raises into the emitter (a failing callback is itself logged);
every failure, synchronous or asynchronous, is reported exactly once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["ReceiverFailure", "receiver_name", "LOGGER_NAME"]

LOGGER_NAME = "kindling.signals"
_log = logging.getLogger(LOGGER_NAME)


@attrs.frozen
class ReceiverFailure:
    """A receiver raised (or an async delivery could not be made).

    ``signal`` is the signal name; ``receiver`` the receiver's qualified name
    (``module.qualname``); ``error`` the exception; ``async_`` is True for failures of async
    receivers (raised on the pool or the event loop, or dropped because the queue was full or
    the bus closed), which are reported after the emitter has returned.
    """

    signal: str
    receiver: str
    error: BaseException
    async_: bool = False


def receiver_name(receiver: object) -> str:
    """A readable, qualified name for a receiver: ``"pkg.mod.Class.method"``,
    ``"tests.test_x.test_y.<locals>.<lambda>"``, ``"functools.partial(pkg.mod.f)"``."""
    inner = getattr(receiver, "__kindling_receiver__", None)  # our weak/async wrappers
    if isinstance(inner, str):  # a weakly held receiver, named when it was connected
        return inner
    if inner is not None:
        receiver = inner
    if isinstance(receiver, functools.partial):
        return f"functools.partial({receiver_name(receiver.func)})"
    qualname = getattr(receiver, "__qualname__", None)
    if qualname is None:  # a callable instance
        cls = type(receiver)
        return f"{cls.__module__}.{cls.__qualname__} instance"
    module = getattr(receiver, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def report(failure: ReceiverFailure, callback: Callable[[ReceiverFailure], Any] | None) -> None:
    """Hand ``failure`` to ``callback`` or, without one, log it; never raise."""
    if callback is not None:
        try:
            callback(failure)
            return
        except Exception:  # noqa: BLE001 - the error callback must not break the emitter
            _log.exception(
                "on_receiver_error callback failed while reporting a failure of receiver %s "
                "of signal %r; the original failure follows",
                failure.receiver,
                failure.signal,
            )
    kind = "async receiver" if failure.async_ else "receiver"
    _log.error(
        "%s %s of signal %r raised %s: %s",
        kind,
        failure.receiver,
        failure.signal,
        type(failure.error).__name__,
        failure.error,
        exc_info=failure.error,
    )
