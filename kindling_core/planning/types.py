"""What strategies and cache heuristics receive: :class:`StrategyInput` and :class:`CacheContext`.

Both are frozen views over an acyclic :class:`~kindling_core.planning.graph.PipeGraph` (the
planner checks for cycles before calling any plugin). Plugins read them; they never mutate
anything. Helpers return tuples, sorted where order is a choice, so plugins built on them are
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from kindling_core.model.entity import Entity
from kindling_core.model.pipe import PipeMode
from kindling_core.planning.graph import PipeGraph

__all__ = ["StrategyInput", "CacheContext", "SizeProvider", "BYTES_PER_MB"]

#: An optional callable giving an entity's size in bytes, or ``None`` when unknown.
SizeProvider = Callable[[str], "int | None"]

BYTES_PER_MB = 1024 * 1024


@attrs.frozen
class StrategyInput:
    """The request an execution strategy plans: the (acyclic) graph and the pipes' modes.

    ``strategy`` is the name the strategy was selected under; ``settings`` its plugin's
    settings table (read-only, possibly empty).
    """

    graph: PipeGraph
    strategy: str = ""
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=lambda m: MappingProxyType(dict(m)))

    @property
    def pipes(self) -> tuple[str, ...]:
        """Every pipe to plan (graph order)."""
        return self.graph.pipes

    @property
    def modes(self) -> Mapping[str, PipeMode]:
        return self.graph.modes

    def mode(self, pipe_id: str) -> PipeMode:
        return self.graph.mode(pipe_id)

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

    def generations_of(self, pipe_ids: Any) -> tuple[tuple[str, ...], ...]:
        """Forward generations of the sub-graph induced by ``pipe_ids``."""
        return self.graph.generations_of(pipe_ids)

    def upstream(self, pipe_id: str) -> tuple[str, ...]:
        return self.graph.upstream(pipe_id)

    def downstream(self, pipe_id: str) -> tuple[str, ...]:
        return self.graph.downstream(pipe_id)


@attrs.frozen
class CacheContext:
    """What a cache heuristic sees when a plan is made.

    ``generations`` is the plan the strategy produced; ``graph`` the planned graph;
    ``entities`` the declared entities (implicit references are absent); ``storage_level``
    and ``min_size_mb`` come from ``[tool.kindling.cache]``; ``size_provider`` (optional)
    gives an entity's size in bytes or ``None``.
    """

    strategy: str
    generations: tuple[tuple[str, ...], ...]
    graph: PipeGraph
    entities: Mapping[str, Entity] = attrs.field(factory=dict, converter=lambda m: MappingProxyType(dict(m)))
    storage_level: str = "MEMORY_AND_DISK"
    min_size_mb: float = 100.0
    size_provider: SizeProvider | None = attrs.field(default=None, eq=False)

    @property
    def modes(self) -> Mapping[str, PipeMode]:
        return self.graph.modes

    @property
    def consumers(self) -> Mapping[str, tuple[str, ...]]:
        """Entity → the planned pipes reading it."""
        return self.graph.consumers

    def consumers_of(self, entity: str) -> tuple[str, ...]:
        return self.graph.consumers.get(entity, ())

    def batch_consumers_of(self, entity: str) -> tuple[str, ...]:
        """Planned batch-mode pipes reading ``entity``."""
        modes = self.graph.modes
        return tuple(p for p in self.consumers_of(entity) if modes[p] is PipeMode.BATCH)

    @property
    def min_size_bytes(self) -> int:
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
