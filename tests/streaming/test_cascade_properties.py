"""Property tests of restart plans over random pipe graphs, cyclic or not (hypothesis).

Each random graph mixes batch and streaming pipes; an edge ``u -> v`` makes ``p.n{v}`` read
``e.n{u}``, as a stream or as a dimension; some streaming pipes join the dimension ``dim.x``.
References are computed with networkx, independently of the code under test.
"""

from __future__ import annotations

import networkx as nx
from hypothesis import assume, given
from hypothesis import strategies as st

from kindling_core.model import Catalog
from kindling_core.streaming.cascade import RestartCause, RestartPlan, restart_plan

DIM = "dim.x"


def pid(i: int) -> str:
    return f"p.n{i}"


def eid(i: int) -> str:
    return f"e.n{i}"


def any_func(*frames: object) -> None:
    """Takes any inputs."""


@st.composite
def graphs(draw, max_pipes: int = 12):
    """``(n, edges, as_dimension, modes, joins_dim)``: any directed graph (self-loops and cycles too)."""
    n = draw(st.integers(min_value=1, max_value=max_pipes))
    pairs = [(u, v) for u in range(n) for v in range(n)]
    edges = draw(st.lists(st.sampled_from(pairs), max_size=2 * n + 2, unique=True))
    as_dimension = draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges)))
    modes = draw(st.lists(st.sampled_from(["batch", "streaming", "streaming"]), min_size=n, max_size=n))
    joins_dim = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return n, edges, as_dimension, modes, joins_dim


def build(n, edges, as_dimension, modes, joins_dim) -> Catalog:
    catalog = Catalog()
    catalog.add_entity(DIM, path="lake/dim")
    inputs: dict[int, list[str]] = {i: [f"raw.n{i}"] for i in range(n)}
    dimensions: dict[int, list[str]] = {i: [] for i in range(n)}
    for (u, v), dimension in zip(edges, as_dimension, strict=True):
        inputs[v].append(eid(u))
        if dimension and modes[v] == "streaming":
            dimensions[v].append(eid(u))
    for i in range(n):
        if joins_dim[i] and modes[i] == "streaming":
            inputs[i].append(DIM)
            dimensions[i].append(DIM)
        catalog.add_pipe(pid(i), func=any_func, inputs=inputs[i], output=eid(i), mode=modes[i], dimensions=dimensions[i])
    return catalog


def cascade_graph(catalog: Catalog) -> nx.DiGraph:
    """Reference: an edge producer -> reader when both stream and the reader streams the output."""
    graph = nx.DiGraph()
    pipes = catalog.pipes
    graph.add_nodes_from(p for p, pipe in pipes.items() if pipe.is_streaming)
    for reader in pipes.values():
        for producer in pipes.values():
            if (
                reader.is_streaming and producer.is_streaming and producer.output in reader.inputs
                and producer.output not in reader.dimensions
            ):
                graph.add_edge(producer.id, reader.id)
    return graph


