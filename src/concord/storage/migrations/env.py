"""Alembic environment: runs against the engine Concord passes in (never a URL from an ini file)."""

from __future__ import annotations

from alembic import context

from concord.storage.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
