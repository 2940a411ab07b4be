"""docs/user-guide.md's chapter "5. Failure handling" stays true: its TOML loads through the
real config loader, its plugin code registers and decides as the chapter says, its defaults,
quoted messages and reasons are the ones the code gives, and the guide's anchors exist."""

from __future__ import annotations

import io
import re
import types
from pathlib import Path

import pytest

from kindling_core.cli._stream_view import ChangeLines, Tally
from kindling_core.config import RecoveryConfig, load_config, toml_fields
from kindling_core.errors import ConfigError
from kindling_core.execution.result import PipeStatus
from kindling_core.plugin import (
    Backoff,
    Classification,
    FailureContext,
    FailureKind,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
)
from kindling_core.recovery import RecoveryDecision, classify_failure, decide_recovery
from kindling_core.streaming import signals as sig
from kindling_core.streaming.state import QueryState
from kindling_core.streaming.status import QueryStatus
from kindling_core.testing import ScriptedRunner, fail, make_app

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "user-guide.md"
FIXTURES = ROOT / "tests" / "fixtures" / "spark_errors"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def chapter() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("\n## 5. Failure handling\n")
    return text[start : text.index("\n## ", start + 1)]


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(chapter()) if lang == language]


def plugin_snippets() -> dict[str, types.ModuleType]:
    """Each Python block that defines a hook implementation, run as a plugin module."""
    modules = {}
    for index, body in enumerate(block for block in blocks("python") if "@hookimpl" in block):
        module = types.ModuleType(f"user_guide_plugin_{index}")
        exec(compile(body, f"<user guide plugin {index}>", "exec"), module.__dict__)
        modules[f"guide{index}"] = module
    return modules


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_chapter_has_its_snippets() -> None:
    assert len(blocks("toml")) >= 4
    assert len(plugin_snippets()) == 2


def test_every_toml_snippet_loads_and_names_only_what_exists(tmp_path: Path) -> None:
    for index, snippet in enumerate(blocks("toml")):
        path = write(tmp_path / f"snippet{index}.toml", snippet)
        config = load_config(path, environ={})
        make_app(plugin_snippets(), config=config)  # order/disable names resolve against the chain


def test_the_recovery_snippet_and_table_give_the_real_defaults(tmp_path: Path) -> None:
    (snippet,) = [block for block in blocks("toml") if block.startswith("[tool.kindling.recovery]\nmax-attempts")]
    assert load_config(write(tmp_path / "recovery.toml", snippet), environ={}).recovery == RecoveryConfig()

    def table(text: str, heading: str) -> dict[str, str]:
        section = text[text.index(heading) :]
        section = section[: section.index("\n#", 1)]
        return dict(re.findall(r"^\| `([a-z-]+)` \|(?: [^|]+ \|)? `([^`]*)` \|", section, flags=re.MULTILINE))

    shown = table(chapter(), "### `[tool.kindling.recovery]`")
    reference = table((ROOT / "docs" / "reference" / "config.md").read_text(encoding="utf-8"), "## `[tool.kindling.recovery]`")
    assert list(shown) == list(toml_fields(RecoveryConfig))
    assert shown == reference


def test_the_execution_snippet_shows_the_retry_defaults(tmp_path: Path) -> None:
    (snippet,) = [block for block in blocks("toml") if block.startswith("[tool.kindling.execution]")]
    loaded = load_config(write(tmp_path / "execution.toml", snippet), environ={})
    defaults = load_config(write(tmp_path / "empty.toml", "[tool.kindling]\n"), environ={})
    for key in ("max_retries", "retry_backoff_seconds", "retry_backoff_max_seconds"):
        assert getattr(loaded.execution, key) == getattr(defaults.execution, key), key
    assert loaded.recovery.unknown_max_attempts == defaults.recovery.unknown_max_attempts


def test_the_patterns_snippet_decides_with_the_reason_shown(tmp_path: Path) -> None:
    (snippet,) = [block for block in blocks("toml") if block.startswith("[tool.kindling.failure-classifiers]\ntransient")]
    app = make_app(config=load_config(write(tmp_path / "patterns.toml", snippet), environ={}))
    context = FailureContext.of(RuntimeError("vendor said: ACME-429 quota exceeded"), source="pipe", subject="p")

    decided = classify_failure(app.failure_classifiers(), context, app.errors)

    assert (decided.kind, decided.classifier) == (FailureKind.TRANSIENT, "patterns")
    assert f"`{decided.reason}`" in chapter()


