"""The recovery core without Spark: backoff, the recovery budget and the decision's core rules."""

from __future__ import annotations

import threading

import pytest

from kindling_core.errors import PluginItemError
from kindling_core.items import (
    Classification,
    FailureContext,
    FailureKind,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
    RecoveryStrategy,
)
from kindling_core.plugin import Backoff
from kindling_core.recovery import RecoveryBudget, decide_recovery
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, make_app, plugin_from

# ------------------------------------------------------------------------------ backoff


def test_the_ceiling_doubles_from_base_up_to_the_cap() -> None:
    backoff = Backoff(base=2.0, cap=10.0)
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert Backoff(base=2.0, cap=10.0, random=lambda: 0.0).delay(3) == 0.0
    assert Backoff(base=2.0, cap=10.0, random=lambda: 0.5).delay(3) == 4.0
    assert Backoff(base=2.0, cap=10.0, random=lambda: 0.999).delay(9) == pytest.approx(9.99)


def test_a_long_run_of_attempts_never_overflows() -> None:
    backoff = Backoff(base=1.0, cap=30.0, random=lambda: 1.0)
    assert backoff.ceiling(5000) == 30.0 and backoff.delay(5000) == 30.0
    assert Backoff(base=0.0, cap=0.0).delay(5000) == 0.0


@pytest.mark.parametrize(
    ("base", "cap", "words"),
    [
        (-1.0, 1.0, "Backoff.base must be a finite number of seconds >= 0, got -1.0"),
        (5.0, 1.0, "Backoff.cap must be >= Backoff.base (5.0), got 1.0"),
    ],
)
def test_a_bad_backoff_is_refused(base: float, cap: float, words: str) -> None:
    with pytest.raises(ValueError, match=f"^{words.replace('(', '.').replace(')', '.')}$"):
        Backoff(base=base, cap=cap)


# ------------------------------------------------------------------------------ budget


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempts_age_out_of_the_window() -> None:
    clock = FakeClock()
    budget = RecoveryBudget(3, 60.0, unknown_max_attempts=1, clock=clock)
    assert budget.spend(FailureKind.TRANSIENT) == 1
    clock.now += 30
    assert budget.spend(FailureKind.CONFLICT) == 2  # every kind but unknown shares one pool
    assert budget.attempts(FailureKind.PERMANENT) == 2
    clock.now += 31  # the first attempt is now older than the window
    assert budget.attempts(FailureKind.TRANSIENT) == 1
    clock.now += 30
    assert budget.attempts(FailureKind.TRANSIENT) == 0  # a sustained healthy period gives the budget back


def test_unknown_failures_spend_a_pool_of_their_own() -> None:
    budget = RecoveryBudget(5, 60.0, unknown_max_attempts=1, clock=FakeClock())
    budget.spend(FailureKind.UNKNOWN)
    assert (budget.attempts(FailureKind.UNKNOWN), budget.limit(FailureKind.UNKNOWN)) == (1, 1)
    assert (budget.attempts(FailureKind.TRANSIENT), budget.limit(FailureKind.TRANSIENT)) == (0, 5)


def test_a_window_of_zero_never_ages_and_reset_forgets() -> None:
    clock = FakeClock()
    budget = RecoveryBudget(2, 0, unknown_max_attempts=1, clock=clock)
    budget.spend(FailureKind.TRANSIENT)
    budget.spend(FailureKind.UNKNOWN)
    clock.now += 1e9
    assert (budget.attempts(FailureKind.TRANSIENT), budget.attempts(FailureKind.UNKNOWN)) == (1, 1)
    budget.reset()
    assert (budget.attempts(FailureKind.TRANSIENT), budget.attempts(FailureKind.UNKNOWN)) == (0, 0)


