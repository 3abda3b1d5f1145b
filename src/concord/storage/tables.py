"""The relational schema. Every row carries its tenant. JSON documents are stored as text (orjson)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# A column every new row leaves NULL: the batch INSERTs of the ingest path name only the other columns. Why: sqlite3
# binds a None parameter through its adapter protocol, whose failed attribute lookups raise and clear an
# AttributeError each time (~3,300 instructions per None; four per outbox row, ~3% of an ingested change).
NULL_AT_INSERT = {"null_at_insert": True}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for long-lived logs.
Seq = BigInteger().with_variant(Integer(), "sqlite")

golden_records = Table(
    "golden_records", metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("lifecycle_state", String(32)),
    Column("data", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_golden_tenant_entity", "tenant", "entity"),
)

bindings = Table(
    "bindings", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("system", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("last_sync_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("tenant", "system", "entity", "external_id", name="uq_binding_external"),
    Index("ix_binding_canonical", "canonical_id", "system"),
)

match_keys = Table(
    "match_keys", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("key", String(320), primary_key=True),
    Column("canonical_id", String(64), nullable=False),
    Index("ix_match_keys_canonical", "canonical_id"),
)

change_log = Table(
    "change_log", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("change_id", String(64), nullable=False, unique=True),
    Column("tenant", String(64), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("system", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("source_ts_us", BigInteger, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("mapping_version", String(64)),
    Column("status", String(16), nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("decision", Text, nullable=False),
    UniqueConstraint("tenant", "idempotency_key", name="uq_change_idempotency"),
    Index("ix_change_canonical", "canonical_id", "seq"),
    Index("ix_change_correlation", "correlation_id"),
)

outbox = Table(
    "outbox", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("tenant", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # event | command
    Column("type", String(64), nullable=False),
    Column("target", String(64), nullable=False),  # system for commands, topic for events
    Column("entity", String(32), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("causation_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    # Delivery state: empty when a message is queued (`NULL_AT_INSERT` leaves these out of the ingest's INSERT).
    Column("published_at", Float, info=NULL_AT_INSERT),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float, info=NULL_AT_INSERT),
    Column("failed_at", Float, info=NULL_AT_INSERT),
    Column("last_error", Text, info=NULL_AT_INSERT),
    Index("ix_outbox_unpublished", "published_at", "seq"),
    Index("ix_outbox_canonical", "canonical_id", "seq"),
)

approvals = Table(
    "approvals", metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("canonical_id", String(64), nullable=False),
    Column("field", String(128), nullable=False),
    Column("value", Text, nullable=False),
    Column("current", Text, nullable=False),
    Column("owner", String(32), nullable=False),
    Column("system", String(32), nullable=False),
    Column("source_ts_us", BigInteger, nullable=False),
    Column("change_id", String(64), nullable=False),
    Column("correlation_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("created_at", Float, nullable=False),
    Column("decided_by", String(128)),
    Column("decided_at", Float),
    Column("reason", Text),
    Index("ix_approvals_status", "tenant", "status"),
)

sync_cursors = Table(
    "sync_cursors", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("system", String(32), primary_key=True),
    Column("object", String(64), primary_key=True),
    Column("cursor", Text),
    Column("updated_at", Float, nullable=False),
)

# The newest source time capture assigned to each record (decision 079): a later change stamped in the same
# vendor second is placed just after it, so it wins the ownership gate.
capture_marks = Table(
    "capture_marks", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("system", String(32), primary_key=True),
    Column("object", String(64), primary_key=True),
    Column("external_id", String(255), primary_key=True),
    Column("source_ts_us", BigInteger, nullable=False),
)
