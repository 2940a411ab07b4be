"""Which streaming queries restart, in which order and why, when a dimension changes or pipes
restart: :func:`restart_plan` (pyspark-free; it reads declarations only and touches nothing).

A plan starts from its *roots* (depth 0):

* with ``entity=``: every streaming pipe that declares the entity in ``dimensions`` (a change
  to a dimension is what can restart a stream-static join; see docs/design/dimensions.md);
* with ``pipes=``: those streaming pipes (a restart asked for).

Then it *cascades*: a restarted pipe's output entity, read **as a stream** (an input that is
not one of the reader's dimensions) by another streaming pipe, restarts that reader too, one
depth further. A pipe that reads the output as a dimension is not cascaded to (a plan note
says so: its own dimension's change detection decides), and neither is a batch pipe (it reads
its inputs afresh at every run). The walk is breadth first over
:meth:`PipeGraph.downstream <kindling_core.planning.PipeGraph.downstream>`, so each pipe gets
its shortest depth and appears once, whatever cycles the entities form. Pipes deeper than
``max_depth`` are not steps: they are listed in :attr:`RestartPlan.truncated`, each with the
depth and the cause it would have had.

Invariants of a :class:`RestartPlan`: no pipe twice (steps and truncated together); every
step's ``depth <= max_depth`` and every truncated one's ``> max_depth``; a root's ``via`` is
the changed entity (or, for a requested pipe, the pipe itself), a cascaded step's ``via`` is
a step one depth less whose output it reads as a stream, and comes earlier in the plan.

Steps are in *execution order*, the order the restart controller
(:mod:`kindling_core.streaming.restarts`) works them in: wave by wave, depth 0 first, because a
cascade is asked for when its producer's restart has completed (the producer then writes what
the restarted consumer reads: with a new schema, say); within a wave, the streaming strategy's
consumers-first order (the forward generations of the app's pipe graph reversed, ids sorted
within a generation: the order ``app.streams.start()`` starts pipes in). When the pipe graph has
a cycle (which the planner refuses, but a plan must still be made), each cycle counts as one
node of the graph and its members are ordered by id.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from kindling_core.errors import KindlingError, UnknownNameError
from kindling_core.model import Catalog, Entity, Pipe
from kindling_core.planning import CycleError, PipeGraph, UnknownPipeError
from kindling_core.streaming.errors import UnknownStreamError

__all__ = [
    "DEFAULT_CASCADE_DEPTH",
    "DimensionFacts",
    "RestartCause",
    "RestartPlan",
    "RestartStep",
    "dimension_facts",
    "restart_plan",
]

#: ``max_depth`` when nothing configures it: a restart cascades at most three hops.
DEFAULT_CASCADE_DEPTH = 3


class RestartCause(str, enum.Enum):
    """Why a pipe is in a restart plan."""

    DIMENSION = "dimension"
    """It declares the changed entity as a dimension (a root)."""
    REQUESTED = "requested"
    """It was asked for with ``pipes=`` (a root)."""
    CASCADE = "cascade"
    """It reads, as a stream, the output of a pipe that restarts."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class RestartStep:
    """One pipe of a plan: ``depth`` 0 for a root, else the hops from a root; ``via`` the changed
    entity (dimension roots), the pipe itself (requested roots) or the restarting producer
    (cascades); ``entity`` the entity it goes through (the dimension, or the producer's output;
    ``None`` for a requested pipe); ``reason`` says it in words."""

    pipe: str
    depth: int
    cause: RestartCause
    via: str
    reason: str
    entity: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipe": self.pipe, "depth": self.depth, "cause": self.cause.value, "via": self.via,
            "entity": self.entity, "reason": self.reason,
        }


