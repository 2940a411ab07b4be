"""The generation executor: runs a plan generation by generation.

Semantics (sequential within a generation by default, as `docs/design/concurrency.md` explains):

* generations run in plan order; within a generation pipes run **sequentially** in plan
  order by default (Spark parallelises each pipe's work across the cluster); with
  ``concurrency > 1`` (opt-in) up to that many pipes of one generation run at once, each in its
  own job group and scheduler pool (see ``docs/design/concurrency.md``), and ``fail_fast``
  then stops at the end of the generation in which a pipe failed;
* each attempt runs under its own Spark job group / tag, so a per-pipe timeout or Ctrl-C
  really cancels the pipe's Spark jobs (the runner's ``cancel``) instead of abandoning them.
  With a timeout the attempt runs on a short-lived worker thread and the executor waits up to
  ``cancel_grace_seconds`` for it to stop after cancelling; without one it runs on the
  calling thread (cheaper for PySpark);
* Ctrl-C is cooperative (:mod:`~kindling_core.execution.interrupts`): the first press
  cancels the running attempts' Spark jobs from a watcher thread, records them as cancelled,
  starts nothing new and raises :class:`RunInterrupted` with the partial result; a second
  press raises ``KeyboardInterrupt`` at once;
* a failed attempt goes the way every failure goes (:mod:`kindling_core.recovery`): the
  failure-classifier chain classifies it (:func:`classify_failure`), then the recovery-strategy
  chain decides (:func:`~kindling_core.recovery.decide_recovery`), given the retries this pipe
  already made in this run in the pool of the failure's kind (``max_retries``, or
  ``unknown_max_attempts`` for ``unknown`` failures) and the run's :class:`Backoff`. The pipe
  is retried exactly when the decision is a restart within that budget, after the deciding
  strategy's delay (by default ``restart-with-backoff``: transient, conflict and unknown
  failures, full jitter); permanent failures never are, and a timed-out pipe is never retried
  (its Spark jobs may still be running). The :class:`~kindling_core.items.Classification` and
  the :class:`~kindling_core.recovery.RecoveryDecision` are carried by ``pipe.run_failed``, the
  error event and (the classification) the pipe's outcome;
* after a pipe fails for good, the failure policy decides what else runs
  (:class:`~kindling_core.execution.policy.FailurePolicy`);
* every failed attempt is given to the error handlers (context: run id, attempt,
  ``will_retry``) and signalled; the run's bookkeeping lives in a per-run object, never
  on the executor, so concurrent runs in one process do not interfere.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from kindling_core.config import ExecutionConfig, RecoveryConfig
from kindling_core.errorhandling import ErrorReporter
from kindling_core.execution import signals as sig
from kindling_core.execution.errors import PipeTimeoutError, RunInterrupted
from kindling_core.execution.interrupts import InterruptGate, cooperative_interrupts
from kindling_core.execution.policy import FailurePolicy
from kindling_core.execution.result import PipeOutcome, PipeStatus, RunResult
from kindling_core.execution.runner import AttemptContext, PipeRunner, job_tag
from kindling_core.items import (
    Classification,
    FailureClassifier,
    FailureContext,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
    RecoveryStrategy,
)
from kindling_core.plugins.registry import Provided
from kindling_core.recovery.backoff import Backoff
from kindling_core.recovery.budget import RecoveryBudget
from kindling_core.recovery.chain import UNDECIDED, RecoveryDecision, classify_failure, decide_recovery
from kindling_core.signals import SignalBus

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.model import Pipe
    from kindling_core.planning import ExecutionPlan

__all__ = ["GenerationExecutor", "ExecutorSettings", "classify_failure", "UNDECIDED"]


_EXECUTION = ExecutionConfig()
_RECOVERY = RecoveryConfig()


@attrs.frozen
class ExecutorSettings:
    """Run settings (from ``[tool.kindling.execution]``, ``unknown-max-attempts`` of
    ``[tool.kindling.recovery]`` and ``app.run`` arguments; :meth:`from_config`)."""

    on_failure: FailurePolicy = FailurePolicy.FAIL_FAST
    max_retries: int = _EXECUTION.max_retries
    """Retries a pipe may make in one run for failures other than ``unknown``."""
    unknown_max_attempts: int = _RECOVERY.unknown_max_attempts
    """Retries a pipe may make in one run for ``unknown`` failures (a pool of its own)."""
    backoff: Backoff = Backoff(_EXECUTION.retry_backoff_seconds, _EXECUTION.retry_backoff_max_seconds)
    """The backoff recovery strategies read (``context.backoff``)."""
    timeout_seconds: float = 0.0
    cancel_grace_seconds: float = 60.0
    concurrency: int = 1
    cooperative_interrupts: bool = True

    @classmethod
    def from_config(cls, execution: ExecutionConfig, recovery: RecoveryConfig) -> ExecutorSettings:
        """The settings ``[tool.kindling.execution]`` and ``[tool.kindling.recovery]`` describe."""
        return cls(
            on_failure=FailurePolicy(execution.on_failure),
            max_retries=execution.max_retries,
            unknown_max_attempts=recovery.unknown_max_attempts,
            backoff=Backoff(execution.retry_backoff_seconds, execution.retry_backoff_max_seconds),
            timeout_seconds=execution.timeout_seconds,
            concurrency=execution.concurrency,
        )


@attrs.define
class _Run:
    """Per-run mutable state (never shared between runs)."""

    run_id: str
    plan: ExecutionPlan
    settings: ExecutorSettings
    outcomes: dict[str, PipeOutcome] = attrs.field(factory=dict)
    failed: set[str] = attrs.field(factory=set)
    skips: dict[str, str] = attrs.field(factory=dict)
    stop_reason: str | None = None
    interrupted: bool = False
    active: dict[str, AttemptContext] = attrs.field(factory=dict)
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    gate: InterruptGate = attrs.field(factory=InterruptGate)

    def stopping(self) -> bool:
        """Whether Ctrl-C was pressed: start nothing new, record what stops as cancelled."""
        return self.interrupted or self.gate.requested

    def active_attempts(self) -> list[AttemptContext]:
        with self.lock:
            return list(self.active.values())


def cancel_until_stopped(
    runner: PipeRunner,
    errors: ErrorReporter,
    attempts: Sequence[tuple[AttemptContext, threading.Event]],
    grace: float,
    interval: float = 1.0,
) -> bool:
    """Cancel each attempt's Spark jobs, again every ``interval`` seconds until its ``stopped``
    event is set or ``grace`` runs out; return whether all stopped.

    Cancelling once is not enough: a cancel reaches the jobs already submitted, and a pipe that
    was between two Spark actions (or still planning its write) submits the next job after it.
    Runners cancel future jobs of the attempt where Spark allows it (classic job groups); the
    repetition covers Spark Connect's ``interruptTag`` and anything slower. Each attempt's
    first cancellation failure is given to the error handlers (never raised: it must not mask
    the timeout or interrupt being handled).
    """
    for context, _ in attempts:
        context.cancelled.set()
    deadline = time.monotonic() + grace
    reported: set[str] = set()
    while True:
        pending = [(context, stopped) for context, stopped in attempts if not stopped.is_set()]
        if not pending:
            return True
        for context, _ in pending:
            try:
                runner.cancel(context)
            except Exception as exc:  # noqa: BLE001 - report once, never mask what is being cancelled
                if context.tag not in reported:
                    reported.add(context.tag)
                    errors.report(exc, source="pipe-cancel", subject=context.pipe_id, tag=context.tag)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        pending[0][1].wait(min(interval, remaining))


class GenerationExecutor:
    """Runs plans with a :class:`PipeRunner`; stateless between runs (see module doc)."""

    def __init__(
        self,
        *,
        runner: PipeRunner,
        signals: SignalBus,
        errors: ErrorReporter,
        classifiers: Sequence[FailureClassifier | Provided[FailureClassifier]],
        strategies: Sequence[RecoveryStrategy | Provided[RecoveryStrategy]] = (),
    ) -> None:
        self._runner = runner
        self._signals = signals
        self._errors = errors
        self._classifiers = tuple(classifiers)
        self._strategies = tuple(strategies)
        self._emit = {spec.name: signals.bound(spec) for spec in sig.EMITS}

    def _signal(self, spec: Any, payload: Any) -> None:
        bound = self._emit[spec.name]
        if bound.has_receivers:
            bound.emit(payload)

    # ------------------------------------------------------------------ run

    def run(
        self,
        plan: ExecutionPlan,
        pipes: Mapping[str, Pipe],
        settings: ExecutorSettings,
        *,
        dry_run: bool = False,
        downstream: Callable[[str], set[str]] | None = None,
    ) -> RunResult:
        """Run ``plan``; ``pipes`` maps ids to declarations; ``downstream(pipe_id)`` gives the
        transitive dependents (for ``skip_dependents``). Raises :class:`RunInterrupted` on
        Ctrl-C after cancelling the running pipe."""
        run = _Run(run_id=uuid.uuid4().hex[:12], plan=plan, settings=settings)
        started = time.perf_counter()
        order = [pipe_id for generation in plan.generations for pipe_id in generation]
        self._signal(
            sig.RUN_BEFORE,
            sig.RunStarted(run.run_id, plan.strategy, tuple(order), len(plan.generations), settings.on_failure.value, dry_run),
        )
        try:
            with cooperative_interrupts(
                lambda: self._cancel_active(run), enabled=settings.cooperative_interrupts
            ) as run.gate:
                for index, generation in enumerate(plan.generations):
                    self._run_generation(run, index, list(generation), pipes, dry_run, downstream)
                    if run.stopping():
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            run.interrupted = True
            for index, generation in enumerate(plan.generations):
                for pipe_id in generation:
                    if pipe_id not in run.outcomes:
                        run.outcomes[pipe_id] = PipeOutcome(
                            pipe_id, PipeStatus.SKIPPED, index, reason="run interrupted", output=pipes[pipe_id].output
                        )
        result = RunResult(
            run_id=run.run_id,
            strategy=plan.strategy,
            pipes=tuple(run.outcomes[pipe_id] for pipe_id in order),
            duration=time.perf_counter() - started,
            on_failure=settings.on_failure.value,
            dry_run=dry_run,
            interrupted=run.interrupted,
        )
        finished = sig.RunFinished(
            run.run_id,
            result.status,
            result.duration,
            tuple(sorted(result.counts.items())),
            tuple(o.pipe_id for o in result.pipes if o.status.is_failure),
            result,
        )
        self._signal(sig.RUN_AFTER, finished)
        if not result.succeeded:
            self._signal(sig.RUN_FAILED, finished)
        if run.interrupted:
            raise RunInterrupted(result)
        return result

    def _run_generation(
        self,
        run: _Run,
        index: int,
        generation: list[str],
        pipes: Mapping[str, Pipe],
        dry_run: bool,
        downstream: Callable[[str], set[str]] | None,
    ) -> None:
        started = time.perf_counter()
        self._signal(sig.GENERATION_BEFORE, sig.GenerationEvent(run.run_id, index, tuple(generation)))
        runnable: list[Pipe] = []
        for pipe_id in generation:
            if run.stopping():
                raise KeyboardInterrupt
            pipe = pipes[pipe_id]
            reason = self._skip_reason(run, pipe_id)
            if reason is not None:
                run.outcomes[pipe_id] = PipeOutcome(pipe_id, PipeStatus.SKIPPED, index, reason=reason, output=pipe.output)
                self._signal(sig.PIPE_SKIPPED, sig.PipeSkipped(run.run_id, pipe_id, index, reason))
                continue
            if dry_run:
                run.outcomes[pipe_id] = PipeOutcome(pipe_id, PipeStatus.PLANNED, index, output=pipe.output)
                continue
            if run.settings.concurrency > 1:
                runnable.append(pipe)
                continue
            outcome = self._run_pipe(run, index, pipe)
            run.outcomes[pipe_id] = outcome
            if outcome.status.is_failure:
                self._after_failure(run, pipe_id, downstream)
        if runnable:
            self._run_concurrently(run, index, runnable, downstream)
        self._signal(
            sig.GENERATION_AFTER,
            sig.GenerationEvent(run.run_id, index, tuple(generation), time.perf_counter() - started),
        )

    def _run_concurrently(
        self, run: _Run, index: int, batch: list[Pipe], downstream: Callable[[str], set[str]] | None
    ) -> None:
        """Run independent pipes of one generation on a bounded pool (opt-in concurrency).

        Outcomes are recorded by this (the run's) thread only; on Ctrl-C every running
        attempt is cancelled, their outcomes are recorded as cancelled, and the interrupt
        propagates.
        """
        from concurrent.futures import ThreadPoolExecutor, wait

        pool = ThreadPoolExecutor(max_workers=min(run.settings.concurrency, len(batch)), thread_name_prefix="kindling-gen")
        futures: list[tuple[Any, Pipe]] = []
        try:
            for pipe in batch:
                futures.append((pool.submit(self._run_pipe, run, index, pipe), pipe))
            pending = {future for future, _ in futures}
            while pending:
                _, pending = wait(pending, timeout=0.2)
        except KeyboardInterrupt:
            self._cancel_active(run)
            wait([future for future, _ in futures], timeout=run.settings.cancel_grace_seconds)
            submitted = {pipe.id: future for future, pipe in futures}
            for pipe in batch:
                future = submitted.get(pipe.id)
                outcome = future.result() if future is not None and future.done() and future.exception() is None else None
                run.outcomes[pipe.id] = outcome or PipeOutcome(
                    pipe.id, PipeStatus.CANCELLED, index, reason="interrupted", output=pipe.output
                )
            raise
        finally:
            pool.shutdown(wait=False)
        for future, pipe in futures:  # record in plan order
            outcome = future.result()
            run.outcomes[pipe.id] = outcome
            if outcome.status.is_failure:
                self._after_failure(run, pipe.id, downstream)

    def _skip_reason(self, run: _Run, pipe_id: str) -> str | None:
        if run.stop_reason is not None:
            return run.stop_reason
        if pipe_id in run.failed:
            return None
        return run.skips.get(pipe_id)

    def _after_failure(self, run: _Run, pipe_id: str, downstream: Callable[[str], set[str]] | None) -> None:
        policy = run.settings.on_failure
        if policy is FailurePolicy.FAIL_FAST:
            run.stop_reason = f"run stopped after {pipe_id!r} failed (fail_fast)"
        elif policy is FailurePolicy.SKIP_DEPENDENTS and downstream is not None:
            for dependent in downstream(pipe_id):
                run.skips.setdefault(dependent, f"upstream pipe {pipe_id!r} failed (skip_dependents)")
        run.failed.add(pipe_id)

    # ------------------------------------------------------------------ one pipe

    def _run_pipe(self, run: _Run, generation: int, pipe: Pipe) -> PipeOutcome:
        settings = run.settings
        started = time.perf_counter()
        retries = RecoveryBudget(  # this pipe's retries in this run; they never age out
            settings.max_retries, 0, unknown_max_attempts=settings.unknown_max_attempts
        )
        attempt = 0
        while True:
            attempt += 1
            context = AttemptContext(run.run_id, pipe.id, attempt, job_tag(run.run_id, pipe.id, attempt))
            with run.lock:
                run.active[context.tag] = context
            if run.stopping():  # checked after registering, so a concurrent cancel sees this attempt
                with run.lock:
                    run.active.pop(context.tag, None)
                return PipeOutcome(
                    pipe.id, PipeStatus.SKIPPED if attempt == 1 else PipeStatus.CANCELLED, generation,
                    time.perf_counter() - started, attempt - 1, reason="run interrupted", output=pipe.output,
                )
            self._signal(sig.PIPE_BEFORE, sig.PipeStarted(run.run_id, pipe.id, generation, attempt))
            attempt_started = time.perf_counter()
            try:
                error = self._attempt(pipe, context, settings)
            finally:
                with run.lock:
                    run.active.pop(context.tag, None)
                context.finished.set()
            attempt_duration = time.perf_counter() - attempt_started
            if error is None:
                self._signal(sig.PIPE_AFTER, sig.PipeFinished(run.run_id, pipe.id, generation, attempt, attempt_duration))
                return PipeOutcome(pipe.id, PipeStatus.SUCCEEDED, generation, time.perf_counter() - started, attempt, output=pipe.output)
            if run.stopping() and not isinstance(error, KeyboardInterrupt):
                return PipeOutcome(
                    pipe.id, PipeStatus.CANCELLED, generation, time.perf_counter() - started, attempt,
                    error=error, reason="interrupted; its Spark jobs were cancelled", output=pipe.output,
                )
            if isinstance(error, KeyboardInterrupt):
                outcome = PipeOutcome(
                    pipe.id, PipeStatus.CANCELLED, generation, time.perf_counter() - started, attempt,
                    error=error, reason="interrupted; its Spark jobs were cancelled", output=pipe.output,
                )
                run.outcomes[pipe.id] = outcome
                raise error
            failure = FailureContext.of(error, source="pipe", subject=pipe.id, attempt=attempt)
            classification = classify_failure(self._classifiers, failure, self._errors)
            timed_out = isinstance(error, PipeTimeoutError)
            decision = self._decide(failure, classification, retries, settings, timed_out)
            will_retry = decision.retry
            self._signal(
                sig.PIPE_FAILED,
                sig.PipeFailed(
                    run.run_id, pipe.id, generation, attempt, attempt_duration, error, classification, will_retry, decision
                ),
            )
            self._errors.report(
                error,
                source="pipe",
                subject=pipe.id,
                run_id=run.run_id,
                attempt=attempt,
                will_retry=will_retry,
                classification=classification.kind.value,
                classifier=classification.classifier,
                classification_reason=classification.reason,
                action=decision.action.kind.value,
                strategy=decision.action.strategy,
                reason=decision.action.reason,
                retries=decision.attempt - 1,
                max_retries=decision.max_attempts,
            )
            if not will_retry:
                status = PipeStatus.TIMED_OUT if timed_out else PipeStatus.FAILED
                return PipeOutcome(
                    pipe.id, status, generation, time.perf_counter() - started, attempt,
                    error=error, classification=classification, output=pipe.output,
                )
            retries.spend(classification.kind)
            delay = decision.action.delay_seconds
            self._signal(sig.PIPE_RETRY, sig.PipeRetry(run.run_id, pipe.id, attempt + 1, delay, error, decision))
            run.gate.wait(delay)  # a backoff ends early on Ctrl-C; the next attempt then does not start

    def _decide(
        self,
        failure: FailureContext,
        classification: Classification,
        retries: RecoveryBudget,
        settings: ExecutorSettings,
        timed_out: bool,
    ) -> RecoveryDecision:
        """The recovery decision for a failed attempt, judged against the pipe's retries in the
        pool of the failure's kind. A timed-out attempt is not put to the strategies: its Spark
        jobs may still be running, so it is never retried."""
        kind = classification.kind
        if timed_out:
            return RecoveryDecision(
                RecoveryAction(RecoveryActionKind.GIVE_UP, "a timed-out pipe is never retried (its Spark jobs may still be running)"),
                classification,
                attempt=retries.attempts(kind) + 1,
                max_attempts=retries.limit(kind),
            )
        context = RecoveryContext(
            failure,
            classification,
            attempts_so_far=retries.attempts(kind),
            max_attempts=retries.limit(kind),
            backoff=settings.backoff,
        )
        return decide_recovery(self._strategies, context, self._errors)

    def _attempt(self, pipe: Pipe, context: AttemptContext, settings: ExecutorSettings) -> BaseException | None:
        """Run one attempt; return its exception (or None).

        Without a timeout the attempt runs on the calling thread (measured: a fresh thread per
        pipe costs PySpark ~50-90 ms of extra Spark time per pipe; see docs/benchmarks.md) and
        Ctrl-C cancels its job group before propagating. With a timeout it runs on a worker
        thread so the executor can give up on it after cancelling its jobs.
        """
        if not settings.timeout_seconds:
            try:
                self._runner.run_pipe(pipe, context)
            except KeyboardInterrupt as interrupt:
                self._cancel_quietly(context)
                return interrupt
            except BaseException as exc:  # noqa: BLE001 - classified and reported by the caller
                return exc
            return None
        box: dict[str, BaseException | None] = {"error": None}
        done = threading.Event()

        def target() -> None:
            try:
                self._runner.run_pipe(pipe, context)
            except BaseException as exc:  # noqa: BLE001 - handed back to the executor thread
                box["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=target, name=f"kindling-pipe-{pipe.id}", daemon=True)
        worker.start()
        timeout = settings.timeout_seconds or None
        try:
            worker.join(timeout)
        except KeyboardInterrupt as interrupt:
            self._cancel(context, done, settings)
            return interrupt
        if not done.is_set():
            stopped = self._cancel(context, done, settings)
            return PipeTimeoutError(pipe.id, settings.timeout_seconds, cancelled=stopped)
        return box["error"]

    def _cancel_quietly(self, context: AttemptContext) -> None:
        """One cancel for an attempt whose Python call is already gone (hard Ctrl-C)."""
        context.cancelled.set()
        try:
            self._runner.cancel(context)
        except Exception as exc:  # noqa: BLE001 - report, never mask what is being cancelled
            self._errors.report(exc, source="pipe-cancel", subject=context.pipe_id, tag=context.tag)

    def _cancel(self, context: AttemptContext, worker_done: threading.Event, settings: ExecutorSettings) -> bool:
        return cancel_until_stopped(self._runner, self._errors, [(context, worker_done)], settings.cancel_grace_seconds)

    def _cancel_active(self, run: _Run) -> None:
        """Ctrl-C: cancel every running attempt until it stops (or the grace period ends)."""
        run.interrupted = True
        attempts = [(context, context.finished) for context in run.active_attempts()]
        cancel_until_stopped(self._runner, self._errors, attempts, run.settings.cancel_grace_seconds)
