"""Load plugins: select before import, import each alone, register, validate, collect items.

The steps, each attributing every outcome to one plugin:

1. **select** (:func:`select`): apply ``autoload``/``enable``/``disable`` to the discovered
   candidates; disabled plugins are never imported;
2. **import** each enabled candidate in its own ``try``: a failure marks that plugin failed
   (lenient) or raises :class:`PluginImportError` (strict);
3. **register** with a per-app pluggy ``PluginManager`` and validate: a hookimpl whose hook
   does not exist, or whose signature does not fit its spec, fails the plugin;
4. **collect**: call each plugin's implementation of each registration hook separately,
   check every returned item's type and name;
5. **resolve** the families (:mod:`kindling_core.plugins._resolve`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy
from packaging.requirements import InvalidRequirement, Requirement

from kindling_core import hookspecs
from kindling_core._names import did_you_mean, is_item_name
from kindling_core.config import KindlingConfig
from kindling_core.errors import (
    KindlingError,
    PluginConflictError,
    PluginError,
    PluginImportError,
    PluginRequirementError,
    PluginValidationError,
    UnknownNameError,
    describe_plugin,
)
from kindling_core.families import FAMILIES, Family
from kindling_core.items import Item
from kindling_core.plugins._discovery import (
    Discovery,
    PluginCandidate,
    discover,
    normalize_distribution,
)
from kindling_core.plugins._resolve import resolve_families
from kindling_core.plugins.registry import PluginRecord, PluginStatus, Registry

__all__ = ["LoadedPlugins", "load_plugins", "select"]

_SPEC_NAMES = tuple(name for name in dir(hookspecs) if name.startswith("kindling_"))


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
    """Mutable bookkeeping for one plugin while loading (never escapes this module)."""

    candidate: PluginCandidate
    status: PluginStatus = PluginStatus.ACTIVE
    error: PluginError | None = None
    reason: str | None = None
    obj: Any = None
    items: dict[str, list[Item]] = attrs.field(factory=dict)

    @property
    def label(self) -> str:
        c = self.candidate
        return describe_plugin(c.id, c.distribution, c.version)

    def fail(self, error: PluginError) -> None:
        self.status = PluginStatus.FAILED
        self.error = error
        self.items = {}


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


def _import(entry: _Working) -> None:
    candidate = entry.candidate
    try:
        entry.obj = candidate.load()
    except Exception as exc:
        entry.fail(
            PluginImportError(
                f"plugin {entry.label} failed to import ({candidate.value}): {type(exc).__name__}: {exc}",
                plugin=candidate.id,
                distribution=candidate.distribution,
                version=candidate.version,
                remedy=f"fix or upgrade {candidate.distribution or candidate.id}, or disable it with "
                f"KINDLING_DISABLE_PLUGINS={candidate.id}",
            )
        )
        entry.error.__cause__ = exc  # type: ignore[union-attr]


def _validation_error(entry: _Working, message: str, remedy: str) -> PluginValidationError:
    c = entry.candidate
    return PluginValidationError(
        message, plugin=c.id, distribution=c.distribution, version=c.version, remedy=remedy
    )


def _register(manager: pluggy.PluginManager, entry: _Working) -> None:
    try:
        manager.register(entry.obj, name=entry.candidate.id)
    except pluggy.PluginValidationError as exc:
        entry.fail(_validation_error(entry, f"plugin {entry.label} is invalid: {exc}", "fix the hookimpl's signature to match the hookspec"))
        return
    except ValueError as exc:
        entry.fail(_validation_error(entry, f"plugin {entry.label} cannot be registered: {exc}", "register each plugin object once"))
        return
    for caller in manager.get_hookcallers(entry.obj) or ():
        if caller.spec is None:
            hint = did_you_mean(caller.name, _SPEC_NAMES)
            entry.fail(
                _validation_error(
                    entry,
                    f"plugin {entry.label} implements {caller.name!r}, which is not a kindling hook.{hint} "
                    f"Known hooks: {', '.join(_SPEC_NAMES)}.",
                    "rename the function to a known hook or remove its @hookimpl marker",
                )
            )
            manager.unregister(entry.obj)
            return


def _collect(manager: pluggy.PluginManager, entry: _Working, config: KindlingConfig, signals: Any) -> None:
    kwargs = {"config": config, "settings": config.settings_for(entry.candidate.id), "signals": signals}
    for family in FAMILIES:
        caller = getattr(manager.hook, family.hook)
        for impl in caller.get_hookimpls():
            if impl.plugin is not entry.obj:
                continue
            where = f"{entry.label}'s {family.hook}"
            if impl.hookwrapper or getattr(impl, "wrapper", False):
                entry.fail(_validation_error(entry, f"{where} is a wrapper; registration hooks must return items", "remove wrapper=True"))
                return
            try:
                returned = impl.function(**{name: kwargs[name] for name in impl.argnames})
                produced = [] if returned is None else list(returned)
            except Exception as exc:
                # A KindlingError (e.g. a bad [tool.kindling.settings.<id>] value) carries its
                # own remedy, usually for the user's configuration rather than the plugin.
                remedy = getattr(exc, "remedy", None) or "fix the plugin: its registration hook must return valid items"
                message = exc.message if isinstance(exc, KindlingError) else str(exc)
                entry.fail(_validation_error(entry, f"{where} raised {type(exc).__name__}: {message}", remedy))
                entry.error.__cause__ = exc  # type: ignore[union-attr]
                return
            if not _check_items(entry, family, produced, where):
                return
            entry.items.setdefault(family.key, []).extend(produced)


def _check_items(entry: _Working, family: Family, produced: list[Any], where: str) -> bool:
    seen: set[str] = set()
    for item in produced:
        if not isinstance(item, family.item_type):
            entry.fail(
                _validation_error(
                    entry,
                    f"{where} returned {type(item).__name__} {item!r:.80}; expected {family.item_type.__name__} items",
                    f"return kindling_core.{family.item_type.__name__} objects",
                )
            )
            return False
        if not is_item_name(item.name):  # pragma: no cover - items validate on construction
            entry.fail(_validation_error(entry, f"{where} returned an item with invalid name {item.name!r}", "use lowercase-dashed names"))
            return False
        if item.name in seen:
            entry.fail(_validation_error(entry, f"{where} returned two {family.noun}s named {item.name!r}", "give each item a unique name"))
            return False
        seen.add(item.name)
    return True


def _resolve_item_conflicts(entries: list[_Working], strict: bool) -> None:
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
            error = PluginConflictError(
                f"{len(claimants)} plugins provide a {family.noun} named {name!r}: {', '.join(labels)}",
                claimants=labels,
                culprit=", ".join(labels),
                remedy=f"disable one of them (tool.kindling.plugins.disable) or rename the {family.noun}",
            )
            if strict:
                raise error
            losers = [c for c in claimants if not c.candidate.builtin] or claimants
            for loser in losers:
                if loser.status is PluginStatus.ACTIVE:
                    loser.fail(error)


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
            errors.append(PluginRequirementError(f"{where} = {text!r} is not a valid requirement: {exc}", culprit=where, remedy="write it as 'plugin-id' or 'plugin-id>=1.2'"))
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
                errors.append(PluginRequirementError(f"required plugin {text!r} ({where}) is {entry.status.value}: {why}", plugin=c.id, distribution=c.distribution, version=c.version, remedy="enable it or fix it"))
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
    )


def load_plugins(
    config: KindlingConfig,
    *,
    entry_points: Iterable[Any] | None = None,
    inline: Mapping[str, Any] | None = None,
    signals: Any = None,
    raise_requirements: bool = True,
) -> LoadedPlugins:
    """Discover, select, import, register and resolve plugins for one app.

    ``signals`` is the app's :class:`~kindling_core.signals.SignalBus`, passed to hooks that
    ask for it (a private bus is made when ``None``). ``entry_points`` replaces the installed ``kindling`` entry points (tests, tools);
    ``inline`` adds plugin objects by id, registered as if found through entry points (they
    count as third-party, distribution ``None``). Lenient mode records failures in
    ``registry.problems``; ``config.plugins.strict`` raises the first one instead. Unknown
    names in configuration always raise; unmet ``require`` entries raise unless
    ``raise_requirements`` is false (tools that report problems rather than fail, such as
    ``kindling plugins check``), in which case they join ``registry.problems``.
    """
    if signals is None:
        from kindling_core.signal_catalog import core_signals
        from kindling_core.signals import SignalBus

        signals = SignalBus()
        signals.declare_all(core_signals())
    discovery = discover(entry_points)
    if inline:
        extra = tuple(
            PluginCandidate(id=pid, distribution=None, version=None, value=f"<inline {type(obj).__name__}>", load=(lambda o=obj: o))
            for pid, obj in inline.items()
        )
        discovery = Discovery(tuple(sorted(discovery.candidates + extra, key=lambda c: c.id)), discovery.conflicts)
    strict = config.plugins.strict
    problems: list[PluginError] = list(_id_conflicts(discovery))
    if strict and problems:
        raise problems[0]
    entries = select(discovery, config)
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for entry in entries:
        if entry.status is not PluginStatus.ACTIVE:
            continue
        for step in (_import, lambda e: _register(manager, e), lambda e: _collect(manager, e, config, signals)):
            step(entry)
            if entry.status is PluginStatus.FAILED:
                if strict:
                    raise entry.error  # type: ignore[misc]
                break
        if entry.status is PluginStatus.FAILED and entry.obj is not None and manager.is_registered(entry.obj):
            manager.unregister(entry.obj)
    _resolve_item_conflicts(entries, strict)
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
    records = tuple(_record(e) for e in entries) + tuple(
        PluginRecord(id=c.id, distribution=c.distribution, version=c.version, status=PluginStatus.FAILED, builtin=c.builtin, error=str(err), value=c.value)
        for group, err in zip(discovery.conflicts, _id_conflicts(discovery))
        for c in group
    )
    active = [e for e in entries if e.status is PluginStatus.ACTIVE]
    failed_ids = [e.candidate.id for e in entries if e.status is PluginStatus.FAILED]
    families = resolve_families(config, [(e.candidate.id, e.candidate.builtin, e.items) for e in active], failed_ids)
    registry = Registry(
        plugins=tuple(sorted(records, key=lambda r: (r.id, r.distribution or ""))),
        families=families,
        problems=tuple(problems),
    )
    return LoadedPlugins(registry=registry, manager=manager, objects={e.candidate.id: e.obj for e in active})
