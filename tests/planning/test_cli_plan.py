"""``kindling plan`` through click's CliRunner: formats, options and error messages."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from kindling_core.cli.plan_cmd import plan

PIPELINES = textwrap.dedent(
    """
    import kindling_plugins.cache, kindling_plugins.strategies
    from kindling_core.app import App
    from kindling_core.config import KindlingConfig

    app = App(config=KindlingConfig(), entry_points=[],
              plugins={"strategies": kindling_plugins.strategies, "cache": kindling_plugins.cache})
    app.entity("raw.orders", path="/lake/raw/orders")

    @app.pipe("bronze.orders", inputs=["raw.orders"], output="bronze.orders")
    def bronze(orders):
        return orders

    @app.pipe("silver.orders", inputs=["bronze.orders"], output="silver.orders", mode="streaming")
    def silver(orders):
        return orders

    @app.pipe("gold.daily", inputs=["bronze.orders"], output="gold.daily")
    def daily(orders):
        return orders

    not_an_app = 42
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with pipelines_cli_demo.py and a pyproject naming its app."""
    (tmp_path / "pipelines_cli_demo.py").write_text(PIPELINES)
    (tmp_path / "broken_cli_demo.py").write_text("import kindling_core\nraise RuntimeError('boom at import')\n")
    (tmp_path / "pyproject.toml").write_text('[tool.kindling]\napp = "pipelines_cli_demo:app"\n')
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    import sys

    for name in ("pipelines_cli_demo", "broken_cli_demo"):
        sys.modules.pop(name, None)


def run(*args: str):
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    return runner.invoke(plan, list(args))


def test_text_is_the_default_and_uses_the_configured_app(project: Path) -> None:
    result = run()
    assert result.exit_code == 0, result.output
    assert "plan: strategy batch · 3 pipes in 2 generations" in result.stdout
    assert "generation 1 (2 pipes)" in result.stdout


def test_json_output_is_machine_clean(project: Path) -> None:
    result = run("--app", "pipelines_cli_demo:app", "--format", "json", "--strategy", "streaming")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["strategy"] == "streaming"
    assert document["generations"] == [["gold.daily", "silver.orders"], ["bronze.orders"]]
    assert set(document) >= {"strategy", "generations", "cache_recommendations", "fingerprint", "modes"}
    assert document["cache_recommendations"] == []


def test_mermaid_dot_and_pipes(project: Path) -> None:
    mermaid = run("--format", "mermaid", "--pipes", "gold.daily")
    assert mermaid.exit_code == 0 and mermaid.stdout.startswith("flowchart LR")
    assert "silver.orders" not in mermaid.stdout and "gold.daily<br/>batch" in mermaid.stdout
    dot = run("--format", "dot", "--strategy", "hybrid")
    assert dot.exit_code == 0 and dot.stdout.startswith("digraph kindling_plan {")
    assert '"silver.orders" [label="silver.orders\\nstreaming"' in dot.stdout


def test_explain(project: Path) -> None:
    result = run("--explain", "gold.daily")
    assert result.exit_code == 0
    assert "pipe 'gold.daily' (batch) is in generation 1 of 2" in result.stdout
    assert "bronze.orders -> gold.daily" in result.stdout
    as_json = json.loads(run("--explain", "gold.daily", "--format", "json").stdout)
    assert as_json["chain"] == ["bronze.orders", "gold.daily"]


def test_explain_a_pipe_outside_the_selection_uses_the_full_plan(project: Path) -> None:
    result = run("--pipes", "gold.daily", "--explain", "silver.orders")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "pipe 'silver.orders' is not in the selection (--pipes gold.daily and the pipes they need: "
        "bronze.orders, gold.daily); explained in the full plan:\n"
        "pipe 'silver.orders' (streaming) is in generation 1 of 2 (strategy 'batch')."
    )
    as_json = json.loads(run("--pipes", "gold.daily", "--explain", "silver.orders", "--format", "json").stdout)
    assert as_json["in_selection"] is False and as_json["chain"] == ["bronze.orders", "silver.orders"]
    inside = json.loads(run("--pipes", "gold.daily", "--explain", "gold.daily", "--format", "json").stdout)
    assert inside["in_selection"] is True and inside["generation_count"] == 2


def test_explain_an_undeclared_pipe_with_pipes_lists_every_declared_pipe(project: Path) -> None:
    result = run("--pipes", "gold.daily", "--explain", "silver.ordres")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: unknown pipe id 'silver.ordres' (did you mean 'silver.orders'?). "
        "Available: bronze.orders, gold.daily, silver.orders."
    )


def test_explain_on_a_restricted_plan_says_the_pipe_is_outside_it(app) -> None:
    from kindling_core.planning.errors import PipeNotPlannedError

    for pipe_id, inputs, output in [("a.one", [], "e.one"), ("b.two", ["e.one"], "e.two"), ("c.three", ["e.one"], "e.three")]:
        app.pipe(pipe_id, inputs=inputs, output=output)(lambda *frames: None)
    with pytest.raises(PipeNotPlannedError) as info:
        app.plan(pipes=["b.two"]).explain("c.three")
    assert str(info.value).startswith(
        "pipe 'c.three' is not in this plan, which is restricted to b.two and the pipes they need. Planned: a.one, b.two."
    )
    assert "plan without pipes=" in str(info.value)
    assert app.plan().explain("c.three").generation == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--app", "no_such_module_xyz:app"), "cannot import module 'no_such_module_xyz'"),
        (("--app", "broken_cli_demo:app"), "failed to import: RuntimeError: boom at import"),
        (("--app", "pipelines_cli_demo:apps"), "has no attribute 'apps'. Did you mean 'app'?"),
        (("--app", "pipelines_cli_demo:not_an_app"), "names an int (42), not a kindling App"),
        (("--strategy", "hybird"), "Did you mean 'hybrid'?"),
        (("--pipes", "gold.dialy"), "unknown pipe id 'gold.dialy' (did you mean 'gold.daily'?)"),
        (("--explain", "nope.nope"), "unknown pipe id 'nope.nope'"),
        (("--pipes", ","), "--pipes ',' names no pipe"),
    ],
)
def test_errors_go_to_stderr_with_exit_status_2(project: Path, args: tuple[str, ...], expected: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr


def test_no_app_anywhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.kindling]\n")
    monkeypatch.chdir(tmp_path)
    result = run()
    assert result.exit_code == 2
    assert f"no app to plan: pass --app package.module:attr or set tool.kindling.app in {tmp_path / 'pyproject.toml'}" in result.stderr
