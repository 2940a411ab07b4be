"""Resolve each family's items against configuration (pure functions, no I/O).

Default order, which configuration can change but never depends on pluggy's call order:
third-party plugins first, sorted by plugin id, then the built-in plugins sorted by id (for a
family with ``builtins_first``, the error handlers, the other way round); within a plugin, the
order its hook returned the items in. Built-in items named in a family's
``pinned_last`` (the ``generic`` failure classifier) always come last.

``order`` semantics: the listed names first, in the listed order; ``"..."`` stands for every
item not listed, in default order; with no ``"..."`` the unlisted items follow the listed ones.
``disable`` removes items. Every name in ``order``/``disable``/``strategy``/``default`` must
exist, or an :class:`~kindling_core.errors.UnknownNameError` names the exact key path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kindling_core.config import KindlingConfig
from kindling_core.errors import UnknownNameError
from kindling_core.families import FAMILIES, Family, Semantic
from kindling_core.items import Item
from kindling_core.plugins.registry import FamilyView, Provided

__all__ = ["resolve_families", "apply_order"]

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


def _unknown(family: Family, name: str, available: Sequence[str], path: str, failed: Sequence[str]) -> UnknownNameError:
    remedy = f"use one of the available {family.key}"
    if failed:
        remedy += f"; plugins that failed to load and may provide it: {', '.join(failed)}"
    return UnknownNameError(family.noun, name, available, path=path, remedy=remedy)


def _resolve_one(
    family: Family,
    config: KindlingConfig,
    provided: list[Provided[Item]],
    builtin_ids: set[str],
    failed: Sequence[str],
) -> FamilyView[Item]:
    by_name = {p.item.name: p for p in provided}
    default_order = [p.item.name for p in provided]
    available = list(by_name)
    section = family.config_section
    path = f"tool.kindling.{section}"
    if family.semantic is Semantic.SELECT_ONE:
        selected = config.strategy
        if selected not in by_name and (available or selected != family.default):
            raise _unknown(family, selected, available, path, failed)
        return FamilyView(family=family, available=by_name, active=tuple(p.item for p in provided), selected=selected)

    table = config.chain(section)
    disable = tuple(getattr(table, "disable", ()))
    order = tuple(getattr(table, "order", ()))
    for index, name in enumerate(disable):
        if name not in by_name:
            raise _unknown(family, name, available, f"{path}.disable[{index}]", failed)
    for index, name in enumerate(order):
        if name != REST and name not in by_name:
            raise _unknown(family, name, available, f"{path}.order[{index}]", failed)
    if order.count(REST) > 1:
        raise UnknownNameError(family.noun, REST, available, path=f"{path}.order", remedy='use "..." at most once')
    names = apply_order(default_order, order)
    pinned = [n for n in family.pinned_last if n in by_name and by_name[n].plugin in builtin_ids]
    names = [n for n in names if n not in pinned] + pinned
    active = tuple(by_name[n].item for n in names if n not in disable)
    selected = None
    if family.default is not None:
        selected = getattr(table, "default", family.default)
        if selected not in by_name and (available or selected != family.default):
            raise _unknown(family, selected, available, f"{path}.default", failed)
        if selected in disable:
            raise _unknown(family, selected, [n for n in names if n not in disable], f"{path}.default", failed)
    return FamilyView(family=family, available=by_name, active=active, disabled=disable, selected=selected)


def resolve_families(
    config: KindlingConfig,
    active_plugins: Sequence[tuple[str, bool, Mapping[str, Sequence[Item]]]],
    failed_plugins: Sequence[str] = (),
) -> dict[str, FamilyView[Item]]:
    """Resolve every family from the active plugins ``(id, builtin, items by family key)``."""
    ordered = sorted(active_plugins, key=lambda entry: (entry[1], entry[0]))
    builtin_ids = {pid for pid, builtin, _ in active_plugins if builtin}
    views: dict[str, FamilyView[Item]] = {}
    for family in FAMILIES:
        plugins = sorted(ordered, key=lambda entry: not entry[1]) if family.builtins_first else ordered
        provided = [Provided(item, pid) for pid, _, found in plugins for item in found.get(family.key, ())]
        views[family.key] = _resolve_one(family, config, provided, builtin_ids, failed_plugins)
    return views
