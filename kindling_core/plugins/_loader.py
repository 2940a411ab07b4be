"""Load plugins: select before import, import each alone, register, validate, collect items.

The steps, in this order, each attributing every outcome to one plugin:

1. **select** (:func:`select`): apply ``autoload``/``enable``/``disable`` to the discovered
   candidates; disabled plugins are never imported. Every ``[tool.kindling.settings.<id>]``
   table must name a discovered plugin (:func:`settings_tables`);
2. **import** each enabled candidate in its own ``try``;
3. **register** with a per-app pluggy ``PluginManager`` and validate: a hookimpl whose hook
   does not exist, whose signature does not fit its spec, or that is a wrapper fails the plugin;
4. **settings**: call the plugin's ``kindling_settings_schema`` and validate its settings
   table against it (:mod:`kindling_core.plugin_settings`); the result is the ``settings``
   every later hook of the plugin receives;
5. **collect**: call each plugin's implementation of each registration hook separately
   (:func:`~kindling_core.plugins._calls.call_own`), check every returned item's type and name;
6. **conflicts**: two active plugins providing one item name fail (the third-party side);
7. **configure**: call each remaining plugin's ``kindling_configure``. It runs after every
   step that can fail a plugin for its items, so a plugin is configured only if it will be
   used, and before resolution, so a plugin that fails here contributes nothing;
8. **requirements** (``tool.kindling.plugins.require``), then **resolve** the families from
   the plugins still active (:mod:`kindling_core.plugins._resolve`).

A failure in steps 2-7 makes the plugin a ``failed`` record whose ``error`` (a
:class:`~kindling_core.errors.PluginError` whose message starts ``plugin <label> ...`` and says
what happened) is in ``registry.problems``; its items are dropped, it is unregistered from the
manager and the signal receivers its hooks connected are disconnected. In strict mode the first
such error is raised instead. A :class:`~kindling_core.errors.ConfigError` (a bad settings
value, whether the core's schema check or the plugin's own hook found it) is the user's
mistake, not the plugin's: it is raised in lenient mode too, like any bad key in
``[tool.kindling]``, unless the caller asked for problems to be reported rather than raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

import attrs
import pluggy
from packaging.requirements import InvalidRequirement, Requirement

from kindling_core import hookspecs
from kindling_core._names import did_you_mean
from kindling_core.config import KindlingConfig
from kindling_core.errors import (
    ConfigError,
    KindlingError,
    PluginConfigureError,
    PluginConflictError,
    PluginError,
    PluginImportError,
    PluginRequirementError,
    PluginValidationError,
    SettingsError,
    UnknownNameError,
    describe_plugin,
)
from kindling_core.families import FAMILIES, Family
from kindling_core.items import Item
from kindling_core.plugin_settings import Setting, validate_settings
from kindling_core.plugins._calls import BadReturn, ReceiverLog, call_own, returned_items
from kindling_core.plugins._discovery import (
    Discovery,
    PluginCandidate,
    discover,
    normalize_distribution,
)
from kindling_core.plugins._resolve import ActivePlugin, resolve_families
from kindling_core.plugins.registry import FailedPlugin, PluginRecord, PluginStatus, Registry

__all__ = ["LoadedPlugins", "load_plugins", "select", "settings_tables"]

_SPEC_NAMES = tuple(name for name in dir(hookspecs) if name.startswith("kindling_"))
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@attrs.frozen
class LoadedPlugins:
    """A registry plus the live plugin objects and the pluggy manager they are registered in.

    ``objects`` maps active plugin ids to their plugin objects (module or instance).
    """

    registry: Registry
    manager: pluggy.PluginManager = attrs.field(eq=False, repr=False)
    objects: Mapping[str, Any] = attrs.field(eq=False, repr=False)


@attrs.define
class _Working:
    """Mutable bookkeeping for one plugin while loading (never escapes this module).

    ``table`` names the settings table that configures the plugin and ``settings`` is what
    its hooks receive; ``why`` continues "plugin <label>, which ..." once it failed;
    ``collected`` is set once all its registration hooks returned.
    """

    candidate: PluginCandidate
    status: PluginStatus = PluginStatus.ACTIVE
    error: PluginError | None = None
    reason: str | None = None
    obj: Any = None
    items: dict[str, list[Item]] = attrs.field(factory=dict)
    table: str = ""
    settings: Mapping[str, Any] = _EMPTY
    schema: tuple[Setting, ...] | None = None
    why: str = ""
    collected: bool = False
    lost: dict[str, tuple[str, ...]] | None = None
    receivers: ReceiverLog | None = None

    @property
    def label(self) -> str:
        c = self.candidate
        return describe_plugin(c.id, c.distribution, c.version)

    def fail(self, error: PluginError, why: str) -> None:
        """Mark failed: keep what it had registered (for messages), use none of it."""
        self.status = PluginStatus.FAILED
        self.error = error
        self.why = why
        self.lost = {key: tuple(item.name for item in found) for key, found in self.items.items()} if self.collected else None
        self.items = {}
        if self.receivers is not None:
            self.receivers.disconnect()


def _matches(name: str, candidate: PluginCandidate) -> bool:
    if name == candidate.id:
        return True
    return candidate.distribution is not None and normalize_distribution(name) == normalize_distribution(
        candidate.distribution
    )


def _check_names(names: Iterable[tuple[str, str]], known: list[PluginCandidate]) -> None:
    available = sorted({c.id for c in known} | {normalize_distribution(c.distribution) for c in known if c.distribution})
    for name, where in names:
        if not any(_matches(name, c) for c in known):
            raise UnknownNameError("plugin", name, available, path=where)


def select(discovery: Discovery, config: KindlingConfig) -> list[_Working]:
    """Decide, before any import, which candidates load. Unknown names are errors."""
    plugins = config.plugins
    known = list(discovery.candidates) + [c for group in discovery.conflicts for c in group]
    _check_names(plugins.all_enabled(), known)
    _check_names(plugins.all_disabled(), known)
    working: list[_Working] = []
    for candidate in discovery.candidates:
        entry = _Working(candidate)
        disabled_by = [where for name, where in plugins.all_disabled() if _matches(name, candidate)]
        enabled_by = [where for name, where in plugins.all_enabled() if _matches(name, candidate)]
        if "--enable-plugin" in enabled_by and "--disable-plugin" not in disabled_by:
            disabled_by = []  # the command line wins over the file, the environment and the code
        if disabled_by:
            entry.status, entry.reason = PluginStatus.DISABLED, f"disabled by {disabled_by[-1]}"
        elif not plugins.autoload and not candidate.builtin and not enabled_by:
            entry.status, entry.reason = (
                PluginStatus.DISABLED,
                "autoload is off and it is not enabled (tool.kindling.plugins.enable or --enable-plugin)",
            )
        working.append(entry)
    return working


def settings_tables(discovery: Discovery, config: KindlingConfig) -> dict[str, str]:
    """Map plugin ids to the name of the ``[tool.kindling.settings.<name>]`` table that
    configures them: the plugin id, or the plugin's distribution name when that distribution
    provides this one plugin only.

    A table naming no discovered plugin (enabled, disabled or failed alike) is an
    :class:`~kindling_core.errors.UnknownNameError` with a did-you-mean and the installed ids: a
    typo there would otherwise silently leave the plugin unconfigured. Two tables for one
    plugin (its id and its distribution) are a :class:`~kindling_core.errors.ConfigError`.
    """
    known = list(discovery.candidates) + [c for group in discovery.conflicts for c in group]
    by_dist: dict[str, list[PluginCandidate]] = {}
    for candidate in known:
        if candidate.distribution:
            by_dist.setdefault(normalize_distribution(candidate.distribution), []).append(candidate)
    ids = {c.id for c in known}
    tables: dict[str, str] = {}
    for name in config.settings:
        path = f"tool.kindling.settings.{name}"
        if name in ids:
            owner = name
        elif len(by_dist.get(normalize_distribution(name), ())) == 1:
            owner = by_dist[normalize_distribution(name)][0].id
        else:
            raise UnknownNameError(
                "plugin",
                name,
                sorted(ids),
                path=path,
                source=str(config.source) if config.source else None,
                remedy="name the table after the id of an installed plugin (`kindling plugins list` shows them), "
                "or remove it: settings of a plugin that is not installed are never read",
            )
        if owner in tables:
            raise ConfigError(
                f"plugin {owner!r} is configured twice: [tool.kindling.settings.{tables[owner]}] and [{path}]",
                path=path,
                remedy=f"keep one table, preferably [tool.kindling.settings.{owner}]",
            )
        tables[owner] = name
    return tables


@attrs.define
class _Loading:
    """One ``load_plugins`` call: the manager, the configuration and what to do with failures."""

    manager: pluggy.PluginManager
    config: KindlingConfig
    signals: Any
    strict: bool
    raise_config_errors: bool

    # ------------------------------------------------------------------ failing a plugin

    def fail(
        self,
        entry: _Working,
        what: str,
        *,
        remedy: str,
        error_type: type[PluginError] = PluginValidationError,
        cause: BaseException | None = None,
    ) -> None:
        """Fail ``entry`` with ``plugin <label> <what>``; raise it in strict mode."""
        c = entry.candidate
        error = error_type(
            f"plugin {entry.label} {what}", plugin=c.id, distribution=c.distribution, version=c.version, remedy=remedy
        )
        error.__cause__ = cause
        entry.fail(error, what)
        if self.strict:
            raise error

    def hook_failed(self, entry: _Working, hook: str, exc: Exception) -> None:
        """Attribute an exception from ``entry``'s ``hook`` (or from checking its result)."""
        if isinstance(exc, ConfigError):
            if self.raise_config_errors:
                raise exc
            self.fail(entry, f"has invalid settings: {exc.message}", remedy=exc.remedy or "fix its settings", cause=exc)
            return
        error_type = PluginConfigureError if hook == "kindling_configure" else PluginValidationError
        if isinstance(exc, BadReturn):
            self.fail(entry, f"failed in {hook}: it {exc}", remedy=f"fix the plugin's {hook}", error_type=error_type)
            return
        message = exc.message if isinstance(exc, KindlingError) else str(exc)
        remedy = getattr(exc, "remedy", None) or f"fix the plugin's {hook}, or disable the plugin"
        self.fail(entry, f"failed in {hook}: it raised {type(exc).__name__}: {message}", remedy=remedy, error_type=error_type, cause=exc)

    def call(self, entry: _Working, hook: str, accept: Callable[[Any], Any]) -> list[Any] | None:
        """``entry``'s own implementations of ``hook``, each called alone; ``None`` if it failed."""
        arguments = {"config": self.config, "settings": entry.settings, "signals": self.signals}
        try:
            return call_own(self.manager, hook, entry.obj, arguments, accept, entry.receivers)
        except Exception as exc:  # noqa: BLE001 - attributed to the plugin (KeyboardInterrupt propagates)
            self.hook_failed(entry, hook, exc)
            return None

    # ------------------------------------------------------------------ the steps

    def import_(self, entry: _Working) -> None:
        candidate = entry.candidate
        try:
            entry.obj = candidate.load()
        except Exception as exc:  # noqa: BLE001 - any import failure fails this plugin only
            self.fail(
                entry,
                f"failed to import ({candidate.value}): {type(exc).__name__}: {exc}",
                error_type=PluginImportError,
                remedy=f"fix or upgrade {candidate.distribution or candidate.id}, or disable it with "
                f"KINDLING_DISABLE_PLUGINS={candidate.id}",
                cause=exc,
            )

    def register(self, entry: _Working) -> None:
        manager = self.manager
        try:
            manager.register(entry.obj, name=entry.candidate.id)
        except pluggy.PluginValidationError as exc:
            self.fail(entry, f"is invalid: {exc}", remedy="fix the hookimpl's signature to match the hookspec")
            return
        except ValueError as exc:
            self.fail(entry, f"cannot be registered: {exc}", remedy="register each plugin object once")
            return
        for caller in manager.get_hookcallers(entry.obj) or ():
            if caller.spec is None:
                hint = did_you_mean(caller.name, _SPEC_NAMES)
                self.fail(
                    entry,
                    f"implements {caller.name!r}, which is not a kindling hook.{hint} Known hooks: {', '.join(_SPEC_NAMES)}.",
                    remedy="rename the function to a known hook or remove its @hookimpl marker",
                )
                return
            for impl in caller.get_hookimpls():
                if impl.plugin is entry.obj and (impl.hookwrapper or getattr(impl, "wrapper", False)):
                    self.fail(
                        entry,
                        f"implements {caller.name!r} as a wrapper; the core calls each plugin's "
                        "implementation on its own, so kindling hooks take no wrappers",
                        remedy="remove wrapper=True / hookwrapper=True from its @hookimpl",
                    )
                    return

    def settings(self, entry: _Working) -> None:
        """Validate the plugin's settings table against its declared schema, if it has one."""
        c = entry.candidate
        table = self.config.settings.get(entry.table, _EMPTY) if entry.table else _EMPTY
        entry.settings = table
        declared = self.call(entry, "kindling_settings_schema", _settings_of)
        if not declared:  # failed, or no schema: the table stays free-form
            return
        schema = [setting for settings in declared for setting in settings]
        names = [setting.name for setting in schema]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            self.fail(entry, f"failed in kindling_settings_schema: it declared {twice[0]!r} twice", remedy="declare each setting once")
            return
        entry.schema = tuple(schema)
        try:
            entry.settings = validate_settings(
                c.id,
                schema,
                table,
                plugin_label=entry.label,
                table_name=entry.table or None,
                source=str(self.config.source) if self.config.source else None,
            )
        except SettingsError as exc:
            self.hook_failed(entry, "kindling_settings_schema", exc)

    def collect(self, entry: _Working) -> None:
        for family in FAMILIES:
            found = self.call(entry, family.hook, partial(_items_of, family))
            if found is None:
                return
            for items in found:
                entry.items.setdefault(family.key, []).extend(items)
        duplicate = _duplicate_item(entry)
        if duplicate:
            self.fail(entry, duplicate, remedy="give each item a unique name")
            return
        entry.collected = True

    def configure(self, entry: _Working) -> None:
        self.call(entry, "kindling_configure", _ignored)


