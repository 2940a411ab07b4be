"""Errors of the streaming runtime (``app.streams``), each naming the culprit and the remedy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kindling_core._names import did_you_mean
from kindling_core.errors import KindlingError
from kindling_core.recovery.failure_text import python_errors

__all__ = [
    "StreamingError",
    "UnknownStreamError",
    "NotStreamableError",
    "CheckpointError",
    "DuplicateQueryNameError",
    "SessionStoppedError",
    "ForeignQueryError",
    "StreamStartError",
    "StopTimedOutError",
    "NotRestartableError",
    "StreamBusyError",
    "ManagerClosedError",
    "StreamQueryFailedError",
    "CleanStartUnavailableError",
    "CheckpointMismatchError",
    "CleanStartRefusedError",
]


class StreamingError(KindlingError):
    """Base of the errors of long-running streaming queries. ``query`` names the query (its
    pipe id or registered name) when there is one."""

    def __init__(self, message: str, *, query: str | None = None, **kwargs: Any) -> None:
        self.query = query
        kwargs.setdefault("culprit", query)
        super().__init__(message, **kwargs)


class UnknownStreamError(StreamingError, LookupError):
    """A name given to ``start``/``stop``/``restart`` (``--pipes``) that is neither a streaming
    pipe nor a registered or adopted query."""

    def __init__(self, name: str, available: Iterable[str], *, where: str, problem: str = "", remedy: str | None = None) -> None:
        self.name = name
        self.available = tuple(sorted(available))
        listing = ", ".join(self.available) if self.available else "(none)"
        what = problem or f"{name!r} is not a streaming pipe or a registered query"
        super().__init__(
            f"{where}: {what}.{did_you_mean(name, self.available)} Streaming queries: {listing}.",
            query=name,
            remedy=remedy or "use a streaming pipe's id (declared with mode='streaming') or a name given to app.streams.register()",
        )


class NotStreamableError(StreamingError):
    """A streaming pipe reads, as a stream, an entity Spark cannot stream."""


class CheckpointError(StreamingError):
    """A checkpoint location that cannot be used: not writable, or shared by two queries."""


class DuplicateQueryNameError(StreamingError):
    """Two queries would run under one Spark query name (Spark allows one active query per name)."""


class SessionStoppedError(StreamingError):
    """The Spark session the manager runs on has been stopped."""


class ForeignQueryError(StreamingError):
    """``adopt`` of a query that runs on another Spark session than the app's."""


class StreamStartError(StreamingError):
    """Starting a query raised (the pipe function, reading an input, or Spark's ``start()``);
    the original exception is the ``__cause__``."""


class StopTimedOutError(StreamingError):
    """Spark gave up stopping a query within ``spark.sql.streaming.stopTimeout`` (raised by a
    driver's ``stop``; the manager reports it as a stop that timed out)."""


class StreamBusyError(StreamingError):
    """``app.run`` asked to run, bounded, a streaming pipe that ``app.streams`` is running: both
    would use the pipe's one checkpoint, and Spark would stop the long-running query."""


class NotRestartableError(StreamingError):
    """``restart`` of an adopted query: kindling has no way to build it again."""


class ManagerClosedError(StreamingError):
    """The stream manager was closed (``app.close()``); it starts nothing any more."""


#: How much of Spark's first line a stream failure's message keeps.
SUMMARY_CHARS = 400


