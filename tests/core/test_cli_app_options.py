"""Global CLI options reach an app loaded by reference, with the documented precedence.

defaults < [tool.kindling] (nearest pyproject.toml, or --config) < environment < App(...) in
the code < command line. Every test loads the app the normal way: ``app = App()`` (or with
explicit configuration) in a module named by ``tool.kindling.app`` or ``--app``.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_project import PIPELINE, Project, kindling, project_in

WARNING_TAIL = "; run 'kindling plugins check' for details"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    yield from project_in(tmp_path, monkeypatch)


def _warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: plugin acme ")]


def _with_plugins_config(arguments: str | None) -> str:
    """PIPELINE whose code builds ``App(config=KindlingConfig(plugins=PluginsConfig(<arguments>)))``
    (plain ``App()`` for ``None``)."""
    if arguments is None:
        return PIPELINE
    return PIPELINE.replace(
        "app = App()",
        "from kindling_core.config import KindlingConfig, PluginsConfig\n"
        f"app = App(config=KindlingConfig(plugins=PluginsConfig({arguments})))",
    )


def _configured(project: Project, app_source: str = PIPELINE, extra_toml: str = "") -> tuple[str, str]:
    """The app module and the broken plugin's module, with tool.kindling.app naming the app."""
    app_module = project.module("pipes", app_source)
    plugin_module = project.install_plugin()
    project.pyproject(f'[tool.kindling]\napp = "{app_module}:app"\n{extra_toml}')
    return app_module, plugin_module


# ----------------------------------------------------------------------------- plugin options


@pytest.mark.parametrize("command", [["plan"], ["run", "--dry-run"]])
def test_failed_plugin_warns_once_on_stderr_in_lenient_mode(project: Project, command: list[str]) -> None:
    _, plugin_module = _configured(project)
    result = kindling(*command)
    assert result.exit_code == 0, result.output
    [line] = _warning_lines(result.stderr)
    assert line.startswith("warning: plugin acme (acme-kindling 1.2.0) ")
    assert "ImportError: libacme.so not found" in line and line.endswith(WARNING_TAIL)
    assert plugin_module in line
    assert "warning" not in result.stdout


