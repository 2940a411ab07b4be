"""docs/user-guide.md's chapter "6. Dimensions and restarts" stays true: its TOML loads through
the real config loader and shows the defaults and keys of docs/reference/config.md, its example
app previews exactly what `kindling restarts` prints, its plugin detector registers and detects
as the chapter says, its API snippets run against a stream manager (fake driver), and the
messages and reasons it quotes are the ones the code gives."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kindling_core.config import ChangeDetectorsConfig, RestartsConfig, load_config, toml_fields
from kindling_core.dimensions import DimensionOptionError, DimensionWatcher, restart_need, watched_dimensions
from kindling_core.items import ChangeContext, ChangeKind, ChangeReport, SchemaChange
from kindling_core.model import PipeMode
from kindling_core.streaming import restart_signals as rs
from kindling_core.streaming.errors import CheckpointMismatchError
from kindling_core.streaming.fingerprint import PlanFingerprint
from kindling_core.streaming.manager import StreamManager
from kindling_core.testing import make_app
from kindling_core.testing.dimensions import FakeDimensionWatchers
from kindling_core.testing.streams import FakeStreamDriver

from cli_project import Project, kindling, project_in

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "user-guide.md"
REFERENCE = ROOT / "docs" / "reference" / "config.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
APP_LINE = 'app = App("shop")\n'


def chapter() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("\n## 6. Dimensions and restarts\n")
    return text[start : text.index("\n## ", start + 1)]


def flat(text: str) -> str:
    """``text`` with every run of whitespace made one space (quotes wrap across lines)."""
    return " ".join(text.split())


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(chapter()) if lang == language]


def block(language: str, marker: str) -> str:
    (found,) = [body for body in blocks(language) if marker in body]
    return found


def example_app() -> str:
    """The chapter's example module (``shop.py``)."""
    return block("python", APP_LINE)


def declare(app: Any, source: str | None = None) -> Any:
    """Run the example's declarations (everything after ``app = App("shop")``) on ``app``."""
    source = example_app() if source is None else source
    body = source[source.index(APP_LINE) + len(APP_LINE) :]
    exec(compile(body, "<user guide example app>", "exec"), {"app": app})
    return app


def plugin_module() -> types.ModuleType:
    module = types.ModuleType("user_guide_change_detector")
    exec(compile(block("python", "@hookimpl"), "<user guide detector plugin>", "exec"), module.__dict__)
    return module


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    yield from project_in(tmp_path, monkeypatch)


def test_the_chapter_has_its_snippets() -> None:
    assert len(blocks("toml")) == 2
    assert len(blocks("python")) >= 6
    assert example_app().startswith("from kindling_core import App\n")


# ----------------------------------------------------------------------------- configuration


def key_table(text: str, heading: str) -> dict[str, str]:
    """``key -> default`` of the first table after ``heading`` (a table with or without a type column)."""
    section = text[text.index(heading) :]
    lines = section[section.index("| key |") :].splitlines()
    rows = "\n".join(itertools.takewhile(lambda line: line.startswith("|"), lines))
    return dict(re.findall(r"^\| `([a-z-]+)` \|(?: [^|`]+ \|)? `([^`]*)` \|", rows, flags=re.MULTILINE))


@pytest.mark.parametrize(
    ("table", "config_class", "attribute"),
    [
        ("[tool.kindling.change-detectors]", ChangeDetectorsConfig, "change_detectors"),
        ("[tool.kindling.restarts]", RestartsConfig, "restarts"),
    ],
)
def test_the_toml_and_key_tables_are_the_real_defaults_and_the_reference(
    tmp_path: Path, table: str, config_class: type, attribute: str
) -> None:
    snippet = block("toml", table)
    loaded = load_config(write(tmp_path / "pyproject.toml", snippet), environ={})
    assert getattr(loaded, attribute) == config_class()
    keys = list(toml_fields(config_class))
    assert re.findall(r"^([a-z-]+) =", snippet, flags=re.MULTILINE) == keys

    shown_at = chapter().index(f"```toml\n{table}")
    shown = key_table(chapter()[shown_at:], "| key | default | meaning |")
    reference = key_table(REFERENCE.read_text(encoding="utf-8"), f"## `{table}`")
    assert list(shown) == keys
    assert shown == reference


