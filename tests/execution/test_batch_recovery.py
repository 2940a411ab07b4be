"""Batch pipes in ``app.run`` go through the recovery-strategy chain (no Spark: a scripted runner).

A test classifier decides the kind from a ``[kind]`` marker in the message, so these tests pin
down what the recovery chain and the budget do with each kind, whatever the built-in
classifiers' rules are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kindling_core.execution import PipeStatus
from kindling_core.execution import signals as sig
from kindling_core.plugin import (
    Backoff,
    Classification,
    FailureClassifier,
    FailureContext,
    FailureKind,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
    RecoveryStrategy,
)
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, ScriptedRunner, make_app, plugin_from


def by_marker(context: FailureContext) -> Classification | None:
    for kind in FailureKind:
        if f"[{kind.value}]" in str(context.error):
            return Classification(kind, f"marked {kind.value}")
    return None


MARKER = FakeEntryPoint(
    "marker",
    plugin_from(
        kindling_failure_classifiers=lambda: [
            FailureClassifier(name="by-marker", description="the kind written in the message", classify=by_marker)
        ]
    ),
    distribution="marker-kindling",
    version="1.0",
)


def failing(*kinds: FailureKind) -> Callable[[int, Any], None]:
    """Fail attempt n with a failure of ``kinds[n-1]``; succeed after the last."""

    def action(attempt: int, context: Any) -> None:
        if attempt <= len(kinds):
            raise RuntimeError(f"[{kinds[attempt - 1].value}] attempt {attempt}")

    return action


def run(script: Callable[[int, Any], None], *, plugins: tuple[Any, ...] = (), config: dict[str, Any] | None = None, **arguments: Any):
    """Run one pipe ``p.x`` with ``script``; return the result, the recorder, and the signals' payloads."""
    recorder = RecordingErrorHandler()
    settings: dict[str, Any] = {"failure-classifiers": {"order": ["by-marker", "..."]}}
    settings.update(config or {})
    settings.setdefault("execution", {"retry-backoff-seconds": 0.0})
    app = make_app([MARKER, FakeEntryPoint("rec", recorder), *plugins], config=settings)
    app.entity("raw.x", path="/tmp/raw.x")
    app.entity("s.x", path="/tmp/s.x")

    @app.pipe("p.x", inputs=["raw.x"], output="s.x")
    def x(raw):
        return raw

    failed: list[sig.PipeFailed] = []
    retried: list[sig.PipeRetry] = []
    app.signals.connect(sig.PIPE_FAILED, lambda sender, payload: failed.append(payload))
    app.signals.connect(sig.PIPE_RETRY, lambda sender, payload: retried.append(payload))
    result = app.run(runner=ScriptedRunner({"p.x": script}), on_failure="continue", **arguments)
    return result.outcome("p.x"), recorder, failed, retried


def test_a_transient_failure_is_retried_with_the_configured_backoff_then_succeeds() -> None:
    execution = {"max-retries": 3, "retry-backoff-seconds": 0.01, "retry-backoff-max-seconds": 0.015}
    outcome, recorder, failed, retried = run(failing(FailureKind.TRANSIENT, FailureKind.TRANSIENT), config={"execution": execution})
    assert (outcome.status, outcome.attempts) == (PipeStatus.SUCCEEDED, 3)
    assert [(r.next_attempt, r.strategy) for r in retried] == [(2, "restart-with-backoff"), (3, "restart-with-backoff")]
    assert 0 <= retried[0].delay <= 0.01 and 0 <= retried[1].delay <= 0.015  # full jitter under the capped ceiling
    assert [r.delay for r in retried] == [r.decision.action.delay_seconds for r in retried]
    assert [(f.action, f.strategy, f.will_retry) for f in failed] == [("restart", "restart-with-backoff", True)] * 2
    assert [(e.context["action"], e.context["strategy"], e.context["retries"], e.context["max_retries"]) for e in recorder.events] == [
        ("restart", "restart-with-backoff", 0, 3),
        ("restart", "restart-with-backoff", 1, 3),
    ]


def test_strategies_see_the_retries_budget_and_backoff_of_the_run() -> None:
    seen: list[RecoveryContext] = []
    spy = RecoveryStrategy(name="spy", description="records what it sees", decide=lambda context: seen.append(context))
    plugin = FakeEntryPoint("spy", plugin_from(kindling_recovery_strategies=lambda: [spy]))
    execution = {"max-retries": 4, "retry-backoff-seconds": 0.0, "retry-backoff-max-seconds": 7}
    run(
        failing(FailureKind.TRANSIENT, FailureKind.CONFLICT, FailureKind.UNKNOWN),
        plugins=(plugin,),
        config={"execution": execution, "recovery": {"order": ["spy", "..."], "unknown-max-attempts": 2}},
    )
    assert [(c.classification.kind, c.attempts_so_far, c.max_attempts) for c in seen] == [
        (FailureKind.TRANSIENT, 0, 4),
        (FailureKind.CONFLICT, 1, 4),  # transient and conflict share one pool
        (FailureKind.UNKNOWN, 0, 2),  # unknown has its own
    ]
    assert {c.backoff for c in seen} == {Backoff(base=0.0, cap=7.0)}
    assert [c.failure.attempt for c in seen] == [1, 2, 3] and {c.failure.source for c in seen} == {"pipe"}


