"""Calling one plugin's hook implementations, each on its own, and checking what they return.

The core never makes pluggy's 1:N hook call: :func:`call_own` calls the implementations of a
hook that belong to one plugin object, one at a time, so every result and every exception is
attributed to that plugin and nothing depends on pluggy's registration order. It also records
the signal receivers each call connected (:class:`ReceiverLog`), so that the loader can
disconnect them when the plugin fails later: nothing of a failed plugin stays in use.

:func:`returned_items` turns what a registration hook returned into a list of items, or
raises :class:`BadReturn` saying exactly what is wrong (a single item instead of an
iterable, a string, an object of another type, a duplicate name).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import pluggy

__all__ = ["BadReturn", "ReceiverLog", "call_own", "returned_items"]

T = TypeVar("T")


class BadReturn(Exception):
    """A hook returned something unusable; the message continues "the hook ..."."""


class ReceiverLog:
    """The signal receivers a plugin's hook calls connected to a bus (by blinker's receiver ids).

    ``around(call)`` runs ``call`` and records what it connected; :meth:`disconnect` removes
    them all again. A bus without a ``namespace`` (not a :class:`~kindling_core.signals.SignalBus`)
    is not tracked.
    """

    def __init__(self, signals: Any) -> None:
        self._signals = signals
        self._namespace = getattr(signals, "namespace", None)
        self.connected: list[tuple[str, Any]] = []

    def around(self, call: Callable[[], T]) -> T:
        namespace = self._namespace
        if namespace is None:
            return call()
        before = {name: set(signal.receivers) for name, signal in list(namespace.items())}
        try:
            return call()
        finally:
            for name, signal in list(namespace.items()):
                known = before.get(name, set())
                for receiver_id, ref in list(signal.receivers.items()):
                    if receiver_id not in known:
                        receiver = ref() if isinstance(ref, weakref.ref) else ref
                        if receiver is not None:
                            self.connected.append((name, receiver))

    def disconnect(self) -> None:
        """Disconnect every receiver recorded so far (a no-op for those already gone)."""
        for name, receiver in self.connected:
            self._signals.disconnect(name, receiver)
        self.connected.clear()


def call_own(
    manager: pluggy.PluginManager,
    hook: str,
    plugin: object,
    arguments: Mapping[str, Any],
    accept: Callable[[Any], T],
    receivers: ReceiverLog | None = None,
) -> list[T]:
    """Call each of ``plugin``'s implementations of ``hook`` on its own; return their results.

    Each implementation receives the subset of ``arguments`` it names; its result is passed
    through ``accept`` (which converts it or raises :class:`BadReturn`). The first exception,
    from an implementation or from ``accept``, propagates to the caller, which attributes it
    to ``plugin``. An implementation that asks for ``signals`` runs under ``receivers``.
    An empty list means the plugin does not implement ``hook``.
    """
    results: list[T] = []
    for impl in getattr(manager.hook, hook).get_hookimpls():
        if impl.plugin is not plugin:
            continue
        kwargs = {name: arguments[name] for name in impl.argnames}

        def call(impl: Any = impl, kwargs: dict[str, Any] = kwargs) -> T:
            return accept(impl.function(**kwargs))

        tracked = receivers is not None and "signals" in impl.argnames
        results.append(receivers.around(call) if tracked else call())  # type: ignore[union-attr]
    return results


def returned_items(value: Any, item_type: type, noun: str, *, single_types: tuple[type, ...] = ()) -> list[Any]:
    """``value`` (what a registration hook returned) as a list of ``item_type`` items.

    ``None`` is no items. A single item (an ``item_type`` or any of ``single_types``), a
    string, a mapping or anything not iterable raises :class:`BadReturn`, as do an element of
    another type and two items with one name. Iterating happens here, so a generator that
    raises half-way raises from this call.
    """
    expected = item_type.__name__
    if value is None:
        return []
    if isinstance(value, (item_type, *single_types)):
        shown = type(value).__name__
        raise BadReturn(
            f"returned a single {shown} ({getattr(value, 'name', value)!r}) instead of an iterable; "
            f"return a list of {expected} items, e.g. [{shown}(...)]"
        )
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise BadReturn(f"returned {type(value).__name__} {value!r:.80} instead of an iterable of {expected} items")
    produced: list[Any] = list(value)
    seen: set[str] = set()
    for item in produced:
        if not isinstance(item, item_type):
            raise BadReturn(f"returned {type(item).__name__} {item!r:.80}; expected {expected} items")
        name: str = getattr(item, "name")  # noqa: B009 - every item type has a name
        if name in seen:
            raise BadReturn(f"returned two {noun}s named {name!r}")
        seen.add(name)
    return produced
