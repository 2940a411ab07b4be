"""Find plugins through entry points without importing them.

A pure step: it reads distribution metadata only. The result is deterministic (sorted by plugin
id, then distribution), whatever order ``importlib.metadata`` yields.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from kindling_core.hookspecs import ENTRY_POINT_GROUP

__all__ = ["EntryPointLike", "PluginCandidate", "Discovery", "discover", "normalize_distribution"]

#: The distribution whose plugins are the built-in defaults.
CORE_DISTRIBUTION = "kindling-core"


class EntryPointLike(Protocol):
    """What discovery needs of an entry point (``importlib.metadata.EntryPoint`` fits)."""

    name: str
    value: str

    def load(self) -> Any: ...


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation: ``Kindling_Webhook`` → ``kindling-webhook``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@attrs.frozen
class PluginCandidate:
    """A plugin found but not imported: its id, where it comes from and how to load it."""

    id: str
    distribution: str | None
    version: str | None
    value: str
    load: Callable[[], Any] = attrs.field(eq=False, repr=False)

    @property
    def builtin(self) -> bool:
        """True for the plugins shipped inside kindling-core itself."""
        return self.distribution is not None and normalize_distribution(self.distribution) == CORE_DISTRIBUTION


@attrs.frozen
class Discovery:
    """What discovery found: unique candidates, and ids claimed by several distributions."""

    candidates: tuple[PluginCandidate, ...]
    conflicts: tuple[tuple[PluginCandidate, ...], ...] = ()


def _dist_of(entry_point: Any) -> tuple[str | None, str | None]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    name = getattr(dist, "name", None)
    if name is None:  # pragma: no cover - very old importlib.metadata
        name = dist.metadata["Name"]
    return name, getattr(dist, "version", None)


def installed_entry_points() -> list[Any]:
    """Entry points of the ``kindling`` group from the installed distributions."""
    return list(md.entry_points(group=ENTRY_POINT_GROUP))


def discover(entry_points: Iterable[Any] | None = None) -> Discovery:
    """Turn entry points (installed ones by default) into sorted candidates and conflicts.

    The same (id, distribution) seen twice (a package on ``sys.path`` twice) counts once.
    One id from two different distributions is a conflict: both are reported and neither
    is a candidate.
    """
    found = installed_entry_points() if entry_points is None else list(entry_points)
    by_id: dict[str, dict[str, PluginCandidate]] = {}
    for entry_point in found:
        distribution, version = _dist_of(entry_point)
        candidate = PluginCandidate(
            id=entry_point.name,
            distribution=distribution,
            version=version,
            value=entry_point.value,
            load=entry_point.load,
        )
        key = normalize_distribution(distribution) if distribution else f"<{entry_point.value}>"
        by_id.setdefault(entry_point.name, {}).setdefault(key, candidate)
    candidates: list[PluginCandidate] = []
    conflicts: list[tuple[PluginCandidate, ...]] = []
    for plugin_id in sorted(by_id):
        claims = [by_id[plugin_id][k] for k in sorted(by_id[plugin_id])]
        if len(claims) == 1:
            candidates.append(claims[0])
        else:
            conflicts.append(tuple(claims))
    return Discovery(tuple(candidates), tuple(conflicts))
