"""matching merge reconcile: reversible merges and changes held for a steward by the online duplicate check

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("survivor_id", sa.String(length=64), nullable=False),
        sa.Column("absorbed_id", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("merged_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("undone_at", sa.Float(), nullable=True),
        sa.Column("undone_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_merges_survivor", "merges", ["tenant", "survivor_id"])
    op.create_index("ix_merges_absorbed", "merges", ["tenant", "absorbed_id"])
    op.create_table(
        "held_changes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("review_id", sa.String(length=64), nullable=False),
        sa.Column("change_id", sa.String(length=64), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("released_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_held_external", "held_changes", ["tenant", "system", "entity", "external_id", "status"])
    op.create_index("ix_held_review", "held_changes", ["review_id"])
    op.create_table(
        "binding_tombstones",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "system", "entity", "canonical_id"),
    )


def downgrade() -> None:
    op.drop_table("binding_tombstones")
    op.drop_index("ix_held_review", table_name="held_changes")
    op.drop_index("ix_held_external", table_name="held_changes")
    op.drop_table("held_changes")
    op.drop_index("ix_merges_absorbed", table_name="merges")
    op.drop_index("ix_merges_survivor", table_name="merges")
    op.drop_table("merges")
