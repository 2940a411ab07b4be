"""A cheap latest-version probe for many Delta tables at once that runs no Spark job.

:func:`probe_versions` (and :class:`DeltaVersionProbe`) read each table's ``_delta_log``
directly -- one directory listing, ``_last_checkpoint`` when present, and the newest commit
file -- instead of building a Delta snapshot and calling ``history()``, which costs a snapshot
load (a Spark job on first access) per table. See ``docs/design/version-probe.md``.

Semantics
---------

*Latest version*: the highest ``NNNNNNNNNNNNNNNNNNNN.json`` commit in ``_delta_log``, floored by
the checkpoint version named in ``_last_checkpoint`` (and by complete checkpoint files in the
listing), so a log whose old JSON commits were cleaned up after a checkpoint still answers.

*Status*: :attr:`ProbeStatus.OK` with a version (``0`` for a freshly created table);
:attr:`ProbeStatus.MISSING` when the location or its ``_delta_log`` does not exist or holds no
commit and no checkpoint ("table missing"); :attr:`ProbeStatus.FAILED` when the probe could not
read the log (the location or ``_delta_log`` is a file, permissions, a corrupt
``_last_checkpoint`` or commit file, an I/O error). A failure of one table never raises; its
``VersionInfo.error`` names the location and the cause.

*Data change*: a commit changes data when it holds an ``add``, ``remove`` or ``cdc`` action
with ``"dataChange": true`` (Delta's own definition, the one its streaming source uses), or it
is version 0 (the table came into existence). OPTIMIZE (add/remove with ``dataChange: false``),
VACUUM START / END (``commitInfo`` only), SET / UNSET TBLPROPERTIES and other ALTERs
(``metaData`` / ``protocol`` only) do not. Schema-only changes are *not* data changes; look at
``operation`` (or :attr:`CommitInfo.actions` containing ``"metaData"``) if you care about them.

*Timestamps* are Delta's: ``commitInfo.inCommitTimestamp`` when in-commit timestamps are
enabled, else the commit file's modification time (what ``DESCRIBE HISTORY`` shows; Delta's
history additionally bumps non-increasing file times by 1 ms, which the probe does not).

Backends
--------

``"local"``: Python ``os.scandir`` / ``open`` for ``file:`` URIs and plain paths when the
session's default filesystem is local (no JVM round trip). ``"hadoop"``: the session's Hadoop
``FileSystem`` through Py4J (any scheme Spark can read: ``abfss:``, ``s3a:``, ``dbfs:``...).
``"history"``: ``DESCRIBE HISTORY`` -- the only option on Spark Connect, where there is no JVM
gateway; it **runs Spark jobs** and classifies data changes by operation name (unknown
operations count as data changes). ``"auto"`` picks local / hadoop per location on a classic
session and history on Connect. The local and hadoop backends give identical answers.
"""

from __future__ import annotations

import enum
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import attrs

from kindling_core.errors import KindlingError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from kindling_core.model import Entity
    from kindling_core.spark.delta import EntityIO

__all__ = [
    "ProbeStatus",
    "VersionInfo",
    "CommitInfo",
    "DeltaVersionProbe",
    "probe_versions",
    "probe_entities",
    "VersionProbeError",
    "ProbeArgumentError",
    "ProbeTableError",
    "BACKENDS",
    "MAINTENANCE_OPERATIONS",
]

BACKENDS = ("auto", "local", "hadoop", "history")
DEFAULT_MAX_SCAN = 100

#: Operations that change no data, for the ``history`` backend (which cannot see actions).
#: Any operation not listed counts as a data change (a false alarm beats a missed change).
MAINTENANCE_OPERATIONS = frozenset(
    {
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "ADD COLUMNS",
        "CHANGE COLUMN",
        "CHANGE COLUMNS",
        "REPLACE COLUMNS",
        "RENAME COLUMN",
        "DROP COLUMNS",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "UPGRADE PROTOCOL",
        "UPGRADE SCHEMA",
        "REORG",
        "CLUSTER BY",
        "DROP FEATURE",
        "ADD FEATURE",
        "ROW TRACKING BACKFILL",
        "ROW TRACKING UNBACKFILL",
        "COMPUTE STATS",
        "CREATE BLOOM FILTER INDEX",
        "DROP BLOOM FILTER INDEX",
        "SET COLUMN TAGS",
        "UNSET COLUMN TAGS",
    }
)

