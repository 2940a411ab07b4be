"""Declaring stream settings: triggers, read options and checkpoints on pipes; the
``[tool.kindling.streaming]`` table; the query state machine's compare-and-set."""

from __future__ import annotations

import threading

import pytest

from kindling_core.errors import ConfigError
from kindling_core.model import DeclarationError
from kindling_core.streaming.errors import ManagerClosedError
from kindling_core.streaming.state import STARTABLE, IllegalTransitionError, QueryState, StateCell
from kindling_core.streaming.triggers import TRIGGER_FORMS, Trigger
from kindling_core.testing import make_app, make_config


def identity(frame):
    return frame


@pytest.mark.parametrize(
    ("text", "kind", "interval_ms", "shown"),
    [
        ("availableNow", "available_now", 0, "availableNow"),
        (" Available-Now ", "available_now", 0, "availableNow"),
        ("once", "once", 0, "once"),
        ("10 seconds", "interval", 10_000, "10 seconds"),
        ("500 ms", "interval", 500, "500 milliseconds"),
        ("1.5 minutes", "interval", 90_000, "90 seconds"),
        ("2h", "interval", 7_200_000, "7200 seconds"),
        ("interval 1 second", "interval", 1000, "1 second"),
        ("1 ms", "interval", 1, "1 millisecond"),
        ("0 seconds", "interval", 0, "0 milliseconds"),
    ],
)
def test_trigger_forms(text: str, kind: str, interval_ms: int, shown: str) -> None:
    trigger = Trigger.parse(text)
    assert (trigger.kind, trigger.interval_ms, str(trigger)) == (kind, interval_ms, shown)
    assert trigger.bounded is (kind != "interval")


@pytest.mark.parametrize("text", ["", "soon", "10 parsecs", "ten seconds", "-1 s", "2 days", 10])
def test_not_triggers(text: object) -> None:
    with pytest.raises(ValueError):
        Trigger.parse(text)


def test_writer_arguments() -> None:
    assert Trigger.parse("availableNow").writer_arguments() == {"availableNow": True}
    assert Trigger.parse("once").writer_arguments() == {"once": True}
    assert Trigger.parse("1.5 s").writer_arguments() == {"processingTime": "1500 milliseconds"}


def declare(app, pipe_id: str = "silver.orders", **fields):
    for entity in ("bronze.orders", "silver.orders"):
        if entity not in app.catalog.entities:
            app.entity(entity, path=f"/lake/{entity}")
    return app.catalog.add_pipe(pipe_id, func=identity, inputs=["bronze.orders"], output="silver.orders", **fields)


def test_stream_settings_are_first_class_pipe_fields() -> None:
    pipe = declare(
        make_app(),
        mode="streaming",
        trigger="10 seconds",
        read_options={"maxFilesPerTrigger": 1, "startingVersion": 5},
        checkpoint="abfss://lake@acct.dfs.core.windows.net/checkpoints/orders",
    )
    assert pipe.trigger == "10 seconds"
    assert dict(pipe.read_options) == {"maxFilesPerTrigger": 1, "startingVersion": 5}
    assert pipe.checkpoint.startswith("abfss://")
    with pytest.raises(TypeError):
        pipe.read_options["x"] = 1  # type: ignore[index]


def test_an_invalid_trigger_names_the_pipe_and_the_accepted_forms() -> None:
    with pytest.raises(DeclarationError) as caught:
        declare(make_app(), mode="streaming", trigger="10 parsecs")
    message = str(caught.value)
    assert "pipe 'silver.orders': trigger='10 parsecs' is not a trigger" in message
    assert TRIGGER_FORMS in message
    assert caught.value.culprit == "silver.orders"


