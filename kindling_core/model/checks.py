"""What a run can know is wrong before it starts: declarations that would certainly fail a pipe.

:func:`check_pipes` reads declarations only (no Spark, no storage) and reports, for each pipe
it is given, every problem the Spark runner would hit before or while writing:

``undeclared-output`` / ``undeclared-input``
    the pipe writes or reads an entity id never declared with ``app.entity``. Planning
    accepts such implicit references, but the runner needs each entity's declaration to find
    its table, for inputs as for outputs (``UndeclaredEntityError``), so both are errors.
``merge-without-keys``
    ``write="merge"`` into an entity that declares no ``merge_keys`` (``MergeKeysMissingError``).
``merge-into-non-delta``
    ``write="merge"`` into an entity whose ``format`` is not ``delta``: a merge is a Delta
    operation.

``app.run(dry_run=True)`` and ``kindling run --dry-run`` run these checks on the planned pipes
and fail on any problem. The result is frozen; :attr:`RunCheck.checks` says what was checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kindling_core.errors import KindlingError
from kindling_core.model.entity import Entity
from kindling_core.model.pipe import Pipe, WriteMode

__all__ = ["CHECKS", "Problem", "RunCheck", "RunCheckError", "check_pipes"]

#: What :func:`check_pipes` checks, in the words reports use.
CHECKS: tuple[str, ...] = (
    "every input and output is a declared entity",
    "merge writes have merge keys",
    "merge writes go to Delta entities",
)


@attrs.frozen
class Problem:
    """One declaration that would fail ``pipe`` at run time.

    ``check`` is the problem's kind (``undeclared-output``, ``undeclared-input``,
    ``merge-without-keys``, ``merge-into-non-delta``); ``entity`` the entity concerned.
    """

    check: str
    pipe: str
    entity: str
    message: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.message}\n    remedy: {self.remedy}"

    def to_dict(self) -> dict[str, str]:
        return attrs.asdict(self)


@attrs.frozen
class RunCheck:
    """The outcome of :func:`check_pipes`: the pipes checked, the checks, the problems found."""

    pipes: tuple[str, ...]
    problems: tuple[Problem, ...] = ()
    checks: tuple[str, ...] = CHECKS

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """``checked 3 pipes: every input and output is a declared entity; ...``."""
        count = len(self.pipes)
        return f"checked {count} pipe{'' if count == 1 else 's'}: {'; '.join(self.checks)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipes": list(self.pipes),
            "checks": list(self.checks),
            "problems": [problem.to_dict() for problem in self.problems],
        }

    def raise_for_problems(self) -> None:
        """Raise :class:`RunCheckError` when a problem was found."""
        if self.problems:
            raise RunCheckError(self)


class RunCheckError(KindlingError):
    """Declarations that would certainly fail the run; ``check`` holds every problem."""

    def __init__(self, check: RunCheck):
        self.check = check
        count = len(check.problems)
        listing = "\n".join(f"  - {problem}" for problem in check.problems)
        super().__init__(
            f"{count} problem{'' if count == 1 else 's'} would fail the run ({check.summary()}):\n{listing}",
            culprit=check.problems[0].pipe if check.problems else None,
        )


def _undeclared(pipe: Pipe, entity_id: str, role: str) -> Problem:
    verb = "writes" if role == "output" else "reads"
    return Problem(
        check=f"undeclared-{role}",
        pipe=pipe.id,
        entity=entity_id,
        message=f"pipe {pipe.id!r} {verb} entity {entity_id!r}, which is not declared",
        remedy=f"declare it: app.entity({entity_id!r}, path=...) (or table=...)",
    )


def _merge_problems(pipe: Pipe, entity: Entity) -> list[Problem]:
    problems = []
    if not entity.merge_keys:
        problems.append(
            Problem(
                check="merge-without-keys",
                pipe=pipe.id,
                entity=entity.id,
                message=f"pipe {pipe.id!r} merges into entity {entity.id!r}, which declares no merge_keys",
                remedy=f"declare app.entity({entity.id!r}, ..., merge_keys=['id']) or write with 'overwrite'/'append'",
            )
        )
    if entity.format != "delta":
        problems.append(
            Problem(
                check="merge-into-non-delta",
                pipe=pipe.id,
                entity=entity.id,
                message=f"pipe {pipe.id!r} merges into entity {entity.id!r}, whose format is {entity.format!r}; "
                "a merge needs a Delta table",
                remedy=f"declare {entity.id!r} with format='delta' (the default) or write with 'overwrite'/'append'",
            )
        )
    return problems


def check_pipes(pipes: Iterable[Pipe], entities: Mapping[str, Entity]) -> RunCheck:
    """Check ``pipes`` against the declared ``entities`` (see the module docstring)."""
    checked: list[str] = []
    problems: list[Problem] = []
    for pipe in pipes:
        checked.append(pipe.id)
        output = entities.get(pipe.output)
        if output is None:
            problems.append(_undeclared(pipe, pipe.output, "output"))
        elif pipe.write is WriteMode.MERGE:
            problems.extend(_merge_problems(pipe, output))
        problems.extend(_undeclared(pipe, entity_id, "input") for entity_id in pipe.inputs if entity_id not in entities)
    return RunCheck(pipes=tuple(checked), problems=tuple(problems))
