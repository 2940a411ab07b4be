"""The checkpoint checks the stream manager makes before it starts a streaming pipe, and the
clean start.

Before a pipe starts (:func:`verify_checkpoint`, from the manager's start preparation):

1. the checkpoint's structure (:func:`~kindling_core.streaming.checkpoint_check.inspect_checkpoint`);
   a damaged checkpoint holding progress raises :class:`~kindling_core.streaming.errors.CheckpointError`
   with each problem's reason and remedy;
2. the plan fingerprint the driver computes now against the one stored beside the checkpoint
   (a pipe whose DataFrame cannot be built is not checked: its start raises the same error).
   None stored (a fresh checkpoint, one without batches, or one made before kindling
   fingerprinted or by another tool): accepted, and the fingerprint is stored once the query
   started. A difference: the pipe's ``on_checkpoint_mismatch`` decides, ``fail`` raises
   :class:`~kindling_core.streaming.errors.CheckpointMismatchError` (nothing starts),
   ``clean-start`` clean-starts it.

A clean start (:func:`clean_start`; also asked for by ``app.streams.clean_start()`` and by a
recovery strategy's ``clean-start`` action): the old checkpoint is renamed to a sibling
``<name>.moved-<UTC time>`` (never deleted), and each Delta source of the new query starts at
the first version the old one had not processed (:mod:`kindling_core.streaming.resume`).
Remote checkpoints are neither inspected nor fingerprinted nor clean-started.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from pathlib import Path

import attrs

from kindling_core.streaming.checkpoint_check import inspect_checkpoint
from kindling_core.streaming.checkpoints import local_path
from kindling_core.streaming.driver import PipeStart, ResumeFacts, StreamDriver
from kindling_core.streaming.errors import CheckpointError, CheckpointMismatchError
from kindling_core.streaming.fingerprint import PlanFingerprint, read_fingerprint, read_resume, write_fingerprint, write_resume
from kindling_core.streaming.resume import ResumePoint, ResumeRefused, resume_point

__all__ = ["CheckpointVerdict", "CleanStartDone", "verify_checkpoint", "clean_start_problem", "clean_start", "move_aside"]

logger = logging.getLogger("kindling.streaming")


@attrs.frozen
class CheckpointVerdict:
    """What :func:`verify_checkpoint` decided for ``start``: ``fingerprint`` (now; ``None``
    for a remote checkpoint), ``store`` it once the query started, ``clean_start``: why the
    pipe must start over on a fresh checkpoint (``None``: start on the checkpoint as it is),
    and ``starting_versions``: a clean start's resume point, to pass (and keep beside the
    checkpoint) until the new query planned its first batch."""

    start: PipeStart
    fingerprint: PlanFingerprint | None
    store: bool = False
    clean_start: str | None = None
    starting_versions: Mapping[str, int] = attrs.field(factory=dict)


@attrs.frozen
class CleanStartDone:
    """A clean start made: the old checkpoint now at ``moved_to`` (``None``: there was none),
    the new query resuming at ``point``."""

    moved_to: Path | None
    point: ResumePoint


def verify_checkpoint(driver: StreamDriver, start: PipeStart, *, forced: str | None = None) -> CheckpointVerdict:
    """Check ``start``'s checkpoint (see the module docstring); ``forced``: a clean start was
    asked for, with this reason. Raises :class:`CheckpointError` (damaged) or
    :class:`CheckpointMismatchError` (changed, policy ``fail``)."""
    pipe = start.pipe
    report = inspect_checkpoint(start.checkpoint)
    if not report.inspected:
        return CheckpointVerdict(start, None, clean_start=forced)
    try:
        current = driver.fingerprint(start)
    except Exception:  # the pipe cannot be built: its start raises the same, wrapped as a start failure
        logger.debug("no plan fingerprint for streaming pipe %r", pipe.id, exc_info=True)
        return CheckpointVerdict(start, None, clean_start=forced)
    if forced is not None:
        return CheckpointVerdict(start, current, store=True, clean_start=forced)
    if not report.has_batches and report.ok:  # nothing processed yet: nothing to protect
        try:
            resume = read_resume(start.checkpoint)
        except ValueError as exc:
            raise _unreadable(pipe.id, exc) from None
        return CheckpointVerdict(start, current, store=True, starting_versions=resume)
    if report.problems and pipe.on_checkpoint_mismatch != "clean-start":
        raise CheckpointError(
            f"streaming pipe {pipe.id!r} cannot start on its checkpoint {start.checkpoint}: {report.describe()}",
            query=pipe.id,
            culprit=f"pipe {pipe.id!r}, checkpoint {start.checkpoint}",
            remedy=report.problems[0].remedy,
        )
    if report.problems:
        return CheckpointVerdict(start, current, store=True, clean_start=f"its checkpoint is damaged: {report.describe()}")
    try:
        stored = read_fingerprint(start.checkpoint)
    except ValueError as exc:
        raise _unreadable(pipe.id, exc) from None
    if stored is None:
        return CheckpointVerdict(start, current, store=True)
    differences = stored.differences(current)
    if not differences:
        return CheckpointVerdict(start, current)
    if pipe.on_checkpoint_mismatch == "clean-start":
        return CheckpointVerdict(start, current, store=True, clean_start="; ".join(differences))
    raise CheckpointMismatchError(pipe.id, start.checkpoint, differences)


def _unreadable(pipe: str, exc: ValueError) -> CheckpointError:
    return CheckpointError(
        f"streaming pipe {pipe!r}: a file kindling keeps beside its checkpoint is unreadable: {exc}",
        query=pipe,
        remedy="restore or delete that one file (kindling writes the fingerprint again at the next start); Spark's files are untouched",
    )


def store_fingerprint(verdict: CheckpointVerdict) -> None:
    """Write the verdict's fingerprint (and a clean start's resume point) beside the checkpoint
    when due."""
    if verdict.store and verdict.fingerprint is not None:
        write_fingerprint(verdict.start.checkpoint, verdict.fingerprint)
    if verdict.starting_versions:
        write_resume(verdict.start.checkpoint, verdict.starting_versions)


def _resume(driver: StreamDriver, start: PipeStart) -> ResumePoint:
    report = inspect_checkpoint(start.checkpoint)
    facts = driver.resume_facts(start, report.query_id) if report.query_id is not None else ResumeFacts()
    return resume_point(report, sink_batch=facts.sink_batch, sink_known=facts.sink_known, sources=facts.source_ids)


def clean_start_problem(driver: StreamDriver, start: PipeStart, *, stopped: bool, stop_timed_out: bool) -> str | None:
    """Why ``start``'s pipe cannot be clean-started exactly now (``None``: it can). ``stopped``:
    the query is not running, so where it would resume is known now and checked too."""
    pipe = start.pipe
    report = inspect_checkpoint(start.checkpoint)
    if not report.inspected:
        return f"its checkpoint {start.checkpoint} is remote; kindling moves and reads local checkpoints only"
    output = start.entities.get(pipe.output)
    if output is not None and output.format != "delta":
        return f"its output {pipe.output!r} is not a Delta table; an exact resume relies on the Delta sink's transaction ids"
    if stop_timed_out:
        return "its last stop timed out, so Spark may still be writing to the checkpoint"
    if not stopped:
        return None
    try:
        _resume(driver, start)
    except ResumeRefused as exc:
        return str(exc)
    return None


def move_aside(checkpoint: str, now: datetime.datetime) -> Path | None:
    """Rename the local checkpoint folder to ``<name>.moved-<UTC yyyymmddThhmmssZ>`` beside it
    (``-2``, ``-3``... appended when taken); ``None`` when there is no folder."""
    folder = local_path(checkpoint)
    if not folder.exists():
        return None
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = folder.with_name(f"{folder.name}.moved-{stamp}")
    counter = 2
    while target.exists():
        target = folder.with_name(f"{folder.name}.moved-{stamp}-{counter}")
        counter += 1
    folder.rename(target)
    return target


def clean_start(driver: StreamDriver, start: PipeStart, reason: str, now: datetime.datetime) -> tuple[PipeStart, CleanStartDone]:
    """Move ``start``'s checkpoint aside and return the start of the new query (its Delta
    sources at the first unprocessed version) with what was done. Raises
    :class:`~kindling_core.streaming.resume.ResumeRefused` (nothing moved) when the resume
    cannot be exact. The query must be stopped."""
    point = _resume(driver, start)
    moved = move_aside(start.checkpoint, now)
    logger.warning(
        "clean start of streaming pipe %r (%s): checkpoint %s moved to %s; resuming %s",
        start.pipe.id,
        reason,
        start.checkpoint,
        moved,
        point.describe(),
    )
    return attrs.evolve(start, starting_versions=point.versions), CleanStartDone(moved, point)
