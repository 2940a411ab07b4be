"""Configuration: ``[tool.kindling]`` in the nearest ``pyproject.toml``, plus env and CLI.

Where configuration comes from, later wins:

1. defaults (the field defaults below);
2. ``[tool.kindling]`` of the nearest ``pyproject.toml`` upward from the working directory,
   or the file given explicitly (``--config PATH`` / ``load_config(path=...)``);
3. environment: ``KINDLING_DISABLE_PLUGIN_AUTOLOAD=1`` turns autoload off;
   ``KINDLING_DISABLE_PLUGINS=a,b`` adds to ``plugins.disable``;
4. explicit overrides (``App(...)`` keyword arguments, ``app.run(...)`` arguments, CLI flags)
   through :func:`with_overrides` / :func:`with_arguments`.

Every value is checked when it is loaded, whatever its source, by the rule declared next to its
field (:func:`kindling_core.config_rules.setting`): type, range, allowed choices, name syntax
and cross-key rules. A bad value is a :class:`~kindling_core.errors.ConfigError` naming the
exact key path (``tool.kindling.execution.timeout-seconds``), where the value came from, what
is allowed and the remedy; an unknown key names its path with a did-you-mean and the known
keys of its table. ``[tool.kindling.settings.<plugin-id>]`` is free-form: it belongs to that
plugin. ``docs/reference/config.md`` is generated from the same fields.

The result is a frozen :class:`KindlingConfig`; nothing here reads or writes global state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

from kindling_core.config_rules import (
    MAX_SECONDS,
    SPARK_INT_MAX,
    SPARK_LOG_LEVELS,
    STORAGE_LEVELS,
    SYNTAXES,
    Origin,
    Problem,
    Rule,
    check,
    default_of,
    rule_of,
    setting,
    unknown_key_error,
    value_error,
)
from kindling_core.errors import ConfigError
from kindling_core.failure_policy import FailurePolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "KindlingConfig",
    "PluginsConfig",
    "SignalsConfig",
    "ChainConfig",
    "FailureClassifiersConfig",
    "CacheConfig",
    "RecoveryConfig",
    "ChangeDetectorsConfig",
    "RestartsConfig",
    "ExecutionConfig",
    "SparkConfig",
    "StreamingConfig",
    "ENVIRONMENT",
    "apply_environment",
    "check_setting",
    "find_pyproject",
    "load_config",
    "parse_config",
    "setting_rule",
    "toml_fields",
    "with_arguments",
    "with_overrides",
]

ENV_DISABLE_AUTOLOAD = "KINDLING_DISABLE_PLUGIN_AUTOLOAD"
ENV_DISABLE_PLUGINS = "KINDLING_DISABLE_PLUGINS"

#: Accepted values of ``KINDLING_DISABLE_PLUGIN_AUTOLOAD`` (any case, surrounding blanks ignored).
FLAG_WORDS: Mapping[str, bool] = MappingProxyType(
    {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False, "": False}
)

#: The environment variables configuration reads, with what they do.
ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {
        ENV_DISABLE_AUTOLOAD: (
            "`1`, `true`, `yes` or `on` (any case) turns `tool.kindling.plugins.autoload` off; "
            "`0`, `false`, `no`, `off` or empty leave it as configured. Any other value is an error."
        ),
        ENV_DISABLE_PLUGINS: (
            "Comma-separated plugin ids (or distribution names) disabled in addition to "
            "`tool.kindling.plugins.disable`; each must be a plausible plugin id."
        ),
    }
)


def _key(name: str) -> str:
    return name.replace("_", "-")


def _tuple_of_str(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _plugin_names(source: str, said: str, example: str) -> Callable[[Any, attrs.Attribute[Any], tuple[str, ...]], None]:
    """Validator of plugin names that do not come from TOML: ``source`` (an environment
    variable, a CLI option) ``said`` each name; the rule is the TOML ``disable`` key's."""
    test, description, _ = SYNTAXES["plugin-name"]

    def validate(instance: Any, attribute: attrs.Attribute[Any], names: tuple[str, ...]) -> None:
        for name in names:
            if not isinstance(name, str) or not test(name):
                raise ConfigError(
                    f"{said} {name!r}, which is not {description}",
                    culprit=source,
                    remedy=f"give plugin ids, for example {example}",
                )

    return validate


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


