"""Configuration: ``[tool.kindling]`` in the nearest ``pyproject.toml``, plus env and CLI.

Where configuration comes from, later wins:

1. defaults (the attrs field defaults below);
2. ``[tool.kindling]`` of the nearest ``pyproject.toml`` upward from the working directory,
   or the file given explicitly (``--config PATH`` / ``load_config(path=...)``);
3. environment: ``KINDLING_DISABLE_PLUGIN_AUTOLOAD=1`` turns autoload off;
   ``KINDLING_DISABLE_PLUGINS=a,b`` adds to ``plugins.disable``;
4. explicit overrides (CLI flags, ``App(...)`` arguments) through :func:`with_overrides`.

Every table is parsed strictly: an unknown key is a :class:`~kindling_core.errors.ConfigError`
naming the exact key path (``tool.kindling.plugins.autolaod``) with a did-you-mean; a value of
the wrong type names its path and the expected type. ``[tool.kindling.settings.<plugin-id>]``
is free-form: it belongs to that plugin.

The result is a frozen :class:`KindlingConfig`; nothing here reads or writes global state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_origin

import attrs

from kindling_core._names import did_you_mean
from kindling_core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "KindlingConfig",
    "PluginsConfig",
    "SignalsConfig",
    "ChainConfig",
    "CacheConfig",
    "ChangeDetectorsConfig",
    "ExecutionConfig",
    "SparkConfig",
    "find_pyproject",
    "load_config",
    "parse_config",
    "with_overrides",
]

ENV_DISABLE_AUTOLOAD = "KINDLING_DISABLE_PLUGIN_AUTOLOAD"
ENV_DISABLE_PLUGINS = "KINDLING_DISABLE_PLUGINS"


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _key(name: str) -> str:
    return name.replace("_", "-")


@attrs.frozen
class PluginsConfig:
    """``[tool.kindling.plugins]``: which plugins load.

    ``autoload``: load every plugin found through the ``kindling`` entry-point group (the
    built-in plugins of kindling-core always load unless disabled). With ``autoload = false``
    only built-ins and the plugins listed in ``enable`` load. ``disable`` blocks plugins before
    they are imported. ``require`` lists ``"id"`` or ``"id>=1.2"`` that must be active.
    ``strict`` turns a plugin that fails to import or validate into a fatal error.
    """

    autoload: bool = True
    enable: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    disable: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    require: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    strict: bool = False
    #: Names added to ``disable`` by ``KINDLING_DISABLE_PLUGINS`` (kept apart so errors can
    #: say where a name came from). Not a TOML key.
    env_disable: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str, metadata={"toml": False})
    #: Names given to ``--disable-plugin`` / ``--enable-plugin`` (see kindling_core.overrides:
    #: they win over every other source). Not TOML keys.
    cli_disable: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str, metadata={"toml": False})
    cli_enable: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str, metadata={"toml": False})

    def all_disabled(self) -> tuple[tuple[str, str], ...]:
        """Every disabled name with the place it came from (for error messages)."""
        return (
            tuple((name, f"tool.kindling.plugins.disable[{i}]") for i, name in enumerate(self.disable))
            + tuple((name, f"env {ENV_DISABLE_PLUGINS}") for name in self.env_disable)
            + tuple((name, "--disable-plugin") for name in self.cli_disable)
        )

    def all_enabled(self) -> tuple[tuple[str, str], ...]:
        """Every enabled name with the place it came from (for error messages)."""
        return tuple((name, f"tool.kindling.plugins.enable[{i}]") for i, name in enumerate(self.enable)) + tuple(
            (name, "--enable-plugin") for name in self.cli_enable
        )


@attrs.frozen
class SignalsConfig:
    """``[tool.kindling.signals]``: how the signal bus behaves.

    ``strict``: connecting to an undeclared signal name raises instead of warning.
    ``propagate_receiver_errors``: a raising receiver's error reaches the emitter (default:
    reported to the error handlers and swallowed). ``async_workers`` and ``async_queue_size``
    bound the thread pool that runs async receivers when no event loop is running.
    """

    strict: bool = False
    propagate_receiver_errors: bool = False
    async_workers: int = 4
    async_queue_size: int = 10_000


@attrs.frozen
class ChainConfig:
    """``order`` and ``disable`` of an ordered family.

    ``order`` lists item names; ``"..."`` stands for every other item in default order (when
    absent, the rest follow the listed ones). ``disable`` removes items.
    """

    order: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    disable: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)


@attrs.frozen
class CacheConfig(ChainConfig):
    """``[tool.kindling.cache]``: cache heuristics' order plus their shared settings.

    ``storage_level`` overrides the level heuristics recommend; ``min_size_mb`` is the size
    under which a known-size entity is not worth caching.
    """

    storage_level: str = "MEMORY_AND_DISK"
    min_size_mb: float = 100.0


@attrs.frozen
class ChangeDetectorsConfig:
    """``[tool.kindling.change-detectors]``: the default detector and disabled ones."""

    default: str = "version-poll"
    disable: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)


@attrs.frozen
class ExecutionConfig:
    """``[tool.kindling.execution]``: how runs behave when a pipe fails or hangs.

    ``on_failure``: ``fail_fast`` | ``continue`` | ``skip_dependents``. ``max_retries``
    (transient failures only), ``retry_backoff_seconds`` (first delay, doubled per attempt, with
    jitter, capped by ``retry_backoff_max_seconds``), ``timeout_seconds`` per pipe (0 = none),
    ``concurrency`` pipes at once within a generation (1 = sequential, the default).
    """

    on_failure: str = "fail_fast"
    max_retries: int = 2
    retry_backoff_seconds: float = 1.0
    retry_backoff_max_seconds: float = 60.0
    timeout_seconds: float = 0.0
    concurrency: int = 1


@attrs.frozen
class SparkConfig:
    """``[tool.kindling.spark]``: the local session the app builds when none is active.

    ``conf`` is passed to the session builder verbatim (string keys and values).
    ``log_level`` becomes ``spark.log.level`` (Spark's own logger; ``ERROR`` keeps a terminal
    readable, ``WARN`` is Spark's default) unless ``conf`` sets it.
    """

    master: str = "local[*]"
    remote: str = ""
    app_name: str = "kindling"
    shuffle_partitions: int = 4
    warehouse_dir: str = ""
    log_level: str = "ERROR"
    conf: Mapping[str, str] = attrs.field(
        factory=dict, converter=lambda m: MappingProxyType({str(k): str(v) for k, v in dict(m).items()})
    )


def _frozen_settings(value: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in dict(value).items()})


@attrs.frozen
class KindlingConfig:
    """All of ``[tool.kindling]``, parsed and frozen.

    ``source`` is the file it came from (``None`` for defaults); ``root`` the folder relative
    paths are resolved against (the file's folder, else the working directory).
    """

    app: str = ""
    strategy: str = "batch"
    plugins: PluginsConfig = PluginsConfig()
    signals: SignalsConfig = SignalsConfig()
    cache: CacheConfig = CacheConfig()
    failure_classifiers: ChainConfig = ChainConfig()
    recovery: ChainConfig = ChainConfig()
    change_detectors: ChangeDetectorsConfig = ChangeDetectorsConfig()
    error_handlers: ChainConfig = ChainConfig()
    execution: ExecutionConfig = ExecutionConfig()
    spark: SparkConfig = SparkConfig()
    settings: Mapping[str, Mapping[str, Any]] = attrs.field(
        factory=dict, converter=_frozen_settings
    )
    source: Path | None = attrs.field(default=None, eq=False)
    root: Path = attrs.field(factory=Path.cwd, eq=False)

    def settings_for(self, plugin_id: str) -> Mapping[str, Any]:
        """The plugin's own table ``[tool.kindling.settings.<plugin_id>]`` (empty if none)."""
        return self.settings.get(plugin_id, MappingProxyType({}))

    def chain(self, section: str) -> ChainConfig | CacheConfig | ChangeDetectorsConfig:
        """The order/disable table of a family, by its config section name."""
        return getattr(self, section.replace("-", "_"))

    def fingerprint_data(self) -> dict[str, Any]:
        """A JSON-able view of the values, for plan fingerprints and ``--json`` output."""
        return _to_plain(attrs.asdict(self, filter=lambda a, v: a.name not in ("source", "root")))


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------- parsing

#: Tables whose values are free-form (owned by someone else): no key checking inside.
_FREE_FORM = {"settings", "conf"}


def _expected(field_type: Any) -> tuple[type, ...]:
    """Python types a TOML value may have for a field annotated ``field_type``."""
    text = field_type if isinstance(field_type, str) else getattr(field_type, "__name__", "")
    origin = get_origin(field_type)
    if field_type is bool or text == "bool":
        return (bool,)
    if field_type is int or text == "int":
        return (int,)
    if field_type is float or text == "float":
        return (int, float)
    if field_type is str or text == "str":
        return (str,)
    if origin is tuple or text.startswith("tuple"):
        return (list, tuple)
    if text.startswith("Mapping") or origin is Mapping:
        return (dict,)
    return (object,)


_TYPE_WORDS = {bool: "a boolean", int: "an integer", str: "a string", list: "an array of strings", dict: "a table"}


def _parse_table(cls: type, data: Any, path: str, source: str | None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must be a table, got {type(data).__name__}",
            path=path,
            source=source,
            remedy=f"write it as [{path}] with key = value lines",
        )
    fields = {
        _key(f.name): f
        for f in attrs.fields(cls)
        if f.name not in ("source", "root") and f.metadata.get("toml", True)
    }
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key_path = f"{path}.{key}"
        field = fields.get(key)
        if field is None:
            hint = did_you_mean(key, fields) or did_you_mean(key.replace("_", "-"), fields)
            raise ConfigError(
                f"unknown key {key_path!r} in {source or 'configuration'}.{hint} "
                f"Known keys of [{path}]: {', '.join(sorted(fields))}.",
                path=key_path,
                source=source,
                remedy="remove the key or fix its spelling",
            )
        kwargs[field.name] = _parse_value(field, value, key_path, source)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # pragma: no cover - guarded above
        raise ConfigError(f"invalid [{path}]: {exc}", path=path, source=source) from exc


def _parse_value(field: attrs.Attribute, value: Any, path: str, source: str | None) -> Any:
    field_type = field.type
    nested = field.default if attrs.has(type(field.default)) else None
    if nested is not None:
        return _parse_table(type(nested), value, path, source)
    expected = _expected(field_type)
    ok = isinstance(value, expected) and not (expected != (bool,) and isinstance(value, bool) and bool not in expected)
    if not ok:
        words = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in expected if t not in (float, tuple))
        raise ConfigError(
            f"{path} must be {words}, got {value!r}",
            path=path,
            source=source,
            remedy=f"set {path} to {words}",
        )
    if list in expected:
        value = list(value)
        for index, element in enumerate(value):
            if not isinstance(element, str):
                raise ConfigError(
                    f"{path}[{index}] must be a string, got {element!r}",
                    path=f"{path}[{index}]",
                    source=source,
                    remedy=f"write {path} as an array of strings",
                )
    if field.name in _FREE_FORM and isinstance(value, dict) and field.name == "settings":
        for plugin_id, table in value.items():
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{path}.{plugin_id} must be a table of that plugin's settings",
                    path=f"{path}.{plugin_id}",
                    source=source,
                    remedy=f"write it as [{path}.{plugin_id}]",
                )
    return value


