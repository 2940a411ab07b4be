"""A strategy sees each planned pipe's declaration: tags, mode, write, dimensions, options."""

from __future__ import annotations

import pytest

from kindling_core.errors import KindlingError
from kindling_core.planning import UnknownPipeError
from kindling_core.plugin import ExecutionStrategy, Pipe, PipeGraph, StrategyInput, WriteMode
from kindling_core.testing import make_app, plugin_from

SEEN: dict[str, Pipe] = {}


def critical_first(request: StrategyInput) -> tuple[tuple[str, ...], ...]:
    """Pipes tagged ``critical`` and what they need first, then the rest; each part producers-first."""
    for pipe_id in request.pipes:
        SEEN[pipe_id] = request.pipe(pipe_id)
    first = request.upstream_closure(request.pipes_tagged("critical"))
    rest = [p for p in request.pipes if p not in set(first)]
    return request.generations_of(first) + request.generations_of(rest)


STRATEGY = plugin_from(
    kindling_execution_strategies=lambda: [
        ExecutionStrategy(name="critical-first", description="critical pipes and their producers first", plan=critical_first)
    ]
)


def declare(app, critical: str = "gold.finance") -> None:
    """raw -> silver.orders -> gold.finance / gold.marketing / gold.ops (one of them critical)."""
    app.entity("silver.orders", path="/lake/silver/orders", merge_keys=["id"])

    @app.pipe("silver.orders", inputs=["raw.orders"], output="silver.orders", write="merge", options={"sla": "1h"})
    def orders(raw):
        return raw

    @app.pipe("gold.ads", inputs=["raw.clicks"], output="gold.ads")
    def ads(clicks):
        return clicks

    for name in ("gold.finance", "gold.marketing", "gold.ops"):
        app.pipe(name, inputs=["silver.orders"], output=name, tags=["critical"] if name == critical else ["daily"])(lambda o: o)


def test_critical_first_orders_by_tag_and_keeps_dependencies() -> None:
    with make_app({"acme": STRATEGY}, config={"strategy": "critical-first"}) as app:
        declare(app)
        plan = app.plan()
        assert plan.generations == (
            ("silver.orders",),
            ("gold.finance",),
            ("gold.ads", "gold.marketing", "gold.ops"),
        )
        # Tags are declarations: another critical pipe is another plan, never the cached one.
        app.catalog.remove_pipe("gold.ops")
        app.pipe("gold.ops", inputs=["silver.orders"], output="gold.ops", tags=["critical"])(lambda o: o)
        assert app.plan().generations == (
            ("silver.orders",),
            ("gold.finance", "gold.ops"),
            ("gold.ads", "gold.marketing"),
        )


def test_strategy_sees_each_pipes_full_declaration() -> None:
    SEEN.clear()
    with make_app({"acme": STRATEGY}, config={"strategy": "critical-first"}) as app:
        declare(app)
        app.plan(pipes=["gold.finance"])
    assert set(SEEN) == {"silver.orders", "gold.finance"}  # only the planned (restricted) graph
    orders = SEEN["silver.orders"]
    assert (orders.write, dict(orders.options), orders.inputs) == (WriteMode.MERGE, {"sla": "1h"}, ("raw.orders",))
    assert SEEN["gold.finance"].tags == ("critical",)


def request_for(app) -> StrategyInput:
    pipes = tuple(app.catalog.pipes.values())
    return StrategyInput(PipeGraph.from_pipes(pipes), "critical-first", declared_pipes=pipes)


def test_helpers_select_by_declaration() -> None:
    with make_app() as app:
        declare(app)
        request = request_for(app)
    assert request.pipes_tagged("daily") == ("gold.marketing", "gold.ops")
    assert request.pipes_tagged("nope") == ()
    assert request.pipes_where(lambda p: p.write is WriteMode.MERGE) == ("silver.orders",)
    assert request.upstream_closure(["gold.ops"]) == ("silver.orders", "gold.ops")


def test_unknown_pipe_names_it_with_a_suggestion_and_the_planned_pipes() -> None:
    with make_app() as app:
        declare(app)
        request = request_for(app)
    with pytest.raises(UnknownPipeError) as caught:
        request.pipe("gold.finanse")
    message = str(caught.value)
    assert "unknown pipe id 'gold.finanse'" in message and "'gold.finance'" in message
    assert "Available: gold.ads, gold.finance, gold.marketing, gold.ops, silver.orders" in message


def test_graph_without_declarations_says_what_is_missing() -> None:
    request = StrategyInput(PipeGraph.from_edges([("a.x", "b.y")]), "mine")
    with pytest.raises(KindlingError) as caught:
        request.pipe("a.x")
    assert "no declaration for pipe 'a.x': this StrategyInput was built from a graph alone" in str(caught.value)
    assert caught.value.remedy == "build it with declared_pipes= (the declared Pipe objects), as the planner does"
