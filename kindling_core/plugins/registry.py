"""The immutable result of plugin loading: plugin records and resolved families."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from kindling_core._convert import frozen_mapping
from kindling_core._names import did_you_mean
from kindling_core.errors import FailedProviderError, KindlingError, UnknownNameError, describe_plugin
from kindling_core.families import FAMILIES, FAMILY_BY_KEY, Family
from kindling_core.items import Item
from kindling_core.plugin_settings import Setting

__all__ = ["PluginStatus", "PluginRecord", "Provided", "FailedPlugin", "FamilyView", "Registry", "missing_name_error"]

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
    only); ``error`` says why a failed plugin failed (its first line says what happened);
    ``reason`` why a disabled one is off; ``settings_schema`` the settings it declares
    (``None``: it declares none, its table is free-form).

    Invariant: ``status is PluginStatus.FAILED`` exactly when ``error`` is set, and then the
    same error is in ``Registry.problems``.
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
    settings_schema: tuple[Setting, ...] | None = None

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
    """An item together with the plugin that provided it (id, distribution and version)."""

    item: T
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def label(self) -> str:
        """The providing plugin as every message names it: ``acme (acme-kindling 1.2.0)``."""
        return describe_plugin(self.plugin, self.distribution, self.version)


def _frozen_or_none(value: Mapping[str, tuple[str, ...]] | None) -> Mapping[str, tuple[str, ...]] | None:
    return None if value is None else frozen_mapping(value)


@attrs.frozen
class FailedPlugin:
    """A failed plugin as name resolution needs it: who, why, and what it would have provided.

    ``why`` continues "plugin acme (acme-kindling 1.2.0), which ..." (``failed to import
    (acme.plugin): ImportError: ...``); ``provided`` maps family keys to the item names it
    had registered before it failed, or is ``None`` when it failed before registering any (an
    import or validation failure), so it may provide anything.
    """

    label: str
    why: str
    provided: Mapping[str, tuple[str, ...]] | None = attrs.field(default=None, converter=_frozen_or_none)

    def provides(self, family: Family, name: str) -> bool:
        return self.provided is not None and name in self.provided.get(family.key, ())


def _listing(names: tuple[str, ...]) -> str:
    return ", ".join(names) if names else "(none)"


def _which(plugins: list[FailedPlugin], joiner: str) -> str:
    return f"; {joiner} by ".join(f"plugin {f.label}, which {f.why}" for f in plugins)


def missing_name_error(
    family: Family,
    name: str,
    available: Iterable[str],
    *,
    path: str | None = None,
    failed: Iterable[FailedPlugin] = (),
    remedy: str | None = None,
) -> UnknownNameError:
    """The error for ``name``, which configuration (at ``path``) or a caller selects but no
    active plugin provides.

    When a failed plugin had registered ``name``, a :class:`FailedProviderError` saying it is
    provided by that plugin and why the plugin failed. When ``name`` is close to no available
    name and a plugin failed before registering anything, a :class:`FailedProviderError`
    naming that plugin as the likely provider. Otherwise an :class:`UnknownNameError` with a
    did-you-mean and the list (and the failed plugins in its remedy).
    """
    names = tuple(sorted(available))
    failed = tuple(failed)
    where = f" ({path})" if path else ""
    owners = [f for f in failed if f.provides(family, name)]
    unknown = [f for f in failed if f.provided is None]
    if owners:
        culprits = owners
        message = f"{family.noun} {name!r}{where} is provided by {_which(owners, 'and')}"
        fix = f"fix the plugin or disable it, or select one of the available {family.key}: {_listing(names)}"
    elif unknown and not did_you_mean(name, names):
        culprits = unknown
        message = (
            f"{family.noun} {name!r}{where} is not available; it is likely provided by {_which(unknown, 'or')}. "
            f"Available: {_listing(names)}."
        )
        fix = f"fix the failed plugin or disable it, or select one of the available {family.key}"
    else:
        culprits = []
    if culprits:
        return FailedProviderError(
            family.noun, name, names, failed=[f.label for f in culprits], message=message, path=path, remedy=fix
        )
    remedy = remedy or f"use one of the available {family.key}"
    if failed:
        remedy += f"; plugins that failed to load and may provide it: {', '.join(f.label for f in failed)}"
    return UnknownNameError(family.noun, name, names, path=path, remedy=remedy)


@attrs.frozen
class FamilyView(Generic[T]):
    """A family resolved by configuration.

    ``available``: every item of an active plugin, by name, in default order. ``active``: the
    items the core uses, in effective order (after ``order`` and ``disable``; for select-one
    families every non-disabled item, the selection being ``selected``). ``disabled``: item
    names removed by configuration. ``failed``: the failed plugins, so that asking for an item
    one of them provides says so (:func:`missing_name_error`).
    """

    family: Family
    available: Mapping[str, Provided[T]] = attrs.field(converter=frozen_mapping)
    active: tuple[T, ...]
    disabled: tuple[str, ...] = ()
    selected: str | None = None
    failed: tuple[FailedPlugin, ...] = ()

    def __iter__(self) -> Iterator[T]:
        return iter(self.active)

    def __len__(self) -> int:
        return len(self.active)

    def names(self) -> tuple[str, ...]:
        """Names of the active items, in effective order."""
        return tuple(item.name for item in self.active)

    def get(self, name: str) -> T:
        """The active item called ``name``; unknown names get did-you-mean and the list, and a
        name a failed plugin provides names that plugin and why it failed."""
        for item in self.active:
            if item.name == name:
                return item
        raise missing_name_error(
            self.family,
            name,
            self.names(),
            failed=self.failed,
            remedy=f"pick one of the active {self.family.key}, or install/enable the plugin that provides {name!r}",
        )

    def origin(self, name: str) -> str:
        """Id of the plugin that provided item ``name``."""
        return self.available[name].plugin

    def attributed(self) -> tuple[Provided[T], ...]:
        """The active items in effective order, each with the plugin that provided it (what
        :func:`~kindling_core.errorhandling.call_plugin_item` needs to attribute a failure)."""
        return tuple(self.available[item.name] for item in self.active)


@attrs.frozen
class Registry:
    """Every discovered plugin's record, and every family resolved against configuration.

    Immutable: loading again (new config, new plugins) makes a new registry. ``problems``
    holds the errors found in lenient mode: every failed plugin's error (import, validation,
    registration, configure, conflicts) and, for tools that report rather than raise
    (``kindling plugins check``), unmet requirements and names configuration selects that no
    active plugin provides; they make ``kindling plugins check`` fail. ``settings`` holds each
    active plugin's settings as its hooks received them (validated against its schema, with
    defaults, when it declares one).
    """

    plugins: tuple[PluginRecord, ...]
    families: Mapping[str, FamilyView[Any]] = attrs.field(converter=frozen_mapping)
    problems: tuple[KindlingError, ...] = ()
    settings: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, converter=frozen_mapping)

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

    def settings_for(self, plugin_id: str) -> Mapping[str, Any]:
        """The settings plugin ``plugin_id``'s hooks receive (empty for an unknown or inactive plugin)."""
        return self.settings.get(plugin_id, frozen_mapping({}))

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