def test_the_bad_pattern_message_is_the_one_shown(tmp_path: Path) -> None:
    (shown,) = [block for block in blocks("text") if "must be a regular expression" in block]
    path = write(
        tmp_path / "pyproject.toml", "[tool.kindling.failure-classifiers]\ntransient = ['ACME-\\d+ quota exceeded', 'ACME-(429']\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).replace(str(path), "/work/orders/pyproject.toml") == shown.strip()


def test_the_classifier_plugin_registers_and_decides() -> None:
    app = make_app(plugin_snippets())
    assert app.registry.family("failure-classifiers").names() == ("acme-api", "spark-errors", "generic")
    worker = 'Traceback (most recent call last):\n  File "udf.py", line 3, in call\nacme.errors.RateLimited: slow down\n'
    cases = {
        f"[PYTHON_EXCEPTION] An exception was thrown from the Python worker.\n{worker}": FailureKind.TRANSIENT,
        "[ACME_TENANT_DISABLED] tenant 42 is disabled": FailureKind.PERMANENT,
    }
    for text, kind in cases.items():
        context = FailureContext.of(RuntimeError(text), source="stream", subject="feed")
        decided = classify_failure(app.failure_classifiers(), context, app.errors)
        assert (decided.kind, decided.classifier) == (kind, "acme-api"), text


def test_the_recovery_strategy_plugin_registers_runs_first_and_decides() -> None:
    app = make_app(plugin_snippets())
    names = app.registry.family("recovery-strategies").names()
    assert names == ("quick-conflict-retry", "give-up-on-permanent", "clean-start-on-checkpoint", "alert-only", "restart-with-backoff")
    context = RecoveryContext(
        FailureContext.of(RuntimeError("conflict"), source="stream", subject="feed"),
        Classification(FailureKind.CONFLICT, "test"),
        attempts_so_far=2,
        max_attempts=5,
        backoff=Backoff(base=2.0, cap=300.0, random=lambda: 0.99),
    )

    decision = decide_recovery(app.recovery_strategies(), context, app.errors)

    assert decision.retry and decision.action.strategy == "quick-conflict-retry"
    assert decision.action.delay_seconds == 1.0  # min(1.0, 0.99 * 8)


def test_the_recovery_strategy_plugin_retries_a_real_conflict_in_a_batch_run() -> None:
    app = make_app(plugin_snippets(), config={"execution": {"retry-backoff-seconds": 0}})
    retried = []
    app.signals.connect("pipe.retry_scheduled", lambda sender, payload: retried.append(payload.strategy))

    @app.pipe("merge.orders", inputs=[], output="silver.orders")
    def orders() -> None:  # pragma: no cover - the scripted runner runs instead
        raise AssertionError

    conflict = RuntimeError((FIXTURES / "delta_concurrent_append.txt").read_text(encoding="utf-8"))
    runner = ScriptedRunner({"merge.orders": fail(conflict, times=1)})
    outcome = app.run(runner=runner).outcome("merge.orders")

    assert (outcome.status, outcome.attempts) == (PipeStatus.SUCCEEDED, 2)
    assert retried == ["quick-conflict-retry"]


def test_the_signal_receivers_connect_to_declared_signals() -> None:
    (snippet,) = [block for block in blocks("python") if "app.signals.connect" in block and "def page" in block]
    app = make_app(config={"signals": {"strict": True}})  # an undeclared name raises
    namespace = {"app": app, "pager": types.SimpleNamespace(send=lambda text: None)}
    exec(compile(snippet, "<user guide receivers>", "exec"), namespace)


def test_every_python_snippet_of_the_guide_compiles() -> None:
    for index, (lang, body) in enumerate(FENCE.findall(GUIDE.read_text(encoding="utf-8"))):
        if lang == "python":
            compile(body, f"<user guide python block {index}>", "exec")


def classified(fixture: str) -> Classification:
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    app = make_app()
    context = FailureContext.of(RuntimeError(text), source="stream" if fixture.startswith("stream") else "pipe", subject="x")
    return classify_failure(app.failure_classifiers(), context, app.errors)


@pytest.mark.parametrize(
    "fixture",
    [
        "stream_delta_schema_changed.txt",
        "delta_concurrent_append.txt",
        "stream_checkpoint_stateful_changed.txt",
        "stream_checkpoint_corrupt.txt",
        "batch_table_not_found.txt",
        "stream_udf_value_error.txt",
    ],
)
def test_the_examples_give_the_kind_and_reason_shown(fixture: str) -> None:
    decided = classified(fixture)
    row = next(line for line in chapter().splitlines() if line.startswith("| ") and decided.reason in line)
    assert f"| `{decided.kind.value}` |" in row


def test_the_unknown_example_is_unknown() -> None:
    app = make_app()
    context = FailureContext.of(RuntimeError("vendor SDK returned status 7"), source="pipe", subject="x")
    decided = classify_failure(app.failure_classifiers(), context, app.errors)
    assert (decided.kind, decided.classifier, decided.reason) == (FailureKind.UNKNOWN, "generic", "no classifier recognised the error")
    assert "| `unknown` | no classifier recognised the error (by `generic`) |" in chapter()
    assert classified("stream_udf_connection_error.txt").reason.startswith("the Python worker raised 'ConnectionError: lookup")


def test_the_builtin_strategies_are_listed_in_their_order() -> None:
    rows = re.findall(r"^\| `([a-z-]+)` \| .* \| (?:give up|clean start|alert only|restart .*) \|$", chapter(), flags=re.MULTILINE)
    assert tuple(rows) == make_app().registry.family("recovery-strategies").names()


def test_the_log_lines_shown_are_the_ones_kindling_stream_prints() -> None:
    shown = re.findall(r"^  `((?:silver|gold)\.orders  .*)`[,;]$", chapter(), flags=re.MULTILINE)
    assert len(shown) == 3
    app, tally, out = make_app(), Tally(), io.StringIO()
    tally.connect(app.signals)
    restart = RecoveryDecision(
        RecoveryAction(RecoveryActionKind.RESTART, "transient failure, attempt 2 of 5", 0.8, "restart-with-backoff"),
        Classification(FailureKind.TRANSIENT, "matched 'Connection reset', usually transient", "spark-errors"),
        attempt=2,
        max_attempts=5,
    )
    give_up = RecoveryDecision(
        RecoveryAction(RecoveryActionKind.GIVE_UP, "permanent failure", strategy="give-up-on-permanent"),
        Classification(FailureKind.PERMANENT, "ValueError is a programming or data error", "generic"),
        attempt=1,
        max_attempts=5,
    )
    error = "py4j.Py4JException: proxy\nConnectionError: orders unreachable"
    app.signals.emit(
        sig.RECOVERY_SCHEDULED, sig.StreamRecoveryScheduled("kindling_silver_orders", "silver.orders", 2, 5, 0.8, 0.0, restart, error)
    )
    app.signals.emit(sig.RECOVERED, sig.StreamRecovered("kindling_silver_orders", "silver.orders", "q", "r", 2, 3.2, 1, "batches"))
    app.signals.emit(
        sig.RECOVERY_DECLINED, sig.StreamRecoveryDeclined("kindling_gold_orders", "gold.orders", give_up, "ValueError: bad row")
    )
    ChangeLines(out, tally, clock=lambda: 0.0).update(
        {
            "silver.orders": QueryStatus("kindling_silver_orders", "silver.orders", QueryState.RUNNING, 0.0),
            "gold.orders": QueryStatus("kindling_gold_orders", "gold.orders", QueryState.FAILED, 0.0),
        }
    )
    printed = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    for line in shown:
        pattern = ".*".join(re.escape(part) for part in line.split("..."))
        assert any(re.fullmatch(pattern, text) for text in printed), (line, printed)


# ----------------------------------------------------------------------------- anchors


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {slug(heading) for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_every_link_into_the_user_guide_names_a_heading() -> None:
    known = anchors(GUIDE)
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.S | re.M)
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", text):
            into_guide = (doc == GUIDE and not target) or (target and (doc.parent / target).resolve() == GUIDE)
            if into_guide and anchor not in known:
                broken.append(f"{doc.relative_to(ROOT)} -> {target}#{anchor}")
    assert not broken, "links to headings the user guide does not have:\n" + "\n".join(broken)
