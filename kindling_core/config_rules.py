"""What each configuration key accepts, declared once next to the field.

Every key of ``[tool.kindling]`` is an attrs field made with :func:`setting`, which stores a
:class:`Rule` in the field's metadata: its documentation, its kind (derived from the default:
boolean, integer, number, string, array of strings, table), and its constraints (``minimum``,
``maximum``, ``choices``, a name ``syntax``, ``non_empty``, ``at_least`` another key of the
same table). Everything that accepts a configuration value reads the same rule:

* the TOML parser and :func:`~kindling_core.config.with_overrides` (``App(...)`` keyword
  overrides, ``app.run(...)`` arguments) call :func:`check` before building a table;
* the field's attrs validator calls :func:`check` too, so a config class built directly in code
  (``ExecutionConfig(concurrency=0)``) is refused the same way;
* CLI options typed with :class:`kindling_core.cli._setting_type.SettingType` call it;
* ``docs/reference/config.md`` is rendered from :meth:`Rule.type_word`, :meth:`Rule.allowed`
  and ``Rule.doc``.

:func:`check` raises :class:`Problem` (what is required, the value, where inside the value);
:func:`value_error` turns it into the one :class:`~kindling_core.errors.ConfigError` shape, and
:func:`unknown_key_error` is the one shape for an unknown key. This module imports nothing of
kindling_core but the leaf modules ``_names``, ``errors``, ``failure_policy`` and
``streaming.triggers``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from kindling_core._names import did_you_mean, is_item_name, split_app_ref, suggest_item_name
from kindling_core.errors import ConfigError
from kindling_core.streaming.triggers import TRIGGER_FORMS, is_trigger

__all__ = [
    "MAX_SECONDS",
    "SPARK_LOG_LEVELS",
    "STORAGE_LEVELS",
    "Origin",
    "Problem",
    "Rule",
    "check",
    "default_of",
    "rule_of",
    "setting",
    "unknown_key_error",
    "value_error",
]

#: The longest duration a seconds key accepts (30 days): long enough for any pipe, short enough
#: for every platform's thread waits (Windows caps them at about 49 days).
MAX_SECONDS = 30 * 24 * 3600

#: Spark's ``StorageLevel`` names (``pyspark.StorageLevel`` attributes).
STORAGE_LEVELS = (
    "NONE",
    "DISK_ONLY",
    "DISK_ONLY_2",
    "DISK_ONLY_3",
    "MEMORY_ONLY",
    "MEMORY_ONLY_2",
    "MEMORY_AND_DISK",
    "MEMORY_AND_DISK_2",
    "MEMORY_AND_DISK_DESER",
    "OFF_HEAP",
)

#: Spark's log levels (``SparkContext.setLogLevel``, ``spark.log.level``).
SPARK_LOG_LEVELS = ("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN")

#: The largest value of a Spark integer setting (a JVM ``int``).
SPARK_INT_MAX = 2**31 - 1

_DISTRIBUTION_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)

#: "every other item" in an ``order`` array.
REST = "..."


# ----------------------------------------------------------------------------- syntaxes


def _is_plugin_name(text: str) -> bool:
    return _DISTRIBUTION_NAME_RE.match(text) is not None


def _is_requirement(text: str) -> bool:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(text)
    except InvalidRequirement:
        return False
    return True


def _is_spark_remote(text: str) -> bool:
    return text == "" or text.startswith(("sc://", "local"))


def _is_trigger_or_empty(text: str) -> bool:
    return text == "" or is_trigger(text)


def _is_app_ref(text: str) -> bool:
    return text == "" or split_app_ref(text) is not None


def _regex_error(text: str) -> str:
    """Why ``text`` is not a Python regular expression (``""`` when it is one)."""
    try:
        re.compile(text)
    except re.error as exc:
        return str(exc)
    return ""


_ITEM_NAME = "an item name (lowercase letters and digits in words joined by single dashes, starting with a letter)"

#: syntax key -> (test, description of one valid value, description of several)
SYNTAXES: Mapping[str, tuple[Callable[[str], bool], str, str]] = MappingProxyType(
    {
        "item-name": (is_item_name, _ITEM_NAME, "item names"),
        "order": (lambda s: s == REST or is_item_name(s), f'{_ITEM_NAME} or "..." (every other item)', 'item names and at most one "..."'),
        "plugin-name": (
            _is_plugin_name,
            "a plugin id or distribution name (letters, digits, '-', '_', '.')",
            "plugin ids or distribution names",
        ),
        "requirement": (_is_requirement, "a requirement such as 'acme' or 'acme>=1.2'", "requirements such as 'acme>=1.2'"),
        "app-ref": (_is_app_ref, "empty or a 'package.module:attr' reference (for example 'pipelines.orders:app')", "app references"),
        "spark-remote": (_is_spark_remote, "empty, a Spark Connect URL 'sc://host:port' or 'local[...]'", "Spark Connect URLs"),
        "trigger": (_is_trigger_or_empty, f"empty (Spark's default) or a stream trigger: {TRIGGER_FORMS}", "stream triggers"),
        "regex": (
            lambda s: not _regex_error(s),
            "a regular expression (Python `re` syntax, searched in the text)",
            "regular expressions (Python `re` syntax, searched in the text)",
        ),
    }
)


# ----------------------------------------------------------------------------- rules


@attrs.frozen
class Rule:
    """What one configuration key accepts, and its documentation.

    ``kind`` is one of ``boolean``, ``integer``, ``number``, ``string``, ``array`` (of strings),
    ``scalars`` (a table of string/number/boolean values), ``tables`` (a table of tables) or
    ``section`` (a nested table parsed by its own class). ``spelling`` maps a value to its
    canonical form before it is checked (``fail-fast`` → ``fail_fast``); it never raises.
    ``at_least`` names another field of the same table this one may not be below.
    """

    doc: str
    kind: str
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    choices_note: str = ""
    spelling: Callable[[Any], Any] | None = attrs.field(default=None, eq=False)
    syntax: str | None = None
    non_empty: bool = False
    at_least: str | None = None
    section: type | None = None

    def type_word(self) -> str:
        """The TOML type: ``boolean``, ``integer``, ``number``, ``string``, ``array of strings``, ``table``."""
        return {
            "boolean": "boolean",
            "integer": "integer",
            "number": "number",
            "string": "string",
            "array": "array of strings",
        }.get(self.kind, "table")

    def allowed(self) -> str:
        """The constraint in words (``>= 1``, ``0 to 2592000``, ``one of ...``), or ``""``."""
        parts = []
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{_num(self.minimum)} to {_num(self.maximum)}")
        elif self.minimum is not None:
            parts.append(f">= {_num(self.minimum)}")
        elif self.maximum is not None:
            parts.append(f"<= {_num(self.maximum)}")
        if self.at_least:
            parts.append(f">= {_key(self.at_least)}")
        if self.choices:
            parts.append("one of " + ", ".join(self.choices) + (f" ({self.choices_note})" if self.choices_note else ""))
        if self.syntax:
            _, one, several = SYNTAXES[self.syntax]
            parts.append(several if self.kind == "array" else one)
        if self.non_empty:
            parts.append("not empty")
        if self.kind == "scalars":
            parts.append("string, number or boolean values")
        if self.kind == "tables":
            parts.append("one table per plugin id")
        return "; ".join(parts)

    def requirement(self) -> str:
        """What a value must be, as a phrase: ``an integer >= 1``, ``one of a, b``."""
        if self.choices:
            return "one of " + ", ".join(self.choices) + (f" ({self.choices_note})" if self.choices_note else "")
        noun = {
            "boolean": "a boolean (true or false)",
            "integer": "an integer",
            "number": ("a number" if self.maximum is not None else "a finite number") + (f" of {self.unit}" if self.unit else ""),
            "string": "a non-empty string" if self.non_empty else "a string",
            "array": "an array of strings" + (f" ({SYNTAXES[self.syntax][2]})" if self.syntax else ""),
            "scalars": "a table with string, number or boolean values",
            "tables": "a table of tables, one per plugin id",
            "section": "a table",
        }[self.kind]
        if self.kind == "string" and self.syntax:
            return SYNTAXES[self.syntax][1]
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f"{noun} >= {_num(self.minimum)}"
        return noun

    def convert(self, value: Any) -> Any:
        """Lenient canonical form for direct construction (never raises; :func:`check` judges)."""
        if self.spelling is not None:
            value = self.spelling(value)
        if self.kind == "number" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if self.kind == "array" and isinstance(value, (list, tuple)):
            return tuple(value)
        if self.kind == "scalars" and isinstance(value, Mapping):
            return MappingProxyType({str(k): _conf_text(v) for k, v in value.items()})
        if self.kind == "tables" and isinstance(value, Mapping):
            return MappingProxyType({k: MappingProxyType(dict(v)) if isinstance(v, Mapping) else v for k, v in value.items()})
        return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _key(name: str) -> str:
    return name.replace("_", "-")


def _conf_text(value: Any) -> Any:
    """A Spark conf value as the string Spark reads; non-scalars unchanged (rejected by check)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return value


