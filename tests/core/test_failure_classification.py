"""Failure classification: real Spark 4.x error texts through the built-in chain, the parsed
fields of a failure context, and ``[tool.kindling.failure-classifiers]`` patterns.

The texts in tests/fixtures/spark_errors/ were captured from real failures by
tests/fixtures/spark_errors/capture.py (``<case>.txt``: what ``FailureContext.of`` collects
from the exception Python sees; ``<case>.event.txt``: a ``QueryTerminatedEvent``'s
exception, as the stream manager receives it). No Spark runs here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kindling_core.config import load_config
from kindling_core.errors import ConfigError
from kindling_core.items import Classification, FailureClassifier, FailureContext, FailureKind
from kindling_core.recovery import classify_failure
from kindling_core.recovery.failure_text import collect_failure_text
from kindling_core.streaming.errors import StreamQueryFailedError
from kindling_core.testing import RecordingErrorHandler, ScriptedRunner, fail, make_app, plugin_from

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "spark_errors"

#: case -> (kind, what the reason must name)
EXPECTED: dict[str, tuple[FailureKind, str]] = {
    "stream_udf_value_error": (FailureKind.PERMANENT, "ValueError: bad row"),
    "stream_udf_connection_error": (FailureKind.TRANSIENT, "ConnectionError: lookup service unreachable"),
    "batch_table_not_found": (FailureKind.PERMANENT, "[TABLE_OR_VIEW_NOT_FOUND]"),
    "batch_delta_path_missing": (FailureKind.PERMANENT, "[PATH_NOT_FOUND]"),
    "batch_unresolved_column": (FailureKind.PERMANENT, "[UNRESOLVED_COLUMN.WITH_SUGGESTION]"),
    "stream_checkpoint_stateful_changed": (FailureKind.CHECKPOINT, "[STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA]"),
    "stream_checkpoint_other_source": (FailureKind.CHECKPOINT, "[DIFFERENT_DELTA_TABLE_READ_BY_STREAMING_SOURCE]"),
    "stream_checkpoint_corrupt": (FailureKind.CHECKPOINT, "JsonParseException at org.apache.spark.sql.execution.streaming"),
    "delta_concurrent_append": (FailureKind.CONFLICT, "[DELTA_CONCURRENT_APPEND.WITHOUT_HINT]"),
    "stream_delta_schema_changed": (FailureKind.TRANSIENT, "[DELTA_SCHEMA_CHANGED_WITH_VERSION]"),
}


class CapturedText(Exception):
    """Stands in for the exception a fixture was captured from: its str() is the text."""


def fixture_cases() -> list[str]:
    return sorted(path.name for path in FIXTURES.glob("*.txt"))


def context_of(fixture: str) -> FailureContext:
    """The failure context the fixture's failure reaches the chain with."""
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    case = fixture.split(".", 1)[0]
    if fixture.endswith(".event.txt"):  # the manager's stream failure carrying the event's text
        first, _, exception = text.partition("\n")
        error_class = first.removeprefix("errorClassOnException: ").strip()
        error: BaseException = StreamQueryFailedError(
            case, exception, pipe=case, error_class=None if error_class == "None" else error_class
        )
        return FailureContext.of(error, source="stream", subject=case)
    return FailureContext.of(CapturedText(text), source="stream" if case.startswith("stream") else "pipe", subject=case)


def test_every_case_has_its_fixtures() -> None:
    captured = {name.split(".", 1)[0] for name in fixture_cases()}
    assert captured == set(EXPECTED)
    streams = [case for case in EXPECTED if case.startswith("stream")]
    assert all((FIXTURES / f"{case}.event.txt").is_file() for case in streams)


@pytest.mark.parametrize("fixture", fixture_cases())
def test_real_spark_failures_are_classified_by_what_spark_says(fixture: str) -> None:
    app = make_app()
    kind, named = EXPECTED[fixture.split(".", 1)[0]]

    decided = classify_failure(app.failure_classifiers(), context_of(fixture), app.errors)

    assert (decided.kind, decided.classifier) == (kind, "spark-errors"), decided.reason
    assert named in decided.reason