def _items_of(family: Family, returned: Any) -> list[Any]:
    """What ``family``'s registration hook returned, as a checked list of its items."""
    return returned_items(returned, family.item_type, family.noun, single_types=(Item,))


def _settings_of(returned: Any) -> list[Any]:
    """What ``kindling_settings_schema`` returned, as a checked list of settings."""
    return returned_items(returned, Setting, "setting", single_types=(Item,))


def _ignored(returned: Any) -> None:
    """``kindling_configure`` returns nothing the core uses."""


def _same(obj: Any) -> Any:
    """An inline plugin's "import": the object itself."""
    return obj


def _duplicate_item(entry: _Working) -> str | None:
    """Two implementations of one hook (``specname``) returning one item name."""
    for family in FAMILIES:
        names = [item.name for item in entry.items.get(family.key, ())]
        for name in names:
            if names.count(name) > 1:
                return f"failed in {family.hook}: it returned two {family.noun}s named {name!r}"
    return None


def _resolve_item_conflicts(load: _Loading, entries: list[_Working]) -> None:
    """Two active plugins providing one item name in one family: fail the third-party side(s)."""
    for family in FAMILIES:
        owners: dict[str, list[_Working]] = {}
        for entry in entries:
            if entry.status is PluginStatus.ACTIVE:
                for item in entry.items.get(family.key, ()):
                    owners.setdefault(item.name, []).append(entry)
        for name, claimants in owners.items():
            if len(claimants) < 2:
                continue
            labels = [c.label for c in claimants]
            conflict = f"{len(claimants)} plugins provide a {family.noun} named {name!r}: {', '.join(labels)}"
            remedy = f"disable one of them (tool.kindling.plugins.disable) or rename the {family.noun}"
            if load.strict:
                raise PluginConflictError(conflict, claimants=labels, culprit=", ".join(labels), remedy=remedy)
            losers = [c for c in claimants if not c.candidate.builtin] or claimants
            for loser in losers:
                if loser.status is PluginStatus.ACTIVE:
                    c = loser.candidate
                    what = f"lost a name conflict: {conflict}"
                    error = PluginConflictError(
                        f"plugin {loser.label} {what}",
                        claimants=labels,
                        plugin=c.id,
                        distribution=c.distribution,
                        version=c.version,
                        remedy=remedy,
                    )
                    loser.fail(error, what)


