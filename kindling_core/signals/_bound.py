"""``BoundSignal``: a pre-resolved handle on one declared signal, for hot paths.

The emit paths here repeat :meth:`SignalBus.emit` inline rather than calling it: one Python
call less per emit is most of the difference between an emit that costs something and one
that costs close to nothing. The checks and the failure isolation are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kindling_core.signals._slot import Slot, payload_error
from kindling_core.signals._spec import SignalSpec

if TYPE_CHECKING:
    from kindling_core.signals._bus import SignalBus

__all__ = ["BoundSignal"]


class BoundSignal:
    """A pre-resolved handle on one declared signal of one bus, for hot paths.

    ``emit(payload, sender=None)`` for typed signals, ``emit_kwargs(**kwargs)`` for string
    signals; same checks and error isolation as :meth:`SignalBus.emit`. ``has_receivers``
    (a property) lets an emitter skip building an expensive payload.
    """

    __slots__ = ("_bus", "_slot", "spec", "name")

    def __init__(self, bus: SignalBus, slot: Slot) -> None:
        self._bus = bus
        self._slot = slot
        self.spec: SignalSpec = slot.spec  # type: ignore[assignment]
        self.name = slot.name

    @property
    def has_receivers(self) -> bool:
        return bool(self._slot.signal.receivers)

    def emit(self, payload: Any = None, /, *, sender: Any = None) -> None:
        slot = self._slot
        ptype = slot.payload_type
        if ptype is not None:
            if type(payload) is not ptype and not isinstance(payload, ptype):
                raise payload_error(slot, payload, {})
        elif payload is not None:
            raise payload_error(slot, payload, {})
        bus = self._bus
        if bus._recorders:
            bus._record(slot.name)
        receivers = slot.dispatch
        if receivers is not None and not receivers:
            return  # the fast path: nobody listens
        bus._deliver(slot, receivers, sender, payload, {})

    def emit_kwargs(self, /, *, sender: Any = None, **kwargs: Any) -> None:
        slot = self._slot
        if slot.payload_type is not None:
            raise payload_error(slot, None, kwargs)
        bus = self._bus
        if bus._recorders:
            bus._record(slot.name)
        receivers = slot.dispatch
        if receivers is not None and not receivers:
            return
        bus._deliver(slot, receivers, sender, None, kwargs)

    def __repr__(self) -> str:
        return f"<BoundSignal {self.name!r}>"
