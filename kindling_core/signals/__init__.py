"""Signals: declared, typed-or-keyword, error-isolated notifications over blinker.

Signals *observe* what happened; hooks decide what happens (``docs/architecture.md``, principle 2). A
receiver can never change the emitter's control flow: its exceptions are reported, not
raised (unless the bus is configured to propagate them).

Quick reference::

    from kindling_core.signals import SignalBus, SignalSpec

    AFTER_RUN = SignalSpec("pipe.after_run", RunFinished, doc="A pipe finished.")

    bus = SignalBus()
    bus.declare(AFTER_RUN)                        # emitters declare (validated name)
    bus.declare("webhook.delivery_failed")        # a string signal: keyword payload

    @bus.connect("pipe.after_run")                # strong reference by default
    def on_after_run(sender, payload): ...

    bus.emit(AFTER_RUN, RunFinished(...))         # payload type checked
    bus.emit("webhook.delivery_failed", url=u, status=503)
    bus.close()                                   # joins the async pool, if one was started

Modules: :mod:`~kindling_core.signals.naming` (the naming convention),
``_spec`` (:class:`SignalSpec`), ``_bus`` (:class:`SignalBus`, :class:`BoundSignal`),
``_async`` (async receivers: event loop or bounded pool, and the event-loop requirements),
``_failure`` (:class:`ReceiverFailure` and how failures are reported).

Importing this package starts no thread, registers nothing and never imports pyspark.
"""

from __future__ import annotations

from kindling_core.signals._async import AsyncDeliveryDropped
from kindling_core.signals._bus import ANY, BoundSignal, SignalBus, SignalStats
from kindling_core.signals._failure import ReceiverFailure, receiver_name
from kindling_core.signals._spec import SignalSpec
from kindling_core.signals.naming import CONVENTION, check_signal_name, is_signal_name

__all__ = [
    "ANY",
    "AsyncDeliveryDropped",
    "BoundSignal",
    "CONVENTION",
    "ReceiverFailure",
    "SignalBus",
    "SignalSpec",
    "SignalStats",
    "check_signal_name",
    "is_signal_name",
    "receiver_name",
]
