"""``kindling restarts``: the preview of restarts and cascades, its JSON, every bad input, and
that it starts no Spark. The plans themselves are tested in tests/streaming/test_cascade.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_project import Project, kindling, project_in

SHOP = """
from kindling_core import App

app = App("shop")
app.entity("silver.customers", path="lake/customers", kind="dimension", options=CUSTOMER_OPTIONS)
app.entity("bronze.orders", path="lake/bronze")
app.entity("lake.archive", path="lake/archive")


@app.pipe("silver.enriched", inputs=["bronze.orders", "silver.customers"], dimensions=["silver.customers"],
          output="silver.enriched", mode="streaming")
def enrich(orders, customers):
    return orders


@app.pipe("gold.by_tier", inputs=["silver.enriched"], output="gold.by_tier", mode="streaming")
def by_tier(enriched):
    return enriched


@app.pipe("gold.alerts", inputs=["gold.by_tier"], output="gold.alerts", mode="streaming")
def alerts(by_tier):
    return by_tier


@app.pipe("gold.report", inputs=["silver.enriched"], output="gold.report")
def report(enriched):
    return enriched
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    yield from project_in(tmp_path, monkeypatch)


def configured(project: Project, *, options: str = "{}", table: str = "") -> str:
    module = project.module("shop", SHOP.replace("CUSTOMER_OPTIONS", options))
    project.pyproject(f'[tool.kindling]\napp = "{module}:app"\n{table}')
    return module


def test_a_dimension_change_lists_its_readers_then_the_cascades_in_order_with_detector_and_policy(project: Project) -> None:
    configured(project)
    result = kindling("restarts", "--entity", "silver.customers")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "When a change of silver.customers needs a restart, 3 streaming queries restart, in this order:",
        "  silver.customers: detector version-poll (tool.kindling.change-detectors.default), restart policy auto (default)",
        "  restarts on: a removed, renamed or retyped column, a recreated table or an unclear history restarts its queries; "
        "a plain data change or an added column does not (a Delta stream-static join reads the current version at each micro-batch)",
        "  1. silver.enriched  (reads dimension silver.customers; detector version-poll, restart policy auto)",
        "  2. gold.by_tier  (depth 1 via silver.enriched: streams the output of silver.enriched, which restarts)",
        "  3. gold.alerts  (depth 2 via gold.by_tier: streams the output of gold.by_tier, which restarts)",
    ]


def test_the_entity_options_and_the_configuration_decide_what_is_shown(project: Project) -> None:
    options = '{"change.detector": "change-data-feed", "change.restart": "always", "change.cached": True}'
    configured(project, options=options, table="[tool.kindling.restarts]\ncascade-depth = 1\n")
    result = kindling("restarts", "--entity", "silver.customers")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "When a change of silver.customers needs a restart, 2 streaming queries restart, in this order:",
        "  silver.customers: detector change-data-feed (options['change.detector']), restart policy always "
        "(options['change.restart']), cached by its pipes (change.cached)",
        "  restarts on: every change its detector reports restarts its queries (change.restart = always)",
        "  1. silver.enriched  (reads dimension silver.customers; detector change-data-feed, restart policy always, cached)",
        "  2. gold.by_tier  (depth 1 via silver.enriched: streams the output of silver.enriched, which restarts)",
        "  Left out, deeper than the cascade depth limit 1 (tool.kindling.restarts.cascade-depth):",
        "    - gold.alerts  (depth 2 via gold.by_tier)",
    ]
    deeper = kindling("restarts", "--entity", "silver.customers", "--depth", "5")
    assert "  3. gold.alerts  (depth 2 via gold.by_tier: streams the output of gold.by_tier, which restarts)" in deeper.stdout


def test_the_default_detector_comes_from_the_configuration(project: Project) -> None:
    configured(project, table='[tool.kindling.change-detectors]\ndefault = "schedule"\n')
    result = kindling("restarts", "--entity", "silver.customers", "--depth", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:5] == [
        "  silver.customers: detector schedule (tool.kindling.change-detectors.default), restart policy auto (default)",
        "  restarts on: a removed, renamed or retyped column, a recreated table or an unclear history restarts its queries; "
        "a plain data change or an added column does not (a Delta stream-static join reads the current version at each micro-batch)",
        "  1. silver.enriched  (reads dimension silver.customers; detector schedule, restart policy auto)",
        "  Left out, deeper than the cascade depth limit 0 (--depth):",
    ]


