"""Every key of ``[tool.kindling]`` is type- and range-checked when the file is loaded.

Each bad value goes through ``load_config`` on a real ``pyproject.toml``; the error must name
the exact key path, the file, what is allowed, and carry a remedy.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kindling_core.config import (
    CacheConfig,
    ExecutionConfig,
    KindlingConfig,
    PluginsConfig,
    SparkConfig,
    load_config,
)
from kindling_core.errors import ConfigError

# (TOML body, exact key path, words the message must contain)
BAD_VALUES = [
    ('[tool.kindling]\napp = "pipelines orders"', "tool.kindling.app", "'package.module:attr'"),
    ("[tool.kindling]\napp = 3", "tool.kindling.app", "'package.module:attr'"),
    ('[tool.kindling]\nstrategy = "Batch"', "tool.kindling.strategy", "Did you mean 'batch'?"),
    ('[tool.kindling]\nstrategy = ""', "tool.kindling.strategy", "an item name"),
    ('[tool.kindling.plugins]\nautoload = "no"', "tool.kindling.plugins.autoload", "a boolean"),
    ('[tool.kindling.plugins]\nenable = ["ok", "bad name!"]', "tool.kindling.plugins.enable[1]", "plugin id or distribution name"),
    ('[tool.kindling.plugins]\ndisable = "x"', "tool.kindling.plugins.disable", "an array of strings"),
    ('[tool.kindling.plugins]\nrequire = ["acme>>1"]', "tool.kindling.plugins.require[0]", "a requirement such as 'acme' or 'acme>=1.2'"),
    ("[tool.kindling.plugins]\nstrict = 1", "tool.kindling.plugins.strict", "a boolean"),
    ("[tool.kindling.signals]\nasync-workers = 0", "tool.kindling.signals.async-workers", "an integer >= 1"),
    ("[tool.kindling.signals]\nasync-queue-size = -1", "tool.kindling.signals.async-queue-size", "an integer >= 1"),
    ('[tool.kindling.signals]\npropagate-receiver-errors = "yes"', "tool.kindling.signals.propagate-receiver-errors", "a boolean"),
    ('[tool.kindling.cache]\nstorage-level = "MEMORY_ONLYY"', "tool.kindling.cache.storage-level", "Did you mean 'MEMORY_ONLY'"),
    ("[tool.kindling.cache]\nstorage-level = 1", "tool.kindling.cache.storage-level", "one of NONE, DISK_ONLY"),
    ("[tool.kindling.cache]\nmin-size-mb = -1", "tool.kindling.cache.min-size-mb", "a finite number of MB >= 0"),
    ("[tool.kindling.cache]\nmin-size-mb = nan", "tool.kindling.cache.min-size-mb", "got nan"),
    ("[tool.kindling.cache]\nmin-size-mb = inf", "tool.kindling.cache.min-size-mb", "got inf"),
    ('[tool.kindling.cache]\norder = ["...", "a", "..."]', "tool.kindling.cache.order[2]", '"..." at most once'),
    ('[tool.kindling.cache]\norder = ["Shared Consumers"]', "tool.kindling.cache.order[0]", "Did you mean 'shared-consumers'?"),
    ('[tool.kindling.failure-classifiers]\ndisable = ["SPARK"]', "tool.kindling.failure-classifiers.disable[0]", "an item name"),
    ("[tool.kindling.recovery]\norder = [1]", "tool.kindling.recovery.order[0]", "must be a string"),
    ("[tool.kindling.recovery]\nmax-attempts = -1", "tool.kindling.recovery.max-attempts", "an integer >= 0"),
    ("[tool.kindling.recovery]\nunknown-max-attempts = 0.5", "tool.kindling.recovery.unknown-max-attempts", "an integer >= 0"),
    ("[tool.kindling.recovery]\nhealthy-batches = 0", "tool.kindling.recovery.healthy-batches", "an integer >= 1"),
    ("[tool.kindling.recovery]\nwindow-seconds = inf", "tool.kindling.recovery.window-seconds", "got inf"),
    (
        "[tool.kindling.recovery]\nbackoff-seconds = 10\nbackoff-max-seconds = 5",
        "tool.kindling.recovery.backoff-max-seconds",
        ">= tool.kindling.recovery.backoff-seconds (10.0), got 5.0",
    ),
    ('[tool.kindling.error-handlers]\norder = "log"', "tool.kindling.error-handlers.order", "an array of strings"),
    ('[tool.kindling.change-detectors]\ndefault = "Version Poll"', "tool.kindling.change-detectors.default", "Did you mean 'version-poll'"),
    ('[tool.kindling.execution]\non-failure = "bogus"', "tool.kindling.execution.on-failure", "one of fail_fast, continue, skip_"),
    ('[tool.kindling.execution]\non-failure = "fail-fst"', "tool.kindling.execution.on-failure", "Did you mean 'fail_fast'?"),
    ("[tool.kindling.execution]\nmax-retries = -1", "tool.kindling.execution.max-retries", "an integer >= 0"),
    ("[tool.kindling.execution]\nmax-retries = 1.5", "tool.kindling.execution.max-retries", "an integer >= 0"),
    ("[tool.kindling.execution]\ntimeout-seconds = -5", "tool.kindling.execution.timeout-seconds", "from 0 to 2592000"),
    ("[tool.kindling.execution]\ntimeout-seconds = nan", "tool.kindling.execution.timeout-seconds", "got nan"),
    ("[tool.kindling.execution]\ntimeout-seconds = inf", "tool.kindling.execution.timeout-seconds", "got inf"),
    ("[tool.kindling.execution]\ntimeout-seconds = 1e12", "tool.kindling.execution.timeout-seconds", "from 0 to 2592000"),
    ('[tool.kindling.execution]\ntimeout-seconds = "10"', "tool.kindling.execution.timeout-seconds", "a number of seconds"),
    ("[tool.kindling.execution]\nconcurrency = 0", "tool.kindling.execution.concurrency", "an integer >= 1"),
    ("[tool.kindling.execution]\nconcurrency = -4", "tool.kindling.execution.concurrency", "an integer >= 1"),
    ("[tool.kindling.execution]\nconcurrency = true", "tool.kindling.execution.concurrency", "an integer >= 1"),
    ("[tool.kindling.execution]\nretry-backoff-seconds = -1", "tool.kindling.execution.retry-backoff-seconds", "from 0 to 2592000"),
    ("[tool.kindling.execution]\nretry-backoff-max-seconds = inf", "tool.kindling.execution.retry-backoff-max-seconds", "got inf"),
    (
        "[tool.kindling.execution]\nretry-backoff-seconds = 5\nretry-backoff-max-seconds = 1",
        "tool.kindling.execution.retry-backoff-max-seconds",
        ">= tool.kindling.execution.retry-backoff-seconds (5.0), got 1.0",
    ),
    (  # the cap keeps its default (60) when only the first delay is raised
        "[tool.kindling.execution]\nretry-backoff-seconds = 100",
        "tool.kindling.execution.retry-backoff-max-seconds",
        ">= tool.kindling.execution.retry-backoff-seconds (100.0), got 60.0",
    ),
    ('[tool.kindling.spark]\nmaster = ""', "tool.kindling.spark.master", "a non-empty string"),
    ('[tool.kindling.spark]\nremote = "http://spark:15002"', "tool.kindling.spark.remote", "sc://host:port"),
    ('[tool.kindling.spark]\napp-name = "  "', "tool.kindling.spark.app-name", "a non-empty string"),
    ("[tool.kindling.spark]\nshuffle-partitions = 0", "tool.kindling.spark.shuffle-partitions", "an integer from 1 to 2147483647"),
    ("[tool.kindling.spark]\nshuffle-partitions = 2147483648", "tool.kindling.spark.shuffle-partitions", "an integer from 1 to 2147483647"),
    ("[tool.kindling.spark]\nwarehouse-dir = 3", "tool.kindling.spark.warehouse-dir", "a string"),
    ('[tool.kindling.spark]\nlog-level = "VERBOSE"', "tool.kindling.spark.log-level", "one of ALL, DEBUG, ERROR"),
    ('[tool.kindling.spark]\nlog-level = "WARNING"', "tool.kindling.spark.log-level", "Did you mean 'WARN'?"),
    ('[tool.kindling.spark]\nconf = { "spark.jars" = ["a", "b"] }', "tool.kindling.spark.conf.spark.jars", "a finite number or a boolean"),
    ('[tool.kindling.spark]\nconf = { "x" = nan }', "tool.kindling.spark.conf.x", "a string, a finite number or a boolean"),
    ("[tool.kindling.spark]\nconf = 3", "tool.kindling.spark.conf", "a table"),
    ("[tool.kindling.settings]\nwebhook = 1", "tool.kindling.settings.webhook", "a table of that plugin's settings"),
    ("[tool.kindling]\nexecution = 3", "tool.kindling.execution", "must be a table"),
]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(body + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "path", "words"), BAD_VALUES, ids=[case[1] + ":" + case[0].split("\n")[-1] for case in BAD_VALUES])
def test_bad_value_is_refused_at_load_naming_key_file_and_remedy(tmp_path: Path, body: str, path: str, words: str) -> None:
    file = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    error = info.value
    message = str(error)
    assert error.path == path
    assert message.startswith(f"{path} must be "), message
    assert words in message
    assert str(file.resolve()) in message and error.source == str(file.resolve())
    assert error.remedy and "\n  remedy: " in message


def test_unquoted_dotted_spark_key_gets_the_quoted_form_as_remedy(tmp_path: Path) -> None:
    file = write(tmp_path, "[tool.kindling.spark.conf]\nspark.sql.shuffle.partitions = 8")
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert info.value.path == "tool.kindling.spark.conf.spark"
    assert '"spark.sql.shuffle.partitions" = 8' in str(info.value.remedy)


@pytest.mark.parametrize(
    ("body", "path", "hint"),
    [
        ("[tool.kindling.execution]\ntimeout = 5", "tool.kindling.execution.timeout", "Did you mean 'timeout-seconds'?"),
        ("[tool.kindling.execution]\ntimeout_seconds = 5", "tool.kindling.execution.timeout_seconds", "Did you mean 'timeout-seconds'?"),
        ("[tool.kindling.spark]\nshuffle-partition = 5", "tool.kindling.spark.shuffle-partition", "Did you mean 'shuffle-partitions'?"),
        ('[tool.kindling.change-detectors]\ndefualt = "x"', "tool.kindling.change-detectors.defualt", "Did you mean 'default'?"),
        ('[tool.kindling]\nstrategi = "batch"', "tool.kindling.strategi", "Did you mean 'strategy'?"),
        ("[tool.kindling.recovery]\nwindow-second = 60", "tool.kindling.recovery.window-second", "Did you mean 'window-seconds'?"),
    ],
)
def test_unknown_key_has_one_message_shape(tmp_path: Path, body: str, path: str, hint: str) -> None:
    file = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    table = path.rsplit(".", 1)[0]
    assert str(info.value).startswith(f"unknown key {path!r} in {file.resolve()}.{' ' + hint} Known keys of [{table}]: ")
    assert info.value.path == path


def test_values_are_stored_in_their_canonical_spelling(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "[tool.kindling.execution]\n"
        'on-failure = "Fail-Fast"\n'
        "timeout-seconds = 600\n"
        "[tool.kindling.cache]\n"
        'storage-level = "memory_only"\n'
        "[tool.kindling.spark]\n"
        'log-level = "warn"\n'
        'conf = { "spark.sql.ansi.enabled" = true, "spark.sql.shuffle.partitions" = 8 }\n',
    )
    config = load_config(file, environ={})
    assert config.execution.on_failure == "fail_fast"
    assert config.execution.timeout_seconds == 600.0 and isinstance(config.execution.timeout_seconds, float)
    assert config.cache.storage_level == "MEMORY_ONLY"
    assert config.spark.log_level == "WARN"
    assert dict(config.spark.conf) == {"spark.sql.ansi.enabled": "true", "spark.sql.shuffle.partitions": "8"}


def test_every_limit_value_itself_is_accepted(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        '[tool.kindling]\napp = "pipelines.orders:app"\n'
        "[tool.kindling.execution]\n"
        "timeout-seconds = 0\nmax-retries = 0\nconcurrency = 1\nretry-backoff-seconds = 0\nretry-backoff-max-seconds = 0\n"
        "[tool.kindling.cache]\nmin-size-mb = 0\norder = ['a', '...']\n"
        "[tool.kindling.spark]\nshuffle-partitions = 2147483647\nremote = 'sc://localhost:15002'\n",
    )
    config = load_config(file, environ={})
    assert config.execution.timeout_seconds == 0 and config.execution.retry_backoff_max_seconds == 0
    assert config.spark.shuffle_partitions == 2**31 - 1


# ----------------------------------------------------------------------------- environment


@pytest.mark.parametrize(
    ("value", "autoload"),
    [("1", False), ("TRUE", False), (" yes ", False), ("On", False), ("0", True), ("false", True), ("No", True), ("off", True), ("", True)],
)
def test_autoload_environment_variable_accepts_yes_no_words(tmp_path: Path, value: str, autoload: bool) -> None:
    file = write(tmp_path, "[tool.kindling]")
    assert load_config(file, environ={"KINDLING_DISABLE_PLUGIN_AUTOLOAD": value}).plugins.autoload is autoload


@pytest.mark.parametrize("value", ["maybe", "2", "disable", "y e s"])
def test_autoload_environment_variable_refuses_anything_else(tmp_path: Path, value: str) -> None:
    file = write(tmp_path, "[tool.kindling]")
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={"KINDLING_DISABLE_PLUGIN_AUTOLOAD": value})
    message = str(info.value)
    assert f"KINDLING_DISABLE_PLUGIN_AUTOLOAD={value!r}" in message
    assert "1, 0, true, false, yes, no, on, off, or empty" in message
    assert info.value.culprit == "KINDLING_DISABLE_PLUGIN_AUTOLOAD"


@pytest.mark.parametrize("entry", ["bad name", "x!", "-dash"])
def test_disable_plugins_environment_variable_needs_plugin_ids(tmp_path: Path, entry: str) -> None:
    file = write(tmp_path, "[tool.kindling]")
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={"KINDLING_DISABLE_PLUGINS": f"ok-plugin,{entry}"})
    assert f"KINDLING_DISABLE_PLUGINS lists {entry!r}" in str(info.value)
    assert info.value.culprit == "KINDLING_DISABLE_PLUGINS"


# ----------------------------------------------------------------------------- in code


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: ExecutionConfig(concurrency=0), "tool.kindling.execution.concurrency"),
        (lambda: ExecutionConfig(timeout_seconds=math.inf), "tool.kindling.execution.timeout-seconds"),
        (lambda: ExecutionConfig(on_failure="bogus"), "tool.kindling.execution.on-failure"),
        (
            lambda: ExecutionConfig(retry_backoff_seconds=10, retry_backoff_max_seconds=1),
            "tool.kindling.execution.retry-backoff-max-seconds",
        ),
        (lambda: CacheConfig(storage_level="MEMORY_ONLYY"), "tool.kindling.cache.storage-level"),
        (lambda: PluginsConfig(disable="abc"), "tool.kindling.plugins.disable"),
        (lambda: SparkConfig(conf={"a": {"b": 1}}), "tool.kindling.spark.conf.a"),
        (lambda: KindlingConfig(strategy="Not A Name"), "tool.kindling.strategy"),
    ],
)
def test_config_classes_built_in_code_are_checked_by_the_same_rules(build, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.path == path
    assert str(info.value).startswith(f"{path} must be ")


def test_executor_settings_take_retries_and_backoff_from_the_configuration() -> None:
    from kindling_core.config import RecoveryConfig
    from kindling_core.execution import ExecutorSettings

    execution = ExecutionConfig(max_retries=4, retry_backoff_seconds=0.5, retry_backoff_max_seconds=8)
    settings = ExecutorSettings.from_config(execution, RecoveryConfig(unknown_max_attempts=0))
    assert (settings.max_retries, settings.unknown_max_attempts) == (4, 0)
    assert (settings.backoff.base, settings.backoff.cap) == (0.5, 8.0)
    with pytest.raises(ConfigError, match=r"tool\.kindling\.execution\.max-retries must be an integer >= 0, got -1"):
        ExecutionConfig(max_retries=-1)


def test_failure_policy_parse_uses_the_configuration_rule() -> None:
    from kindling_core.execution import FailurePolicy

    assert FailurePolicy.parse("skip-dependents") is FailurePolicy.SKIP_DEPENDENTS
    with pytest.raises(ConfigError, match=r"tool\.kindling\.execution\.on-failure must be one of .*Did you mean 'continue'"):
        FailurePolicy.parse("contniue")


def test_kindling_table_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path, "[tool]\nkindling = 3")
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert str(info.value).startswith("tool.kindling must be a table, got 3 in ")
    assert info.value.path == "tool.kindling"
