"""The ingest repository talks to the driver directly (decision 074); its errors must still be SQLAlchemy's, or
the writer would fail a batch it should retry (a write race with another process shows as IntegrityError)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from concord.canonical.golden import GoldenRecord
from concord.storage.repository import BatchWrites, IngestRepository


def _binding(canonical_id: str) -> dict[str, object]:
    now = time.time()
    return {"tenant": "default", "system": "salesforce", "entity": "account", "external_id": "001A",
            "canonical_id": canonical_id, "last_sync_at": now, "created_at": now}


def test_a_binding_race_is_an_integrity_error(engine: Engine) -> None:
    with engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(bindings=[_binding("cus-1")]))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(bindings=[_binding("cus-2")]))
    with engine.connect() as conn:
        assert IngestRepository(conn).bindings_by_canonical(["cus-1", "cus-2"]) == {"cus-1": {"salesforce": "001A"}}


def test_batch_writes_land_and_read_back(engine: Engine) -> None:
    record = GoldenRecord(tenant="default", entity="account", id="cus-1", version=1)
    keys = [{"tenant": "default", "entity": "account", "key": "domain:acme.com", "canonical_id": "cus-1"}]
    with engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(new_records=[record], bindings=[_binding("cus-1")], match_keys=keys))
    with engine.begin() as conn:  # a second writer of the same match key loses quietly; the first one stays
        IngestRepository(conn).write(BatchWrites(match_keys=[{**keys[0], "canonical_id": "cus-9"}]))
    with engine.connect() as conn:
        repo = IngestRepository(conn)
        assert repo.golden(["cus-1"])["cus-1"].version == 1
        assert repo.bindings_by_external([("default", "salesforce", "account", "001A")]) == {
            ("default", "salesforce", "account", "001A"): "cus-1"}
        assert repo.match_keys("default", "account", ["domain:acme.com"]) == {"domain:acme.com": "cus-1"}
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the same new record twice: a race, retried
        IngestRepository(conn).write(BatchWrites(new_records=[record]))