def test_the_guides_configuration_overview_loads_with_the_defaults_of_this_chapter(tmp_path: Path) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    overview = text[text.index("\n## 8. Configuration reference\n") :]
    (snippet,) = [body for lang, body in FENCE.findall(overview) if lang == "toml" and "[tool.kindling.restarts]" in body]
    loaded = load_config(write(tmp_path / "pyproject.toml", snippet), environ={})
    assert loaded.restarts == RestartsConfig()
    assert loaded.change_detectors == ChangeDetectorsConfig()


# ----------------------------------------------------------------------------- declarations


def test_the_example_app_declares_what_the_chapter_says() -> None:
    app = declare(make_app())
    dimensions = {d.id: d for d in watched_dimensions(app)}
    assert list(dimensions) == ["silver.customers", "silver.products"]
    customers, products = dimensions["silver.customers"], dimensions["silver.products"]
    assert (customers.detector_name, dict(customers.settings)) == ("change-data-feed", {"columns": ("tier", "region")})
    assert (customers.policy.restart, customers.policy.cached) == ("auto", False)
    assert (products.detector_name, products.policy.cached) == ("version-poll", True)
    assert app.catalog.pipes["gold.daily_revenue"].mode is PipeMode.BATCH


def test_the_misspelt_option_message_is_the_one_shown() -> None:
    (shown,) = [body for body in blocks("text") if "options['change.column']" in body]
    source = example_app().replace('"change.columns": ["tier", "region"]', '"change.column": ["tier", "region"]')
    app = declare(make_app(), source)
    with pytest.raises(DimensionOptionError) as caught:
        watched_dimensions(app)
    assert str(caught.value) == shown.strip()


def test_a_catalog_table_dimension_needs_another_detector_as_the_chapter_says() -> None:
    app = make_app()
    app.entity("bronze.orders", path="lake/bronze/orders")
    app.entity("silver.customers", table="main.silver.customers", kind="dimension")
    app.entity("silver.order_events", path="lake/silver/order_events")
    app.pipe(
        "silver.order_events",
        inputs=["bronze.orders", "silver.customers"],
        output="silver.order_events",
        mode="streaming",
        dimensions=["silver.customers"],
    )(lambda orders, customers: orders)
    with pytest.raises(DimensionOptionError) as caught:
        watched_dimensions(app)
    assert "'change.detector': 'schedule'" in str(caught.value.remedy)
    assert "declared with `path=`" in chapter() and '`"change.detector": "schedule"`' in chapter()


# ----------------------------------------------------------------------------- the preview


def test_the_quoted_previews_are_what_kindling_restarts_prints(project: Project) -> None:
    module = project.module("shop", example_app())
    project.pyproject(f'[tool.kindling]\napp = "{module}:app"\n')
    shown = block("text", "$ kindling restarts --entity silver.customers")
    sessions = re.split(r"^\$ ", shown, flags=re.MULTILINE)[1:]
    assert len(sessions) == 3
    for session in sessions:
        command, expected = session.split("\n", 1)
        args = command.split()
        assert args[0] == "kindling"
        result = kindling(*args[1:])
        assert result.exit_code == 0, result.output
        assert result.stdout.rstrip("\n") == expected.rstrip("\n"), command


def test_every_preview_command_shown_runs(project: Project) -> None:
    module = project.module("shop", example_app())
    project.pyproject(f'[tool.kindling]\napp = "{module}:app"\n')
    commands = [line.split("#")[0].split() for line in block("bash", "kindling restarts").splitlines() if line.strip()]
    assert len(commands) == 3
    for command in commands:
        result = kindling(*command[1:])
        assert result.exit_code == 0, (command, result.output)


# ----------------------------------------------------------------------------- the policy and the controller


