"""A Delta table's size read from its ``_delta_log``: the bytes of the data files in the latest
snapshot (what ``DESCRIBE DETAIL`` reports as ``sizeInBytes``), without a Spark job.

Algorithm -- Delta's log replay, restricted to file sizes:

1. list ``_delta_log``; the latest version is the highest commit JSON, floored by complete
   checkpoints (as for the version probe);
2. start from the newest complete checkpoint at or below it -- a classic single file, every
   part of a multi-part checkpoint, or a V2 checkpoint (JSON or Parquet) and the sidecar files
   it names in ``_delta_log/_sidecars/``. Its ``add`` actions are the live files at that
   version (its ``remove`` actions are tombstones kept for VACUUM, not live files). Without a
   checkpoint, replay starts from nothing before version 0;
3. apply every commit JSON after the checkpoint, in version order: ``add`` makes a file live,
   ``remove`` drops it. A file is identified by its path *and* its deletion vector, as in
   Delta, so rewriting a file's deletion vector (a ``remove`` and an ``add`` of one path in one
   commit) leaves it counted once;
4. the size is the sum of ``add.size`` over the live files.

It cannot answer (``_Failed`` with the reason) when a commit between the checkpoint and the
latest version was cleaned up, when there is no checkpoint and early commits were cleaned up,
when an action is malformed, or when the only checkpoint is Parquet and pyarrow is not
installed (then it replays the JSON commits from version 0 instead, if they all remain).
Parquet checkpoints are read with pyarrow (imported on first need; Databricks, Fabric and the
``kindling-core[spark]`` install provide it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from kindling_core.spark.probe._commits import _COMMIT_RE, _checkpoint_files, _json_actions, _parquet_actions
from kindling_core.spark.probe._log import _Log
from kindling_core.spark.probe._probe import DeltaVersionProbe
from kindling_core.spark.probe._storage import _java_error, _LocalLog
from kindling_core.spark.probe._types import ProbeArgumentError, ProbeStatus, _Failed, _Missing
from kindling_core.spark.session import is_connect_session

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["TableSize", "table_size", "_snapshot_size"]

#: A live file: (path, deletion-vector unique id or None).
_FileKey = tuple[str, "str | None"]
#: The checkpoint columns the size needs: live files and V2 sidecars.
_FILE_COLUMNS = {"add": ("path", "size", "deletionVector"), "sidecar": ("path",)}


@attrs.frozen
class TableSize:
    """The size of one Delta table's latest snapshot (or why it is not known).

    ``status`` is :attr:`ProbeStatus.OK` with ``size_bytes`` (the sum of the live data files'
    sizes), ``files`` (how many) and ``version`` (the snapshot read); ``MISSING`` when there
    is no table at ``location``; ``FAILED`` with ``error`` (naming the location) when the log
    could not answer. ``backend`` is ``"local"`` or ``"hadoop"``.
    """

    location: str
    status: ProbeStatus
    size_bytes: int | None = None
    files: int | None = None
    version: int | None = None
    error: str | None = None
    backend: str | None = None

    @property
    def ok(self) -> bool:
        """``status is ProbeStatus.OK``."""
        return self.status is ProbeStatus.OK


def _dv_id(dv: Any) -> str | None:
    """Delta's unique id of a deletion vector descriptor (``None`` without one)."""
    if not isinstance(dv, dict):
        return None
    offset = dv.get("offset")
    return f"{dv.get('storageType')}{dv.get('pathOrInlineDv')}" + (f"@{offset}" if offset is not None else "")


def _key(body: Any, where: str, kind: str) -> _FileKey:
    """The identity of the file an ``add`` / ``remove`` action names."""
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        raise _Failed(f"{where}: a {kind!r} action without a path")
    return body["path"], _dv_id(body.get("deletionVector"))


def _added(body: Any, where: str) -> tuple[_FileKey, int]:
    """Key and size of an ``add`` action (``size`` is required for adds)."""
    key = _key(body, where, "add")
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _Failed(f"{where}: 'add' action for {key[0]!r} has no non-negative integer size (got {size!r})")
    return key, size


