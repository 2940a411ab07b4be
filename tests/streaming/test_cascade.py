"""Restart plans (``restart_plan``, ``app.streams.preview_restarts``): roots, cascades, order,
cycles, the depth limit, what a dimension's declaration says, and every bad input.

Graph-wide properties over random graphs are in test_cascade_properties.py; the command is
tested in tests/core/test_cli_restarts.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from kindling_core.dimensions.errors import DimensionOptionError
from kindling_core.errors import KindlingError, UnknownNameError
from kindling_core.model import Catalog
from kindling_core.planning import CycleError, UnknownPipeError
from kindling_core.streaming.cascade import RestartCause, restart_plan
from kindling_core.streaming.errors import UnknownStreamError
from kindling_core.testing import make_app

CUSTOMERS = "silver.customers"


def identity(*frames: Any) -> Any:
    return frames[0] if frames else None


def shop(catalog: Any, customers_options: dict[str, Any] | None = None) -> None:
    """bronze.orders -(stream, joins silver.customers)-> silver.enriched -(stream)-> gold.by_tier
    -(stream)-> gold.alerts; silver.enriched -(batch)-> gold.report; gold.by_tier is a dimension
    of gold.scored (streaming, reads gold.alerts as a stream)."""
    catalog.add_entity(CUSTOMERS, path="lake/customers", kind="dimension", options=customers_options or {})
    catalog.add_pipe(
        "silver.enriched", func=identity, inputs=["bronze.orders", CUSTOMERS], dimensions=[CUSTOMERS],
        output="silver.enriched", mode="streaming",
    )
    catalog.add_pipe("gold.by_tier", func=identity, inputs=["silver.enriched"], output="gold.by_tier", mode="streaming")
    catalog.add_pipe("gold.alerts", func=identity, inputs=["gold.by_tier"], output="gold.alerts", mode="streaming")
    catalog.add_pipe("gold.report", func=identity, inputs=["silver.enriched"], output="gold.report")
    catalog.add_pipe(
        "gold.scored", func=identity, inputs=["gold.alerts", "gold.by_tier"], dimensions=["gold.by_tier"],
        output="gold.scored", mode="streaming",
    )


def shop_catalog(**options: Any) -> Catalog:
    catalog = Catalog()
    shop(catalog, options)
    return catalog


def test_a_dimension_change_restarts_its_readers_then_cascades_to_stream_readers_wave_by_wave() -> None:
    plan = restart_plan(shop_catalog(), entity=CUSTOMERS)
    assert plan.pipes == ("silver.enriched", "gold.by_tier", "gold.alerts", "gold.scored")
    assert [(s.pipe, s.depth, s.cause, s.via, s.entity) for s in plan.steps] == [
        ("silver.enriched", 0, RestartCause.DIMENSION, CUSTOMERS, CUSTOMERS),
        ("gold.by_tier", 1, RestartCause.CASCADE, "silver.enriched", "silver.enriched"),
        ("gold.alerts", 2, RestartCause.CASCADE, "gold.by_tier", "gold.by_tier"),
        ("gold.scored", 3, RestartCause.CASCADE, "gold.alerts", "gold.alerts"),
    ]
    assert plan.step("silver.enriched").reason == "reads dimension silver.customers; detector version-poll, restart policy auto"
    assert plan.step("gold.by_tier").reason == "streams the output of silver.enriched, which restarts"
    assert not plan.truncated and plan.notes == ()  # gold.scored restarts through gold.alerts: no note about its dimension
    assert plan.entity == CUSTOMERS and plan.requested == () and plan.max_depth == 3


def test_within_a_wave_steps_follow_the_streaming_strategy_order() -> None:
    app = make_app()
    shop(app.catalog)
    app.entity("dim.tiers", path="lake/tiers")
    app.pipe("tiers.a", inputs=["raw.a", "dim.tiers"], dimensions=["dim.tiers"], output="e.a", mode="streaming")(identity)
    app.pipe("tiers.b", inputs=["e.a", "dim.tiers"], dimensions=["dim.tiers"], output="e.b", mode="streaming")(identity)
    app.pipe("tiers.c", inputs=["e.b", "dim.tiers"], dimensions=["dim.tiers"], output="e.c", mode="streaming")(identity)
    start_order = [p for g in app.plan(strategy="streaming").generations for p in g if app.catalog.pipes[p].is_streaming]
    assert start_order.index("tiers.c") < start_order.index("tiers.b") < start_order.index("tiers.a")
    plan = app.streams.preview_restarts(entity="dim.tiers")
    assert plan.pipes == ("tiers.c", "tiers.b", "tiers.a") and {s.depth for s in plan.steps} == {0}


def test_the_dimension_shows_its_detector_and_restart_policy_as_declared() -> None:
    plan = restart_plan(shop_catalog(), entity=CUSTOMERS, default_detector="schedule")
    facts = plan.dimension
    assert facts is not None
    assert (facts.detector, facts.detector_source, facts.restart, facts.restart_source, facts.cached) == (
        "schedule", "tool.kindling.change-detectors.default", "auto", "default", False,
    )
    options = {"change.detector": "change-data-feed", "change.restart": "always", "change.cached": True}
    facts = restart_plan(shop_catalog(**options), entity=CUSTOMERS).dimension
    assert facts is not None
    assert (facts.detector, facts.detector_source, facts.restart, facts.restart_source, facts.cached) == (
        "change-data-feed", "options['change.detector']", "always", "options['change.restart']", True,
    )
    assert facts.summary() == "detector change-data-feed, restart policy always, cached"


def test_a_bad_restart_policy_is_refused_naming_the_entity_and_option() -> None:
    with pytest.raises(DimensionOptionError) as caught:
        restart_plan(shop_catalog(**{"change.restart": "alway"}), entity=CUSTOMERS)
    assert "entity 'silver.customers': options['change.restart'] is 'alway', not one of 'auto', 'always', 'never'" in str(caught.value)
    assert "Did you mean 'always'?" in str(caught.value)


def test_a_restarted_output_read_as_a_dimension_does_not_cascade_and_a_note_says_so() -> None:
    plan = restart_plan(shop_catalog(), pipes=["gold.by_tier"], max_depth=0)
    assert plan.pipes == ("gold.by_tier",)
    assert plan.step("gold.by_tier").cause is RestartCause.REQUESTED and plan.step("gold.by_tier").reason == "restart requested"
    assert plan.notes == () and [(s.pipe, s.depth) for s in plan.truncated] == [("gold.alerts", 1), ("gold.scored", 2)]
    catalog = Catalog()
    catalog.add_pipe("a", func=identity, inputs=["raw"], output="e.a", mode="streaming")
    catalog.add_pipe("b", func=identity, inputs=["raw.b", "e.a"], dimensions=["e.a"], output="e.b", mode="streaming")
    plan = restart_plan(catalog, pipes=["a"])
    assert plan.pipes == ("a",)
    assert plan.notes == (
        "b reads e.a (written by a) as a dimension, not as a stream: not restarted by the cascade "
        "(the change detection of its dimension decides)",
    )


def test_the_depth_limit_lists_what_it_leaves_out_and_why() -> None:
    plan = restart_plan(shop_catalog(), entity=CUSTOMERS, max_depth=1)
    assert plan.pipes == ("silver.enriched", "gold.by_tier")
    assert [(s.pipe, s.depth, s.via) for s in plan.truncated] == [("gold.alerts", 2, "gold.by_tier"), ("gold.scored", 3, "gold.alerts")]
    assert plan.truncated[0].reason == (
        "streams the output of gold.by_tier, which restarts; left out: depth 2 is beyond the cascade depth limit 1"
    )
    assert plan.notes == ()
    assert restart_plan(shop_catalog(), entity=CUSTOMERS, max_depth=0).pipes == ("silver.enriched",)


def cyclic_catalog() -> Catalog:
    """a streams e.b and writes e.a; b streams e.a and writes e.b (a cycle through entities);
    c streams e.b; d joins dim.x and writes e.d, which a streams (d is upstream of the cycle);
    loop joins dim.x and streams its own output."""
    catalog = Catalog()
    catalog.add_entity("dim.x", path="lake/x")
    catalog.add_pipe("d", func=identity, inputs=["raw.d", "dim.x"], dimensions=["dim.x"], output="e.d", mode="streaming")
    catalog.add_pipe("a", func=identity, inputs=["e.b", "e.d"], output="e.a", mode="streaming")
    catalog.add_pipe("b", func=identity, inputs=["e.a"], output="e.b", mode="streaming")
    catalog.add_pipe("c", func=identity, inputs=["e.b"], output="e.c", mode="streaming")
    catalog.add_pipe("loop", func=identity, inputs=["e.loop", "dim.x"], dimensions=["dim.x"], output="e.loop", mode="streaming")
    return catalog


def test_cycles_through_entities_end_the_walk_and_each_pipe_restarts_once() -> None:
    catalog = cyclic_catalog()
    plan = restart_plan(catalog, entity="dim.x")
    assert [(s.pipe, s.depth, s.via) for s in plan.steps] == [
        ("d", 0, "dim.x"),
        ("loop", 0, "dim.x"),  # reads its own output: once, no cascade to itself
        ("a", 1, "d"),
        ("b", 2, "a"),
        ("c", 3, "b"),
    ]
    plan = restart_plan(catalog, pipes=["b"])  # c reads the cycle {a, b}: it starts first in a wave
    assert [(s.pipe, s.depth, s.via) for s in plan.steps] == [("b", 0, "b"), ("c", 1, "b"), ("a", 1, "b")]


def test_a_cyclic_app_cannot_be_planned_but_its_restarts_can_be_previewed() -> None:
    app = make_app()
    for pipe in cyclic_catalog():
        app.catalog.add(pipe)
    app.catalog.add_entity("dim.x", path="lake/x")
    with pytest.raises(CycleError):
        app.plan(strategy="streaming")
    assert [(s.pipe, s.depth) for s in app.streams.preview_restarts(pipes="a").steps] == [("a", 0), ("b", 1), ("c", 2)]


def test_an_entity_no_streaming_pipe_joins_restarts_nothing_and_says_why() -> None:
    catalog = shop_catalog()
    catalog.add_entity("gold.archive", path="lake/archive")
    cases = {
        "bronze.orders": "no streaming pipe declares bronze.orders as a dimension; silver.enriched read(s) it as a stream "
        "and see(s) its new data at the next micro-batch, without a restart",
        "gold.report": "no pipe reads gold.report, so its changes restart nothing",
        "gold.archive": "no pipe reads gold.archive, so its changes restart nothing",
    }
    for entity, note in cases.items():
        plan = restart_plan(catalog, entity=entity)
        assert plan.is_empty and plan.steps == () and plan.notes == (note,), entity
    catalog.add_pipe("gold.nightly", func=identity, inputs=["gold.report"], output="gold.nightly")
    assert restart_plan(catalog, entity="gold.report").notes == (
        "no streaming pipe reads gold.report; only batch pipes do (gold.nightly), and they read it afresh at every run",
    )


def test_an_undeclared_entity_a_pipe_uses_is_known_with_default_facts() -> None:
    plan = restart_plan(shop_catalog(), entity="bronze.orders")
    assert plan.dimension is not None and not plan.dimension.declared and plan.dimension.restart == "auto"


def test_entity_and_pipes_together_are_both_roots() -> None:
    plan = restart_plan(shop_catalog(), entity=CUSTOMERS, pipes=["silver.enriched", "gold.alerts"], max_depth=0)
    assert [(s.pipe, s.cause) for s in plan.steps] == [("gold.alerts", RestartCause.REQUESTED), ("silver.enriched", RestartCause.DIMENSION)]


def test_an_unknown_entity_gets_did_you_mean_and_the_list() -> None:
    with pytest.raises(UnknownNameError) as caught:
        restart_plan(shop_catalog(), entity="silver.customer")
    message = str(caught.value)
    assert message.startswith(
        "unknown entity 'silver.customer'. Did you mean 'silver.customers' or 'silver.enriched'? Available: bronze.orders, "
    )
    assert "remedy: name an entity declared with app.entity or one a pipe reads or writes" in message


def test_an_unknown_pipe_gets_did_you_mean_and_a_batch_pipe_the_streaming_ones() -> None:
    with pytest.raises(UnknownPipeError) as unknown:
        restart_plan(shop_catalog(), pipes=["silver.enrich"])
    assert str(unknown.value).startswith("unknown pipe id 'silver.enrich' (did you mean 'silver.enriched'?). Available: gold.alerts, ")
    with pytest.raises(UnknownStreamError) as batch:
        restart_plan(shop_catalog(), pipes=["gold.report"])
    assert str(batch.value).startswith(
        "restart_plan(pipes=...): pipe 'gold.report' is a batch pipe; only streaming pipes restart. "
        "Did you mean 'gold.alerts' or 'gold.scored'? "
        "Streaming queries: gold.alerts, gold.by_tier, gold.scored, silver.enriched."
    )


def test_nothing_asked_and_a_negative_depth_are_refused() -> None:
    with pytest.raises(KindlingError, match=r"a restart plan needs a changed entity or pipes to restart; got neither"):
        restart_plan(shop_catalog())
    for depth in (-1, 1.5, True):
        with pytest.raises(KindlingError, match=r"max_depth must be a whole number of hops, 0 or more; got"):
            restart_plan(shop_catalog(), entity=CUSTOMERS, max_depth=depth)  # type: ignore[arg-type]


def test_the_preview_takes_the_configured_cascade_depth_and_default_detector() -> None:
    app = make_app(config={"restarts": {"cascade-depth": 1}, "change-detectors": {"default": "change-data-feed"}})
    shop(app.catalog)
    plan = app.streams.preview_restarts(entity=CUSTOMERS)
    assert plan.max_depth == 1 and plan.pipes == ("silver.enriched", "gold.by_tier")
    assert plan.dimension is not None and plan.dimension.detector == "change-data-feed"
    assert app.streams.preview_restarts(entity=CUSTOMERS, max_depth=3).pipes[-1] == "gold.scored"
    with pytest.raises(UnknownStreamError, match=r"^app\.streams\.preview_restarts\(pipes=\.\.\.\): pipe 'gold.report' is a batch pipe"):
        app.streams.preview_restarts(pipes=["gold.report"])
    assert {s.state.value for s in app.streams.status().values()} == {"pending"}  # nothing started