def test_warning_keeps_json_output_machine_clean(project: Project) -> None:
    _configured(project)
    result = kindling("plan", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pipe_count"] == 1
    assert len(_warning_lines(result.stderr)) == 1


def test_disable_plugin_blocks_the_import_for_an_app_loaded_by_reference(project: Project) -> None:
    _, plugin_module = _configured(project)
    result = kindling("--disable-plugin", "acme", "plan")
    assert result.exit_code == 0, result.output
    assert not project.imported(plugin_module)
    assert _warning_lines(result.stderr) == []


def test_disable_plugin_beats_enable_in_the_file(project: Project) -> None:
    _, plugin_module = _configured(project, extra_toml='[tool.kindling.plugins]\nautoload = false\nenable = ["acme"]\n')
    assert len(_warning_lines(kindling("plan").stderr)) == 1  # the file enables it: imported, fails
    assert project.imported(plugin_module)
    project.forget(plugin_module)
    project.unload()
    result = kindling("--disable-plugin", "acme-kindling", "plan")  # by distribution name
    assert result.exit_code == 0, result.output
    assert not project.imported(plugin_module)


@pytest.mark.parametrize(
    ("toml", "env"),
    [
        ('[tool.kindling.plugins]\ndisable = ["acme"]\n', {}),
        ("", {"KINDLING_DISABLE_PLUGINS": "acme"}),
        ("[tool.kindling.plugins]\nautoload = false\n", {}),
        ("[tool.kindling.plugins]\nautoload = true\n", {"KINDLING_DISABLE_PLUGIN_AUTOLOAD": "1"}),
    ],
    ids=["file-disable", "env-disable", "file-autoload-off", "env-autoload-off"],
)
def test_enable_plugin_beats_the_file_and_the_environment(project: Project, toml: str, env: dict[str, str]) -> None:
    _, plugin_module = _configured(project, extra_toml=toml)
    without = kindling("plan", env=env)
    assert without.exit_code == 0, without.output
    assert not project.imported(plugin_module) and _warning_lines(without.stderr) == []
    project.unload()
    result = kindling("--enable-plugin", "acme", "plan", env=env)
    assert result.exit_code == 0, result.output
    assert project.imported(plugin_module)  # imported (and failed, as it must)
    assert len(_warning_lines(result.stderr)) == 1


def test_enable_plugin_beats_the_code(project: Project) -> None:
    _, plugin_module = _configured(project, app_source=_with_plugins_config("disable=('acme',)"))
    assert _warning_lines(kindling("plan").stderr) == []
    assert not project.imported(plugin_module)
    project.unload()
    result = kindling("--enable-plugin", "acme", "plan")
    assert result.exit_code == 0, result.output
    assert project.imported(plugin_module)


def test_environment_beats_the_file(project: Project) -> None:
    _, plugin_module = _configured(project, extra_toml='[tool.kindling.plugins]\nautoload = false\nenable = ["acme"]\n')
    result = kindling("plan", env={"KINDLING_DISABLE_PLUGINS": "acme"})
    assert result.exit_code == 0, result.output
    assert not project.imported(plugin_module)


@pytest.mark.parametrize("in_code", [None, "autoload=True"], ids=["file-says-autoload", "code-says-autoload"])
def test_no_autoload_beats_the_file_and_the_code(project: Project, in_code: str | None) -> None:
    source = _with_plugins_config(in_code)
    _, plugin_module = _configured(project, app_source=source, extra_toml="[tool.kindling.plugins]\nautoload = true\n")
    result = kindling("--no-autoload", "plan")
    assert result.exit_code == 0, result.output
    assert not project.imported(plugin_module)


@pytest.mark.parametrize("in_code", [None, "strict=False"], ids=["file-says-lenient", "code-says-lenient"])
def test_strict_plugins_beats_the_file_and_the_code_and_names_the_app_line(project: Project, in_code: str | None) -> None:
    source = _with_plugins_config(in_code)
    app_line = 1 + next(i for i, line in enumerate(source.splitlines()) if line.startswith("app = App("))
    app_module, _ = _configured(project, app_source=source, extra_toml="[tool.kindling.plugins]\nstrict = false\n")
    lenient = kindling("plan")
    assert lenient.exit_code == 0 and len(_warning_lines(lenient.stderr)) == 1
    project.unload()
    result = kindling("--strict-plugins", "plan")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: plugin acme (acme-kindling 1.2.0) ")
    assert "libacme.so not found" in result.stderr
    assert f"  at {project.path_of(app_module)}:{app_line}\n" in result.stderr  # app = App(...)
    assert "warning:" not in result.stderr and result.stdout == ""


def test_a_plugin_both_enabled_and_disabled_is_an_error(project: Project) -> None:
    _configured(project)
    result = kindling("--enable-plugin", "acme", "--disable-plugin", "acme", "plan")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: plugin 'acme' is given to both --enable-plugin and --disable-plugin")


@pytest.mark.parametrize("flag", ["--disable-plugin", "--enable-plugin"])
def test_unknown_plugin_names_the_flag_not_the_app_file(project: Project, flag: str) -> None:
    _configured(project)
    result = kindling(flag, "acmee", "plan")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: unknown plugin 'acmee' at {flag}. Did you mean 'acme'")
    assert "  at " not in result.stderr


# ----------------------------------------------------------------------------- --config


def test_config_replaces_the_pyproject_and_decides_the_app_and_its_folder(project: Project) -> None:
    local = project.module("local", PIPELINE)
    project.pyproject(f'[tool.kindling]\napp = "{local}:app"\nstrategy = "batch"\n')
    elsewhere = project.root.parent / "elsewhere"
    remote = project.module(
        "remote",
        PIPELINE.replace("app = App()", "from kindling_core.config import KindlingConfig\napp = App(config=KindlingConfig())"),
        elsewhere,
    )
    ci = elsewhere / "ci.toml"
    ci.write_text(f'[tool.kindling]\napp = "{remote}:app"\nstrategy = "streaming"\n', encoding="utf-8")
    result = kindling("--config", str(ci), "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["strategy"] == "streaming"  # reached App(config=...) in the code
    assert remote in sys.modules and local not in sys.modules


def test_config_file_that_does_not_exist(project: Project) -> None:
    result = kindling("--config", "missing.toml", "plan")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot read configuration file missing.toml")
    assert "check the path given to --config" in result.stderr


def test_options_that_cannot_reach_an_already_imported_app_are_an_error(project: Project) -> None:
    app_module, _ = _configured(project)
    sys.path.insert(0, str(project.root))
    try:
        importlib.import_module(app_module)  # built before kindling could apply the options
    finally:
        sys.path.remove(str(project.root))
    assert kindling("plan").exit_code == 0  # no options: nothing was lost
    result = kindling("--disable-plugin", "acme", "plan")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: app reference '{app_module}:app' names an App built before kindling imported '{app_module}' "
        "(that module was already imported in this process), so --disable-plugin acme did not reach it"
    )


# ----------------------------------------------------------------------------- no app, --pipes


@pytest.mark.parametrize(
    ("command", "verb"),
    [(["run"], "run"), (["run", "--dry-run"], "run"), (["plan"], "plan"), (["show", "x.y"], "look up entity 'x.y' in")],
)
def test_no_app_configured_is_an_error_with_the_remedy(project: Project, command: list[str], verb: str) -> None:
    pyproject = project.pyproject("[tool.kindling]\n")
    result = kindling(*command)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: no app to {verb}: pass --app package.module:attr or set tool.kindling.app in {pyproject}"
    )
    assert 'remedy: add app = "pipelines.main:app" under [tool.kindling]' in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["run"], ["run", "--dry-run"], ["plan"]])
def test_pipes_naming_no_pipe_is_an_error(project: Project, command: list[str]) -> None:
    _configured(project)
    result = kindling(*command, "--pipes", " , ")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --pipes ' , ' names no pipe")