def test_the_stream_wrapper_is_seen_through() -> None:
    context = context_of("stream_checkpoint_stateful_changed.txt")

    assert context.error_classes == ("STREAM_FAILED", "STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA")
    decided = classify_failure(make_app().failure_classifiers(), context)
    assert "inside [STREAM_FAILED]" in decided.reason


def test_a_udf_error_is_read_from_the_python_worker_traceback() -> None:
    context = context_of("stream_udf_connection_error.event.txt")

    assert context.python_errors == ("ConnectionError: lookup service unreachable: [Errno 111] Connection refused",)
    assert context.error_classes[-1] == "PYTHON_EXCEPTION"  # sometimes inside [TASK_WRITE_FAILED]


@pytest.mark.parametrize(
    ("text", "kind", "named"),
    [
        # an error class with no rule of its own: its SQLSTATE's class decides
        ("[ACME_BAD_INPUT] Column `qty` in [orders] is negative. SQLSTATE: 22003", FailureKind.PERMANENT, "SQLSTATE 22003"),
        # no error class: the innermost JVM exception decides
        (
            "StreamingQueryException: Query q terminated with exception: Job aborted\n"
            "Caused by: org.apache.spark.SparkException: Job aborted\n"
            "Caused by: java.net.SocketTimeoutException: Read timed out",
            FailureKind.TRANSIENT,
            "java.net.SocketTimeoutException",
        ),
        ("Caused by: io.delta.exceptions.ConcurrentDeleteReadException: a file was removed", FailureKind.CONFLICT, "ConcurrentDelete"),
        # a known class wins over a Python worker error further in
        (
            "[DELTA_METADATA_CHANGED] MetadataChangedException ... Traceback (most recent call last):\n"
            '  File "f.py", line 1, in f\nValueError: x',
            FailureKind.CONFLICT,
            "[DELTA_METADATA_CHANGED]",
        ),
        ("HTTP 429 Too Many Requests from the storage account", FailureKind.TRANSIENT, "'Too Many Requests'"),
    ],
)
def test_spark_errors_weighs_the_evidence_in_order(text: str, kind: FailureKind, named: str) -> None:
    decided = classify_failure(make_app().failure_classifiers(), FailureContext.of(CapturedText(text), source="pipe", subject="p"))

    assert (decided.kind, decided.classifier) == (kind, "spark-errors"), decided.reason
    assert named in decided.reason


def test_a_wrapper_alone_is_not_evidence() -> None:
    text = "[STREAM_FAILED] Query q terminated with exception: org.acme.Odd: no idea SQLSTATE: XXKST"

    decided = classify_failure(make_app().failure_classifiers(), FailureContext.of(CapturedText(text), source="stream", subject="q"))

    assert (decided.kind, decided.classifier) == (FailureKind.UNKNOWN, "generic")


# ----------------------------------------------------------------------------- the parsed text


class FakeCaptured(Exception):
    """Duck-types pyspark's captured exception: a condition, parameters, a JVM stack trace."""

    def __init__(self, message: str, condition: str | None, trace: str) -> None:
        super().__init__(message)
        self._stackTrace = trace
        self.condition = condition

    def getCondition(self) -> str | None:  # noqa: N802 - pyspark's name
        return self.condition

    def getMessageParameters(self) -> dict[str, str]:  # noqa: N802 - pyspark's name
        return {"relationName": "`lake`.`orders`"}


def test_the_text_holds_condition_parameters_and_jvm_stack_trace() -> None:
    trace = (
        "org.apache.spark.sql.streaming.StreamingQueryException: boom\n\tat org.apache.Foo.bar(Foo.scala:1)\n"
        "Caused by: java.net.SocketTimeoutException: Read timed out\n\tat java.net.Socket.read(Socket.java:1)"
    )
    error = FakeCaptured("Query q terminated", "STREAM_FAILED", trace)

    context = FailureContext.of(error, source="stream", subject="q")

    assert context.text.startswith("FakeCaptured: [STREAM_FAILED] Query q terminated")
    assert "relationName: `lake`.`orders`" in context.text
    assert context.causes == ("java.net.SocketTimeoutException: Read timed out",)
    assert context.error_classes == ("STREAM_FAILED",)