def _id_conflicts(discovery: Discovery) -> list[PluginConflictError]:
    errors = []
    for group in discovery.conflicts:
        labels = [describe_plugin(c.id, c.distribution, c.version) for c in group]
        errors.append(
            PluginConflictError(
                f"plugin id {group[0].id!r} is claimed by {len(group)} distributions: {', '.join(labels)}",
                claimants=labels,
                plugin=group[0].id,
                culprit=", ".join(labels),
                remedy="uninstall one of the distributions; a plugin id must be unique",
            )
        )
    return errors


def _check_requirements(config: KindlingConfig, entries: list[_Working]) -> list[PluginRequirementError]:
    errors: list[PluginRequirementError] = []
    for index, text in enumerate(config.plugins.require):
        where = f"tool.kindling.plugins.require[{index}]"
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            errors.append(
                PluginRequirementError(
                    f"{where} = {text!r} is not a valid requirement: {exc}",
                    culprit=where,
                    remedy="write it as 'plugin-id' or 'plugin-id>=1.2'",
                )
            )
            continue
        matches = [e for e in entries if _matches(requirement.name, e.candidate)]
        if not matches:
            available = sorted({e.candidate.id for e in entries})
            errors.append(
                PluginRequirementError(
                    f"required plugin {text!r} ({where}) is not installed.{did_you_mean(requirement.name, available)} "
                    f"Installed: {', '.join(available) or '(none)'}.",
                    plugin=requirement.name,
                    culprit=requirement.name,
                    remedy=f"pip install the distribution that provides {requirement.name!r}, or remove it from {where}",
                )
            )
            continue
        for entry in matches:
            c = entry.candidate
            if entry.status is not PluginStatus.ACTIVE:
                why = entry.reason if entry.status is PluginStatus.DISABLED else f"failed to load: {entry.error}"
                errors.append(
                    PluginRequirementError(
                        f"required plugin {text!r} ({where}) is {entry.status.value}: {why}",
                        plugin=c.id,
                        distribution=c.distribution,
                        version=c.version,
                        remedy="enable it or fix it",
                    )
                )
            elif requirement.specifier and (c.version is None or not requirement.specifier.contains(c.version, prereleases=True)):
                errors.append(
                    PluginRequirementError(
                        f"required plugin {text!r} ({where}) is installed as {entry.label}, which does not satisfy {requirement.specifier}",
                        plugin=c.id,
                        distribution=c.distribution,
                        version=c.version,
                        remedy=f"pip install -U '{c.distribution or c.id}{requirement.specifier}'",
                    )
                )
    return errors


