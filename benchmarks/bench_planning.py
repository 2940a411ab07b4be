"""Planning benchmark: declarations → batch / streaming plan, cached re-plan, vs networkx.

Synthetic DAGs: ``N`` pipes in ``L`` layers; every pipe after the first layer reads one entity of
the previous layer and one of any earlier layer (about 2 inputs each, exactly ``L`` generations);
first-layer pipes read an external source. Same seed, same graph, every run.

Measured in the same process, best of ``--repeat`` runs (a fresh planner each time, so nothing
is cached unless stated):

``declare``      declaring the N pipes on a fresh app (id, signature and dimension validation,
                 incremental catalog fingerprint);
``batch``        ``Planner.plan(catalog, "batch")`` from the declared catalog: graph build
                 (entity → producer index), cycle check, strategy, cache heuristic, plan;
``streaming``    the same with the streaming strategy;
``cached``       a repeated ``plan()`` answered from the plan cache (median of 200);
``nx``           the baseline: ``networkx.DiGraph`` from the prebuilt pipe-to-pipe edge list plus
                 ``list(networkx.topological_generations(graph))`` (``nx tg`` = the latter only).

Targets (issue 3): 100,000 pipes planned in under 2 s and within 3x of the networkx baseline;
a cached re-plan under 5 ms. Run: ``python benchmarks/bench_planning.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("kindling_core") is None:  # running from a checkout without install
    sys.path.insert(0, str(ROOT))


def _import_builtin_plugins() -> tuple[Any, Any]:
    if importlib.util.find_spec("kindling_plugins") is None:
        spec = importlib.util.spec_from_file_location(
            "kindling_plugins", ROOT / "plugins" / "__init__.py", submodule_search_locations=[str(ROOT / "plugins")]
        )
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules["kindling_plugins"] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    import kindling_plugins.cache
    import kindling_plugins.strategies

    return kindling_plugins.strategies, kindling_plugins.cache


def synthetic(n: int, layers: int, seed: int = 7) -> list[tuple[str, list[str], str]]:
    """``[(pipe_id, inputs, output)]`` for an ``n``-pipe, ``layers``-deep DAG (see module doc)."""
    rng = random.Random(seed)
    per_layer = max(1, n // layers)
    specs: list[tuple[str, list[str], str]] = []
    outputs_by_layer: list[list[str]] = []
    index = 0
    for layer in range(layers):
        count = per_layer if layer < layers - 1 else n - per_layer * (layers - 1)
        outs: list[str] = []
        for _ in range(count):
            pid = f"l{layer}.p{index}"
            out = f"l{layer}.e{index}"
            if layer == 0:
                inputs = [f"raw.s{index}"]
            else:
                first = rng.choice(outputs_by_layer[layer - 1])
                earlier = outputs_by_layer[rng.randrange(layer)]
                second = rng.choice(earlier)
                inputs = [first] if second == first else [first, second]
            specs.append((pid, inputs, out))
            outs.append(out)
            index += 1
        outputs_by_layer.append(outs)
    return specs


def transform(*frames: Any) -> None:
    """The benchmark's pipe function (never called)."""


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def run_case(n: int, layers: int, repeat: int) -> dict[str, float]:
    import networkx as nx

    from kindling_core.app import App
    from kindling_core.config import KindlingConfig
    from kindling_core.planning import Planner

    strategies, cache = _import_builtin_plugins()
    specs = synthetic(n, layers)

    def declare() -> Any:
        app = App(config=KindlingConfig(), plugins={"strategies": strategies, "cache": cache}, entry_points=[])
        for pid, inputs, out in specs:
            app.catalog.add_pipe(pid, func=transform, inputs=inputs, output=out)
        return app

    t_declare, app = best(declare, repeat)
    catalog = app.catalog

    def plan(strategy: str) -> Any:
        planner = Planner(config=app.config, registry=app.registry, signals=app.signals)
        return planner.plan(catalog, strategy=strategy)

    t_batch, batch_plan = best(lambda: plan("batch"), repeat)
    t_stream, stream_plan = best(lambda: plan("streaming"), repeat)
    assert len(batch_plan.generations) == layers and batch_plan.pipe_count == n
    assert stream_plan.generations == tuple(reversed(batch_plan.generations))

    planner = app.planner
    planner.plan(catalog)
    cached = []
    for _ in range(200):
        started = time.perf_counter()
        planner.plan(catalog)
        cached.append(time.perf_counter() - started)
    t_cached = statistics.median(cached)

    producer = {out: pid for pid, _inputs, out in specs}
    edges = [(producer[e], pid) for pid, inputs, _out in specs for e in inputs if e in producer]
    ids = [pid for pid, _i, _o in specs]

    def baseline() -> Any:
        graph = nx.DiGraph()
        graph.add_nodes_from(ids)
        graph.add_edges_from(edges)
        return list(nx.topological_generations(graph))

    t_nx, generations = best(baseline, repeat)
    assert len(generations) == layers
    prebuilt = nx.DiGraph()
    prebuilt.add_nodes_from(ids)
    prebuilt.add_edges_from(edges)
    t_nx_tg, _ = best(lambda: list(nx.topological_generations(prebuilt)), repeat)
    return {
        "n": n,
        "layers": layers,
        "edges": len(edges),
        "declare": t_declare,
        "batch": t_batch,
        "streaming": t_stream,
        "cached": t_cached,
        "nx": t_nx,
        "nx_tg": t_nx_tg,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-pipe cases")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    cases = [(1_000, 20), (10_000, 20), (100_000, 20), (100_000, 500)]
    if args.quick:
        cases = [(1_000, 20), (10_000, 20), (10_000, 500)]
    header = (
        f"{'pipes':>8} {'layers':>6} {'edges':>7} | {'declare':>8} {'batch':>8} {'stream':>8} "
        f"{'decl+batch':>10} {'cached':>8} | {'nx':>8} {'nx tg':>8} | {'batch/nx':>8} {'stream/nx':>9}"
    )
    print(f"python {sys.version.split()[0]}, best of {args.repeat} (cached: median of 200); seconds unless noted")
    print(header)
    print("-" * len(header))
    failed = False
    for n, layers in cases:
        r = run_case(n, layers, args.repeat)
        batch_ratio, stream_ratio = r["batch"] / r["nx"], r["streaming"] / r["nx"]
        print(
            f"{n:>8,} {layers:>6} {r['edges']:>7,} | {r['declare']:>8.3f} {r['batch']:>8.3f} {r['streaming']:>8.3f} "
            f"{r['declare'] + r['batch']:>10.3f} {r['cached'] * 1e3:>6.3f}ms | {r['nx']:>8.3f} {r['nx_tg']:>8.3f} | "
            f"{batch_ratio:>7.2f}x {stream_ratio:>8.2f}x"
        )
        if n == 100_000:
            failed |= r["batch"] > 2.0 or r["streaming"] > 2.0 or batch_ratio > 3.0 or stream_ratio > 3.0
        failed |= r["cached"] > 0.005
    print("targets: 100k plan < 2 s, within 3x of nx; cached re-plan < 5 ms ->", "FAILED" if failed else "met")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
