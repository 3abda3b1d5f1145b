"""Tables of migration 0007: per-minute series for the dashboard, projection watermarks, customer links and
customer names for search.

All three are projections of the change log and the outbox, rebuilt incrementally by `OpsProjector`; losing
them loses no data (they can be dropped and rebuilt from seq 0).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, String, Table

from concord.storage.tables import metadata

ops_series = Table(
    "ops_series", metadata,
    Column("bucket", BigInteger, primary_key=True),  # epoch seconds, start of the minute
    Column("tenant", String(64), primary_key=True),
    Column("system", String(64), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("value", Float, nullable=False),
    Index("ix_ops_series_metric", "metric", "bucket"),
)

ops_watermarks = Table(
    "ops_watermarks", metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

ops_customer_names = Table(
    "ops_customer_names", metadata,
    Column("canonical_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("search", String(600), nullable=False),  # name and legal name, lower-cased
    Index("ix_ops_names_tenant", "tenant"),
)

ops_customer_links = Table(
    "ops_customer_links", metadata,
    Column("canonical_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Index("ix_ops_links_account", "account_id", "entity"),
)