def _default_kind(default: Any) -> str:
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "string"
    if isinstance(default, tuple):
        return "array"
    if attrs.has(type(default)):
        return "section"
    raise TypeError(f"cannot infer the kind of a setting with default {default!r}; pass kind=")


def setting(
    default: Any = attrs.NOTHING,
    *,
    doc: str,
    factory: Callable[[], Any] | None = None,
    kind: str | None = None,
    **constraints: Any,
) -> Any:
    """An attrs field for a configuration key: rule in its metadata, converter and validator.

    ``constraints`` are :class:`Rule` fields (``minimum=1``, ``choices=(...)``, ``syntax=...``).
    """
    if kind is None:
        kind = _default_kind(default)
    section = type(default) if kind == "section" else None
    rule = Rule(doc=" ".join(doc.split()), kind=kind, section=section, **constraints)
    return attrs.field(
        default=default if factory is None else attrs.Factory(factory),
        converter=rule.convert,
        validator=_validate,
        metadata={"rule": rule},
    )


def rule_of(field: attrs.Attribute[Any]) -> Rule | None:
    """The :class:`Rule` of a field made with :func:`setting` (``None`` for other fields)."""
    return field.metadata.get("rule")


def default_of(field: attrs.Attribute[Any]) -> Any:
    """A field's default value (a factory's product for ``factory=`` defaults)."""
    default: Any = field.default
    return default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- checking


