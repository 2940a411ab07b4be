"""Parsing ``_delta_log`` files: commit JSON (and its data-change classification),
``_last_checkpoint``, and the commit / checkpoint file names of a listing."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kindling_core.spark.probe._types import CommitInfo, _Failed

__all__ = [
    "_COMMIT_RE",
    "_CHECKPOINT_RE",
    "_json_actions",
    "_parquet_actions",
    "_parse_commit",
    "_parse_last_checkpoint",
    "_complete_checkpoints",
    "_checkpoint_files",
]

_COMMIT_RE = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT_RE = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?(?:\.[^.]+)?\.(?:parquet|json)$")
_DATA_ACTIONS = ("add", "remove", "cdc")


def _json_actions(raw: bytes, where: str) -> Iterator[tuple[str, Any]]:
    """``(kind, body)`` of every action in a newline-delimited JSON log file, in order."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Failed(f"{where} is not UTF-8: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except ValueError as exc:
            raise _Failed(f"{where} line {number} is not JSON: {exc}") from None
        if not isinstance(action, dict):
            raise _Failed(f"{where} line {number} is not a JSON object")
        yield from action.items()


def _parse_commit(raw: bytes, *, where: str, version: int, mtime: Callable[[], int | None]) -> CommitInfo:
    """Parse one commit file (newline-delimited JSON actions) into a :class:`CommitInfo`."""
    operation: str | None = None
    ict: int | None = None
    data_change = version == 0
    kinds: set[str] = set()
    schema: str | None = None
    table_id: str | None = None
    for kind, body in _json_actions(raw, where):
        kinds.add(kind)
        if kind == "metaData" and isinstance(body, dict):
            schema, table_id = _metadata_fields(body, where)
        elif kind == "commitInfo" and isinstance(body, dict):
            op = body.get("operation")
            operation = op if isinstance(op, str) else None
            value = body.get("inCommitTimestamp")
            if isinstance(value, int) and not isinstance(value, bool):
                ict = value
        elif kind in _DATA_ACTIONS and isinstance(body, dict) and body.get("dataChange") is True:
            data_change = True
    return CommitInfo(
        version=version,
        timestamp_ms=ict if ict is not None else mtime(),
        operation=operation,
        data_change=data_change,
        actions=tuple(sorted(kinds)),
        schema_string=schema,
        table_id=table_id,
    )


def _metadata_fields(body: Mapping[str, Any], where: str) -> tuple[str, str | None]:
    """``(schemaString, id)`` of a ``metaData`` action (``schemaString`` is required)."""
    schema = body.get("schemaString")
    if not isinstance(schema, str):
        raise _Failed(f"{where}: a 'metaData' action without a schemaString")
    table_id = body.get("id")
    return schema, table_id if isinstance(table_id, str) else None


def _parse_last_checkpoint(raw: bytes, where: str) -> int:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Failed(f"corrupt {where}: {exc}") from None
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise _Failed(f"corrupt {where}: no non-negative integer 'version' (got {body!r:.200})")
    return version


def _complete_checkpoints(names: Iterable[str]) -> set[int]:
    """Versions with a complete checkpoint in the listing (single-file, v2, or all parts)."""
    versions: set[int] = set()
    parts: dict[tuple[int, int], set[int]] = {}
    for name in names:
        match = _CHECKPOINT_RE.match(name)
        if not match:
            continue
        version = int(match.group(1))
        if match.group(2) is None:
            versions.add(version)
        else:
            part, total = int(match.group(2)), int(match.group(3))
            parts.setdefault((version, total), set()).add(part)
    for (version, total), seen in parts.items():
        if len(seen) == total:
            versions.add(version)
    return versions


def _parquet_actions(raw: bytes, where: str, wanted: Mapping[str, tuple[str, ...]]) -> Iterator[tuple[str, Any]]:
    """The actions of a Parquet checkpoint whose kinds ``wanted`` names, each read with only
    the fields ``wanted`` lists for it (e.g. ``{"add": ("path", "size")}``). Needs pyarrow."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise _Failed(f"{where} is a Parquet checkpoint and pyarrow is not installed") from None
    try:
        parquet = pq.ParquetFile(io.BytesIO(raw))
        present = set(parquet.schema_arrow.names)
        columns = []
        for column, fields in wanted.items():
            if column in present:
                struct = parquet.schema_arrow.field(column).type
                names = {struct.field(i).name for i in range(struct.num_fields)}
                columns += [f"{column}.{name}" for name in fields if name in names]
        table = parquet.read(columns=columns) if columns else None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own error types for corrupt files
        raise _Failed(f"cannot read {where}: {type(exc).__name__}: {exc}") from None
    if table is None:
        return
    for column in wanted:
        if column in table.column_names:
            for value in table.column(column).to_pylist():
                if value is not None:
                    yield column, value


def _checkpoint_files(names: Iterable[str]) -> tuple[int, list[str]] | None:
    """The newest complete checkpoint in the listing: its version and file names.

    Preference at one version: the classic single file, then a complete multi-part set, then
    a V2 checkpoint (the first by name).
    """
    by_version: dict[int, dict[str, Any]] = {}
    for name in names:
        match = _CHECKPOINT_RE.match(name)
        if not match:
            continue
        entry = by_version.setdefault(int(match.group(1)), {"classic": None, "parts": {}, "v2": []})
        if match.group(2) is not None:
            entry["parts"].setdefault(int(match.group(3)), {})[int(match.group(2))] = name
        elif name.endswith(".checkpoint.parquet"):
            entry["classic"] = name
        else:
            entry["v2"].append(name)
    for version in sorted(by_version, reverse=True):
        entry = by_version[version]
        if entry["classic"]:
            return version, [entry["classic"]]
        for total, parts in entry["parts"].items():
            if len(parts) == total:
                return version, [parts[i] for i in sorted(parts)]
        if entry["v2"]:
            return version, [min(entry["v2"])]
    return None
