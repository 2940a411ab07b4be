"""Bounded runs (``app.run``) process producers before consumers, whatever the strategy.

The ``streaming`` strategy orders consumers first on purpose (long-running queries listen
before their producers emit); a bounded run must not, or a downstream stream would only see its
upstream's new rows in the next run.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from test_properties import build, dags, planner

from kindling_core.plugin import ExecutionStrategy
from kindling_core.testing import ScriptedRunner, make_app, plugin_from

STRATEGIES = ("batch", "streaming", "hybrid")


def medallion(app, *, batch_bronze: bool = False) -> None:
    """raw -> bronze -> silver -> gold, plus an unrelated report; streaming unless said otherwise."""
    app.pipe("bronze", inputs=["raw"], output="bronze", mode="batch" if batch_bronze else "streaming")(lambda r: r)
    app.pipe("silver", inputs=["bronze"], output="silver", mode="streaming")(lambda b: b)
    app.pipe("gold", inputs=["silver"], output="gold", mode="streaming")(lambda s: s)
    app.pipe("report", inputs=["raw"], output="report")(lambda r: r)


def test_a_streaming_plan_starts_consumers_first_but_a_bounded_run_runs_producers_first() -> None:
    with make_app() as app:
        medallion(app)
        plan = app.plan(strategy="streaming")
        assert plan.generations == (("gold",), ("silver",), ("bronze", "report"))
        bounded = plan.for_bounded_run()
        assert bounded.generations == (("bronze", "report"), ("silver",), ("gold",))
        assert bounded.bounded and not plan.bounded and bounded.strategy == "streaming"
        assert bounded.for_bounded_run() is bounded
        assert bounded.to_dict()["bounded"] is True

        runner = ScriptedRunner()
        assert app.run(strategy="streaming", runner=runner).succeeded
        order = [pipe_id for pipe_id, _attempt in runner.calls]
        assert order.index("bronze") < order.index("silver") < order.index("gold")


def test_hybrid_keeps_batch_pipes_first_and_runs_its_streams_producers_first() -> None:
    with make_app() as app:
        medallion(app, batch_bronze=True)
        plan = app.plan(strategy="hybrid")
        assert plan.generations == (("bronze", "report"), ("gold",), ("silver",))
        assert plan.for_bounded_run().generations == (("bronze", "report"), ("silver",), ("gold",))


def test_a_batch_plan_is_already_bounded() -> None:
    with make_app() as app:
        medallion(app)
        plan = app.plan(strategy="batch")
        assert plan.for_bounded_run().generations == plan.generations


def test_a_plugin_strategy_keeps_its_order_where_dependencies_allow() -> None:
    """A strategy running everything at once gets its consumers moved after their producers;
    independent pipes stay where it put them."""
    strategy = plugin_from(
        kindling_execution_strategies=lambda: [
            ExecutionStrategy(name="all-at-once", description="one generation", plan=lambda request: [request.pipes])
        ]
    )
    with make_app({"acme": strategy}) as app:
        medallion(app)
        plan = app.plan(strategy="all-at-once")
        assert plan.for_bounded_run().generations == (("bronze", "report"), ("silver",), ("gold",))


def test_explain_says_why_a_bounded_run_moved_a_pipe() -> None:
    with make_app() as app:
        medallion(app)
        explanation = app.plan(strategy="streaming").for_bounded_run().explain("gold")
        assert explanation.generation == 2
        assert "producers before consumers" in explanation.reason and "(silver)" in explanation.reason


@pytest.mark.parametrize("strategy", STRATEGIES)
@given(graph=dags())
def test_bounded_runs_put_every_pipe_after_its_planned_producers(strategy: str, graph) -> None:
    n, edges, modes, order = graph
    plan = planner().plan(build(n, edges, modes, order), strategy)
    bounded = plan.for_bounded_run()
    assert sorted(bounded.pipes) == sorted(plan.pipes)
    assert all(bounded.generations)
    for pipe_id in bounded.pipes:
        for producer in bounded.graph.upstream(pipe_id):
            assert bounded.generation_of(producer) < bounded.generation_of(pipe_id)
    if strategy == "batch":
        assert bounded.generations == plan.generations
    if strategy == "streaming":
        assert bounded.generations == plan.graph.generations()
