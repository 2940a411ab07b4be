"""The blinker layer: one ``Namespace`` per bus, holding ordered ``NamedSignal``s.

blinker remains the registry of connections — which receiver listens for which sender,
strong or weak — so its semantics (``make_id``, sender filters, weak-reference cleanup) are
the bus's semantics. Two adjustments, both through blinker's documented extension points:

* Receivers are kept in insertion order (blinker's ``set_class`` hook, which blinker
  documents for exactly this purpose), so the bus calls receivers in the order they were
  connected — deterministic across runs, unlike blinker's default ``set``.
* Signals live in a :class:`blinker.Namespace` owned by the bus; ``blinker.signal()`` (the
  process-global namespace) is never used, so two buses never share a receiver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSet
from typing import Any

import blinker

__all__ = ["OrderedSet", "OrderedSignal", "new_namespace", "signal_in"]


class OrderedSet(MutableSet[Any]):
    """A set that iterates in insertion order (backed by a dict)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items: dict[Any, None] = dict.fromkeys(items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Any) -> None:
        self._items[item] = None

    def discard(self, item: Any) -> None:
        self._items.pop(item, None)

    def copy(self) -> OrderedSet:
        new = OrderedSet()
        new._items = self._items.copy()  # one C-level copy: safe against concurrent adds
        return new

    def __or__(self, other: Iterable[Any]) -> OrderedSet:
        new = self.copy()
        if isinstance(other, OrderedSet):
            new._items.update(other._items)
        else:
            new._items.update(dict.fromkeys(other))
        return new

    def __repr__(self) -> str:
        return f"OrderedSet({list(self._items)!r})"


class OrderedSignal(blinker.NamedSignal):
    """A ``blinker.NamedSignal`` whose receivers are tracked in connection order."""

    set_class = OrderedSet  # type: ignore[assignment]


def new_namespace() -> blinker.Namespace:
    """A fresh, private namespace (never blinker's global one)."""
    return blinker.Namespace()


def signal_in(namespace: blinker.Namespace, name: str, doc: str | None = None) -> OrderedSignal:
    """The ordered signal called ``name`` in ``namespace``, created on first use."""
    existing = namespace.get(name)
    if existing is None:
        existing = namespace[name] = OrderedSignal(name, doc)
    return existing  # type: ignore[return-value]
