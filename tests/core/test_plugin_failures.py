"""A plugin that fails, at whatever step, is a failed record with its cause, and nothing of it is used.

Also: a name configuration selects that a failed plugin provides names that plugin, and
``kindling plugins list`` / ``check`` still list every plugin and report the cause.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kindling_core import ErrorHandler, ExecutionStrategy, FailureClassifier, hookimpl
from kindling_core.errors import FailedProviderError, PluginConfigureError, UnknownNameError
from kindling_core.plugins import PluginStatus, load_plugins
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, make_app, make_config, make_registry, plugin_from

from cli_project import Project, kindling, project_in

LABEL = "acme (acme-kindling 1.2.0)"


def pager(name: str = "acme-pager") -> ErrorHandler:
    return ErrorHandler(name=name, description="page someone", handle=lambda event: None)


def installed(plugin: Any) -> FakeEntryPoint:
    return FakeEntryPoint("acme", plugin, distribution="acme-kindling", version="1.2.0")


def no_credentials() -> None:
    raise RuntimeError("no credentials")


def broken_import() -> None:
    raise ImportError("libacme.so not found")


def half_generator():
    yield pager()
    raise ValueError("ran out of pagers")


class UnknownHook:
    @hookimpl
    def kindling_error_handler(self) -> list[ErrorHandler]:
        return []


class Wrapper:
    @hookimpl(wrapper=True)
    def kindling_error_handlers(self):  # type: ignore[no-untyped-def]
        return (yield)


FAILURES = {
    "import": (
        FakeEntryPoint("acme", broken_import, distribution="acme-kindling", version="1.2.0", call=True),
        f"plugin {LABEL} failed to import (fake:acme): ImportError: libacme.so not found",
    ),
    "unknown hook": (
        installed(UnknownHook()),
        f"plugin {LABEL} implements 'kindling_error_handler', which is not a kindling hook. "
        "Did you mean 'kindling_error_handlers' or 'kindling_configure'? Known hooks: kindling_cache_heuristics, "
        "kindling_change_detectors, kindling_configure, kindling_error_handlers, kindling_execution_strategies, "
        "kindling_failure_classifiers, kindling_recovery_strategies, kindling_settings_schema.",
    ),
    "wrapper": (
        installed(Wrapper()),
        f"plugin {LABEL} implements 'kindling_error_handlers' as a wrapper; the core calls each plugin's "
        "implementation on its own, so kindling hooks take no wrappers",
    ),
    "registration raises": (
        installed(plugin_from(kindling_error_handlers=no_credentials)),
        f"plugin {LABEL} failed in kindling_error_handlers: it raised RuntimeError: no credentials",
    ),
    "generator raises half-way": (
        installed(plugin_from(kindling_error_handlers=half_generator)),
        f"plugin {LABEL} failed in kindling_error_handlers: it raised ValueError: ran out of pagers",
    ),
    "single item": (
        installed(plugin_from(kindling_error_handlers=lambda: pager())),
        f"plugin {LABEL} failed in kindling_error_handlers: it returned a single ErrorHandler ('acme-pager') "
        "instead of an iterable; return a list of ErrorHandler items, e.g. [ErrorHandler(...)]",
    ),
    "item of another family": (
        installed(plugin_from(kindling_error_handlers=lambda: FailureClassifier(name="x", description="d", classify=print))),
        f"plugin {LABEL} failed in kindling_error_handlers: it returned a single FailureClassifier ('x') "
        "instead of an iterable; return a list of ErrorHandler items, e.g. [FailureClassifier(...)]",
    ),
    "string": (
        installed(plugin_from(kindling_error_handlers=lambda: "acme-pager")),
        f"plugin {LABEL} failed in kindling_error_handlers: it returned str 'acme-pager' instead of an iterable "
        "of ErrorHandler items",
    ),
    "mapping": (
        installed(plugin_from(kindling_error_handlers=lambda: {"acme-pager": print})),
        f"plugin {LABEL} failed in kindling_error_handlers: it returned dict {{'acme-pager': <built-in function "
        "print>} instead of an iterable of ErrorHandler items",
    ),
    "not iterable": (
        installed(plugin_from(kindling_error_handlers=lambda: 3)),
        f"plugin {LABEL} failed in kindling_error_handlers: it returned int 3 instead of an iterable of "
        "ErrorHandler items",
    ),
    "configure raises": (
        installed(plugin_from(kindling_error_handlers=lambda: [pager()], kindling_configure=no_credentials)),
        f"plugin {LABEL} failed in kindling_configure: it raised RuntimeError: no credentials",
    ),
    "name conflict": (
        installed(plugin_from(kindling_error_handlers=lambda: [pager("log")])),
        f"plugin {LABEL} lost a name conflict: 2 plugins provide a error handler named 'log': {LABEL}, "
        "error-handlers (kindling-core 0.1.0)",
    ),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_every_failed_plugin_is_a_failed_record_whose_error_says_what_happened(failure: str) -> None:
    point, first_line = FAILURES[failure]
    registry = make_registry([point])
    record = registry.plugin("acme")
    assert record.status is PluginStatus.FAILED
    assert record.error is not None and record.error.splitlines()[0] == first_line
    assert record.error in [str(problem) for problem in registry.problems]
    assert record.provides == {}
    assert "acme-pager" not in registry.family("error-handlers").names()
    assert registry.family("error-handlers").origin("log") == "error-handlers"


def test_a_plugin_that_fails_in_configure_is_failed_and_nothing_of_it_is_used() -> None:
    calls: list[str] = []

    def configure(signals: Any) -> None:
        signals.connect("pipe.after_run", lambda sender, payload: calls.append("configure receiver"))
        raise RuntimeError("no credentials")

    def handlers(signals: Any) -> list[ErrorHandler]:
        signals.connect("pipe.before_run", lambda sender, payload: calls.append("registration receiver"))
        return [pager()]

    recorder = RecordingErrorHandler()
    plugin = plugin_from(kindling_error_handlers=handlers, kindling_configure=configure)
    app = make_app([installed(plugin), FakeEntryPoint("rec", recorder)])
    record = app.registry.plugin("acme")
    assert record.status is PluginStatus.FAILED and record.provides == {}
    assert "acme-pager" not in app.registry.family("error-handlers").names()
    [problem] = app.configure_problems
    assert isinstance(problem, PluginConfigureError) and problem.plugin == "acme" and problem.version == "1.2.0"
    assert isinstance(problem.__cause__, RuntimeError)
    assert recorder.errors == [problem]  # reported to the error handlers, attributed
    assert recorder.events[0].source == "plugin" and recorder.events[0].subject == "acme"
    assert not app.signals.has_receivers("pipe.after_run") and not app.signals.has_receivers("pipe.before_run")
    with pytest.raises(PluginConfigureError, match=r"^plugin acme \(acme-kindling 1\.2\.0\) failed in kindling_configure"):
        make_app([installed(plugin)], config={"plugins": {"strict": True}})


def test_configure_runs_for_plugins_that_will_be_used_only() -> None:
    configured: list[str] = []
    loser = plugin_from(kindling_error_handlers=lambda: [pager("log")], kindling_configure=lambda: configured.append("loser"))
    good = plugin_from(kindling_configure=lambda: configured.append("good"))
    make_registry([installed(loser), FakeEntryPoint("good", good)])
    assert configured == ["good"]


def test_plugins_check_runs_configure() -> None:
    config = make_config({})
    plugin = plugin_from(kindling_configure=no_credentials)
    registry = load_plugins(config, entry_points=[installed(plugin)], raise_requirements=False, raise_config_errors=False).registry
    assert [type(p).__name__ for p in registry.problems] == ["PluginConfigureError"]


# ----------------------------------------------------------------------------- names a failed plugin provides


def strategy_plugin(**hooks: Any) -> Any:
    plan = ExecutionStrategy(name="acme-fast", description="fast", plan=lambda request: [list(request.topological_order())])
    return plugin_from(kindling_execution_strategies=lambda: [plan], **hooks)


def test_a_selected_name_of_a_plugin_that_failed_names_the_plugin_and_why() -> None:
    point = installed(strategy_plugin(kindling_configure=no_credentials))
    with pytest.raises(FailedProviderError) as info:
        make_app([point], config={"strategy": "acme-fast"})
    assert str(info.value).splitlines()[0] == (
        f"execution strategy 'acme-fast' (tool.kindling.strategy) is provided by plugin {LABEL}, which failed in "
        "kindling_configure: it raised RuntimeError: no credentials"
    )
    assert isinstance(info.value, UnknownNameError) and info.value.culprit == LABEL
    assert info.value.path == "tool.kindling.strategy"


def test_a_name_a_plugin_that_failed_to_import_likely_provides() -> None:
    point = FAILURES["import"][0]
    with pytest.raises(FailedProviderError) as info:
        make_app([point], config={"failure-classifiers": {"order": ["acme-quota", "..."]}})
    assert str(info.value).splitlines()[0] == (
        "failure classifier 'acme-quota' (tool.kindling.failure-classifiers.order[0]) is not available; it is likely "
        f"provided by plugin {LABEL}, which failed to import (fake:acme): ImportError: libacme.so not found. "
        "Available: generic, spark-errors."
    )


def test_a_typo_stays_a_typo_when_an_unrelated_plugin_failed() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_app([FAILURES["import"][0]], config={"strategy": "bacth"})
    assert not isinstance(info.value, FailedProviderError)
    assert "Did you mean 'batch'?" in str(info.value)
    assert f"plugins that failed to load and may provide it: {LABEL}" in str(info.value)


def test_planning_with_a_strategy_of_a_failed_plugin_names_the_plugin() -> None:
    app = make_app([installed(strategy_plugin(kindling_configure=no_credentials))])
    with pytest.raises(FailedProviderError, match=r"^execution strategy 'acme-fast' is provided by plugin acme"):
        app.plan(strategy="acme-fast")


def test_tools_list_every_plugin_and_report_the_selection_problem() -> None:
    config = make_config({"strategy": "acme-fast"})
    point = installed(strategy_plugin(kindling_configure=no_credentials))
    registry = load_plugins(config, entry_points=[point], raise_config_errors=False).registry
    assert registry.plugin("acme").status is PluginStatus.FAILED
    kinds = sorted(type(problem).__name__ for problem in registry.problems)
    assert kinds == ["FailedProviderError", "PluginConfigureError"]


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    yield from project_in(tmp_path, monkeypatch)


CONFIGURE_FAILS = """
from kindling_core.plugin import ExecutionStrategy, hookimpl

