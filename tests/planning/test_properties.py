"""Property tests over random DAGs and random graphs with cycles (hypothesis).

Run with more examples: ``HYPOTHESIS_PROFILE=nightly pytest tests/planning/test_properties.py``.
"""

from __future__ import annotations

import functools

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

from kindling_core.model import Catalog
from kindling_core.planning import CycleError, PipeGraph, Planner

from planning_helpers import declare_edges, make_app, pid

STRATEGIES = ("batch", "streaming", "hybrid")


@functools.lru_cache(maxsize=1)
def _app():
    return make_app()


def planner() -> Planner:
    """A fresh planner (empty plan cache) with the built-in plugins."""
    app = _app()
    return Planner(config=app.config, registry=app.registry, signals=None)


@st.composite
def dags(draw, max_pipes: int = 24):
    """``(n, edges, modes, order)``: edges only go from a lower to a higher *rank*, ranks being a
    random permutation, so the graph is acyclic but ids are not in topological order."""
    n = draw(st.integers(min_value=1, max_value=max_pipes))
    rank = draw(st.permutations(range(n)))
    pairs = [(u, v) for u in range(n) for v in range(n) if rank[u] < rank[v]]
    edges = draw(st.lists(st.sampled_from(pairs), max_size=3 * n, unique=True)) if pairs else []
    modes = draw(st.lists(st.sampled_from(["batch", "streaming"]), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    return n, edges, modes, order


@st.composite
def any_graphs(draw, max_pipes: int = 14):
    """Random directed graphs, self-loops included: cyclic or not."""
    n = draw(st.integers(min_value=1, max_value=max_pipes))
    pairs = [(u, v) for u in range(n) for v in range(n)]
    edges = draw(st.lists(st.sampled_from(pairs), max_size=2 * n + 2, unique=True))
    return n, edges


def build(n, edges, modes=None, order=None) -> Catalog:
    catalog = Catalog()
    declare_edges(catalog, n, edges, modes, order)
    return catalog


def position(plan) -> dict[str, int]:
    return {p: i for i, g in enumerate(plan.generations) for p in g}


def longest_chain_lengths(n: int, edges) -> dict[str, int]:
    """Reference: edges on the longest path ending at each node (networkx DAG DP)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    depth: dict[int, int] = {}
    for node in nx.topological_sort(graph):
        depth[node] = max((depth[u] + 1 for u in graph.predecessors(node)), default=0)
    return {pid(i): d for i, d in depth.items()}


@given(dags())
def test_every_strategy_plans_each_pipe_exactly_once(dag) -> None:
    n, edges, modes, order = dag
    catalog = build(n, edges, modes, order)
    p = planner()
    for name in STRATEGIES:
        plan = p.plan(catalog, strategy=name)
        flat = [x for g in plan.generations for x in g]
        assert sorted(flat) == sorted(pid(i) for i in range(n))
        assert all(plan.generations)
        assert plan.max_parallelism == max(len(g) for g in plan.generations)


@given(dags())
def test_edges_go_forward_in_batch_and_backward_in_streaming(dag) -> None:
    n, edges, modes, order = dag
    catalog = build(n, edges, modes, order)
    p = planner()
    batch = position(p.plan(catalog, strategy="batch"))
    streaming = position(p.plan(catalog, strategy="streaming"))
    for u, v in edges:
        assert batch[pid(u)] < batch[pid(v)]
        assert streaming[pid(u)] > streaming[pid(v)]


@given(dags())
def test_batch_generation_is_the_longest_chain_length(dag) -> None:
    n, edges, modes, order = dag
    plan = planner().plan(build(n, edges, modes, order), strategy="batch")
    assert position(plan) == longest_chain_lengths(n, edges)


@given(dags())
def test_streaming_is_the_exact_reverse_of_batch(dag) -> None:
    n, edges, modes, order = dag
    catalog = build(n, edges, modes, order)
    p = planner()
    assert p.plan(catalog, strategy="streaming").generations == tuple(reversed(p.plan(catalog, strategy="batch").generations))


@given(dags())
def test_hybrid_runs_batch_first_forward_then_streaming_consumers_first(dag) -> None:
    n, edges, modes, order = dag
    plan = planner().plan(build(n, edges, modes, order), strategy="hybrid")
    where = position(plan)
    mode = {pid(i): modes[i] for i in range(n)}
    batch_slots = [where[p] for p in where if mode[p] == "batch"]
    stream_slots = [where[p] for p in where if mode[p] == "streaming"]
    if batch_slots and stream_slots:
        assert max(batch_slots) < min(stream_slots)
    for generation in plan.generations:  # a generation never mixes modes
        assert len({mode[p] for p in generation}) == 1
    for u, v in edges:
        a, b = pid(u), pid(v)
        if mode[a] == mode[b] == "batch":
            assert where[a] < where[b]
        elif mode[a] == mode[b] == "streaming":
            assert where[a] > where[b]
        elif mode[a] == "batch":  # a streaming pipe's batch prerequisites precede it
            assert where[a] < where[b]
    # inside each part, generations are exactly the (reversed) longest-chain layering of that part
    for part, reverse in (("batch", False), ("streaming", True)):
        members = [i for i in range(n) if modes[i] == part]
        if not members:
            continue
        index = {i: k for k, i in enumerate(members)}
        sub_edges = [(index[u], index[v]) for u, v in edges if u in index and v in index]
        depth = longest_chain_lengths(len(members), sub_edges)
        levels = max(depth.values()) + 1
        base = min(where[pid(i)] for i in members)
        for i in members:
            d = depth[pid(index[i])]
            expected = base + (levels - 1 - d if reverse else d)
            assert where[pid(i)] == expected


@given(dags(), st.sampled_from(STRATEGIES))
def test_order_is_deterministic(dag, name) -> None:
    n, edges, modes, order = dag
    first = planner().plan(build(n, edges, modes, order), strategy=name)
    second = planner().plan(build(n, edges, modes, list(reversed(order))), strategy=name)
    assert first.generations == second.generations
    assert first.fingerprint == second.fingerprint
    assert first == second
    assert first.to_json() == second.to_json() and first.to_mermaid() == second.to_mermaid()
    assert first.to_dot() == second.to_dot() and first.to_text() == second.to_text()
    for generation in first.generations:
        assert list(generation) == sorted(generation)


@given(any_graphs())
def test_cycle_detection_is_sound_and_complete(graph) -> None:
    n, edges = graph
    catalog = build(n, edges)
    reference = nx.DiGraph()
    reference.add_nodes_from(range(n))
    reference.add_edges_from(edges)
    acyclic = nx.is_directed_acyclic_graph(reference)
    try:
        plan = planner().plan(catalog)
    except CycleError as error:
        assert not acyclic, "an acyclic graph was rejected"
        cycle = [int(p.rsplit("n", 1)[1]) for p in error.cycle]
        steps = list(zip(cycle, cycle[1:] + cycle[:1], strict=True))
        assert all(reference.has_edge(u, v) for u, v in steps), f"reported cycle {error.cycle} is not in the graph"
        assert len(set(cycle)) == len(cycle)
        assert error.path.startswith(error.cycle[0]) and error.path.endswith(error.cycle[0])
        expected = sorted(
            tuple(sorted(pid(i) for i in c))
            for c in nx.strongly_connected_components(reference)
            if len(c) > 1 or reference.has_edge(next(iter(c)), next(iter(c)))
        )
        assert list(error.components) == expected
    else:
        assert acyclic, "a cyclic graph was planned"
        assert len(plan.pipes) == n


@given(dags(), st.sampled_from(STRATEGIES))
def test_plan_cache_returns_equal_plans_for_equal_inputs(dag, name) -> None:
    n, edges, modes, order = dag
    p = planner()
    first = p.plan(build(n, edges, modes, order), strategy=name)
    second = p.plan(build(n, edges, modes, list(reversed(order))), strategy=name)
    assert second is first
    assert p.cache_info().hits == 1 and p.cache_info().misses == 1


CHANGES = ("mode", "tag", "extra_pipe", "extra_entity", "drop_edge", "write", "option")


@given(dags(max_pipes=12), st.sampled_from(CHANGES), st.data())
def test_plan_cache_misses_after_any_metadata_change(dag, change, data) -> None:
    n, edges, modes, order = dag
    p = planner()
    before = p.plan(build(n, edges, modes, order))
    victim = data.draw(st.integers(min_value=0, max_value=n - 1))
    changed_modes = list(modes)
    catalog = Catalog()
    if change == "drop_edge" and edges:
        declare_edges(catalog, n, edges[1:], modes, order)
    elif change == "mode":
        changed_modes[victim] = "batch" if modes[victim] == "streaming" else "streaming"
        declare_edges(catalog, n, edges, changed_modes, order)
    else:
        declare_edges(catalog, n, edges, modes, order)
        if change in ("tag", "write", "option"):
            old = catalog.remove_pipe(pid(victim))
            field = {"tag": {"tags": ("hot",)}, "write": {"write": "append"}, "option": {"options": {"k": 1}}}[change]
            catalog.add_pipe(old.id, func=old.func, inputs=old.inputs, output=old.output, mode=old.mode, **field)
        elif change == "extra_pipe":
            catalog.add_pipe("extra.pipe", func=lambda x: x, inputs=[f"e.n{victim}"], output="extra.out")
        elif change == "extra_entity" or change == "drop_edge":
            catalog.add_entity("extra.entity", path="/extra")
    after = p.plan(catalog)
    assert p.cache_info().misses == 2
    assert after is not before and after.fingerprint != before.fingerprint


@given(dags())
def test_graph_layers_and_indexes_match_networkx_in_any_declaration_order(dag) -> None:
    """PipeGraph straight from pipes declared in a random order (producers often after their
    readers): generations, consumers, external sources and descendants against networkx."""
    n, edges, modes, order = dag
    catalog = build(n, edges, modes, order)
    graph = PipeGraph.from_pipes(catalog.pipes.values())
    reference = nx.DiGraph()
    reference.add_nodes_from(pid(i) for i in range(n))
    reference.add_edges_from((pid(u), pid(v)) for u, v in edges)
    assert graph.generations() == tuple(tuple(sorted(g)) for g in nx.topological_generations(reference))
    assert dict(graph.levels()) == longest_chain_lengths(n, edges)
    readers: dict[str, set[str]] = {}
    for pipe in catalog.pipes.values():
        for entity in pipe.inputs:
            readers.setdefault(entity, set()).add(pipe.id)
    assert list(graph.consumers) == sorted(readers)
    assert {e: set(ps) for e, ps in graph.consumers.items()} == readers
    assert all(list(ps) == sorted(ps) for ps in graph.consumers.values())
    assert graph.external_sources == tuple(sorted(e for e in readers if e.startswith("raw.")))
    for i in range(n):
        assert graph.descendants(pid(i)) == nx.descendants(reference, pid(i))