def failure_summary(text: str) -> str:
    """One readable line of a Spark failure text: its first non-empty line (cut at
    :data:`SUMMARY_CHARS`) plus the last Python worker error it carries, if any."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = lines[0] if lines else "(no message)"
    if len(head) > SUMMARY_CHARS:
        head = head[: SUMMARY_CHARS - 1] + "\u2026"
    workers = python_errors(text)
    if workers and workers[-1] not in head:
        head = f"{head} (Python worker: {workers[-1]})"
    return head


class StreamQueryFailedError(StreamingError):
    """A managed query ended with an exception, or its restart during a recovery raised: what
    the failure classifiers see and the error handlers receive.

    It carries Spark's failure, it is not one of kindling's own declaration errors
    (``carries_failure``): ``exception_text`` is the full text Spark gave
    (``QueryTerminatedEvent.exception``: message, ``[ERROR_CLASS]`` token, ``Caused by:`` lines,
    Python worker tracebacks), which the failure classifiers search (it is part of
    :attr:`~kindling_core.items.FailureContext.text`); ``str()`` is a summary that fits a log
    line: Spark's first line (at most :data:`SUMMARY_CHARS` characters) and the Python worker's
    error when there is one. ``error_class`` is Spark's error class when it gave one. A failed
    restart has the original exception as ``__cause__``. ``query`` is the pipe id or registered
    name, ``pipe`` the pipe id (``None`` otherwise).
    """

    #: This error wraps a failure of Spark or user code; classify what it carries, not its type.
    carries_failure = True

    def __init__(
        self, query: str, exception_text: str, *, pipe: str | None = None, error_class: str | None = None, label: str = ""
    ) -> None:
        self.pipe = pipe
        self.error_class = error_class
        self.exception_text = exception_text
        super().__init__(
            f"{label or repr(query)} failed: {failure_summary(exception_text)}",
            query=query,
            remedy="see the failure's classification and recovery in app.streams.status() / `kindling stream`",
        )


class CleanStartUnavailableError(StreamingError):
    """A recovery strategy asked for a clean start (a fresh checkpoint) of a failed query and
    kindling cannot do it for this query (``why``: a registered query, a remote checkpoint, an
    old checkpoint it cannot resume from exactly...), so the query stays failed and this refusal
    is reported. ``checkpoint`` is the query's checkpoint location (``None`` when kindling did
    not choose it)."""

    def __init__(self, query: str, checkpoint: str | None, *, strategy: str, reason: str, why: str, label: str = "") -> None:
        self.checkpoint = checkpoint
        self.strategy = strategy
        self.why = why
        where = f"checkpoint {checkpoint}" if checkpoint else "its checkpoint (chosen outside kindling)"
        super().__init__(
            f"{label or repr(query)} needs a clean start from a fresh checkpoint (recovery strategy {strategy!r}: {reason}); "
            f"kindling cannot clean-start it: {why}. It stays failed; its {where} is unchanged",
            query=query,
            remedy=f"stop the query, move the checkpoint folder ({checkpoint or 'the query checkpointLocation'}) aside by hand "
            "(keep it; it holds the query's progress), decide where each source resumes (read_options startingVersion), "
            "then start the query again with app.streams.start() or `kindling stream`",
        )


class CheckpointMismatchError(CheckpointError):
    """A streaming pipe changed in a way its existing checkpoint cannot follow (output schema,
    stateful operators, streamed sources, write mode), found before Spark starts the query.
    ``pipe``, ``checkpoint`` and ``differences`` (one phrase each) say what."""

    def __init__(self, pipe: str, checkpoint: str, differences: tuple[str, ...]) -> None:
        self.pipe = pipe
        self.checkpoint = checkpoint
        self.differences = differences
        super().__init__(
            f"streaming pipe {pipe!r} no longer matches its checkpoint {checkpoint}: {'; '.join(differences)}. "
            "Spark would fail at the first micro-batch, or carry on with state and offsets of another query",
            query=pipe,
            culprit=f"pipe {pipe!r}, checkpoint {checkpoint}",
            remedy=f"undo the change, or clean-start the pipe: app.streams.clean_start({pipe!r}, reason=...) once, or declare "
            f"@app.pipe({pipe!r}, ..., on_checkpoint_mismatch='clean-start') (the old checkpoint is moved aside, never deleted, "
            "and each Delta source resumes at the first version it had not processed)",
        )


class CleanStartRefusedError(StreamingError):
    """A clean start that kindling cannot make exact (``why``), or of a query it cannot
    clean-start; nothing was moved."""

    def __init__(self, query: str, checkpoint: str | None, why: str, *, label: str = "") -> None:
        self.checkpoint = checkpoint
        self.why = why
        super().__init__(
            f"{label or repr(query)} cannot be clean-started: {why}. Nothing was moved"
            + (f"; its checkpoint {checkpoint} is unchanged" if checkpoint else ""),
            query=query,
            remedy="move the checkpoint aside by hand and start the query with read_options={'startingVersion': ...} "
            "chosen for each source, or fix the cause above",
        )