def parse_config(data: Mapping[str, Any], *, source: Path | None = None, root: Path | None = None) -> KindlingConfig:
    """Parse the contents of ``[tool.kindling]`` (a mapping) into a :class:`KindlingConfig`."""
    source_text = str(source) if source else None
    parsed = _parse_table(KindlingConfig, dict(data), "tool.kindling", source_text)
    return attrs.evolve(parsed, source=source, root=root or (source.parent if source else Path.cwd()))


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            path=str(path),
            source=str(path),
            culprit=str(path),
            remedy="fix the TOML syntax at the line and column given",
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read configuration file {path}: {exc.strerror or exc}",
            path=str(path),
            source=str(path),
            remedy="check the path given to --config",
        ) from exc


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> KindlingConfig:
    """Load configuration from ``path`` or the nearest ``pyproject.toml``, then apply env.

    A file without ``[tool.kindling]`` gives the defaults. ``path`` may name any TOML file
    with a ``[tool.kindling]`` table. ``environ`` defaults to ``os.environ``.
    """
    file = Path(path) if path is not None else find_pyproject(start)
    if file is None:
        config = KindlingConfig(root=(start or Path.cwd()))
    else:
        document = _read_toml(file)
        tool = document.get("tool", {})
        section = tool.get("kindling", {}) if isinstance(tool, dict) else {}
        config = parse_config(section, source=file.resolve(), root=file.resolve().parent)
    return apply_environment(config, os.environ if environ is None else environ)


