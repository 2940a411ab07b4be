"""A fake dimension watcher factory for tests of the stream manager's dimension handling without Spark.

``StreamManager(app, driver=FakeStreamDriver(), watcher_factory=watchers)`` with
``watchers = FakeDimensionWatchers()`` gives the manager a real
:class:`~kindling_core.dimensions.DimensionWatcher` of the app's dimensions (its options are
checked as in production) whose version probe answers from :attr:`FakeDimensionWatchers.versions`
and never polls by itself (``interval`` is long; the first poll is the baseline). Tests then
report changes as a detector would::

    watchers.change(ChangeReport("silver.customers", 3, 4, "rows changed", kind=ChangeKind.DATA))

which calls the watcher's ``on_change`` (the manager's) on the caller's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from kindling_core.dimensions import DimensionWatcher
from kindling_core.items import ChangeReport, TableStatus, TableVersion
from kindling_core.model import Entity

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App

__all__ = ["FakeDimensionWatchers"]


class FakeDimensionWatchers:
    """Builds watchers for the manager (see the module docstring). ``built`` counts watchers
    built; :attr:`watcher` is the last one; :attr:`running` whether it polls."""

    def __init__(self, interval: float = 3600.0) -> None:
        self.interval = interval
        self.versions: dict[str, int] = {}
        self.built = 0
        self.watcher: DimensionWatcher | None = None
        self._on_change: Callable[[ChangeReport], None] | None = None
        self._lock = threading.Lock()

    def __call__(self, app: App, *, on_change: Callable[[ChangeReport], None]) -> DimensionWatcher:
        watcher = DimensionWatcher.from_app(app, probe=self.probe, on_change=on_change)
        watcher.interval = self.interval
        with self._lock:
            self.built += 1
            self.watcher, self._on_change = watcher, on_change
        return watcher

    def probe(self, entities: Sequence[Entity], since: Mapping[str, int]) -> dict[str, TableVersion]:
        """Every table exists at :attr:`versions` (default 0); no commit changed data."""
        with self._lock:
            versions = dict(self.versions)
        return {
            e.id: TableVersion(TableStatus.OK, location=f"fake:{e.id}", version=versions.get(e.id, 0), data_change=False) for e in entities
        }

    @property
    def running(self) -> bool:
        watcher = self.watcher
        return watcher is not None and watcher.running

    def change(self, report: ChangeReport) -> None:
        """Report ``report`` to the manager, as the watcher does after a detector found it."""
        with self._lock:
            on_change = self._on_change
        if on_change is None:
            raise AssertionError("no dimension watcher was built: start a streaming pipe that declares dimensions first")
        on_change(report)

    def __repr__(self) -> str:
        return f"<FakeDimensionWatchers built={self.built} running={self.running}>"
