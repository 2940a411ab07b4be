"""Signals of the dimension watcher (declared, typed).

Emitted by :class:`~kindling_core.dimensions.watcher.DimensionWatcher` on the thread that polls
(its own thread, or the caller of ``poll_once``), after the poll's bookkeeping is done and
outside its lock. Per dimension and poll at most one of: ``dimensions.baseline_recorded`` (the
first successful poll), ``dimensions.changed`` (a detector reported a change; the watcher's
``on_change`` callback is called right after), ``dimensions.read_failed`` (the table is missing
or unreadable; emitted when that starts or its error changes, not at every poll). A detector
that raises is reported to the error handlers (``errors.error_reported``), not signalled here.
``pipes`` names the streaming pipes that declare the dimension.
"""

from __future__ import annotations

import attrs

from kindling_core.items import ChangeReport
from kindling_core.signals import SignalSpec

__all__ = ["DimensionBaseline", "DimensionChanged", "DimensionReadFailed", "EMITS"]


@attrs.frozen
class DimensionBaseline:
    """The first successful poll of a dimension: ``version`` is where watching starts (``None``
    for a table the probe does not read and whose detector gave no version)."""

    entity: str
    detector: str
    version: int | None
    pipes: tuple[str, ...]


@attrs.frozen
class DimensionChanged:
    """A detector reported that a dimension changed from ``from_version`` to ``to_version``;
    ``report`` is its report."""

    entity: str
    detector: str
    from_version: int | None
    to_version: int | None
    reason: str
    pipes: tuple[str, ...]
    report: ChangeReport


@attrs.frozen
class DimensionReadFailed:
    """A watched table is ``missing`` or could not be read (``failed``); ``error`` says why and
    names the location. ``last_version`` is the version the watcher keeps meanwhile."""

    entity: str
    location: str
    status: str
    error: str
    last_version: int | None
    pipes: tuple[str, ...]


_W = "DimensionWatcher"
BASELINE_RECORDED = SignalSpec(
    "dimensions.baseline_recorded",
    DimensionBaseline,
    doc="The dimension watcher's first successful poll of a dimension: the version changes are counted from.",
    emitter=_W,
)
CHANGED = SignalSpec(
    "dimensions.changed",
    DimensionChanged,
    doc="A change detector reported that a watched dimension changed (the watcher's `on_change` is called next).",
    emitter=_W,
)
READ_FAILED = SignalSpec(
    "dimensions.read_failed",
    DimensionReadFailed,
    doc="A watched dimension table is missing or unreadable (emitted when it starts or the error changes); never a change.",
    emitter=_W,
)

EMITS: tuple[SignalSpec, ...] = (BASELINE_RECORDED, CHANGED, READ_FAILED)