def test_pipes_and_several_entities_each_get_a_preview(project: Project) -> None:
    configured(project)
    result = kindling("restarts", "--entity", "bronze.orders", "--entity", "lake.archive", "--pipe", "gold.by_tier")
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n\n") == [
        "When bronze.orders changes, nothing restarts.\n"
        "  bronze.orders: detector version-poll (tool.kindling.change-detectors.default), restart policy auto (default)\n"
        "  Note: no streaming pipe declares bronze.orders as a dimension; silver.enriched read(s) it as a stream and "
        "see(s) its new data at the next micro-batch, without a restart",
        "When lake.archive changes, nothing restarts.\n"
        "  lake.archive: detector version-poll (tool.kindling.change-detectors.default), restart policy auto (default)\n"
        "  Note: no pipe reads lake.archive, so its changes restart nothing",
        "When gold.by_tier restarts, 2 streaming queries restart, in this order:\n"
        "  1. gold.by_tier  (restart requested)\n"
        "  2. gold.alerts  (depth 1 via gold.by_tier: streams the output of gold.by_tier, which restarts)\n",
    ]


def test_json_is_one_document_with_every_plan(project: Project) -> None:
    configured(project)
    result = kindling("restarts", "--entity", "silver.customers", "--pipe", "gold.alerts", "--json", "--depth", "1")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["app"] == "shop" and document["depth_from"] == "--depth"
    first, second = document["plans"]
    assert [(s["pipe"], s["depth"], s["cause"], s["via"]) for s in first["steps"]] == [
        ("silver.enriched", 0, "dimension", "silver.customers"),
        ("gold.by_tier", 1, "cascade", "silver.enriched"),
    ]
    assert [(s["pipe"], s["depth"]) for s in first["truncated"]] == [("gold.alerts", 2)]
    assert first["dimension"]["detector"] == "version-poll" and first["dimension"]["restart"] == "auto"
    assert first["dimension"]["restarts_on"].startswith("a removed, renamed or retyped column")
    assert second["requested"] == ["gold.alerts"] and second["dimension"] is None
    assert [s["cause"] for s in second["steps"]] == ["requested"]


def test_unknown_names_get_did_you_mean_and_exit_2_like_plan(project: Project) -> None:
    configured(project)
    result = kindling("restarts", "--entity", "silver.customer")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        "error: --entity: unknown entity 'silver.customer'. Did you mean 'silver.customers' or 'silver.enriched'? "
        "Available: bronze.orders, gold.alerts, gold.by_tier, gold.report, lake.archive, silver.customers, silver.enriched."
    )
    result = kindling("restarts", "--pipe", "gold.alert")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --pipe: unknown pipe id 'gold.alert' (did you mean 'gold.alerts'")
    result = kindling("restarts", "--pipe", "gold.report")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --pipe: pipe 'gold.report' is a batch pipe; only streaming pipes restart.")
    assert "remedy: name streaming pipes (a batch pipe reads its inputs afresh at every run)" in result.stderr


def test_usage_and_configuration_errors_exit_2(project: Project) -> None:
    configured(project, options='{"change.restart": "sometimes"}')
    result = kindling("restarts")
    assert result.exit_code == 2 and "name what changes: --entity ID (a dimension) and/or --pipe ID" in result.stderr
    result = kindling("restarts", "--pipe", "gold.alerts", "--depth", "-1")
    assert result.exit_code == 2 and "Invalid value for '--depth'" in result.stderr
    result = kindling("restarts", "--entity", "silver.customers")
    assert result.exit_code == 2
    assert "error: entity 'silver.customers': options['change.restart'] is 'sometimes', not one of" in result.stderr
    project.pyproject("[tool.kindling]\n")
    result = kindling("restarts", "--entity", "silver.customers")
    assert result.exit_code == 2 and "error: no app to preview restarts of: pass --app" in result.stderr


def test_the_preview_starts_no_spark(project: Project) -> None:
    """Run in a fresh process where pyspark and delta cannot be imported: the preview works."""
    configured(project)
    script = textwrap.dedent(
        """
        import sys, importlib.abc
        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('pyspark', 'delta', 'py4j'):
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Hide())
        from kindling_core.cli import main
        sys.argv = ["kindling", "restarts", "--entity", "silver.customers"]
        try:
            main()
        finally:
            assert not any(m.split('.')[0] in ('pyspark', 'delta', 'py4j') for m in sys.modules), "Spark was imported"
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=project.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "When a change of silver.customers needs a restart, 3 streaming queries restart, in this order:"
