"""The retail demo pipeline (the README's main job: ``kindling run``).

Thirteen pipes over Delta tables in a local folder (``$KINDLING_DEMO_ROOT``, default
``demo-output/lakehouse`` under the project root); :func:`build_app` makes a fresh app over
any folder (tests use it)::

    gen.customers ─> bronze.customers ─> silver.customers (merge, dimension) ─┬─> silver.orders_enriched ─┬─> gold.daily_sales
    gen.products  ─> bronze.products  ─> silver.products  (dimension) ───────┤                          ├─> gold.customer_ltv ─> gold.segment_summary
    gen.orders    ─> bronze.orders    ─> silver.orders    (merge, dedup) ─────┘                          └─> gold.product_performance
                         │
                         └~~> silver.order_events (stream ⋈ silver.customers) ~~> gold.revenue_events (stream ⋈ silver.products)

Fan-in: ``silver.orders_enriched`` joins orders, customers and products; fan-out: the
enriched orders feed three gold tables; ``silver.customers`` feeds both the enrichment and the
segment summary. Data is generated deterministically with Spark (fixed seeds), so row counts
are stable: 200 customers, 40 products, 6,000 order events for 5,000 distinct orders (1,000
late updates that the merge must resolve).

The streaming part (``~~>``): every order event streams from ``bronze.orders`` into
``silver.order_events`` (joined with the customers dimension, a static table) and on into
``gold.revenue_events`` (joined with the products dimension), each micro-batch appended
exactly once. ``kindling run`` runs the two streaming pipes bounded (what is available, then
stop); ``kindling stream`` runs them as long-running queries (a micro-batch every second),
``kindling stream --until-idle`` until they have caught up. Both share one checkpoint per pipe
(under ``_checkpoints/`` beside the tables), so neither processes an event the other already
did. ``gen.orders`` rewrites ``bronze.orders`` on every run; the streams skip those rewrites
(``skipChangeCommits``), so the events flow through once.
"""

from __future__ import annotations

import os
from pathlib import Path

from kindling_core import App

N_CUSTOMERS = 200
N_PRODUCTS = 40
N_ORDERS = 5_000
N_UPDATES = 1_000

def _spark():
    from pyspark.sql import SparkSession

    return SparkSession.active()  # the runner makes the app's session active on its thread


# --------------------------------------------------------------------------- bronze


def generate_customers():
    """Generate the customer master data (deterministic)."""
    from pyspark.sql import functions as F

    segments = F.array(F.lit("consumer"), F.lit("small-business"), F.lit("enterprise"))
    countries = F.array(*[F.lit(c) for c in ("NL", "DE", "FR", "US", "GB")])
    return _spark().range(1, N_CUSTOMERS + 1).select(
        F.col("id").alias("customer_id"),
        F.concat(F.lit("Customer "), F.col("id")).alias("name"),
        F.element_at(segments, (F.col("id") % 3 + 1).cast("int")).alias("segment"),
        F.element_at(countries, (F.col("id") % 5 + 1).cast("int")).alias("country"),
        F.upper(F.concat(F.lit(" c"), F.col("id"), F.lit("@Example.COM "))).alias("email_raw"),
    )


def generate_products():
    """Generate the product catalogue (deterministic)."""
    from pyspark.sql import functions as F

    categories = F.array(*[F.lit(c) for c in ("grocery", "garden", "toys", "books")])
    return _spark().range(1, N_PRODUCTS + 1).select(
        F.col("id").alias("product_id"),
        F.concat(F.lit("Product "), F.col("id")).alias("name"),
        F.element_at(categories, (F.col("id") % 4 + 1).cast("int")).alias("category"),
        F.round(F.lit(2.5) + (F.col("id") * 7 % 50), 2).cast("decimal(10,2)").alias("unit_price"),
    )


