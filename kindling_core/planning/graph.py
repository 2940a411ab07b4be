"""The pipe graph: pipes as nodes, an edge ``p -> q`` when ``q`` reads the entity ``p`` writes.

Construction is O(V + E): one pass builds the entity → producer index, a second resolves every
input through it. Invariants of a built :class:`PipeGraph`:

* every entity has at most one producer (else :class:`DuplicateProducerError` naming the
  entity and all its writers);
* an input no pipe produces is an *external source* (``external_sources``), not an error;
* the graph is immutable; derived results (generations, levels) are computed once, lazily.

Ordering uses Kahn's algorithm on plain dicts and lists (iterative, so a 100,000-pipe chain is
fine; faster than per-node networkx calls at this scale). Generation ``k`` holds the pipes whose
longest chain of upstream producers has ``k`` edges, sorted by id, so plans are deterministic.
When Kahn's algorithm cannot place every pipe the graph has a cycle; one is found by walking
predecessors among the unplaced pipes (every unplaced pipe has an unplaced predecessor, so the
walk must revisit a pipe) and reported with its full path.

networkx is the engine for whole-graph analyses (:meth:`PipeGraph.cyclic_components`,
:meth:`PipeGraph.to_networkx`). It is imported lazily; without it, a pure-Python iterative
Tarjan algorithm lists the cyclic components, and planning works unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from kindling_core.model.pipe import PipeMode
from kindling_core.planning.errors import (
    CycleError,
    DuplicatePipeError,
    DuplicateProducerError,
    PlanningError,
    SelfLoopError,
    UnknownPipeError,
)

__all__ = ["PipeGraph", "PipeLike", "networkx_available"]

Generations = tuple[tuple[str, ...], ...]


class PipeLike(Protocol):
    """What the graph needs of a pipe (``kindling_core.model.Pipe`` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def inputs(self) -> Sequence[str]: ...

    @property
    def output(self) -> str: ...

    @property
    def mode(self) -> Any: ...


def _networkx() -> Any:
    """The networkx module, or ``None`` when it cannot be imported."""
    try:
        return importlib.import_module("networkx")
    except ImportError:
        return None


def networkx_available() -> bool:
    """True when networkx can be imported (it is optional at run time)."""
    return _networkx() is not None


class PipeGraph:
    """An immutable dependency graph of pipes (see the module docstring for invariants)."""

    __slots__ = (
        "_ids", "_inputs", "_output", "_modes", "_producer", "_upstream", "_readers",
        "_self_loops", "_edge_count", "_consumers", "_order", "_levels", "_generations",
    )

    def __init__(
        self,
        ids: Sequence[str],
        inputs: Mapping[str, tuple[str, ...]],
        output: Mapping[str, str],
        modes: Mapping[str, PipeMode],
    ) -> None:
        """Build from parallel mappings (use :meth:`from_pipes` for pipe objects)."""
        self._ids: tuple[str, ...] = tuple(ids)
        self._inputs = inputs
        self._output = output
        if any(type(m) is not PipeMode for m in modes.values()):
            modes = {p: PipeMode(m) for p, m in modes.items()}
        self._modes = modes
        producer: dict[str, str] = {}
        conflicts: dict[str, list[str]] = {}
        for pid in self._ids:
            entity = output[pid]
            first = producer.setdefault(entity, pid)
            if first != pid:
                conflicts.setdefault(entity, [first]).append(pid)
        if conflicts:
            raise DuplicateProducerError({e: sorted(ps) for e, ps in sorted(conflicts.items())})
        # One pass over the inputs builds both directions: upstream producers per pipe, and
        # readers per entity (a pipe's downstream pipes are the readers of its output).
        upstream: dict[str, tuple[str, ...]] = {}
        readers_of: dict[str, list[str]] = {}
        self_loops: list[str] = []
        edges = 0
        get = producer.get
        for pid in self._ids:
            ups = []
            for entity in inputs[pid]:
                readers = readers_of.get(entity)
                if readers is None:
                    readers_of[entity] = [pid]
                else:
                    readers.append(pid)
                src = get(entity)
                if src is not None:
                    ups.append(src)
                    if src == pid:
                        self_loops.append(pid)
            upstream[pid] = tuple(ups)
            edges += len(ups)
        self._producer = producer
        self._upstream = upstream
        self._readers = readers_of
        self._self_loops = tuple(sorted(self_loops))
        self._edge_count = edges
        self._consumers: Mapping[str, tuple[str, ...]] | None = None
        self._order: tuple[str, ...] | None = None
        self._levels: dict[str, int] | None = None
        self._generations: Generations | None = None

    @classmethod
    def from_pipes(cls, pipes: Iterable[PipeLike]) -> PipeGraph:
        """Build the graph of ``pipes`` (objects with ``id``, ``inputs``, ``output``, ``mode``)."""
        ids: list[str] = []
        inputs: dict[str, tuple[str, ...]] = {}
        output: dict[str, str] = {}
        modes: dict[str, PipeMode] = {}
        for pipe in pipes:
            pid = pipe.id
            if pid in inputs:
                raise DuplicatePipeError(pid)
            ids.append(pid)
            ins = pipe.inputs
            inputs[pid] = ins if type(ins) is tuple else tuple(ins)
            output[pid] = pipe.output
            mode = pipe.mode
            modes[pid] = mode if type(mode) is PipeMode else PipeMode(mode)
        return cls(ids, inputs, output, modes)

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]], nodes: Iterable[str] = (), mode: PipeMode = PipeMode.BATCH) -> PipeGraph:
        """A graph with the given pipe-to-pipe edges (each pipe ``p`` writes entity ``p``).

        For tests and tools that think in edges rather than entities.
        """
        ins: dict[str, list[str]] = {n: [] for n in nodes}
        for u, v in edges:
            ins.setdefault(u, [])
            ins.setdefault(v, [])
            if u not in ins[v]:
                ins[v].append(u)
        ids = list(ins)
        return cls(ids, {p: tuple(i) for p, i in ins.items()}, {p: p for p in ids}, {p: mode for p in ids})

    # ------------------------------------------------------------------ structure

    @property
    def pipes(self) -> tuple[str, ...]:
        """Pipe ids in the order they were given."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, pipe_id: object) -> bool:
        return pipe_id in self._upstream

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    @property
    def edge_count(self) -> int:
        return self._edge_count

    @property
    def modes(self) -> Mapping[str, PipeMode]:
        """Mode of every pipe, read-only."""
        return MappingProxyType(self._modes)  # type: ignore[arg-type]

    def mode(self, pipe_id: str) -> PipeMode:
        return self._modes[pipe_id]

    def inputs(self, pipe_id: str) -> tuple[str, ...]:
        return self._inputs[pipe_id]

    def output(self, pipe_id: str) -> str:
        return self._output[pipe_id]

    def producer(self, entity: str) -> str | None:
        """The pipe writing ``entity``, or ``None`` for an external source."""
        return self._producer.get(entity)

    def upstream(self, pipe_id: str) -> tuple[str, ...]:
        """Pipes whose outputs ``pipe_id`` reads, in input order."""
        return self._upstream[pipe_id]

    def downstream(self, pipe_id: str) -> tuple[str, ...]:
        """Pipes reading ``pipe_id``'s output, in declaration order."""
        return tuple(self._readers.get(self._output[pipe_id], ()))

    def edges(self) -> Iterator[tuple[str, str, str]]:
        """Every edge as ``(producer, consumer, entity)``."""
        output = self._output
        for pid in self._ids:
            for src in self._upstream[pid]:
                yield src, pid, output[src]

    @property
    def consumers(self) -> Mapping[str, tuple[str, ...]]:
        """Every entity read by some pipe → the pipes reading it (sorted by id)."""
        if self._consumers is None:
            self._consumers = MappingProxyType({e: tuple(sorted(ps)) for e, ps in self._readers.items()})
        return self._consumers  # type: ignore[return-value]

    @property
    def entities(self) -> tuple[str, ...]:
        """Every entity read or written by the graph's pipes, sorted."""
        return tuple(sorted(set(self._producer) | set(self._readers)))

    @property
    def external_sources(self) -> tuple[str, ...]:
        """Entities read by some pipe and written by none (sorted)."""
        return tuple(sorted(e for e in self._readers if e not in self._producer))

    # ------------------------------------------------------------------ sub-graphs

    def upstream_closure(self, pipe_ids: Iterable[str]) -> tuple[str, ...]:
        """``pipe_ids`` plus every pipe they transitively depend on (graph order).

        Unknown ids raise :class:`UnknownPipeError` (did-you-mean and the list).
        """
        wanted = list(dict.fromkeys(pipe_ids))
        unknown = [p for p in wanted if p not in self._upstream]
        if unknown:
            raise UnknownPipeError(unknown, self._ids)
        seen = set(wanted)
        stack = list(wanted)
        upstream = self._upstream
        while stack:
            for src in upstream[stack.pop()]:
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        return tuple(p for p in self._ids if p in seen)

    def restrict(self, pipe_ids: Iterable[str]) -> PipeGraph:
        """The induced sub-graph on ``pipe_ids`` (entities written outside become external)."""
        keep = [p for p in dict.fromkeys(pipe_ids)]
        unknown = [p for p in keep if p not in self._upstream]
        if unknown:
            raise UnknownPipeError(unknown, self._ids)
        return PipeGraph(
            keep,
            {p: self._inputs[p] for p in keep},
            {p: self._output[p] for p in keep},
            {p: self._modes[p] for p in keep},
        )

    # ------------------------------------------------------------------ ordering

    def _kahn(self, members: set[str] | None = None) -> tuple[list[list[str]], dict[str, int]]:
        """Generations of the graph (or of the sub-graph induced by ``members``).

        Returns the generations and the remaining in-degree of every pipe (non-zero for pipes
        that could not be placed: those on or downstream of a cycle).
        """
        upstream, readers, output = self._upstream, self._readers, self._output
        if members is None:
            indegree = {p: len(ups) for p, ups in upstream.items()}
        else:
            indegree = {p: sum(1 for u in upstream[p] if u in members) for p in self._ids if p in members}
        current = sorted(p for p, d in indegree.items() if d == 0)
        generations: list[list[str]] = []
        while current:
            generations.append(current)
            following: list[str] = []
            append = following.append
            for pid in current:
                for nxt in readers.get(output[pid], ()):
                    degree = indegree.get(nxt)
                    if degree is None:
                        continue
                    degree -= 1
                    indegree[nxt] = degree
                    if degree == 0:
                        append(nxt)
            following.sort()
            current = following
        return generations, indegree

    def _ensure_order(self) -> None:
        if self._generations is not None:
            return
        if self._self_loops:
            pipe = self._self_loops[0]
            raise SelfLoopError(pipe, self._output[pipe], self.cyclic_components())
        generations, indegree = self._kahn()
        placed = sum(len(g) for g in generations)
        if placed != len(self._ids):
            raise self._cycle_error(indegree)
        levels: dict[str, int] = {}
        for index, generation in enumerate(generations):
            for pid in generation:
                levels[pid] = index
        self._levels = levels
        self._generations = tuple(tuple(g) for g in generations)
        self._order = tuple(p for g in generations for p in g)

    def _cycle_error(self, indegree: Mapping[str, int]) -> CycleError:
        remaining = {p for p, d in indegree.items() if d > 0}
        cycle = _walk_to_cycle(min(remaining), self._upstream, remaining)
        output = self._output
        return CycleError(cycle, [output[p] for p in cycle], self.cyclic_components())

    def generations(self) -> tuple[tuple[str, ...], ...]:
        """Forward topological generations (producers first), ids sorted within each.

        Raises :class:`CycleError` (or :class:`SelfLoopError`) when the graph is cyclic.
        """
        self._ensure_order()
        return self._generations  # type: ignore[return-value]

    def reverse_generations(self) -> tuple[tuple[str, ...], ...]:
        """The forward generations in reverse (consumers first): the streaming order."""
        return tuple(reversed(self.generations()))

    def topological_order(self) -> tuple[str, ...]:
        """Pipes flattened from :meth:`generations` (a valid producers-first order)."""
        self._ensure_order()
        return self._order  # type: ignore[return-value]

    def levels(self) -> Mapping[str, int]:
        """Pipe → its forward generation index (= edges on its longest upstream chain)."""
        self._ensure_order()
        return MappingProxyType(self._levels)  # type: ignore[arg-type]

    def generations_of(self, pipe_ids: Iterable[str]) -> tuple[tuple[str, ...], ...]:
        """Forward generations of the sub-graph induced by ``pipe_ids`` (edges leaving it ignored)."""
        members = set(pipe_ids)
        unknown = [p for p in members if p not in self._upstream]
        if unknown:
            raise UnknownPipeError(sorted(unknown), self._ids)
        generations, indegree = self._kahn(members)
        if sum(len(g) for g in generations) != len(members):
            self._ensure_order()  # raises the cycle error of the whole graph
            raise PlanningError("cycle inside a sub-graph of an acyclic graph")  # pragma: no cover
        return tuple(tuple(g) for g in generations)

    def longest_chain(self, pipe_id: str, within: Iterable[str] | None = None) -> tuple[str, ...]:
        """The longest chain of producers ending at ``pipe_id``: ``(root, ..., pipe_id)``.

        Ties break towards the smallest id. With ``within``, only pipes of that set count.
        """
        if pipe_id not in self._upstream:
            raise UnknownPipeError([pipe_id], self._ids)
        if within is None:
            levels = self.levels()
        else:
            members = set(within)
            levels = {p: i for i, g in enumerate(self.generations_of(members)) for p in g}
        chain = [pipe_id]
        current = pipe_id
        while levels[current] > 0:
            target = levels[current] - 1
            current = min(u for u in self._upstream[current] if levels.get(u) == target)
            chain.append(current)
        return tuple(reversed(chain))

    # ------------------------------------------------------------------ cycles

    def is_acyclic(self) -> bool:
        try:
            self._ensure_order()
        except CycleError:
            return False
        return True

    def find_cycle(self) -> tuple[str, ...] | None:
        """One cycle as pipe ids in edge order (``None`` when acyclic)."""
        try:
            self._ensure_order()
        except CycleError as exc:
            return exc.cycle
        return None

    def check_acyclic(self) -> None:
        """Raise :class:`CycleError` / :class:`SelfLoopError` when the graph has a cycle."""
        self._ensure_order()

    def cyclic_components(self) -> tuple[tuple[str, ...], ...]:
        """Members of every cycle: strongly connected components with more than one pipe,
        and self-looping pipes. Each sorted; the list sorted by first member.

        Uses networkx when importable, else an iterative Tarjan algorithm (same result).
        """
        nx = _networkx()
        if nx is not None:
            components = nx.strongly_connected_components(self.to_networkx())
        else:
            components = _tarjan(self._ids, {p: self.downstream(p) for p in self._ids})
        self_loops = set(self._self_loops)
        found = [tuple(sorted(c)) for c in components if len(c) > 1 or next(iter(c)) in self_loops]
        return tuple(sorted(found))

    # ------------------------------------------------------------------ export

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph``: nodes carry ``mode``, ``output`` and ``inputs``; edges ``entity``.

        Raises :class:`PlanningError` when networkx is not installed.
        """
        nx = _networkx()
        if nx is None:
            raise PlanningError(
                "networkx is not installed; PipeGraph.to_networkx() needs it",
                remedy="pip install networkx (planning itself works without it)",
            )
        graph = nx.DiGraph()
        graph.add_nodes_from(
            (p, {"mode": self._modes[p].value, "output": self._output[p], "inputs": self._inputs[p]}) for p in self._ids
        )
        graph.add_edges_from((u, v, {"entity": e}) for u, v, e in self.edges())
        return graph

    def __repr__(self) -> str:
        return f"<PipeGraph {len(self._ids)} pipes, {self._edge_count} edges, {len(self.external_sources)} external sources>"


def _walk_to_cycle(start: str, upstream: Mapping[str, Sequence[str]], remaining: set[str]) -> tuple[str, ...]:
    """Walk predecessors inside ``remaining`` from ``start`` until a pipe repeats.

    Returns the cycle in edge (producer → consumer) order, rotated to start at its smallest id.
    """
    position: dict[str, int] = {}
    path: list[str] = []
    current = start
    while current not in position:
        position[current] = len(path)
        path.append(current)
        current = min(u for u in upstream[current] if u in remaining)
    cycle = path[position[current]:]
    cycle.reverse()
    pivot = cycle.index(min(cycle))
    return tuple(cycle[pivot:] + cycle[:pivot])


def _tarjan(nodes: Sequence[str], successors: Mapping[str, Sequence[str]]) -> list[set[str]]:
    """Strongly connected components, iteratively (no recursion limit)."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work[-1]
            if child == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = successors[node]
            if child < len(succ):
                work[-1] = (node, child + 1)
                nxt = succ[child]
                if nxt not in index_of:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index_of[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components
