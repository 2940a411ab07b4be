"""Planner and plans: strategies, restriction, errors, the plan cache, advice, renderers, signals."""

from __future__ import annotations

import json

import pytest

from kindling_core.errors import KindlingError, UnknownNameError
from kindling_core.hookspecs import hookimpl
from kindling_core.items import CacheHeuristic, CacheRecommendation, ExecutionStrategy
from kindling_core.planning import (
    CycleError,
    DuplicateProducerError,
    ExecutionPlan,
    SelfLoopError,
    StrategyError,
    UnknownPipeError,
)
from kindling_core.planning import signals as plan_signals
from kindling_core.testing import RecordingErrorHandler

from planning_helpers import make_app


def declare_shop(app) -> None:
    """raw.orders/raw.customers -> bronze/silver -> two gold pipes; one streaming branch."""
    app.entity("raw.orders", path="/lake/raw/orders")
    app.entity("silver.customers", table="main.silver.customers", kind="dimension")

    @app.pipe("bronze.orders", inputs=["raw.orders"], output="bronze.orders")
    def bronze_orders(orders):
        """Land raw orders as Delta."""
        return orders

    @app.pipe("silver.customers", inputs=["raw.customers"], output="silver.customers")
    def customers(raw):
        return raw

    @app.pipe("silver.orders", inputs=["bronze.orders", "silver.customers"], output="silver.orders")
    def orders(o, c):
        return o

    @app.pipe("gold.revenue", inputs=["silver.orders", "silver.customers"], output="gold.revenue")
    def revenue(o, c):
        return o

    @app.pipe("gold.segments", inputs=["silver.customers", "silver.orders"], output="gold.segments")
    def segments(c, o):
        return c

    @app.pipe("live.alerts", inputs=["silver.orders"], output="live.alerts", mode="streaming")
    def alerts(o):
        return o


def test_batch_streaming_hybrid(app) -> None:
    declare_shop(app)
    batch = app.plan(strategy="batch")
    assert batch.generations == (
        ("bronze.orders", "silver.customers"),
        ("silver.orders",),
        ("gold.revenue", "gold.segments", "live.alerts"),
    )
    assert batch.strategy == "batch" and batch.max_parallelism == 3
    assert app.plan(strategy="streaming").generations == tuple(reversed(batch.generations))
    hybrid = app.plan(strategy="hybrid")
    assert hybrid.generations == (
        ("bronze.orders", "silver.customers"),
        ("silver.orders",),
        ("gold.revenue", "gold.segments"),
        ("live.alerts",),
    )
    assert hybrid.modes["live.alerts"] == "streaming" and hybrid.modes["gold.revenue"] == "batch"


def test_configured_strategy_is_the_default() -> None:
    app = make_app(strategy="streaming")
    declare_shop(app)
    assert app.plan().strategy == "streaming"


def test_unknown_strategy_has_did_you_mean_and_the_list(app) -> None:
    declare_shop(app)
    with pytest.raises(UnknownNameError) as info:
        app.plan(strategy="hybird")
    message = str(info.value)
    assert "unknown execution strategy 'hybird'" in message
    assert "Did you mean 'hybrid'?" in message
    assert "Available: batch, hybrid, streaming." in message


def test_pipes_restricts_to_them_and_their_producers(app) -> None:
    declare_shop(app)
    plan = app.plan(pipes=["gold.revenue"])
    assert plan.generations == (("bronze.orders", "silver.customers"), ("silver.orders",), ("gold.revenue",))
    assert plan.requested == ("gold.revenue",)
    assert "live.alerts" not in plan


def test_unknown_pipe_ids_get_did_you_mean(app) -> None:
    declare_shop(app)
    with pytest.raises(UnknownPipeError) as info:
        app.plan(pipes=["gold.revenu", "nope.none"])
    message = str(info.value)
    assert "unknown pipe ids 'gold.revenu' (did you mean 'gold.revenue'" in message
    assert "'nope.none'" in message and "Available: bronze.orders, gold.revenue" in message
    assert info.value.unknown == ("gold.revenu", "nope.none")


