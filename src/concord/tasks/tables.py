"""The exception-task table (migration 0005), on the shared metadata of concord.storage.tables."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from concord.storage.tables import metadata

workflow_tasks = Table(
    "workflow_tasks", metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("workflow_id", String(255), nullable=False),
    Column("process", String(64), nullable=False),
    Column("step", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("kind", String(32), nullable=False),  # a TaskKind value (rejected, missing_data, residency, ...)
    Column("system", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("fields", Text, nullable=False),  # JSON list: the offending fields
    Column("correctable", Text, nullable=False),  # JSON list: the fields `resolve --set` may change
    Column("context", Text, nullable=False),  # JSON object: the data the step was given
    Column("correlation_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved | retried | cancelled
    Column("corrections", Text),  # JSON object
    Column("decided_by", String(128)),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
    UniqueConstraint("workflow_id", "step", "attempt", name="uq_workflow_task_step"),
    Index("ix_workflow_tasks_status", "tenant", "status", "created_at"),
    Index("ix_workflow_tasks_customer", "customer_id", "created_at"),
)