@pytest.mark.parametrize("command", [["run"], ["run", "--dry-run"]])
def test_an_app_without_pipes_is_an_error_before_spark_starts(project: Project, command: list[str]) -> None:
    module = project.module("empty", "from kindling_core import App\n\napp = App()\n")
    result = kindling(*command, "--app", f"{module}:app")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: app '{module}:app' declares no pipes: there is nothing to run")
    assert "remedy: declare pipes with @app.pipe(...)" in result.stderr
    assert result.stdout == ""  # nothing was planned or run


# ----------------------------------------------------------------------------- errors in the app module


def test_a_declaration_error_in_the_app_module_is_itself_at_the_users_line(project: Project) -> None:
    source = PIPELINE.replace("def silver(orders):", "def silver(orders, customers):")
    module = project.module("badsig", source)
    result = kindling("plan", "--app", f"{module}:app")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: pipe 'silver.orders': function silver(orders, customers) requires 2 positional parameter(s), "
        "but the pipe has 1 input(s) (raw.orders)"
    )
    assert f"  at {project.path_of(module)}:9\n" in result.stderr  # the @app.pipe line
    assert "failed to import" not in result.stderr and "kindling_core" not in result.stderr


def test_an_exception_in_the_app_module_names_the_users_file_and_line(project: Project) -> None:
    module = project.module("zero", "from kindling_core import App\n\napp = App()\nrate = 1 / 0\n")
    result = kindling("run", "--dry-run", "--app", f"{module}:app")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: module '{module}' of app reference '{module}:app' failed to import: "
        f"ZeroDivisionError: division by zero (at {project.path_of(module)}:4)"
    )


# ----------------------------------------------------------------------------- dry run

PROBLEMS = """
from kindling_core import App

app = App()
app.entity("raw.orders", path="lake/raw/orders")
app.entity("silver.orders", path="lake/silver/orders")


@app.pipe("silver.orders", inputs=["raw.orders", "raw.customers"], output="silver.orders", write="merge")
def silver(orders, customers):
    return orders


@app.pipe("gold.daily", inputs=["silver.orders"], output="gold.daily")
def daily(orders):
    return orders
"""

CHECKED = (
    "dry run: checked {n} pipes: every input and output is a declared entity; merge writes have merge keys; "
    "merge writes go to Delta entities"
)


def test_dry_run_says_what_it_checked(project: Project) -> None:
    project.pyproject(f'[tool.kindling]\napp = "{project.module("pipes", PIPELINE)}:app"\n')
    result = kindling("run", "--dry-run")
    assert result.exit_code == 0, result.output
    assert CHECKED.format(n=1).replace("1 pipes", "1 pipe") + "\ndry run: plan is valid; nothing was run or written" in result.stdout


def test_dry_run_reports_every_certain_failure_and_exits_1(project: Project) -> None:
    project.pyproject(f'[tool.kindling]\napp = "{project.module("problems", PROBLEMS)}:app"\n')
    result = kindling("run", "--dry-run")
    assert result.exit_code == 1
    assert CHECKED.format(n=2) in result.stdout and "plan is valid" not in result.stdout
    assert [line for line in result.stderr.splitlines() if not line.startswith("warning: ")] == [
        "dry run: 3 problems would fail the run:",
        "  - pipe 'silver.orders' merges into entity 'silver.orders', which declares no merge_keys",
        "    remedy: declare app.entity('silver.orders', ..., merge_keys=['id']) or write with 'overwrite'/'append'",
        "  - pipe 'silver.orders' reads entity 'raw.customers', which is not declared",
        "    remedy: declare it: app.entity('raw.customers', path=...) (or table=...)",
        "  - pipe 'gold.daily' writes entity 'gold.daily', which is not declared",
        "    remedy: declare it: app.entity('gold.daily', path=...) (or table=...)",
    ]


def test_dry_run_json_carries_the_check(project: Project) -> None:
    project.pyproject(f'[tool.kindling]\napp = "{project.module("problems", PROBLEMS)}:app"\n')
    result = kindling("run", "--dry-run", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["result"] is None and document["plan"]["pipe_count"] == 2
    assert [(p["check"], p["pipe"], p["entity"]) for p in document["check"]["problems"]] == [
        ("merge-without-keys", "silver.orders", "silver.orders"),
        ("undeclared-input", "silver.orders", "raw.customers"),
        ("undeclared-output", "gold.daily", "gold.daily"),
    ]


def test_help_documents_the_precedence(project: Project) -> None:
    result = kindling("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert (
        "Configuration, later wins: 1. defaults 2. [tool.kindling] of the nearest pyproject.toml, or of --config FILE "
        "3. environment: KINDLING_DISABLE_PLUGINS=a,b KINDLING_DISABLE_PLUGIN_AUTOLOAD=1 "
        "4. keyword arguments of App(...) in the app's code "
        "5. these options: --disable-plugin, --enable-plugin, --no-autoload, --strict-plugins"
    ) in text
