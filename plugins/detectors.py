"""Built-in change detectors: ``version-poll`` (the default), ``change-data-feed`` and ``schedule``.

A dimension names its detector in its entity options (``"change.detector"``) and sets the
detector's settings as ``"change.<name>"`` options (see :mod:`kindling_core.dimensions.spec`).
The dimension watcher polls every watched Delta table in one batched version probe and hands
each detector the answer for its table (``context.latest``).

Every report says what kind of change it is (``ChangeReport.kind``, which the restart policy,
``kindling_core.dimensions.policy``, reads): ``DATA``, ``SCHEMA`` (with ``report.schema``:
columns added, removed, renamed, retyped), ``RECREATED``, ``UNCLEAR`` or, for ``schedule``,
``REFRESH``.

``version-poll``
    A change when a commit after the last version seen changed data (``dataChange``: appends,
    overwrites, updates, deletes, merges), a ``SCHEMA`` change when one changed the columns,
    even a metadata-only ``ALTER TABLE ... DROP / RENAME / ADD COLUMNS`` that changes no data,
    and ``RECREATED`` when the table was recreated. OPTIMIZE, VACUUM and property changes are
    not changes. When the probe cannot tell (the commits were cleaned up from the log) it is
    an ``UNCLEAR`` change: a needless restart is better than a missed change.
    ``change.min-version-delta`` (default 1) holds a data change back until the table is at
    least that many versions past the last version reported (never a schema change or a
    recreated table).
``change-data-feed``
    Like ``version-poll``, but when data changed (and the columns did not: a schema change or a
    recreated table is reported as such, without reading the feed) it reads the table's Change
    Data Feed for the new versions and reports a change only when a relevant row changed: one matching
    ``change.predicate`` (a SQL condition) whose ``change.columns`` (default: all columns)
    changed. An update that touches no relevant column or row is not a change. Runs Spark jobs
    only when the probe saw a data change; the table needs ``delta.enableChangeDataFeed``.
``schedule``
    A periodic refresh (``REFRESH``): a change every ``change.refresh-seconds`` since the
    baseline or the last refresh, whatever the table did. Works for any table, Delta or not.
"""

from __future__ import annotations

from kindling_core.plugin import (
    ChangeContext,
    ChangeDetector,
    ChangeKind,
    ChangeReport,
    KindlingError,
    Setting,
    TableVersion,
    hookimpl,
)


def _latest(context: ChangeContext, detector: str) -> TableVersion:
    latest = context.latest
    if latest is None or latest.version is None:
        raise KindlingError(
            f"change detector {detector!r} got no version probe answer for dimension {context.entity!r}",
            culprit=f"dimension {context.entity!r}",
            remedy="watch it with the dimension watcher, which probes Delta tables declared with path=",
        )
    return latest


def _data_changed(context: ChangeContext, latest: TableVersion) -> str | None:
    """Why data changed after the last version seen (``None``: it did not)."""
    if latest.data_change is None:
        return f"cannot tell whether data changed ({latest.note or 'history unavailable'}); counted as a change"
    if latest.data_change:
        newest = latest.last_data_version if latest.last_data_version is not None else latest.version
        return f"version {newest} changed data ({latest.operation or 'unknown operation'} is the latest commit)"
    return None


def _columns_or_table(context: ChangeContext, latest: TableVersion, detector: str) -> ChangeReport | None:
    """A ``RECREATED`` or ``SCHEMA`` report when the probe saw the table recreated or its
    columns changed after the last version seen (never held back)."""
    assert latest.version is not None
    base = context.reported_version
    if latest.recreated:
        why = f"the table was recreated ({latest.note or 'its Delta table id changed'})"
        return ChangeReport(context.entity, base, latest.version, why, detector, kind=ChangeKind.RECREATED)
    schema = latest.schema
    if schema is None:
        return None
    rows = ", and data changed" if schema.with_data else " (no data changed)"
    what = f" ({', '.join(schema.operations)})" if schema.operations else ""
    why = f"version {schema.version} changed the schema{what}: {schema.describe()}{rows}"
    return ChangeReport(context.entity, base, latest.version, why, detector, kind=ChangeKind.SCHEMA, schema=schema)


def _kind(latest: TableVersion) -> ChangeKind:
    return ChangeKind.UNCLEAR if latest.data_change is None else ChangeKind.DATA


