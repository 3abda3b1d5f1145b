"""tenant ownership: ownership rule proposals carry the tenant whose override section they change ('*': hub-wide)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Proposals made before this revision were hub-wide (whole policies): '*' is exactly what they were.
    with op.batch_alter_table("ownership_proposals") as batch:
        batch.add_column(sa.Column("tenant", sa.String(64), nullable=False, server_default="*"))
    op.create_index("ix_ownership_proposals_tenant_status", "ownership_proposals", ["tenant", "status"])


def downgrade() -> None:
    op.drop_index("ix_ownership_proposals_tenant_status", table_name="ownership_proposals")
    with op.batch_alter_table("ownership_proposals") as batch:
        batch.drop_column("tenant")
