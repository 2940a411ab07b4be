"""Planning: the pipe graph, execution strategies' inputs, execution plans and the planner.

Works without pyspark, and without networkx (a pure-Python path covers everything planning
needs; networkx adds :meth:`PipeGraph.to_networkx`). Typical use goes through the app::

    plan = app.plan(strategy="hybrid")          # Planner.plan(app.catalog, ...)
    for generation in plan.generations: ...
    print(plan.to_text()); print(plan.explain("gold.revenue"))
"""

from kindling_core.planning.errors import (
    CycleError,
    DuplicatePipeError,
    DuplicateProducerError,
    PlanningError,
    SelfLoopError,
    StrategyError,
    UnknownPipeError,
)
from kindling_core.planning.graph import PipeGraph, networkx_available
from kindling_core.planning.plan import ExecutionPlan, Explanation
from kindling_core.planning.planner import PlanCacheInfo, Planner
from kindling_core.planning.types import CacheContext, StrategyInput

__all__ = [
    "CacheContext",
    "CycleError",
    "DuplicatePipeError",
    "DuplicateProducerError",
    "ExecutionPlan",
    "Explanation",
    "PipeGraph",
    "PlanCacheInfo",
    "Planner",
    "PlanningError",
    "SelfLoopError",
    "StrategyError",
    "StrategyInput",
    "UnknownPipeError",
    "networkx_available",
]
