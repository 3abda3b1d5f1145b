"""tenant mappings: mapping proposals and versions carry the tenant whose override they change (issue #8)

Existing rows are hub-wide ("*"). A version number is unique per (tenant, system, entity): a tenant's override
keeps its own history beside the hub-wide one.

Revision ID: 0011
Revises: 0010_governance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mapping_proposals") as batch_op:
        batch_op.add_column(sa.Column("tenant", sa.String(64), nullable=False, server_default="*"))
    with op.batch_alter_table("mapping_versions") as batch_op:
        batch_op.add_column(sa.Column("tenant", sa.String(64), nullable=False, server_default="*"))
        batch_op.drop_constraint("uq_mapping_version", type_="unique")
        batch_op.create_unique_constraint("uq_mapping_version", ["tenant", "system", "entity", "version"])


def downgrade() -> None:
    # The older schema has no place for a tenant's override history: its version numbers collide with the
    # hub-wide ones under the old unique key, and kept as hub-wide rows they would put one tenant's override in
    # force for everyone. They are dropped (the audit trail keeps who activated what); hub-wide rows stay.
    op.execute(sa.text("DELETE FROM mapping_versions WHERE tenant <> '*'"))
    op.execute(sa.text("DELETE FROM mapping_proposals WHERE tenant <> '*'"))
    with op.batch_alter_table("mapping_versions") as batch_op:
        batch_op.drop_constraint("uq_mapping_version", type_="unique")
        batch_op.create_unique_constraint("uq_mapping_version", ["system", "entity", "version"])
        batch_op.drop_column("tenant")
    with op.batch_alter_table("mapping_proposals") as batch_op:
        batch_op.drop_column("tenant")
