"""Signals emitted while running a plan (declared, typed).

Order within a run: ``execution.before_run``; per generation ``execution.before_generation``,
then per pipe ``pipe.before_run`` → (``pipe.run_failed`` → ``pipe.retry_scheduled`` →
``pipe.before_run`` ...) → ``pipe.after_run`` or a final ``pipe.run_failed``, or
``pipe.skipped``; ``execution.after_generation``; finally ``execution.after_run`` (always,
with the result) and, when anything failed, ``execution.run_failed``.
"""

from __future__ import annotations

import attrs

from kindling_core.items import Classification
from kindling_core.recovery.chain import RecoveryDecision
from kindling_core.signals import SignalSpec

__all__ = [
    "RunStarted",
    "RunFinished",
    "GenerationEvent",
    "PipeStarted",
    "PipeFinished",
    "PipeFailed",
    "PipeSkipped",
    "PipeRetry",
    "EMITS",
]


@attrs.frozen
class RunStarted:
    run_id: str
    strategy: str
    pipe_ids: tuple[str, ...]
    generations: int
    on_failure: str
    dry_run: bool


@attrs.frozen
class RunFinished:
    run_id: str
    status: str
    duration: float
    counts: tuple[tuple[str, int], ...]
    failed: tuple[str, ...]
    result: object = attrs.field(eq=False, repr=False)


@attrs.frozen
class GenerationEvent:
    run_id: str
    index: int
    pipe_ids: tuple[str, ...]
    duration: float = 0.0


@attrs.frozen
class PipeStarted:
    run_id: str
    pipe_id: str
    generation: int
    attempt: int


@attrs.frozen
class PipeFinished:
    run_id: str
    pipe_id: str
    generation: int
    attempt: int
    duration: float


@attrs.frozen
class PipeFailed:
    """A pipe attempt failed; ``classification`` is how the failure-classifier chain classified
    it (kind, deciding classifier, reason) and ``decision`` what the recovery-strategy chain
    made of it (``decision.action``: kind, deciding strategy, reason, delay), which decided
    ``will_retry``."""

    run_id: str
    pipe_id: str
    generation: int
    attempt: int
    duration: float
    error: BaseException = attrs.field(eq=False)
    classification: Classification
    will_retry: bool
    decision: RecoveryDecision

    @property
    def kind(self) -> str:
        """The failure kind's value (``"transient"``): ``classification.kind.value``."""
        return self.classification.kind.value

    @property
    def action(self) -> str:
        """The recovery action's value (``"restart"``, ``"give-up"``...): ``decision.action.kind.value``."""
        return self.decision.action.kind.value

    @property
    def strategy(self) -> str:
        """The recovery strategy that decided (empty: the core's own rule): ``decision.action.strategy``."""
        return self.decision.action.strategy


@attrs.frozen
class PipeSkipped:
    run_id: str
    pipe_id: str
    generation: int
    reason: str


@attrs.frozen
class PipeRetry:
    """A failed pipe will run again after ``delay`` seconds, as ``decision`` (a restart by
    ``decision.action.strategy``) decided."""

    run_id: str
    pipe_id: str
    next_attempt: int
    delay: float
    error: BaseException = attrs.field(eq=False)
    decision: RecoveryDecision

    @property
    def strategy(self) -> str:
        """The recovery strategy that asked for the retry: ``decision.action.strategy``."""
        return self.decision.action.strategy


_E = "GenerationExecutor"
RUN_BEFORE = SignalSpec("execution.before_run", RunStarted, doc="A run is about to start.", emitter=_E)
RUN_AFTER = SignalSpec("execution.after_run", RunFinished, doc="A run ended (always emitted, with the result).", emitter=_E)
RUN_FAILED = SignalSpec(
    "execution.run_failed", RunFinished, doc="A run ended with failed, skipped, timed-out or cancelled pipes.", emitter=_E
)
GENERATION_BEFORE = SignalSpec("execution.before_generation", GenerationEvent, doc="A generation of pipes is about to run.", emitter=_E)
GENERATION_AFTER = SignalSpec(
    "execution.after_generation", GenerationEvent, doc="A generation finished (whatever its pipes' outcomes).", emitter=_E
)
PIPE_BEFORE = SignalSpec("pipe.before_run", PipeStarted, doc="A pipe attempt is about to run.", emitter=_E)
PIPE_AFTER = SignalSpec("pipe.after_run", PipeFinished, doc="A pipe succeeded and its output is committed.", emitter=_E)
PIPE_FAILED = SignalSpec(
    "pipe.run_failed", PipeFailed, doc="A pipe attempt failed (will_retry tells whether another attempt follows).", emitter=_E
)
PIPE_SKIPPED = SignalSpec("pipe.skipped", PipeSkipped, doc="A pipe was not run (upstream failure or fail-fast stop).", emitter=_E)
PIPE_RETRY = SignalSpec(
    "pipe.retry_scheduled",
    PipeRetry,
    doc="A failed pipe will be retried after a backoff delay (a recovery strategy restarts it).",
    emitter=_E,
)

EMITS: tuple[SignalSpec, ...] = (
    RUN_BEFORE,
    RUN_AFTER,
    RUN_FAILED,
    GENERATION_BEFORE,
    GENERATION_AFTER,
    PIPE_BEFORE,
    PIPE_AFTER,
    PIPE_FAILED,
    PIPE_SKIPPED,
    PIPE_RETRY,
)
