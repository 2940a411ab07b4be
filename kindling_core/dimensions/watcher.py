"""The dimension watcher: polls the watched dimensions, runs their change detectors, reports.

Every ``interval`` seconds (``tool.kindling.change-detectors.interval-seconds``, default 60) one
poll:

1. probes **all** watched Delta dimensions (declared with ``path=``) in **one** call of the
   ``probe`` callable, asking each "did a commit after the version I last saw change data?"
   (the Spark implementation, ``kindling_core.spark.dimensions``, reads ``_delta_log``
   directly and runs no Spark job for local and Hadoop paths);
2. for each dimension the probe could read (and each dimension it does not read, such as a
   non-Delta table watched on a schedule), calls its change detector once, through
   :func:`~kindling_core.errorhandling.call_plugin_item`, with a
   :class:`~kindling_core.items.ChangeContext` carrying the probe's answer
   (``context.latest``), the last version seen and the last version reported;
3. records the outcome, then -- outside its lock -- emits the signals of
   :mod:`kindling_core.dimensions.signals` and calls ``on_change(report)`` for each change.

Invariants:

* the first successful poll of a dimension is its **baseline**: recorded
  (``dimensions.baseline_recorded``), never reported as a change;
* a dimension table that is missing or unreadable is **reported, never a change**: a
  :class:`~kindling_core.dimensions.errors.DimensionReadError` goes to the error handlers and
  ``dimensions.read_failed`` is emitted when the condition starts or its error changes (not
  at every poll); the dimension keeps its versions, and its detector is not called;
* a detector that raises, or returns something that is not a ``ChangeReport`` for its
  entity, is reported (a :class:`~kindling_core.errors.PluginItemError`) and skipped: the
  dimension's versions stay where they were, so the next poll looks at the same commits again;
* a probe that raises is reported (:class:`~kindling_core.dimensions.errors.DimensionProbeError`,
  once until its error changes) and no Delta dimension is checked in that poll;
* when a detector returns ``None`` the dimension's ``last_version`` moves to the probe's latest
  version (nothing relevant up to there); when it reports a change, ``reported_version`` moves
  there too;
* polls never overlap (one lock); signals, ``on_change`` and error reports run after the poll's
  bookkeeping, outside the lock, in order. ``on_change`` should return quickly (enqueue); one
  that raises is reported (source ``dimension-watcher``) and the poll goes on.

:meth:`DimensionWatcher.poll_once` runs one poll on the caller's thread (tests, benchmarks);
:meth:`~DimensionWatcher.start` polls at once and then every ``interval`` on a daemon thread
(``kindling-dimensions-watcher``) until :meth:`~DimensionWatcher.stop`, whose wait is
cancellable.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from kindling_core.dimensions.errors import DimensionOptionError, DimensionProbeError, DimensionReadError
from kindling_core.dimensions.signals import (
    BASELINE_RECORDED,
    CHANGED,
    READ_FAILED,
    DimensionBaseline,
    DimensionChanged,
    DimensionReadFailed,
)
from kindling_core.dimensions.spec import Dimension, probe_readable, resolve_dimension
from kindling_core.errorhandling import SKIPPED, ErrorReporter, ItemResultError, call_plugin_item
from kindling_core.items import ChangeContext, ChangeReport, ChangeRows, TableStatus, TableVersion
from kindling_core.model import Entity
from kindling_core.signals import SignalBus

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App

__all__ = ["VersionProbe", "ChangeReader", "PollResult", "DimensionWatcher", "watched_dimensions"]

logger = logging.getLogger("kindling.dimensions")


class VersionProbe(Protocol):
    """Probes many Delta tables at once: ``probe(entities, since)`` returns one
    :class:`~kindling_core.items.TableVersion` per entity id. ``since`` maps some entity ids to
    the version last seen; for those, ``data_change`` says whether a later commit changed data.
    A table that cannot be read is a ``MISSING`` / ``FAILED`` answer, not an exception."""

    def __call__(self, entities: Sequence[Entity], since: Mapping[str, int]) -> Mapping[str, TableVersion]: ...


class ChangeReader(Protocol):
    """Reads a Delta table's Change Data Feed for ``from_version .. to_version`` and counts the
    relevant rows (see :class:`~kindling_core.items.ChangeRows`)."""

    def __call__(
        self,
        entity: Entity,
        from_version: int,
        to_version: int,
        columns: Sequence[str] | None = None,
        predicate: str | None = None,
    ) -> ChangeRows: ...


@attrs.frozen
class PollResult:
    """What one poll found: dimension ids by outcome, and the change reports."""

    at: float
    """The watcher's clock when the poll began."""
    baselines: tuple[str, ...] = ()
    """Dimensions whose baseline this poll recorded."""
    changes: tuple[ChangeReport, ...] = ()
    """The changes reported (``on_change`` got each)."""
    unreadable: tuple[str, ...] = ()
    """Dimensions whose table is missing or unreadable, or that the probe could not check."""
    skipped: tuple[str, ...] = ()
    """Dimensions whose detector raised or returned something unusable (reported)."""
    probed: int = 0
    """How many tables the one probe call was asked about."""


