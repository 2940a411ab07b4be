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
(``metaData`` / ``protocol`` only) do not.

*Schema changes*: with ``since``, every commit after it is read, and those whose ``metaData``
action changed the schema string are reported apart from data changes
(:attr:`VersionInfo.schema_version`, ``schema_before`` / ``schema_after``), so a metadata-only
``ALTER TABLE ... DROP COLUMN`` is seen though it changes no data. A property change keeps the
schema string and is not one.

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

Modules
-------

:mod:`._types` the results and errors; :mod:`._commits` parsing ``_delta_log`` files and
classifying data changes; :mod:`._log` the log-reading algorithm; :mod:`._storage` its local
and Hadoop storage backends; :mod:`._history` the ``DESCRIBE HISTORY`` backend; :mod:`._probe`
:class:`DeltaVersionProbe` and the ``probe_*`` functions; :mod:`._snapshot` :func:`table_size`,
a table's size (its latest snapshot's data files) replayed from the same log. Import from this
package only.
"""

from kindling_core.spark.probe._history import MAINTENANCE_OPERATIONS, SCHEMA_OPERATIONS
from kindling_core.spark.probe._probe import BACKENDS, DeltaVersionProbe, probe_entities, probe_versions
from kindling_core.spark.probe._snapshot import TableSize, table_size
from kindling_core.spark.probe._types import (
    CommitInfo,
    ProbeArgumentError,
    ProbeStatus,
    ProbeTableError,
    VersionInfo,
    VersionProbeError,
)

__all__ = [
    "ProbeStatus",
    "VersionInfo",
    "CommitInfo",
    "DeltaVersionProbe",
    "probe_versions",
    "probe_entities",
    "table_size",
    "TableSize",
    "VersionProbeError",
    "ProbeArgumentError",
    "ProbeTableError",
    "BACKENDS",
    "MAINTENANCE_OPERATIONS",
    "SCHEMA_OPERATIONS",
]