@hookimpl
def kindling_execution_strategies():
    return [ExecutionStrategy(name="acme-fast", description="fast", plan=lambda r: [list(r.topological_order())])]

@hookimpl
def kindling_configure():
    raise RuntimeError("no credentials")
"""

WITH_SCHEMA = """
from kindling_core.plugin import Setting, hookimpl

@hookimpl
def kindling_settings_schema():
    return [Setting("hot-tag", str, default="hot", description="tag of entities to cache")]
"""


def test_plugins_list_and_check_show_a_failed_plugin_and_the_selection_it_breaks(project: Project) -> None:
    project.install_plugin(source=CONFIGURE_FAILS)
    project.pyproject('[tool.kindling]\nstrategy = "acme-fast"\n')
    listing = kindling("plugins", "list")
    assert listing.exit_code == 0, listing.output
    acme_line = listing.stdout.splitlines().index(next(line for line in listing.stdout.splitlines() if line.startswith("acme ")))
    assert "failed" in listing.stdout.splitlines()[acme_line]
    assert (
        f"    error: plugin {LABEL} failed in kindling_configure: it raised RuntimeError: no credentials"
        == listing.stdout.splitlines()[acme_line + 1]
    )
    assert (
        f"problem: execution strategy 'acme-fast' (tool.kindling.strategy) is provided by plugin {LABEL}, which "
        "failed in kindling_configure: it raised RuntimeError: no credentials"
    ) in listing.stderr
    as_json = kindling("plugins", "list", "--json")
    assert next(row for row in json.loads(as_json.stdout) if row["id"] == "acme")["status"] == "failed"
    check = kindling("plugins", "check")
    assert check.exit_code == 1
    assert f"problem: plugin {LABEL} failed in kindling_configure" in check.stderr
    assert "problem: execution strategy 'acme-fast' (tool.kindling.strategy) is provided by plugin" in check.stderr
    assert "2 plugin problem(s)" in check.stderr


def test_plugins_check_reports_bad_settings_and_list_shows_declared_ones(project: Project) -> None:
    project.install_plugin(source=WITH_SCHEMA)
    project.pyproject('[tool.kindling.settings.acme]\nhot-tga = "x"\n')
    check = kindling("plugins", "check")
    assert check.exit_code == 1
    assert (
        f"problem: plugin {LABEL} has invalid settings: tool.kindling.settings.acme.hot-tga is not a setting of "
        f"plugin {LABEL}. Did you mean 'hot-tag'?"
    ) in check.stderr
    project.pyproject('[tool.kindling.settings.acme]\nhot-tag = "warm"\n')
    verbose = kindling("plugins", "list", "--verbose")
    assert verbose.exit_code == 0, verbose.output
    assert "    setting hot-tag (a string, default 'hot') - tag of entities to cache" in verbose.stdout
    assert kindling("plugins", "check").exit_code == 0


def test_settings_for_a_plugin_that_is_not_installed_stop_the_cli(project: Project) -> None:
    project.install_plugin(source=WITH_SCHEMA)
    project.pyproject('[tool.kindling.settings.amce]\nhot-tag = "x"\n')
    result = kindling("plugins", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: unknown plugin 'amce' at tool.kindling.settings.amce. Did you mean 'acme'? Available: acme, cache,"
    )