@attrs.define
class _State:
    observed: bool = False
    last_version: int | None = None
    reported_version: int | None = None
    reported_at: float | None = None
    unreported_data_change: bool = False
    read_error: str | None = None


def watched_dimensions(app: App, ids: Iterable[str] | None = None) -> list[Dimension]:
    """The dimensions of ``app``'s streaming pipes (``dimensions=[...]``), each with its detector
    and checked settings, in declaration order; ``ids`` narrows them. Raises
    :class:`~kindling_core.dimensions.errors.DimensionOptionError` for a dimension that is not
    declared with ``app.entity`` or whose ``change.*`` options are wrong."""
    catalog = app.catalog
    pipes_of: dict[str, list[str]] = {}
    for pipe in catalog.pipes.values():
        if pipe.is_streaming:
            for dimension in pipe.dimensions:
                pipes_of.setdefault(dimension, []).append(pipe.id)
    wanted = list(pipes_of) if ids is None else list(dict.fromkeys(ids))
    detectors = app.registry.family("change-detectors")
    out: list[Dimension] = []
    for entity_id in wanted:
        entity = catalog.entities.get(entity_id)
        users = tuple(pipes_of.get(entity_id, ()))
        if entity is None:
            who = f"streaming pipe {users[0]!r} declares dimension {entity_id!r}" if users else f"dimension {entity_id!r}"
            raise DimensionOptionError(
                f"{who}, which is not declared with app.entity(); the watcher needs to know where the table lives",
                entity=entity_id,
                remedy=f"declare it: app.entity({entity_id!r}, path=..., kind='dimension')",
            )
        out.append(resolve_dimension(entity, detectors, users))
    return out


def _accept(entity: str) -> Callable[[Any], ChangeReport | None]:
    def accept(value: Any) -> ChangeReport | None:
        if value is None or (isinstance(value, ChangeReport) and value.entity == entity):
            return value
        if isinstance(value, ChangeReport):
            raise ItemResultError(f"returned a ChangeReport for entity {value.entity!r} when asked about {entity!r}")
        raise ItemResultError(f"returned {type(value).__name__} {value!r}, not a ChangeReport or None")

    return accept


