"""PipeGraph: construction, external sources, writers, cycles (iterative), fallbacks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kindling_core.errors import KindlingError
from kindling_core.model import Catalog
from kindling_core.planning import (
    CycleError,
    DuplicateProducerError,
    PipeGraph,
    SelfLoopError,
    UnknownPipeError,
)

from planning_helpers import any_func

ROOT = Path(__file__).resolve().parents[2]


def graph_of(*specs: tuple[str, list[str], str]) -> PipeGraph:
    catalog = Catalog()
    for pipe_id, inputs, output in specs:
        catalog.add_pipe(pipe_id, func=any_func, inputs=inputs, output=output)
    return PipeGraph.from_pipes(catalog.pipes.values())


def test_edges_external_sources_and_generations() -> None:
    graph = graph_of(
        ("silver.orders", ["bronze.orders", "silver.customers"], "silver.orders"),
        ("bronze.orders", ["raw.orders"], "bronze.orders"),
        ("silver.customers", ["raw.customers"], "silver.customers"),
        ("gold.revenue", ["silver.orders"], "gold.revenue"),
    )
    assert graph.external_sources == ("raw.customers", "raw.orders")
    assert sorted(graph.edges()) == [
        ("bronze.orders", "silver.orders", "bronze.orders"),
        ("silver.customers", "silver.orders", "silver.customers"),
        ("silver.orders", "gold.revenue", "silver.orders"),
    ]
    assert graph.generations() == (("bronze.orders", "silver.customers"), ("silver.orders",), ("gold.revenue",))
    assert graph.reverse_generations() == tuple(reversed(graph.generations()))
    assert graph.longest_chain("gold.revenue") == ("bronze.orders", "silver.orders", "gold.revenue")
    assert graph.producer("raw.orders") is None
    assert graph.consumers["silver.orders"] == ("gold.revenue",)


def test_two_writers_of_one_entity_names_both_pipes_and_the_entity() -> None:
    with pytest.raises(DuplicateProducerError) as info:
        graph_of(("load.a", ["raw.a"], "silver.t"), ("load.b", ["raw.b"], "silver.t"))
    message = str(info.value)
    assert "'silver.t'" in message and "'load.a'" in message and "'load.b'" in message
    assert info.value.entity == "silver.t" and info.value.pipes == ("load.a", "load.b")
    assert isinstance(info.value, KindlingError)


def test_cycle_error_prints_the_full_path_with_entities() -> None:
    graph = graph_of(
        ("a", ["c_out", "raw.x"], "a_out"),
        ("b", ["a_out"], "b_out"),
        ("c", ["b_out"], "c_out"),
        ("d", ["c_out"], "d_out"),  # downstream of the cycle, not on it
    )
    with pytest.raises(CycleError) as info:
        graph.generations()
    error = info.value
    assert error.cycle == ("a", "b", "c")
    assert "a -> b -> c -> a" in str(error)
    assert "a writes 'a_out', read by b" in str(error)
    assert error.entities == ("a_out", "b_out", "c_out")
    assert error.components == (("a", "b", "c"),)
    assert not graph.is_acyclic() and graph.find_cycle() == ("a", "b", "c")


def test_self_loop_is_its_own_error() -> None:
    graph = graph_of(("p", ["t", "raw.x"], "t"))
    with pytest.raises(SelfLoopError) as info:
        graph.check_acyclic()
    assert "self-loop" in str(info.value) and "'p' reads its own output 't'" in str(info.value)
    assert info.value.cycle == ("p",) and "p -> p" in str(info.value)
    assert isinstance(info.value, CycleError)


def test_all_cycles_members_are_listed() -> None:
    graph = PipeGraph.from_edges([("a", "b"), ("b", "a"), ("c", "d"), ("d", "e"), ("e", "c"), ("f", "f"), ("a", "g")])
    assert graph.cyclic_components() == (("a", "b"), ("c", "d", "e"), ("f",))
    with pytest.raises(CycleError) as info:
        graph.generations()
    assert len(info.value.components) == 3


def test_upstream_closure_and_unknown_ids() -> None:
    graph = PipeGraph.from_edges([("a", "b"), ("b", "c"), ("x", "c"), ("c", "d"), ("y", "z")])
    assert set(graph.upstream_closure(["c"])) == {"a", "b", "c", "x"}
    with pytest.raises(UnknownPipeError) as info:
        graph.upstream_closure(["cc", "q"])
    assert "'cc' (did you mean 'c'?)" in str(info.value)
    assert info.value.unknown == ("cc", "q")


def _chain(n: int, close: bool = False) -> PipeGraph:
    ids = [f"p{i}" for i in range(n)]
    inputs = {ids[0]: (f"e{n - 1}",) if close else ("raw",)}
    inputs.update({ids[i]: (f"e{i - 1}",) for i in range(1, n)})
    return PipeGraph(ids, inputs, {ids[i]: f"e{i}" for i in range(n)}, {p: "batch" for p in ids})  # type: ignore[misc]


def test_100k_chain_plans_without_recursion() -> None:
    graph = _chain(100_000)
    generations = graph.generations()
    assert len(generations) == 100_000
    assert len(graph.longest_chain("p99999")) == 100_000


def test_100k_cycle_is_found_iteratively_and_printed_bounded() -> None:
    graph = _chain(100_000, close=True)
    with pytest.raises(CycleError) as info:
        graph.generations()
    assert len(info.value.cycle) == 100_000
    assert "more pipes" in str(info.value) and len(str(info.value)) < 10_000


def test_tarjan_fallback_matches_networkx_on_a_long_cycle() -> None:
    from kindling_core.planning import graph as graph_module

    graph = _chain(50_000, close=True)
    ours = graph_module._tarjan(graph.pipes, {p: graph.downstream(p) for p in graph.pipes})
    assert [len(c) for c in ours] == [50_000]


def test_planning_works_without_networkx() -> None:
    """Hide networkx in a fresh interpreter: planning, cycle errors and components still work."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["networkx"] = None          # import networkx -> ImportError
        sys.path[:0] = [{str(ROOT)!r}, {str(Path(__file__).parent)!r}]
        import conftest  # makes kindling_plugins importable from plugins/
        from planning_helpers import make_app
        from kindling_core.planning import networkx_available, CycleError, PipeGraph, PlanningError
        assert not networkx_available()
        app = make_app()
        app.entity("raw.orders", path="/raw")
        app.pipe("a.x", inputs=["raw.orders"], output="a.x")(lambda o: o)
        app.pipe("b.y", inputs=["a.x"], output="b.y", mode="streaming")(lambda o: o)
        assert app.plan().generations == (("a.x",), ("b.y",))
        assert app.plan(strategy="streaming").generations == (("b.y",), ("a.x",))
        g = PipeGraph.from_edges([("a", "b"), ("b", "a"), ("c", "c")])
        assert g.cyclic_components() == (("a", "b"), ("c",))
        try:
            g.to_networkx()
        except PlanningError as exc:
            assert "networkx is not installed" in str(exc)
        else:
            raise AssertionError("to_networkx should fail without networkx")
        assert "networkx" not in sys.modules or sys.modules["networkx"] is None
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_to_networkx_carries_modes_and_entities() -> None:
    graph = graph_of(("a", ["raw.x"], "a_out"), ("b", ["a_out"], "b_out"))
    nx_graph = graph.to_networkx()
    assert nx_graph.nodes["a"]["mode"] == "batch"
    assert nx_graph.edges["a", "b"]["entity"] == "a_out"


