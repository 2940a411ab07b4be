"""Delta Lake idempotent writes: one ``(app id, version)`` pair and how it reaches a commit.

A Delta commit can carry a *transaction identifier* (``SetTransaction``: an application id and
a version). Before committing, a write that carries one looks up the table's latest version for
that application id and, when it is already ``>=`` the write's version, **skips the write** (no
commit, no error). Streaming sinks use the micro-batch id as the version, so a batch replayed
after a crash between the Delta commit and Spark's checkpoint commit writes nothing the second
time (see ``docs/design/exactly-once.md``).

How the pair reaches Delta (Delta 4.4, ``DeltaCommand.getTxnVersionAndAppId``):

``append`` / ``overwrite`` (``DataFrameWriter``)
    the write options ``txnAppId`` and ``txnVersion`` (:meth:`DeltaTxn.writer_options`); they
    apply to that one write only.
``merge`` (and other DML)
    options do not reach ``MERGE``; it reads the session settings
    ``spark.databricks.delta.write.txnAppId`` / ``spark.databricks.delta.write.txnVersion``
    instead, which a *write without options* on the same session also reads.
    :meth:`DeltaTxn.session_settings` sets them around one write and restores the previous
    values afterwards, so nothing else run later on that session is taken for this batch.

Session settings are per session, so who shares the session matters (measured with Spark
4.2 + Delta 4.4, see the design note):

classic Spark
    ``foreachBatch`` hands each streaming query its own cloned session (the same one for all
    its batches, a different one per query), so setting them on the batch's session reaches
    no other query and not the session that started the query;
Spark Connect
    the ``foreachBatch`` function runs in a server-side worker attached to the *client's*
    session, shared by every query of that client: concurrent merges would mix their pairs.
    :meth:`DeltaTxn.session_settings` therefore serialises set-write-restore per Connect
    session with an inter-process file lock (the workers of one server run on its host).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from kindling_core.errors import KindlingError
from kindling_core.spark.session import is_connect_session

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["DeltaTxn", "TXN_APP_ID_SETTING", "TXN_VERSION_SETTING"]

#: The session setting MERGE/UPDATE/DELETE read the transaction's application id from.
TXN_APP_ID_SETTING = "spark.databricks.delta.write.txnAppId"
#: The session setting MERGE/UPDATE/DELETE read the transaction's version from.
TXN_VERSION_SETTING = "spark.databricks.delta.write.txnVersion"


def _check_app_id(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise KindlingError(
            f"a Delta transaction's app id must be a non-empty string, got {value!r}",
            culprit="txnAppId",
            remedy="derive it per streaming query (kindling_core.spark.sink.CheckpointAppId) or pass a stable string",
        )


def _check_version(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KindlingError(
            f"a Delta transaction's version must be an integer >= 0 (a micro-batch id), got {value!r}",
            culprit="txnVersion",
            remedy="pass the batch id foreachBatch gives the function",
        )


@attrs.frozen
class DeltaTxn:
    """One idempotent write: ``app_id`` names the writer (stable across its restarts), and
    ``version`` orders its writes (a streaming micro-batch id). Delta skips the write when the
    table already holds a version ``>= version`` for ``app_id``, so versions must only grow
    for one app id."""

    app_id: str = attrs.field(validator=_check_app_id)
    version: int = attrs.field(validator=_check_version)

    def writer_options(self) -> dict[str, str]:
        """The ``DataFrameWriter`` options for an append or overwrite."""
        return {"txnAppId": self.app_id, "txnVersion": str(self.version)}

    @contextlib.contextmanager
    def session_settings(self, spark: SparkSession) -> Iterator[None]:
        """Set the Delta transaction settings on ``spark`` for the duration of the block (one
        DML command such as ``MERGE``), then restore what was there before.

        Delta's ``...txnVersion.autoReset.enabled`` is deliberately not used: it clears only
        the version, and a later write on the session that still sees the app id alone fails
        with Delta's "missing session confs" error.
        """
        lock = _connect_lock(spark) if is_connect_session(spark) else contextlib.nullcontext()
        with lock:
            conf = spark.conf
            before = {key: conf.get(key, None) for key in (TXN_APP_ID_SETTING, TXN_VERSION_SETTING)}
            conf.set(TXN_APP_ID_SETTING, self.app_id)
            conf.set(TXN_VERSION_SETTING, str(self.version))
            try:
                yield
            finally:
                for key, value in before.items():
                    if value is None:
                        conf.unset(key)
                    else:
                        conf.set(key, value)


@contextlib.contextmanager
def _connect_lock(spark: Any) -> Iterator[None]:
    """An exclusive lock shared by every process on this host that uses the same Spark
    Connect session (``foreachBatch`` workers of one server). Without ``fcntl`` (Windows) no
    lock is taken: concurrent merges of one Connect session are then not isolated."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    session_id = str(getattr(spark, "session_id", "") or "default")
    path = Path(tempfile.gettempdir()) / f"kindling-delta-txn-{session_id}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
