"""The plan fingerprint of a streaming pipe, and where kindling keeps it beside the checkpoint.

A checkpoint only fits the query that wrote it: Spark keeps each source's offsets in source
order and each stateful operator's state under its operator id, and fails at the first
micro-batch (or, worse, carries on with a different meaning) when the query changed. A
:class:`PlanFingerprint` records what of the query matters for that, computed by the driver
from the pipe's DataFrame without starting it
(:meth:`~kindling_core.streaming.driver.StreamDriver.fingerprint`):

* ``schema``: the output's schema (Spark's ``simpleString``: names and types);
* ``stateful``: the stateful operators in plan order (``aggregate``, ``deduplicate``,
  ``stream-stream join``, ``flatMapGroupsWithState``...); their state lives in the checkpoint;
* ``sources``: the inputs read as streams (entity id, format, location); their offsets live in
  the checkpoint, in this order;
* ``write``: how micro-batches reach the output (``append`` or ``merge``).

The manager writes it to ``<checkpoint>/_kindling/fingerprint.json`` when a query starts on a
checkpoint without one (a fresh checkpoint, or one made before kindling fingerprinted) and
compares it before every later start (see ``docs/design/checkpoints.md``).

Beside it, ``resume.json`` keeps the starting versions of a clean start (entity id → Delta
version) until the new query planned its first batch: Spark ignores ``startingVersion`` once a
checkpoint has offsets, and *reads it again* at every start before that, so a restart of a
clean-started query that had no data yet must pass the same versions (measured: without them
the restart read every source from its initial snapshot).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from kindling_core.streaming.checkpoint_check import KINDLING_FOLDER
from kindling_core.streaming.checkpoints import is_local, local_path

__all__ = [
    "PlanSource",
    "PlanFingerprint",
    "fingerprint_path",
    "read_fingerprint",
    "write_fingerprint",
    "read_resume",
    "write_resume",
    "FINGERPRINT_FILE",
    "RESUME_FILE",
]

#: The fingerprint's file name inside ``<checkpoint>/_kindling/``.
FINGERPRINT_FILE = "fingerprint.json"
#: The pending starting versions of a clean start, inside ``<checkpoint>/_kindling/``.
RESUME_FILE = "resume.json"
_FORMAT = 1


@attrs.frozen
class PlanSource:
    """One input a streaming pipe reads as a stream."""

    entity: str
    format: str
    location: str

    def __str__(self) -> str:
        return f"{self.entity} ({self.format} at {self.location})"


def _str_tuple(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _source_tuple(items: Iterable[PlanSource]) -> tuple[PlanSource, ...]:
    return tuple(items)


@attrs.frozen
class PlanFingerprint:
    """What of a streaming query its checkpoint depends on (see the module docstring)."""

    schema: str
    stateful: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    sources: tuple[PlanSource, ...] = attrs.field(default=(), converter=_source_tuple)
    write: str = "append"

    def differences(self, current: PlanFingerprint) -> tuple[str, ...]:
        """What changed from this (stored) fingerprint to ``current``, one phrase each; empty
        when they match."""
        found: list[str] = []
        if self.schema != current.schema:
            found.append(f"the output schema changed from {self.schema} to {current.schema}")
        if self.stateful != current.stateful:
            before, now = _listing(self.stateful), _listing(current.stateful)
            found.append(f"the stateful operators changed from {before} to {now}")
        if self.sources != current.sources:
            before, now = _listing(map(str, self.sources)), _listing(map(str, current.sources))
            found.append(f"the streamed sources changed from {before} to {now}")
        if self.write != current.write:
            found.append(f"the write mode changed from {self.write} to {current.write}")
        return tuple(found)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "schema": self.schema,
            "stateful": list(self.stateful),
            "sources": [attrs.asdict(source) for source in self.sources],
            "write": self.write,
        }

    @classmethod
    def from_json(cls, data: Any) -> PlanFingerprint:
        """Read :meth:`to_json`'s output; ``ValueError`` when it is not a fingerprint."""
        try:
            return cls(
                schema=str(data["schema"]),
                stateful=tuple(str(op) for op in data["stateful"]),
                sources=tuple(PlanSource(str(s["entity"]), str(s["format"]), str(s["location"])) for s in data["sources"]),
                write=str(data["write"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a kindling plan fingerprint ({type(exc).__name__}: {exc})") from None


def _listing(items: Any) -> str:
    listed = list(items)
    return "[" + ", ".join(listed) + "]" if listed else "none"


def fingerprint_path(checkpoint: str) -> Path | None:
    """Where the fingerprint of the local checkpoint ``checkpoint`` lives (``None``: remote)."""
    if not is_local(checkpoint):
        return None
    return local_path(checkpoint) / KINDLING_FOLDER / FINGERPRINT_FILE


def read_fingerprint(checkpoint: str) -> PlanFingerprint | None:
    """The stored fingerprint (``None``: none stored, or a remote checkpoint). A file that is not
    a fingerprint raises ``ValueError`` naming it."""
    path = fingerprint_path(checkpoint)
    if path is None or not path.is_file():
        return None
    try:
        return PlanFingerprint.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _write(path: Path, data: Any) -> None:
    """Write JSON atomically (a temporary file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
    os.replace(temporary, path)


def write_fingerprint(checkpoint: str, fingerprint: PlanFingerprint) -> Path | None:
    """Store ``fingerprint`` beside the local checkpoint; returns its path (``None``: a remote
    checkpoint, nothing written)."""
    path = fingerprint_path(checkpoint)
    if path is None:
        return None
    _write(path, fingerprint.to_json())
    return path


def write_resume(checkpoint: str, versions: Mapping[str, int]) -> None:
    """Keep a clean start's starting versions beside the (new, local) checkpoint."""
    path = fingerprint_path(checkpoint)
    if path is not None:
        _write(path.with_name(RESUME_FILE), {"starting_versions": dict(versions)})


def read_resume(checkpoint: str) -> dict[str, int]:
    """The starting versions a clean start left beside the checkpoint (empty: none). A file
    that is not one raises ``ValueError`` naming it."""
    path = fingerprint_path(checkpoint)
    if path is None or not path.with_name(RESUME_FILE).is_file():
        return {}
    resume = path.with_name(RESUME_FILE)
    try:
        data = json.loads(resume.read_text(encoding="utf-8"))["starting_versions"]
        return {str(entity): int(version) for entity, version in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{resume}: not a clean start's resume point ({type(exc).__name__}: {exc})") from None
