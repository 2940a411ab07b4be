"""The pipe graph: pipes as nodes, an edge ``p -> q`` when ``q`` reads the entity ``p`` writes.

Construction is O(V + E) and builds only the entity → producer index; everything derived
(upstream producers per pipe, readers per entity, consumers, generations, levels) is computed
once, when first asked for, so planning pays only for what a plan needs. Invariants of a
built :class:`PipeGraph`:

* every entity has at most one producer (else :class:`DuplicateProducerError` naming the
  entity and all its writers);
* an input no pipe produces is an *external source* (``external_sources``), not an error;
* the graph is immutable.

Generation ``k`` holds the pipes whose longest chain of upstream producers has ``k`` edges,
sorted by id, so plans are deterministic. Layering makes one pass in declaration order,
keeping the level of each written entity: pipes are usually declared producers first, and
then that pass settles them all. When a pipe reads an entity whose writer is not settled yet,
an iterative depth-first walk up the producers settles every pipe instead (no recursion, so a
100,000-pipe chain is fine, in any order). The walk meets a pipe already on its path exactly
when the graph has a cycle; then Kahn's algorithm finds the pipes that cannot be placed, and a
cycle is found by walking predecessors among them (every unplaced pipe has an unplaced
predecessor, so the walk must revisit a pipe) and reported with its full path. Kahn's
algorithm also layers induced sub-graphs (:meth:`PipeGraph.generations_of`).

networkx is the engine for whole-graph analyses (:meth:`PipeGraph.cyclic_components`,
:meth:`PipeGraph.to_networkx`). It is imported lazily; without it, a pure-Python iterative
Tarjan algorithm lists the cyclic components, and planning works unchanged.
"""

from __future__ import annotations

