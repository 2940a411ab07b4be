"""Is a streaming checkpoint folder sound? :func:`inspect_checkpoint` reads a *local* checkpoint
without Spark and lists what is wrong with it, each problem with a reason and a remedy.

What Spark keeps in a checkpoint folder (Structured Streaming's offset and commit logs):

* ``metadata``: one JSON line ``{"id": "<query id>"}`` written when the query is first created;
  every restart reads the query id back from it;
* ``offsets/<batch id>``: written when a micro-batch is planned, *before* it runs: a version
  line (``v1``), a JSON line of batch metadata, then one line per source (its end offset as JSON,
  or ``-``);
* ``commits/<batch id>``: written when the batch finished (its sink write included).

Invariants a sound checkpoint keeps (Spark purges old entries of both logs, so the lowest id
need not be 0; files whose name is not a number, such as ``.0.crc``, are Spark's and ignored):

* batch ids in ``offsets/`` and in ``commits/`` are contiguous (Spark refuses a log with gaps);
* no batch is committed without its offsets: the last commit is at most the last offset;
* at most one batch is planned and not committed (the last one, interrupted by a stop or a
  crash; Spark runs it again at the next start);
* ``metadata`` exists and names the query whenever a batch was planned, every offsets file is
  readable and starts with a version line.

kindling's own files live in ``_kindling/`` inside the folder (the plan fingerprint,
:mod:`kindling_core.streaming.fingerprint`); Spark ignores folders it does not know.

A location that is not a local path (``abfss://``, ``s3a://``, ``dbfs:/``...) is reported as
*not inspected* (``inspected`` false, no problems): this module reads no remote storage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs

from kindling_core.streaming.checkpoints import is_local, local_path

__all__ = [
    "CheckpointProblem",
    "CheckpointReport",
    "OffsetsEntry",
    "inspect_checkpoint",
    "read_offsets",
    "KINDLING_FOLDER",
]

#: The folder inside a checkpoint where kindling keeps its own files (Spark ignores it).
KINDLING_FOLDER = "_kindling"


@attrs.frozen
class CheckpointProblem:
    """One thing wrong with a checkpoint: what (``reason``) and what to do (``remedy``)."""

    reason: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.reason} ({self.remedy})"


@attrs.frozen
class CheckpointReport:
    """What :func:`inspect_checkpoint` found at ``location``.

    ``inspected``: the folder was read (false for remote locations, see ``note``); ``exists``:
    the folder exists; ``query_id``: from ``metadata``; ``offsets`` / ``commits``: the batch ids
    of the two logs, ascending; ``problems``: empty for a sound checkpoint.
    """

    location: str
    inspected: bool
    exists: bool = False
    query_id: str | None = None
    offsets: tuple[int, ...] = ()
    commits: tuple[int, ...] = ()
    problems: tuple[CheckpointProblem, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        """No problem found (true for a location that was not inspected)."""
        return not self.problems

    @property
    def has_batches(self) -> bool:
        """At least one micro-batch was planned: the checkpoint holds progress to protect."""
        return bool(self.offsets)

    @property
    def last_committed(self) -> int | None:
        """The id of the last committed batch (``None``: none)."""
        return self.commits[-1] if self.commits else None

    @property
    def uncommitted(self) -> int | None:
        """The id of the planned batch that has no commit yet (``None``: none)."""
        if not self.offsets or (self.commits and self.commits[-1] >= self.offsets[-1]):
            return None
        return self.offsets[-1]

    def describe(self) -> str:
        """One line for messages: the problems, or what the checkpoint holds."""
        if not self.inspected:
            return f"{self.location} was not inspected ({self.note})"
        if self.problems:
            return "; ".join(str(problem) for problem in self.problems)
        if not self.exists:
            return f"{self.location} does not exist yet"
        return f"{len(self.offsets)} planned and {len(self.commits)} committed batch(es)"


@attrs.frozen
class OffsetsEntry:
    """One ``offsets/<batch id>`` file: ``version`` (``v1``), ``metadata`` (the batch's
    watermark, timestamp and conf) and ``sources``: each source's end offset as JSON text, in
    the order of the query's sources (``None`` for a source that had no offset)."""

    batch_id: int
    version: str
    metadata: dict[str, object]
    sources: tuple[str | None, ...]


