"""Entity sizes for cache advice, found without starting Spark.

:class:`DeltaSizeProvider` is the size provider every :class:`~kindling_core.app.App` gives its
planner, so the cache heuristics' ``min-size-mb`` threshold works out of the box on Delta.
Called with an entity id, it answers the size in bytes of the entity's latest Delta snapshot
(the sum of its live data files, what ``DESCRIBE DETAIL`` reports as ``sizeInBytes``), or
``None`` when the size is unknown. Semantics, in order:

* an id that is not a declared entity, or an entity whose ``format`` is not ``delta``:
  ``None``;
* a ``path=`` entity on local storage (a path without a scheme, made absolute against the
  project root as for reading and writing, or a ``file:`` URI): its ``_delta_log`` is read with
  plain Python (:func:`kindling_core.spark.probe.table_size`: the last checkpoint plus the
  later JSON commits) -- no Spark job, and no session needed;
* a ``path=`` entity on other storage (``abfss://``, ``s3a://``, ``dbfs:``...): its
  ``_delta_log`` is read through the session's Hadoop ``FileSystem`` when a classic session is
  already active, still without a Spark job;
* a ``table=`` entity, a remote path on Spark Connect, or a log that could not answer
  (cleaned-up commits, a Parquet checkpoint without pyarrow): ``DESCRIBE DETAIL`` on the
  already-active session, if there is one (this may run a Spark job);
* no table at the location (it has not been written yet), no active session where one is
  needed, or any error: ``None``. Sizes are advisory; a provider never raises.

"Already active" means the session the app runs on (``app.spark`` once created, or
``app.use_spark(...)``) or, when pyspark is already imported, ``SparkSession.getActiveSession()``
(the one a notebook or Databricks job provides). Planning never creates a session and never
imports pyspark. Answers are not cached here; the planner caches whole plans (call
``app.planner.clear_cache()`` when tables have grown and you want fresh advice).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kindling_core.model.entity import Entity
from kindling_core.spark.session import is_connect_session

__all__ = ["DeltaSizeProvider", "active_session"]

logger = logging.getLogger("kindling.sizes")


def active_session() -> Any:
    """The classic SparkSession active on this thread, without importing pyspark (``None``
    when pyspark was never imported or no session is active)."""
    if "pyspark.sql" not in sys.modules:
        return None
    try:
        from pyspark.sql import SparkSession

        return SparkSession.getActiveSession()
    except Exception:  # noqa: BLE001 - a half-initialised or stopped context: no session
        return None


def _is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file:")


def _sql_name(entity: Entity, location: str) -> str:
    if entity.table is not None:
        return entity.table
    return "delta.`" + location.replace("`", "``") + "`"


class DeltaSizeProvider:
    """``provider(entity_id) -> int | None``: a Delta entity's size (see the module docstring).

    ``entities`` returns the app's declared entities (read at each call, so entities declared
    after the provider was made are found); ``root`` is the project root relative paths are
    resolved against; ``session`` returns the already-active SparkSession or ``None`` (it must
    never create one).
    """

    def __init__(
        self,
        entities: Callable[[], Mapping[str, Entity]],
        *,
        root: Path,
        session: Callable[[], Any] = active_session,
    ) -> None:
        self._entities = entities
        self._root = Path(root)
        self._session = session

    def __call__(self, entity_id: str) -> int | None:
        entity = self._entities().get(entity_id)
        if entity is None or entity.format != "delta":
            return None
        try:
            return self.size_of(entity)
        except Exception as exc:  # noqa: BLE001 - sizes are advisory: never let one break planning
            logger.debug("size of entity %r unknown: %s: %s", entity_id, type(exc).__name__, exc)
            return None

    def size_of(self, entity: Entity) -> int | None:
        """The size of ``entity`` in bytes, or ``None`` (see the module docstring)."""
        from kindling_core.spark.delta import resolve_location
        from kindling_core.spark.probe import ProbeStatus, table_size

        location = resolve_location(entity, self._root)
        spark = self._session()
        if entity.path is not None and not (_is_remote(location) and (spark is None or is_connect_session(spark))):
            # Local storage (any session or none), or remote storage with a classic session.
            log_spark = None if spark is not None and is_connect_session(spark) else spark
            found = table_size(location, log_spark)
            if found.ok:
                return found.size_bytes
            if found.status is ProbeStatus.MISSING:
                return None
            logger.debug("size of entity %r not readable from its log: %s", entity.id, found.error)
        if spark is None:
            return None
        row = spark.sql(f"DESCRIBE DETAIL {_sql_name(entity, location)}").select("sizeInBytes").first()
        return None if row is None or row[0] is None else int(row[0])

    def __repr__(self) -> str:
        return f"<DeltaSizeProvider root={str(self._root)!r}>"
