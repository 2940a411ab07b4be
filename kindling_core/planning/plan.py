"""The execution plan: what a strategy decided, frozen, with explanations and renderers.

An :class:`ExecutionPlan` is immutable and shared: the planner caches it and may hand the same
object to several callers. ``generations`` is therefore a tuple of tuples (not lists), so no
caller can corrupt the cache. Invariants (checked by the planner before a plan is built):
every planned pipe appears in exactly one generation, and no generation is empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from kindling_core.items import CacheRecommendation
from kindling_core.model.pipe import PipeMode
from kindling_core.planning.graph import PipeGraph

__all__ = ["ExecutionPlan", "Explanation"]


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Explanation:
    """Why a pipe sits in its generation: its longest dependency chain under the strategy.

    ``chain`` runs from a root producer to ``pipe``; ``entities[i]`` is the entity
    ``chain[i]`` writes and ``chain[i + 1]`` reads. ``scope`` says which pipes the chain was
    measured over (``"all"``, or ``"batch"`` / ``"streaming"`` inside a hybrid plan).
    """

    pipe: str
    strategy: str
    mode: str
    generation: int
    generation_count: int
    chain: tuple[str, ...]
    entities: tuple[str, ...]
    scope: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=False) | {"chain": list(self.chain), "entities": list(self.entities)}

    def __str__(self) -> str:
        links = "; ".join(
            f"{self.chain[i]} writes {self.entities[i]!r}, read by {self.chain[i + 1]}" for i in range(len(self.entities))
        )
        lines = [
            f"pipe {self.pipe!r} ({self.mode}) is in generation {self.generation} of {self.generation_count} "
            f"(strategy {self.strategy!r}).",
            f"longest dependency chain{'' if self.scope == 'all' else f' among {self.scope} pipes'} "
            f"({len(self.chain)} pipe{'s' if len(self.chain) != 1 else ''}): {' -> '.join(self.chain)}",
        ]
        if links:
            lines.append(f"  ({links})")
        lines.append(self.reason)
        return "\n".join(lines)


@attrs.frozen(eq=True, repr=False)
class ExecutionPlan:
    """Generations of pipe ids to run, the strategy that made them, and advice.

    ``modes`` maps every planned pipe to ``"batch"`` or ``"streaming"``; ``fingerprint`` is a
    stable hex digest of the pipe and entity metadata, the strategy, the restriction and the
    relevant configuration (equal inputs give equal fingerprints, in any process);
    ``requested`` the ``pipes=`` restriction (``None``: all pipes); ``graph`` the planned graph
    (not part of equality); ``bounded`` is true for the order a bounded run executes
    (:meth:`for_bounded_run`), false for the strategy's own order.
    """

    strategy: str
    generations: tuple[tuple[str, ...], ...]
    modes: Mapping[str, PipeMode] = attrs.field(converter=_frozen, hash=False)
    cache_recommendations: tuple[CacheRecommendation, ...] = ()
    fingerprint: str = ""
    requested: tuple[str, ...] | None = None
    external_sources: tuple[str, ...] = ()
    graph: PipeGraph | None = attrs.field(default=None, eq=False, repr=False, hash=False)
    bounded: bool = False
    _position: dict[str, int] = attrs.field(factory=dict, init=False, eq=False, repr=False, hash=False)

    # ------------------------------------------------------------------ queries

    @property
    def pipes(self) -> tuple[str, ...]:
        """Every planned pipe, in run order (generations flattened)."""
        return tuple(p for g in self.generations for p in g)

    @property
    def pipe_count(self) -> int:
        return sum(len(g) for g in self.generations)

    @property
    def max_parallelism(self) -> int:
        """The size of the largest generation (0 for an empty plan)."""
        return max((len(g) for g in self.generations), default=0)

    def generation_of(self, pipe_id: str) -> int:
        """Index of the generation holding ``pipe_id`` (unknown ids raise UnknownPipeError)."""
        if not self._position:
            self._position.update({p: i for i, g in enumerate(self.generations) for p in g})
        try:
            return self._position[pipe_id]
        except KeyError:
            from kindling_core.planning.errors import UnknownPipeError

            raise UnknownPipeError([pipe_id], list(self._position)) from None

    def for_bounded_run(self) -> ExecutionPlan:
        """The plan a bounded run (``app.run``) executes: producers before consumers.

        Every pipe moves to the earliest generation that is no earlier than this plan places
        it and later than every planned pipe whose output it reads (empty generations are
        dropped). So a streaming pipe run bounded (``availableNow``) sees what its upstream
        pipes wrote in the same run, whatever order the strategy chose for *starting*
        long-running queries: ``batch`` plans come back with the same generations, the
        ``streaming`` strategy's consumers-first order becomes the forward one, and ``hybrid``
        keeps its batch pipes first and runs its streaming pipes producers first. Returns a
        plan with ``bounded=True`` (``self`` when already bounded); needs the planned graph,
        which plans from a planner carry.
        """
        if self.bounded:
            return self
        graph = self._graph()
        position = {p: i for i, g in enumerate(self.generations) for p in g}
        level: dict[str, int] = {}
        for pipe_id in graph.topological_order():
            if pipe_id in position:
                after = [level[u] + 1 for u in graph.upstream(pipe_id) if u in level]
                level[pipe_id] = max([position[pipe_id], *after])
        for pipe_id, index in position.items():  # a planned pipe the graph does not know keeps its place
            level.setdefault(pipe_id, index)
        generations: dict[int, list[str]] = {}
        for pipe_id, index in level.items():
            generations.setdefault(index, []).append(pipe_id)
        ordered = tuple(tuple(sorted(generations[i])) for i in sorted(generations))
        return attrs.evolve(self, generations=ordered, bounded=True)

    def __contains__(self, pipe_id: object) -> bool:
        try:
            self.generation_of(pipe_id)  # type: ignore[arg-type]
        except LookupError:
            return False
        return True

    def explain(self, pipe_id: str) -> Explanation:
        """Why ``pipe_id`` is in its generation (its longest dependency chain).

        A pipe not in this plan raises :class:`~kindling_core.planning.errors.UnknownPipeError`;
        when the plan is restricted (``pipes=``), the subclass
        :class:`~kindling_core.planning.errors.PipeNotPlannedError` says so (the pipe may be
        declared outside the selection: explain it on the unrestricted plan).
        """
        if self.requested is not None and pipe_id not in self:
            from kindling_core.planning.errors import PipeNotPlannedError

            raise PipeNotPlannedError(pipe_id, self.pipes, self.requested)
        generation = self.generation_of(pipe_id)
        graph = self._graph()
        mode = PipeMode(self.modes[pipe_id])
        count = len(self.generations)
        forward = graph.generations()
        scope = "all"
        within = None
        if self.strategy == "hybrid":
            scope = mode.value
            within = [p for p in graph.pipes if graph.mode(p) is mode]
        chain = graph.longest_chain(pipe_id, within=within)
        entities = tuple(graph.output(p) for p in chain[:-1])
        depth = len(chain) - 1
        if self.bounded and self.strategy != "batch":
            upstream = [u for u in graph.upstream(pipe_id) if u in self]
            reason = (
                "a bounded run (app.run) processes producers before consumers: it runs after every planned pipe "
                f"it reads ({', '.join(upstream) or 'none'}), otherwise no earlier than the {self.strategy!r} "
                "strategy placed it."
            )
        elif self.strategy == "batch" or (self.strategy not in ("streaming", "hybrid") and generation == depth):
            reason = (
                f"it needs the outputs of {depth} upstream pipe(s) in sequence, so it runs no earlier than "
                f"generation {depth}; batch plans place every pipe as early as its chain allows."
            )
        elif self.strategy == "streaming":
            reason = (
                f"streaming starts consumers before producers: the plan is the batch generations reversed, "
                f"so batch generation {depth} becomes generation {len(forward) - 1} - {depth} = {generation}."
            )
        elif self.strategy == "hybrid" and mode is PipeMode.BATCH:
            reason = (
                f"hybrid runs batch pipes first, producers first: with {depth} batch producer(s) before it, "
                f"it lands in generation {generation}."
            )
        elif self.strategy == "hybrid":
            batch_count = count - len(graph.generations_of(within or ()))
            reason = (
                f"hybrid starts streaming pipes after all {batch_count} batch generation(s), consumers first: "
                f"among streaming pipes it is at depth {depth}, so it starts in generation {generation}."
            )
        else:
            reason = f"strategy {self.strategy!r} placed it there; its batch depth would be {depth}."
        return Explanation(
            pipe=pipe_id,
            strategy=self.strategy,
            mode=mode.value,
            generation=generation,
            generation_count=count,
            chain=chain,
            entities=entities,
            scope=scope,
            reason=reason,
        )

    def _graph(self) -> PipeGraph:
        if self.graph is None:
            from kindling_core.planning.errors import PlanWithoutGraphError

            raise PlanWithoutGraphError(
                "this plan carries no graph: it was built by hand, not by a planner",
                remedy="make plans with app.plan(...) or Planner.plan(...), which attach the planned graph",
            )
        return self.graph

    # ------------------------------------------------------------------ renderers

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view (the ``--format json`` document)."""
        return {
            "strategy": self.strategy,
            "bounded": self.bounded,
            "fingerprint": self.fingerprint,
            "generations": [list(g) for g in self.generations],
            "modes": {p: PipeMode(self.modes[p]).value for p in self.pipes},
            "max_parallelism": self.max_parallelism,
            "pipe_count": self.pipe_count,
            "requested": list(self.requested) if self.requested is not None else None,
            "external_sources": list(self.external_sources),
            "cache_recommendations": [
                {
                    "entity": r.entity,
                    "storage_level": r.storage_level,
                    "reason": r.reason,
                    "heuristic": r.heuristic,
                    "size_bytes": r.size_bytes,
                }
                for r in self.cache_recommendations
            ],
            "dependencies": (
                {p: list(self.graph.upstream(p)) for p in self.pipes} if self.graph is not None else {}
            ),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self) -> str:
        """A generation-by-generation listing for a terminal."""
        from kindling_core.planning.render import render_text

        return render_text(self)

    def to_mermaid(self) -> str:
        """A Mermaid flowchart: one subgraph per generation, streaming pipes as stadiums."""
        from kindling_core.planning.render import render_mermaid

        return render_mermaid(self)

    def to_dot(self) -> str:
        """A Graphviz digraph: one cluster per generation, streaming pipes dashed."""
        from kindling_core.planning.render import render_dot

        return render_dot(self)

    def __repr__(self) -> str:
        return (
            f"<ExecutionPlan strategy={self.strategy!r} pipes={self.pipe_count} generations={len(self.generations)} "
            f"cache_recommendations={len(self.cache_recommendations)} fingerprint={self.fingerprint[:12]}>"
        )