import importlib
import itertools
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
        "_consumers", "_order", "_levels", "_generations", "_reversed",
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
        # Entity → its writer. Built in C (zip/map): this runs for every pipe of every plan.
        producer = dict(zip(map(output.__getitem__, self._ids), self._ids, strict=True))
        if len(producer) != len(self._ids):  # two writers of an entity, or a repeated id
            self._ids = tuple(dict.fromkeys(self._ids))
            producer = _producers(self._ids, output)
        count = len(self._ids)
        if len(inputs) != count or len(output) != count or len(modes) != count:  # keep the graph's pipes only
            inputs = {p: inputs[p] for p in self._ids}
            output = {p: output[p] for p in self._ids}
            modes = {p: modes[p] for p in self._ids}
        if not set(map(type, modes.values())) <= {PipeMode}:
            modes = {p: PipeMode(m) for p, m in modes.items()}
        elif type(modes) is not dict:
            modes = dict(modes)
        self._inputs = inputs
        self._output = output
        self._modes = modes
        self._producer = producer
        # Derived lazily, when first asked for: upstream producers per pipe, readers per
        # entity, consumers, the order. Planning a catalog needs only the levels.
        self._upstream: dict[str, tuple[str, ...]] | None = None
        self._readers: dict[str, list[str]] | None = None
        self._consumers: Mapping[str, tuple[str, ...]] | None = None
        self._order: tuple[str, ...] | None = None
        self._levels: dict[str, int] | None = None
        self._generations: Generations | None = None
        self._reversed: Generations | None = None

    @classmethod
    def from_pipes(cls, pipes: Iterable[PipeLike]) -> PipeGraph:
        """Build the graph of ``pipes`` (objects with ``id``, ``inputs``, ``output``, ``mode``).

        Two pipes with one id raise :class:`DuplicatePipeError`.
        """
        ids: list[str] = []
        inputs: dict[str, tuple[str, ...]] = {}
        output: dict[str, str] = {}
        modes: dict[str, Any] = {}
        for pipe in pipes:
            pid = pipe.id
            ids.append(pid)
            ins = pipe.inputs
            inputs[pid] = ins if type(ins) is tuple else tuple(ins)
            output[pid] = pipe.output
            modes[pid] = pipe.mode
        if len(inputs) != len(ids):
            seen: set[str] = set()
            for pid in ids:
                if pid in seen:
                    raise DuplicatePipeError(pid)
                seen.add(pid)
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
        return pipe_id in self._output

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    @property
    def edge_count(self) -> int:
        """Pipe-to-pipe edges (an input nobody writes is not an edge)."""
        return sum(map(len, self._upstream_of().values()))

    @property
    def modes(self) -> Mapping[str, PipeMode]:
        """Mode of every pipe, read-only."""
        return MappingProxyType(self._modes)

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
        return self._upstream_of()[pipe_id]

    def downstream(self, pipe_id: str) -> tuple[str, ...]:
        """Pipes reading ``pipe_id``'s output, in declaration order."""
        return tuple(self._readers_of().get(self._output[pipe_id], ()))

    def descendants(self, pipe_id: str) -> set[str]:
        """Every pipe transitively downstream of ``pipe_id`` (not ``pipe_id`` itself, unless
        it lies on a cycle), as a new set. Unknown ids raise :class:`UnknownPipeError`."""
        if pipe_id not in self._output:
            raise UnknownPipeError([pipe_id], self._ids)
        readers, output = self._readers_of(), self._output
        seen: set[str] = set()
        stack = [pipe_id]
        while stack:
            for reader in readers.get(output[stack.pop()], ()):
                if reader not in seen:
                    seen.add(reader)
                    stack.append(reader)
        return seen

    def _upstream_of(self) -> dict[str, tuple[str, ...]]:
        """Pipe → the pipes writing its inputs, in input order (built on first use)."""
        if self._upstream is None:
            get = self._producer.get
            inputs = self._inputs
            upstream: dict[str, tuple[str, ...]] = {}
            for pid in self._ids:
                found = []
                for entity in inputs[pid]:
                    src = get(entity)
                    if src is not None:
                        found.append(src)
                upstream[pid] = tuple(found)
            self._upstream = upstream
        return self._upstream

    def _readers_of(self) -> dict[str, list[str]]:
        """Entity → the pipes reading it, in declaration order (built on first use)."""
        if self._readers is None:
            readers: dict[str, list[str]] = {}
            inputs = self._inputs
            for pid in self._ids:
                for entity in inputs[pid]:
                    found = readers.get(entity)
                    if found is None:
                        readers[entity] = [pid]
                    else:
                        found.append(pid)
            self._readers = readers
        return self._readers

    def _self_loops(self) -> tuple[str, ...]:
        """Pipes reading their own output, sorted."""
        inputs, output = self._inputs, self._output
        return tuple(sorted(p for p in self._ids if output[p] in inputs[p]))

    def edges(self) -> Iterator[tuple[str, str, str]]:
        """Every edge as ``(producer, consumer, entity)``."""
        output, upstream = self._output, self._upstream_of()
        for pid in self._ids:
            for src in upstream[pid]:
                yield src, pid, output[src]

    @property
    def consumers(self) -> Mapping[str, tuple[str, ...]]:
        """Every entity read by some pipe → the pipes reading it (sorted by id), in entity-id order."""
        if self._consumers is None:
            # Most entities have one or two readers: they are kept as a plain id, then a sorted
            # pair, and only a third reader makes a list, sorted at the end (a list per entity
            # was most of the cost at 100,000 pipes; and tuples of strings, unlike lists, leave
            # the garbage collector's tracking).
            found: dict[str, Any] = {}
            get = found.get
            for pid, entities in self._inputs.items():
                for entity in entities:
                    readers = get(entity)
                    if readers is None:
                        found[entity] = pid
                    elif type(readers) is str:
                        found[entity] = (readers, pid) if readers < pid else (pid, readers)
                    elif type(readers) is tuple:
                        found[entity] = [*readers, pid]
                    else:
                        readers.append(pid)
            consumers: dict[str, tuple[str, ...]] = {}
            for entity in sorted(found):
                readers = found[entity]
                kind = type(readers)
                consumers[entity] = (readers,) if kind is str else readers if kind is tuple else tuple(sorted(readers))
            self._consumers = MappingProxyType(consumers)
        return self._consumers

    @property
    def entities(self) -> tuple[str, ...]:
        """Every entity read or written by the graph's pipes, sorted."""
        return tuple(sorted(set(self._producer).union(*self._inputs.values())))

    @property
    def external_sources(self) -> tuple[str, ...]:
        """Entities read by some pipe and written by none (sorted)."""
        producer = self._producer
        if self._consumers is not None:  # every entity read, sorted, is already at hand
            return tuple(e for e in self._consumers if e not in producer)
        read = set().union(*self._inputs.values())
        read.difference_update(producer)
        return tuple(sorted(read))

    # ------------------------------------------------------------------ sub-graphs

    def upstream_closure(self, pipe_ids: Iterable[str]) -> tuple[str, ...]:
        """``pipe_ids`` plus every pipe they transitively depend on (graph order).

        Unknown ids raise :class:`UnknownPipeError` (did-you-mean and the list).
        """
        wanted = list(dict.fromkeys(pipe_ids))
        unknown = [p for p in wanted if p not in self._output]
        if unknown:
            raise UnknownPipeError(unknown, self._ids)
        seen = set(wanted)
        stack = list(wanted)
        upstream = self._upstream_of()
        while stack:
            for src in upstream[stack.pop()]:
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        return tuple(p for p in self._ids if p in seen)

    def restrict(self, pipe_ids: Iterable[str]) -> PipeGraph:
        """The induced sub-graph on ``pipe_ids`` (entities written outside become external)."""
        keep = [p for p in dict.fromkeys(pipe_ids)]
        unknown = [p for p in keep if p not in self._output]
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
        upstream, readers, output = self._upstream_of(), self._readers_of(), self._output
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
        generations = self._layers_in_one_pass()
        if generations is None:
            generations = self._layers_by_walk()
        for generation in generations:
            generation.sort()
        self._generations = tuple(map(tuple, generations))
        self._order = tuple(itertools.chain.from_iterable(self._generations))

    def _layers_in_one_pass(self) -> list[list[str]] | None:
        """Pipes by level (see :meth:`_layers_by_walk`), in one pass in declaration order,
        keeping the level of each written entity (its writer's; an entity nobody writes counts
        ``-1``). ``None`` as soon as a pipe reads an entity whose writer is not settled yet:
        declared after it, or on a cycle. Pipes are usually declared producers first."""
        ids, inputs, output = self._ids, self._inputs, self._output
        written: dict[str, Any] = dict.fromkeys(self._producer)  # entity → its writer's level; None: not settled yet
        level_of = written.get
        external = itertools.repeat(-1)
        layers: list[list[str]] = []
        try:
            for pid, ins, out in zip(ids, map(inputs.__getitem__, ids), map(output.__getitem__, ids), strict=True):
                # max() meets None (TypeError) when a producer is not settled yet
                level = written[out] = max(map(level_of, ins, external)) + 1 if ins else 0
                try:
                    layers[level].append(pid)
                except IndexError:  # one more than the deepest level so far
                    layers.append([pid])
        except TypeError:
            return None
        return layers

    def _layers_by_walk(self) -> list[list[str]]:
        """Pipes by level, in any declaration order; raises the cycle error on a cycle.

        A pipe's level is the number of edges on its longest upstream chain:
        ``level(p) = 0`` without producers, else ``1 + max(level(u) for u in upstream(p))``.
        Each unsettled pipe is settled by :func:`_settle`, an iterative walk up its producers:
        O(V + E), no recursion.
        """
        upstream = self._upstream_of()
        levels: dict[str, int] = {}
        for pid in self._ids:
            if pid not in levels and not _settle(pid, upstream, levels):
                self_loops = self._self_loops()
                if self_loops:
                    pipe = self_loops[0]
                    raise SelfLoopError(pipe, self._output[pipe], self.cyclic_components())
                _generations, indegree = self._kahn()  # the pipes that cannot be placed
                raise self._cycle_error(indegree)
        layers: list[list[str]] = [[] for _ in range(max(levels.values(), default=-1) + 1)]
        for pid, level in levels.items():
            layers[level].append(pid)
        return layers

    def _cycle_error(self, indegree: Mapping[str, int]) -> CycleError:
        remaining = {p for p, d in indegree.items() if d > 0}
        cycle = _walk_to_cycle(min(remaining), self._upstream_of(), remaining)
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
        if self._reversed is None:
            self._reversed = tuple(reversed(self.generations()))
        return self._reversed

    def topological_order(self) -> tuple[str, ...]:
        """Pipes flattened from :meth:`generations` (a valid producers-first order)."""
        self._ensure_order()
        return self._order  # type: ignore[return-value]

    def levels(self) -> Mapping[str, int]:
        """Pipe → its forward generation index (= edges on its longest upstream chain)."""
        if self._levels is None:
            self._levels = {p: i for i, g in enumerate(self.generations()) for p in g}
        return MappingProxyType(self._levels)

    def generations_of(self, pipe_ids: Iterable[str]) -> tuple[tuple[str, ...], ...]:
        """Forward generations of the sub-graph induced by ``pipe_ids`` (edges leaving it ignored)."""
        members = set(pipe_ids)
        unknown = [p for p in members if p not in self._output]
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
        if pipe_id not in self._output:
            raise UnknownPipeError([pipe_id], self._ids)
        if within is None:
            levels = self.levels()
        else:
            members = set(within)
            levels = {p: i for i, g in enumerate(self.generations_of(members)) for p in g}
        upstream = self._upstream_of()
        chain = [pipe_id]
        current = pipe_id
        while levels[current] > 0:
            target = levels[current] - 1
            current = min(u for u in upstream[current] if levels.get(u) == target)
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
            readers, output = self._readers_of(), self._output
            components = _tarjan(self._ids, {p: readers.get(output[p], ()) for p in self._ids})
        self_loops = set(self._self_loops())
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
        return f"<PipeGraph {len(self._ids)} pipes, {self.edge_count} edges, {len(self.external_sources)} external sources>"