def generate_orders():
    """Generate order events: every order once, then late updates to 1,000 of them."""
    from pyspark.sql import functions as F

    spark = _spark()
    base = spark.range(1, N_ORDERS + 1).select(
        F.col("id").alias("order_id"),
        ((F.col("id") * 7919) % N_CUSTOMERS + 1).alias("customer_id"),
        ((F.col("id") * 104729) % N_PRODUCTS + 1).alias("product_id"),
        ((F.col("id") * 31) % 5 + 1).cast("int").alias("quantity"),
        F.date_add(F.lit("2026-01-01").cast("date"), (F.col("id") % 28).cast("int")).alias("order_date"),
        F.lit("placed").alias("status"),
        F.lit(1).alias("event_seq"),
    )
    updates = base.where(F.col("order_id") % (N_ORDERS // N_UPDATES) == 0).select(
        "order_id",
        "customer_id",
        "product_id",
        (F.col("quantity") + 1).alias("quantity"),
        "order_date",
        F.lit("amended").alias("status"),
        F.lit(2).alias("event_seq"),
    )
    return base.unionByName(updates)


# --------------------------------------------------------------------------- silver


def clean_customers(customers):
    """Normalise e-mail addresses; upsert on customer_id."""
    from pyspark.sql import functions as F

    return customers.select(
        "customer_id", "name", "segment", "country", F.lower(F.trim("email_raw")).alias("email")
    )


def clean_products(products):
    """Keep the catalogue as is (a small dimension, overwritten each run)."""
    return products


def latest_orders(orders):
    """Keep the latest event per order; upsert on order_id."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest = Window.partitionBy("order_id").orderBy(F.col("event_seq").desc())
    return (
        orders.withColumn("rank", F.row_number().over(latest))
        .where("rank = 1")
        .drop("rank", "event_seq")
    )


def enrich_orders(orders, customers, products):
    """Join orders with their customer and product; compute the line amount."""
    from pyspark.sql import functions as F

    return (
        orders.join(customers.select("customer_id", "segment", "country"), "customer_id")
        .join(products.select("product_id", "category", "unit_price"), "product_id")
        .withColumn("amount", (F.col("quantity") * F.col("unit_price")).cast("decimal(12,2)"))
    )


# --------------------------------------------------------------------------- gold


def daily_sales(enriched):
    """Revenue and order count per day."""
    from pyspark.sql import functions as F

    return enriched.groupBy("order_date").agg(
        F.sum("amount").alias("revenue"), F.countDistinct("order_id").alias("orders")
    )


def customer_ltv(enriched):
    """Lifetime value and order count per customer."""
    from pyspark.sql import functions as F

    return enriched.groupBy("customer_id", "segment").agg(
        F.sum("amount").alias("lifetime_value"), F.count("order_id").alias("orders")
    )


def product_performance(enriched, products):
    """Units and revenue per product, including products nobody bought."""
    from pyspark.sql import functions as F

    sold = enriched.groupBy("product_id").agg(F.sum("quantity").alias("units"), F.sum("amount").alias("revenue"))
    return products.join(sold, "product_id", "left").select(
        "product_id", "name", "category", F.coalesce("units", F.lit(0)).alias("units"),
        F.coalesce("revenue", F.lit(0).cast("decimal(22,2)")).alias("revenue"),
    )


def segment_summary(ltv, customers):
    """Average lifetime value and customer count per segment and country."""
    from pyspark.sql import functions as F

    return (
        ltv.join(customers.select("customer_id", "country"), "customer_id")
        .groupBy("segment", "country")
        .agg(F.avg("lifetime_value").cast("decimal(14,2)").alias("avg_ltv"), F.count("*").alias("customers"))
    )


# --------------------------------------------------------------------------- streaming


def stream_order_events(orders, customers):
    """Order events as they land in bronze, with the customer's segment and country."""
    return orders.join(customers.select("customer_id", "segment", "country"), "customer_id")


def stream_revenue_events(events, products):
    """Each order event's revenue, with the product's category."""
    from pyspark.sql import functions as F

    return events.join(products.select("product_id", "category", "unit_price"), "product_id").withColumn(
        "amount", (F.col("quantity") * F.col("unit_price")).cast("decimal(12,2)")
    )


#: Read options of the streamed inputs: skip the rewrites of bronze.orders by gen.orders
#: (a Delta stream fails on a commit that changes existing rows otherwise), and read at most
#: 16 files per micro-batch.
STREAM_READ_OPTIONS = {"skipChangeCommits": True, "maxFilesPerTrigger": 16}


# --------------------------------------------------------------------------- the app


def default_root(app: App) -> Path:
    """``$KINDLING_DEMO_ROOT``, else ``<project root>/demo-output/lakehouse``."""
    configured = os.environ.get("KINDLING_DEMO_ROOT")
    return Path(configured).resolve() if configured else app.config.root / "demo-output" / "lakehouse"


def declare(app: App, root: Path) -> App:
    """Declare the demo's entities (Delta tables under ``root``) and pipes on ``app``."""

    def path(entity_id: str) -> str:
        return str(root / entity_id.replace(".", "/"))

    for entity_id in ("bronze.customers", "bronze.products", "bronze.orders"):
        app.entity(entity_id, path=path(entity_id), tags=["bronze"])
    app.entity("silver.customers", path=path("silver.customers"), merge_keys=["customer_id"], kind="dimension", change_data_feed=True)
    app.entity("silver.products", path=path("silver.products"), merge_keys=["product_id"], kind="dimension")
    app.entity("silver.orders", path=path("silver.orders"), merge_keys=["order_id"], partition_by=["order_date"])
    for entity_id in (
        "silver.orders_enriched",
        "gold.daily_sales",
        "gold.customer_ltv",
        "gold.product_performance",
        "gold.segment_summary",
        "silver.order_events",
        "gold.revenue_events",
    ):
        app.entity(entity_id, path=path(entity_id))
    app.pipe("gen.customers", inputs=[], output="bronze.customers")(generate_customers)
    app.pipe("gen.products", inputs=[], output="bronze.products")(generate_products)
    app.pipe("gen.orders", inputs=[], output="bronze.orders")(generate_orders)
    app.pipe("silver.customers", inputs=["bronze.customers"], output="silver.customers", write="merge")(clean_customers)
    app.pipe("silver.products", inputs=["bronze.products"], output="silver.products")(clean_products)
    app.pipe("silver.orders", inputs=["bronze.orders"], output="silver.orders", write="merge")(latest_orders)
    app.pipe(
        "silver.orders_enriched", inputs=["silver.orders", "silver.customers", "silver.products"], output="silver.orders_enriched"
    )(enrich_orders)
    app.pipe("gold.daily_sales", inputs=["silver.orders_enriched"], output="gold.daily_sales")(daily_sales)
    app.pipe("gold.customer_ltv", inputs=["silver.orders_enriched"], output="gold.customer_ltv")(customer_ltv)
    app.pipe(
        "gold.product_performance", inputs=["silver.orders_enriched", "silver.products"], output="gold.product_performance"
    )(product_performance)
    app.pipe(
        "gold.segment_summary", inputs=["gold.customer_ltv", "silver.customers"], output="gold.segment_summary"
    )(segment_summary)
    streaming = {"mode": "streaming", "trigger": "1 second", "read_options": STREAM_READ_OPTIONS, "write": "append"}
    app.pipe(
        "silver.order_events",
        inputs=["bronze.orders", "silver.customers"],
        output="silver.order_events",
        dimensions=["silver.customers"],
        checkpoint=str(root / "_checkpoints" / "silver.order_events"),
        **streaming,
    )(stream_order_events)
    app.pipe(
        "gold.revenue_events",
        inputs=["silver.order_events", "silver.products"],
        output="gold.revenue_events",
        dimensions=["silver.products"],
        checkpoint=str(root / "_checkpoints" / "gold.revenue_events"),
        **streaming,
    )(stream_revenue_events)
    return app


def build_app(root: Path | None = None, **app_options: object) -> App:
    """A fresh demo app writing under ``root`` (default: :func:`default_root`)."""
    app = App("retail-demo", **app_options)  # type: ignore[arg-type]
    return declare(app, root or default_root(app))


#: The app ``kindling run`` uses (``tool.kindling.app = "examples.retail.pipeline:app"``).
app = build_app()
