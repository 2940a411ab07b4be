"""Built-in execution strategies: ``batch``, ``streaming`` and ``hybrid``.

Each is a pure function of a :class:`~kindling_core.planning.types.StrategyInput` over an
acyclic graph; ids are sorted inside every generation, so plans are deterministic.

``batch``
    forward topological generations: a pipe's generation is the number of edges on its
    longest upstream chain (as early as its producers allow).
``streaming``
    the batch generations in reverse: consumers start before producers, so every query is
    listening before data arrives upstream of it.
``hybrid``
    per pipe mode: all batch pipes first, in forward generations of the batch pipes alone;
    then all streaming pipes, consumers first (reversed forward generations of the streaming
    pipes alone). A streaming pipe's batch prerequisites therefore always precede it. A batch
    pipe reading a streaming pipe's output reads the table as it is when the batch part runs.
"""

from __future__ import annotations

from kindling_core.plugin import ExecutionStrategy, PipeMode, StrategyInput, hookimpl

__all__ = ["plan_batch", "plan_streaming", "plan_hybrid", "kindling_execution_strategies"]


def plan_batch(request: StrategyInput) -> tuple[tuple[str, ...], ...]:
    """Producers first: forward topological generations."""
    return request.topological_generations()


def plan_streaming(request: StrategyInput) -> tuple[tuple[str, ...], ...]:
    """Consumers first: the batch generations reversed."""
    return request.reverse_generations()


def plan_hybrid(request: StrategyInput) -> tuple[tuple[str, ...], ...]:
    """Batch pipes forward, then streaming pipes consumers-first."""
    batch = request.pipes_in_mode(PipeMode.BATCH)
    streaming = request.pipes_in_mode(PipeMode.STREAMING)
    return request.generations_of(batch) + tuple(reversed(request.generations_of(streaming)))


@hookimpl
def kindling_execution_strategies() -> list[ExecutionStrategy]:
    return [
        ExecutionStrategy(
            name="batch",
            description="forward topological generations: producers before consumers",
            plan=plan_batch,
        ),
        ExecutionStrategy(
            name="streaming",
            description="reverse generations: consumers start before their producers",
            plan=plan_streaming,
        ),
        ExecutionStrategy(
            name="hybrid",
            description="batch pipes first (producers first), then streaming pipes consumers-first",
            plan=plan_hybrid,
        ),
    ]
