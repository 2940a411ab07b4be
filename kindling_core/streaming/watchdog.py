"""The watchdog: a low-frequency safety net behind the listener bridge.

Spark's listener bus can drop events under load, and a query can die without one. Every
``interval`` seconds (``tool.kindling.streaming.watchdog-interval-seconds``) the watchdog
polls the running queries the manager gives it, through the driver (no Spark job: these read
driver-side state), and *reports* what it finds; it never starts or stops anything:

* a query missing from ``spark.streams.active`` or whose ``isActive`` is false: a synthetic
  :class:`~kindling_core.streaming.events.QueryTerminated` (``source="watchdog"``, with
  ``exception()``'s text) is put on the manager's event queue, where it is handled like the
  listener's (the manager ignores the second report of one run's end);
* a ``lastProgress`` newer than the last progress the manager saw: put on the queue as a
  :class:`~kindling_core.streaming.events.QueryProgressed` (the listener's was lost);
* no progress and no idle trigger within ``no-progress-after-start-seconds`` of the start:
  ``streaming.start_stalled`` (through the host, once per run);
* a trigger active (``status["isTriggerActive"]``) with no progress for
  ``stale-after-seconds``: ``streaming.query_stalled`` (once per quiet spell; progress resets it).

The watchdog's thread holds no lock while it calls the driver; one failing poll of one query
is reported to the host and the others are still polled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from kindling_core.streaming.driver import StreamDriver
from kindling_core.streaming.events import QueryProgressed, QueryTerminated, StreamEvent

__all__ = ["WatchTarget", "WatchdogHost", "Watchdog", "STALE", "START"]

logger = logging.getLogger("kindling.streaming")

#: Kinds of stall the watchdog reports.
STALE = "stale"
START = "start"


@attrs.frozen
class WatchTarget:
    """One running query as the manager knows it when a poll begins.

    ``last_activity`` is when the manager last heard of a batch or an idle trigger of this run
    (``None``: never since ``started_at``); ``batch_id`` the last batch it heard of.
    """

    key: str
    query: Any = attrs.field(eq=False, repr=False)
    query_id: str
    run_id: str
    started_at: float
    last_activity: float | None
    batch_id: int | None


class WatchdogHost(Protocol):
    """What the watchdog reports to (the stream manager)."""

    def watch_targets(self) -> list[WatchTarget]: ...

    def put(self, event: StreamEvent) -> None: ...

    def stalled(self, target: WatchTarget, kind: str, seconds: float, threshold: float, message: str) -> None: ...

    def watchdog_failed(self, target: WatchTarget, error: Exception) -> None: ...


class Watchdog:
    """Polls ``host.watch_targets()`` through ``driver`` every ``interval`` seconds.

    ``stale_after`` and ``no_progress_after_start`` are thresholds in seconds (0: never
    report). :meth:`poll` runs one round on the caller's thread (tests, benchmarks);
    :meth:`start` runs rounds on a daemon thread until :meth:`stop`.
    """

    def __init__(
        self,
        host: WatchdogHost,
        driver: StreamDriver,
        *,
        interval: float,
        stale_after: float,
        no_progress_after_start: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._host = host
        self._driver = driver
        self.interval = interval
        self.stale_after = stale_after
        self.no_progress_after_start = no_progress_after_start
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # run id -> when a poll first saw its trigger active in the current quiet spell
        self._active_since: dict[str, float] = {}
        self.polls = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="kindling-streams-watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.poll()
            except Exception:
                logger.exception("streaming watchdog round failed")

    def poll(self) -> None:
        """One round over every running query (see the module docstring)."""
        self.polls += 1
        targets = self._host.watch_targets()
        if not targets:
            self._active_since.clear()
            return
        active = {identity.run_id for identity in self._driver.active()}
        for target in targets:
            try:
                self._check(target, active)
            except Exception as exc:  # noqa: BLE001 - reported, the other queries are still polled
                self._host.watchdog_failed(target, exc)
        live = {target.run_id for target in targets}
        for run_id in [r for r in self._active_since if r not in live]:
            del self._active_since[run_id]

    def _check(self, target: WatchTarget, active: set[str]) -> None:
        driver = self._driver
        now = self._clock()
        if target.run_id not in active or not driver.is_active(target.query):
            failure = driver.exception(target.query)
            text, error_class = failure if failure is not None else (None, None)
            self._host.put(
                QueryTerminated(
                    target.query_id, target.run_id, exception=text, error_class=error_class, source="watchdog", timestamp=now
                )
            )
            return
        last_activity = target.last_activity
        progress = driver.last_progress(target.query)
        lost = False
        if progress is not None and progress.run_id == target.run_id:
            lost = target.batch_id is None or progress.batch_id > target.batch_id
        if lost and progress is not None:
            self._host.put(QueryProgressed(progress))  # the listener's event was lost
            last_activity = now
        status = driver.status(target.query)
        threshold = self.no_progress_after_start
        if threshold and last_activity is None and now - target.started_at >= threshold:
            self._host.stalled(target, START, now - target.started_at, threshold, status.message)
        if not status.trigger_active or lost:
            self._active_since.pop(target.run_id, None)
            return
        since = self._active_since.setdefault(target.run_id, now)
        quiet_since = max(since, last_activity if last_activity is not None else target.started_at)
        if self.stale_after and now - quiet_since >= self.stale_after:
            self._host.stalled(target, STALE, now - quiet_since, self.stale_after, status.message)
