"""The log-reading algorithm shared by the local and hadoop backends, over the :class:`_Log`
interface a storage backend provides (:mod:`._storage`)."""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

from kindling_core.spark.probe._commits import (
    _COMMIT_RE,
    _complete_checkpoints,
    _parse_commit,
    _parse_last_checkpoint,
)
from kindling_core.spark.probe._metadata import _metadata_at, _schema_changes
from kindling_core.spark.probe._types import CommitInfo, ProbeStatus, ProbeTableError, VersionInfo, _Missing

__all__ = ["_Log", "_probe_log", "_commits_since"]


class _Log(Protocol):
    """What the log-reading algorithm needs from a storage backend (one table)."""

    name: str

    def list_names(self) -> list[str]:
        """Names in ``_delta_log``; raise ``_Missing`` / ``_Failed``."""

    def read(self, name: str) -> bytes | None:
        """Bytes of ``_delta_log/name``, ``None`` when it does not exist; raise ``_Failed``."""

    def mtime_ms(self, name: str) -> int | None:
        """Modification time of ``_delta_log/name`` in ms, ``None`` when it does not exist."""


def _probe_log(log: _Log, location: str, since: int | None, max_scan: int) -> VersionInfo:
    """The log-reading algorithm, shared by the local and hadoop backends."""
    names = log.list_names()
    commits: set[int] = set()
    has_last_checkpoint = False
    for name in names:
        match = _COMMIT_RE.match(name)
        if match:
            commits.add(int(match.group(1)))
        elif name == "_last_checkpoint":
            has_last_checkpoint = True
    checkpoint: int | None = None
    if has_last_checkpoint:
        raw = log.read("_last_checkpoint")
        if raw is not None:  # deleted between listing and reading: fall back to the listing
            checkpoint = _parse_last_checkpoint(raw, f"{location}/_delta_log/_last_checkpoint")
    floor_versions = _complete_checkpoints(names)
    if checkpoint is not None:
        floor_versions.add(checkpoint)
    if not commits and not floor_versions:
        raise _Missing()
    latest = max(commits | floor_versions)

    cache: dict[int, CommitInfo | None] = {}

    def commit(version: int) -> CommitInfo | None:
        if version not in cache:
            name = f"{version:020d}.json"
            raw = log.read(name) if version in commits else None
            cache[version] = (
                None
                if raw is None
                else _parse_commit(raw, where=f"{location}/_delta_log/{name}", version=version, mtime=partial(log.mtime_ms, name))
            )
        return cache[version]

    top = commit(latest)
    info: dict[str, Any] = {
        "location": location,
        "status": ProbeStatus.OK,
        "version": latest,
        "timestamp_ms": top.timestamp_ms if top else None,
        "operation": top.operation if top else None,
        "checkpoint_version": checkpoint,
        "backend": log.name,
    }
    # Scan downwards for the newest data change: without `since` through max_scan commits,
    # stopping at the first data change; with `since` every commit down to since+1 (bounded by
    # max_scan), because a metadata-only commit below a data change may have changed the schema.
    if since is not None and since > latest:
        info.update(data_change=None, recreated=True, note=f"since={since} is ahead of the latest version {latest} (table recreated?)")
        return VersionInfo(**info)
    low = since + 1 if since is not None else max(0, latest - max_scan + 1)
    if since is not None and latest - low + 1 > max_scan:
        low_scan = latest - max_scan + 1
    else:
        low_scan = low
    found: int | None = None
    truncated = False
    read: list[CommitInfo] = []
    for version in range(latest, low_scan - 1, -1):
        entry = commit(version)
        if entry is None:
            truncated = True
            break
        read.append(entry)
        if entry.data_change and found is None:
            found = version
            if since is None:
                break
    info["last_data_version"] = found
    if since is None:
        info["data_change"] = top.data_change if top else None
        if top is None:
            info.update(history_truncated=True, note=f"commit {latest} was cleaned up; only its checkpoint remains")
        elif found is None and truncated:
            info.update(history_truncated=True, note="older commits were cleaned up before a data change was found")
        return VersionInfo(**info)
    # Every commit after `since` must be read to tell what changed (data and schema).
    if truncated:
        info.update(
            data_change=None,
            history_truncated=True,
            note=f"commits after since={since} were cleaned up from the log; cannot tell what changed",
        )
    elif low_scan > low:
        info.update(data_change=None, note=f"scan limit of {max_scan} commits reached; cannot tell what changed")
    else:
        info["data_change"] = found is not None
        metadata_at = partial(_metadata_at, commit=commit, names=names, read=log.read, location=location, max_scan=max_scan)
        info.update(_schema_changes(read[::-1], metadata_at))
    return VersionInfo(**info)


def _commits_since(log: _Log, location: str, since: int) -> list[CommitInfo]:
    names = log.list_names()
    commits = sorted(int(m.group(1)) for m in map(_COMMIT_RE.match, names) if m)
    if not commits and not _complete_checkpoints(names) and "_last_checkpoint" not in names:
        raise _Missing()
    out: list[CommitInfo] = []
    if not commits:
        return out
    latest = commits[-1]
    present = set(commits)
    for version in range(since + 1, latest + 1):
        name = f"{version:020d}.json"
        raw = log.read(name) if version in present else None
        if raw is None:
            raise ProbeTableError(
                f"commit {version} of {location} was cleaned up from the log; the changes since version {since} cannot be listed",
                location=location,
                status=None,
                remedy="re-read the table in full, or keep the log longer (delta.logRetentionDuration)",
            )
        where = f"{location}/_delta_log/{name}"
        out.append(_parse_commit(raw, where=where, version=version, mtime=partial(log.mtime_ms, name)))
    return out
