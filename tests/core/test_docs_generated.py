"""The hook reference and the signal catalogue are generated from the code and up to date."""

from __future__ import annotations

from pathlib import Path

from kindling_core import hookspecs
from kindling_core.docgen import main, render_hooks, render_signals
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
