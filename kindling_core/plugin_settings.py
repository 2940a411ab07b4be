"""A plugin's declared settings: the :class:`Setting` schema and :func:`validate_settings`.

A plugin declares the keys of its table ``[tool.kindling.settings.<plugin-id>]`` by
implementing the ``kindling_settings_schema`` hook (see :mod:`kindling_core.hookspecs`),
which returns :class:`Setting` items. Before calling any other hook of that plugin, the core
validates the table against them:

* a key the schema does not declare is an error naming ``tool.kindling.settings.<id>.<key>``,
  with a did-you-mean and the declared keys;
* a value of the wrong type is an error (an integer is accepted where a float is declared and
  becomes a float; a boolean is never a number; NaN is never a number); so is a value outside
  ``choices`` or ``min``/``max`` (inclusive bounds);
* a ``required`` key that is missing is an error;
* a missing key with a ``default`` gets the default.

Every error is a :class:`~kindling_core.errors.SettingsError` (a
:class:`~kindling_core.errors.ConfigError`, and a ``ValueError``) whose ``path`` is the exact
key path. The validated, read-only mapping (declared keys only, defaults filled in) is what
every hook of the plugin receives as ``settings``. A plugin that does not implement the hook
receives its table as written (free-form) and validates it itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from kindling_core._names import check_item_name, did_you_mean
from kindling_core.errors import ItemError, ItemTypeError, SettingsError

__all__ = ["Setting", "SETTING_TYPES", "settings_path", "validate_settings"]

#: The types a setting may declare, with the words messages use for them.
SETTING_TYPES: Mapping[type, str] = MappingProxyType(
    {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table"}
)


def settings_path(plugin_id: str, key: str | None = None) -> str:
    """``tool.kindling.settings.<plugin_id>[.<key>]``: how every message names a setting."""
    table = f"tool.kindling.settings.{plugin_id}"
    return f"{table}.{key}" if key else table


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_matches(kind: type, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return _is_number(value) and not (isinstance(value, float) and math.isnan(value))
    if kind is list:
        return isinstance(value, (list, tuple))
    if kind is dict:
        return isinstance(value, Mapping)
    return isinstance(value, kind)


def _freeze(kind: type, value: Any) -> Any:
    if kind is float:
        return float(value)
    if kind is list:
        return tuple(value)
    if kind is dict:
        return MappingProxyType(dict(value))
    return value


def _setting_name(instance: Setting, attribute: attrs.Attribute, value: object) -> None:
    check_item_name(value, what="setting name")


def _setting_type(instance: Setting, attribute: attrs.Attribute, value: object) -> None:
    if value not in SETTING_TYPES:
        shown = getattr(value, "__name__", repr(value))
        raise ItemTypeError(
            f"Setting {instance.name!r}: type must be one of {', '.join(t.__name__ for t in SETTING_TYPES)}, got {shown}"
        )


def _description(instance: Setting, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ItemError(f"Setting {instance.name!r}: description must be a non-empty string, got {value!r}")


def _optional_tuple(value: Iterable[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class Setting:
    """One key of a plugin's settings table.

    ``name`` is the TOML key (lowercase words joined by dashes, ``backoff-seconds``); ``type``
    one of ``bool``, ``int``, ``float``, ``str``, ``list`` (a TOML array, received as a tuple)
    or ``dict`` (a TOML table, received as a read-only mapping); ``description`` one line
    shown by ``kindling plugins list --verbose``; ``default`` the value used when the key is
    absent (``None``: no default, the key is then absent from ``settings``); ``choices`` the
    allowed values; ``min``/``max`` inclusive bounds of a number; ``required`` makes a missing
    key an error (and excludes a default).

    Invariants, checked on construction (a bad schema is the plugin's bug, and fails the
    plugin): a valid name, a supported type, a non-empty description, bounds only on numbers,
    and a default that passes the setting's own checks.
    """

    name: str = attrs.field(validator=_setting_name)
    type: type = attrs.field(validator=_setting_type)
    description: str = attrs.field(kw_only=True, validator=_description)
    default: Any = attrs.field(default=None, kw_only=True)
    choices: tuple[Any, ...] | None = attrs.field(default=None, kw_only=True, converter=_optional_tuple)
    min: float | None = attrs.field(default=None, kw_only=True)
    max: float | None = attrs.field(default=None, kw_only=True)
    required: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        numeric = self.type in (int, float)
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is not None and not (numeric and _is_number(value)):
                raise ItemError(
                    f"Setting {self.name!r}: {bound} applies to int and float settings only and must be a number, got {value!r}"
                )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ItemError(f"Setting {self.name!r}: min {self.min!r} is greater than max {self.max!r}")
        if self.choices is not None:
            if not self.choices or any(not _type_matches(self.type, choice) for choice in self.choices):
                raise ItemError(
                    f"Setting {self.name!r}: choices must be a non-empty list of {SETTING_TYPES[self.type]} values, "
                    f"got {self.choices!r}"
                )
        if self.required and self.default is not None:
            raise ItemError(f"Setting {self.name!r}: a required setting has no default (got default={self.default!r})")
        if self.default is not None and self.problem(self.default) is not None:
            raise ItemError(f"Setting {self.name!r}: its default {self.default!r} is not {self.expects()}")

    def expects(self) -> str:
        """What a valid value is, in words: ``"an integer >= 0 and <= 20"``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        words = SETTING_TYPES[self.type]
        bounds = [f">= {self.min!r}" if self.min is not None else "", f"<= {self.max!r}" if self.max is not None else ""]
        shown = " and ".join(b for b in bounds if b)
        return f"{words} {shown}" if shown else words

    def problem(self, value: Any) -> str | None:
        """``None`` when ``value`` is valid for this setting, else why not (for messages)."""
        if not _type_matches(self.type, value):
            return f"must be {self.expects()}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            hint = did_you_mean(value, [c for c in self.choices if isinstance(c, str)]) if isinstance(value, str) else ""
            return f"must be {self.expects()}, got {value!r}.{hint}" if hint else f"must be {self.expects()}, got {value!r}"
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return f"must be {self.expects()}, got {value!r}"
        return None


