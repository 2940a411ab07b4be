"""What strategies and cache heuristics receive: :class:`StrategyInput` and :class:`CacheContext`.

Both are frozen views over an acyclic :class:`~kindling_core.planning.graph.PipeGraph` (the
planner checks for cycles before calling any plugin). Plugins read them; they never mutate
anything. Helpers return tuples, sorted where order is a choice, so plugins built on them are
deterministic.

A strategy sees each planned pipe's declaration (:meth:`StrategyInput.pipe`: tags, mode,
write mode, dimensions, options), so orderings such as "critical pipes first" or "only this
tag" are plain functions of the input. Pipe metadata is part of the catalog fingerprint, so a
plan cached for one declaration is never reused for another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from kindling_core._convert import frozen_mapping
from kindling_core.model.entity import Entity
from kindling_core.model.pipe import Pipe, PipeMode
from kindling_core.planning.errors import PlanningError, UnknownPipeError
from kindling_core.planning.graph import PipeGraph

__all__ = ["StrategyInput", "CacheContext", "SizeProvider", "BYTES_PER_MB", "PipeIndex"]

#: An optional callable giving an entity's size in bytes, or ``None`` when unknown.
SizeProvider = Callable[[str], "int | None"]

BYTES_PER_MB = 1024 * 1024

_NO_PIPES: Mapping[str, Pipe] = MappingProxyType({})


class PipeIndex(Mapping[str, Pipe]):
    """Pipe id → declared :class:`Pipe`, built from a sequence of pipes on first lookup.

    The planner hands a strategy its catalog snapshot this way, so planning pays for the
    index only when a strategy actually reads pipe metadata. Read-only.
    """

    __slots__ = ("_pipes", "_index")

    def __init__(self, pipes: Sequence[Pipe]) -> None:
        self._pipes = tuple(pipes)
        self._index: dict[str, Pipe] | None = None

    def _by_id(self) -> dict[str, Pipe]:
        if self._index is None:
            self._index = {pipe.id: pipe for pipe in self._pipes}
        return self._index

    def __getitem__(self, pipe_id: str) -> Pipe:
        return self._by_id()[pipe_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id())

    def __len__(self) -> int:
        return len(self._pipes)

    def __repr__(self) -> str:
        return f"<PipeIndex of {len(self._pipes)} pipes>"


def _pipe_mapping(value: Mapping[str, Pipe] | Iterable[Pipe] | None) -> Mapping[str, Pipe]:
    if value is None:
        return _NO_PIPES
    if isinstance(value, PipeIndex):
        return value
    if isinstance(value, Mapping):
        return MappingProxyType(dict(value))
    return PipeIndex(tuple(value))


@attrs.frozen
class StrategyInput:
    """The request an execution strategy plans: the (acyclic) graph and the declared pipes.

    Everything a strategy may base its order on is here: the dependency graph (``graph``,
    with helpers below), each pipe's mode, and each pipe's full declaration through
    :meth:`pipe` (tags, write mode, dimensions, options, description). Pipe ids in answers
    are in graph order (declaration order) unless a helper says otherwise.
    """

    graph: PipeGraph
    """The planned pipe graph (already restricted to the requested pipes and their producers)."""
    strategy: str = ""
    """The name this strategy was selected under."""
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    """The strategy's plugin settings, ``[tool.kindling.settings.<plugin-id>]`` (read-only, possibly empty)."""
    declared_pipes: Mapping[str, Pipe] = attrs.field(default=None, converter=_pipe_mapping, eq=False, repr=False)
    """Pipe id → declared :class:`~kindling_core.model.Pipe` (may hold pipes outside the planned graph; use :meth:`pipe`)."""

    @property
    def pipes(self) -> tuple[str, ...]:
        """Every pipe to plan (graph order)."""
        return self.graph.pipes

    @property
    def modes(self) -> Mapping[str, PipeMode]:
        """Pipe id → its :class:`~kindling_core.model.PipeMode` (read-only)."""
        return self.graph.modes

    def mode(self, pipe_id: str) -> PipeMode:
        """The mode of ``pipe_id`` (``batch`` or ``streaming``)."""
        return self.graph.mode(pipe_id)

    def pipe(self, pipe_id: str) -> Pipe:
        """The frozen declaration of planned pipe ``pipe_id``: tags, mode, write, dimensions, options.

        Raises :class:`~kindling_core.planning.UnknownPipeError` (did-you-mean and the planned
        pipes) when ``pipe_id`` is not in the planned graph.
        """
        if pipe_id not in self.graph:
            raise UnknownPipeError([pipe_id], self.graph.pipes)
        try:
            return self.declared_pipes[pipe_id]
        except KeyError:
            raise PlanningError(
                f"no declaration for pipe {pipe_id!r}: this StrategyInput was built from a graph alone",
                culprit=pipe_id,
                remedy="build it with declared_pipes= (the declared Pipe objects), as the planner does",
            ) from None

    def pipes_tagged(self, tag: str) -> tuple[str, ...]:
        """Planned pipes whose ``tags`` include ``tag`` (graph order)."""
        return self.pipes_where(lambda pipe: tag in pipe.tags)

    def pipes_where(self, predicate: Callable[[Pipe], bool]) -> tuple[str, ...]:
        """Planned pipes whose declaration satisfies ``predicate(pipe)`` (graph order)."""
        return tuple(p for p in self.graph.pipes if predicate(self.pipe(p)))

    def pipes_in_mode(self, mode: PipeMode | str) -> tuple[str, ...]:
        """Pipes whose mode is ``mode`` (graph order)."""
        wanted = PipeMode(mode)
        modes = self.graph.modes
        return tuple(p for p in self.graph.pipes if modes[p] is wanted)

    def topological_generations(self) -> tuple[tuple[str, ...], ...]:
        """Forward generations: a pipe's index is its longest upstream chain; sorted within."""
        return self.graph.generations()

    def reverse_generations(self) -> tuple[tuple[str, ...], ...]:
        """The forward generations reversed (consumers first)."""
        return self.graph.reverse_generations()

    def topological_order(self) -> tuple[str, ...]:
        """A producers-first order (the forward generations flattened)."""
        return self.graph.topological_order()

    def generations_of(self, pipe_ids: Iterable[str]) -> tuple[tuple[str, ...], ...]:
        """Forward generations of the sub-graph induced by ``pipe_ids`` (edges leaving it ignored)."""
        return self.graph.generations_of(pipe_ids)

    def upstream_closure(self, pipe_ids: Iterable[str]) -> tuple[str, ...]:
        """``pipe_ids`` plus every pipe they transitively depend on (graph order).

        Running these first is always safe: nothing in the closure depends on a pipe outside it.
        """
        return self.graph.upstream_closure(pipe_ids)

    def upstream(self, pipe_id: str) -> tuple[str, ...]:
        """Pipes whose outputs ``pipe_id`` reads (its direct producers), in input order."""
        return self.graph.upstream(pipe_id)

    def downstream(self, pipe_id: str) -> tuple[str, ...]:
        """Pipes reading ``pipe_id``'s output (its direct consumers), in declaration order."""
        return self.graph.downstream(pipe_id)


