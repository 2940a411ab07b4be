"""restart_need: the default restart policy follows docs/design/dimensions.md's findings, row by
row; change.restart and change.cached override it and are checked when watching starts."""

from __future__ import annotations

from typing import Any

import pytest

from kindling_core.dimensions import DimensionOptionError, DimensionWatcher, RestartNeed, restart_need
from kindling_core.model import Entity
from kindling_core.plugin import ChangeKind, ChangeReport, SchemaChange
from tests.dimensions.test_watcher import FakeProbe, delta_dim, streaming_app

DOC = "docs/design/dimensions.md"


def report(kind: ChangeKind | str, schema: SchemaChange | None = None, reason: str = "version 3 changed data") -> ChangeReport:
    return ChangeReport("dim.customers", 2, 3, reason, "version-poll", kind=kind, schema=schema)


def dimension(**options: Any) -> Entity:
    return Entity("dim.customers", path="lake/customers", kind="dimension", options=options)


DATA = report(ChangeKind.DATA)
ADDED = report(ChangeKind.SCHEMA, SchemaChange(version=3, added=("region",), operations=("ADD COLUMNS",)))
ADDED_WITH_ROWS = report(ChangeKind.SCHEMA, SchemaChange(version=3, added=("region",), operations=("WRITE",), with_data=True))
RENAMED = report(ChangeKind.SCHEMA, SchemaChange(version=3, renamed=(("tier", "level"),), operations=("RENAME COLUMN",)))
REPLACED = report(ChangeKind.SCHEMA, SchemaChange(version=3, removed=("tier",), added=("level",), with_data=True))
RETYPED = report(ChangeKind.SCHEMA, SchemaChange(version=3, retyped=(("tier", "string", "int"),), with_data=True))
DROPPED = report(ChangeKind.SCHEMA, SchemaChange(version=3, removed=("tier",), operations=("DROP COLUMNS",)))
RECREATED = report(ChangeKind.RECREATED, reason="version 0 is below the last version seen, 2")


# One case per row of the findings table (and the defaults table) of docs/design/dimensions.md.
FINDINGS = {
    "plain-join-data-change": (DATA, {}, False, "a Delta stream-static join reads the current version of 'dim.customers'"),
    "broadcast-data-change": (DATA, {"change.cached": False}, False, "reads the current version of 'dim.customers' at each micro-batch"),
    "cached-write-through-this-session": (DATA, {"change.cached": True}, True, "the pipe caches 'dim.customers' (change.cached)"),
    "cached-commit-by-another-writer": (DATA, {"change.cached": True}, True, "another application's commits never reach the cache"),
    "column-added": (ADDED, {}, False, "column(s) added: region in 'dim.customers': the running query keeps the columns it started with"),
    "column-added-with-rows-cached": (ADDED_WITH_ROWS, {"change.cached": True}, True, "the pipe caches 'dim.customers'"),
    "column-added-with-rows": (ADDED_WITH_ROWS, {}, False, "a restart would widen its output"),
    "column-renamed": (RENAMED, {}, True, "column(s) renamed: tier -> level in 'dim.customers': a running stream-static join fails"),
    "column-replaced-by-overwrite": (REPLACED, {}, True, "column(s) removed: tier; added: level"),
    "column-retyped": (RETYPED, {}, True, "column(s) retyped: tier string -> int"),
    "column-dropped-metadata-only": (DROPPED, {}, True, "DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS"),
    "table-recreated": (RECREATED, {}, True, "'dim.customers' was recreated"),
}


@pytest.mark.parametrize("case", sorted(FINDINGS))
def test_auto_restarts_where_the_measured_semantics_say_a_running_query_needs_it(case: str) -> None:
    change, options, needed, reason = FINDINGS[case]
    need = restart_need(change, dimension(**options))
    assert isinstance(need, RestartNeed)
    assert (need.needed, need.policy) == (needed, "auto")
    assert reason in need.reason
    assert DOC in need.reason


