"""same-second capture: the newest source time capture assigned per record (decision 079)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capture_marks",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("external_id", sa.String(255), primary_key=True),
        sa.Column("source_ts_us", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("capture_marks")
