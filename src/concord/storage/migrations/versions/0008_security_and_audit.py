"""security and audit: API keys, hash-chained audit log, encrypted secrets, mapping proposals and versions,
inbound webhook nonces

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32)),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float()),
        sa.Column("revoked_at", sa.Float()),
        sa.Column("replaced_by", sa.String(32)),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])
    op.create_table(
        "audit_log",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("customer", sa.String(64)),
        sa.Column("system", sa.String(32)),
        sa.Column("correlation_id", sa.String(128)),
        sa.Column("before", sa.Text()),
        sa.Column("after", sa.Text()),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("prev_hash", name="uq_audit_prev_hash"),
    )
    op.create_index("ix_audit_customer", "audit_log", ["customer", "seq"])
    op.create_index("ix_audit_actor", "audit_log", ["actor", "seq"])
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("master_key_id", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "mapping_proposals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(128), nullable=False),
        sa.Column("proposed_at", sa.Float(), nullable=False),
        sa.Column("dry_run", sa.Text()),
        sa.Column("approved_by", sa.String(128)),
        sa.Column("approved_at", sa.Float()),
        sa.Column("activated_version", sa.Integer()),
        sa.Column("reason", sa.Text()),
    )
    op.create_index("ix_mapping_proposals_status", "mapping_proposals", ["status"])
    op.create_table(
        "mapping_versions",
        sa.Column("id", Seq, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.String(64)),
        sa.Column("activated_by", sa.String(128), nullable=False),
        sa.Column("activated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("system", "entity", "version", name="uq_mapping_version"),
    )
    op.create_table(
        "webhook_nonces",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("seen_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_webhook_nonces_seen", "webhook_nonces", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_nonces_seen", table_name="webhook_nonces")
    op.drop_table("webhook_nonces")
    op.drop_table("mapping_versions")
    op.drop_index("ix_mapping_proposals_status", table_name="mapping_proposals")
    op.drop_table("mapping_proposals")
    op.drop_table("secrets")
    op.drop_index("ix_audit_actor", table_name="audit_log")
    op.drop_index("ix_audit_customer", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_table("api_keys")
