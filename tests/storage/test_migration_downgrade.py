"""Downgrading past the tenant-aware mapping history (0011) works with tenant overrides present, keeps the
hub-wide history, and the schema upgrades again cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, func, select

from concord.security.tables import mapping_versions
from concord.storage.engine import alembic_config, upgrade


def _version(tenant: str, number: int) -> dict[str, object]:
    return {"system": "salesforce", "entity": "account", "version": number, "spec": "{}", "proposal_id": None,
            "activated_by": "alice", "activated_at": 1.0, "tenant": tenant}


def test_downgrade_below_tenant_mappings_drops_only_tenant_history(engine: Engine) -> None:
    with engine.begin() as conn:  # the same version numbers for the hub and a tenant: legal since 0011
        conn.execute(mapping_versions.insert(), [_version("*", 1), _version("*", 2), _version("acme-eu", 1),
                                                 _version("acme-eu", 2)])
    command.downgrade(alembic_config(engine), "0010_governance")
    with engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version FROM mapping_versions ORDER BY version").scalars().all()
    assert versions == [1, 2]  # the hub-wide history survives; the tenant's could not be kept
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(mapping_versions)
                            .where(mapping_versions.c.tenant == "*")).scalar_one() == 2