def test_cycle_self_loop_and_two_writers_surface_from_app_plan(app) -> None:
    app.pipe("a.one", inputs=["c.three"], output="a.one")(lambda x: x)
    app.pipe("b.two", inputs=["a.one"], output="b.two")(lambda x: x)
    app.pipe("c.three", inputs=["b.two"], output="c.three")(lambda x: x)
    with pytest.raises(CycleError) as info:
        app.plan()
    assert "a.one -> b.two -> c.three -> a.one" in str(info.value)

    other = make_app()
    other.pipe("s.loop", inputs=["s.loop"], output="s.loop")(lambda x: x)
    with pytest.raises(SelfLoopError, match=r"pipe 's.loop' reads its own output 's.loop' \(s.loop -> s.loop\)"):
        other.plan()

    third = make_app()
    third.pipe("load.a", inputs=["raw.a"], output="silver.t")(lambda x: x)
    third.pipe("load.b", inputs=["raw.b"], output="silver.t")(lambda x: x)
    with pytest.raises(DuplicateProducerError, match=r"entity 'silver.t' is written by 2 pipes: 'load.a' and 'load.b'"):
        third.plan()


def test_plan_cache_hits_misses_and_signals(app) -> None:
    declare_shop(app)
    seen: list[tuple[str, object]] = []
    for spec in plan_signals.EMITS:
        app.signals.connect(spec, lambda sender, payload, name=spec.name: seen.append((name, payload)))
    first = app.plan()
    again = app.plan()
    assert again is first
    names = [name for name, _ in seen]
    assert names.count("plan.cache_missed") == 1 and names.count("plan.cache_hit") == 1
    assert names.count("plan.after_plan") == 1
    generated = next(p for n, p in seen if n == "plan.after_plan")
    assert generated.plan is first and generated.fingerprint == first.fingerprint
    assert app.planner.cache_info().hits == 1
    # any metadata change misses
    app.entity("gold.extra", path="/x")
    third = app.plan()
    assert third is not first and third.fingerprint != first.fingerprint
    assert names.count("plan.cache_missed") == 1  # (names is a snapshot)
    assert [n for n, _ in seen].count("plan.cache_missed") == 2
    # a different strategy or restriction is a different key
    assert app.plan(strategy="streaming").fingerprint != third.fingerprint
    assert app.plan(pipes=["gold.revenue"]).fingerprint != third.fingerprint


def test_failed_planning_is_signalled(app) -> None:
    app.pipe("s.loop", inputs=["s.loop"], output="s.loop")(lambda x: x)
    failures = []
    app.signals.connect(plan_signals.PLAN_FAILED, lambda sender, payload: failures.append(payload))
    with pytest.raises(SelfLoopError):
        app.plan()
    assert len(failures) == 1 and isinstance(failures[0].error, SelfLoopError)


def test_equal_declarations_in_another_app_give_an_equal_plan() -> None:
    one, two = make_app(), make_app()
    declare_shop(one)
    declare_shop(two)
    assert one.plan() == two.plan()
    assert one.plan().fingerprint == two.plan().fingerprint


def test_cache_advice_shared_consumers_with_unknown_size(app) -> None:
    declare_shop(app)
    plan = app.plan()
    recs = {r.entity: r for r in plan.cache_recommendations}
    assert set(recs) == {"silver.customers", "silver.orders"}  # live.alerts is streaming: not counted
    rec = recs["silver.orders"]
    assert rec.storage_level == "MEMORY_AND_DISK" and rec.heuristic == "shared-consumers"
    assert "read by 2 batch pipes (gold.revenue, gold.segments)" in rec.reason
    # The app's Delta size provider finds no table at these paths: size unknown, advice kept.
    assert "size unknown (the size provider had no answer)" in rec.reason and rec.size_bytes is None
    assert app.plan(strategy="streaming").cache_recommendations == ()