@attrs.frozen
class PluginsConfig:
    """``[tool.kindling.plugins]``: which plugins load.

    Built-in plugins of kindling-core always load unless disabled; with ``autoload = false``
    only they and the plugins listed in ``enable`` load.
    """

    TABLE: ClassVar[str] = "tool.kindling.plugins"

    autoload: bool = setting(True, doc="Load every plugin found through the `kindling` entry-point group.")
    enable: tuple[str, ...] = setting(
        (), syntax="plugin-name", doc="Plugins to load even when `autoload` is off."
    )
    disable: tuple[str, ...] = setting(
        (), syntax="plugin-name", doc="Plugins blocked before they are imported."
    )
    require: tuple[str, ...] = setting(
        (), syntax="requirement", doc='Plugins that must be active, as `"id"` or `"id>=1.2"`; `kindling plugins check` fails otherwise.'
    )
    strict: bool = setting(False, doc="A plugin that fails to import or validate is a fatal error instead of a reported problem.")
    #: Names added to ``disable`` by ``KINDLING_DISABLE_PLUGINS`` (kept apart so errors can
    #: say where a name came from). Not a TOML key.
    env_disable: tuple[str, ...] = attrs.field(
        default=(),
        converter=_tuple_of_str,
        validator=_plugin_names(
            ENV_DISABLE_PLUGINS, f"environment variable {ENV_DISABLE_PLUGINS} lists", f"{ENV_DISABLE_PLUGINS}=noisy-plugin,other-plugin"
        ),
    )
    #: Names given to ``--disable-plugin`` / ``--enable-plugin`` (see kindling_core.overrides:
    #: they win over every other source). Not TOML keys.
    cli_disable: tuple[str, ...] = attrs.field(
        default=(),
        converter=_tuple_of_str,
        validator=_plugin_names("--disable-plugin", "--disable-plugin got", "--disable-plugin noisy-plugin"),
    )
    cli_enable: tuple[str, ...] = attrs.field(
        default=(), converter=_tuple_of_str, validator=_plugin_names("--enable-plugin", "--enable-plugin got", "--enable-plugin my-plugin")
    )

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
    """``[tool.kindling.signals]``: how the signal bus behaves."""

    TABLE: ClassVar[str] = "tool.kindling.signals"

    strict: bool = setting(False, doc="Connecting to an undeclared signal name raises instead of warning.")
    propagate_receiver_errors: bool = setting(
        False, doc="A raising receiver's error reaches the emitter (default: reported to the error handlers and swallowed)."
    )
    async_workers: int = setting(4, minimum=1, doc="Threads that run async receivers when no event loop is running.")
    async_queue_size: int = setting(10_000, minimum=1, doc="At most this many async deliveries may be pending.")


@attrs.frozen
class ChainConfig:
    """``order`` and ``disable`` of an ordered family (failure classifiers, recovery, error handlers)."""

    TABLE: ClassVar[str] = ""

    order: tuple[str, ...] = setting(
        (),
        syntax="order",
        doc='Item names in the order they run; `"..."` stands for every other item in default order '
        "(when absent, the rest follow the listed ones).",
    )
    disable: tuple[str, ...] = setting((), syntax="item-name", doc="Item names removed from the chain.")


@attrs.frozen
class CacheConfig(ChainConfig):
    """``[tool.kindling.cache]``: cache heuristics' order plus their shared settings."""

    TABLE: ClassVar[str] = "tool.kindling.cache"

    storage_level: str = setting(
        "MEMORY_AND_DISK",
        choices=STORAGE_LEVELS,
        choices_note="Spark StorageLevel names, any case",
        spelling=_upper,
        doc="The storage level cache recommendations carry.",
    )
    min_size_mb: float = setting(
        100.0, minimum=0, unit="MB", doc="A known-size entity smaller than this is not worth caching."
    )


