"""Which detector watches a dimension, with which settings: the ``change.*`` entity options.

A dimension is a declared entity that streaming pipes join (``dimensions=[...]``). How it is
watched is part of its declaration, in its ``options``, under the ``change.`` prefix (like the
``write.`` prefix, such keys are never passed to Spark's readers and writers)::

    app.entity("silver.customers", path="lake/customers", kind="dimension",
               change_data_feed=True,
               options={"change.detector": "change-data-feed",
                        "change.columns": ["tier", "region"]})

``change.detector`` names the detector (an active item of the ``change-detectors`` family;
default ``tool.kindling.change-detectors.default``). ``change.restart`` and ``change.cached``
are the dimension's restart policy (:mod:`kindling_core.dimensions.policy`), checked here too.
Every other ``change.<name>`` key is a setting of that detector, checked against the :class:`~kindling_core.plugin_settings.Setting`
items it declares (:attr:`ChangeDetector.settings <kindling_core.items.ChangeDetector.settings>`):
an undeclared key, a value of the wrong type or out of range, or a missing required setting is
a :class:`~kindling_core.dimensions.errors.DimensionOptionError` raised when watching starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kindling_core._convert import frozen_mapping
from kindling_core._names import did_you_mean
from kindling_core.dimensions.errors import DimensionOptionError
from kindling_core.dimensions.policy import POLICY_OPTIONS, RestartPolicy, restart_policy
from kindling_core.items import ChangeDetector
from kindling_core.model import Entity
from kindling_core.plugin_settings import SETTING_TYPES, Setting
from kindling_core.plugins.registry import FamilyView, Provided

__all__ = ["OPTION_PREFIX", "DETECTOR_OPTION", "Dimension", "resolve_dimension", "probe_readable"]

#: Entity options with this prefix configure change detection (and are not Spark options).
OPTION_PREFIX = "change."
#: The entity option naming a dimension's change detector.
DETECTOR_OPTION = "change.detector"


def probe_readable(entity: Entity) -> bool:
    """Whether the version probe reads ``entity``: a Delta table declared with a ``path``."""
    return entity.format == "delta" and entity.path is not None


@attrs.frozen
class Dimension:
    """One watched dimension: the entity, its detector (with the plugin that provided it), the
    detector's checked settings, the streaming pipes that declare it, and its checked restart
    policy (``change.restart`` / ``change.cached``)."""

    entity: Entity
    detector: Provided[ChangeDetector]
    settings: Mapping[str, Any] = attrs.field(converter=frozen_mapping)
    pipes: tuple[str, ...] = ()
    policy: RestartPolicy = RestartPolicy()

    @property
    def id(self) -> str:
        return self.entity.id

    @property
    def detector_name(self) -> str:
        return self.detector.item.name


def _detector(entity: Entity, detectors: FamilyView[ChangeDetector]) -> Provided[ChangeDetector]:
    named = entity.options.get(DETECTOR_OPTION)
    active = detectors.names()
    if named is None:
        name = detectors.selected or detectors.family.default or ""
        if name not in active:
            raise DimensionOptionError(
                f"dimension {entity.id!r} names no change detector and the default, {name!r} "
                f"(tool.kindling.change-detectors.default), is not active. Active: {', '.join(active) or '(none)'}.",
                entity=entity.id,
                remedy=f"set options={{{DETECTOR_OPTION!r}: ...}} on the entity, or fix tool.kindling.change-detectors.default",
            )
        return detectors.available[name]
    where = f"entity {entity.id!r}: options[{DETECTOR_OPTION!r}]"
    if not isinstance(named, str) or named not in active:
        if isinstance(named, str) and named in detectors.disabled:
            problem = f"names change detector {named!r}, which tool.kindling.change-detectors.disable turns off"
            remedy = "remove it from tool.kindling.change-detectors.disable, or name another detector"
        else:
            problem = f"names change detector {named!r}, which no active plugin provides.{did_you_mean(str(named), active)}"
            remedy = "name one of the active change detectors, or install/enable the plugin that provides it"
        raise DimensionOptionError(
            f"{where} {problem} Active: {', '.join(active) or '(none)'}.",
            entity=entity.id,
            option=DETECTOR_OPTION,
            remedy=remedy,
        )
    return detectors.available[named]


def _freeze(setting: Setting, value: Any) -> Any:
    if setting.type is float:
        return float(value)
    if setting.type is list:
        return tuple(value)
    return value


def _settings(entity: Entity, detector: ChangeDetector) -> dict[str, Any]:
    declared = {setting.name: setting for setting in detector.settings}
    given = {
        key[len(OPTION_PREFIX) :]: value
        for key, value in entity.options.items()
        if isinstance(key, str) and key.startswith(OPTION_PREFIX) and key != DETECTOR_OPTION and key not in POLICY_OPTIONS
    }
    known = ", ".join(OPTION_PREFIX + name for name in declared) or "(none)"
    for name, value in given.items():
        key = OPTION_PREFIX + name
        setting = declared.get(name)
        if setting is None:
            hint = did_you_mean(key, [OPTION_PREFIX + other for other in declared] + list(POLICY_OPTIONS))
            raise DimensionOptionError(
                f"entity {entity.id!r}: options[{key!r}] is not a setting of change detector "
                f"{detector.name!r} nor a restart option.{hint} Its settings: {known}; restart options: "
                f"{', '.join(POLICY_OPTIONS)}.",
                entity=entity.id,
                option=key,
                remedy=f"remove the option or fix its spelling (or name the detector it belongs to with {DETECTOR_OPTION!r})",
            )
        problem = setting.problem(value)
        if problem is not None:
            raise DimensionOptionError(
                f"entity {entity.id!r}: options[{key!r}] {problem} ({setting.description})",
                entity=entity.id,
                option=key,
                remedy=f"give {SETTING_TYPES[setting.type]} as options[{key!r}]",
            )
    values: dict[str, Any] = {}
    for name, setting in declared.items():
        if name in given:
            values[name] = _freeze(setting, given[name])
        elif setting.required:
            key = OPTION_PREFIX + name
            raise DimensionOptionError(
                f"entity {entity.id!r} is watched by change detector {detector.name!r}, which needs "
                f"options[{key!r}] ({setting.description})",
                entity=entity.id,
                option=key,
                remedy=f"add {key!r} to the entity's options",
            )
        elif setting.default is not None:
            values[name] = _freeze(setting, setting.default)
    return values


def resolve_dimension(entity: Entity, detectors: FamilyView[ChangeDetector], pipes: Iterable[str] = ()) -> Dimension:
    """The :class:`Dimension` for ``entity``: its detector and checked settings (see the module
    doc); raises :class:`~kindling_core.dimensions.errors.DimensionOptionError`."""
    provided = _detector(entity, detectors)
    detector = provided.item
    if detector.delta_only and not probe_readable(entity):
        what = f"a {entity.format} table" if entity.format != "delta" else "a catalog table (table=)"
        raise DimensionOptionError(
            f"dimension {entity.id!r} is {what}, but its change detector {detector.name!r} reads the "
            "Delta version probe, which reads Delta tables declared with path= only",
            entity=entity.id,
            option=DETECTOR_OPTION if DETECTOR_OPTION in entity.options else None,
            remedy=f"declare the table with path=, or set options={{{DETECTOR_OPTION!r}: 'schedule'}} "
            "(with 'change.refresh-seconds') or a detector that reads this kind of table",
        )
    settings = _settings(entity, detector)
    return Dimension(entity=entity, detector=provided, settings=settings, pipes=tuple(pipes), policy=restart_policy(entity))
