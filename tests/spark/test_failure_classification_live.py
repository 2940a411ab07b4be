"""Failure classification on live Spark failures: the exceptions pyspark raises, through
``FailureContext.of`` and the app's classifier chain (the fixture texts of
tests/core/test_failure_classification.py cover the other cases without Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.errors import AnalysisException, StreamingQueryException
from pyspark.sql import functions as F

from kindling_core.items import FailureContext, FailureKind
from kindling_core.recovery import classify_failure
from kindling_core.testing import make_app

pytestmark = pytest.mark.spark


def test_a_missing_table_is_permanent_by_its_error_class(spark) -> None:
    with pytest.raises(AnalysisException) as raised:
        spark.table("kindling_no_such_table").collect()

    context = FailureContext.of(raised.value, source="pipe", subject="silver.orders")
    app = make_app()
    decided = classify_failure(app.failure_classifiers(), context, app.errors)

    assert context.error_classes[0] == "TABLE_OR_VIEW_NOT_FOUND"  # getCondition(), outermost
    assert "JVM stacktrace:" in context.text  # pyspark keeps it; str() alone leaves it out
    assert (decided.kind, decided.classifier) == (FailureKind.PERMANENT, "spark-errors")
    assert "[TABLE_OR_VIEW_NOT_FOUND]" in decided.reason


def test_a_stream_udf_error_is_read_inside_stream_failed(spark, tmp_path: Path) -> None:
    source = str(tmp_path / "source")
    spark.range(3).write.format("delta").save(source)

    @F.udf("long")  # defined here, not at module level: workers would import this module
    def reject(value):  # no type hints: pyspark would try to read them as a pandas UDF
        raise ValueError(f"row {value} has no price")

    query = (
        spark.readStream.format("delta")
        .load(source)
        .select(reject("id").alias("id"))
        .writeStream.format("delta")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start(str(tmp_path / "sink"))
    )
    with pytest.raises(StreamingQueryException) as raised:
        query.awaitTermination(120)

    context = FailureContext.of(raised.value, source="stream", subject="priced")
    decided = classify_failure(make_app().failure_classifiers(), context)

    assert context.error_classes[0] == "STREAM_FAILED"
    assert any(line.startswith("ValueError: row") for line in context.python_errors)
    assert (decided.kind, decided.classifier) == (FailureKind.PERMANENT, "spark-errors")
    assert "ValueError: row" in decided.reason
