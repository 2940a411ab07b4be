"""The life cycle of one managed streaming query: states, allowed moves, compare-and-set.

======================  =====================================================================
state                   meaning
======================  =====================================================================
``pending``             known to the manager (a streaming pipe, a registered builder), never
                        started
``starting``            a thread won the right to start it and is calling Spark
``running``             ``start()`` returned; the query is active
``stopping``            a thread won the right to stop it and is waiting for Spark
``stopped``             terminated without error: stopped by kindling, by someone else, or a
                        bounded trigger (``availableNow``, ``once``) finished
``failed``              terminated with an exception, or ``start()`` raised
``recovering``          failed; a restart is scheduled after a backoff (a recovery strategy
                        decided it, see :mod:`kindling_core.streaming.recovery`)
``exhausted``           failed again and again: the recovery budget is spent; only an explicit
                        start or restart leaves it
======================  =====================================================================

Allowed moves are :data:`TRANSITIONS`. Every move is a compare-and-set on one
:class:`StateCell`: ``cell.move(expected, new)`` succeeds only when the current state is one of
``expected`` *and* the move is allowed, atomically, so of two threads racing to start (or
restart, or stop) one query exactly one wins; the loser sees ``False`` and the state the winner
left. The cell's lock is held only for the comparison, never across a Spark call or a signal.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from kindling_core.errors import KindlingError

__all__ = ["QueryState", "TRANSITIONS", "StateCell", "IllegalTransitionError", "STARTABLE", "TERMINAL"]


class QueryState(str, enum.Enum):
    """Where a managed query is in its life cycle (see the module docstring)."""

    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    RECOVERING = "recovering"
    EXHAUSTED = "exhausted"

    def __str__(self) -> str:
        return self.value


S = QueryState

#: state -> the states it may move to.
TRANSITIONS: Mapping[QueryState, frozenset[QueryState]] = MappingProxyType(
    {
        S.PENDING: frozenset({S.STARTING}),
        # start() returned / raised; a bounded query may finish before start() returns
        S.STARTING: frozenset({S.RUNNING, S.FAILED, S.STOPPED}),
        S.RUNNING: frozenset({S.STOPPING, S.STOPPED, S.FAILED}),
        # the stop finished, or the query failed while stopping
        S.STOPPING: frozenset({S.STOPPED, S.FAILED}),
        S.STOPPED: frozenset({S.STARTING}),
        # start/restart; a recovery is scheduled; a stop cancels a recovery being decided; the
        # recovery decision finds the budget spent (the query never re-enters recovering)
        S.FAILED: frozenset({S.STARTING, S.RECOVERING, S.STOPPED, S.EXHAUSTED}),
        # the backoff ended (restart), or a stop during the backoff
        S.RECOVERING: frozenset({S.STARTING, S.EXHAUSTED, S.STOPPED}),
        S.EXHAUSTED: frozenset({S.STARTING, S.STOPPED}),
    }
)

#: States from which ``start`` (or the start half of a restart) may begin.
STARTABLE: frozenset[QueryState] = frozenset({S.PENDING, S.STOPPED, S.FAILED, S.EXHAUSTED})
#: States of a query that is not running and not about to (``await_termination`` waits for them).
TERMINAL: frozenset[QueryState] = frozenset({S.PENDING, S.STOPPED, S.FAILED, S.EXHAUSTED})


class IllegalTransitionError(KindlingError):
    """A move the state table does not allow (a bug in the caller, not a race: races lose a
    compare-and-set and see ``False``)."""


class StateCell:
    """The state of one query, changed only by compare-and-set (thread-safe).

    ``on_change`` is not called here: :meth:`move` returns the previous state so the caller can
    emit ``streaming.state_changed`` after the lock is released.
    """

    __slots__ = ("_lock", "_state", "_changed")

    def __init__(self, state: QueryState = QueryState.PENDING) -> None:
        self._lock = threading.Lock()
        self._state = state
        self._changed = threading.Condition(self._lock)

    @property
    def state(self) -> QueryState:
        return self._state

    def move(self, expected: Iterable[QueryState] | QueryState, new: QueryState) -> QueryState | None:
        """Move to ``new`` if the state is one of ``expected``; return the previous state, or
        ``None`` (and change nothing) when it is not. Raises :class:`IllegalTransitionError`
        when the current state is expected but the table does not allow the move."""
        allowed = (expected,) if isinstance(expected, QueryState) else tuple(expected)
        with self._lock:
            current = self._state
            if current not in allowed:
                return None
            if new not in TRANSITIONS[current]:
                raise IllegalTransitionError(
                    f"a streaming query cannot move from {current} to {new}",
                    culprit=f"{current} -> {new}",
                    remedy="see kindling_core.streaming.state.TRANSITIONS for the allowed moves",
                )
            self._state = new
            self._changed.notify_all()
            return current

    def wait_for(self, states: Iterable[QueryState], timeout: float | None) -> bool:
        """Block until the state is one of ``states`` (or ``timeout`` seconds pass)."""
        wanted = frozenset(states)
        with self._lock:
            return self._changed.wait_for(lambda: self._state in wanted, timeout)

    def __repr__(self) -> str:
        return f"<StateCell {self._state}>"
