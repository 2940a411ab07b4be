"""Errors of graph building and planning (all :class:`~kindling_core.errors.KindlingError`).

Each carries structured fields next to its message, so tools can act on them:
:class:`CycleError` ``.cycle`` (pipe ids in edge order, first not repeated), ``.entities``
(the entity each step goes through) and ``.components`` (members of every cyclic strongly
connected component); :class:`DuplicateProducerError` ``.entity``, ``.pipes`` and
``.conflicts``; :class:`UnknownPipeError` ``.unknown`` and ``.available``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kindling_core._names import did_you_mean
from kindling_core.errors import KindlingError

__all__ = [
    "PlanningError",
    "PlanWithoutGraphError",
    "CycleError",
    "SelfLoopError",
    "DuplicateProducerError",
    "DuplicatePipeError",
    "UnknownPipeError",
    "PipeNotPlannedError",
    "StrategyError",
    "format_cycle",
]

#: Longest cycle printed in full; longer ones show both ends and the count in between.
MAX_PRINTED_CYCLE = 200


class PlanningError(KindlingError):
    """Base of every error raised while building the pipe graph or planning it."""


class PlanWithoutGraphError(PlanningError, ValueError):
    """A plan made by hand (without a planner) was asked for something only its graph knows."""


def format_cycle(cycle: Sequence[str]) -> str:
    """``"a -> b -> c -> a"`` (the first pipe repeated at the end to close the loop)."""
    steps = list(cycle) + [cycle[0]]
    if len(steps) > MAX_PRINTED_CYCLE:
        head, tail = steps[:100], steps[-100:]
        hidden = len(steps) - 200
        return " -> ".join(head) + f" -> ... ({hidden} more pipes) ... -> " + " -> ".join(tail)
    return " -> ".join(steps)


class CycleError(PlanningError):
    """The pipe graph has a cycle, so no order satisfies every dependency."""

    def __init__(
        self,
        cycle: Sequence[str],
        entities: Sequence[str],
        components: Sequence[Sequence[str]] = (),
        *,
        message: str | None = None,
    ):
        self.cycle = tuple(cycle)
        self.entities = tuple(entities)
        self.components = tuple(tuple(c) for c in components)
        self.path = format_cycle(self.cycle)
        if message is None:
            steps = [
                f"{self.cycle[i]} writes {self.entities[i]!r}, read by {self.cycle[(i + 1) % len(self.cycle)]}"
                for i in range(min(len(self.cycle), 10))
            ]
            more = "; ..." if len(self.cycle) > 10 else ""
            others = ""
            if len(self.components) > 1:
                sizes = ", ".join(f"{{{', '.join(c[:5])}{', ...' if len(c) > 5 else ''}}}" for c in self.components[:5])
                others = f" The graph has {len(self.components)} cyclic groups of pipes: {sizes}."
            message = f"cycle in the pipe graph: {self.path} ({'; '.join(steps)}{more}).{others}"
        super().__init__(
            message,
            culprit=self.cycle[0] if self.cycle else None,
            remedy="break the cycle: one of these pipes must not read (directly or through others) what it writes",
        )


class SelfLoopError(CycleError):
    """A pipe reads its own output (the shortest possible cycle)."""

    def __init__(self, pipe: str, entity: str, components: Sequence[Sequence[str]] = ()):
        self.pipe = pipe
        self.entity = entity
        super().__init__(
            (pipe,),
            (entity,),
            components,
            message=f"self-loop in the pipe graph: pipe {pipe!r} reads its own output {entity!r} ({pipe} -> {pipe})",
        )
        self.remedy = f"write {pipe!r} to a different entity than it reads, or remove {entity!r} from its inputs"


class DuplicateProducerError(PlanningError):
    """Two (or more) pipes write one entity; every entity has at most one producer."""

    def __init__(self, conflicts: Mapping[str, Sequence[str]]):
        self.conflicts = {entity: tuple(pipes) for entity, pipes in conflicts.items()}
        self.entity, self.pipes = next(iter(self.conflicts.items()))
        writers = " and ".join(repr(p) for p in self.pipes)
        more = ""
        if len(self.conflicts) > 1:
            more = f" ({len(self.conflicts) - 1} more entities have several writers: " + ", ".join(
                f"{e!r} by {', '.join(ps)}" for e, ps in list(self.conflicts.items())[1:6]
            ) + ")"
        super().__init__(
            f"entity {self.entity!r} is written by {len(self.pipes)} pipes: {writers}; "
            f"an entity must have exactly one producer{more}",
            culprit=self.entity,
            remedy="give each pipe its own output entity (write to a staging entity and merge it in a third pipe)",
        )


class DuplicatePipeError(PlanningError):
    """The same pipe id appears twice in the pipes given to the graph."""

    def __init__(self, pipe: str):
        self.pipe = pipe
        super().__init__(f"pipe id {pipe!r} appears twice in the graph's input", culprit=pipe,
                         remedy="pipe ids must be unique")


def _listing(names: Sequence[str], limit: int = 30) -> str:
    if not names:
        return "(none)"
    shown = ", ".join(names[:limit])
    return shown + (f", ... and {len(names) - limit} more" if len(names) > limit else "")


class UnknownPipeError(PlanningError, LookupError):
    """Pipe ids asked for (``pipes=``, ``--pipes``, ``--explain``) that are not declared."""

    def __init__(self, unknown: Sequence[str], available: Sequence[str]):
        self.unknown = tuple(unknown)
        self.available = tuple(sorted(available))
        parts = []
        for name in self.unknown:
            hint = did_you_mean(name, self.available).strip()
            parts.append(f"{name!r} ({hint[0].lower() + hint[1:]})" if hint else repr(name))
        noun = "pipe id" if len(self.unknown) == 1 else "pipe ids"
        super().__init__(
            f"unknown {noun} {', '.join(parts)}. Available: {_listing(self.available)}.",
            culprit=self.unknown[0] if self.unknown else None,
            remedy="use the id given to @app.pipe (kindling plan lists them)",
        )


class PipeNotPlannedError(UnknownPipeError):
    """A pipe asked of a plan restricted with ``pipes=`` (``--pipes``) that is not in it:
    declared outside the selection, or not declared at all. ``requested`` is the restriction."""

    def __init__(self, pipe_id: str, planned: Sequence[str], requested: Sequence[str]):
        super().__init__([pipe_id], planned)
        self.requested = tuple(requested)
        self.message = (
            f"pipe {pipe_id!r} is not in this plan, which is restricted to {', '.join(self.requested)} and "
            f"the pipes they need.{did_you_mean(pipe_id, self.available)} Planned: {_listing(self.available)}."
        )
        self.remedy = "plan without pipes= (or add the pipe to pipes=) to explain it"
        self.args = (self.message,)


class StrategyError(PlanningError):
    """An execution strategy returned malformed generations (a bug in its plugin)."""

    def __init__(self, strategy: str, problem: str, plugin: str | None = None):
        self.strategy = strategy
        self.problem = problem
        self.plugin = plugin
        origin = f" (plugin {plugin})" if plugin else ""
        super().__init__(
            f"execution strategy {strategy!r}{origin} returned an invalid plan: {problem}",
            culprit=strategy,
            remedy="fix the strategy: it must return every planned pipe exactly once, in generations",
        )
