"""Which tables carry a tenant (issue #8: "every table carries the tenant"), checked against the migrated
database itself, so a new table without a `tenant` column fails the test until it gets one or is listed
here with the reason it belongs to no single tenant.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

TENANT_COLUMN = "tenant"

# Table → why it has no tenant column. Keep each reason honest: "hub-wide" must mean the rows describe the hub
# (its configuration, its consumers, its workers), not customer data of some tenant.
TENANT_LESS: dict[str, str] = {
    "alembic_version": "the schema version of the whole database",
    # Event delivery state is per subscription, and one subscription consumes every tenant's events in order;
    # the events themselves (event_log) carry the tenant, and so does each stored envelope below.
    "event_offsets": "consumer position per (subscription, partition): hub-wide bookkeeping",
    "event_processed": "which event ids a subscription has handled (idempotency ledger); no payload",
    "event_parked": "events waiting for a retry; the tenant is inside the stored envelope",
    "event_dead_letters": "events a subscriber gave up on; the tenant is inside the stored envelope",
    "event_replays": "replay runs of a subscription, started by a hub operator",
    "webhook_deliveries": "attempts to call a subscription's webhook URL; no payload stored",
    "webhook_nonces": "replay protection for inbound webhooks per source system; no payload",
    # mapping_proposals and mapping_versions carry a tenant since 0011: "*" for the hub-wide specs, else the
    # tenant whose override they change (decision 071), so they need no exemption; ownership_proposals too
    # since 0012 (decision 073). One ownership policy document serves the hub (tenant overrides are sections).
    # capture_marks (0013, decision 079) carries the tenant: marks are per (tenant, system, object, record).
    "ownership_versions": "activated versions of the hub-wide ownership rules",
    "secrets": "connector credentials of the hub's configured systems, envelope-encrypted",
    "ops_watermarks": "positions of the operations projector over the source tables",
    "scale_settings": "the partition count of the scale-out deployment",
    "scale_leases": "which worker owns which partition; partitions mix tenants",
    "scale_workers": "live worker processes",
}


def tables_of(engine: Engine) -> dict[str, set[str]]:
    """Every table of the database with its column names."""
    inspector = inspect(engine)
    return {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}


def untenanted(engine: Engine) -> list[str]:
    """Tables without a tenant column and without a reason to have none: should be empty."""
    return sorted(name for name, columns in tables_of(engine).items()
                  if TENANT_COLUMN not in columns and name not in TENANT_LESS)


def stale_exemptions(engine: Engine) -> list[str]:
    """Listed exemptions that no longer apply (the table is gone, or now has a tenant column)."""
    tables = tables_of(engine)
    return sorted(name for name in TENANT_LESS if name not in tables or TENANT_COLUMN in tables[name])
