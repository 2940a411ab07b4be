"""The dimension watcher and the built-in change detectors, with a fake batched probe (no Spark).

The fake probe keeps a commit log per table and answers like the real one: the latest version,
and whether a commit after ``since`` changed data. Real Delta tables: tests/spark/test_dimensions.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

import attrs
import pytest

from kindling_core.dimensions import DimensionOptionError, DimensionReadError, DimensionWatcher
from kindling_core.dimensions.signals import BASELINE_RECORDED, CHANGED, READ_FAILED
from kindling_core.errors import PluginItemError
from kindling_core.model import Entity
from kindling_core.plugin import (
    ChangeContext,
    ChangeDetector,
    ChangeKind,
    ChangeReport,
    ChangeRows,
    SchemaChange,
    Setting,
    TableStatus,
    TableVersion,
)
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, make_app, plugin_from


class FakeProbe:
    """Commit logs by entity id: ``commit(id, data=True, op=..., schema=...)``; ``broken``;
    ``cleaned`` (ids whose history after ``since`` is gone). A commit given a ``schema``
    changed the columns so (the real probe reads that from ``metaData`` actions); a
    ``since`` ahead of the log is a recreated table."""

    def __init__(self) -> None:
        self.logs: dict[str, list[tuple[bool, str]]] = {}
        self.schemas: dict[tuple[str, int], SchemaChange] = {}
        self.cleaned: set[str] = set()  # tables whose commits after `since` were cleaned up
        self.broken: dict[str, str] = {}
        self.calls: list[tuple[tuple[str, ...], dict[str, int]]] = []
        self.raises: Exception | None = None

    def create(self, entity_id: str) -> None:
        self.logs[entity_id] = [(True, "CREATE TABLE")]

    def commit(self, entity_id: str, *, data: bool = True, op: str = "WRITE", times: int = 1, schema: SchemaChange | None = None) -> None:
        self.logs[entity_id].extend([(data, op)] * times)
        if schema is not None:
            self.schemas[entity_id, self.version(entity_id)] = schema

    def version(self, entity_id: str) -> int:
        return len(self.logs[entity_id]) - 1

    def __call__(self, entities: Sequence[Entity], since: Mapping[str, int]) -> Mapping[str, TableVersion]:
        self.calls.append((tuple(e.id for e in entities), dict(since)))
        if self.raises is not None:
            raise self.raises
        out: dict[str, TableVersion] = {}
        for entity in entities:
            location = f"/lake/{entity.id}"
            if entity.id in self.broken:
                out[entity.id] = TableVersion(TableStatus.FAILED, location=location, error=f"{location}: {self.broken[entity.id]}")
                continue
            log = self.logs.get(entity.id)
            if not log:
                out[entity.id] = TableVersion(TableStatus.MISSING, location=location)
                continue
            latest = len(log) - 1
            start = since.get(entity.id)
            if start is None:
                changed: bool | None = log[-1][0]
            elif start > latest:
                changed = None
            else:
                changed = any(data for data, _ in log[start + 1 :])
            newest = next((v for v in range(latest, (start if start is not None else -1), -1) if log[v][0]), None)
            schemas = (
                [self.schemas[entity.id, v] for v in range(latest, start, -1) if (entity.id, v) in self.schemas]
                if start is not None
                else []
            )
            out[entity.id] = TableVersion(
                TableStatus.OK,
                location=location,
                version=latest,
                data_change=changed,
                last_data_version=newest,
                operation=log[-1][1],
                schema=attrs.evolve(schemas[0], with_data=bool(changed)) if schemas else None,
                recreated=start is not None and start > latest,
            )
            if start is not None and entity.id in self.cleaned:
                out[entity.id] = attrs.evolve(out[entity.id], data_change=None, schema=None, note="history truncated")
        return out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def streaming_app(*dimensions: Entity, plugins=(), config=None, recorder: RecordingErrorHandler | None = None):
    """An app with the dimensions and one streaming pipe joining them; ``plugins`` are entry points."""
    points = list(plugins) + ([FakeEntryPoint("recorder", recorder)] if recorder is not None else [])
    app = make_app(points, config=config)
    for dimension in dimensions:
        app.catalog.add(dimension)
    inputs = ["bronze.orders", *(d.id for d in dimensions)]

    def enrich(orders, *dims):
        return orders

    app.catalog.add_pipe(
        "silver.enriched",
        func=enrich,
        inputs=inputs,
        output="silver.enriched",
        mode="streaming",
        dimensions=[d.id for d in dimensions],
    )
    return app


def delta_dim(entity_id: str = "dim.customers", **options) -> Entity:
    return Entity(entity_id, path=f"lake/{entity_id}", kind="dimension", options=options)


class Seen:
    def __init__(self, app) -> None:
        self.events: list[tuple[str, object]] = []
        for spec in (BASELINE_RECORDED, CHANGED, READ_FAILED):
            app.signals.connect(spec, lambda sender, payload, name=spec.name: self.events.append((name, payload)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def watcher_for(app, probe, **kwargs) -> tuple[DimensionWatcher, list[ChangeReport]]:
    changes: list[ChangeReport] = []
    watcher = DimensionWatcher.from_app(app, probe=probe, on_change=changes.append, **kwargs)
    return watcher, changes


# ----------------------------------------------------------------------------- version-poll


def test_first_poll_is_a_baseline_then_a_data_commit_is_a_change() -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    probe.commit("dim.customers", times=2)
    app = streaming_app(delta_dim())
    seen = Seen(app)
    watcher, changes = watcher_for(app, probe)

    first = watcher.poll_once()
    assert first.baselines == ("dim.customers",) and first.changes == () and changes == []
    assert seen.events[0][0] == "dimensions.baseline_recorded" and seen.events[0][1].version == 2
    assert seen.events[0][1].pipes == ("silver.enriched",)

    assert watcher.poll_once().changes == ()  # nothing committed
    probe.commit("dim.customers", op="MERGE")
    result = watcher.poll_once()
    assert [(c.entity, c.from_version, c.to_version, c.detector) for c in result.changes] == [("dim.customers", 2, 3, "version-poll")]
    assert changes == list(result.changes)
    assert "version 3 changed data (MERGE" in changes[0].reason
    assert (changes[0].kind, changes[0].schema) == (ChangeKind.DATA, None)
    assert seen.names() == ["dimensions.baseline_recorded", "dimensions.changed"]
    assert watcher.poll_once().changes == ()  # reported once


def test_every_poll_is_one_probe_call_for_all_delta_dimensions_asking_since_the_last_version() -> None:
    probe = FakeProbe()
    for name in ("dim.a", "dim.b", "dim.c"):
        probe.create(name)
    app = streaming_app(delta_dim("dim.a"), delta_dim("dim.b"), delta_dim("dim.c"))
    watcher, _ = watcher_for(app, probe)
    watcher.poll_once()
    probe.commit("dim.b")
    watcher.poll_once()
    assert [ids for ids, _ in probe.calls] == [("dim.a", "dim.b", "dim.c")] * 2
    assert probe.calls[0][1] == {} and probe.calls[1][1] == {"dim.a": 0, "dim.b": 0, "dim.c": 0}
    probe.commit("dim.a", data=False, op="OPTIMIZE")
    watcher.poll_once()
    assert probe.calls[2][1] == {"dim.a": 0, "dim.b": 1, "dim.c": 0}


@pytest.mark.parametrize("op", ["OPTIMIZE", "VACUUM END", "SET TBLPROPERTIES"])
def test_a_commit_that_changes_no_data_is_not_a_change(op: str) -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim())
    watcher, changes = watcher_for(app, probe)
    watcher.poll_once()
    probe.commit("dim.customers", data=False, op=op, times=3)
    assert watcher.poll_once().changes == ()
    probe.commit("dim.customers")  # a real write after the maintenance: reported from the baseline
    assert [(c.from_version, c.to_version) for c in watcher.poll_once().changes] == [(0, 4)]
    assert len(changes) == 1


def test_min_version_delta_holds_changes_back_until_the_table_is_far_enough_ahead() -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim(**{"change.min-version-delta": 3}))
    watcher, changes = watcher_for(app, probe)
    watcher.poll_once()
    probe.commit("dim.customers")
    assert watcher.poll_once().changes == ()  # 1 version ahead
    probe.commit("dim.customers", data=False, op="OPTIMIZE")
    assert watcher.poll_once().changes == ()  # 2 ahead
    probe.commit("dim.customers", data=False, op="OPTIMIZE")  # 3 ahead; the data change of version 1 counts
    assert [(c.from_version, c.to_version) for c in watcher.poll_once().changes] == [(0, 3)]
    assert "held back" in changes[0].reason
    probe.commit("dim.customers", data=False, op="OPTIMIZE", times=5)
    assert watcher.poll_once().changes == ()  # far ahead, but no data changed since the report


def test_a_recreated_table_is_a_recreated_change() -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    probe.commit("dim.customers", times=5)
    app = streaming_app(delta_dim(**{"change.min-version-delta": 3}))
    watcher, changes = watcher_for(app, probe)
    watcher.poll_once()
    probe.create("dim.customers")  # dropped and recreated: version 0 again, behind the last seen
    result = watcher.poll_once()
    assert [(c.from_version, c.to_version, c.kind) for c in result.changes] == [(5, 0, ChangeKind.RECREATED)]
    assert "the table was recreated" in changes[0].reason


def test_history_that_cannot_be_told_is_an_unclear_change() -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim())
    watcher, changes = watcher_for(app, probe)
    watcher.poll_once()
    probe.commit("dim.customers")
    probe.cleaned.add("dim.customers")  # the commits after the last version seen are gone from the log
    (change,) = watcher.poll_once().changes
    assert change.kind is ChangeKind.UNCLEAR and "cannot tell whether data changed (history truncated)" in change.reason


DROPPED = SchemaChange(version=0, removed=("tier",), operations=("DROP COLUMNS",))
ADDED = SchemaChange(version=0, added=("region",), operations=("ADD COLUMNS",))


@pytest.mark.parametrize("detector", ["version-poll", "change-data-feed"])
def test_a_metadata_only_schema_change_is_a_schema_change_never_held_back(detector: str) -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    options = {"change.detector": detector} | ({"change.min-version-delta": 5} if detector == "version-poll" else {})
    app = streaming_app(delta_dim(**options))
    reads: list[tuple] = []
    watcher, changes = watcher_for(app, probe, read_changes=lambda *args: reads.append(args))
    watcher.poll_once()
    probe.commit("dim.customers", data=False, op="DROP COLUMNS", schema=attrs.evolve(DROPPED, version=1))
    (change,) = watcher.poll_once().changes
    assert (change.kind, change.schema, change.detector) == (ChangeKind.SCHEMA, attrs.evolve(DROPPED, version=1), detector)
    assert change.reason == "version 1 changed the schema (DROP COLUMNS): column(s) removed: tier (no data changed)"
    probe.commit("dim.customers", data=True, op="WRITE", schema=attrs.evolve(ADDED, version=2))
    (change,) = watcher.poll_once().changes
    assert change.schema == attrs.evolve(ADDED, version=2, with_data=True)
    assert change.reason.endswith("column(s) added: region, and data changed")
    assert reads == []  # the change data feed is not read across a schema change
    probe.commit("dim.customers", data=False, op="OPTIMIZE")
    assert watcher.poll_once().changes == ()


# ----------------------------------------------------------------------------- unreadable


def test_a_missing_or_unreadable_table_is_reported_once_and_never_a_change() -> None:
    recorder = RecordingErrorHandler()
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim(), recorder=recorder)
    seen = Seen(app)
    watcher, changes = watcher_for(app, probe)
    watcher.poll_once()

    del probe.logs["dim.customers"]
    assert watcher.poll_once().unreadable == ("dim.customers",)
    assert watcher.poll_once().unreadable == ("dim.customers",)  # still missing: not reported again
    errors = [e for e in recorder.errors if isinstance(e, DimensionReadError)]
    assert len(errors) == 1 and errors[0].status == "missing"
    assert "dimension 'dim.customers' cannot be read: there is no Delta table at /lake/dim.customers" in str(errors[0])
    assert "keeps version 0" in str(errors[0])
    read_failed = [p for n, p in seen.events if n == "dimensions.read_failed"]
    assert [(p.entity, p.status, p.last_version) for p in read_failed] == [("dim.customers", "missing", 0)]

    probe.broken["dim.customers"] = "PermissionError: denied"  # another failure: reported again
    probe.create("dim.customers")
    watcher.poll_once()
    errors = [e for e in recorder.errors if isinstance(e, DimensionReadError)]
    assert len(errors) == 2 and errors[1].status == "failed" and "/lake/dim.customers: PermissionError: denied" in str(errors[1])

    del probe.broken["dim.customers"]  # back, at version 0 again: the same data version, no change
    assert watcher.poll_once().unreadable == ()
    assert changes == [] and "dimensions.changed" not in seen.names()


def test_a_table_missing_from_the_start_gets_its_baseline_once_it_appears() -> None:
    probe = FakeProbe()
    app = streaming_app(delta_dim())
    watcher, changes = watcher_for(app, probe)
    assert watcher.poll_once().unreadable == ("dim.customers",)
    probe.create("dim.customers")
    assert watcher.poll_once().baselines == ("dim.customers",)
    assert changes == []


def test_a_probe_that_raises_is_reported_and_checks_nothing() -> None:
    recorder = RecordingErrorHandler()
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim(), recorder=recorder)
    watcher, changes = watcher_for(app, probe)
    watcher.poll_once()
    probe.commit("dim.customers")
    probe.raises = ConnectionError("gateway gone")
    assert watcher.poll_once().unreadable == ("dim.customers",)
    watcher.poll_once()
    assert len(recorder.errors) == 1  # the same error is reported once
    assert "the version probe raised ConnectionError: gateway gone while checking 1 dimension(s) (dim.customers)" in str(recorder.errors[0])
    probe.raises = None
    assert [c.to_version for c in watcher.poll_once().changes] == [1]  # the change is not lost


# ----------------------------------------------------------------------------- schedule


def test_schedule_refreshes_every_n_seconds_of_the_clock_whatever_the_table_does() -> None:
    clock = Clock()
    table = Entity(
        "dim.rates",
        path="lake/rates.csv",
        format="csv",
        kind="dimension",
        options={"change.detector": "schedule", "change.refresh-seconds": 300},
    )
    app = streaming_app(table)
    watcher, changes = watcher_for(app, None, clock=clock)
    assert watcher.poll_once().baselines == ("dim.rates",)
    clock.now += 299
    assert watcher.poll_once().changes == ()
    clock.now += 1
    result = watcher.poll_once()
    assert [(c.entity, c.detector, c.kind) for c in result.changes] == [("dim.rates", "schedule", ChangeKind.REFRESH)]
    assert "scheduled refresh: 300 s since the last one (every 300 s)" in changes[0].reason
    clock.now += 200
    assert watcher.poll_once().changes == ()  # counted from the last refresh
    clock.now += 100
    assert len(watcher.poll_once().changes) == 1


# ----------------------------------------------------------------------------- change-data-feed (fake reader)


class FakeFeed:
    def __init__(self, rows: ChangeRows) -> None:
        self.rows = rows
        self.calls: list[tuple[str, int, int, object, object]] = []

    def __call__(self, entity, from_version, to_version, columns=None, predicate=None) -> ChangeRows:
        self.calls.append((entity.id, from_version, to_version, columns, predicate))
        return self.rows


def test_change_data_feed_reads_only_after_a_data_change_and_reports_only_relevant_rows() -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    options = {"change.detector": "change-data-feed", "change.columns": ["tier"], "change.predicate": "region = 'EU'"}
    app = streaming_app(delta_dim(**options))
    feed = FakeFeed(ChangeRows(1, 1, read=2))
    watcher, changes = watcher_for(app, probe, read_changes=feed)
    watcher.poll_once()
    probe.commit("dim.customers", data=False, op="OPTIMIZE")
    watcher.poll_once()
    assert feed.calls == []  # no data change: the feed is not read
    probe.commit("dim.customers", op="UPDATE")
    assert watcher.poll_once().changes == ()  # irrelevant rows
    assert feed.calls == [("dim.customers", 2, 2, ("tier",), "region = 'EU'")]
    feed.rows = ChangeRows(3, 3, updated=1, read=2)
    probe.commit("dim.customers", op="UPDATE")
    result = watcher.poll_once()
    assert feed.calls[-1][1:3] == (3, 3)  # the irrelevant version is not read again
    assert [(c.from_version, c.to_version, c.rows, c.kind) for c in result.changes] == [(0, 3, feed.rows, ChangeKind.DATA)]
    assert "1 updated row(s) in columns tier where region = 'EU'" in changes[0].reason


# ----------------------------------------------------------------------------- plugin detectors


def test_a_plugin_detector_named_by_a_dimension_takes_effect_with_its_settings() -> None:
    registry_versions = {"dim.fx": 7}

    def detect(context: ChangeContext) -> ChangeReport | None:
        version = registry_versions[context.entity]
        if version != context.last_version and version - (context.last_version or 0) >= context.settings["step"]:
            return ChangeReport(context.entity, context.last_version, version, "bumped in the registry")
        return None

    def detectors():
        return [
            ChangeDetector(
                name="fx-registry",
                description="versions from the fx registry",
                detect=detect,
                settings=(Setting("step", int, description="smallest bump that counts", default=1),),
            )
        ]

    point = FakeEntryPoint("fx", plugin_from(kindling_change_detectors=detectors), distribution="fx-kindling")
    table = Entity("dim.fx", table="fx.rates", kind="dimension", options={"change.detector": "fx-registry", "change.step": 2})
    app = streaming_app(table, plugins=[point])
    watcher, changes = watcher_for(app, None)
    assert watcher.poll_once().baselines == ("dim.fx",)  # its version 7 is the baseline
    registry_versions["dim.fx"] = 8
    assert watcher.poll_once().changes == ()  # below its step
    registry_versions["dim.fx"] = 9
    assert [(c.from_version, c.to_version, c.detector) for c in watcher.poll_once().changes] == [(7, 9, "fx-registry")]


def test_the_configured_default_detector_watches_dimensions_that_name_none() -> None:
    clock = Clock()
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim(**{"change.refresh-seconds": 5}), config={"change-detectors": {"default": "schedule"}})
    watcher, changes = watcher_for(app, probe, clock=clock)
    assert watcher.dimensions["dim.customers"].detector_name == "schedule"
    watcher.poll_once()
    clock.now += 5
    assert [c.detector for c in watcher.poll_once().changes] == ["schedule"]


def test_a_raising_detector_is_reported_and_skipped_and_its_change_is_not_lost() -> None:
    recorder = RecordingErrorHandler()
    failing = {"on": False}

    def detect(context: ChangeContext) -> ChangeReport | None:
        if failing["on"]:
            raise RuntimeError("registry down")
        if not context.baseline and context.latest.data_change:
            return ChangeReport(context.entity, context.reported_version, context.latest.version, "any write")
        return None

    def detectors():
        return [ChangeDetector(name="flaky", description="fails on demand", detect=detect, delta_only=True)]

    point = FakeEntryPoint("flaky", plugin_from(kindling_change_detectors=detectors), distribution="flaky-kindling", version="0.3.0")
    probe = FakeProbe()
    probe.create("dim.a")
    probe.create("dim.b")
    app = streaming_app(
        delta_dim("dim.a", **{"change.detector": "flaky"}), delta_dim("dim.b"), plugins=[point, FakeEntryPoint("rec", recorder)]
    )
    watcher, changes = watcher_for(app, probe)
    watcher.poll_once()
    probe.commit("dim.a")
    probe.commit("dim.b")
    failing["on"] = True
    result = watcher.poll_once()
    assert result.skipped == ("dim.a",)
    assert [c.entity for c in result.changes] == ["dim.b"]  # the other dimension went on
    (error,) = recorder.errors
    assert isinstance(error, PluginItemError)
    assert "change detector 'flaky' of plugin flaky (flaky-kindling 0.3.0) raised RuntimeError: registry down" in str(error)
    assert "while checking dimension 'dim.a' for changes" in str(error)
    failing["on"] = False
    assert [(c.entity, c.from_version, c.to_version) for c in watcher.poll_once().changes] == [("dim.a", 0, 1)]


def test_a_detector_returning_junk_is_reported_and_skipped() -> None:
    recorder = RecordingErrorHandler()

    def detectors():
        return [ChangeDetector(name="junk", description="returns a string", detect=lambda context: "changed!")]

    point = FakeEntryPoint("junk", plugin_from(kindling_change_detectors=detectors))
    table = Entity("dim.x", path="lake/x.csv", format="csv", kind="dimension", options={"change.detector": "junk"})
    app = streaming_app(table, plugins=[point, FakeEntryPoint("rec", recorder)])
    watcher, _ = watcher_for(app, None)
    assert watcher.poll_once().skipped == ("dim.x",)
    assert "returned str 'changed!', not a ChangeReport or None" in str(recorder.errors[0])


def test_an_on_change_callback_that_raises_is_reported_and_the_poll_goes_on() -> None:
    recorder = RecordingErrorHandler()
    probe = FakeProbe()
    probe.create("dim.a")
    probe.create("dim.b")
    app = streaming_app(delta_dim("dim.a"), delta_dim("dim.b"), recorder=recorder)
    got: list[str] = []

    def on_change(report: ChangeReport) -> None:
        got.append(report.entity)
        raise LookupError("no such query")

    watcher = DimensionWatcher.from_app(app, probe=probe, on_change=on_change)
    watcher.poll_once()
    probe.commit("dim.a")
    probe.commit("dim.b")
    assert len(watcher.poll_once().changes) == 2
    assert got == ["dim.a", "dim.b"]
    assert [(e.source, e.subject, e.context["during"]) for e in recorder.events] == [
        ("dimension-watcher", "dim.a", "on_change"),
        ("dimension-watcher", "dim.b", "on_change"),
    ]


# ----------------------------------------------------------------------------- bad declarations


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"change.detector": "version-pol"},
            "entity 'dim.customers': options['change.detector'] names change detector 'version-pol', "
            "which no active plugin provides. Did you mean 'version-poll'?",
        ),
        (
            {"change.min-versions-delta": 2},
            "entity 'dim.customers': options['change.min-versions-delta'] is not a setting of change detector "
            "'version-poll' nor a restart option. Did you mean 'change.min-version-delta'?",
        ),
        ({"change.min-version-delta": 0}, "entity 'dim.customers': options['change.min-version-delta'] must be an integer >= 1, got 0"),
        ({"change.detector": "change-data-feed", "change.columns": "tier"}, "options['change.columns'] must be an array, got 'tier'"),
        (
            {"change.detector": "schedule"},
            "entity 'dim.customers' is watched by change detector 'schedule', which needs options['change.refresh-seconds']",
        ),
    ],
)
def test_bad_change_options_are_refused_when_watching_starts(options: dict, message: str) -> None:
    app = streaming_app(delta_dim(**options))
    with pytest.raises(DimensionOptionError) as caught:
        DimensionWatcher.from_app(app, probe=FakeProbe())
    assert message in str(caught.value)
    assert caught.value.entity == "dim.customers"


def test_a_disabled_detector_is_refused_naming_the_config_key() -> None:
    app = streaming_app(
        delta_dim(**{"change.detector": "schedule", "change.refresh-seconds": 1}), config={"change-detectors": {"disable": ["schedule"]}}
    )
    with pytest.raises(
        DimensionOptionError, match=r"names change detector 'schedule', which tool.kindling.change-detectors.disable turns off"
    ):
        DimensionWatcher.from_app(app, probe=FakeProbe())


def test_a_probe_based_detector_on_a_table_the_probe_cannot_read_is_refused() -> None:
    app = streaming_app(Entity("dim.fx", table="main.fx.rates", kind="dimension"))
    with pytest.raises(DimensionOptionError) as caught:
        DimensionWatcher.from_app(app, probe=FakeProbe())
    assert "dimension 'dim.fx' is a catalog table (table=), but its change detector 'version-poll' reads the Delta version probe" in str(
        caught.value
    )
    assert "'schedule'" in caught.value.remedy


def test_an_undeclared_dimension_is_refused_naming_the_pipe() -> None:
    app = make_app()
    app.catalog.add_pipe(
        "silver.enriched",
        func=lambda o, c: o,
        inputs=["bronze.orders", "dim.customers"],
        output="silver.enriched",
        mode="streaming",
        dimensions=["dim.customers"],
    )
    with pytest.raises(
        DimensionOptionError,
        match=r"streaming pipe 'silver.enriched' declares dimension 'dim.customers', which is not declared with app.entity\(\)",
    ):
        DimensionWatcher.from_app(app, probe=FakeProbe())


def test_a_delta_dimension_without_a_probe_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a version probe for the Delta dimensions dim.customers"):
        DimensionWatcher.from_app(streaming_app(delta_dim()), probe=None)


# ----------------------------------------------------------------------------- interval and thread


def test_the_interval_comes_from_the_config_and_a_bad_one_is_refused() -> None:
    app = streaming_app(delta_dim(), config={"change-detectors": {"interval-seconds": 5}})
    assert DimensionWatcher.from_app(app, probe=FakeProbe()).interval == 5.0
    assert DimensionWatcher.from_app(streaming_app(delta_dim()), probe=FakeProbe()).interval == 60.0
    with pytest.raises(
        ValueError, match=r"interval must be a number of seconds > 0, got 0 \(tool.kindling.change-detectors.interval-seconds\)"
    ):
        DimensionWatcher([], probe=None, signals=app.signals, interval=0)


def test_the_thread_polls_at_the_configured_interval_until_stopped() -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim(), config={"change-detectors": {"interval-seconds": 0.01}})
    arrived = threading.Event()
    watcher = DimensionWatcher.from_app(app, probe=probe, on_change=lambda report: arrived.set())
    watcher.start()
    try:
        deadline = time.monotonic() + 30
        while watcher.polls < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.polls >= 3 and watcher.running
        probe.commit("dim.customers")
        assert arrived.wait(30)
    finally:
        assert watcher.stop(timeout=30)
    assert not watcher.running


def test_stop_wakes_a_watcher_waiting_a_long_interval() -> None:
    probe = FakeProbe()
    probe.create("dim.customers")
    app = streaming_app(delta_dim(), config={"change-detectors": {"interval-seconds": 3600}})
    watcher = DimensionWatcher.from_app(app, probe=probe)
    watcher.start()
    deadline = time.monotonic() + 30
    while watcher.polls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watcher.polls == 1  # the first poll runs at once
    assert watcher.stop(timeout=30)  # not after an hour


def test_a_detector_declaring_settings_that_are_not_settings_is_refused() -> None:
    from kindling_core.errors import ItemTypeError

    with pytest.raises(ItemTypeError, match=r"ChangeDetector.settings\[0\] must be a Setting, got str"):
        ChangeDetector(name="bad", description="bad settings", detect=lambda context: None, settings=["step"])
