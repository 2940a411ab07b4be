"""Signals the planner emits (declared here, catalogued by :mod:`kindling_core.signal_catalog`).

==========================  =====================  ==============================================
signal                      payload                emitted
==========================  =====================  ==============================================
``plan.cache_hit``          :class:`PlanLookup`    a plan request was answered from the plan cache
``plan.cache_missed``       :class:`PlanLookup`    a plan request was not in the cache (a plan
                                                   will be generated)
``plan.after_plan``         :class:`PlanGenerated` a new plan was generated (cache misses only)
``plan.plan_failed``        :class:`PlanFailed`    generating a plan raised (cycle, unknown pipe,
                                                   broken strategy...)
``cache.recommended``       :class:`CacheAdvice`   a new plan carries cache recommendations (once
                                                   per plan, with all of them)
==========================  =====================  ==============================================

Payloads are frozen attrs classes. Signals observe: receivers cannot change the plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from kindling_core.items import CacheRecommendation
from kindling_core.signals import SignalSpec

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.planning.plan import ExecutionPlan

__all__ = [
    "PlanLookup",
    "PlanGenerated",
    "PlanFailed",
    "CacheAdvice",
    "PLAN_CACHE_HIT",
    "PLAN_CACHE_MISSED",
    "AFTER_PLAN",
    "PLAN_FAILED",
    "CACHE_RECOMMENDED",
    "EMITS",
]


@attrs.frozen
class PlanLookup:
    """A plan-cache lookup: the strategy, the ``pipes=`` restriction and the cache key's
    catalog fingerprint; ``plan_fingerprint`` is set on hits."""

    strategy: str
    requested: tuple[str, ...] | None
    catalog_fingerprint: str
    plan_fingerprint: str | None = None


@attrs.frozen
class PlanGenerated:
    """A newly generated plan and how long planning took (seconds, graph build included)."""

    plan: ExecutionPlan
    strategy: str
    fingerprint: str
    pipe_count: int
    generation_count: int
    duration_seconds: float


@attrs.frozen
class PlanFailed:
    """Planning raised ``error`` (a :class:`~kindling_core.errors.KindlingError` for user mistakes)."""

    strategy: str
    requested: tuple[str, ...] | None
    error: BaseException


@attrs.frozen
class CacheAdvice:
    """The cache recommendations of a newly generated plan (one signal per plan, not per
    entity: a 100,000-pipe plan may carry tens of thousands)."""

    recommendations: tuple[CacheRecommendation, ...]
    strategy: str
    plan_fingerprint: str


PLAN_CACHE_HIT = SignalSpec(
    "plan.cache_hit",
    PlanLookup,
    doc="A plan request was answered from the plan cache (same metadata, strategy and configuration).",
    emitter="Planner",
)
PLAN_CACHE_MISSED = SignalSpec(
    "plan.cache_missed",
    PlanLookup,
    doc="A plan request missed the plan cache; a new plan is generated.",
    emitter="Planner",
)
AFTER_PLAN = SignalSpec(
    "plan.after_plan",
    PlanGenerated,
    doc="A new execution plan was generated (not emitted for cache hits).",
    emitter="Planner",
)
PLAN_FAILED = SignalSpec(
    "plan.plan_failed",
    PlanFailed,
    doc="Generating a plan raised (cycle, two writers, unknown pipe id, broken strategy or heuristic).",
    emitter="Planner",
)
CACHE_RECOMMENDED = SignalSpec(
    "cache.recommended",
    CacheAdvice,
    doc="A newly generated plan carries cache recommendations (advisory); the payload lists them all.",
    emitter="Planner",
)

EMITS: tuple[SignalSpec, ...] = (PLAN_CACHE_HIT, PLAN_CACHE_MISSED, AFTER_PLAN, PLAN_FAILED, CACHE_RECOMMENDED)