@attrs.frozen
class FailureClassifiersConfig(ChainConfig):
    """``[tool.kindling.failure-classifiers]``: the classifiers' order, and rules without code.

    Each of ``transient``, ``permanent``, ``checkpoint`` and ``conflict`` lists regular
    expressions searched in a failure's text (its messages, error classes and JVM stack trace);
    when any is given, the built-in ``patterns`` classifier runs first in the chain (``order``
    can move it) and the first pattern that matches decides, the kinds tried in the order
    ``permanent``, ``checkpoint``, ``conflict``, ``transient`` (the more cautious answer wins).
    """

    TABLE: ClassVar[str] = "tool.kindling.failure-classifiers"

    transient: tuple[str, ...] = setting(
        (), syntax="regex", doc="Patterns of failures that pass on retry (the query or pipe is restarted with backoff)."
    )
    permanent: tuple[str, ...] = setting((), syntax="regex", doc="Patterns of failures that fail again the same way (never retried).")
    checkpoint: tuple[str, ...] = setting(
        (), syntax="regex", doc="Patterns of streaming failures caused by an incompatible or corrupt checkpoint."
    )
    conflict: tuple[str, ...] = setting(
        (), syntax="regex", doc="Patterns of concurrent-modification conflicts (retried like transient failures)."
    )


@attrs.frozen
class RecoveryConfig(ChainConfig):
    """``[tool.kindling.recovery]``: the recovery strategies' order, and how streaming queries recover.

    The budget, backoff and health keys below govern streaming queries (``app.streams``).
    Batch pipes in ``app.run`` go through the same recovery-strategy chain, with their budget
    and backoff from ``[tool.kindling.execution]`` (``max-retries``, ``retry-backoff-seconds``,
    ``retry-backoff-max-seconds``) and, for failures no classifier recognised, this table's
    ``unknown-max-attempts``.
    """

    TABLE: ClassVar[str] = "tool.kindling.recovery"

    max_attempts: int = setting(
        5,
        minimum=0,
        doc="Streams: restarts a query may make within `window-seconds` before it is exhausted "
        "(failures of every kind but `unknown` share this budget).",
    )
    window_seconds: float = setting(
        3600.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="Streams: a restart counts against the budget for this long, so the budget recovers "
        "after a sustained healthy period. 0 = restarts never age out.",
    )
    unknown_max_attempts: int = setting(
        1,
        minimum=0,
        doc="Streams and batch pipes: restarts (retries) allowed for failures no classifier "
        "recognised (`unknown`), a budget of their own.",
    )
    backoff_seconds: float = setting(
        2.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="Streams: the longest wait before the first restart; doubled per attempt, with full jitter.",
    )
    backoff_max_seconds: float = setting(
        300.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        at_least="backoff_seconds",
        doc="Streams: cap on the wait before a restart.",
    )
    healthy_batches: int = setting(
        3,
        minimum=1,
        doc="Streams: a restarted query counts as recovered after this many batches with progress "
        "(or after `healthy-seconds`, whichever comes first).",
    )
    healthy_seconds: float = setting(
        60.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="Streams: a restarted query that has kept running this long counts as recovered "
        "(or after `healthy-batches`, whichever comes first).",
    )


@attrs.frozen
class ChangeDetectorsConfig:
    """``[tool.kindling.change-detectors]``: the default detector, disabled ones, and how often
    the dimension watcher polls."""

    TABLE: ClassVar[str] = "tool.kindling.change-detectors"

    default: str = setting(
        "version-poll", syntax="item-name", doc="The change detector of a dimension whose options name none (`change.detector`)."
    )
    disable: tuple[str, ...] = setting((), syntax="item-name", doc="Change detectors that are not run.")
    interval_seconds: float = setting(
        60.0,
        minimum=0.01,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="How often the dimension watcher polls the watched dimensions (one batched version probe per poll).",
    )