class Shop:
    """The example app on a stream manager with a fake driver and a fake dimension watcher."""

    def __init__(self, tmp_path: Path, **restarts: Any) -> None:
        config = {
            "streaming": {"watchdog-interval-seconds": 3600},
            "restarts": {"debounce-seconds": 0, **restarts},
            "recovery": {"healthy-seconds": 0},
            "signals": {"strict": True},
        }
        self.app = declare(make_app(config=config))
        object.__setattr__(self.app.config, "root", tmp_path)
        self.driver = FakeStreamDriver()
        self.watchers = FakeDimensionWatchers()
        self.streams = StreamManager(self.app, driver=self.driver, watcher_factory=self.watchers)
        self.seen: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        for spec in rs.EMITS:
            self.app.signals.connect(spec, lambda sender, payload, name=spec.name: self._record(name, payload))
        self.streams.start()

    def _record(self, name: str, payload: Any) -> None:
        with self._lock:
            self.seen.append((name, payload))

    def signals(self, name: str) -> list[Any]:
        with self._lock:
            return [payload for n, payload in self.seen if n == f"restarts.{name}"]

    def settled(self) -> None:
        wait_until(self.streams.restarts.idle)

    def starts(self, pipe: str) -> int:
        return self.driver.starts[f"kindling_{pipe.replace('.', '_')}"]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Callable[..., Shop]]:
    made: list[Shop] = []

    def make(**restarts: Any) -> Shop:
        made.append(Shop(tmp_path, **restarts))
        return made[-1]

    yield make
    for each in made:
        each.streams.close(timeout=5)


def test_a_tier_update_restarts_nothing_with_the_reason_quoted(shop: Callable[..., Shop]) -> None:
    s = shop()
    s.watchers.change(ChangeReport("silver.customers", 3, 4, "2 updated row(s) in columns tier, region", kind=ChangeKind.DATA))
    (skipped,) = s.signals("restart_skipped")
    assert skipped.pipe == "silver.order_events"
    assert f"`{skipped.why}`" in flat(chapter())
    s.settled()
    assert s.starts("silver.order_events") == 1 and not s.signals("restart_requested")


def test_a_dropped_column_restarts_both_queries_in_the_order_previewed(shop: Callable[..., Shop]) -> None:
    s = shop()
    dropped = SchemaChange(version=5, removed=("region",))
    s.watchers.change(ChangeReport("silver.customers", 4, 5, "column region dropped", kind=ChangeKind.SCHEMA, schema=dropped))
    wait_until(lambda: len(s.signals("restart_completed")) == 2)
    s.settled()
    completed = s.signals("restart_completed")
    assert [(c.pipe, c.sources) for c in completed] == [("silver.order_events", ("dimension",)), ("gold.revenue_events", ("cascade",))]
    assert s.starts("silver.order_events") == 2 and s.starts("gold.revenue_events") == 2
    assert s.streams.status()["silver.order_events"].restarts == 1


def test_a_cached_dimension_restarts_on_a_data_change(shop: Callable[..., Shop]) -> None:
    s = shop(**{"cascade-depth": 0})
    s.watchers.change(ChangeReport("silver.products", 7, 8, "version 8 changed data", kind=ChangeKind.DATA))
    wait_until(lambda: s.signals("restart_completed"))
    (completed,) = s.signals("restart_completed")
    assert completed.pipe == "gold.revenue_events" and completed.version == 8


def test_the_api_snippets_run_and_the_receivers_hear_the_restart(shop: Callable[..., Shop]) -> None:
    s = shop(**{"cascade-depth": 0})
    logged: list[tuple[Any, ...]] = []
    paged: list[str] = []
    receivers = block("python", 'app.signals.connect("restarts.restart_completed"')
    namespace = {
        "app": s.app,
        "log": types.SimpleNamespace(info=lambda *args: logged.append(args)),
        "pager": types.SimpleNamespace(send=paged.append),
    }
    exec(compile(receivers, "<user guide receivers>", "exec"), namespace)  # strict signals: undeclared names raise

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block("python", "app.streams.request_restart("), "<user guide request>", "exec"), {"app": s})
    s.settled()

    (completed,) = s.signals("restart_completed")
    assert (completed.pipe, completed.version, completed.entities, completed.sources) == (
        "silver.order_events",
        42,
        ("silver.customers",),
        ("api",),
    )
    assert completed.reasons == ("customers reloaded by the nightly job",)
    assert logged and logged[0][1] == "silver.order_events" and not paged