class Problem(Exception):
    """A value breaks its rule. Internal: :func:`value_error` turns it into a ConfigError.

    ``requirement`` is what the value must be; ``suffix`` locates the bad part inside the value
    (``[1]``, ``.spark``); ``related`` names another key of the same table in a cross-key rule.
    """

    def __init__(
        self,
        requirement: str,
        value: Any,
        *,
        suffix: str = "",
        hint: str = "",
        remedy: str | None = None,
        related: str | None = None,
    ) -> None:
        super().__init__(requirement)
        self.requirement = requirement
        self.value = value
        self.suffix = suffix
        self.hint = hint
        self.remedy = remedy
        self.related = related


def check(rule: Rule, value: Any, siblings: Callable[[str], Any] | None = None) -> Any:
    """Return the canonical form of ``value`` if ``rule`` accepts it, else raise :class:`Problem`.

    ``siblings(name)`` gives another field's (already checked) value, for ``at_least``.
    """
    original = value
    value = rule.convert(value)
    kind = rule.kind
    if kind == "section":
        if not isinstance(value, rule.section):  # type: ignore[arg-type]
            raise Problem(rule.requirement(), original)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise Problem(rule.requirement(), original)
        return value
    if kind in ("integer", "number"):
        return _check_number(rule, value, original, siblings)
    if kind == "string":
        if not isinstance(value, str):
            raise Problem(rule.requirement(), original)
        _check_text(rule, value, original)
        return value
    if kind == "array":
        return _check_array(rule, value, original)
    if kind == "scalars":
        return _check_scalars(rule, value, original)
    if kind == "tables":
        if not isinstance(value, Mapping):
            raise Problem(rule.requirement(), original)
        for name, table in value.items():
            if not isinstance(table, Mapping):
                raise Problem("a table of that plugin's settings", table, suffix=f".{name}", remedy=None)
        return value
    raise AssertionError(f"unknown setting kind {kind!r}")  # pragma: no cover


def _check_number(rule: Rule, value: Any, original: Any, siblings: Callable[[str], Any] | None) -> Any:
    wanted = int if rule.kind == "integer" else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise Problem(rule.requirement(), original)
    if isinstance(value, float) and not math.isfinite(value):
        raise Problem(rule.requirement(), original)
    if (rule.minimum is not None and value < rule.minimum) or (rule.maximum is not None and value > rule.maximum):
        raise Problem(rule.requirement(), original)
    if rule.at_least and siblings is not None:
        floor = siblings(rule.at_least)
        if isinstance(floor, (int, float)) and value < floor:
            raise Problem(f">= {{related}} ({floor!r})", original, related=_key(rule.at_least))
    return value


def _check_text(rule: Rule, value: str, original: Any) -> None:
    if rule.choices and value not in rule.choices:
        hint = did_you_mean(str(value), rule.choices)
        remedy = "use the suggested value or another listed one" if hint else "use one of the listed values"
        raise Problem(rule.requirement(), original, hint=hint, remedy=remedy)
    if rule.non_empty and not value.strip():
        raise Problem(rule.requirement(), original)
    if rule.syntax:
        _check_syntax(rule.syntax, value, original)