@attrs.frozen
class RestartsConfig:
    """``[tool.kindling.restarts]``: the restart controller of ``app.streams`` (requests from
    dimension changes, ``app.streams.request_restart`` and cascades; see docs/design/streaming.md)."""

    TABLE: ClassVar[str] = "tool.kindling.restarts"

    debounce_seconds: float = setting(
        5.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="A query restarts once no new request for it came for this long, so a burst of changes "
        "settles into one restart (0 = as soon as a slot is free).",
    )
    max_wait_seconds: float = setting(
        60.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        at_least="debounce_seconds",
        doc="A query restarts at the latest this long after the first request it has pending, "
        "however steadily new requests keep coming.",
    )
    max_concurrent: int = setting(
        2, minimum=1, doc="At most this many queries are being stopped and started again by the controller at once."
    )
    cascade_depth: int = setting(
        3,
        minimum=0,
        doc="A completed restart asks for restarts of the streaming pipes reading its output as a "
        "stream, at most this many hops from the first restart (0 = no cascades).",
    )


@attrs.frozen
class ExecutionConfig:
    """``[tool.kindling.execution]``: how runs behave when a pipe fails or hangs.

    ``app.run(on_failure=..., max_retries=..., timeout_seconds=..., concurrency=...)`` and
    ``kindling run --on-failure/--timeout`` override these keys, checked by the same rules.
    """

    TABLE: ClassVar[str] = "tool.kindling.execution"

    on_failure: str = setting(
        FailurePolicy.FAIL_FAST.value,
        choices=FailurePolicy.values(),
        choices_note="dashes or underscores, any case",
        spelling=FailurePolicy.spelling,
        doc="What a run does after a pipe fails for good: stop (`fail_fast`), run every other pipe "
        "(`continue`), or skip what depends on the failed pipe (`skip_dependents`).",
    )
    max_retries: int = setting(
        2,
        minimum=0,
        doc="Batch pipes: retries of a failed pipe in one run, when the recovery strategies restart it "
        "(transient and conflict failures by default; permanent ones never; `unknown` ones at most "
        "`tool.kindling.recovery.unknown-max-attempts` times; a timed-out pipe is not retried).",
    )
    retry_backoff_seconds: float = setting(
        1.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="Batch pipes: the longest delay before the first retry; doubled per attempt, with full jitter.",
    )
    retry_backoff_max_seconds: float = setting(
        60.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        at_least="retry_backoff_seconds",
        doc="Batch pipes: cap on the delay before a retry.",
    )
    timeout_seconds: float = setting(
        0.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="Per-pipe timeout; a pipe running longer is cancelled (its Spark jobs too). 0 = no timeout.",
    )
    concurrency: int = setting(
        1, minimum=1, doc="Pipes of one generation run at once (1 = sequential; see docs/design/concurrency.md)."
    )


@attrs.frozen
class SparkConfig:
    """``[tool.kindling.spark]``: the local session the app builds when none is active."""

    TABLE: ClassVar[str] = "tool.kindling.spark"

    master: str = setting("local[*]", non_empty=True, doc="Spark master of a local session.")
    remote: str = setting(
        "", syntax="spark-remote", doc="Spark Connect server to use instead of a local session (`SPARK_REMOTE` also works)."
    )
    app_name: str = setting("kindling", non_empty=True, doc="Spark application name.")
    shuffle_partitions: int = setting(
        4, minimum=1, maximum=SPARK_INT_MAX, doc="`spark.sql.shuffle.partitions`; small by default because local data is small."
    )
    warehouse_dir: str = setting("", doc="`spark.sql.warehouse.dir`, relative to the project root; Spark's default when empty.")
    log_level: str = setting(
        "ERROR",
        choices=SPARK_LOG_LEVELS,
        choices_note="any case",
        spelling=_upper,
        doc="Becomes `spark.log.level` (Spark's own logger) unless `conf` sets it.",
    )
    conf: Mapping[str, str] = setting(
        factory=dict,
        kind="scalars",
        doc="Further Spark settings passed to the session builder, as strings. Quote dotted keys: "
        '`conf = { "spark.sql.session.timeZone" = "UTC" }`.',
    )