_COMMIT_RE = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT_RE = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?(?:\.[^.]+)?\.(?:parquet|json)$")
_DATA_ACTIONS = ("add", "remove", "cdc")


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
    ``data_change`` follows the module's definition; ``actions`` lists the action kinds the
    commit holds (``"add"``, ``"commitInfo"``, ``"metaData"``, ...), sorted. The ``history``
    backend cannot see actions: ``actions`` is empty and ``data_change`` comes from the
    operation name (:data:`MAINTENANCE_OPERATIONS`).
    """

    version: int
    timestamp_ms: int | None
    operation: str | None
    data_change: bool
    actions: tuple[str, ...] = ()


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


# ---------------------------------------------------------------------------------- log access


class _Missing(Exception):
    """The table does not exist (internal)."""


class _Failed(Exception):
    """The log cannot be read (internal); the message is the cause."""


class _Log(Protocol):
    """What the log-reading algorithm needs from a storage backend (one table)."""

    name: str

    def list_names(self) -> list[str]:
        """Names in ``_delta_log``; raise ``_Missing`` / ``_Failed``."""

    def read(self, name: str) -> bytes | None:
        """Bytes of ``_delta_log/name``, ``None`` when it does not exist; raise ``_Failed``."""

    def mtime_ms(self, name: str) -> int | None:
        """Modification time of ``_delta_log/name`` in ms, ``None`` when it does not exist."""


def _local_path_of(location: str) -> str:
    path = location.removeprefix("file:")
    if path.startswith("//"):  # file:///abs/path
        path = path[2:]
        if not path.startswith("/"):  # file://host/path: not ours
            raise ValueError(location)
    return os.path.abspath(path)


class _LocalLog:
    """``_delta_log`` of a table on the local filesystem, read with plain Python."""

    name = "local"

    def __init__(self, location: str) -> None:
        self.table = _local_path_of(location)
        self.log = os.path.join(self.table, "_delta_log")

    def list_names(self) -> list[str]:
        try:
            with os.scandir(self.log) as entries:
                return [entry.name for entry in entries]
        except FileNotFoundError:
            if os.path.isfile(self.table):
                raise _Failed(f"{self.table} is a file, not a table directory") from None
            raise _Missing() from None
        except NotADirectoryError:
            what = self.table if os.path.isfile(self.table) else self.log
            raise _Failed(f"{what} is a file, not a directory") from None
        except OSError as exc:
            raise _Failed(f"cannot list {self.log}: {exc.strerror or exc}") from None

    def read(self, name: str) -> bytes | None:
        path = os.path.join(self.log, name)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _Failed(f"cannot read {path}: {exc.strerror or exc}") from None

    def mtime_ms(self, name: str) -> int | None:
        try:
            return os.stat(os.path.join(self.log, name)).st_mtime_ns // 1_000_000
        except FileNotFoundError:
            return None


class _HadoopFs:
    """The session's Hadoop filesystem access, shared by the tables of one probe.

    Java classes and ``FileSystem`` instances (per scheme and authority) are looked up once:
    every Py4J attribute or call is a round trip to the JVM.
    """

    def __init__(self, spark: SparkSession) -> None:
        jvm = spark._jvm  # type: ignore[attr-defined]
        self.conf = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        self.Path = jvm.org.apache.hadoop.fs.Path
        self.stat2Paths = jvm.org.apache.hadoop.fs.FileUtil.stat2Paths
        self.array_to_string = jvm.org.apache.commons.lang3.ArrayUtils.toString
        self.to_byte_array = jvm.org.apache.commons.io.IOUtils.toByteArray
        self._filesystems: dict[tuple[str, str], Any] = {}

    def filesystem(self, location: str, path: Any) -> Any:
        parts = urlsplit(location) if "://" in location or location.startswith("file:") else None
        key = (parts.scheme.lower(), parts.netloc) if parts else ("", "")
        fs = self._filesystems.get(key)
        if fs is None:
            fs = self._filesystems[key] = path.getFileSystem(self.conf)
        return fs


def _java_error(exc: BaseException) -> tuple[str, str]:
    """``(java class name, message)`` of a Py4J Java error, or the Python type and text."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return str(java.getClass().getName()), str(java.getMessage())
        except Exception:  # pragma: no cover - broken gateway
            pass
    return type(exc).__name__, str(exc)


