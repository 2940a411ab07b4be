"""The six extension families: their hook, item type, core semantic and config section.

This table is the single source the loader, the registry, the config schema, the CLI and the
generated hook reference read. Adding a family means adding one row here and one hookspec.
"""

from __future__ import annotations

import enum

import attrs

from kindling_core import items

__all__ = ["Semantic", "Family", "FAMILIES", "FAMILY_BY_KEY", "FAMILY_BY_HOOK", "family_of"]


class Semantic(str, enum.Enum):
    """How the core combines a family's items."""

    SELECT_ONE = "select-one"
    """Exactly one item is used, chosen by name from configuration."""
    CHAIN = "chain"
    """Items run in configured order (``order`` with ``"..."`` for the rest, ``disable``)."""
    RUN_ALL = "run-all"
    """Every enabled item runs (``disable`` removes some; ``order`` sets the run order)."""


@attrs.frozen
class Family:
    """One extension family.

    ``key`` is the family's user-facing name (``plugins list --json`` ``provides`` keys);
    ``hook`` the registration hook's name; ``config_section`` the table under
    ``[tool.kindling]`` holding its ``order``/``disable`` (``None`` for select-one families,
    which are selected by ``select_key``); ``pinned_last`` names built-in items that always run
    last in a chain; ``leading`` names built-in items that come first in the default order
    (``order`` can still move them: the ``patterns`` failure classifier, present only when
    patterns are configured); ``default`` is the item selected when configuration says nothing;
    ``builtins_first`` puts the built-in plugins' items before third-party ones in the default
    order (error handlers: the local log is written before a slow webhook retries).
    """

    key: str
    hook: str
    item_type: type[items.Item]
    semantic: Semantic
    config_section: str
    summary: str
    noun: str = "item"
    pinned_last: tuple[str, ...] = ()
    leading: tuple[str, ...] = ()
    default: str | None = None
    builtins_first: bool = False


FAMILIES: tuple[Family, ...] = (
    Family(
        key="execution-strategies",
        noun="execution strategy",
        hook="kindling_execution_strategies",
        item_type=items.ExecutionStrategy,
        semantic=Semantic.SELECT_ONE,
        config_section="strategy",
        summary="turn a pipe graph into an execution plan; one is selected",
        default="batch",
    ),
    Family(
        key="cache-heuristics",
        noun="cache heuristic",
        hook="kindling_cache_heuristics",
        item_type=items.CacheHeuristic,
        semantic=Semantic.CHAIN,
        config_section="cache",
        summary="recommend entities to cache; all contribute, advisory",
    ),
    Family(
        key="failure-classifiers",
        noun="failure classifier",
        hook="kindling_failure_classifiers",
        item_type=items.FailureClassifier,
        semantic=Semantic.CHAIN,
        config_section="failure-classifiers",
        summary="map an exception to a failure kind; first decisive answer wins",
        pinned_last=("generic",),
        leading=("patterns",),
    ),
    Family(
        key="recovery-strategies",
        noun="recovery strategy",
        hook="kindling_recovery_strategies",
        item_type=items.RecoveryStrategy,
        semantic=Semantic.CHAIN,
        config_section="recovery",
        summary="decide what to do about a classified failure; first that applies wins",
    ),
    Family(
        key="change-detectors",
        noun="change detector",
        hook="kindling_change_detectors",
        item_type=items.ChangeDetector,
        semantic=Semantic.RUN_ALL,
        config_section="change-detectors",
        summary="report that a watched entity changed; a dimension names its detector",
        default="version-poll",
    ),
    Family(
        key="error-handlers",
        noun="error handler",
        hook="kindling_error_handlers",
        item_type=items.ErrorHandler,
        semantic=Semantic.RUN_ALL,
        config_section="error-handlers",
        summary="react to an error; all run, a failing handler never masks the error",
        builtins_first=True,
    ),
)

FAMILY_BY_KEY = {family.key: family for family in FAMILIES}
FAMILY_BY_HOOK = {family.hook: family for family in FAMILIES}


def family_of(item: items.Item) -> Family:
    """The family ``item`` belongs to, by its type (``LookupError`` for anything else)."""
    for family in FAMILIES:
        if isinstance(item, family.item_type):
            return family
    raise LookupError(f"{type(item).__name__} is not the item type of any family")
