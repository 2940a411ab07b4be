"""Errors of pipe execution."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kindling_core.errors import KindlingError

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.execution.result import RunResult

__all__ = ["ExecutionError", "PipeTimeoutError", "RunFailedError", "RunInterrupted", "UnknownOutcomeError"]


class ExecutionError(KindlingError):
    """Base of errors raised while running pipes. ``pipe`` names the pipe when known."""

    def __init__(self, message: str, *, pipe: str | None = None, **kwargs: Any):
        self.pipe = pipe
        kwargs.setdefault("culprit", pipe)
        super().__init__(message, **kwargs)


class PipeTimeoutError(ExecutionError):
    """A pipe ran longer than its timeout; its Spark jobs were cancelled. Never retried."""

    def __init__(self, pipe: str, timeout: float, *, cancelled: bool):
        self.timeout = timeout
        self.cancelled = cancelled
        state = "its Spark jobs were cancelled" if cancelled else "it did not stop within the grace period"
        super().__init__(
            f"pipe {pipe!r} timed out after {timeout:g}s; {state}",
            pipe=pipe,
            remedy="raise [tool.kindling.execution] timeout-seconds or make the pipe cheaper",
        )


class UnknownOutcomeError(ExecutionError, KeyError):
    """``RunResult.outcome(pipe_id)`` for a pipe the run did not plan (still a ``KeyError``)."""

    def __init__(self, pipe: str, planned: tuple[str, ...]):
        from kindling_core._names import did_you_mean

        shown = ", ".join(planned[:20]) + (" ..." if len(planned) > 20 else "")
        super().__init__(
            f"the run has no outcome for pipe {pipe!r}: it was not planned in this run.{did_you_mean(pipe, planned)}"
            f" Planned: {shown or '(none)'}.",
            pipe=pipe,
            remedy="ask for one of the planned pipes, or run with pipes=[...] that include it",
        )


class RunFailedError(ExecutionError):
    """Raised by :meth:`RunResult.raise_for_failures`; carries the whole ``result``."""

    def __init__(self, result: RunResult):
        self.result = result
        bad = [o for o in result.pipes if o.status.value != "succeeded"]
        names = ", ".join(f"{o.pipe_id} ({o.status.value})" for o in bad[:10])
        super().__init__(
            f"run {result.run_id} {result.status}: {names}",
            remedy="see the run result's outcomes for each pipe's error",
        )


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C. ``result`` holds what happened up to then (running pipes'
    Spark jobs were cancelled; Delta commits are atomic, so no table is half-written)."""

    def __init__(self, result: RunResult):
        super().__init__(f"run {result.run_id} interrupted")
        self.result = result
