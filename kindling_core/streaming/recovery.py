"""Recovery of failed streaming queries: what the manager keeps per query, and how a restart waits.

When a managed query fails without being asked to stop (it ended with an exception, or its
restart during a recovery raised), the :class:`~kindling_core.streaming.manager.StreamManager`
judges the failure with :func:`judge_failure`: the app's failure-classifier chain, then the
recovery-strategy chain with the query's :class:`~kindling_core.recovery.RecoveryBudget` and the
configured :class:`~kindling_core.recovery.Backoff` (``[tool.kindling.recovery]``), then
decides:

* a restart within the budget: the query moves ``failed → recovering``, one attempt is spent,
  and the recovery waits out the backoff (a :class:`PendingRecovery`), then starts the query
  again through the normal start path;
* a restart with the budget spent: ``failed → exhausted``, reported once;
* anything else (give up, alert only, a clean start kindling cannot do yet, a permanent
  failure, an adopted query): the query stays ``failed``, reported once.

Invariants:

* the budget (:class:`QueryRecovery.budget`) lives as long as the query's record, across every
  restart, so a query that fails right after each restart (a crash loop) spends it; attempts age
  out after ``window-seconds``, and only an explicit ``start()``/``restart()`` resets it;
* a recovery counts as successful only once the restarted run proved healthy
  (``healthy-batches`` micro-batches, or ``healthy-seconds`` without failing); a failure before
  that belongs to the same crash loop;
* no recovery work runs on Spark's listener thread nor on the manager's event consumer: each
  failure is judged, waited on and restarted on a thread of its own (``kindling-recover-<key>``,
  ended once the query runs again, proved healthy or not, or recovery gave up), so neither
  slow classifiers, strategies or error handlers nor a backoff hold up the other queries;
* a stop or restart requested during the backoff wins: it cancels the wait (:meth:`PendingRecovery.cancel`)
  and the compare-and-set on the query's state decides any race with the end of the wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from kindling_core.items import (
    Classification,
    FailureContext,
    FailureKind,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
)
from kindling_core.recovery.backoff import Backoff
from kindling_core.recovery.budget import RecoveryBudget
from kindling_core.recovery.chain import RecoveryDecision, classify_failure, decide_recovery

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App
    from kindling_core.config import RecoveryConfig

__all__ = ["QueryRecovery", "PendingRecovery", "judge_failure", "new_budget", "RESTARTS"]

#: The actions that run the failed query again.
RESTARTS = (RecoveryActionKind.RESTART, RecoveryActionKind.CLEAN_START)


def new_budget(config: RecoveryConfig, clock: Callable[[], float]) -> RecoveryBudget:
    """A query's budget from ``[tool.kindling.recovery]`` (``max-attempts``, ``window-seconds``,
    ``unknown-max-attempts``), measuring the window with ``clock``."""
    return RecoveryBudget(config.max_attempts, config.window_seconds, unknown_max_attempts=config.unknown_max_attempts, clock=clock)


class PendingRecovery:
    """A scheduled restart: the backoff its recovery thread (``kindling-recover-<key>``) waits out.

    :meth:`wait` blocks for ``delay`` seconds and says whether the restart is still on;
    :meth:`cancel` (a stop or restart) ends the wait at once. A cancel that comes as the wait
    ends may be too late; the restart then races the canceller on the query's state
    (compare-and-set), and exactly one of them acts.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait(self) -> bool:
        """Wait out the backoff: ``True`` when it passed, ``False`` when cancelled."""
        return not self._cancelled.wait(self.delay)

    def cancel(self) -> None:
        """End the wait; the restart does not happen (unless it already began)."""
        self._cancelled.set()

    def __repr__(self) -> str:
        return f"<PendingRecovery in {self.delay:g}s{' cancelled' if self.cancelled else ''}>"


class QueryRecovery:
    """The recovery bookkeeping of one managed query.

    Fields other than ``budget`` (thread-safe itself) are guarded by the manager's lock. A
    *crash loop* begins at a failure of a healthy (or explicitly started) query and ends when a
    restarted run proves healthy, when the budget is exhausted, when recovery is declined, or at
    an explicit start/restart; ``loop_attempts`` counts its restarts.
    """

    def __init__(self, budget: RecoveryBudget) -> None:
        self.budget = budget
        self.failures = 0
        self.recoveries = 0
        self.classification: Classification | None = None
        self.decision: RecoveryDecision | None = None
        self.pending: PendingRecovery | None = None
        self.next_attempt_at: float | None = None
        #: A failure is being classified and decided on (the query is briefly ``failed``).
        self.deciding = False
        #: A stop was requested: no recovery may begin until an explicit start.
        self.halted = False
        self.loop_attempts = 0
        self.loop_began: float | None = None  # time.monotonic() of the loop's first failure
        #: The restarted run being confirmed healthy, and its micro-batches so far.
        self.probation_run: str | None = None
        self.probation_batches = 0

    def kind(self) -> FailureKind:
        """The last failure's kind (``transient`` before any: the shared pool)."""
        return self.classification.kind if self.classification is not None else FailureKind.TRANSIENT

    def end_loop(self) -> tuple[int, float | None]:
        """Forget the crash loop; return its attempts and its first failure's monotonic time."""
        ended = (self.loop_attempts, self.loop_began)
        self.loop_attempts, self.loop_began = 0, None
        self.probation_run, self.probation_batches = None, 0
        return ended

    def take_pending(self) -> PendingRecovery | None:
        """Detach the pending recovery (the caller cancels it)."""
        pending, self.pending, self.next_attempt_at = self.pending, None, None
        return pending


def judge_failure(app: App, budget: RecoveryBudget, context: FailureContext, *, adopted: str = "") -> RecoveryDecision:
    """Classify ``context``'s failure with the app's classifier chain and decide its recovery
    with the recovery-strategy chain, judged against ``budget`` in the pool of the failure's
    kind and with the configured backoff. Plugin items that raise are reported to the app's
    error handlers and skipped (see :mod:`kindling_core.recovery.chain`).

    ``adopted`` (the query's key, for an adopted query): kindling cannot start the query again,
    so a restart or clean start becomes give-up, its reason naming the strategy that asked.
    """
    config = app.config.recovery
    classification = classify_failure(app.failure_classifiers(), context, app.errors)
    kind = classification.kind
    recovery_context = RecoveryContext(
        failure=context,
        classification=classification,
        attempts_so_far=budget.attempts(kind),
        max_attempts=budget.limit(kind),
        backoff=Backoff(config.backoff_seconds, config.backoff_max_seconds),
    )
    decision = decide_recovery(app.registry.family("recovery-strategies").attributed(), recovery_context, app.errors)
    action = decision.action
    if adopted and action.kind in RESTARTS:
        refused = RecoveryAction(
            RecoveryActionKind.GIVE_UP,
            f"query {adopted!r} was adopted: kindling cannot start it again (recovery strategy "
            f"{action.strategy!r} asked for {action.kind.value}: {action.reason})",
            strategy=action.strategy,
        )
        decision = attrs.evolve(decision, action=refused, exhausted=False)
    return decision