def test_cache_advice_respects_size_threshold_and_configured_level() -> None:
    app = make_app(cache={"storage_level": "DISK_ONLY", "min_size_mb": 10})
    declare_shop(app)
    sizes = {"silver.orders": 50 * 1024 * 1024, "silver.customers": 1024}
    app.planner.size_provider = sizes.get
    recs = app.plan().cache_recommendations
    assert [r.entity for r in recs] == ["silver.orders"]
    assert recs[0].storage_level == "DISK_ONLY" and recs[0].size_bytes == 50 * 1024 * 1024
    assert "size 50.0 MB >= 10 MB" in recs[0].reason
    app.planner.size_provider = lambda entity: None
    (rec, *_rest) = app.plan().cache_recommendations
    assert "the size provider had no answer" in rec.reason


def test_cache_advice_names_five_readers_then_counts_the_rest(app) -> None:
    app.planner.size_provider = None
    for i in range(7):
        app.pipe(f"gold.r{i}", inputs=["silver.hub"], output=f"gold.o{i}")(lambda hub: hub)
    app.pipe("live.s", inputs=["silver.hub"], output="live.o", mode="streaming")(lambda hub: hub)
    (rec,) = app.plan().cache_recommendations
    assert rec.entity == "silver.hub" and rec.size_bytes is None
    assert rec.reason == (
        "read by 7 batch pipes (gold.r0, gold.r1, gold.r2, gold.r3, gold.r4 and 2 more); "
        "size unknown (no size provider), so the 100 MB threshold was not applied"
    )


def test_cache_recommended_signal_once_per_plan(app) -> None:
    declare_shop(app)
    advice = []
    app.signals.connect(plan_signals.CACHE_RECOMMENDED, lambda sender, payload: advice.append(payload))
    plan = app.plan()
    assert len(advice) == 1 and advice[0].recommendations == plan.cache_recommendations
    assert advice[0].plan_fingerprint == plan.fingerprint


def test_explain_gives_the_longest_chain(app) -> None:
    declare_shop(app)
    explanation = app.plan().explain("gold.revenue")
    assert explanation.generation == 2
    assert explanation.chain == ("bronze.orders", "silver.orders", "gold.revenue")
    text = str(explanation)
    assert "bronze.orders -> silver.orders -> gold.revenue" in text and "generation 2" in text
    streaming = app.plan(strategy="streaming").explain("bronze.orders")
    assert streaming.generation == 2 and "consumers before producers" in str(streaming)
    hybrid = app.plan(strategy="hybrid").explain("live.alerts")
    assert hybrid.scope == "streaming" and hybrid.generation == 3
    with pytest.raises(UnknownPipeError):
        app.plan().explain("gold.revenu")


def test_json_document_shape(app) -> None:
    declare_shop(app)
    plan = app.plan()
    document = json.loads(plan.to_json())
    assert document["strategy"] == "batch"
    assert document["generations"] == [list(g) for g in plan.generations]
    assert document["fingerprint"] == plan.fingerprint
    assert document["modes"]["live.alerts"] == "streaming"
    assert document["max_parallelism"] == 3
    assert {"entity", "storage_level", "reason"} <= set(document["cache_recommendations"][0])
    assert document["external_sources"] == ["raw.customers", "raw.orders"]


def test_mermaid_and_dot_show_generations_and_modes(app) -> None:
    declare_shop(app)
    plan = app.plan()
    mermaid = plan.to_mermaid()
    assert mermaid.startswith("flowchart LR")
    assert 'subgraph g2["generation 2"]' in mermaid
    assert '(["live.alerts<br/>streaming"])' in mermaid and '["gold.revenue<br/>batch"]' in mermaid
    assert '[("raw.orders")]' in mermaid
    dot = plan.to_dot()
    assert "subgraph cluster_g0" in dot and 'label="generation 0"' in dot
    assert '"live.alerts" [label="live.alerts\\nstreaming"' in dot
    assert '"bronze.orders" -> "silver.orders" [label="bronze.orders"];' in dot
    text = plan.to_text()
    assert "generation 0 (2 pipes)" in text and "cache recommendations (advisory):" in text


