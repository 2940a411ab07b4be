"""Values given in code (``App(...)`` keyword overrides, ``app.run(...)`` arguments) and on the
command line are checked by the same rules as the TOML and named the way they were given."""

from __future__ import annotations

import doctest
import json
import math
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from kindling_core.app import App
from kindling_core.cli import cli
from kindling_core.config import ExecutionConfig, KindlingConfig, load_config, with_overrides
from kindling_core.errors import ConfigError
from kindling_core.testing import ScriptedRunner, make_app

# ----------------------------------------------------------------------------- App(...) overrides


@pytest.mark.parametrize(
    ("overrides", "path", "words"),
    [
        ({"execution": {"timeout_seconds": -3}}, "tool.kindling.execution.timeout-seconds", "from 0 to 2592000"),
        ({"execution": {"concurrency": 0}}, "tool.kindling.execution.concurrency", "an integer >= 1"),
        ({"execution": {"on-failure": "bogus"}}, "tool.kindling.execution.on-failure", "one of fail_fast"),
        ({"execution": {"max_retries": -1}}, "tool.kindling.execution.max-retries", "an integer >= 0"),
        ({"execution": {"retry_backoff_seconds": 90}}, "tool.kindling.execution.retry-backoff-max-seconds", "retry-backoff-seconds (90.0)"),
        ({"cache": {"storage_level": "MEMORY_ONLYY"}}, "tool.kindling.cache.storage-level", "Did you mean 'MEMORY_ONLY'"),
        ({"signals": {"async_workers": 0}}, "tool.kindling.signals.async-workers", "an integer >= 1"),
        ({"spark": {"log_level": "LOUD"}}, "tool.kindling.spark.log-level", "one of ALL"),
        ({"spark": {"conf": {"spark.x": {"y": 1}}}}, "tool.kindling.spark.conf.spark.x", "a string, a finite number or a boolean"),
        ({"plugins_config": {"require": ["acme>>1"]}}, "tool.kindling.plugins.require[0]", "a requirement"),
        ({"strategy": "Streaming Mode"}, "tool.kindling.strategy", "Did you mean 'streaming-mode'?"),
        ({"app": "not a reference"}, "tool.kindling.app", "'package.module:attr'"),
        ({"execution": 5}, "tool.kindling.execution", "a table"),
    ],
)
def test_app_keyword_overrides_are_checked_like_toml(overrides: dict, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_app(**overrides)
    message = str(info.value)
    assert info.value.path == path
    assert message.startswith(f"{path} must be ") and " in keyword overrides." in message
    assert words in message


def test_unknown_keys_read_the_same_in_toml_and_in_keyword_overrides(tmp_path: Path) -> None:
    file = tmp_path / "pyproject.toml"
    file.write_text("[tool.kindling.execution]\ntimeout = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as from_toml:
        load_config(file, environ={})
    with pytest.raises(ConfigError) as from_code:
        make_app(execution={"timeout": 5})
    tail = ". Did you mean 'timeout-seconds'? Known keys of [tool.kindling.execution]: "
    assert str(from_toml.value).startswith(f"unknown key 'tool.kindling.execution.timeout' in {file.resolve()}{tail}")
    assert str(from_code.value).startswith(f"unknown key 'tool.kindling.execution.timeout' in keyword overrides{tail}")
    with pytest.raises(ConfigError) as top:
        make_app(executoin={"timeout_seconds": 5})
    assert str(top.value).startswith("unknown key 'tool.kindling.executoin' in keyword overrides. Did you mean 'execution'?")


def test_plugins_table_is_overridden_with_plugins_config() -> None:
    app = make_app(plugins_config={"strict": True}, execution={"on_failure": "continue"})
    assert app.config.plugins.strict is True
    assert app.config.execution.on_failure == "continue"
    changed = with_overrides(KindlingConfig(), execution=ExecutionConfig(concurrency=3))
    assert changed.execution.concurrency == 3


def test_app_docstring_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml here or above: the example's own values only
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(App, "App", globs={"App": App})
    assert test.examples, "App's docstring lost its example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# ----------------------------------------------------------------------------- app.run(...) arguments


def one_pipe_app(config: KindlingConfig | None = None) -> App:
    app = make_app(config=config)
    app.entity("raw.a", path="/tmp/raw-a")
    app.entity("s.a", path="/tmp/s-a")
    app.pipe("p.a", inputs=["raw.a"], output="s.a")(lambda frame: frame)
    return app


@pytest.mark.parametrize(
    ("arguments", "argument", "key", "words"),
    [
        ({"timeout_seconds": -3}, "timeout_seconds", "timeout-seconds", "from 0 to 2592000, got -3"),
        ({"timeout_seconds": math.nan}, "timeout_seconds", "timeout-seconds", "got nan"),
        ({"timeout_seconds": "10"}, "timeout_seconds", "timeout-seconds", "got '10'"),
        ({"concurrency": 0}, "concurrency", "concurrency", "an integer >= 1, got 0"),
        ({"concurrency": 2.5}, "concurrency", "concurrency", "an integer >= 1, got 2.5"),
        ({"max_retries": -1}, "max_retries", "max-retries", "an integer >= 0, got -1"),
        ({"on_failure": "bogus"}, "on_failure", "on-failure", "one of fail_fast, continue, skip_dependents"),
        ({"on_failure": ""}, "on_failure", "on-failure", "got ''"),
    ],
)
def test_run_arguments_are_checked_and_named(arguments: dict, argument: str, key: str, words: str) -> None:
    app = one_pipe_app()
    runner = ScriptedRunner()
    with pytest.raises(ConfigError) as info:
        app.run(runner=runner, **arguments)
    message = str(info.value)
    assert message.startswith(f"app.run({argument}=...) must be "), message
    assert f"(it sets tool.kindling.execution.{key})" in message
    assert words in message
    assert info.value.path == f"tool.kindling.execution.{key}"
    assert runner.calls == []  # refused before anything ran


def test_run_arguments_take_effect_in_either_spelling() -> None:
    app = one_pipe_app()
    result = app.run(runner=ScriptedRunner(), on_failure="skip-dependents", concurrency=2, timeout_seconds=30, max_retries=0)
    assert result.on_failure == "skip_dependents"
    assert app.run(runner=ScriptedRunner(), on_failure="fail-fast").on_failure == "fail_fast"


# ----------------------------------------------------------------------------- command line


def write_project(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(body + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("[tool.kindling.execution]\ntimeout-seconds = -5", "tool.kindling.execution.timeout-seconds"),
        ("[tool.kindling.execution]\nconcurrency = 0", "tool.kindling.execution.concurrency"),
        ('[tool.kindling.execution]\non-failure = "bogus"', "tool.kindling.execution.on-failure"),
        ("[tool.kindling.execution]\nmax-retries = -1", "tool.kindling.execution.max-retries"),
        ('[tool.kindling.cache]\nstorage-level = "MEMORY_ONLYY"', "tool.kindling.cache.storage-level"),
        ('[tool.kindling.spark]\nlog-level = "LOUD"', "tool.kindling.spark.log-level"),
        ("[tool.kindling.execution]\ntimeout = 3", "tool.kindling.execution.timeout"),
    ],
)
@pytest.mark.parametrize("command", [["plugins", "check"], ["plan"]])
def test_cli_refuses_a_bad_value_naming_its_key(tmp_path: Path, body: str, path: str, command: list[str]) -> None:
    config = write_project(tmp_path, body)
    result = CliRunner().invoke(cli, ["--config", str(config), *command])
    assert result.exit_code == 2, result.output
    assert f"error: {path}" in result.stderr or f"error: unknown key {path!r}" in result.stderr
    assert "Traceback" not in result.output


def test_cli_refuses_a_bad_autoload_environment_value(tmp_path: Path) -> None:
    config = write_project(tmp_path, "[tool.kindling]")
    result = CliRunner().invoke(cli, ["--config", str(config), "plugins", "check"], env={"KINDLING_DISABLE_PLUGIN_AUTOLOAD": "maybe"})
    assert result.exit_code == 2
    assert "KINDLING_DISABLE_PLUGIN_AUTOLOAD='maybe'" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--timeout", "-3", "must be a number of seconds from 0 to 2592000, got '-3'"),
        ("--timeout", "nan", "got 'nan'"),
        ("--timeout", "soon", "'soon' is not a valid float"),
        ("--on-failure", "bogus", "must be one of fail_fast, continue, skip_dependents"),
        ("--on-failure", "fail-fst", "Did you mean 'fail_fast'?"),
    ],
)
def test_run_options_are_checked_by_the_key_rule_and_named(tmp_path: Path, option: str, value: str, words: str) -> None:
    config = write_project(tmp_path, "[tool.kindling]")
    result = CliRunner().invoke(cli, ["--config", str(config), "run", option, value])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr
    assert words in result.stderr


