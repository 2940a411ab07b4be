"""The planner: catalog → graph → strategy → cache advice → :class:`ExecutionPlan`, cached.

``Planner.plan(catalog, strategy=None, pipes=None)``:

1. selects the strategy by name (argument, else ``tool.kindling.strategy``); an unknown name
   raises :class:`~kindling_core.errors.UnknownNameError` with did-you-mean and the list;
2. looks the request up in the plan cache. The key is the catalog's content fingerprint (all
   entity and pipe metadata, O(1) to read, see :class:`~kindling_core.model.Catalog`), the
   strategy name and the ``pipes=`` restriction; the relevant configuration (cache storage
   level, size threshold, active cache heuristics and their order, the strategy's plugin
   settings) is fixed per planner and folded into every fingerprint. A hit returns the very
   same immutable plan and emits ``plan.cache_hit``; a miss emits ``plan.cache_missed``;
3. on a miss builds (or reuses, per catalog fingerprint) the :class:`PipeGraph`, restricts it
   to ``pipes`` and everything they depend on (their transitive upstream producers, so the
   plan can actually run), rejects cycles, calls the strategy, validates its answer (every
   pipe exactly once), asks every active cache heuristic in configured order (first
   recommendation per entity wins; a heuristic that raises or returns something other than
   an iterable of :class:`~kindling_core.items.CacheRecommendation` is reported to the error
   handlers, attributed to its plugin, and skipped: cache advice is advisory), builds the plan and emits ``plan.after_plan`` and, when
   there is advice, ``cache.recommended`` (once, listing every recommendation). A planning error emits ``plan.plan_failed`` and
   propagates.

Cached plans keep the cache advice computed when they were made; after a size provider's
answers change, call :meth:`Planner.clear_cache`. The planner is thread-safe: the cache is
guarded by a lock (two threads missing at once may both plan; the results are equal).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kindling_core.errorhandling import SKIPPED, ItemResultError, call_plugin_item
from kindling_core.errors import KindlingError
from kindling_core.items import CacheRecommendation
from kindling_core.model.catalog import Catalog
from kindling_core.planning import signals as sig
from kindling_core.planning.errors import StrategyError
from kindling_core.planning.graph import PipeGraph
from kindling_core.planning.plan import ExecutionPlan
from kindling_core.planning.types import CacheContext, PipeIndex, SizeProvider, StrategyInput

__all__ = ["Planner", "PlanCacheInfo"]


class PlanCacheInfo(tuple):
    """``(hits, misses, size, max_size)`` of the plan cache."""

    __slots__ = ()

    def __new__(cls, hits: int, misses: int, size: int, max_size: int) -> PlanCacheInfo:
        return super().__new__(cls, (hits, misses, size, max_size))

    hits = property(lambda self: self[0])
    misses = property(lambda self: self[1])
    size = property(lambda self: self[2])
    max_size = property(lambda self: self[3])


def _hex(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


class Planner:
    """Plans catalogs with the app's strategies and cache heuristics (see module docstring).

    ``config`` is the app's :class:`~kindling_core.config.KindlingConfig`, ``registry`` its
    plugin :class:`~kindling_core.plugins.Registry`, ``signals`` its signal bus (``None``:
    no signals). ``size_provider(entity_id) -> int | None`` feeds the size threshold of cache
    heuristics. ``cache_size`` bounds the plan cache (least recently used plans go first).
    ``errors`` (the app's :class:`~kindling_core.errorhandling.ErrorReporter`) receives a
    cache heuristic's failure (``None``: logged under ``kindling.errors``).
    """

    def __init__(
        self,
        *,
        config: Any,
        registry: Any,
        signals: Any = None,
        size_provider: SizeProvider | None = None,
        cache_size: int = 64,
        errors: Any = None,
    ) -> None:
        self._config = config
        self._errors = errors
        self._registry = registry
        self._signals = signals
        self._size_provider = size_provider
        self._cache_size = max(1, cache_size)
        self._lock = threading.Lock()
        self._plans: OrderedDict[tuple[Any, ...], ExecutionPlan] = OrderedDict()
        self._graphs: OrderedDict[str, PipeGraph] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._heuristics = tuple(registry.family("cache-heuristics"))
        cache = config.cache
        self._config_fp = _hex(
            "config",
            cache.storage_level,
            float(cache.min_size_mb),
            tuple(h.name for h in self._heuristics),
        )
        if signals is not None:
            for spec in sig.EMITS:
                if not signals.is_declared(spec):
                    signals.declare(spec)

    # ------------------------------------------------------------------ cache control

    @property
    def size_provider(self) -> SizeProvider | None:
        return self._size_provider

    @size_provider.setter
    def size_provider(self, provider: SizeProvider | None) -> None:
        """Set the entity size provider; clears the plan cache (advice depends on it)."""
        self._size_provider = provider
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget every cached plan and graph."""
        with self._lock:
            self._plans.clear()
            self._graphs.clear()

    def cache_info(self) -> PlanCacheInfo:
        with self._lock:
            return PlanCacheInfo(self._hits, self._misses, len(self._plans), self._cache_size)

    # ------------------------------------------------------------------ planning

    def plan(self, catalog: Catalog, strategy: str | None = None, pipes: Sequence[str] | None = None) -> ExecutionPlan:
        """Plan ``catalog`` (see the module docstring for the steps and the cache)."""
        name = strategy or self._config.strategy
        item = self._registry.strategy(name)
        requested: tuple[str, ...] | None
        if pipes is None:
            requested = None
        else:
            requested = tuple(sorted(dict.fromkeys([pipes] if isinstance(pipes, str) else pipes)))
        catalog_fp = catalog.fingerprint
        key = (catalog_fp, name, requested)
        with self._lock:
            cached = self._plans.get(key)
            if cached is not None:
                self._plans.move_to_end(key)
                self._hits += 1
            else:
                self._misses += 1
        if cached is not None:
            self._emit(sig.PLAN_CACHE_HIT, sig.PlanLookup(name, requested, catalog_fp, cached.fingerprint))
            return cached
        self._emit(sig.PLAN_CACHE_MISSED, sig.PlanLookup(name, requested, catalog_fp))
        started = time.perf_counter()
        try:
            plan, planned_fp = self._generate(catalog, name, item, requested)
        except KindlingError as exc:
            self._emit(sig.PLAN_FAILED, sig.PlanFailed(name, requested, exc))
            raise
        with self._lock:
            plan_key = (planned_fp, name, requested)
            self._plans[plan_key] = plan
            self._plans.move_to_end(plan_key)
            while len(self._plans) > self._cache_size:
                self._plans.popitem(last=False)
        duration = time.perf_counter() - started
        self._emit(
            sig.AFTER_PLAN,
            sig.PlanGenerated(plan, name, plan.fingerprint, plan.pipe_count, len(plan.generations), duration),
        )
        if plan.cache_recommendations:
            self._emit(sig.CACHE_RECOMMENDED, sig.CacheAdvice(plan.cache_recommendations, name, plan.fingerprint))
        return plan

    def graph(self, catalog: Catalog) -> PipeGraph:
        """The full graph of ``catalog`` (cached per catalog fingerprint)."""
        pipes, _entities, fingerprint = catalog.snapshot()
        return self._graph_for(pipes, fingerprint)

    def _graph_for(self, pipes: Sequence[Any], fingerprint: str) -> PipeGraph:
        with self._lock:
            graph = self._graphs.get(fingerprint)
        if graph is None:
            graph = PipeGraph.from_pipes(pipes)
            with self._lock:
                self._graphs[fingerprint] = graph
                while len(self._graphs) > 4:
                    self._graphs.popitem(last=False)
        return graph

    def _generate(
        self, catalog: Catalog, name: str, item: Any, requested: tuple[str, ...] | None
    ) -> tuple[ExecutionPlan, str]:
        """A new plan and the catalog fingerprint it was made from (the snapshot's)."""
        pipes, entities, catalog_fp = catalog.snapshot()
        graph = self._graph_for(pipes, catalog_fp)
        if requested is not None:
            closure = graph.upstream_closure(requested)
            if len(closure) != len(graph):
                graph = graph.restrict(closure)
        graph.check_acyclic()
        view = self._registry.family("execution-strategies")
        plugin = _origin(view, name)
        settings = self._registry.settings_for(plugin) if plugin else {}
        try:
            raw = item.plan(StrategyInput(graph, name, settings, declared_pipes=PipeIndex(pipes)))
            generations = tuple(tuple(g) for g in raw)
        except KindlingError:
            raise
        except Exception as exc:
            raise StrategyError(name, f"it raised {type(exc).__name__}: {exc}", plugin) from exc
        generations = tuple(g for g in generations if g)
        if raw is not graph.generations() and raw is not graph.reverse_generations():
            _check_generations(name, plugin, generations, graph)  # the graph's own layerings are valid
        recommendations = self._recommend(name, generations, graph, entities)
        fingerprint = _hex("plan", catalog_fp, name, requested, self._config_fp, _hex(sorted(settings.items())))
        plan = ExecutionPlan(
            strategy=name,
            generations=generations,
            modes=dict(graph.modes.items()),  # copying the read-only view itself goes key by key (10x slower)
            cache_recommendations=recommendations,
            fingerprint=fingerprint,
            requested=requested,
            external_sources=graph.external_sources,
            graph=graph,
        )
        return plan, catalog_fp

    def _recommend(
        self, name: str, generations: tuple[tuple[str, ...], ...], graph: PipeGraph, entities: Any
    ) -> tuple[CacheRecommendation, ...]:
        if not self._heuristics:
            return ()
        cache = self._config.cache
        context = CacheContext(
            strategy=name,
            generations=generations,
            graph=graph,
            entities=entities,
            storage_level=cache.storage_level,
            min_size_mb=float(cache.min_size_mb),
            size_provider=self._size_provider,
        )
        chosen: dict[str, CacheRecommendation] = {}
        during = f"recommending what to cache for a {name!r} plan"
        for entry in self._registry.family("cache-heuristics").attributed():
            heuristic = entry.item
            # Iterating happens inside the call, so a generator that raises half-way counts as
            # the heuristic raising, and none of its recommendations is used.
            produced = call_plugin_item(
                self._errors, entry, _recommendations, heuristic, context, during=during, strategy=name
            )
            if produced is SKIPPED:
                continue
            for rec in produced:
                if not rec.heuristic:
                    rec = CacheRecommendation(rec.entity, rec.storage_level, rec.reason, heuristic.name, rec.size_bytes)
                chosen.setdefault(rec.entity, rec)
        return tuple(chosen.values())

    def _emit(self, spec: Any, payload: Any) -> None:
        if self._signals is not None:
            self._signals.emit(spec, payload)

    def __repr__(self) -> str:
        info = self.cache_info()
        return f"<Planner cache {info.size}/{info.max_size} hits={info.hits} misses={info.misses}>"


def _recommendations(heuristic: Any, context: CacheContext) -> tuple[CacheRecommendation, ...]:
    """Call ``heuristic.recommend`` and check its answer: ``None`` or an iterable of
    :class:`CacheRecommendation` (not one alone, not a string or a mapping)."""
    answer = heuristic.recommend(context)
    if answer is None:
        return ()
    if isinstance(answer, CacheRecommendation):
        raise ItemResultError(
            f"returned a single CacheRecommendation for {answer.entity!r} instead of an iterable; return [recommendation]"
        )
    if isinstance(answer, (str, bytes, Mapping)) or not isinstance(answer, Iterable):
        raise ItemResultError(f"returned {type(answer).__name__} {answer!r:.60}, not an iterable of CacheRecommendation")
    produced = tuple(answer)
    for rec in produced:
        if not isinstance(rec, CacheRecommendation):
            raise ItemResultError(f"returned {type(rec).__name__} {rec!r:.60} among its recommendations, not a CacheRecommendation")
    return produced


def _origin(view: Any, name: str) -> str | None:
    """Id of the plugin that provided item ``name`` (``None`` when unknown)."""
    try:
        return view.origin(name)
    except (KeyError, AttributeError):
        return None


def _check_generations(name: str, plugin: str | None, generations: tuple[tuple[str, ...], ...], graph: PipeGraph) -> None:
    """Every pipe of ``graph`` exactly once; nothing else."""
    flat = [pipe_id for generation in generations for pipe_id in generation]
    if len(flat) == len(graph) and graph.modes.keys() == set(flat):  # the keys are the graph's pipes
        return
    seen: set[str] = set()
    for generation in generations:
        for pipe_id in generation:
            if pipe_id in seen:
                raise StrategyError(name, f"pipe {pipe_id!r} appears more than once", plugin)
            if pipe_id not in graph:
                raise StrategyError(name, f"{pipe_id!r} is not a pipe of the planned graph", plugin)
            seen.add(pipe_id)
    if len(seen) != len(graph):
        missing = [p for p in graph.pipes if p not in seen]
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise StrategyError(name, f"{len(missing)} pipe(s) are missing: {shown}", plugin)