def test_a_broken_accessor_leaves_the_rest_of_the_text() -> None:
    class Broken(Exception):
        def getCondition(self) -> str:  # noqa: N802 - pyspark's name
            raise RuntimeError("the JVM is gone")

    assert collect_failure_text(Broken("lost")) == "Broken: lost"


def test_a_suppressed_context_is_not_part_of_the_chain() -> None:
    try:
        try:
            raise LookupError("py4j repeats the stack trace")
        except LookupError:
            raise CapturedText("[TABLE_OR_VIEW_NOT_FOUND] missing") from None
    except CapturedText as error:
        text = collect_failure_text(error)

    assert text == "CapturedText: [TABLE_OR_VIEW_NOT_FOUND] missing"


def test_parsed_fields_come_outermost_first_without_repeats() -> None:
    text = (
        "[STREAM_FAILED] terminated with exception: [PYTHON_EXCEPTION] Traceback (most recent call last):\n"
        '  File "udf.py", line 3, in f\n    raise KeyError(k)\nKeyError: \'sku\'\n'
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "udf.py", line 5, in f\n    raise socket.timeout()\nsocket.timeout: timed out\n'
        "[PYTHON_EXCEPTION] again\n"
        "Caused by: org.apache.spark.api.python.PythonException: [PYTHON_EXCEPTION] ...\n"
        "Caused by: java.net.ConnectException: Connection refused\n"
    )

    context = FailureContext(error=CapturedText(text), source="stream", subject="q", text=text)

    assert context.error_classes == ("STREAM_FAILED", "PYTHON_EXCEPTION")
    assert context.python_errors == ("KeyError: 'sku'", "socket.timeout: timed out")
    assert context.causes == (
        "org.apache.spark.api.python.PythonException: [PYTHON_EXCEPTION] ...",
        "java.net.ConnectException: Connection refused",
    )
    decided = classify_failure(make_app().failure_classifiers(), context)
    assert decided.kind is FailureKind.TRANSIENT  # the innermost worker error decides
    assert "socket.timeout" in decided.reason


def test_a_failed_stream_is_not_judged_by_its_own_type() -> None:
    error = StreamQueryFailedError("feed", "org.acme.OddException: nobody knows", pipe="feed")

    decided = classify_failure(make_app().failure_classifiers(), FailureContext.of(error, source="stream", subject="feed"))

    assert (decided.kind, decided.classifier) == (FailureKind.UNKNOWN, "generic")


# ----------------------------------------------------------------------------- patterns

QUOTA = "org.acme.QuotaException: ACME-429 quota exceeded for tenant 7"


def classify_with(config: dict, error: BaseException, plugins: dict | None = None) -> Classification:
    app = make_app(plugins, config={"failure-classifiers": config})
    return classify_failure(app.failure_classifiers(), FailureContext.of(error, source="pipe", subject="p"), app.errors)


def test_a_pattern_classifies_what_the_built_ins_cannot() -> None:
    error = CapturedText(QUOTA)
    assert classify_with({}, error).kind is FailureKind.UNKNOWN

    decided = classify_with({"transient": ["never matches", r"ACME-\d+ quota"]}, error)

    assert (decided.kind, decided.classifier) == (FailureKind.TRANSIENT, "patterns")
    assert decided.reason == "tool.kindling.failure-classifiers.transient[1] 'ACME-\\\\d+ quota' matched 'ACME-429 quota'"


def test_patterns_run_before_the_built_in_rules() -> None:
    text = (FIXTURES / "batch_table_not_found.txt").read_text(encoding="utf-8")

    decided = classify_with({"transient": [r"TABLE_OR_VIEW_NOT_FOUND\] The table or view `sales_missing`"]}, CapturedText(text))

    assert (decided.kind, decided.classifier) == (FailureKind.TRANSIENT, "patterns")


