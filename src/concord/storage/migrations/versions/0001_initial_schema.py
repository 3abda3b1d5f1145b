"""initial schema

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approvals',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('canonical_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=128), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('current', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=32), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('source_ts_us', sa.BigInteger(), nullable=False),
    sa.Column('change_id', sa.String(length=64), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', sa.Float(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index('ix_approvals_status', ['tenant', 'status'], unique=False)

    op.create_table('bindings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('canonical_id', sa.String(length=64), nullable=False),
    sa.Column('last_sync_at', sa.Float(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'system', 'entity', 'external_id', name='uq_binding_external')
    )
    with op.batch_alter_table('bindings', schema=None) as batch_op:
        batch_op.create_index('ix_binding_canonical', ['canonical_id', 'system'], unique=False)

    op.create_table('change_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('change_id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('canonical_id', sa.String(length=64), nullable=False),
    sa.Column('source_ts_us', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.Float(), nullable=False),
    sa.Column('mapping_version', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('change_id'),
    sa.UniqueConstraint('tenant', 'idempotency_key', name='uq_change_idempotency')
    )
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.create_index('ix_change_canonical', ['canonical_id', 'seq'], unique=False)
        batch_op.create_index('ix_change_correlation', ['correlation_id'], unique=False)

    op.create_table('golden_records',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('lifecycle_state', sa.String(length=32), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('golden_records', schema=None) as batch_op:
        batch_op.create_index('ix_golden_tenant_entity', ['tenant', 'entity'], unique=False)

    op.create_table('match_keys',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('canonical_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'entity', 'key')
    )
    with op.batch_alter_table('match_keys', schema=None) as batch_op:
        batch_op.create_index('ix_match_keys_canonical', ['canonical_id'], unique=False)

    op.create_table('outbox',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('canonical_id', sa.String(length=64), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('causation_id', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('published_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_canonical', ['canonical_id', 'seq'], unique=False)
        batch_op.create_index('ix_outbox_unpublished', ['published_at', 'seq'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_unpublished')
        batch_op.drop_index('ix_outbox_canonical')

    op.drop_table('outbox')
    with op.batch_alter_table('match_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_match_keys_canonical')

    op.drop_table('match_keys')
    with op.batch_alter_table('golden_records', schema=None) as batch_op:
        batch_op.drop_index('ix_golden_tenant_entity')

    op.drop_table('golden_records')
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.drop_index('ix_change_correlation')
        batch_op.drop_index('ix_change_canonical')

    op.drop_table('change_log')
    with op.batch_alter_table('bindings', schema=None) as batch_op:
        batch_op.drop_index('ix_binding_canonical')

    op.drop_table('bindings')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_approvals_status')

    op.drop_table('approvals')