def test_the_budget_counts_every_attempt_spent_from_many_threads() -> None:
    budget = RecoveryBudget(10_000, 0, unknown_max_attempts=10_000)
    start = threading.Barrier(8)

    def spend(kind: FailureKind) -> None:
        start.wait()
        for _ in range(500):
            budget.spend(kind)
            budget.attempts(kind)

    threads = [threading.Thread(target=spend, args=(FailureKind.UNKNOWN if i % 2 else FailureKind.TRANSIENT,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (budget.attempts(FailureKind.TRANSIENT), budget.attempts(FailureKind.UNKNOWN)) == (2000, 2000)


# ------------------------------------------------------------------------------ decision


def context(kind: FailureKind, *, attempts_so_far: int = 0, max_attempts: int = 3, source: str = "pipe") -> RecoveryContext:
    failure = FailureContext.of(RuntimeError("boom"), source=source, subject="p.x")
    return RecoveryContext(failure, Classification(kind, "test", "t"), attempts_so_far=attempts_so_far, max_attempts=max_attempts)


def strategy(name: str, decide) -> RecoveryStrategy:
    return RecoveryStrategy(name=name, description="a test strategy", decide=decide)


def restart(context: RecoveryContext) -> RecoveryAction:
    return RecoveryAction(RecoveryActionKind.RESTART, "try again", delay_seconds=1.5)


def test_the_first_action_wins_and_names_its_strategy() -> None:
    chain = [strategy("abstains", lambda c: None), strategy("restarts", restart), strategy("never-asked", restart)]
    decision = decide_recovery(chain, context(FailureKind.TRANSIENT, attempts_so_far=1))
    assert decision.action == RecoveryAction(RecoveryActionKind.RESTART, "try again", 1.5, "restarts")
    assert (decision.retry, decision.exhausted, decision.attempt, decision.max_attempts) == (True, False, 2, 3)
    assert decision.classification.kind is FailureKind.TRANSIENT


@pytest.mark.parametrize("kind", [RecoveryActionKind.RESTART, RecoveryActionKind.CLEAN_START])
def test_a_permanent_failure_is_never_restarted_whatever_a_strategy_asks(kind: RecoveryActionKind) -> None:
    eager = strategy("eager", lambda c: RecoveryAction(kind, "always"))
    decision = decide_recovery([eager], context(FailureKind.PERMANENT, source="stream"))
    assert decision.action.kind is RecoveryActionKind.GIVE_UP and not decision.retry and not decision.exhausted
    assert decision.action.strategy == "eager"
    assert decision.action.reason == f"a permanent failure is never restarted; recovery strategy 'eager' asked for {kind.value} (always)"


def test_a_restart_beyond_the_budget_is_exhausted() -> None:
    decision = decide_recovery([strategy("restarts", restart)], context(FailureKind.TRANSIENT, attempts_so_far=3, max_attempts=3))
    assert decision.action.kind is RecoveryActionKind.RESTART
    assert (decision.exhausted, decision.retry, decision.attempt) == (True, False, 4)
    clean = strategy("clean", lambda c: RecoveryAction(RecoveryActionKind.CLEAN_START, "fresh"))
    assert decide_recovery([clean], context(FailureKind.CHECKPOINT, attempts_so_far=3, max_attempts=3)).exhausted
    alert = strategy("alert", lambda c: RecoveryAction(RecoveryActionKind.ALERT_ONLY, "page"))
    assert not decide_recovery([alert], context(FailureKind.TRANSIENT, attempts_so_far=3, max_attempts=3)).exhausted


def test_with_no_strategy_that_applies_the_core_gives_up() -> None:
    for chain in ([], [strategy("abstains", lambda c: None)]):
        decision = decide_recovery(chain, context(FailureKind.TRANSIENT))
        assert decision.action == RecoveryAction(RecoveryActionKind.GIVE_UP, "no recovery strategy applied")
        assert not decision.retry


def raises(context: RecoveryContext) -> RecoveryAction:
    raise RuntimeError("strategy bug")


@pytest.mark.parametrize(
    ("decide", "problem"),
    [
        (raises, "raised RuntimeError: strategy bug"),
        (lambda c: "restart", "returned str 'restart', not a RecoveryAction or None"),
        (
            lambda c: RecoveryAction(RecoveryActionKind.RESTART, "now", delay_seconds=-1),
            "returned a RecoveryAction with delay_seconds=-1; a delay is a finite number >= 0",
        ),
    ],
)
def test_a_broken_strategy_is_reported_and_skipped(decide, problem: str) -> None:
    recorder = RecordingErrorHandler()
    broken = RecoveryStrategy(name="broken", description="a broken strategy", decide=decide)
    plugin = FakeEntryPoint(
        "acme", plugin_from(kindling_recovery_strategies=lambda: [broken]), distribution="acme-kindling", version="1.2.0"
    )
    app = make_app([plugin, FakeEntryPoint("rec", recorder)], config={"recovery": {"order": ["broken", "..."]}})
    decision = decide_recovery(app.recovery_strategies(), context(FailureKind.TRANSIENT), app.errors)
    assert decision.action.strategy == "restart-with-backoff" and decision.retry  # the rest of the chain decided
    (event,) = recorder.events
    assert isinstance(event.error, PluginItemError) and event.subject == "broken"
    assert str(event.error).splitlines()[0] == (
        f"recovery strategy 'broken' of plugin acme (acme-kindling 1.2.0) {problem} while deciding the recovery of "
        "pipe 'p.x' (transient failure); it was skipped and the rest of the recovery-strategies went on"
    )