def test_a_conflict_is_retried() -> None:
    outcome, _, failed, _ = run(failing(FailureKind.CONFLICT))
    assert (outcome.status, outcome.attempts) == (PipeStatus.SUCCEEDED, 2)
    assert failed[0].kind == "conflict" and failed[0].will_retry


def test_an_unknown_failure_is_retried_at_most_unknown_max_attempts_times() -> None:
    always_unknown = failing(*[FailureKind.UNKNOWN] * 10)
    outcome, recorder, failed, _ = run(always_unknown, config={"execution": {"max-retries": 5, "retry-backoff-seconds": 0}})
    assert (outcome.status, outcome.attempts) == (PipeStatus.FAILED, 2)  # the default: one retry
    assert failed[-1].decision.exhausted and not failed[-1].will_retry
    assert recorder.events[-1].context["will_retry"] is False
    for allowed in (0, 3):
        config = {"execution": {"max-retries": 5, "retry-backoff-seconds": 0}, "recovery": {"unknown-max-attempts": allowed}}
        assert run(always_unknown, config=config)[0].attempts == allowed + 1


def test_unknown_failures_do_not_spend_the_retries_of_the_others() -> None:
    kinds = (FailureKind.TRANSIENT, FailureKind.TRANSIENT, FailureKind.UNKNOWN)
    outcome, *_ = run(failing(*kinds), config={"execution": {"max-retries": 2, "retry-backoff-seconds": 0}})
    assert (outcome.status, outcome.attempts) == (PipeStatus.SUCCEEDED, 4)


def test_a_permanent_failure_runs_once() -> None:
    outcome, recorder, failed, retried = run(failing(*[FailureKind.PERMANENT] * 3))
    assert (outcome.status, outcome.attempts, retried) == (PipeStatus.FAILED, 1, [])
    assert (failed[0].action, failed[0].strategy) == ("give-up", "give-up-on-permanent")
    (event,) = recorder.events
    assert (event.context["action"], event.context["strategy"], event.context["will_retry"]) == ("give-up", "give-up-on-permanent", False)


def test_a_recovery_strategy_plugin_that_gives_up_changes_the_outcome() -> None:
    never = RecoveryStrategy(
        name="never-retry",
        description="give up on everything",
        decide=lambda context: RecoveryAction(RecoveryActionKind.GIVE_UP, "retries are not allowed here"),
    )
    plugin = FakeEntryPoint(
        "strict", plugin_from(kindling_recovery_strategies=lambda: [never]), distribution="strict-kindling", version="2.0"
    )
    flaky = failing(FailureKind.TRANSIENT)
    assert run(flaky)[0].status is PipeStatus.SUCCEEDED  # without it: retried
    outcome, recorder, failed, retried = run(flaky, plugins=(plugin,), config={"recovery": {"order": ["never-retry", "..."]}})
    assert (outcome.status, outcome.attempts, retried) == (PipeStatus.FAILED, 1, [])
    assert (failed[0].strategy, failed[0].decision.action.reason) == ("never-retry", "retries are not allowed here")
    assert recorder.events[0].context["reason"] == "retries are not allowed here"


def test_execution_max_retries_still_bounds_the_retries() -> None:
    always = failing(*[FailureKind.TRANSIENT] * 10)
    outcome, _, failed, _ = run(always, config={"execution": {"max-retries": 1, "retry-backoff-seconds": 0}})
    assert (outcome.status, outcome.attempts) == (PipeStatus.FAILED, 2)
    assert failed[-1].decision.exhausted and failed[-1].action == "restart"  # wanted a restart, the budget said no
    assert run(always, max_retries=0)[0].attempts == 1  # app.run(max_retries=...) too


def test_a_timed_out_pipe_is_never_retried() -> None:
    def hang(attempt: int, context: Any) -> None:
        context.cancelled.wait(30)  # a well-behaved runner stops when cancelled
        raise RuntimeError("[transient] cancelled")

    outcome, recorder, failed, retried = run(hang, timeout_seconds=0.2)
    assert (outcome.status, outcome.attempts, retried) == (PipeStatus.TIMED_OUT, 1, [])
    assert failed[0].action == "give-up" and failed[0].strategy == ""
    assert recorder.events[0].context["reason"] == "a timed-out pipe is never retried (its Spark jobs may still be running)"