@attrs.frozen
class StreamingConfig:
    """``[tool.kindling.streaming]``: long-running streaming queries (``app.streams``)."""

    TABLE: ClassVar[str] = "tool.kindling.streaming"

    checkpoint_base: str = setting(
        ".kindling/checkpoints",
        non_empty=True,
        doc="Where streaming pipes keep their checkpoints (one folder per pipe id) unless a pipe "
        "declares `checkpoint=`: a path relative to the project root, or a URL such as `abfss://...`.",
    )
    default_trigger: str = setting(
        "",
        syntax="trigger",
        doc="The trigger of streaming pipes that declare none (`10 seconds`, `availableNow`...); "
        "empty: Spark's default, a micro-batch as soon as the previous one finished.",
    )
    stop_timeout_seconds: float = setting(
        30.0,
        minimum=0.1,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="How long stopping a query may take: `app.streams.stop()` gives up waiting after it "
        "(on any session), and sessions kindling builds set `spark.sql.streaming.stopTimeout` to it.",
    )
    watchdog_interval_seconds: float = setting(
        30.0,
        minimum=0.01,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="How often the watchdog polls the managed queries (a safety net behind the listener).",
    )
    stale_after_seconds: float = setting(
        600.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="A query whose trigger is active with no progress for this long is reported stale "
        "(`streaming.query_stalled`). 0 = never.",
    )
    no_progress_after_start_seconds: float = setting(
        300.0,
        minimum=0,
        maximum=MAX_SECONDS,
        unit="seconds",
        doc="A running query that made no progress (no batch, no idle trigger) this long after its "
        "start is reported (`streaming.start_stalled`). 0 = never.",
    )


@attrs.frozen
class KindlingConfig:
    """All of ``[tool.kindling]``, parsed and frozen.

    ``source`` is the file it came from (``None`` for defaults); ``root`` the folder relative
    paths are resolved against (the file's folder, else the working directory).
    """

    TABLE: ClassVar[str] = "tool.kindling"

    app: str = setting("", syntax="app-ref", doc="The app `kindling run` and `kindling plan` use, as `package.module:attr`.")
    strategy: str = setting("batch", syntax="item-name", doc="Execution strategy: `batch`, `streaming`, `hybrid` or a plugin's.")
    plugins: PluginsConfig = setting(PluginsConfig(), doc="Which plugins load.")
    signals: SignalsConfig = setting(SignalsConfig(), doc="How the signal bus behaves.")
    cache: CacheConfig = setting(CacheConfig(), doc="Cache heuristics' order and shared settings.")
    failure_classifiers: FailureClassifiersConfig = setting(
        FailureClassifiersConfig(), doc="Order of the failure classifiers, and patterns per failure kind."
    )
    recovery: RecoveryConfig = setting(
        RecoveryConfig(), doc="Recovery strategies' order; how streaming queries recover (budget, backoff, health)."
    )
    change_detectors: ChangeDetectorsConfig = setting(
        ChangeDetectorsConfig(), doc="The default change detector and the dimension watcher's poll interval."
    )
    restarts: RestartsConfig = setting(
        RestartsConfig(), doc="The restart controller: debounce, maximum wait, concurrent restarts, cascade depth."
    )
    error_handlers: ChainConfig = setting(ChainConfig(), doc="Order of the error handlers.")
    execution: ExecutionConfig = setting(ExecutionConfig(), doc="How runs behave when a pipe fails or hangs.")
    spark: SparkConfig = setting(SparkConfig(), doc="The local Spark session the app builds when none is active.")
    streaming: StreamingConfig = setting(
        StreamingConfig(), doc="Long-running streaming queries: checkpoints, triggers, stops, the watchdog."
    )
    settings: Mapping[str, Mapping[str, Any]] = setting(
        factory=dict,
        kind="tables",
        doc="`[tool.kindling.settings.<plugin-id>]`: each plugin's own table, free-form here (the plugin checks it).",
    )
    source: Path | None = attrs.field(default=None, eq=False)
    root: Path = attrs.field(factory=Path.cwd, eq=False)

    def settings_for(self, plugin_id: str) -> Mapping[str, Any]:
        """The plugin's own table ``[tool.kindling.settings.<plugin_id>]`` (empty if none)."""
        return self.settings.get(plugin_id, MappingProxyType({}))

    def chain(self, section: str) -> ChainConfig | CacheConfig | RecoveryConfig | ChangeDetectorsConfig:
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


