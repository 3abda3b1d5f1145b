"""Tables of the event side (migration 0003): the embedded log, consumer offsets, the processed-event ledger,
parked (retrying / waiting) events, dead letters, replays, webhook deliveries and workflow signals."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from concord.storage.tables import Seq, metadata

event_log = Table(
    "event_log", metadata,
    Column("offset", Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("customer_key", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("envelope", Text, nullable=False),
    Column("appended_at", Float, nullable=False),
    UniqueConstraint("event_id", name="uq_event_log_event_id"),
    Index("ix_event_log_partition", "partition", "offset"),
    Index("ix_event_log_appended", "appended_at"),
)

event_offsets = Table(
    "event_offsets", metadata,
    Column("subscription", String(128), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("committed", BigInteger, nullable=False),
)

event_processed = Table(
    "event_processed", metadata,
    Column("subscription", String(128), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", Float, nullable=False),
)

event_parked = Table(
    "event_parked", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("subscription", String(128), nullable=False),
    Column("customer_key", String(128), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("envelope", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("not_before", Float, nullable=False),
    Column("last_error", Text),
    UniqueConstraint("subscription", "event_id", name="uq_event_parked"),
    Index("ix_event_parked_customer", "subscription", "customer_key", "id"),
)

event_dead_letters = Table(
    "event_dead_letters", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("subscription", String(128), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("customer_key", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("envelope", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=False),
    Column("failed_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # dead | retried | discarded
    Column("resolved_at", Float),
    UniqueConstraint("subscription", "event_id", name="uq_event_dead_letter"),
    Index("ix_event_dead_status", "status", "id"),
)

event_replays = Table(
    "event_replays", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("subscription", String(128), nullable=False),
    Column("start", String(64), nullable=False),
    Column("customer_key", String(128)),
    Column("type", String(64)),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("scanned", Integer, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("subscription", String(128), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float, nullable=False),
    Column("attempted_at", Float, nullable=False),
    Index("ix_webhook_event", "subscription", "event_id"),
)

workflow_signals = Table(
    "workflow_signals", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("workflow", String(128), nullable=False),
    Column("signal", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("customer_key", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("consumed_at", Float),
    UniqueConstraint("workflow", "event_id", name="uq_workflow_signal"),
)
