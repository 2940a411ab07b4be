"""check_pipes and app.run(dry_run=True): declarations that would certainly fail a run."""

from __future__ import annotations

import pytest

from kindling_core.model import RunCheckError, check_pipes
from kindling_core.testing import ScriptedRunner, make_app


def _app():
    app = make_app()
    app.entity("raw.orders", path="lake/raw/orders")
    app.entity("silver.keyed", path="lake/silver/keyed", merge_keys=["id"])
    app.entity("silver.unkeyed", path="lake/silver/unkeyed")
    app.entity("silver.files", path="lake/silver/files", format="parquet", merge_keys=["id"])

    @app.pipe("p.ok", inputs=["raw.orders"], output="silver.keyed", write="merge")
    def ok(orders):
        return orders

    @app.pipe("p.no_output", inputs=["raw.orders"], output="silver.missing")
    def no_output(orders):
        return orders

    @app.pipe("p.no_input", inputs=["raw.nowhere"], output="silver.unkeyed")
    def no_input(rows):
        return rows

    @app.pipe("p.no_keys", inputs=["silver.keyed"], output="gold.unkeyed", write="merge")
    def no_keys(rows):
        return rows

    app.entity("gold.unkeyed", path="lake/gold/unkeyed")

    @app.pipe("p.parquet", inputs=["raw.orders"], output="silver.files", write="merge", mode="streaming")
    def parquet(orders):
        return orders

    return app


def _check(app, *pipe_ids: str):
    return check_pipes((app.catalog.pipes[p] for p in pipe_ids), app.catalog.entities)


def test_a_clean_pipe_has_no_problem_and_the_report_says_what_was_checked() -> None:
    check = _check(_app(), "p.ok")
    assert check.ok and check.pipes == ("p.ok",)
    assert check.summary() == (
        "checked 1 pipe: every input and output is a declared entity; merge writes have merge keys; "
        "merge writes go to Delta entities"
    )


@pytest.mark.parametrize(
    ("pipe_id", "kind", "entity", "message"),
    [
        ("p.no_output", "undeclared-output", "silver.missing", "pipe 'p.no_output' writes entity 'silver.missing', which is not declared"),
        ("p.no_input", "undeclared-input", "raw.nowhere", "pipe 'p.no_input' reads entity 'raw.nowhere', which is not declared"),
        (
            "p.no_keys",
            "merge-without-keys",
            "gold.unkeyed",
            "pipe 'p.no_keys' merges into entity 'gold.unkeyed', which declares no merge_keys",
        ),
        (
            "p.parquet",
            "merge-into-non-delta",
            "silver.files",
            "pipe 'p.parquet' merges into entity 'silver.files', whose format is 'parquet'; a merge needs a Delta table",
        ),
    ],
)
def test_each_certain_failure_is_named(pipe_id: str, kind: str, entity: str, message: str) -> None:
    [problem] = _check(_app(), pipe_id).problems
    assert (problem.check, problem.pipe, problem.entity, problem.message) == (kind, pipe_id, entity, message)
    assert problem.remedy


def test_dry_run_raises_for_every_problem_of_the_planned_pipes_only() -> None:
    app = _app()
    runner = ScriptedRunner()
    with pytest.raises(RunCheckError) as info:
        app.run(dry_run=True, runner=runner)
    assert sorted(p.pipe for p in info.value.check.problems) == ["p.no_input", "p.no_keys", "p.no_output", "p.parquet"]
    assert str(info.value).startswith("4 problems would fail the run (checked 5 pipes: ")
    assert "  - pipe 'p.no_output' writes entity 'silver.missing', which is not declared" in str(info.value)
    assert runner.calls == []
    result = app.run(dry_run=True, pipes=["p.ok"])  # the problems are outside this selection
    assert result.succeeded and [o.pipe_id for o in result.pipes] == ["p.ok"]


def test_a_real_run_is_not_blocked_by_the_check() -> None:
    """Outside a dry run a problem fails its pipe when it runs (as the Spark runner reports it)."""
    runner = ScriptedRunner()
    result = _app().run(runner=runner, on_failure="continue")
    assert len(runner.calls) == 5 and result.succeeded