@attrs.frozen
class CacheContext:
    """What a cache heuristic sees when a plan is made: the plan, the graph and the entities.

    ``size_provider`` answers an entity's size in bytes, or ``None`` when unknown; an app's
    default provider reads Delta tables' ``_delta_log`` without running Spark (see
    :mod:`kindling_core.spark.sizes`). Use :meth:`size_of` rather than calling it directly.
    """

    strategy: str
    """Name of the strategy that produced ``generations``."""
    generations: tuple[tuple[str, ...], ...]
    """The plan: generations of pipe ids, in the order they run."""
    graph: PipeGraph
    """The planned pipe graph."""
    entities: Mapping[str, Entity] = attrs.field(factory=dict, converter=frozen_mapping)
    """Entity id → declared :class:`~kindling_core.model.Entity` (implicit references are absent)."""
    storage_level: str = "MEMORY_AND_DISK"
    """``[tool.kindling.cache] storage-level``: the level to recommend."""
    min_size_mb: float = 100.0
    """``[tool.kindling.cache] min-size-mb``: entities of known size below this are not worth caching."""
    size_provider: SizeProvider | None = attrs.field(default=None, eq=False)
    """``entity_id -> bytes or None``; ``None`` when the app has no size provider."""

    @property
    def modes(self) -> Mapping[str, PipeMode]:
        """Pipe id → its :class:`~kindling_core.model.PipeMode` (read-only)."""
        return self.graph.modes

    @property
    def consumers(self) -> Mapping[str, tuple[str, ...]]:
        """Entity → the planned pipes reading it (sorted by id)."""
        return self.graph.consumers

    def consumers_of(self, entity: str) -> tuple[str, ...]:
        """Planned pipes reading ``entity`` (sorted by id; empty when none)."""
        return self.graph.consumers.get(entity, ())

    def batch_consumers_of(self, entity: str) -> tuple[str, ...]:
        """Planned batch-mode pipes reading ``entity``."""
        modes = self.graph.modes
        return tuple(p for p in self.consumers_of(entity) if modes[p] is PipeMode.BATCH)

    @property
    def min_size_bytes(self) -> int:
        """``min_size_mb`` in bytes (1 MB = 1024 * 1024 bytes)."""
        return int(self.min_size_mb * BYTES_PER_MB)

    def size_of(self, entity: str) -> int | None:
        """The entity's size in bytes from the size provider (``None`` if no provider or unknown)."""
        if self.size_provider is None:
            return None
        size = self.size_provider(entity)
        return None if size is None else int(size)

    def entities_tagged(self, tag: str) -> tuple[str, ...]:
        """Declared entities carrying ``tag``, sorted."""
        return tuple(sorted(e.id for e in self.entities.values() if tag in e.tags))