def _version_poll(context: ChangeContext) -> ChangeReport | None:
    if context.baseline:
        return None
    latest = _latest(context, "version-poll")
    structural = _columns_or_table(context, latest, "version-poll")
    if structural is not None:
        return structural
    why = _data_changed(context, latest)
    if why is None and context.unreported_data_change:
        why = f"data changed after version {context.reported_version}, held back until now"
    if why is None:
        return None
    assert latest.version is not None
    base = context.reported_version
    delta = int(context.settings.get("min-version-delta", 1))
    recreated = base is not None and latest.version < base
    if base is not None and not recreated and latest.version - base < delta:
        return None
    kind = ChangeKind.RECREATED if recreated else _kind(latest)
    return ChangeReport(context.entity, base, latest.version, why, "version-poll", kind=kind)


def _change_data_feed(context: ChangeContext) -> ChangeReport | None:
    if context.baseline:
        return None
    latest = _latest(context, "change-data-feed")
    assert latest.version is not None
    structural = _columns_or_table(context, latest, "change-data-feed")
    if structural is not None:
        return structural
    if latest.data_change is False:
        return None
    base = context.reported_version
    if latest.data_change is None:
        why = f"cannot read the change data feed reliably ({latest.note or 'history unavailable'}); counted as a change"
        return ChangeReport(context.entity, base, latest.version, why, "change-data-feed", kind=ChangeKind.UNCLEAR)
    if context.read_changes is None:
        raise KindlingError(
            f"change detector 'change-data-feed' has no change data feed reader for dimension {context.entity!r}",
            culprit=f"dimension {context.entity!r}",
            remedy="build the watcher with read_changes= (kindling_core.spark.dimensions.DeltaChangeSource(spark).read_changes)",
        )
    columns = context.settings.get("columns") or None
    predicate = context.settings.get("predicate") or None
    rows = context.read_changes(columns, predicate)
    if rows.relevant == 0:
        return None
    what = ", ".join(
        f"{count} {kind}" for kind, count in (("inserted", rows.inserted), ("updated", rows.updated), ("deleted", rows.deleted)) if count
    )
    scope = f" in columns {', '.join(columns)}" if columns else ""
    where = f" where {predicate}" if predicate else ""
    why = f"versions {rows.from_version}..{rows.to_version}: {what} row(s){scope}{where}"
    return ChangeReport(context.entity, base, latest.version, why, "change-data-feed", rows=rows, kind=ChangeKind.DATA)


def _schedule(context: ChangeContext) -> ChangeReport | None:
    if context.baseline or context.reported_at is None:
        return None
    every = float(context.settings["refresh-seconds"])
    elapsed = context.now - context.reported_at
    if elapsed < every:
        return None
    version = context.latest.version if context.latest is not None else context.last_version
    why = f"scheduled refresh: {elapsed:.0f} s since the last one (every {every:g} s)"
    return ChangeReport(context.entity, context.reported_version, version, why, "schedule", kind=ChangeKind.REFRESH)


@hookimpl
def kindling_change_detectors() -> list[ChangeDetector]:
    """Register ``version-poll``, ``change-data-feed`` and ``schedule``."""
    return [
        ChangeDetector(
            name="version-poll",
            description="poll the latest Delta versions of all watched tables in one batch; "
            "reports data and schema changes, ignores OPTIMIZE, VACUUM and property changes",
            detect=_version_poll,
            delta_only=True,
            settings=(
                Setting(
                    "min-version-delta",
                    int,
                    description="report a change only once the table is at least this many versions past the last one reported",
                    default=1,
                    min=1,
                ),
            ),
        ),
        ChangeDetector(
            name="change-data-feed",
            description="read the Delta Change Data Feed of a changed table; only rows and columns of interest count",
            detect=_change_data_feed,
            delta_only=True,
            settings=(
                Setting("columns", list, description="the columns whose changes count (default: all columns)"),
                Setting("predicate", str, description="a SQL condition selecting the rows whose changes count"),
            ),
        ),
        ChangeDetector(
            name="schedule",
            description="refresh periodically: a change every change.refresh-seconds, whatever the table did",
            detect=_schedule,
            settings=(Setting("refresh-seconds", float, description="seconds between refreshes", required=True, min=0.001),),
        ),
    ]