@pytest.mark.parametrize(
    ("field", "value"), [("trigger", "10 seconds"), ("read_options", {"maxFilesPerTrigger": 1}), ("checkpoint", "/tmp/cp")]
)
def test_stream_settings_on_a_batch_pipe_are_an_error(field: str, value: object) -> None:
    with pytest.raises(DeclarationError) as caught:
        declare(make_app(), **{field: value})
    assert f"pipe 'silver.orders' is a batch pipe but declares {field}=" in str(caught.value)
    assert "mode='streaming'" in caught.value.remedy


@pytest.mark.parametrize(("field", "value"), [("read_options", {"maxFilesPerTrigger": [1]}), ("checkpoint", " ")])
def test_malformed_stream_settings(field: str, value: object) -> None:
    with pytest.raises(DeclarationError, match=f"pipe 'silver.orders': {field}"):
        declare(make_app(), mode="streaming", **{field: value})


def test_stream_settings_change_the_plan_fingerprint() -> None:
    fingerprints = set()
    for fields in ({}, {"trigger": "10 seconds"}, {"trigger": "1 minute"}, {"read_options": {"startingVersion": 5}}, {"checkpoint": "/cp"}):
        app = make_app()
        declare(app, mode="streaming", **fields)
        fingerprints.add(app.plan(strategy="streaming").fingerprint)
    assert len(fingerprints) == 5


def test_streaming_table_defaults_and_checks() -> None:
    config = make_config({"streaming": {"default-trigger": "availableNow", "stop-timeout-seconds": 5}})
    assert config.streaming.default_trigger == "availableNow"
    assert config.streaming.stop_timeout_seconds == 5.0
    assert make_config().streaming.checkpoint_base == ".kindling/checkpoints"
    with pytest.raises(ConfigError) as caught:
        make_config({"streaming": {"default-trigger": "10 parsecs"}})
    assert "tool.kindling.streaming.default-trigger" in str(caught.value)
    assert TRIGGER_FORMS in str(caught.value)
    with pytest.raises(ConfigError, match="tool.kindling.streaming.stop-timeout-seconds"):
        make_config({"streaming": {"stop-timeout-seconds": 0}})


# ----------------------------------------------------------------------------- state machine


def test_compare_and_set_moves_only_from_an_expected_state() -> None:
    cell = StateCell()
    assert cell.move(QueryState.RUNNING, QueryState.STOPPING) is None
    assert cell.state is QueryState.PENDING
    assert cell.move(STARTABLE, QueryState.STARTING) is QueryState.PENDING
    assert cell.state is QueryState.STARTING


def test_a_move_the_table_forbids_is_an_error() -> None:
    cell = StateCell(QueryState.PENDING)
    with pytest.raises(IllegalTransitionError, match="from pending to running"):
        cell.move(QueryState.PENDING, QueryState.RUNNING)
    assert cell.state is QueryState.PENDING


def test_of_racing_threads_exactly_one_wins() -> None:
    cell = StateCell(QueryState.STOPPED)
    barrier = threading.Barrier(8)
    wins: list[QueryState | None] = []

    def race() -> None:
        barrier.wait()
        wins.append(cell.move(STARTABLE, QueryState.STARTING))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(w is not None for w in wins) == [False] * 7 + [True]
    assert cell.state is QueryState.STARTING


# ----------------------------------------------------------------------------- the app's session and manager


def test_sessions_kindling_builds_stop_queries_within_the_stop_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import kindling_core.spark.session as session

    built: list = []
    monkeypatch.setattr(session, "get_or_create_session", lambda settings: built.append(settings) or object())
    assert make_app(streaming={"stop-timeout-seconds": 2.5}).spark is not None
    (settings,) = built
    assert session.local_session_conf(settings)["spark.sql.streaming.stopTimeout"] == "2500ms"


def test_app_streams_is_one_lazy_manager_closed_with_the_app() -> None:
    app = make_app()
    streams = app.streams
    assert streams is app.streams and streams.status() == {}  # no streaming pipe, no Spark needed
    app.close()
    with pytest.raises(ManagerClosedError):
        streams.start()