@attrs.frozen
class DimensionFacts:
    """How a dimension is watched and when its change restarts its pipes, as declared.

    ``detector`` comes from the entity option ``change.detector`` or, without it, the configured
    default (``detector_source`` says which); ``restart`` is the restart policy (entity option
    ``change.restart``, default ``auto``), ``cached`` the option ``change.cached``. Values are
    shown as declared: checking them is the watcher's job when it starts.
    """

    entity: str
    declared: bool
    detector: str
    detector_source: str
    restart: str
    restart_source: str
    cached: bool = False
    delta: bool = True
    """The dimension is a Delta table (or undeclared); only Delta dimensions are read again at each
    micro-batch, so any change of another format restarts under ``auto``."""

    def restarts_on(self) -> str:
        """Which changes restart the plan's queries under this dimension's restart policy."""
        from kindling_core.dimensions.policy import restart_triggers  # a higher layer

        return restart_triggers(self.restart, cached=self.cached, delta=self.delta)

    def summary(self) -> str:
        """``detector version-poll, restart policy auto`` (``, cached`` when the pipe caches it)."""
        return f"detector {self.detector}, restart policy {self.restart}" + (", cached" if self.cached else "")

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "restarts_on": self.restarts_on()}


@attrs.frozen
class RestartPlan:
    """What would restart (see the module docstring for the invariants).

    ``steps`` in execution order; ``truncated`` the pipes a cascade reaches beyond ``max_depth``
    (by depth, then id); ``entity`` / ``requested`` what the plan was asked about;
    ``dimension`` how ``entity`` is watched (``None`` without ``entity``); ``notes`` say why
    nothing restarts for ``entity``, and which streaming readers of a restarted output are not
    cascaded to because they read it as a dimension.
    """

    steps: tuple[RestartStep, ...]
    truncated: tuple[RestartStep, ...] = ()
    entity: str | None = None
    requested: tuple[str, ...] = ()
    max_depth: int = DEFAULT_CASCADE_DEPTH
    dimension: DimensionFacts | None = None
    notes: tuple[str, ...] = ()

    @property
    def pipes(self) -> tuple[str, ...]:
        """The pipes that restart, in execution order."""
        return tuple(step.pipe for step in self.steps)

    @property
    def is_empty(self) -> bool:
        """True when nothing restarts."""
        return not self.steps

    def step(self, pipe: str) -> RestartStep:
        """The step of ``pipe`` (``KeyError`` when it does not restart)."""
        for step in self.steps:
            if step.pipe == pipe:
                return step
        raise KeyError(pipe)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able document (``kindling restarts --json``)."""
        return {
            "entity": self.entity,
            "requested": list(self.requested),
            "max_depth": self.max_depth,
            "dimension": self.dimension.to_dict() if self.dimension is not None else None,
            "steps": [step.to_dict() for step in self.steps],
            "truncated": [step.to_dict() for step in self.truncated],
            "notes": list(self.notes),
        }


def dimension_facts(entity_id: str, entity: Entity | None, *, default_detector: str) -> DimensionFacts:
    """The :class:`DimensionFacts` of ``entity_id`` (``entity`` is its declaration, if any).

    The restart options are read by :func:`~kindling_core.dimensions.policy.restart_policy`,
    so a bad ``change.restart`` / ``change.cached`` raises its
    :class:`~kindling_core.dimensions.errors.DimensionOptionError` naming the entity and option.
    """
    from kindling_core.dimensions.policy import RESTART_OPTION, RestartPolicy, restart_policy  # a higher layer
    from kindling_core.dimensions.spec import DETECTOR_OPTION

    options: Mapping[str, Any] = entity.options if entity is not None else {}
    policy = restart_policy(entity) if entity is not None else RestartPolicy()
    named = options.get(DETECTOR_OPTION)
    return DimensionFacts(
        entity=entity_id,
        declared=entity is not None,
        detector=str(named) if named is not None else default_detector,
        detector_source=f"options[{DETECTOR_OPTION!r}]" if named is not None else "tool.kindling.change-detectors.default",
        restart=policy.restart,
        restart_source=f"options[{RESTART_OPTION!r}]" if RESTART_OPTION in options else "default",
        cached=policy.cached,
        delta=entity is None or entity.format == "delta",
    )


def restart_plan(
    catalog: Catalog,
    *,
    entity: str | None = None,
    pipes: Sequence[str] = (),
    max_depth: int = DEFAULT_CASCADE_DEPTH,
    default_detector: str = "version-poll",
    where: str = "restart_plan(pipes=...)",
) -> RestartPlan:
    """The streaming pipes that restart when ``entity`` changes and/or ``pipes`` restart, with
    their cascades up to ``max_depth`` hops (see the module docstring). ``default_detector``
    is the detector shown for a dimension whose options name none; ``where`` names ``pipes``
    in the error for a batch pipe (the caller's API or CLI flag).

    Raises :class:`~kindling_core.errors.UnknownNameError` for an entity no declaration or
    pipe names, :class:`~kindling_core.planning.UnknownPipeError` for an undeclared pipe and
    :class:`~kindling_core.streaming.errors.UnknownStreamError` for a batch pipe (both with
    did-you-mean), :class:`KindlingError` when neither ``entity`` nor ``pipes`` is given or
    ``max_depth`` is negative. An entity no streaming pipe declares as a dimension is not an
    error: the plan has no roots from it, and a note says why.
    """
    if isinstance(pipes, str):
        pipes = (pipes,)
    requested = tuple(dict.fromkeys(pipes))
    if entity is None and not requested:
        raise KindlingError(
            "a restart plan needs a changed entity or pipes to restart; got neither",
            culprit="restart_plan(entity=None, pipes=())",
            remedy="pass entity='silver.customers' (kindling restarts --entity) or pipes=['silver.enriched'] (--pipe)",
        )
    if type(max_depth) is not int or max_depth < 0:
        raise KindlingError(
            f"max_depth must be a whole number of hops, 0 or more; got {max_depth!r}",
            culprit=f"max_depth={max_depth!r}",
            remedy="pass 0 (no cascades) or more (tool.kindling.restarts.cascade-depth, kindling restarts --depth)",
        )
    declared: Mapping[str, Pipe] = dict(catalog.pipes)
    _check_pipes(requested, declared, where)
    graph = PipeGraph.from_pipes(declared.values())
    roots: dict[str, RestartStep] = {}
    notes: list[str] = []
    facts: DimensionFacts | None = None
    if entity is not None:
        _check_entity(entity, catalog, graph)
        facts = dimension_facts(entity, catalog.entities.get(entity), default_detector=default_detector)
        for pipe in declared.values():
            if pipe.is_streaming and entity in pipe.dimensions:
                roots[pipe.id] = RestartStep(
                    pipe.id, 0, RestartCause.DIMENSION, entity, f"reads dimension {entity}; {facts.summary()}", entity
                )
        if not roots:
            notes.append(_why_no_root(entity, declared))
    for pipe_id in requested:
        if pipe_id not in roots:
            roots[pipe_id] = RestartStep(pipe_id, 0, RestartCause.REQUESTED, pipe_id, "restart requested")
    reached, dimension_readers = _cascade(graph, declared, roots)
    within = _start_positions(graph, [p for p, s in reached.items() if s.depth <= max_depth])
    steps = sorted((reached[p] for p in within), key=lambda s: (s.depth, within[s.pipe]))
    truncated = sorted((s for s in reached.values() if s.depth > max_depth), key=lambda s: (s.depth, s.pipe))
    for reader, (producer, output) in sorted(dimension_readers.items()):
        if reader not in reached:
            notes.append(
                f"{reader} reads {output} (written by {producer}) as a dimension, not as a stream: "
                "not restarted by the cascade (the change detection of its dimension decides)"
            )
    return RestartPlan(
        steps=tuple(steps),
        truncated=tuple(
            attrs.evolve(s, reason=f"{s.reason}; left out: depth {s.depth} is beyond the cascade depth limit {max_depth}")
            for s in truncated
        ),
        entity=entity,
        requested=requested,
        max_depth=max_depth,
        dimension=facts,
        notes=tuple(notes),
    )


def _check_pipes(requested: Sequence[str], declared: Mapping[str, Pipe], where: str) -> None:
    unknown = [p for p in requested if p not in declared]
    if unknown:
        raise UnknownPipeError(unknown, list(declared))
    streaming = [p for p, pipe in declared.items() if pipe.is_streaming]
    for pipe_id in requested:
        if not declared[pipe_id].is_streaming:
            raise UnknownStreamError(
                pipe_id,
                streaming,
                where=where,
                problem=f"pipe {pipe_id!r} is a batch pipe; only streaming pipes restart",
                remedy="name streaming pipes (a batch pipe reads its inputs afresh at every run)",
            )


def _check_entity(entity: str, catalog: Catalog, graph: PipeGraph) -> None:
    if entity in catalog.entities or graph.producer(entity) is not None or entity in graph.consumers:
        return
    raise UnknownNameError(
        "entity",
        entity,
        set(catalog.entities) | set(graph.entities),
        remedy="name an entity declared with app.entity or one a pipe reads or writes",
    )


def _why_no_root(entity: str, declared: Mapping[str, Pipe]) -> str:
    """Why no streaming pipe restarts when ``entity`` changes (a plan note)."""
    streamed = [p.id for p in declared.values() if p.is_streaming and entity in p.inputs]
    batch = [p.id for p in declared.values() if not p.is_streaming and entity in p.inputs]
    if streamed:
        return (
            f"no streaming pipe declares {entity} as a dimension; {', '.join(streamed)} read(s) it as a stream "
            "and see(s) its new data at the next micro-batch, without a restart"
        )
    if batch:
        return f"no streaming pipe reads {entity}; only batch pipes do ({', '.join(batch)}), and they read it afresh at every run"
    return f"no pipe reads {entity}, so its changes restart nothing"


def _cascade(
    graph: PipeGraph, declared: Mapping[str, Pipe], roots: Mapping[str, RestartStep]
) -> tuple[dict[str, RestartStep], dict[str, tuple[str, str]]]:
    """Breadth first from ``roots`` over streaming readers of each restarted output: every pipe
    reached with its shortest depth (no depth limit here: the caller splits at ``max_depth``),
    and the streaming pipes that read a restarted output as a dimension (→ (producer, entity))."""
    reached: dict[str, RestartStep] = dict(roots)
    dimension_readers: dict[str, tuple[str, str]] = {}
    frontier = list(roots)
    depth = 0
    while frontier:
        depth += 1
        following: list[str] = []
        for producer in frontier:
            output = graph.output(producer)
            for reader in graph.downstream(producer):
                pipe = declared[reader]
                if not pipe.is_streaming:
                    continue
                if output in pipe.dimensions:
                    dimension_readers.setdefault(reader, (producer, output))
                    continue
                if reader in reached:
                    continue
                reached[reader] = RestartStep(
                    reader,
                    depth,
                    RestartCause.CASCADE,
                    producer,
                    f"streams the output of {producer}{'' if output == producer else f' ({output})'}, which restarts",
                    output,
                )
                following.append(reader)
        frontier = following
    return reached, dimension_readers


def _start_positions(graph: PipeGraph, members: Sequence[str]) -> dict[str, int]:
    """Each of ``members`` → its position in the streaming strategy's consumers-first order over
    the whole graph (a cycle counts as one node, its members by id)."""
    if not members:
        return {}
    wanted = set(members)
    try:
        generations: Sequence[Sequence[str]] = graph.reverse_generations()
    except CycleError:
        generations = _condensed_reverse_generations(graph)
    order = [p for generation in generations for p in generation if p in wanted]
    return {p: i for i, p in enumerate(order)}


def _condensed_reverse_generations(graph: PipeGraph) -> list[list[str]]:
    """Reverse generations of the graph with each cyclic component contracted to one node
    (named by its smallest id); members of a component are listed together, sorted."""
    members: dict[str, tuple[str, ...]] = {}
    node_of: dict[str, str] = {p: p for p in graph.pipes}
    for component in graph.cyclic_components():
        members[component[0]] = component
        for pipe in component:
            node_of[pipe] = component[0]
    edges = {(node_of[u], node_of[v]) for u, v, _entity in graph.edges() if node_of[u] != node_of[v]}
    condensed = PipeGraph.from_edges(sorted(edges), nodes=sorted(set(node_of.values())))
    return [
        sorted(p for node in generation for p in members.get(node, (node,)))
        for generation in condensed.reverse_generations()
    ]
