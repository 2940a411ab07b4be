"""Results and errors of the version probe: :class:`VersionInfo`, :class:`ProbeStatus`,
:class:`CommitInfo`, the public errors, and the internal ``_Missing`` / ``_Failed`` signals the
backends raise."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from kindling_core.errors import KindlingError

__all__ = [
    "VersionProbeError",
    "ProbeArgumentError",
    "ProbeTableError",
    "ProbeStatus",
    "CommitInfo",
    "VersionInfo",
    "_Missing",
    "_Failed",
]


# ---------------------------------------------------------------------------------- errors


class VersionProbeError(KindlingError):
    """Base of the version-probe errors."""


class ProbeArgumentError(VersionProbeError, ValueError):
    """The probe was called with bad arguments (wrong types, empty locations, unknown keys)."""


class ProbeTableError(VersionProbeError):
    """:meth:`DeltaVersionProbe.changes_since` could not answer for one table.

    ``location`` names the table; ``status`` is :attr:`ProbeStatus.MISSING` or
    :attr:`ProbeStatus.FAILED`, or ``None`` when the history asked for was cleaned up.
    """

    def __init__(self, message: str, *, location: str, status: ProbeStatus | None, **kwargs: Any):
        self.location = location
        self.status = status
        kwargs.setdefault("culprit", location)
        super().__init__(message, **kwargs)


# ---------------------------------------------------------------------------------- results


class ProbeStatus(enum.Enum):
    """Outcome of probing one location."""

    OK = "ok"
    """The table exists; ``version`` is its latest version (0 for a new table)."""
    MISSING = "missing"
    """No ``_delta_log`` (or one with no commit and no checkpoint): the table does not exist."""
    FAILED = "failed"
    """The log could not be read or understood; ``error`` says why, naming the location."""


@attrs.frozen
class CommitInfo:
    """One commit of a Delta table, as far as the probe reads it.

    ``timestamp_ms`` is the in-commit timestamp or the commit file's modification time;
    ``operation`` is ``commitInfo.operation`` (``None`` if the writer recorded none);
    ``data_change`` follows the package's definition; ``actions`` lists the action kinds the
    commit holds (``"add"``, ``"commitInfo"``, ``"metaData"``, ...), sorted. A commit with a
    ``metaData`` action (a schema change, a property change, a new table) gives its
    ``schema_string`` (``metaData.schemaString``: the table's whole schema as Spark's JSON)
    and ``table_id`` (``metaData.id``); both are ``None`` otherwise. The ``history`` backend
    cannot see actions: ``actions`` is empty and ``data_change`` comes from the operation
    name (:data:`MAINTENANCE_OPERATIONS`).
    """

    version: int
    timestamp_ms: int | None
    operation: str | None
    data_change: bool
    actions: tuple[str, ...] = ()
    schema_string: str | None = None
    table_id: str | None = None


@attrs.frozen
class VersionInfo:
    """The latest version of one Delta table (or why there is none).

    ``location``
        the location probed, as given.
    ``status`` / ``error``
        see :class:`ProbeStatus`; ``error`` is set only for ``FAILED`` and names the location.
    ``version``, ``timestamp_ms``, ``operation``
        of the latest commit (``None`` unless ``OK``; ``timestamp_ms`` / ``operation`` are also
        ``None`` when only a checkpoint of the latest version survives).
    ``data_change``
        without ``since``: whether the latest commit changed data. With ``since``: whether any
        commit in ``since+1 .. version`` changed data (``False`` when ``since >= version``).
        ``None`` when that cannot be told: a commit file needed was cleaned up
        (``history_truncated``), the scan limit was hit, or ``since`` is ahead of the table.
        ``note`` says which.
    ``last_data_version``
        the newest data-changing version, searched from ``version`` downwards -- down to
        ``since+1`` when ``since`` is given, otherwise through at most ``max_scan`` commits.
        ``None`` when none was found in that window.
    ``checkpoint_version``
        the checkpoint the listing was floored by (``_last_checkpoint``), if any.
    ``history_truncated``
        a commit file the question needed has been removed by log cleanup.
    ``backend``
        which backend answered (``"local"``, ``"hadoop"`` or ``"history"``).
    ``schema_version``, ``schema_operations``, ``schema_before``, ``schema_after``
        with ``since`` only: the newest commit after ``since`` whose ``metaData`` action
        changed the schema string, the operations of every such commit, and the table's schema
        string (``metaData.schemaString``) at ``since`` and at ``version``. Metadata-only
        commits count (``ALTER TABLE ... DROP / RENAME / ADD COLUMNS``); property changes
        whose schema string stays the same do not. ``schema_before`` is ``None`` when the log
        no longer holds it (cleaned up beyond ``max_scan`` commits without a checkpoint); the
        ``history`` backend sees operations only (:data:`SCHEMA_OPERATIONS`), never strings.
        A changed string may still be the same columns (column mapping turned on adds field
        metadata): compare the columns, as ``kindling_core.dimensions.schema`` does.
    ``recreated``
        with ``since`` only: the table was recreated after ``since`` (its latest version is
        below ``since``, or ``metaData.id`` changed).
    """

    location: str
    status: ProbeStatus
    version: int | None = None
    timestamp_ms: int | None = None
    operation: str | None = None
    data_change: bool | None = None
    last_data_version: int | None = None
    error: str | None = None
    checkpoint_version: int | None = None
    history_truncated: bool = False
    note: str | None = None
    backend: str | None = None
    schema_version: int | None = None
    schema_operations: tuple[str, ...] = ()
    schema_before: str | None = None
    schema_after: str | None = None
    recreated: bool = False

    @property
    def ok(self) -> bool:
        """``status is ProbeStatus.OK``."""
        return self.status is ProbeStatus.OK

    @property
    def missing(self) -> bool:
        """``status is ProbeStatus.MISSING``."""
        return self.status is ProbeStatus.MISSING

    @property
    def failed(self) -> bool:
        """``status is ProbeStatus.FAILED``."""
        return self.status is ProbeStatus.FAILED


# ---------------------------------------------------------------------------------- internal signals


class _Missing(Exception):
    """The table does not exist (internal)."""


class _Failed(Exception):
    """The log cannot be read (internal); the message is the cause."""
