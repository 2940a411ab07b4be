"""The immutable result of plugin loading: plugin records and resolved families."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from kindling_core._convert import frozen_mapping
from kindling_core.errors import PluginError, UnknownNameError, describe_plugin
from kindling_core.families import FAMILIES, FAMILY_BY_KEY, Family
from kindling_core.items import Item

__all__ = ["PluginStatus", "PluginRecord", "Provided", "FamilyView", "Registry"]

T = TypeVar("T", bound=Item)




class PluginStatus(str, enum.Enum):
    """A plugin's state after loading."""

    ACTIVE = "active"
    DISABLED = "disabled"
    FAILED = "failed"


@attrs.frozen
class PluginRecord:
    """One plugin as ``kindling plugins list`` shows it.

    ``provides`` maps family keys to the item names this plugin registered (active plugins
    only); ``error`` says why a failed plugin failed; ``reason`` why a disabled one is off.
    """

    id: str
    distribution: str | None
    version: str | None
    status: PluginStatus
    builtin: bool = False
    provides: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=frozen_mapping)
    descriptions: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_mapping)
    error: str | None = None
    reason: str | None = None
    value: str = ""

    @property
    def label(self) -> str:
        """``id (distribution version)`` as used in every message."""
        return describe_plugin(self.id, self.distribution, self.version)

    def to_json(self) -> dict[str, Any]:
        """The ``plugins list --json`` object (stable keys)."""
        return {
            "id": self.id,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status.value,
            "provides": {family.key: list(self.provides.get(family.key, ())) for family in FAMILIES},
            "error": self.error,
        }


@attrs.frozen
class Provided(Generic[T]):
    """An item together with the id of the plugin that provided it."""

    item: T
    plugin: str


@attrs.frozen
class FamilyView(Generic[T]):
    """A family resolved by configuration.

    ``available``: every item of an active plugin, by name, in default order. ``active``: the
    items the core uses, in effective order (after ``order`` and ``disable``; for select-one
    families every non-disabled item, the selection being ``selected``). ``disabled``: item
    names removed by configuration.
    """

    family: Family
    available: Mapping[str, Provided[T]] = attrs.field(converter=frozen_mapping)
    active: tuple[T, ...]
    disabled: tuple[str, ...] = ()
    selected: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.active)

    def __len__(self) -> int:
        return len(self.active)

    def names(self) -> tuple[str, ...]:
        """Names of the active items, in effective order."""
        return tuple(item.name for item in self.active)

    def get(self, name: str) -> T:
        """The active item called ``name``; unknown names get did-you-mean and the list."""
        for item in self.active:
            if item.name == name:
                return item
        raise UnknownNameError(
            self.family.noun,
            name,
            self.names(),
            remedy=f"pick one of the active {self.family.key}, or install/enable the plugin that provides {name!r}",
        )

    def origin(self, name: str) -> str:
        """Id of the plugin that provided item ``name``."""
        return self.available[name].plugin


@attrs.frozen
class Registry:
    """Every discovered plugin's record, and every family resolved against configuration.

    Immutable: loading again (new config, new plugins) makes a new registry. ``problems``
    holds the errors found in lenient mode (failed imports, conflicts); they make ``kindling
    plugins check`` fail.
    """

    plugins: tuple[PluginRecord, ...]
    families: Mapping[str, FamilyView[Any]] = attrs.field(converter=frozen_mapping)
    problems: tuple[PluginError, ...] = ()

    def family(self, key: str) -> FamilyView[Any]:
        """The resolved family by its key (``"error-handlers"``)."""
        try:
            return self.families[key]
        except KeyError:
            raise UnknownNameError("extension family", key, FAMILY_BY_KEY) from None

    def plugin(self, plugin_id: str) -> PluginRecord:
        """The record of plugin ``plugin_id`` (any status)."""
        for record in self.plugins:
            if record.id == plugin_id:
                return record
        raise UnknownNameError("plugin", plugin_id, [r.id for r in self.plugins])

    @property
    def active_plugins(self) -> tuple[PluginRecord, ...]:
        return tuple(r for r in self.plugins if r.status is PluginStatus.ACTIVE)

    def strategy(self, name: str | None = None) -> Any:
        """The selected execution strategy (``name`` overrides the configured one)."""
        view = self.families["execution-strategies"]
        return view.get(name or view.selected or view.family.default or "")

    def summary(self) -> dict[str, Any]:
        """Families by key with their active item names (for ``--version`` and reports)."""
        return {key: list(view.names()) for key, view in self.families.items()} | {
            "selected-strategy": self.families["execution-strategies"].selected
        }

