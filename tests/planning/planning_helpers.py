"""Helpers for planning tests: apps with only the built-in planning plugins, random graphs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kindling_core.config import KindlingConfig, with_overrides


def make_app(**overrides: Any):
    """An App with the built-in strategies and cache heuristic, default config plus overrides."""
    import kindling_plugins.cache
    import kindling_plugins.strategies
    from kindling_core.app import App

    config = KindlingConfig()
    if overrides:
        config = with_overrides(config, **overrides)
    return App(
        config=config,
        plugins={"strategies": kindling_plugins.strategies, "cache": kindling_plugins.cache},
        entry_points=[],
    )


def any_func(*frames: Any) -> None:
    """A pipe function accepting any number of inputs."""


def pid(i: int) -> str:
    return f"p.n{i}"


def eid(i: int) -> str:
    return f"e.n{i}"


def declare_edges(
    catalog: Any, n: int, edges: Iterable[tuple[int, int]], modes: Sequence[str] | None = None, order: Sequence[int] | None = None
) -> None:
    """Declare pipes ``p.n{i}`` writing ``e.n{i}``; ``(u, v)`` makes ``p.n{v}`` read ``e.n{u}``.

    Pipes without predecessors read an external ``raw.n{i}``. ``order`` permutes declaration order.
    """
    inputs: dict[int, list[str]] = {i: [] for i in range(n)}
    for u, v in edges:
        if eid(u) not in inputs[v]:
            inputs[v].append(eid(u))
    for i in order if order is not None else range(n):
        ins = inputs[i] or [f"raw.n{i}"]
        catalog.add_pipe(pid(i), func=any_func, inputs=ins, output=eid(i), mode=(modes[i] if modes else "batch"))