def apply_environment(config: KindlingConfig, environ: Mapping[str, str]) -> KindlingConfig:
    """Apply ``KINDLING_DISABLE_PLUGIN_AUTOLOAD`` and ``KINDLING_DISABLE_PLUGINS``."""
    plugins = config.plugins
    flag = environ.get(ENV_DISABLE_AUTOLOAD, "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        plugins = attrs.evolve(plugins, autoload=False)
    extra = [name.strip() for name in environ.get(ENV_DISABLE_PLUGINS, "").split(",") if name.strip()]
    if extra:
        plugins = attrs.evolve(plugins, env_disable=tuple(dict.fromkeys(extra)))
    return config if plugins is config.plugins else attrs.evolve(config, plugins=plugins)


def with_overrides(config: KindlingConfig, **sections: Mapping[str, Any] | Any) -> KindlingConfig:
    """Return ``config`` with values replaced, validated like the TOML (dash or snake keys).

    ``with_overrides(cfg, strategy="streaming", plugins={"disable": ["x"]})`` merges the
    ``plugins`` table into the existing one and replaces ``strategy``.
    """
    changes: dict[str, Any] = {}
    fields = {f.name: f for f in attrs.fields(KindlingConfig)}
    for name, value in sections.items():
        attr = name.replace("-", "_")
        field = fields.get(attr)
        if field is None or attr in ("source", "root"):
            raise ConfigError(
                f"unknown configuration key {name!r}.{did_you_mean(_key(attr), [_key(f) for f in fields])}",
                path=f"tool.kindling.{_key(attr)}",
            )
        current = getattr(config, attr)
        if attrs.has(type(current)) and isinstance(value, Mapping):
            hidden = {f.name for f in attrs.fields(type(current)) if not f.metadata.get("toml", True)}
            merged = {_key(k): v for k, v in attrs.asdict(current, recurse=False).items() if k not in hidden}
            merged.update({_key(k): v for k, v in value.items()})
            parsed = _parse_table(type(current), merged, f"tool.kindling.{_key(attr)}", None)
            changes[attr] = attrs.evolve(parsed, **{name: getattr(current, name) for name in hidden})
        else:
            changes[attr] = _parse_value(field, value, f"tool.kindling.{_key(attr)}", None)
    return attrs.evolve(config, **changes)