_FNF = ("java.io.FileNotFoundException",)


class _HadoopLog:
    """``_delta_log`` of a table read through the session's Hadoop ``FileSystem`` (Py4J).

    Listing a directory costs three round trips whatever its size: ``listStatus``,
    ``FileUtil.stat2Paths`` and one ``ArrayUtils.toString`` that returns every path in one
    string. Reading a file costs four (path, open, read, close), a modification time three.
    """

    name = "hadoop"

    def __init__(self, hfs: _HadoopFs, location: str) -> None:
        self.hfs = hfs
        self.location = location
        self.log_text = location.rstrip("/") + "/_delta_log"
        self.log_path = hfs.Path(self.log_text)
        self.fs = hfs.filesystem(location, self.log_path)

    def list_names(self) -> list[str]:
        try:
            statuses = self.fs.listStatus(self.log_path)
        except Exception as exc:
            cls, msg = _java_error(exc)
            if cls in _FNF:
                if self._is_file(self.hfs.Path(self.location)):
                    raise _Failed(f"{self.location} is a file, not a table directory") from None
                raise _Missing() from None
            raise _Failed(f"cannot list {self.log_text}: {cls}: {msg}") from None
        paths = self.hfs.stat2Paths(statuses)
        # One string "{<dir>/<n1>,<dir>/<n2>,...}" (ArrayUtils.toString takes an Object, which
        # Py4J can match; it cannot pass a Path[] as Object[]). Split on the shared directory
        # prefix -- names never contain "/" -- so names or directories containing "," survive.
        text = str(self.hfs.array_to_string(paths))[1:-1]
        if not text:
            return []
        cut = text.find("/_delta_log/")
        prefix = text[: cut + len("/_delta_log/")] if cut >= 0 else None
        if prefix is None or not text.startswith(prefix) or "/" in text[len(prefix) :].replace("," + prefix, ""):
            # The table path itself contains "/_delta_log/": ask for the parent (one more trip).
            prefix = str(paths[0].getParent().toString()).rstrip("/") + "/"
        names = text[len(prefix) :].split("," + prefix)
        if names == ["_delta_log"] and statuses[0].isFile():
            # listStatus on a *file* returns that file itself: _delta_log is not a directory.
            raise _Failed(f"{self.log_text} is a file, not a directory")
        return names

    def _is_file(self, path: Any) -> bool:
        try:
            return bool(self.fs.getFileStatus(path).isFile())
        except Exception:
            return False

    def read(self, name: str) -> bytes | None:
        where = f"{self.log_text}/{name}"
        try:
            stream = self.fs.open(self.hfs.Path(where))
        except Exception as exc:
            cls, msg = _java_error(exc)
            if cls in _FNF and "directory" not in msg.lower():
                return None  # listed, then removed (log cleanup racing the probe)
            raise _Failed(f"cannot read {where}: {cls}: {msg}") from None
        try:
            return bytes(self.hfs.to_byte_array(stream))
        except Exception as exc:
            cls, msg = _java_error(exc)
            raise _Failed(f"cannot read {where}: {cls}: {msg}") from None
        finally:
            try:
                stream.close()
            except Exception:  # pragma: no cover
                pass

    def mtime_ms(self, name: str) -> int | None:
        where = f"{self.log_text}/{name}"
        try:
            return int(self.fs.getFileStatus(self.hfs.Path(where)).getModificationTime())
        except Exception as exc:
            cls, msg = _java_error(exc)
            if cls in _FNF:
                return None
            raise _Failed(f"cannot stat {where}: {cls}: {msg}") from None


# ---------------------------------------------------------------------------------- parsing