def _checkpoint_live(log: _Log, location: str, files: list[str]) -> dict[_FileKey, int]:
    live: dict[_FileKey, int] = {}
    pending = [(name, f"{location}/_delta_log/{name}") for name in files]
    while pending:
        name, where = pending.pop(0)
        raw = log.read(name)
        if raw is None:
            raise _Failed(f"{where} was listed but is gone (log cleanup while reading?)")
        actions = _json_actions(raw, where) if name.endswith(".json") else _parquet_actions(raw, where, _FILE_COLUMNS)
        for kind, body in actions:
            if kind == "add":
                key, size = _added(body, where)
                live[key] = size
            elif kind == "sidecar" and isinstance(body, dict) and isinstance(body.get("path"), str):
                sidecar = "_sidecars/" + body["path"].rsplit("/", 1)[-1]
                pending.append((sidecar, f"{location}/_delta_log/{sidecar}"))
    return live


def _snapshot_size(log: _Log, location: str) -> TableSize:
    """Replay ``log`` into the latest snapshot's size (see the module docstring).

    Raises ``_Missing`` when there is no table and ``_Failed`` when the log cannot answer.
    """
    names = log.list_names()
    commits = {int(m.group(1)) for m in map(_COMMIT_RE.match, names) if m}
    checkpoint = _checkpoint_files(names)
    if not commits and checkpoint is None:
        raise _Missing()
    latest = max(commits | ({checkpoint[0]} if checkpoint else set()))
    start = -1
    live: dict[_FileKey, int] = {}
    if checkpoint is not None:
        try:
            live = _checkpoint_live(log, location, checkpoint[1])
            start = checkpoint[0]
        except _Failed:
            if len(commits) != latest + 1:  # some commit is gone: cannot replay from version 0
                raise
            live = {}  # e.g. no pyarrow, but every commit is still there: replay them all
    for version in range(start + 1, latest + 1):
        name = f"{version:020d}.json"
        raw = log.read(name) if version in commits else None
        if raw is None:
            why = f"after checkpoint {start}" if start >= 0 else "and there is no checkpoint"
            raise _Failed(f"commit {version} of {location} was cleaned up {why}; the snapshot cannot be replayed")
        where = f"{location}/_delta_log/{name}"
        for kind, body in _json_actions(raw, where):
            if kind == "add":
                key, size = _added(body, where)
                live[key] = size
            elif kind == "remove":
                live.pop(_key(body, where, "remove"), None)
    return TableSize(
        location=location,
        status=ProbeStatus.OK,
        size_bytes=sum(live.values()),
        files=len(live),
        version=latest,
        backend=log.name,
    )


def _is_local_path(location: str) -> bool:
    """A ``file:`` URI or a path without a scheme."""
    if location.startswith("file:"):
        return not location.startswith("file://") or location.startswith("file:///")
    return "://" not in location and ":" not in location.split("/", 1)[0]


def table_size(location: str, spark: SparkSession | None = None, *, backend: str = "auto") -> TableSize:
    """The size of the Delta table at ``location`` from its ``_delta_log``; runs no Spark job.

    Without ``spark``, or on Spark Connect (no JVM gateway), only local paths can be read
    (plain Python); any other location is ``FAILED`` with an error saying so. With a classic
    session, ``backend`` chooses as :class:`DeltaVersionProbe` does (``"auto"``: local files
    with plain Python, other schemes through the session's Hadoop ``FileSystem``). A bad table
    never raises (see :class:`TableSize`); bad arguments raise :class:`ProbeArgumentError`.
    """
    if not isinstance(location, str) or not location.strip():
        raise ProbeArgumentError(f"location must be a non-empty string, got {location!r}", culprit="location")
    log: _Log | None = None
    try:
        if spark is None or is_connect_session(spark):
            if backend not in ("auto", "local"):
                raise ProbeArgumentError(
                    f"backend={backend!r} needs a classic SparkSession; "
                    + ("this is a Spark Connect session" if spark is not None else "none was given"),
                    culprit="backend",
                    remedy="use backend='auto' (local paths are read with plain Python)",
                )
            if not _is_local_path(location):
                raise _Failed("reading a _delta_log on this storage needs a classic Spark session (a JVM)")
            log = _LocalLog(location)
        else:
            probe = DeltaVersionProbe(spark, backend=backend)
            log = probe._log(probe.backend_for(location), location)
        return _snapshot_size(log, location)
    except _Missing:
        return TableSize(location=location, status=ProbeStatus.MISSING, backend=log.name if log else None)
    except _Failed as exc:
        text = str(exc)
        error = text if location in text else f"{location}: {text}"
        return TableSize(location=location, status=ProbeStatus.FAILED, error=error, backend=log.name if log else None)
    except ProbeArgumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a Py4J / gateway error we did not anticipate
        cls, msg = _java_error(exc)
        return TableSize(location=location, status=ProbeStatus.FAILED, error=f"{location}: {cls}: {msg}")