def validate_settings(
    plugin_id: str,
    schema: Iterable[Setting],
    values_given: Mapping[str, Any],
    *,
    plugin_label: str | None = None,
    table_name: str | None = None,
    source: str | None = None,
) -> Mapping[str, Any]:
    """Check ``values_given`` (the plugin's ``[tool.kindling.settings.<plugin_id>]``) against ``schema``.

    Returns the validated, read-only mapping: every declared key that has a value (given or
    default), in schema order, converted as described in the module docstring. Raises
    :class:`~kindling_core.errors.SettingsError` naming the exact key path for the first
    problem: an undeclared key, a wrong type, a value outside ``choices``/``min``/``max``, or a
    missing required key. ``plugin_label`` (``acme (acme-kindling 1.2.0)``) names the plugin
    in messages; ``table_name`` is the table's name when it is not the plugin id (a
    distribution alias); ``source`` is the file the table came from.
    """
    declared = {setting.name: setting for setting in schema}
    table = table_name or plugin_id
    table_path = settings_path(table)
    who = f"plugin {plugin_label or plugin_id}"

    def error(key: str, message: str, remedy: str) -> SettingsError:
        return SettingsError(message, plugin=plugin_id, table=table, key=key, source=source, remedy=remedy)

    for key in values_given:
        if key not in declared:
            hint = did_you_mean(str(key), declared)
            known = ", ".join(declared) or "(none)"
            raise error(
                str(key),
                f"{settings_path(table, str(key))} is not a setting of {who}.{hint} Known keys of [{table_path}]: {known}.",
                "remove the key or fix its spelling",
            )
    values: dict[str, Any] = {}
    for name, setting in declared.items():
        path = settings_path(table, name)
        if name not in values_given:
            if setting.required:
                raise error(
                    name,
                    f"{path} is required by {who}: {setting.description}",
                    f"add {name} = <{SETTING_TYPES[setting.type]}> under [{table_path}]",
                )
            if setting.default is not None:
                values[name] = _freeze(setting.type, setting.default)
            continue
        problem = setting.problem(values_given[name])
        if problem is not None:
            raise error(name, f"{path} {problem}", f"set {path} to {setting.expects()} ({setting.description})")
        values[name] = _freeze(setting.type, values_given[name])
    return MappingProxyType(values)
