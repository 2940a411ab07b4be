"""Where a clean start of a streaming pipe resumes: the first Delta version per source that the
old checkpoint had not processed.

A clean start runs the pipe as a new query on a fresh checkpoint. So that nothing is lost or
read twice, each Delta source starts at ``startingVersion`` = the first version the old query
had not processed, read from the old checkpoint's offsets (Delta's ``DeltaSourceOffset``, one
JSON line per source in ``offsets/<batch id>``, Delta 4.x)::

    {"sourceVersion":1,"reservoirId":"<table id>","reservoirVersion":2,"index":-1,"isStartingVersion":false}

``reservoirVersion`` and ``index`` say how far the batch read: ``index`` is the last file read
within that version, or a sentinel. ``BASE_INDEX`` (``-1`` as serialised, ``-100`` in memory)
means *before every change of* ``reservoirVersion``: the version is next, nothing of it was
read. ``END_INDEX`` (``Long.MaxValue - 100``, never serialised: Delta bumps to
``(version + 1, BASE_INDEX)``) means the version was read whole. ``isStartingVersion`` (Delta's
``isInitialSnapshot``) marks an offset inside the initial snapshot the query began with.

Which batch: the last one whose rows the sink holds. That is the last committed batch, or the
one planned after it when the sink already holds it (its Delta commit landed, Spark's commit
did not: the exactly-once window of ``docs/design/exactly-once.md``). A new checkpoint means a
new query id and so a new transaction app id for the sink; a replay of that batch would no
longer be skipped, so the uncommitted batch counts as processed exactly when the sink has it.

Refused (:class:`ResumeRefused`, with the reason), because exactness cannot be guaranteed:
an offset in the middle of a version (a positive ``index``: ``maxFilesPerTrigger`` or
``maxBytesPerTrigger`` split the version) or of an unfinished initial snapshot; a metadata
change index (Delta's schema tracking); a source that is not Delta; a source the pipe no longer
reads; an uncommitted batch when the sink cannot tell whether it holds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs

from kindling_core.streaming.checkpoint_check import CheckpointReport, read_offsets

__all__ = ["DeltaPosition", "ResumePoint", "ResumeRefused", "resume_point", "parse_delta_offset", "BASE_INDEXES", "END_INDEX"]

#: Delta's base index, as serialised (``-1``, offset format 1) and in memory (``-100``, format 3).
BASE_INDEXES = frozenset({-1, -100})
#: Delta's end-of-version index (``Long.MaxValue - 100``).
END_INDEX = 2**63 - 1 - 100
#: Delta's metadata-change indexes (schema tracking, format 3).
_METADATA_INDEXES = frozenset({-20, -19})


class ResumeRefused(Exception):
    """A clean start cannot resume exactly; ``str()`` is the reason. Internal: the manager turns
    it into a ``CleanStartRefusedError`` or a reported ``CleanStartUnavailableError``."""


@attrs.frozen
class DeltaPosition:
    """One Delta source's end offset in a batch (see the module docstring)."""

    table_id: str
    version: int
    index: int
    initial_snapshot: bool

    def next_version(self) -> int:
        """The first version not processed; :class:`ResumeRefused` when the offset is inside a
        version or inside an unfinished initial snapshot."""
        where = f"Delta table {self.table_id} at version {self.version}"
        if self.index == END_INDEX and not self.initial_snapshot:
            return self.version + 1
        if self.initial_snapshot:
            raise ResumeRefused(
                f"the old query stopped inside its initial snapshot of {where} (file index {self.index}); "
                "a snapshot cannot be resumed part-way"
            )
        if self.index in BASE_INDEXES:
            return self.version
        if self.index in _METADATA_INDEXES:
            raise ResumeRefused(f"the old query stopped at a schema change of {where} (Delta's schema tracking index {self.index})")
        raise ResumeRefused(
            f"the old query stopped in the middle of {where} (after file index {self.index}; maxFilesPerTrigger or "
            "maxBytesPerTrigger split the version), so part of that version was written and part was not"
        )


def parse_delta_offset(text: str) -> DeltaPosition | None:
    """A Delta source's offset line, or ``None`` when the line is not Delta's."""
    try:
        data = json.loads(text)
        return DeltaPosition(str(data["reservoirId"]), int(data["reservoirVersion"]), int(data["index"]), bool(data["isStartingVersion"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


@attrs.frozen
class ResumePoint:
    """Where a clean start begins: ``batch`` (the old query's last batch the sink holds; ``None``:
    none, the new query reads everything from the start) and ``versions`` (entity id → the
    ``startingVersion`` of that Delta source)."""

    batch: int | None
    versions: Mapping[str, int] = attrs.field(factory=dict)

    def describe(self) -> str:
        if self.batch is None:
            return "from the beginning of every source (the old query had processed nothing)"
        listed = ", ".join(f"{entity} at version {version}" for entity, version in sorted(self.versions.items()))
        return f"after the old query's batch {self.batch}: {listed}"


def resume_point(report: CheckpointReport, *, sink_batch: int | None, sink_known: bool, sources: Mapping[str, str]) -> ResumePoint:
    """The resume point of a clean start from the inspected old checkpoint ``report``.

    ``sink_batch``: the highest batch id of the old query the sink holds (``None``: none);
    ``sink_known``: whether the sink could tell at all; ``sources``: Delta table id → entity id
    of every input the pipe reads as a stream. Raises :class:`ResumeRefused`.
    """
    if not report.inspected:
        raise ResumeRefused(f"its checkpoint {report.location} is remote and was not inspected")
    if report.problems:
        raise ResumeRefused(f"its checkpoint is damaged: {report.describe()}")
    batch = report.last_committed
    pending = report.uncommitted
    if pending is not None:
        if not sink_known:
            raise ResumeRefused(f"batch {pending} was planned but not committed, and the output cannot tell whether it holds it")
        if sink_batch is not None and sink_batch >= pending:
            batch = pending
    if batch is None:
        return ResumePoint(None)
    try:
        entry = read_offsets(report.location, batch)
    except (OSError, ValueError) as exc:
        raise ResumeRefused(f"the offsets of batch {batch} cannot be read: {exc}") from None
    versions: dict[str, int] = {}
    for position, line in enumerate(entry.sources):
        if line is None:
            continue
        offset = parse_delta_offset(line)
        if offset is None:
            raise ResumeRefused(
                f"source {position + 1} of batch {batch} is not a Delta table ({line[:120]}); only Delta sources resume at a version"
            )
        entity = sources.get(offset.table_id)
        if entity is None:
            raise ResumeRefused(
                f"batch {batch} read Delta table {offset.table_id}, which none of the pipe's streamed inputs is now "
                f"({', '.join(sorted(sources.values())) or 'none'})"
            )
        versions[entity] = offset.next_version()
    return ResumePoint(batch, versions)