def toml_fields(cls: type) -> dict[str, attrs.Attribute]:
    """The TOML keys of a config class (dash spelling) → their fields, in declaration order."""
    return {_key(f.name): f for f in attrs.fields(cls) if rule_of(f) is not None}


def _rule(field: attrs.Attribute[Any]) -> Rule:
    rule = rule_of(field)
    assert rule is not None, f"{field.name} is not a configuration key"
    return rule


def _section(rule: Rule) -> type:
    assert rule.section is not None, "not a table"
    return rule.section


def _checked(field: attrs.Attribute[Any], value: Any, path: str, origin: Origin, siblings: Any = None) -> Any:
    try:
        return check(_rule(field), value, siblings)
    except Problem as problem:
        raise value_error(problem, path, origin) from None


def _parse_table(cls: type, data: Any, path: str, origin: Origin) -> Any:
    """Check every key of ``data`` against ``cls``'s fields and build the table."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise value_error(
            Problem("a table", data, remedy=f"write it as [{path}] with key = value lines"), path, origin
        )
    fields = toml_fields(cls)
    for key in data:
        if key not in fields:
            raise unknown_key_error(str(key), path, fields, origin)
    values: dict[str, Any] = {}
    for key, field in fields.items():
        if key not in data:
            continue
        rule = _rule(field)
        if rule.kind == "section":
            values[field.name] = _parse_table(_section(rule), data[key], f"{path}.{key}", origin)
        else:
            values[field.name] = _checked(field, data[key], f"{path}.{key}", origin)
    # cross-key rules (``at_least``) see the given values over the defaults
    for key, field in fields.items():
        if _rule(field).at_least:
            current = values.get(field.name, default_of(field))
            _checked(field, current, f"{path}.{key}", origin, lambda name: values.get(name, default_of(attrs.fields_dict(cls)[name])))
    return cls(**values)


def parse_config(data: Mapping[str, Any], *, source: Path | None = None, root: Path | None = None) -> KindlingConfig:
    """Parse the contents of ``[tool.kindling]`` (a mapping) into a :class:`KindlingConfig`."""
    origin = Origin.of_file(source) if source else Origin()
    parsed = _parse_table(KindlingConfig, data, KindlingConfig.TABLE, origin)
    return attrs.evolve(parsed, source=source, root=root or (source.parent if source else Path.cwd()))


def check_setting(table: str, name: str, value: Any, *, path: str | None = None, origin: Origin | None = None) -> Any:
    """Check one value of ``[tool.kindling.<table>]`` (``table=""`` for top-level keys) by its rule.

    Returns the canonical value or raises :class:`~kindling_core.errors.ConfigError` naming
    ``path`` (default: the key path). For callers that take a single value elsewhere (CLI
    options, :meth:`FailurePolicy.parse`).
    """
    cls = _section_class(table) if table else KindlingConfig
    field = toml_fields(cls)[_key(name)]
    key_path = path or f"{getattr(cls, 'TABLE', '') or 'tool.kindling.' + _key(table)}.{_key(name)}"
    return _checked(field, value, key_path, origin or Origin())


def setting_rule(table: str, name: str) -> Rule:
    """The :class:`~kindling_core.config_rules.Rule` of ``[tool.kindling.<table>] <name>``
    (``table=""`` for top-level keys); ``KeyError`` for an unknown key."""
    cls = _section_class(table) if table else KindlingConfig
    return _rule(toml_fields(cls)[_key(name)])


def _section_class(table: str) -> type:
    return _section(_rule(toml_fields(KindlingConfig)[_key(table)]))


# ----------------------------------------------------------------------------- loading


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
    with a ``[tool.kindling]`` table. ``environ`` defaults to ``os.environ``. Every value is
    checked here (see the module docstring).
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
    """Apply ``KINDLING_DISABLE_PLUGIN_AUTOLOAD`` and ``KINDLING_DISABLE_PLUGINS`` (see :data:`ENVIRONMENT`)."""
    plugins = config.plugins
    raw = environ.get(ENV_DISABLE_AUTOLOAD, "")
    flag = FLAG_WORDS.get(raw.strip().lower())
    if flag is None:
        raise ConfigError(
            f"environment variable {ENV_DISABLE_AUTOLOAD}={raw!r} is not a yes/no value; accepted "
            "(any case): 1, 0, true, false, yes, no, on, off, or empty",
            culprit=ENV_DISABLE_AUTOLOAD,
            remedy=f"set {ENV_DISABLE_AUTOLOAD}=1 to turn plugin autoload off, or unset it",
        )
    if flag:
        plugins = attrs.evolve(plugins, autoload=False)
    extra = [name.strip() for name in environ.get(ENV_DISABLE_PLUGINS, "").split(",") if name.strip()]
    if extra:  # each must be a plugin id (the field's validator says so, naming the variable)
        plugins = attrs.evolve(plugins, env_disable=tuple(dict.fromkeys(extra)))
    return config if plugins is config.plugins else attrs.evolve(config, plugins=plugins)


# ----------------------------------------------------------------------------- overrides

#: Keyword spellings of top-level keys besides the key itself: ``App``'s own ``plugins=``
#: parameter takes plugin objects, so code overrides the ``[tool.kindling.plugins]`` table
#: with ``plugins_config=``.
ALIASES: Mapping[str, str] = MappingProxyType({"plugins_config": "plugins", "plugins-config": "plugins"})


def with_overrides(config: KindlingConfig, **sections: Mapping[str, Any] | Any) -> KindlingConfig:
    """Return ``config`` with values replaced, checked like the TOML (dash or snake keys).

    ``with_overrides(cfg, strategy="streaming", plugins_config={"disable": ["x"]})`` merges the
    given keys into the existing ``[tool.kindling.plugins]`` table and replaces ``strategy``
    (``plugins=`` works too; ``plugins_config`` is the spelling ``App`` accepts). A table may
    also be given as an instance of its config class. Errors say the values came from
    "keyword overrides".
    """
    return _override(config, sections, Origin("keyword overrides"))


def _override(config: KindlingConfig, sections: Mapping[str, Any], where: Origin) -> KindlingConfig:
    fields = toml_fields(KindlingConfig)
    changes: dict[str, Any] = {}
    for name, value in sections.items():
        key = _key(ALIASES.get(name, name))
        field = fields.get(key)
        if field is None:
            raise unknown_key_error(_key(name), KindlingConfig.TABLE, fields, where)
        path = f"{KindlingConfig.TABLE}.{key}"
        current = getattr(config, field.name)
        rule = _rule(field)
        if rule.kind == "section" and isinstance(value, Mapping):
            section = type(current)
            hidden = {f.name for f in attrs.fields(section) if rule_of(f) is None}
            merged = {_key(k): v for k, v in attrs.asdict(current, recurse=False).items() if k not in hidden}
            merged.update({_key(str(k)): v for k, v in value.items()})
            parsed = _parse_table(section, merged, path, where)
            changes[field.name] = attrs.evolve(parsed, **{n: getattr(current, n) for n in hidden})
        elif rule.kind == "section":
            changes[field.name] = _parse_table(_section(rule), value, path, where)
        else:
            changes[field.name] = _checked(field, value, path, where)
    return attrs.evolve(config, **changes)


def with_arguments(config: KindlingConfig, function: str, table: str, **arguments: Any) -> KindlingConfig:
    """``config`` with keys of ``[tool.kindling.<table>]`` set from a function's keyword arguments.

    ``None`` means "not given". Checked by the same rules as the TOML; an error names the
    argument as written (``app.run(timeout_seconds=...)``) and the key it sets.
    """
    given = {name: value for name, value in arguments.items() if value is not None}
    if not given:
        return config
    table_path = f"{KindlingConfig.TABLE}.{_key(table)}"
    origin = Origin(
        f"{function}() arguments",
        spelled={f"{table_path}.{_key(name)}": f"{function}({name}=...)" for name in given},
    )
    return _override(config, {table: given}, origin)
