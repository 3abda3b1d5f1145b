"""Issue #8: every table of the migrated database carries a tenant column, or is listed with its reason."""

from __future__ import annotations

from sqlalchemy import Engine, text

from concord.storage.tenancy import TENANT_LESS, stale_exemptions, untenanted


def test_every_table_has_a_tenant_column_or_a_stated_reason(engine: Engine) -> None:
    assert untenanted(engine) == []
    assert stale_exemptions(engine) == []  # the list names only real tables that still lack the column
    assert all(len(reason) > 20 for reason in TENANT_LESS.values())


def test_a_new_table_without_a_tenant_is_caught(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customer_notes (id INTEGER PRIMARY KEY, body TEXT)"))
    assert untenanted(engine) == ["customer_notes"]
