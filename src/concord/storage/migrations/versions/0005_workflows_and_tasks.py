"""workflows and tasks: the exception tasks durable workflows open when a system refuses their data

(The workflow state itself lives in DBOS's system database, which DBOS migrates on launch.)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_tasks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("correctable", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("corrections", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "step", "attempt", name="uq_workflow_task_step"),
    )
    op.create_index("ix_workflow_tasks_status", "workflow_tasks", ["tenant", "status", "created_at"])
    op.create_index("ix_workflow_tasks_customer", "workflow_tasks", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_workflow_tasks_customer", table_name="workflow_tasks")
    op.drop_index("ix_workflow_tasks_status", table_name="workflow_tasks")
    op.drop_table("workflow_tasks")