def test_the_more_cautious_kind_wins_when_patterns_of_two_kinds_match() -> None:
    decided = classify_with({"transient": ["quota"], "conflict": ["tenant"], "permanent": ["ACME-429"]}, CapturedText(QUOTA))

    assert decided.kind is FailureKind.PERMANENT
    assert decided.reason.startswith("tool.kindling.failure-classifiers.permanent[0]")


def acme_rule() -> dict[str, object]:
    def classify(context: FailureContext) -> Classification | None:
        return Classification(FailureKind.CONFLICT, "acme says so") if "ACME" in context.text else None

    rule = FailureClassifier(name="acme-rule", description="acme's own rule", classify=classify)
    return {"acme": plugin_from(kindling_failure_classifiers=lambda: [rule])}


def test_patterns_come_first_and_order_and_disable_still_apply() -> None:
    patterns = {"checkpoint": ["ACME"]}

    def chain(**config: object) -> tuple[str, ...]:
        return make_app(acme_rule(), config={"failure-classifiers": {**patterns, **config}}).registry.family("failure-classifiers").names()

    assert make_app(acme_rule()).registry.family("failure-classifiers").names() == ("acme-rule", "spark-errors", "generic")
    assert chain() == ("patterns", "acme-rule", "spark-errors", "generic")
    assert chain(order=["acme-rule", "..."]) == ("acme-rule", "patterns", "spark-errors", "generic")
    assert chain(disable=["patterns"]) == ("acme-rule", "spark-errors", "generic")
    assert classify_with(patterns, CapturedText(QUOTA), acme_rule()).classifier == "patterns"
    assert classify_with({**patterns, "order": ["acme-rule", "..."]}, CapturedText(QUOTA), acme_rule()).classifier == "acme-rule"
    assert classify_with({**patterns, "disable": ["patterns"]}, CapturedText(QUOTA), acme_rule()).classifier == "acme-rule"


def test_a_permanent_pattern_stops_batch_retries() -> None:
    recorder = RecordingErrorHandler()
    app = make_app({"recorder": recorder}, config={"failure-classifiers": {"permanent": ["API key revoked"]}})

    @app.pipe("fetch", inputs=[], output="raw.rates")
    def fetch() -> None:  # pragma: no cover - the scripted runner runs instead
        raise AssertionError

    runner = ScriptedRunner({"fetch": fail(ConnectionError("vendor says: API key revoked"))})
    outcome = app.run(runner=runner, max_retries=3).outcome("fetch")

    assert runner.calls == [("fetch", 1)]  # a ConnectionError alone would have been retried
    assert outcome.classification is not None and outcome.classification.classifier == "patterns"
    assert outcome.classification.kind is FailureKind.PERMANENT
    assert [event.context["classifier"] for event in recorder.events] == ["patterns"]


@pytest.mark.parametrize("kind", ["transient", "permanent", "checkpoint", "conflict"])
def test_a_bad_pattern_names_its_key_and_index(kind: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_app(config={"failure-classifiers": {kind: ["fine", "ACME-(429"]}})

    message = str(raised.value)
    assert message.startswith(f"tool.kindling.failure-classifiers.{kind}[1] must be a regular expression")
    assert "got 'ACME-(429'" in message and "missing ), unterminated subpattern" in message
    assert raised.value.path == f"tool.kindling.failure-classifiers.{kind}[1]"


def test_a_bad_pattern_in_pyproject_names_the_file(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.kindling.failure-classifiers]\nconflict = ['[DELTA_CONCURRENT']\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(pyproject)

    assert str(raised.value).startswith("tool.kindling.failure-classifiers.conflict[0] must be a regular expression")
    assert str(pyproject) in str(raised.value)
    assert "escape" in (raised.value.remedy or "")


def test_patterns_is_an_item_of_the_built_in_classifiers_plugin() -> None:
    registry = make_app(config={"failure-classifiers": {"conflict": ["ACME"]}}).registry

    assert registry.family("failure-classifiers").origin("patterns") == "classifiers"
    assert "patterns" in registry.plugin("classifiers").provides["failure-classifiers"]