def _record(entry: _Working) -> PluginRecord:
    c = entry.candidate
    return PluginRecord(
        id=c.id,
        distribution=c.distribution,
        version=c.version,
        status=entry.status,
        builtin=c.builtin,
        provides={key: tuple(item.name for item in found) for key, found in entry.items.items()},
        descriptions={f"{key}:{item.name}": item.description for key, found in entry.items.items() for item in found},
        error=str(entry.error) if entry.error else None,
        reason=entry.reason,
        value=c.value,
        settings_schema=entry.schema,
    )


def load_plugins(
    config: KindlingConfig,
    *,
    entry_points: Iterable[Any] | None = None,
    inline: Mapping[str, Any] | None = None,
    signals: Any = None,
    raise_requirements: bool = True,
    raise_config_errors: bool = True,
) -> LoadedPlugins:
    """Discover, select, import, register, configure and resolve plugins for one app.

    ``signals`` is the app's :class:`~kindling_core.signals.SignalBus`, passed to hooks that
    ask for it (a private bus is made when ``None``). ``entry_points`` replaces the installed
    ``kindling`` entry points (tests, tools); ``inline`` adds plugin objects by id, registered
    as if found through entry points (they count as third-party, distribution ``None``).

    Lenient mode records every failed plugin in ``registry.problems``;
    ``config.plugins.strict`` raises the first one instead. Unknown plugin names in
    configuration (``enable``, ``disable``, settings tables) always raise. Unmet ``require``
    entries raise unless ``raise_requirements`` is false; configuration errors found while
    loading (bad settings values, names that no active plugin provides) raise unless
    ``raise_config_errors`` is false. Tools that report problems rather than fail (``kindling
    plugins check``) pass false: those problems then join ``registry.problems`` (a plugin with
    bad settings is recorded as failed), and every plugin is still listed.
    """
    if signals is None:
        from kindling_core.signal_catalog import core_signals
        from kindling_core.signals import SignalBus

        signals = SignalBus()
        signals.declare_all(core_signals())
    discovery = discover(entry_points)
    if inline:
        extra = tuple(
            PluginCandidate(id=pid, distribution=None, version=None, value=f"<inline {type(obj).__name__}>", load=partial(_same, obj))
            for pid, obj in inline.items()
        )
        discovery = Discovery(tuple(sorted(discovery.candidates + extra, key=lambda c: c.id)), discovery.conflicts)
    strict = config.plugins.strict
    problems: list[KindlingError] = list(_id_conflicts(discovery))
    if strict and problems:
        raise problems[0]
    entries = select(discovery, config)
    tables = settings_tables(discovery, config)
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    load = _Loading(manager, config, signals, strict, raise_config_errors)
    for entry in entries:
        entry.table = tables.get(entry.candidate.id, "")
        entry.receivers = ReceiverLog(signals)
    for step in (load.import_, load.register, load.settings, load.collect):
        for entry in entries:
            if entry.status is PluginStatus.ACTIVE:
                step(entry)
    _resolve_item_conflicts(load, entries)
    for entry in entries:
        if entry.status is PluginStatus.ACTIVE:
            load.configure(entry)
    for entry in entries:
        if entry.status is PluginStatus.FAILED:
            if entry.obj is not None and manager.is_registered(entry.obj):
                manager.unregister(entry.obj)
            if entry.error is not None and entry.error not in problems:
                problems.append(entry.error)
    requirement_errors = _check_requirements(config, entries)
    if requirement_errors and raise_requirements:
        raise requirement_errors[0]
    problems.extend(requirement_errors)
    conflicted = [(c, err) for group, err in zip(discovery.conflicts, _id_conflicts(discovery), strict=True) for c in group]
    records = tuple(_record(e) for e in entries) + tuple(
        PluginRecord(
            id=c.id,
            distribution=c.distribution,
            version=c.version,
            status=PluginStatus.FAILED,
            builtin=c.builtin,
            error=str(err),
            value=c.value,
        )
        for c, err in conflicted
    )
    active = [e for e in entries if e.status is PluginStatus.ACTIVE]
    failed = [FailedPlugin(e.label, e.why, e.lost) for e in entries if e.status is PluginStatus.FAILED] + [
        FailedPlugin(describe_plugin(c.id, c.distribution, c.version), f"failed: {err.message}") for c, err in conflicted
    ]
    families = resolve_families(
        config,
        [ActivePlugin(e.candidate.id, e.candidate.distribution, e.candidate.version, e.candidate.builtin, e.items) for e in active],
        failed,
        on_problem=None if raise_config_errors else problems.append,
    )
    registry = Registry(
        plugins=tuple(sorted(records, key=lambda r: (r.id, r.distribution or ""))),
        families=families,
        problems=tuple(problems),
        settings={e.candidate.id: e.settings for e in active},
    )
    return LoadedPlugins(registry=registry, manager=manager, objects={e.candidate.id: e.obj for e in active})