def _producers(ids: Sequence[str], output: Mapping[str, str]) -> dict[str, str]:
    """Entity → the pipe writing it; raises :class:`DuplicateProducerError` naming every
    entity with several writers."""
    producer: dict[str, str] = {}
    conflicts: dict[str, list[str]] = {}
    for pid in ids:
        entity = output[pid]
        first = producer.setdefault(entity, pid)
        if first != pid:
            conflicts.setdefault(entity, [first]).append(pid)
    if conflicts:
        raise DuplicateProducerError({e: sorted(ps) for e, ps in sorted(conflicts.items())})
    return producer


def _settle(start: str, upstream: Mapping[str, tuple[str, ...]], levels: dict[str, int]) -> bool:
    """Give ``start`` and every unsettled pipe upstream of it a level (see
    :meth:`PipeGraph._layers_by_walk`) by an iterative depth-first walk up the
    producers; ``False`` when the walk meets a pipe already on its path: a cycle."""
    level_of = levels.__getitem__
    path = [(start, iter(upstream[start]))]  # the walk: each pipe with its producers still to visit
    on_path = {start}
    while path:
        pid, producers = path[-1]
        for src in producers:
            if src not in levels:
                if src in on_path:
                    return False
                path.append((src, iter(upstream[src])))
                on_path.add(src)
                break
        else:  # every producer settled
            path.pop()
            on_path.discard(pid)
            ups = upstream[pid]
            levels[pid] = max(map(level_of, ups)) + 1 if ups else 0
    return True


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