def _check_syntax(syntax: str, value: str, original: Any, suffix: str = "") -> None:
    test, description, _ = SYNTAXES[syntax]
    if not test(value):
        hint = ""
        if syntax in ("item-name", "order"):
            suggestion = suggest_item_name(value)
            hint = f" Did you mean {suggestion!r}?" if suggestion else ""
        remedy = None
        if syntax == "regex":
            hint = f" Python's re module says: {_regex_error(value)}."
            remedy = (
                "fix the expression; escape ( ) [ ] . * + ? with a backslash to match them literally "
                "(in TOML a literal string keeps it: '\\(', a basic string needs two: \"\\\\(\")"
            )
        raise Problem(description, original, suffix=suffix, hint=hint, remedy=remedy)


def _check_array(rule: Rule, value: Any, original: Any) -> tuple[str, ...]:
    if not isinstance(value, tuple):
        raise Problem(rule.requirement(), original)
    rests = 0
    for index, element in enumerate(value):
        suffix = f"[{index}]"
        if not isinstance(element, str):
            raise Problem("a string", element, suffix=suffix)
        if rule.syntax:
            _check_syntax(rule.syntax, element, element, suffix)
        if element == REST:
            rests += 1
            if rests > 1:
                raise Problem('"..." at most once', element, suffix=suffix, remedy='keep a single "..." in the array')
    return value


def _check_scalars(rule: Rule, value: Any, original: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise Problem(rule.requirement(), original)
    raw = original if isinstance(original, Mapping) else value
    for name, element in raw.items():
        if isinstance(element, bool) or isinstance(element, (str, int)):
            continue
        if isinstance(element, float) and math.isfinite(element):
            continue
        remedy = None
        if isinstance(element, Mapping):
            leaf = _first_leaf(name, element)
            if leaf is not None:
                dotted, leaf_value = leaf
                remedy = (
                    f'quote dotted Spark keys: write "{dotted}" = {_toml_literal(leaf_value)} '
                    "(an unquoted dotted key is a nested TOML table)"
                )
        raise Problem("a string, a finite number or a boolean", element, suffix=f".{name}", remedy=remedy)
    return value


def _first_leaf(prefix: str, table: Mapping[str, Any]) -> tuple[str, Any] | None:
    for name, value in table.items():
        if isinstance(value, Mapping):
            found = _first_leaf(f"{prefix}.{name}", value)
            if found is not None:
                return found
        else:
            return f"{prefix}.{name}", value
    return None


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


# ----------------------------------------------------------------------------- messages


def _frozen_names(names: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(names))


@attrs.frozen
class Origin:
    """Where values being checked came from, as messages name it.

    ``where`` is a file path or a phrase (``keyword overrides``); ``file`` becomes the error's
    ``source``. ``spelled`` maps a key path to how the caller wrote it (``app.run(timeout_seconds=...)``):
    such a key is named that way, followed by the key path it sets.
    """

    where: str = "configuration"
    file: str | None = None
    spelled: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_names)

    @classmethod
    def of_file(cls, path: object) -> Origin:
        return cls(str(path), file=str(path))


def value_error(problem: Problem, path: str, origin: Origin = Origin()) -> ConfigError:
    """The one message shape for a bad value: ``<key> must be <requirement>, got <value> in <where>.``"""
    key_path = path + problem.suffix
    requirement = problem.requirement
    remedy = problem.remedy
    if problem.related is not None:
        other = f"{path.rsplit('.', 1)[0]}.{problem.related}"
        requirement = requirement.replace("{related}", other)
        remedy = remedy or f"raise {key_path} or lower {other}"
    spelled = origin.spelled.get(key_path)
    subject = spelled or key_path
    where = f" (it sets {key_path})" if spelled else f" in {origin.where}"
    return ConfigError(
        f"{subject} must be {requirement}, got {problem.value!r}{where}.{problem.hint}",
        path=key_path,
        source=origin.file,
        culprit=subject,
        remedy=remedy or f"use {requirement} for {subject}",
    )


def unknown_key_error(key: str, table_path: str, known: Iterable[str], origin: Origin = Origin()) -> ConfigError:
    """The one message shape for an unknown key, wherever it is found (TOML or keyword overrides)."""
    known = sorted(known)
    key_path = f"{table_path}.{key}"
    hint = did_you_mean(key, known) or did_you_mean(_key(key), known)
    return ConfigError(
        f"unknown key {key_path!r} in {origin.where}.{hint} Known keys of [{table_path}]: {', '.join(known)}.",
        path=key_path,
        source=origin.file,
        remedy="remove the key or fix its spelling",
    )


def _validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator of every :func:`setting`: the same :func:`check` as the parser."""
    table = getattr(type(instance), "TABLE", None) or type(instance).__name__
    try:
        check(attribute.metadata["rule"], value, lambda name: getattr(instance, name))
    except Problem as problem:
        raise value_error(problem, f"{table}.{_key(attribute.name)}") from None