APP_MODULE = """
from kindling_core.app import App

app = App(plugins_config={{"autoload": False}})
app.entity("raw.orders", path="lake/raw/orders")
app.entity("silver.orders", path="lake/silver/orders")
app.pipe("silver.orders", inputs=["raw.orders"], output="silver.orders")(lambda orders: orders)
"""


@pytest.mark.parametrize(
    ("spelling", "stored"), [("fail-fast", "fail_fast"), ("fail_fast", "fail_fast"), ("skip-dependents", "skip_dependents")]
)
def test_on_failure_option_takes_both_spellings_and_takes_effect(tmp_path: Path, spelling: str, stored: str) -> None:
    module = f"config_cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(APP_MODULE.format(), encoding="utf-8")
    config = write_project(tmp_path, "[tool.kindling]")
    options = ["--on-failure", spelling, "--timeout", "30", "--json", "--dry-run"]  # a dry run: no Spark
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--app", f"{module}:app", *options])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["result"]["on_failure"] == stored


def test_fail_fast_with_a_dash_works_in_toml(tmp_path: Path) -> None:
    config = write_project(tmp_path, '[tool.kindling.execution]\non-failure = "fail-fast"')
    app = one_pipe_app(load_config(config, environ={}))
    assert app.run(runner=ScriptedRunner()).on_failure == "fail_fast"


@pytest.mark.parametrize(("option", "name"), [("--disable-plugin", "bad name"), ("--enable-plugin", "x!")])
def test_plugin_options_need_plugin_ids(tmp_path: Path, option: str, name: str) -> None:
    config = write_project(tmp_path, "[tool.kindling]")
    result = CliRunner().invoke(cli, ["--config", str(config), option, name, "plugins", "check"])
    assert result.exit_code == 2, result.output
    assert f"error: {option} got {name!r}, which is not a plugin id or distribution name" in result.stderr


@pytest.mark.parametrize("name", ["origin", "source", "root", "plugins_settings"])
def test_no_keyword_override_is_swallowed(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^unknown key 'tool\.kindling\.{name.replace('_', '-')}' in keyword overrides\."):
        with_overrides(KindlingConfig(), **{name: {}})
