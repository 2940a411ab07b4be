""":class:`DeltaVersionProbe` and the :func:`probe_versions` / :func:`probe_entities` shorthands:
argument checking, the per-location backend choice, and fanning out over many tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from kindling_core.spark.probe._history import _history_commit, _history_rows, _probe_history
from kindling_core.spark.probe._log import _commits_since, _Log, _probe_log
from kindling_core.spark.probe._storage import _HadoopFs, _HadoopLog, _java_error, _LocalLog
from kindling_core.spark.probe._types import (
    CommitInfo,
    ProbeArgumentError,
    ProbeStatus,
    ProbeTableError,
    VersionInfo,
    _Failed,
    _Missing,
)
from kindling_core.spark.session import is_connect_session

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from kindling_core.model import Entity
    from kindling_core.spark.delta import EntityIO

__all__ = ["BACKENDS", "DEFAULT_MAX_SCAN", "DeltaVersionProbe", "probe_versions", "probe_entities"]

BACKENDS = ("auto", "local", "hadoop", "history")
DEFAULT_MAX_SCAN = 100


def _is_remote(location: str) -> bool:
    """A location on a remote store (worth probing from several threads)."""
    return "://" in location and not location.lower().startswith("file:")


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
    """Latest-version probe bound to one SparkSession (see the package docstring).

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
        connect = is_connect_session(spark)
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
        except Exception as exc:  # noqa: BLE001 - a Py4J / gateway error we did not anticipate: FAILED, never raised
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
