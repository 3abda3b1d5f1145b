"""Storage adapters: SQLAlchemy tables, Alembic migrations and repositories — the only place SQL lives."""
