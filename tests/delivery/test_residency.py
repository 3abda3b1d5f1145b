"""Data residency: a tenant pinned to a region is delivered only to that region's endpoints; with no endpoint in
its region a command fails with a SyncFailed event naming the reason, and nothing is sent anywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import Engine, select

from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.residency import Residency, tenant_regions
from concord.delivery.store import DeliveryStore
from concord.hubconfig import HubConfig
from concord.ingest.service import IngestService
from concord.scale import connectors as scale_delivery
from concord.scale.settings import ScaleConfigError
from concord.storage import tables as t
from tests.delivery.memory_connector import MemorySystem
from tests.delivery.test_delivery import ingest_one


def _zendesk_endpoints() -> tuple[MemorySystem, MemorySystem]:
    return MemorySystem("zendesk", ("organizations",)), MemorySystem("zendesk", ("organizations",))


def _dispatcher(engine: Engine, default: MemorySystem, regions: dict[str, str],
                regional: dict[str, MemorySystem]) -> CommandDispatcher:
    return CommandDispatcher(DeliveryStore(engine), {"zendesk": default},
                             residency=Residency(regions, {"zendesk": dict(regional)}))


def test_pinned_tenant_goes_to_its_region_only(ingest: IngestService, engine: Engine) -> None:
    us, eu = _zendesk_endpoints()
    dispatcher = _dispatcher(engine, us, {"default": "eu"}, {"us": us, "eu": eu})
    ingest_one(ingest, "salesforce", "001A", {"Name": "Acme"})
    report = dispatcher.drain()
    assert (report.delivered, report.failed) == (1, 0)
    assert [op for op, _ in eu.log] == ["create"] and us.log == []


def test_no_endpoint_in_the_region_fails_with_sync_failed_and_sends_nothing(
        ingest: IngestService, engine: Engine) -> None:
    us, eu = _zendesk_endpoints()
    dispatcher = _dispatcher(engine, us, {"default": "ap"}, {"us": us, "eu": eu})
    cid = ingest_one(ingest, "salesforce", "001A", {"Name": "Acme"}).canonical_id
    report = dispatcher.drain()
    assert (report.delivered, report.failed) == (0, 1)
    assert us.log == [] and eu.log == []  # never sent to another region's endpoint
    with engine.connect() as conn:
        failed = conn.execute(select(t.outbox.c.last_error).where(t.outbox.c.failed_at.is_not(None))).scalar()
        event = conn.execute(select(t.outbox.c.payload).where(t.outbox.c.type == "SyncFailed")).scalar()
    assert failed is not None and "data residency" in failed and "'ap'" in failed
    data = orjson.loads(event)["data"]
    assert data["target_system"] == "zendesk" and data["canonical_id"] == cid and "region 'ap'" in data["error"]


def test_tenant_not_pinned_uses_the_default_endpoint(ingest: IngestService, engine: Engine) -> None:
    us, eu = _zendesk_endpoints()
    dispatcher = _dispatcher(engine, us, {"acme-eu": "eu"}, {"us": us, "eu": eu})
    ingest_one(ingest, "salesforce", "001A", {"Name": "Acme"})
    assert dispatcher.drain().delivered == 1 and [op for op, _ in us.log] == ["create"] and eu.log == []


def test_tenant_region_comes_from_concord_yaml() -> None:
    hub = HubConfig.model_validate({"systems": {"zendesk": {"kind": "support"}},
                                    "tenants": {"eu-co": {"systems": ["zendesk"], "region": "eu"},
                                                "anywhere": {"systems": ["zendesk"]}}})
    assert tenant_regions(hub.tenants) == {"eu-co": "eu"}


def test_connections_file_declares_endpoint_regions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    def fake(config: dict[str, Any], _store: object) -> MemorySystem:
        made.append(config)
        return MemorySystem(str(config["host"]), ("organizations",))

    monkeypatch.setitem(scale_delivery.BUILDERS, "zendesk", fake)
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": {"zendesk": {
        "connector": "zendesk", "region": "us", "config": {"host": "us.example"},
        "endpoints": [{"region": "eu", "config": {"host": "eu.example"}}]}}}))
    default, residency = scale_delivery.load_targets(path, tenant_regions={"eu-co": "eu"})
    assert isinstance(default["zendesk"], MemorySystem) and default["zendesk"].name == "us.example"
    chosen = residency.connector("eu-co", "zendesk", default)
    assert isinstance(chosen, MemorySystem) and chosen.name == "eu.example"
    path.write_text(yaml.safe_dump({"systems": {"zendesk": {
        "connector": "zendesk", "config": {"host": "x"}, "endpoints": [{"config": {"host": "y"}}]}}}))
    with pytest.raises(ScaleConfigError, match=r"endpoints\.0\.region"):
        scale_delivery.load_targets(path)


def test_every_endpoint_is_named_once_for_probes_and_headroom() -> None:
    """What /readyz probes, the headroom sampler watches and the runtimes close: each endpoint once, a regional
    one as `system@region`, the default under its system even when it also declares its region."""
    us, eu = _zendesk_endpoints()
    crm = MemorySystem("salesforce", ("Account",))
    residency = Residency({"eu-co": "eu"}, {"zendesk": {"us": us, "eu": eu}, "salesforce": {}})
    named = residency.named_endpoints({"zendesk": us, "salesforce": crm})
    assert named == {"zendesk": us, "zendesk@eu": eu, "salesforce": crm}
