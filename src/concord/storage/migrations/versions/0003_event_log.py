"""event log, consumer offsets, processed-event ledger, parked events, dead letters, replays, webhooks, signals

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for long-lived logs.
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'event_log',
        sa.Column('offset', Seq, nullable=False, autoincrement=True),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('customer_key', sa.String(length=128), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('envelope', sa.Text(), nullable=False),
        sa.Column('appended_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('offset'),
        sa.UniqueConstraint('event_id', name='uq_event_log_event_id'),
    )
    op.create_index('ix_event_log_partition', 'event_log', ['partition', 'offset'], unique=False)
    op.create_index('ix_event_log_appended', 'event_log', ['appended_at'], unique=False)
    op.create_table(
        'event_offsets',
        sa.Column('subscription', sa.String(length=128), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('committed', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('subscription', 'partition'),
    )
    op.create_table(
        'event_processed',
        sa.Column('subscription', sa.String(length=128), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('processed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('subscription', 'event_id'),
    )
    op.create_table(
        'event_parked',
        sa.Column('id', Seq, nullable=False, autoincrement=True),
        sa.Column('subscription', sa.String(length=128), nullable=False),
        sa.Column('customer_key', sa.String(length=128), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('envelope', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('not_before', sa.Float(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription', 'event_id', name='uq_event_parked'),
    )
    op.create_index('ix_event_parked_customer', 'event_parked', ['subscription', 'customer_key', 'id'], unique=False)
    op.create_table(
        'event_dead_letters',
        sa.Column('id', Seq, nullable=False, autoincrement=True),
        sa.Column('subscription', sa.String(length=128), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('customer_key', sa.String(length=128), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('envelope', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('failed_at', sa.Float(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('resolved_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription', 'event_id', name='uq_event_dead_letter'),
    )
    op.create_index('ix_event_dead_status', 'event_dead_letters', ['status', 'id'], unique=False)
    op.create_table(
        'event_replays',
        sa.Column('id', Seq, nullable=False, autoincrement=True),
        sa.Column('subscription', sa.String(length=128), nullable=False),
        sa.Column('start', sa.String(length=64), nullable=False),
        sa.Column('customer_key', sa.String(length=128), nullable=True),
        sa.Column('type', sa.String(length=64), nullable=True),
        sa.Column('started_at', sa.Float(), nullable=False),
        sa.Column('finished_at', sa.Float(), nullable=True),
        sa.Column('scanned', sa.Integer(), nullable=False),
        sa.Column('delivered', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', Seq, nullable=False, autoincrement=True),
        sa.Column('subscription', sa.String(length=128), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Float(), nullable=False),
        sa.Column('attempted_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhook_event', 'webhook_deliveries', ['subscription', 'event_id'], unique=False)
    op.create_table(
        'workflow_signals',
        sa.Column('id', Seq, nullable=False, autoincrement=True),
        sa.Column('workflow', sa.String(length=128), nullable=False),
        sa.Column('signal', sa.String(length=64), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('customer_key', sa.String(length=128), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('consumed_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workflow', 'event_id', name='uq_workflow_signal'),
    )


def downgrade() -> None:
    for name in ("workflow_signals", "webhook_deliveries", "event_replays", "event_dead_letters", "event_parked",
                 "event_processed", "event_offsets", "event_log"):
        op.drop_table(name)
