"""The recovery budget: how many recovery attempts a subject may make within a window.

A query that fails right after every restart (a crash loop) spends its budget and is then
exhausted; a query that stays healthy long enough gets it back, because attempts older than
the window stop counting. ``unknown`` failures spend a small pool of their own, so a failure
no classifier recognises is retried a little, never as much as a known transient one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from kindling_core.items import FailureKind

__all__ = ["RecoveryBudget"]


class RecoveryBudget:
    """Attempts made within a sliding window, in two pools: ``unknown`` failures, and every
    other kind together.

    ``max_attempts`` bounds the shared pool and ``unknown_max_attempts`` the ``unknown`` one.
    An attempt is recorded with :meth:`spend` when a restart is made and counts for
    ``window_seconds`` (measured with ``clock``); after that it ages out, so the budget
    recovers after a sustained healthy period. ``window_seconds <= 0`` means attempts never age
    out (only :meth:`reset` forgets them). Every method is thread-safe: the manager's listener,
    watchdog and recovery threads may share one budget.
    """

    def __init__(
        self,
        max_attempts: int,
        window_seconds: float,
        *,
        unknown_max_attempts: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_attempts = max_attempts
        self.unknown_max_attempts = unknown_max_attempts
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._pools: dict[bool, deque[float]] = {False: deque(), True: deque()}

    def __repr__(self) -> str:
        return (
            f"RecoveryBudget(max_attempts={self.max_attempts}, window_seconds={self.window_seconds}, "
            f"unknown_max_attempts={self.unknown_max_attempts}, attempts={self.attempts(FailureKind.TRANSIENT)}"
            f"+{self.attempts(FailureKind.UNKNOWN)} unknown)"
        )

    def _pool(self, kind: FailureKind) -> deque[float]:
        """The pool of ``kind`` with aged-out attempts dropped (call with the lock held)."""
        pool = self._pools[kind is FailureKind.UNKNOWN]
        if self.window_seconds > 0:
            oldest = self._clock() - self.window_seconds
            while pool and pool[0] <= oldest:
                pool.popleft()
        return pool

    def attempts(self, kind: FailureKind) -> int:
        """Attempts made within the window in ``kind``'s pool."""
        with self._lock:
            return len(self._pool(kind))

    def limit(self, kind: FailureKind) -> int:
        """The attempts ``kind``'s pool allows: ``unknown_max_attempts`` for ``unknown``, else ``max_attempts``."""
        return self.unknown_max_attempts if kind is FailureKind.UNKNOWN else self.max_attempts

    def spend(self, kind: FailureKind) -> int:
        """Record one attempt now in ``kind``'s pool; return the pool's attempts after it."""
        with self._lock:
            pool = self._pool(kind)
            pool.append(self._clock())
            return len(pool)

    def reset(self) -> None:
        """Forget every attempt (an explicit ``start()`` or ``restart()`` begins afresh)."""
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