def full_graph(catalog: Catalog) -> nx.DiGraph:
    """Reference: every pipe, an edge producer -> reader for every input (dimensions too)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(catalog.pipes)
    for reader in catalog.pipes.values():
        for producer in catalog.pipes.values():
            if producer.output in reader.inputs:
                graph.add_edge(producer.id, reader.id)
    return graph


def expected_depths(catalog: Catalog, roots: list[str]) -> dict[str, int]:
    graph = cascade_graph(catalog)
    graph.add_node("__root__")
    graph.add_edges_from(("__root__", r) for r in roots)
    lengths = nx.single_source_shortest_path_length(graph, "__root__")
    return {p: d - 1 for p, d in lengths.items() if p != "__root__"}


def every_step(plan: RestartPlan):
    return (*plan.steps, *plan.truncated)


@given(graphs(), st.integers(min_value=0, max_value=4))
def test_a_dimension_change_restarts_its_streaming_readers_and_their_stream_readers_at_shortest_depth(graph, max_depth) -> None:
    catalog = build(*graph)
    plan = restart_plan(catalog, entity=DIM, max_depth=max_depth)
    roots = [p for p, pipe in catalog.pipes.items() if pipe.is_streaming and DIM in pipe.dimensions]
    depths = {step.pipe: step.depth for step in every_step(plan)}
    assert len(depths) == len(plan.steps) + len(plan.truncated)  # no pipe twice
    assert depths == expected_depths(catalog, roots)
    assert all(step.depth <= max_depth for step in plan.steps)
    assert all(step.depth > max_depth for step in plan.truncated)
    assert {s.pipe for s in plan.steps if s.depth == 0} == set(roots)
    assert plan.is_empty == (not roots)
    assert bool(plan.notes) or roots  # an empty plan says why


@given(graphs(), st.integers(min_value=0, max_value=4))
def test_every_step_comes_from_the_changed_entity_or_a_producer_one_depth_less(graph, max_depth) -> None:
    catalog = build(*graph)
    plan = restart_plan(catalog, entity=DIM, max_depth=max_depth)
    by_pipe = {step.pipe: step for step in every_step(plan)}
    for step in every_step(plan):
        pipe = catalog.pipes[step.pipe]
        assert pipe.is_streaming
        if step.depth == 0:
            assert (step.cause, step.via, step.entity) == (RestartCause.DIMENSION, DIM, DIM)
            continue
        cause = by_pipe[step.via]
        assert step.cause is RestartCause.CASCADE and cause.depth == step.depth - 1
        assert step.entity == catalog.pipes[step.via].output
        assert step.entity in pipe.inputs and step.entity not in pipe.dimensions
        if step.depth <= max_depth:
            assert step.via in plan.pipes


@given(graphs(), st.integers(min_value=0, max_value=4))
def test_waves_go_by_depth_each_step_after_its_cause_and_consumers_first_within_a_wave(graph, max_depth) -> None:
    catalog = build(*graph)
    plan = restart_plan(catalog, entity=DIM, max_depth=max_depth)
    position = {p: i for i, p in enumerate(plan.pipes)}
    assert [s.depth for s in plan.steps] == sorted(s.depth for s in plan.steps)
    for step in plan.steps:
        assert step.via == DIM or position[step.via] < position[step.pipe]
    full = full_graph(catalog)
    component = {p: i for i, members in enumerate(nx.strongly_connected_components(full)) for p in members}
    depth = {s.pipe: s.depth for s in plan.steps}
    for producer in plan.pipes:
        for consumer in nx.descendants(full, producer):
            if consumer in position and depth[consumer] == depth[producer] and component[consumer] != component[producer]:
                assert position[consumer] < position[producer], (consumer, producer, plan.pipes)


@given(graphs(), st.integers(min_value=0, max_value=3))
def test_a_deeper_limit_only_adds_steps(graph, max_depth) -> None:
    catalog = build(*graph)
    shallow = restart_plan(catalog, entity=DIM, max_depth=max_depth)
    deep = restart_plan(catalog, entity=DIM, max_depth=max_depth + 1)
    assert set(shallow.pipes) <= set(deep.pipes)
    assert {s.pipe for s in every_step(shallow)} == {s.pipe for s in every_step(deep)}
    assert [p for p in deep.pipes if p in set(shallow.pipes)] == list(shallow.pipes)  # same relative order


@given(graphs(), st.data())
def test_requested_pipes_are_roots_and_cascade_like_a_dimension_change(graph, data) -> None:
    catalog = build(*graph)
    streaming = sorted(p for p, pipe in catalog.pipes.items() if pipe.is_streaming)
    assume(streaming)
    requested = data.draw(st.lists(st.sampled_from(streaming), min_size=1, unique=True))
    plan = restart_plan(catalog, pipes=requested, max_depth=12)
    assert not plan.truncated  # 12 pipes at most: no cascade is deeper than 11
    assert {s.pipe: s.depth for s in plan.steps} == expected_depths(catalog, requested)
    for pipe in requested:
        step = plan.step(pipe)
        assert (step.depth, step.cause, step.via) == (0, RestartCause.REQUESTED, pipe)
