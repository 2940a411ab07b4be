"""Where a streaming pipe keeps its checkpoint, and whether that place can be used.

A pipe's checkpoint is, in order: its ``checkpoint=`` declaration, the older spelling
``options={"checkpoint": ...}``, else ``<checkpoint-base>/<pipe id>`` where ``checkpoint-base``
comes from ``[tool.kindling.streaming]`` (default ``.kindling/checkpoints``). Local paths are
made absolute against the project root; URLs (``abfss://``, ``s3a://``, ``dbfs:/``...) are
kept as written. Only local locations are checked for writability before a start (remote ones
are Spark's to judge when the query starts).
"""

from __future__ import annotations

import os
from pathlib import Path

from kindling_core.model import Pipe

__all__ = ["checkpoint_location", "is_local", "local_path", "write_problem", "same_location"]


def is_local(location: str) -> bool:
    """True for a local path (``/x``, ``rel/x``, ``file:/x``), false for other URLs."""
    if location.startswith("file:"):
        return True
    return "://" not in location and not location.startswith("dbfs:")


def local_path(location: str) -> Path:
    """The local path of a local location (``file:`` prefixes dropped)."""
    if location.startswith("file://"):
        return Path(location[len("file://") :])
    if location.startswith("file:"):
        return Path(location[len("file:") :])
    return Path(location)


def checkpoint_location(pipe: Pipe, base: str, root: Path) -> str:
    """The checkpoint location of ``pipe`` (see the module docstring)."""
    declared = pipe.checkpoint or pipe.options.get("checkpoint")
    if declared:
        location = str(declared)
    elif is_local(base):
        location = str(local_path(base) / pipe.id)
    else:
        location = base.rstrip("/") + "/" + pipe.id
    if not is_local(location):
        return location
    path = local_path(location).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def write_problem(location: str) -> str | None:
    """Why this process cannot create or write the local folder ``location`` (``None``: it can,
    or the location is remote and not checked here)."""
    if not is_local(location):
        return None
    probe = local_path(location)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this process"
    return None


def same_location(first: str, second: str) -> bool:
    """True when two checkpoint locations name the same place (trailing slashes and, for local
    paths, ``file:`` prefixes and ``..`` segments ignored)."""
    if is_local(first) and is_local(second):
        return os.path.normpath(local_path(first)) == os.path.normpath(local_path(second))
    return first.rstrip("/") == second.rstrip("/")
