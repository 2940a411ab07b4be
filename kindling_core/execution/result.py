"""The outcome of a run: one :class:`PipeOutcome` per planned pipe, in plan order."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from kindling_core.items import Classification

__all__ = ["PipeStatus", "PipeOutcome", "RunResult"]


class PipeStatus(str, enum.Enum):
    """What happened to a pipe in a run."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    """Its per-pipe timeout expired; its Spark jobs were cancelled."""
    SKIPPED = "skipped"
    """Not run: an upstream pipe failed (``skip_dependents``) or the run stopped (``fail_fast``)."""
    CANCELLED = "cancelled"
    """Interrupted (Ctrl-C) while running; its Spark jobs were cancelled."""
    PLANNED = "planned"
    """A dry run: validated and planned, not executed."""

    def __str__(self) -> str:
        return self.value

    @property
    def is_failure(self) -> bool:
        return self in (PipeStatus.FAILED, PipeStatus.TIMED_OUT, PipeStatus.CANCELLED)


@attrs.frozen
class PipeOutcome:
    """One pipe's outcome.

    ``duration`` is wall-clock seconds over all attempts (0 for skipped); ``attempts`` counts
    executions (0 for skipped/planned); ``error`` is the final exception (``None`` on success);
    ``reason`` explains a skip; ``classification`` is how the final failure was classified
    (its kind, the classifier that decided and why; ``None`` unless the pipe failed or timed
    out).
    """

    pipe_id: str
    status: PipeStatus
    generation: int
    duration: float = 0.0
    attempts: int = 0
    error: BaseException | None = attrs.field(default=None, eq=False)
    reason: str | None = None
    classification: Classification | None = None
    output: str = ""

    @property
    def error_message(self) -> str | None:
        if self.error is None:
            return None
        return f"{type(self.error).__name__}: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipe_id": self.pipe_id,
            "status": self.status.value,
            "generation": self.generation,
            "duration": round(self.duration, 6),
            "attempts": self.attempts,
            "error": self.error_message,
            "reason": self.reason,
            "classification": _classification_dict(self.classification),
            "output": self.output,
        }


def _classification_dict(classification: Classification | None) -> dict[str, str] | None:
    if classification is None:
        return None
    return {"kind": classification.kind.value, "classifier": classification.classifier, "reason": classification.reason}


@attrs.frozen
class RunResult:
    """Everything a run did. ``pipes`` has one outcome per planned pipe, in plan order."""

    run_id: str
    strategy: str
    pipes: tuple[PipeOutcome, ...]
    duration: float
    on_failure: str
    dry_run: bool = False
    interrupted: bool = False

    @property
    def succeeded(self) -> bool:
        """True when no pipe failed, timed out, was cancelled or skipped."""
        return not self.interrupted and all(
            o.status in (PipeStatus.SUCCEEDED, PipeStatus.PLANNED) for o in self.pipes
        )

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "succeeded" if self.succeeded else "failed"

    def outcome(self, pipe_id: str) -> PipeOutcome:
        for outcome in self.pipes:
            if outcome.pipe_id == pipe_id:
                return outcome
        from kindling_core.execution.errors import UnknownOutcomeError

        raise UnknownOutcomeError(pipe_id, tuple(o.pipe_id for o in self.pipes))

    def by_status(self, status: PipeStatus | str) -> tuple[PipeOutcome, ...]:
        wanted = PipeStatus(status)
        return tuple(o for o in self.pipes if o.status is wanted)

    @property
    def counts(self) -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.pipes:
            counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
        return MappingProxyType(counts)

    def raise_for_failures(self) -> None:
        """Raise :class:`~kindling_core.execution.errors.RunFailedError` unless the run succeeded."""
        if not self.succeeded:
            from kindling_core.execution.errors import RunFailedError

            raise RunFailedError(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "strategy": self.strategy,
            "status": self.status,
            "duration": round(self.duration, 6),
            "on_failure": self.on_failure,
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "pipes": [o.to_dict() for o in self.pipes],
        }

    def summary_table(self) -> str:
        """A plain-text table: pipe, status, attempts, duration, error or reason."""
        rows = [("pipe", "status", "attempts", "duration", "detail")]
        for o in self.pipes:
            detail = o.error_message or o.reason or ""
            rows.append((o.pipe_id, o.status.value, str(o.attempts), f"{o.duration:.2f}s", detail.splitlines()[0][:100] if detail else ""))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for index, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths) + "  ------")
        counts = ", ".join(f"{n} {s}" for s, n in self.counts.items())
        lines.append(f"run {self.run_id} {self.status} in {self.duration:.2f}s ({counts})")
        return "\n".join(lines)
