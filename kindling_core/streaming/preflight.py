"""Checks made before any streaming query starts, so a bad declaration fails with its culprit
named instead of half-way through starting a set of queries (or, worse, at the first batch).

What is *streamable* for kindling's entities (an input read as a stream, i.e. not a dimension):

* Delta tables, by path or catalog name: always;
* file formats (``parquet``, ``json``, ``csv``, ``orc``, ``avro``, ``xml``): only with a declared
  ``schema=`` on the entity, because Spark's file stream sources need the schema up front
  (``text`` and ``binaryFile`` have a fixed schema and need none);
* catalog tables (``table=``) that are not Delta: never (Spark streams catalog tables only
  through a streaming-capable provider such as Delta);
* formats without a streaming reader (``jdbc``, and the sinks ``console``, ``memory``,
  ``noop``): never;
* any other format (``kafka``, ``rate``, a plugin's): left to Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kindling_core.model import Entity, Pipe
from kindling_core.streaming.checkpoints import same_location, write_problem
from kindling_core.streaming.errors import CheckpointError, DuplicateQueryNameError, NotStreamableError, StreamingError

__all__ = [
    "FILE_FORMATS",
    "NOT_STREAMABLE_FORMATS",
    "query_name_for",
    "stream_input_problem",
    "check_inputs",
    "check_checkpoints",
    "check_query_names",
]

#: File formats Spark can stream when given a schema.
FILE_FORMATS = frozenset({"parquet", "json", "csv", "orc", "avro", "xml"})
#: File formats with a fixed schema (streamable without one).
FIXED_SCHEMA_FORMATS = frozenset({"text", "binaryfile"})
#: Formats Spark has no streaming reader for.
NOT_STREAMABLE_FORMATS = frozenset({"jdbc", "console", "memory", "noop"})


def query_name_for(pipe_id: str) -> str:
    """The Spark query name of a streaming pipe: ``kindling_`` + the id with dots as underscores."""
    return "kindling_" + pipe_id.replace(".", "_")


def stream_input_problem(entity: Entity) -> tuple[str, str] | None:
    """``(problem, remedy)`` when ``entity`` cannot be read as a stream (see the module
    docstring), else ``None``."""
    fmt = entity.format.lower()
    if fmt == "delta":
        return None
    as_dimension = "or declare it a dimension of the pipe (dimensions=[...]) so it is read as a static table"
    if fmt in NOT_STREAMABLE_FORMATS:
        return f"Spark has no streaming reader for format {entity.format!r}", f"land it in a Delta table first, {as_dimension}"
    if entity.table is not None:
        return (
            f"it is a catalog table of format {entity.format!r}; Spark streams catalog tables only as Delta",
            f"store it as a Delta table (format='delta'), {as_dimension}",
        )
    if fmt in FILE_FORMATS and entity.schema is None:
        return (
            f"it is a {entity.format} location without a declared schema; Spark's file stream sources need the schema up front",
            f"declare app.entity({entity.id!r}, ..., schema='id BIGINT, ...'), {as_dimension}",
        )
    return None


def check_inputs(pipe: Pipe, entities: Mapping[str, Entity]) -> None:
    """Every entity of ``pipe`` is declared and every input it streams is streamable."""
    for entity_id in (*pipe.inputs, pipe.output):
        if entity_id not in entities:
            raise StreamingError(
                f"streaming pipe {pipe.id!r} uses entity {entity_id!r}, which is not declared",
                query=pipe.id,
                remedy=f"declare it: app.entity({entity_id!r}, path=...) (or table=...)",
            )
    for entity_id in pipe.inputs:
        if entity_id in pipe.dimensions:
            continue
        found = stream_input_problem(entities[entity_id])
        if found is not None:
            problem, remedy = found
            raise NotStreamableError(
                f"streaming pipe {pipe.id!r} reads input {entity_id!r} as a stream, but {problem}",
                query=pipe.id,
                culprit=f"pipe {pipe.id!r}, input {entity_id!r}",
                remedy=remedy,
            )


def check_checkpoints(checkpoints: Iterable[tuple[str, str]], starting: Iterable[str]) -> None:
    """No two queries share a checkpoint (``checkpoints``: every ``(pipe id, location)`` of the
    app), and the checkpoints of the pipes ``starting`` can be written."""
    seen: list[tuple[str, str]] = []
    for pipe_id, location in checkpoints:
        for other_id, other in seen:
            if same_location(location, other):
                raise CheckpointError(
                    f"streaming pipes {other_id!r} and {pipe_id!r} share the checkpoint {location}; "
                    "Spark would run them as one query and stop one when the other starts",
                    query=pipe_id,
                    culprit=f"checkpoint of pipes {other_id!r} and {pipe_id!r}",
                    remedy="give each pipe its own checkpoint= (or drop checkpoint= to use <checkpoint-base>/<pipe id>)",
                )
        seen.append((pipe_id, location))
    wanted = set(starting)
    for pipe_id, location in seen:
        if pipe_id not in wanted:
            continue
        problem = write_problem(location)
        if problem is not None:
            raise CheckpointError(
                f"streaming pipe {pipe_id!r} cannot write its checkpoint at {location}: {problem}",
                query=pipe_id,
                remedy="point checkpoint= (or tool.kindling.streaming.checkpoint-base) at a writable folder, or fix the permissions",
            )


def check_query_names(names: Iterable[tuple[str, str]]) -> None:
    """No two managed queries (``(key, query name)``: pipe id or registered name) share a name."""
    owners: dict[str, str] = {}
    for key, name in names:
        other = owners.get(name)
        if other is not None and other != key:
            raise DuplicateQueryNameError(
                f"{other!r} and {key!r} would both run as Spark query {name!r}; Spark runs one active query per name",
                query=key,
                culprit=f"query name {name!r}",
                remedy="rename one of them (pipe ids 'a.b' and 'a_b' both become kindling_a_b)",
            )
        owners[name] = key
