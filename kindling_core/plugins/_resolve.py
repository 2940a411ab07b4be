"""Resolve each family's items against configuration (pure functions, no I/O).

Default order, which configuration can change but never depends on pluggy's call order:
third-party plugins first, sorted by plugin id, then the built-in plugins sorted by id (for a
family with ``builtins_first``, the error handlers, the other way round); within a plugin, the
order its hook returned the items in. Built-in items named in a family's ``leading`` (the
``patterns`` failure classifier) come first in that default order; built-in items named in
its ``pinned_last`` (the ``generic`` failure classifier) always come last.

``order`` semantics: the listed names first, in the listed order; ``"..."`` stands for every
item not listed, in default order; with no ``"..."`` the unlisted items follow the listed ones.
``disable`` removes items. Every name in ``order``/``disable``/``strategy``/``default`` must
exist, or an :class:`~kindling_core.errors.UnknownNameError` names the exact key path; when a
failed plugin provides the name (or, failing before it registered anything, likely does), a
:class:`~kindling_core.errors.FailedProviderError` names that plugin and why it failed
(:func:`~kindling_core.plugins.registry.missing_name_error`).

Such a problem is raised, or, with ``on_problem``, handed to it and resolution goes on as if
the name were not configured (tools that list every plugin and report every problem).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs

from kindling_core.config import KindlingConfig
from kindling_core.errors import UnknownNameError
from kindling_core.families import FAMILIES, Family, Semantic
from kindling_core.items import Item
from kindling_core.plugins.registry import FailedPlugin, FamilyView, Provided, missing_name_error

__all__ = ["ActivePlugin", "resolve_families", "apply_order"]

REST = "..."


def apply_order(default: Sequence[str], order: Sequence[str]) -> list[str]:
    """Reorder ``default`` by ``order`` (names and at most one ``"..."``); see module doc."""
    listed = [name for name in order if name != REST]
    rest = [name for name in default if name not in listed]
    if REST not in order:
        return listed + rest
    result: list[str] = []
    for name in order:
        result.extend(rest if name == REST else [name])
    return result


@attrs.frozen
class ActivePlugin:
    """An active plugin as resolution needs it: who, whether built in, its items by family key."""

    id: str
    distribution: str | None
    version: str | None
    builtin: bool
    items: Mapping[str, Sequence[Item]]


def _raise(problem: UnknownNameError) -> None:
    raise problem


def _resolve_one(
    family: Family,
    config: KindlingConfig,
    provided: list[Provided[Item]],
    builtin_ids: set[str],
    failed: tuple[FailedPlugin, ...],
    on_problem: Callable[[UnknownNameError], None],
) -> FamilyView[Item]:
    by_name = {p.item.name: p for p in provided}
    default_order = [p.item.name for p in provided]
    leading = [n for n in family.leading if n in by_name and by_name[n].plugin in builtin_ids]
    default_order = leading + [n for n in default_order if n not in leading]
    available = list(by_name)
    section = family.config_section
    path = f"tool.kindling.{section}"

    def missing(name: str, where: str, names: Sequence[str] = available) -> None:
        on_problem(missing_name_error(family, name, names, path=where, failed=failed))

    selected: str | None
    if family.semantic is Semantic.SELECT_ONE:
        selected = config.strategy
        if selected not in by_name and (available or selected != family.default):
            missing(selected, path)
        return FamilyView(
            family=family, available=by_name, active=tuple(p.item for p in provided), selected=selected, failed=failed
        )

    table = config.chain(section)
    disable = tuple(getattr(table, "disable", ()))
    order = tuple(getattr(table, "order", ()))
    for index, name in enumerate(disable):
        if name not in by_name:
            missing(name, f"{path}.disable[{index}]")
    for index, name in enumerate(order):
        if name != REST and name not in by_name:
            missing(name, f"{path}.order[{index}]")
    if order.count(REST) > 1:
        on_problem(UnknownNameError(family.noun, REST, available, path=f"{path}.order", remedy='use "..." at most once'))
    order = tuple(name for name in order if name in by_name or name == REST)
    if order.count(REST) > 1:  # reported above; keep the first
        first = order.index(REST)
        order = order[: first + 1] + tuple(name for name in order[first + 1 :] if name != REST)
    names = apply_order(default_order, order)
    pinned = [n for n in family.pinned_last if n in by_name and by_name[n].plugin in builtin_ids]
    names = [n for n in names if n not in pinned] + pinned
    active = tuple(by_name[n].item for n in names if n not in disable)
    selected = None
    if family.default is not None:
        selected = getattr(table, "default", family.default)
        if selected not in by_name and (available or selected != family.default):
            missing(selected, f"{path}.default")
        elif selected in disable:
            missing(selected, f"{path}.default", [n for n in names if n not in disable])
    return FamilyView(family=family, available=by_name, active=active, disabled=disable, selected=selected, failed=failed)


def resolve_families(
    config: KindlingConfig,
    active_plugins: Sequence[ActivePlugin],
    failed_plugins: Sequence[FailedPlugin] = (),
    *,
    on_problem: Callable[[UnknownNameError], None] | None = None,
) -> dict[str, FamilyView[Item]]:
    """Resolve every family from the active plugins.

    ``failed_plugins`` lets a missing name be explained by the plugin that failed. Problems
    (names configuration selects that nothing active provides) are raised, or given to
    ``on_problem`` when one is passed.
    """
    ordered = sorted(active_plugins, key=lambda plugin: (plugin.builtin, plugin.id))
    builtin_ids = {plugin.id for plugin in active_plugins if plugin.builtin}
    failed = tuple(failed_plugins)
    views: dict[str, FamilyView[Item]] = {}
    for family in FAMILIES:
        plugins = sorted(ordered, key=lambda plugin: not plugin.builtin) if family.builtins_first else ordered
        provided = [
            Provided(item, plugin.id, plugin.distribution, plugin.version)
            for plugin in plugins
            for item in plugin.items.get(family.key, ())
        ]
        views[family.key] = _resolve_one(family, config, provided, builtin_ids, failed, on_problem or _raise)
    return views