def _parse_commit(raw: bytes, *, where: str, version: int, mtime: Callable[[], int | None]) -> CommitInfo:
    """Parse one commit file (newline-delimited JSON actions) into a :class:`CommitInfo`."""
    operation: str | None = None
    ict: int | None = None
    data_change = version == 0
    kinds: set[str] = set()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Failed(f"{where} is not UTF-8: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except ValueError as exc:
            raise _Failed(f"{where} line {number} is not JSON: {exc}") from None
        if not isinstance(action, dict):
            raise _Failed(f"{where} line {number} is not a JSON object")
        for kind, body in action.items():
            kinds.add(kind)
            if kind == "commitInfo" and isinstance(body, dict):
                op = body.get("operation")
                operation = op if isinstance(op, str) else None
                value = body.get("inCommitTimestamp")
                if isinstance(value, int) and not isinstance(value, bool):
                    ict = value
            elif kind in _DATA_ACTIONS and isinstance(body, dict) and body.get("dataChange") is True:
                data_change = True
    return CommitInfo(
        version=version,
        timestamp_ms=ict if ict is not None else mtime(),
        operation=operation,
        data_change=data_change,
        actions=tuple(sorted(kinds)),
    )


def _parse_last_checkpoint(raw: bytes, where: str) -> int:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Failed(f"corrupt {where}: {exc}") from None
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise _Failed(f"corrupt {where}: no non-negative integer 'version' (got {body!r:.200})")
    return version


def _complete_checkpoints(names: Iterable[str]) -> set[int]:
    """Versions with a complete checkpoint in the listing (single-file, v2, or all parts)."""
    versions: set[int] = set()
    parts: dict[tuple[int, int], set[int]] = {}
    for name in names:
        match = _CHECKPOINT_RE.match(name)
        if not match:
            continue
        version = int(match.group(1))
        if match.group(2) is None:
            versions.add(version)
        else:
            part, total = int(match.group(2)), int(match.group(3))
            parts.setdefault((version, total), set()).add(part)
    for (version, total), seen in parts.items():
        if len(seen) == total:
            versions.add(version)
    return versions


def _probe_log(log: _Log, location: str, since: int | None, max_scan: int) -> VersionInfo:
    """The log-reading algorithm, shared by the local and hadoop backends."""
    names = log.list_names()
    commits: set[int] = set()
    has_last_checkpoint = False
    for name in names:
        match = _COMMIT_RE.match(name)
        if match:
            commits.add(int(match.group(1)))
        elif name == "_last_checkpoint":
            has_last_checkpoint = True
    checkpoint: int | None = None
    if has_last_checkpoint:
        raw = log.read("_last_checkpoint")
        if raw is not None:  # deleted between listing and reading: fall back to the listing
            checkpoint = _parse_last_checkpoint(raw, f"{location}/_delta_log/_last_checkpoint")
    floor_versions = _complete_checkpoints(names)
    if checkpoint is not None:
        floor_versions.add(checkpoint)
    if not commits and not floor_versions:
        raise _Missing()
    latest = max(commits | floor_versions)

    cache: dict[int, CommitInfo | None] = {}

    def commit(version: int) -> CommitInfo | None:
        if version not in cache:
            name = f"{version:020d}.json"
            raw = log.read(name) if version in commits else None
            cache[version] = (
                None
                if raw is None
                else _parse_commit(
                    raw, where=f"{location}/_delta_log/{name}", version=version, mtime=partial(log.mtime_ms, name)
                )
            )
        return cache[version]

    top = commit(latest)
    info: dict[str, Any] = {
        "location": location,
        "status": ProbeStatus.OK,
        "version": latest,
        "timestamp_ms": top.timestamp_ms if top else None,
        "operation": top.operation if top else None,
        "checkpoint_version": checkpoint,
        "backend": log.name,
    }
    # Scan downwards for the newest data change: to since+1 with `since`, else max_scan commits.
    if since is not None and since > latest:
        info.update(data_change=None, note=f"since={since} is ahead of the latest version {latest} (table recreated?)")
        return VersionInfo(**info)
    low = since + 1 if since is not None else max(0, latest - max_scan + 1)
    if since is not None and latest - low + 1 > max_scan:
        low_scan = latest - max_scan + 1
    else:
        low_scan = low
    found: int | None = None
    truncated = False
    for version in range(latest, low_scan - 1, -1):
        entry = commit(version)
        if entry is None:
            truncated = True
            break
        if entry.data_change:
            found = version
            break
    info["last_data_version"] = found
    if since is None:
        info["data_change"] = top.data_change if top else None
        if top is None:
            info.update(history_truncated=True, note=f"commit {latest} was cleaned up; only its checkpoint remains")
        elif found is None and truncated:
            info.update(history_truncated=True, note="older commits were cleaned up before a data change was found")
        return VersionInfo(**info)
    if found is not None:
        info["data_change"] = True
    elif truncated:
        info.update(
            data_change=None,
            history_truncated=True,
            note=f"commits after since={since} were cleaned up from the log; cannot tell whether data changed",
        )
    elif low_scan > low:
        info.update(data_change=None, note=f"scan limit of {max_scan} commits reached without finding a data change")
    else:
        info["data_change"] = False
    return VersionInfo(**info)


def _commits_since(log: _Log, location: str, since: int) -> list[CommitInfo]:
    names = log.list_names()
    commits = sorted(int(m.group(1)) for m in map(_COMMIT_RE.match, names) if m)
    if not commits and not _complete_checkpoints(names) and "_last_checkpoint" not in names:
        raise _Missing()
    out: list[CommitInfo] = []
    if not commits:
        return out
    latest = commits[-1]
    present = set(commits)
    for version in range(since + 1, latest + 1):
        name = f"{version:020d}.json"
        raw = log.read(name) if version in present else None
        if raw is None:
            raise ProbeTableError(
                f"commit {version} of {location} was cleaned up from the log; the changes since "
                f"version {since} cannot be listed",
                location=location,
                status=None,
                remedy="re-read the table in full, or keep the log longer (delta.logRetentionDuration)",
            )
        where = f"{location}/_delta_log/{name}"
        out.append(_parse_commit(raw, where=where, version=version, mtime=partial(log.mtime_ms, name)))
    return out


# ---------------------------------------------------------------------------------- history backend


def _history_rows(spark: SparkSession, location: str, since: int | None, limit: int | None) -> list[Any]:
    quoted = location.replace("`", "``")
    sql = f"DESCRIBE HISTORY delta.`{quoted}`" + (f" LIMIT {limit}" if limit is not None else "")
    frame = spark.sql(sql).selectExpr("version", "unix_millis(timestamp) AS ts", "operation")
    if since is not None:
        frame = frame.where(f"version > {int(since)}")
    return frame.orderBy("version", ascending=False).collect()


_MISSING_MARKERS = (
    "DELTA_MISSING_DELTA_TABLE",
    "DELTA_TABLE_NOT_FOUND",
    "PATH_NOT_FOUND",
    "is not a Delta table",
    "doesn't exist",
    "does not exist",
)


def _history_commit(row: Any) -> CommitInfo:
    operation = row["operation"]
    data_change = row["version"] == 0 or operation not in MAINTENANCE_OPERATIONS
    return CommitInfo(version=int(row["version"]), timestamp_ms=row["ts"], operation=operation, data_change=data_change)


def _probe_history(spark: SparkSession, location: str, since: int | None, max_scan: int) -> VersionInfo:
    try:
        rows = _history_rows(spark, location, since, None if since is not None else max_scan)
        if since is not None and not rows:
            rows = _history_rows(spark, location, None, 1)
            if rows and rows[0]["version"] < since:
                entry = _history_commit(rows[0])
                return VersionInfo(
                    location=location,
                    status=ProbeStatus.OK,
                    version=entry.version,
                    timestamp_ms=entry.timestamp_ms,
                    operation=entry.operation,
                    data_change=None,
                    note=f"since={since} is ahead of the latest version {entry.version} (table recreated?)",
                    backend="history",
                )
            latest_only = True
        else:
            latest_only = False
    except Exception as exc:
        text = str(exc)
        if any(marker in text for marker in _MISSING_MARKERS):
            return VersionInfo(location=location, status=ProbeStatus.MISSING, backend="history")
        return VersionInfo(
            location=location,
            status=ProbeStatus.FAILED,
            error=f"{location}: DESCRIBE HISTORY failed: {text.splitlines()[0] if text else type(exc).__name__}",
            backend="history",
        )
    if not rows:
        return VersionInfo(location=location, status=ProbeStatus.MISSING, backend="history")
    entries = [_history_commit(row) for row in rows]
    top = entries[0]
    found = next((e.version for e in entries if e.data_change), None)
    if since is None:
        data_change: bool | None = top.data_change
        truncated = found is None and entries[-1].version > 0 and len(entries) < max_scan
    else:
        data_change = False if latest_only else found is not None
        if latest_only:
            found = None
        # History only lists commits whose JSON survives; a gap above `since` means cleanup.
        expected = top.version - since
        truncated = not latest_only and found is None and len(entries) < expected
        if truncated:
            data_change = None
    return VersionInfo(
        location=location,
        status=ProbeStatus.OK,
        version=top.version,
        timestamp_ms=top.timestamp_ms,
        operation=top.operation,
        data_change=data_change,
        last_data_version=found,
        history_truncated=truncated,
        note="history truncated by log cleanup" if truncated else None,
        backend="history",
    )


# ---------------------------------------------------------------------------------- public API


def _is_remote(location: str) -> bool:
    """A location on a remote store (worth probing from several threads)."""
    return "://" in location and not location.lower().startswith("file:")


def _is_connect(spark: Any) -> bool:
    return getattr(spark, "_jsc", None) is None or getattr(spark, "_jvm", None) is None


def _normalise_locations(locations: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(locations, (str, bytes)):
        raise ProbeArgumentError(
            f"locations must be a mapping or a sequence of locations, got the single string {locations!r}",
            culprit="locations",
            remedy=f"wrap it in a list: probe_versions(spark, [{locations!r}])",
        )
    if isinstance(locations, Mapping):
        pairs = list(locations.items())
    elif isinstance(locations, Iterable):
        pairs = [(loc, loc) for loc in locations]
    else:
        raise ProbeArgumentError(
            f"locations must be a mapping (key -> location) or a sequence of locations, got {type(locations).__name__}",
            culprit="locations",
            remedy="pass {'orders': '/lake/orders'} or ['/lake/orders']",
        )
    out: dict[str, str] = {}
    for key, loc in pairs:
        if not isinstance(key, str) or not key:
            raise ProbeArgumentError(
                f"location keys must be non-empty strings, got {key!r}", culprit="locations", remedy="use entity ids as keys"
            )
        if not isinstance(loc, str) or not loc.strip():
            raise ProbeArgumentError(
                f"location for {key!r} must be a non-empty string, got {loc!r}",
                culprit=key,
                remedy="give the table's storage path (EntityIO.location(entity))",
            )
        out[key] = loc
    return out


def _normalise_since(since: Mapping[str, int] | None, keys: Mapping[str, str]) -> dict[str, int]:
    if since is None:
        return {}
    if not isinstance(since, Mapping):
        raise ProbeArgumentError(
            f"since must be a mapping of key -> version, got {type(since).__name__}",
            culprit="since",
            remedy="pass {'orders': 12}",
        )
    out: dict[str, int] = {}
    for key, version in since.items():
        if key not in keys:
            raise ProbeArgumentError(
                f"since names {key!r}, which is not among the locations probed",
                culprit=str(key),
                remedy="use the same keys as the locations (entity ids, or the locations themselves)",
            )
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ProbeArgumentError(
                f"since[{key!r}] must be a non-negative int version, got {version!r}",
                culprit=str(key),
                remedy="pass the version you last processed, e.g. VersionInfo.version",
            )
        out[key] = version
    return out


class DeltaVersionProbe:
    """Latest-version probe bound to one SparkSession (see the module docstring).

    ``backend`` is ``"auto"`` (default), ``"local"``, ``"hadoop"`` or ``"history"``;
    ``max_scan`` bounds how many commits one table's data-change search reads;
    ``parallelism`` is the number of threads used for hadoop-backend locations on remote
    stores (``abfss://``, ``s3a://``...: latency-bound); local-file and history probes run
    serially (threads only add Py4J connection set-up there). The probe holds no per-call state
    and may be shared across threads.
    """

    def __init__(
        self,
        spark: SparkSession,
        *,
        backend: str = "auto",
        max_scan: int = DEFAULT_MAX_SCAN,
        parallelism: int = 8,
    ) -> None:
        if spark is None:
            raise ProbeArgumentError("spark must be a SparkSession, got None", culprit="spark")
        if backend not in BACKENDS:
            raise ProbeArgumentError(
                f"unknown probe backend {backend!r}; expected one of {', '.join(BACKENDS)}",
                culprit=str(backend),
                remedy="use backend='auto'",
            )
        if not isinstance(max_scan, int) or isinstance(max_scan, bool) or max_scan < 1:
            raise ProbeArgumentError(f"max_scan must be an int >= 1, got {max_scan!r}", culprit="max_scan")
        if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1:
            raise ProbeArgumentError(f"parallelism must be an int >= 1, got {parallelism!r}", culprit="parallelism")
        connect = _is_connect(spark)
        if connect and backend == "hadoop":
            raise ProbeArgumentError(
                "backend='hadoop' needs a classic SparkSession; this is a Spark Connect session",
                culprit="backend",
                remedy="use backend='auto' (DESCRIBE HISTORY on Connect)",
            )
        self.spark = spark
        self.backend = backend
        self.max_scan = max_scan
        self.parallelism = parallelism
        self._connect = connect
        self._hfs: _HadoopFs | None = None
        self._default_fs_local: bool | None = None

    # -------------------------------------------------------------- backend choice

    def _hadoop(self) -> _HadoopFs:
        if self._hfs is None:
            self._hfs = _HadoopFs(self.spark)
        return self._hfs

    def _local_default(self) -> bool:
        if self._default_fs_local is None:
            if self._connect:
                self._default_fs_local = False
            else:
                default = self._hadoop().conf.get("fs.defaultFS") or "file:///"
                self._default_fs_local = str(default).startswith("file:")
        return self._default_fs_local

    def backend_for(self, location: str) -> str:
        """The backend ``auto`` picks for ``location`` (or the forced one)."""
        if self.backend != "auto":
            return self.backend
        if self._connect:
            return "history"
        if location.startswith("file:///") or (location.startswith("file:") and not location.startswith("file://")):
            return "local"
        if "://" not in location and ":" not in location.split("/", 1)[0]:
            return "local" if self._local_default() else "hadoop"
        return "hadoop"

    def _log(self, backend: str, location: str) -> _Log:
        if backend == "local":
            try:
                return _LocalLog(location)
            except ValueError:
                raise _Failed(f"{location} is not a local path (backend='local')") from None
        return _HadoopLog(self._hadoop(), location)

    # -------------------------------------------------------------- probing

    def probe(self, location: str, *, since: int | None = None) -> VersionInfo:
        """Probe one location; never raises for a bad table (see :class:`VersionInfo`)."""
        backend = self.backend_for(location)
        if backend == "history":
            return _probe_history(self.spark, location, since, self.max_scan)
        try:
            return _probe_log(self._log(backend, location), location, since, self.max_scan)
        except _Missing:
            return VersionInfo(location=location, status=ProbeStatus.MISSING, backend=backend)
        except _Failed as exc:
            text = str(exc)
            error = text if location in text else f"{location}: {text}"
            return VersionInfo(location=location, status=ProbeStatus.FAILED, error=error, backend=backend)
        except Exception as exc:  # a Py4J / gateway error we did not anticipate
            cls, msg = _java_error(exc)
            return VersionInfo(
                location=location, status=ProbeStatus.FAILED, error=f"{location}: {cls}: {msg}", backend=backend
            )

    def latest(
        self, locations: Mapping[str, str] | Sequence[str], *, since: Mapping[str, int] | None = None
    ) -> dict[str, VersionInfo]:
        """Probe many tables; the result has one entry per key, in the order given.

        ``locations`` maps keys (entity ids) to locations, or is a sequence of locations (each
        its own key). ``since`` maps some keys to the version last processed (see
        :attr:`VersionInfo.data_change`). Raises :class:`ProbeArgumentError` for bad arguments;
        a bad table gives a ``FAILED`` / ``MISSING`` entry instead.
        """
        keyed = _normalise_locations(locations)
        since_map = _normalise_since(since, keyed)
        items = list(keyed.items())
        threaded = [k for k, loc in items if self.backend_for(loc) == "hadoop" and _is_remote(loc)]
        results: dict[str, VersionInfo] = {}
        if self.parallelism > 1 and len(threaded) > 1:
            workers = min(self.parallelism, len(threaded))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kindling-probe") as pool:
                futures = {k: pool.submit(self.probe, keyed[k], since=since_map.get(k)) for k in threaded}
                done = {k: f.result() for k, f in futures.items()}
        else:
            done = {}
        for key, loc in items:
            results[key] = done[key] if key in done else self.probe(loc, since=since_map.get(key))
        return results

    def changes_since(self, location: str, version: int) -> list[CommitInfo]:
        """Every commit after ``version`` up to the latest, oldest first (empty if none).

        Raises :class:`ProbeTableError` when the table is missing, the log cannot be read, or
        a commit in the range was cleaned up; :class:`ProbeArgumentError` for bad arguments.
        With the history backend (Spark Connect) this runs a Spark job and ``actions`` are
        empty.
        """
        if not isinstance(location, str) or not location.strip():
            raise ProbeArgumentError(f"location must be a non-empty string, got {location!r}", culprit="location")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ProbeArgumentError(f"version must be a non-negative int, got {version!r}", culprit="version")
        backend = self.backend_for(location)
        if backend == "history":
            info = _probe_history(self.spark, location, version, self.max_scan)
            if not info.ok:
                raise ProbeTableError(
                    info.error or f"no Delta table at {location}", location=location, status=info.status
                )
            rows = _history_rows(self.spark, location, version, None)
            return [_history_commit(row) for row in reversed(rows)]
        try:
            return _commits_since(self._log(backend, location), location, version)
        except _Missing:
            raise ProbeTableError(f"no Delta table at {location}", location=location, status=ProbeStatus.MISSING) from None
        except _Failed as exc:
            raise ProbeTableError(f"{location}: {exc}", location=location, status=ProbeStatus.FAILED) from None


def probe_versions(
    spark: SparkSession,
    locations: Mapping[str, str] | Sequence[str],
    *,
    since: Mapping[str, int] | None = None,
    backend: str = "auto",
    max_scan: int = DEFAULT_MAX_SCAN,
) -> dict[str, VersionInfo]:
    """Latest version of many Delta tables at once, without a Spark job (classic sessions).

    Shorthand for ``DeltaVersionProbe(spark, backend=..., max_scan=...).latest(locations,
    since=since)``; see :class:`VersionInfo` for what each field means.
    """
    return DeltaVersionProbe(spark, backend=backend, max_scan=max_scan).latest(locations, since=since)


def probe_entities(
    io: EntityIO, entities: Iterable[Entity], *, since: Mapping[str, int] | None = None, backend: str = "auto"
) -> dict[str, VersionInfo]:
    """:func:`probe_versions` keyed by entity id, for Delta entities declared with ``path=``.

    Catalog-table entities (``table=``) and non-Delta entities are reported ``FAILED`` with an
    explanation: the probe reads storage paths only.
    """
    locations: dict[str, str] = {}
    rejected: dict[str, VersionInfo] = {}
    for entity in entities:
        location = io.location(entity)
        if entity.format != "delta" or entity.path is None:
            why = "is not a Delta table" if entity.format != "delta" else "is a catalog table (table=)"
            rejected[entity.id] = VersionInfo(
                location=location,
                status=ProbeStatus.FAILED,
                error=f"{location}: entity {entity.id!r} {why}; the version probe reads Delta storage paths only",
            )
            continue
        locations[entity.id] = location
    result = probe_versions(io.spark, locations, since=since, backend=backend) if locations else {}
    result.update(rejected)
    return result