def test_labels_are_escaped() -> None:
    from kindling_core.planning.render import dot_string, mermaid_label

    assert mermaid_label('a"b<c>|d') == "a#quot;b#lt;c#gt;#124;d"
    assert dot_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def _plugin(**items):
    class Plugin:
        pass

    if "strategies" in items:
        Plugin.kindling_execution_strategies = staticmethod(hookimpl(lambda: items["strategies"]))
    if "heuristics" in items:
        Plugin.kindling_cache_heuristics = staticmethod(hookimpl(lambda: items["heuristics"]))
    return Plugin()


def test_a_broken_strategy_is_reported_with_its_name_and_plugin() -> None:
    import kindling_plugins.cache
    import kindling_plugins.strategies
    from kindling_core.app import App
    from kindling_core.config import KindlingConfig

    bad = ExecutionStrategy(name="drops-one", description="forgets pipes", plan=lambda request: [request.pipes[:1]])
    dup = ExecutionStrategy(name="twice", description="repeats", plan=lambda request: [request.pipes, request.pipes])
    boom = ExecutionStrategy(name="boom", description="raises", plan=lambda request: 1 / 0)
    app = App(
        config=KindlingConfig(),
        plugins={"strategies": kindling_plugins.strategies, "cache": kindling_plugins.cache, "mine": _plugin(strategies=[bad, dup, boom])},
        entry_points=[],
    )
    declare_shop(app)
    with pytest.raises(StrategyError, match=r"strategy 'drops-one' \(plugin mine\) returned an invalid plan: 5 pipe\(s\) are missing"):
        app.plan(strategy="drops-one")
    with pytest.raises(StrategyError, match="appears more than once"):
        app.plan(strategy="twice")
    with pytest.raises(StrategyError, match="ZeroDivisionError"):
        app.plan(strategy="boom")


def test_a_broken_heuristic_is_reported_and_skipped_and_first_recommendation_wins() -> None:
    import kindling_plugins.cache
    import kindling_plugins.strategies
    from kindling_core.app import App
    from kindling_core.config import KindlingConfig

    first = CacheHeuristic(
        name="everything",
        description="cache silver.orders in memory",
        recommend=lambda ctx: [CacheRecommendation("silver.orders", "MEMORY_ONLY", "because")],
    )
    from kindling_core.config import with_overrides

    config = with_overrides(KindlingConfig(), cache={"order": ["everything", "..."]})
    plugins = {"strategies": kindling_plugins.strategies, "cache": kindling_plugins.cache, "mine": _plugin(heuristics=[first])}
    app = App(config=config, plugins=plugins, entry_points=[])
    declare_shop(app)
    recs = {r.entity: r for r in app.plan().cache_recommendations}
    assert recs["silver.orders"].storage_level == "MEMORY_ONLY" and recs["silver.orders"].heuristic == "everything"

    broken = CacheHeuristic(name="broken", description="returns junk", recommend=lambda ctx: ["junk"])
    plugins["mine"] = _plugin(heuristics=[broken])
    recorder = RecordingErrorHandler()
    app2 = App(config=KindlingConfig(), plugins={**plugins, "rec": recorder}, entry_points=[])
    declare_shop(app2)
    assert app2.plan().cache_recommendations  # the built-in heuristics still advise
    [event] = recorder.events
    assert event.source == "plugin-item" and event.subject == "broken" and event.context["plugin"] == "mine"
    assert "cache heuristic 'broken' of plugin mine (inline) returned str 'junk' among its recommendations" in str(event.error)


def test_plan_is_immutable_and_errors_are_kindling_errors(app) -> None:
    declare_shop(app)
    plan = app.plan()
    assert isinstance(plan, ExecutionPlan)
    with pytest.raises(AttributeError):
        plan.strategy = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.modes["gold.revenue"] = "streaming"  # type: ignore[index]
    assert issubclass(UnknownPipeError, KindlingError) and issubclass(CycleError, KindlingError)