def test_an_incompatible_change_says_the_restart_rebuilds_the_query_from_a_fresh_read() -> None:
    need = restart_need(DROPPED, dimension())
    assert "the restart rebuilds it from the pipe's function over a fresh read" in need.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (report(ChangeKind.UNCLEAR, reason="cannot tell whether data changed (history truncated)"), "cannot tell what changed"),
        (report(ChangeKind.REFRESH, reason="scheduled refresh"), "a scheduled refresh of 'dim.customers'"),
        (report(ChangeKind.SCHEMA, SchemaChange(version=3, known=False, operations=("DROP COLUMNS",))), "the columns are not known"),
        (ChangeReport("dim.customers", 2, 3, "a plugin saw something"), "cannot tell what changed"),
    ],
    ids=["unclear", "scheduled-refresh", "schema-not-known", "report-without-kind"],
)
def test_a_change_nothing_says_is_harmless_restarts(change: ChangeReport, reason: str) -> None:
    need = restart_need(change, dimension())
    assert need.needed and reason in need.reason


def test_an_added_column_known_only_by_its_operation_restarts_nothing() -> None:
    change = report(ChangeKind.SCHEMA, SchemaChange(version=3, known=False, operations=("ADD COLUMNS",)))
    assert not restart_need(change, dimension()).needed


def test_a_dimension_that_is_not_delta_restarts_on_a_data_change() -> None:
    need = restart_need(DATA, Entity("dim.countries", path="lake/countries.csv", format="csv", kind="dimension"))
    assert need.needed and "'dim.countries' is a csv table: only Delta dimensions were measured" in need.reason


@pytest.mark.parametrize("change", [DATA, ADDED, DROPPED, RECREATED], ids=["data", "added", "dropped", "recreated"])
def test_always_and_never_override_auto(change: ChangeReport) -> None:
    always = restart_need(change, dimension(**{"change.restart": "always"}))
    never = restart_need(change, dimension(**{"change.restart": "never", "change.cached": True}))
    assert (always.needed, always.policy, always.reason) == (True, "always", "dimension 'dim.customers' sets change.restart = 'always'")
    assert (never.needed, never.policy, never.reason) == (False, "never", "dimension 'dim.customers' sets change.restart = 'never'")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"change.restart": "alway"},
            "entity 'dim.customers': options['change.restart'] is 'alway', not one of 'auto', 'always', 'never'. Did you mean 'always'?",
        ),
        ({"change.restart": True}, "entity 'dim.customers': options['change.restart'] is True, not one of 'auto', 'always', 'never'."),
        ({"change.cached": "yes"}, "entity 'dim.customers': options['change.cached'] is 'yes', not a bool"),
        (
            {"change.restrat": "never"},
            "options['change.restrat'] is not a setting of change detector 'version-poll' nor a restart option. "
            "Did you mean 'change.restart'?",
        ),
    ],
)
def test_bad_restart_options_are_refused_when_watching_starts(options: dict[str, Any], message: str) -> None:
    app = streaming_app(delta_dim(**options))
    with pytest.raises(DimensionOptionError) as caught:
        DimensionWatcher.from_app(app, probe=FakeProbe())
    assert message in str(caught.value)
    assert caught.value.entity == "dim.customers"
    assert caught.value.option == next(iter(options))


@pytest.mark.parametrize("options", [{"change.restart": "sometimes"}, {"change.cached": 1}])
def test_restart_need_refuses_bad_restart_options_too(options: dict[str, Any]) -> None:
    with pytest.raises(DimensionOptionError, match=r"entity 'dim.customers': options\['change\.(restart|cached)'\]"):
        restart_need(DATA, dimension(**options))


def test_the_watcher_keeps_each_dimensions_checked_policy() -> None:
    app = streaming_app(delta_dim(**{"change.restart": "always", "change.cached": True}), delta_dim("dim.regions"))
    watcher = DimensionWatcher.from_app(app, probe=FakeProbe())
    policies = {name: (d.policy.restart, d.policy.cached) for name, d in watcher.dimensions.items()}
    assert policies == {"dim.customers": ("always", True), "dim.regions": ("auto", False)}
