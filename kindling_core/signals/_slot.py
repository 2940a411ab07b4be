"""Per-signal dispatch state (``_Slot``) and the errors every emit path builds.

A slot holds one signal's spec, its blinker ``NamedSignal`` and the pre-resolved tuple of
callables an emit invokes. It is shared by :class:`SignalBus` and every
:class:`BoundSignal` for that name, so a bound handle sees later connections.

Invariants: ``dispatch`` and ``entries`` are only replaced or mutated under the owning bus's
lock; ``dispatch`` is replaced wholesale (copy-on-write), so an emit reading it never sees a
half-built tuple. ``dispatch is None`` means "some receiver filters on a sender: ask blinker
per emit" (:meth:`_Slot.resolve`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from blinker import ANY

# blinker's own id helper, so the bus identifies receivers exactly as blinker does.
from blinker._utilities import make_id

from kindling_core.errors import ReceiverError, SignalPayloadError
from kindling_core.signals._blinker import OrderedSignal
from kindling_core.signals._failure import receiver_name
from kindling_core.signals._spec import SignalSpec, qualified_name

__all__ = ["Slot", "WeakReceiver", "payload_error", "raise_receiver_error"]


class WeakReceiver:
    """Dispatch entry of a weakly held synchronous receiver (skipped once collected)."""

    __slots__ = ("ref", "__kindling_receiver__")

    def __init__(self, ref: weakref.ref[Callable[..., Any]], name: str) -> None:
        self.ref = ref
        self.__kindling_receiver__ = name

    def __call__(self, sender: Any, /, **kwargs: Any) -> None:
        receiver = self.ref()
        if receiver is not None:
            receiver(sender, **kwargs)


class Slot:
    """Per-signal state: spec, blinker signal and the cached dispatch tuple.

    ``dispatch`` is the tuple of callables to invoke for any sender, or ``None`` when some
    receiver is connected for a specific sender (then :meth:`resolve` asks blinker).
    ``entries`` maps blinker receiver ids to dispatch entries (the receiver itself for a
    strong sync receiver, else a wrapper). Mutated only under the bus lock.
    """

    __slots__ = ("name", "spec", "payload_type", "signal", "dispatch", "entries", "filtered")

    def __init__(self, name: str, signal: OrderedSignal) -> None:
        self.name = name
        self.spec: SignalSpec | None = None
        self.payload_type: type | None = None
        self.signal = signal
        self.dispatch: tuple[Callable[..., Any], ...] | None = ()
        self.entries: dict[Any, Callable[..., Any]] = {}
        self.filtered: set[Any] = set()

    def rebuild(self) -> None:
        entries = self.entries
        ordered = []
        for receiver in self.signal.receivers_for(ANY):
            entry = entries.get(make_id(receiver))
            if entry is not None:
                ordered.append(entry)
        self.dispatch = None if self.filtered else tuple(ordered)

    def resolve(self, sender: Any, lock: threading.Lock) -> tuple[Callable[..., Any], ...]:
        with lock:
            entries = self.entries
            found = []
            for receiver in self.signal.receivers_for(sender):
                entry = entries.get(make_id(receiver))
                if entry is not None:
                    found.append(entry)
            return tuple(found)


def payload_error(slot: Slot, payload: Any, kwargs: dict[str, Any]) -> SignalPayloadError:
    spec = slot.spec
    assert spec is not None
    expected = spec.describe_payload()
    if spec.payload_type is None:
        actual = f"positional payload of type {qualified_name(type(payload))}"
        remedy = (
            f"emit {spec.name!r} with keyword arguments only, e.g. "
            f"bus.emit({spec.name!r}, key=value)"
        )
    elif kwargs:
        actual = f"keyword arguments {sorted(kwargs)}"
        remedy = f"build a {expected} and pass it as the single positional payload"
    else:
        actual = qualified_name(type(payload))
        remedy = f"pass an instance of {expected}"
    error = SignalPayloadError(
        f"signal {spec.name!r} expects {expected} but was emitted with {actual}",
        culprit=spec.name,
        remedy=remedy,
    )
    error.signal, error.expected, error.actual = spec.name, expected, actual  # type: ignore[attr-defined]
    return error


def raise_receiver_error(signal: str, receiver: Callable[..., Any], exc: Exception) -> None:
    name = receiver_name(receiver)
    raise ReceiverError(
        f"receiver {name} of signal {signal!r} raised {type(exc).__name__}: {exc}",
        signal=signal,
        receiver=name,
        remedy="fix the receiver; construct the bus with propagate_receiver_errors=False to "
        "only report receiver failures",
    ) from exc