def _batch_ids(folder: Path) -> tuple[int, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(int(name) for name in os.listdir(folder) if name.isdigit()))


def _gap(ids: tuple[int, ...]) -> int | None:
    """The first missing id between the lowest and the highest of ``ids``."""
    for before, after in zip(ids, ids[1:], strict=False):
        if after != before + 1:
            return before + 1
    return None


def read_offsets(location: str, batch_id: int) -> OffsetsEntry:
    """Parse ``offsets/<batch_id>`` of the local checkpoint ``location``. Raises ``ValueError``
    naming the file when it is empty or malformed, ``OSError`` when it cannot be read."""
    path = local_path(location) / "offsets" / str(batch_id)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].startswith("v"):
        raise ValueError(f"{path} does not start with a log version line (v1)")
    if len(lines) < 2:
        raise ValueError(f"{path} has no batch metadata line")
    try:
        metadata = json.loads(lines[1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: the batch metadata line is not JSON ({exc})") from None
    sources = tuple(None if line.strip() == "-" else line for line in lines[2:])
    return OffsetsEntry(batch_id, lines[0], metadata if isinstance(metadata, dict) else {}, sources)


def _query_id(folder: Path) -> tuple[str | None, CheckpointProblem | None]:
    path = folder / "metadata"
    if not path.is_file():
        return None, None
    try:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        query_id = json.loads(first)["id"]
    except (OSError, IndexError, KeyError, TypeError, json.JSONDecodeError) as exc:
        reason = f"{path} does not hold the query id Spark wrote ({type(exc).__name__}: {exc})"
        return None, CheckpointProblem(reason, "restore the file from a backup, or clean-start the pipe (its checkpoint is moved aside)")
    return str(query_id), None


def inspect_checkpoint(location: str) -> CheckpointReport:
    """Inspect the checkpoint at ``location`` (see the module docstring for what is checked)."""
    if not is_local(location):
        return CheckpointReport(location, inspected=False, note="a remote location; kindling inspects local checkpoints only")
    folder = local_path(location)
    if not folder.exists():
        return CheckpointReport(location, inspected=True)
    if not folder.is_dir():
        problem = CheckpointProblem(f"{folder} is a file, not a checkpoint folder", "point checkpoint= at a folder, or move the file away")
        return CheckpointReport(location, inspected=True, exists=True, problems=(problem,))
    problems: list[CheckpointProblem] = []
    query_id, bad_metadata = _query_id(folder)
    offsets, commits = _batch_ids(folder / "offsets"), _batch_ids(folder / "commits")
    restore = "restore the checkpoint from a backup, or clean-start the pipe (its checkpoint is moved aside, never deleted)"
    if bad_metadata is not None:
        problems.append(bad_metadata)
    elif query_id is None and (offsets or commits):
        problems.append(CheckpointProblem(f"{folder / 'metadata'} is missing but batches were recorded; the query id is lost", restore))
    for log, ids in (("offsets", offsets), ("commits", commits)):
        missing = _gap(ids)
        if missing is not None:
            reason = f"{folder / log} lacks batch {missing} (it holds {ids[0]}..{ids[-1]}); Spark refuses a log with gaps"
            problems.append(CheckpointProblem(reason, restore))
    if commits and (not offsets or commits[-1] > offsets[-1]):
        last = offsets[-1] if offsets else "none"
        problems.append(
            CheckpointProblem(f"{folder / 'commits'} records batch {commits[-1]} but the last planned batch in offsets/ is {last}", restore)
        )
    elif offsets and offsets[-1] - (commits[-1] if commits else offsets[0] - 1) > 1:
        done = commits[-1] if commits else "none"
        problems.append(
            CheckpointProblem(
                f"{folder / 'offsets'} holds batches up to {offsets[-1]} but the last committed one is {done}; "
                "Spark plans a batch only after committing the previous one",
                restore,
            )
        )
    if offsets:
        try:
            read_offsets(location, offsets[-1])
        except (OSError, ValueError) as exc:
            problems.append(CheckpointProblem(f"the last offsets file is unreadable: {exc}", restore))
    return CheckpointReport(location, True, True, query_id, offsets, commits, tuple(problems))
