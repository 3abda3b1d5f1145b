"""operations and observability: dashboard series, projection watermarks, customer links and names (issue #7)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_series",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "tenant", "system", "metric"),
    )
    op.create_index("ix_ops_series_metric", "ops_series", ["metric", "bucket"])
    op.create_table(
        "ops_watermarks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "ops_customer_links",
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("canonical_id"),
    )
    op.create_index("ix_ops_links_account", "ops_customer_links", ["account_id", "entity"])
    op.create_table(
        "ops_customer_names",
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("search", sa.String(length=600), nullable=False),
        sa.PrimaryKeyConstraint("canonical_id"),
    )
    op.create_index("ix_ops_names_tenant", "ops_customer_names", ["tenant"])


def downgrade() -> None:
    op.drop_index("ix_ops_names_tenant", table_name="ops_customer_names")
    op.drop_table("ops_customer_names")
    op.drop_index("ix_ops_links_account", table_name="ops_customer_links")
    op.drop_table("ops_customer_links")
    op.drop_table("ops_watermarks")
    op.drop_index("ix_ops_series_metric", table_name="ops_series")
    op.drop_table("ops_series")
