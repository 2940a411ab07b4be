"""The seam between the generation executor and whatever executes one pipe (Spark).

The executor owns ordering, retries, timeouts, policies and signals; a :class:`PipeRunner`
only executes one attempt of one pipe and can cancel it. The Spark implementation is
:class:`kindling_core.spark.runner.SparkPipeRunner`.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.model import Pipe

__all__ = ["AttemptContext", "PipeRunner", "job_tag"]


def job_tag(run_id: str, pipe_id: str, attempt: int) -> str:
    """A Spark job group / tag for one attempt: unique per run, pipe and attempt; no commas."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"kindling-{run_id}-{pipe_id}-{attempt}")


@attrs.frozen
class AttemptContext:
    """One attempt of one pipe: ids, the Spark job tag to run under, and cancel/finish flags.

    ``cancelled`` is set when the executor gives up on the attempt (timeout, Ctrl-C); a
    runner should check it between Spark actions and must run all its Spark jobs under
    ``tag`` so :meth:`PipeRunner.cancel` can stop them. ``finished`` is set by the executor
    once the attempt is over (whatever its outcome).
    """

    run_id: str
    pipe_id: str
    attempt: int
    tag: str
    cancelled: threading.Event = attrs.field(factory=threading.Event, eq=False, repr=False)
    finished: threading.Event = attrs.field(factory=threading.Event, eq=False, repr=False)


class PipeRunner(Protocol):
    """Executes single pipe attempts. Implementations hold no per-run state."""

    def run_pipe(self, pipe: Pipe, context: AttemptContext) -> None:
        """Read the inputs, call the pipe's function, write its output (atomically)."""

    def cancel(self, context: AttemptContext) -> None:
        """Cancel every job running under ``context.tag`` (and, where the engine allows, every
        job submitted under it later); return without waiting. May be called repeatedly."""