def test_the_preview_snippet_runs(shop: Callable[..., Shop]) -> None:
    s = shop()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block("python", "app.streams.preview_restarts("), "<user guide preview>", "exec"), {"app": s})
    assert out.getvalue().splitlines() == [
        "silver.order_events 0 silver.customers reads dimension silver.customers; detector change-data-feed, restart policy auto",
        "gold.revenue_events 1 silver.order_events streams the output of silver.order_events, which restarts",
    ]


# ----------------------------------------------------------------------------- checkpoints


def test_the_checkpoint_policy_snippet_declares_a_clean_starting_pipe() -> None:
    app = declare(make_app())
    exec(compile(block("python", "on_checkpoint_mismatch="), "<user guide checkpoint policy>", "exec"), {"app": app})
    assert app.catalog.pipes["gold.revenue_by_tier"].on_checkpoint_mismatch == "clean-start"


def test_the_mismatch_message_is_the_one_shown() -> None:
    (shown,) = [body for body in blocks("text") if "no longer matches its checkpoint" in body]
    stored = PlanFingerprint(schema="struct<order_id:bigint>", stateful=())
    now = PlanFingerprint(schema="struct<order_id:bigint>", stateful=("deduplicate",))
    error = CheckpointMismatchError("gold.revenue_by_tier", "/srv/shop/.kindling/checkpoints/gold.revenue_by_tier", stored.differences(now))
    assert str(error) == shown.strip()


# ----------------------------------------------------------------------------- the plugin detector


def test_the_plugin_registers_and_its_settings_are_checked() -> None:
    app = make_app({"guide": plugin_module()})
    assert app.registry.family("change-detectors").names() == ("version-marker", "version-poll", "change-data-feed", "schedule")
    app.entity("ref.regions", path="landing/regions", format="csv", kind="dimension", options={"change.detector": "version-marker"})
    with pytest.raises(DimensionOptionError) as caught:
        watched_dimensions(app, ["ref.regions"])
    assert caught.value.option == "change.marker"


def test_the_plugin_detects_with_a_fake_context(tmp_path: Path) -> None:
    detect = plugin_module().detect
    marker = write(tmp_path / "regions.version", "3\n")
    context = ChangeContext(entity="ref.regions", last_version=3, settings={"marker": str(marker)})
    assert detect(context) is None
    write(marker, "4\n")
    report = detect(context)
    assert (report.entity, report.from_version, report.to_version, report.kind) == ("ref.regions", 3, 4, ChangeKind.DATA)


def test_the_plugin_watches_the_declared_dimension_from_its_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the marker path in the declaration is relative to the working directory
    (tmp_path / "landing").mkdir()
    marker = write(tmp_path / "landing" / "regions.version", "7")
    app = make_app({"guide": plugin_module()})
    exec(compile(block("python", 'app.entity("ref.regions"'), "<user guide regions>", "exec"), {"app": app})
    changes: list[ChangeReport] = []
    watcher = DimensionWatcher.from_app(app, probe=None, on_change=changes.append, dimensions=["ref.regions"])

    assert watcher.poll_once().baselines == ("ref.regions",)
    assert watcher.poll_once().changes == () and not changes
    write(marker, "8")
    watcher.poll_once()
    (report,) = changes
    assert (report.from_version, report.to_version, report.detector) == (7, 8, "version-marker")

    need = restart_need(report, app.catalog.entities["ref.regions"])
    assert need.needed and f"`{need.reason}`" in flat(chapter())

    marker.unlink()  # the detector raises: reported, and the next poll tries again
    assert watcher.poll_once().skipped == ("ref.regions",)
    write(marker, "8")
    assert watcher.poll_once().changes == ()