def test_100k_chain_declared_consumers_first_plans_without_recursion() -> None:
    """The one-pass layering needs producers first; in reverse order every pipe is settled by
    the iterative walk up its producers (100,000 deep)."""
    chain = _chain(100_000)
    ids = list(reversed(chain.pipes))
    graph = PipeGraph(ids, {p: chain.inputs(p) for p in ids}, {p: chain.output(p) for p in ids}, {p: "batch" for p in ids})  # type: ignore[misc]
    assert graph.generations() == chain.generations()
    assert graph.levels()["p99999"] == 99_999


def test_descendants_are_every_pipe_downstream() -> None:
    graph = PipeGraph.from_edges([("a", "b"), ("b", "c"), ("a", "d"), ("x", "c"), ("c", "e")])
    assert graph.descendants("a") == {"b", "c", "d", "e"}
    assert graph.descendants("e") == set()
    with pytest.raises(UnknownPipeError) as info:
        graph.descendants("bb")
    assert "'bb' (did you mean 'b'?)" in str(info.value)


def test_consumers_are_sorted_by_entity_and_by_reader() -> None:
    graph = graph_of(
        ("z.last", ["raw.b", "raw.a"], "z.out"),
        ("a.first", ["raw.b"], "a.out"),
        ("m.mid", ["raw.b", "z.out"], "m.out"),
    )
    assert list(graph.consumers.items()) == [
        ("raw.a", ("z.last",)),
        ("raw.b", ("a.first", "m.mid", "z.last")),
        ("z.out", ("m.mid",)),
    ]
    assert graph.external_sources == ("raw.a", "raw.b")
    assert graph.downstream("z.last") == ("m.mid",)
