"""governance: ownership rule proposals and activated ownership versions (issue #8)

Revision ID: 0010_governance
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_governance"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ownership_proposals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(128), nullable=False),
        sa.Column("proposed_at", sa.Float(), nullable=False),
        sa.Column("dry_run", sa.Text()),
        sa.Column("approved_by", sa.String(128)),
        sa.Column("approved_at", sa.Float()),
        sa.Column("activated_version", sa.Integer()),
        sa.Column("reason", sa.Text()),
    )
    op.create_index("ix_ownership_proposals_status", "ownership_proposals", ["status"])
    op.create_table(
        "ownership_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.String(64)),
        sa.Column("activated_by", sa.String(128), nullable=False),
        sa.Column("activated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ownership_versions")
    op.drop_index("ix_ownership_proposals_status", table_name="ownership_proposals")
    op.drop_table("ownership_proposals")
