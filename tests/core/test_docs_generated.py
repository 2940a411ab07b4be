"""The hook reference, the signal catalogue and the config reference are generated from the code and up to date."""

from __future__ import annotations

from pathlib import Path

from kindling_core import hookspecs
from kindling_core.docgen import main, render_config, render_hooks, render_signals
from kindling_core.signal_catalog import core_signals

ROOT = Path(__file__).resolve().parents[2]


def test_generated_reference_is_current() -> None:
    assert main(["--out", str(ROOT / "docs" / "reference"), "--check"]) == 0, (
        "docs/reference is stale: run `python -m kindling_core.docgen`"
    )


def test_every_hook_and_signal_is_documented() -> None:
    hooks = render_hooks()
    for name in dir(hookspecs):
        if name.startswith("kindling_"):
            assert f"## `{name}`" in hooks
    catalogue = render_signals()
    for spec in core_signals():
        assert f"### `{spec.name}`" in catalogue
        assert spec.doc, f"signal {spec.name} has no doc"


def test_every_config_table_and_key_is_documented_with_its_rule() -> None:
    from kindling_core.config import KindlingConfig, rule_of, toml_fields

    reference = render_config()
    sections = reference.split("\n## ")
    tables = {"tool.kindling": KindlingConfig}
    for key, field in toml_fields(KindlingConfig).items():
        rule = rule_of(field)
        if rule is not None and rule.section is not None:
            tables[f"tool.kindling.{key}"] = rule.section
    for table, cls in tables.items():
        (section,) = [s for s in sections if s.startswith(f"`[{table}]`")]
        for key, field in toml_fields(cls).items():
            rule = rule_of(field)
            assert rule is not None and rule.doc, f"{table}.{key} has no doc"
            (row,) = [line for line in section.splitlines() if line.startswith(f"| `{key}` |")]
            assert rule.doc.replace("|", "\\|") in row
            if rule.kind != "section":
                assert rule.type_word() in row and (rule.allowed() or "any").replace("|", "\\|") in row
    assert "| `on-failure` | string | `\"fail_fast\"` | one of fail_fast, continue, skip_dependents" in reference
    assert "KINDLING_DISABLE_PLUGIN_AUTOLOAD" in reference and "`kindling run --timeout`" in reference
