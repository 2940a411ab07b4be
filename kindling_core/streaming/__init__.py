"""Long-running Structured Streaming queries, without pyspark.

The Spark-facing side (the listener bridge, the query driver, the exactly-once sink) lives in
:mod:`kindling_core.spark`; this package holds what can be reasoned about and tested without
Spark: the frozen copies of listener events, the event queue, the per-query state machines,
status snapshots, the query manager and its watchdog.
"""