class DimensionWatcher:
    """Polls ``dimensions`` every ``interval`` seconds (see the module docstring).

    ``probe`` is the batched :class:`VersionProbe` (needed when a dimension is a Delta table with
    a ``path``); ``read_changes`` the :class:`ChangeReader` behind ``context.read_changes``
    (``None``: detectors get no reader); ``on_change`` is called with each
    :class:`~kindling_core.items.ChangeReport`; ``signals`` and ``errors`` are the app's bus and
    error reporter; ``clock`` gives seconds (monotonic) for ``context.now``.
    """

    def __init__(
        self,
        dimensions: Iterable[Dimension],
        *,
        probe: VersionProbe | None,
        signals: SignalBus,
        errors: ErrorReporter | None = None,
        on_change: Callable[[ChangeReport], None] | None = None,
        read_changes: ChangeReader | None = None,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
            raise ValueError(
                f"DimensionWatcher interval must be a number of seconds > 0, got {interval!r} "
                "(tool.kindling.change-detectors.interval-seconds)"
            )
        self._dimensions: dict[str, Dimension] = {}
        for dimension in dimensions:
            if dimension.id in self._dimensions:
                raise ValueError(f"DimensionWatcher got dimension {dimension.id!r} twice; give each dimension once")
            self._dimensions[dimension.id] = dimension
        delta = [d.id for d in self._dimensions.values() if probe_readable(d.entity)]
        if delta and probe is None:
            raise ValueError(
                f"DimensionWatcher needs a version probe for the Delta dimensions {', '.join(delta)}; "
                "pass probe= (kindling_core.spark.dimensions.DeltaChangeSource(spark).probe)"
            )
        self._probe = probe
        self._signals = signals
        self._errors = errors
        self._on_change = on_change
        self._read_changes = read_changes
        self.interval = float(interval)
        self._clock = clock
        self._states = {dimension_id: _State() for dimension_id in self._dimensions}
        self._probe_error: str | None = None
        self._lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.polls = 0

    @classmethod
    def from_app(
        cls,
        app: App,
        *,
        probe: VersionProbe | None,
        on_change: Callable[[ChangeReport], None] | None = None,
        read_changes: ChangeReader | None = None,
        dimensions: Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> DimensionWatcher:
        """A watcher of ``app``'s dimensions (:func:`watched_dimensions`), polling every
        ``tool.kindling.change-detectors.interval-seconds``, reporting to the app's signals and
        error handlers."""
        return cls(
            watched_dimensions(app, dimensions),
            probe=probe,
            signals=app.signals,
            errors=app.errors,
            on_change=on_change,
            read_changes=read_changes,
            interval=app.config.change_detectors.interval_seconds,
            clock=clock,
        )

    @property
    def dimensions(self) -> Mapping[str, Dimension]:
        """The watched dimensions by entity id (read-only)."""
        return MappingProxyType(self._dimensions)

    # ------------------------------------------------------------------ one poll

    def poll_once(self) -> PollResult:
        """Run one poll on this thread (see the module docstring); returns what it found."""
        deliveries: list[Callable[[], None]] = []
        with self._lock:
            result = self._poll(deliveries)
        for deliver in deliveries:
            deliver()
        return result

    def _poll(self, deliveries: list[Callable[[], None]]) -> PollResult:
        now = self._clock()
        self.polls += 1
        targets = [d.entity for d in self._dimensions.values() if probe_readable(d.entity)]
        answers, probe_ok = self._probe_all(targets, deliveries)
        baselines: list[str] = []
        changes: list[ChangeReport] = []
        unreadable: list[str] = []
        skipped: list[str] = []
        for dimension in self._dimensions.values():
            state = self._states[dimension.id]
            latest: TableVersion | None = None
            if probe_readable(dimension.entity):
                if not probe_ok:
                    unreadable.append(dimension.id)
                    continue
                latest = answers.get(dimension.id) or TableVersion(
                    TableStatus.FAILED, error=f"the version probe gave no answer for dimension {dimension.id!r}"
                )
                if not latest.ok:
                    unreadable.append(dimension.id)
                    self._read_failed(dimension, state, latest, deliveries)
                    continue
                state.read_error = None
            outcome = self._detect(dimension, state, latest, now)
            if outcome is SKIPPED:
                skipped.append(dimension.id)
                continue
            report: ChangeReport | None = outcome
            if report is not None and not report.detector:
                report = attrs.evolve(report, detector=dimension.detector_name)
            if latest is not None:
                version = latest.version
            elif report is not None and report.to_version is not None:
                version = report.to_version
            else:
                version = state.last_version
            if not state.observed:
                state.observed = True
                state.last_version = state.reported_version = version
                state.reported_at = now
                baselines.append(dimension.id)
                payload = DimensionBaseline(dimension.id, dimension.detector_name, version, dimension.pipes)
                deliveries.append(functools.partial(self._signals.emit, BASELINE_RECORDED, payload))
                continue
            if report is not None:
                state.reported_version = version
                state.reported_at = now
                state.unreported_data_change = False
                changes.append(report)
                deliveries.append(functools.partial(self._deliver_change, dimension, report))
            elif latest is not None and latest.data_change is not False and latest.version != state.last_version:
                state.unreported_data_change = True
            state.last_version = version
        return PollResult(
            at=now,
            baselines=tuple(baselines),
            changes=tuple(changes),
            unreadable=tuple(unreadable),
            skipped=tuple(skipped),
            probed=len(targets),
        )

    def _probe_all(self, targets: list[Entity], deliveries: list[Callable[[], None]]) -> tuple[Mapping[str, TableVersion], bool]:
        if not targets:
            return {}, True
        since: dict[str, int] = {}
        for entity in targets:
            state = self._states[entity.id]
            if state.observed and state.last_version is not None:
                since[entity.id] = state.last_version
        assert self._probe is not None  # checked in __init__
        try:
            answers = self._probe(targets, since)
        except Exception as exc:  # noqa: BLE001 - reported; the next poll tries again
            ids = tuple(entity.id for entity in targets)
            error = DimensionProbeError(
                f"the version probe raised {type(exc).__name__}: {exc} while checking {len(ids)} dimension(s) "
                f"({', '.join(ids)}); none of them was checked in this poll",
                entities=ids,
                remedy="check that the Spark session is alive and the storage reachable; the next poll tries again",
            )
            error.__cause__ = exc
            text = f"{type(exc).__name__}: {exc}"
            if text != self._probe_error:
                self._probe_error = text
                deliveries.append(functools.partial(self._report, error, "probe"))
            return {}, False
        self._probe_error = None
        return answers, True

    def _read_failed(self, dimension: Dimension, state: _State, latest: TableVersion, deliveries: list[Callable[[], None]]) -> None:
        location = latest.location or dimension.entity.location
        if latest.status is TableStatus.MISSING:
            why = f"there is no Delta table at {location}"
        else:
            why = latest.error or f"its log at {location} cannot be read"
        text = f"{latest.status.value}: {why}"
        if text == state.read_error:
            return
        state.read_error = text
        kept = (
            f"the watcher keeps version {state.last_version} and reports no change until it can read the table again"
            if state.observed
            else "the watcher records its baseline once it can read the table"
        )
        error = DimensionReadError(
            f"dimension {dimension.id!r} cannot be read: {why}; {kept}",
            entity=dimension.id,
            location=location,
            status=latest.status.value,
            remedy="restore the table, or fix the entity's path=; a table that is gone is never treated as a change",
        )
        payload = DimensionReadFailed(dimension.id, location, latest.status.value, why, state.last_version, dimension.pipes)

        def deliver() -> None:
            self._signals.emit(READ_FAILED, payload)
            self._report(error, dimension.id)

        deliveries.append(deliver)

    def _detect(self, dimension: Dimension, state: _State, latest: TableVersion | None, now: float) -> Any:
        read: Callable[..., ChangeRows] | None = None
        if (
            state.observed
            and self._read_changes is not None
            and latest is not None
            and latest.version is not None
            and state.last_version is not None
            and latest.version > state.last_version
        ):
            read = functools.partial(self._read_changes, dimension.entity, state.last_version + 1, latest.version)
        context = ChangeContext(
            entity=dimension.id,
            last_version=state.last_version if state.observed else None,
            options=dimension.entity.options,
            baseline=not state.observed,
            reported_version=state.reported_version if state.observed else None,
            unreported_data_change=state.unreported_data_change,
            latest=latest,
            settings=dimension.settings,
            now=now,
            reported_at=state.reported_at,
            read_changes=read,
        )
        return call_plugin_item(
            self._errors,
            dimension.detector,
            dimension.detector.item.detect,
            context,
            during=f"checking dimension {dimension.id!r} for changes",
            accept=_accept(dimension.id),
            entity=dimension.id,
        )

    def _deliver_change(self, dimension: Dimension, report: ChangeReport) -> None:
        payload = DimensionChanged(
            entity=report.entity,
            detector=report.detector,
            from_version=report.from_version,
            to_version=report.to_version,
            reason=report.reason,
            pipes=dimension.pipes,
            report=report,
        )
        self._signals.emit(CHANGED, payload)
        if self._on_change is None:
            return
        try:
            self._on_change(report)
        except Exception as exc:  # noqa: BLE001 - the callback's failure is reported; the poll goes on
            self._report(exc, report.entity, during="on_change")

    def _report(self, error: BaseException, subject: str, **context: Any) -> None:
        if self._errors is not None:
            self._errors.report(error, source="dimension-watcher", subject=subject, **context)
        else:
            logger.error("%s", error, exc_info=(type(error), error, error.__traceback__))

    # ------------------------------------------------------------------ the thread

    @property
    def running(self) -> bool:
        """Whether the polling thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Poll now, then every ``interval`` seconds on a daemon thread (no-op when running)."""
        with self._thread_lock:
            if self.running:
                return
            self._stopping = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stopping,), name="kindling-dimensions-watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Stop polling: wakes the thread from its wait and joins it (at most ``timeout``
        seconds; a poll under way finishes first). Returns whether the thread has ended."""
        with self._thread_lock:
            self._stopping.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _loop(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("dimension watcher poll failed")
            if stopping.wait(self.interval):
                break
