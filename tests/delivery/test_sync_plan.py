"""Capture configuration as data (decision 078): each `capture:` entry is checked at start-up against the hub's
entities, the mapping set and the connector's capabilities, and a problem names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from concord.api.serving import create_serving_app
from concord.connectors.base import Capabilities, Connector
from concord.delivery.loop import CaptureSpec, SyncLoop
from concord.delivery.residency import Residency
from concord.delivery.store import DeliveryStore
from concord.delivery.sync_plan import plan_captures
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.settings import Settings
from concord.workflows.connections import Targets, read_connections
from concord.yamlconf import ConfigError
from tests.delivery.memory_connector import MemorySystem

PATH = Path("systems.yaml")


def _doc(system: str, *captures: dict[str, object]) -> dict[str, object]:
    return {"systems": {system: {"connector": system, "capture": list(captures)}}}


def _plan(runtime: Runtime, system: str, connector: Connector, *captures: dict[str, object],
          residency: Residency | None = None) -> list[CaptureSpec]:
    return plan_captures(_doc(system, *captures), PATH, runtime, Targets({system: connector}, residency or Residency()))


def test_a_valid_capture_is_planned_with_its_schedule(runtime: Runtime) -> None:
    sf = MemorySystem("salesforce", ("Account",))
    planned = _plan(runtime, "salesforce", sf, {"object": "Account", "entity": "account", "every_s": 0.5})
    assert planned == [CaptureSpec("salesforce", "Account", "account", "default", 0.5)]
    assert _plan(runtime, "salesforce", sf) == []  # no capture: nothing polled


def test_a_connector_without_an_incremental_cursor_is_refused(runtime: Runtime) -> None:
    sf = MemorySystem("salesforce", ("Account",))
    sf.capabilities = Capabilities(objects=("Account",))  # cursor_field None: nothing to capture with
    with pytest.raises(ConfigError, match=r"systems\.yaml: systems\.salesforce\.capture\[0\]\.object: .*cursor"):
        _plan(runtime, "salesforce", sf, {"object": "Account", "entity": "account"})


def test_an_entity_without_a_mapping_for_the_system_is_refused(runtime: Runtime) -> None:
    zendesk = MemorySystem("zendesk", ("organizations",))
    with pytest.raises(ConfigError, match=r"systems\.zendesk\.capture\[1\]\.entity: .*no mapping"):
        _plan(runtime, "zendesk", zendesk, {"object": "organizations", "entity": "account"},
              {"object": "organizations", "entity": "invoice"})


def test_an_object_the_connector_does_not_serve_is_refused(runtime: Runtime) -> None:
    sf = MemorySystem("salesforce", ("Account",))
    with pytest.raises(ConfigError, match=r"systems\.salesforce\.capture\[0\]\.object: 'Acount'"):
        _plan(runtime, "salesforce", sf, {"object": "Acount", "entity": "account"})


def test_a_pinned_tenant_is_captured_from_its_region_only(runtime: Runtime, engine: Engine,
                                                          ingest: IngestService) -> None:
    eu, us = MemorySystem("salesforce", ("Account",)), MemorySystem("salesforce", ("Account",))
    pinned = Residency({"default": "us"}, {"salesforce": {"eu": eu, "us": us}})
    planned = _plan(runtime, "salesforce", eu, {"object": "Account", "entity": "account"}, residency=pinned)
    loop = SyncLoop(DeliveryStore(engine), ingest, {"salesforce": eu}, planned, pinned)
    assert [p.connector for p in loop.pollers] == [us]  # never the default (EU) endpoint, which holds others' data
    nowhere = Residency({"default": "ap"}, {"salesforce": {"eu": eu, "us": us}})
    with pytest.raises(ConfigError, match=r"systems\.salesforce\.capture\[0\]\.tenant: .*region 'ap'"):
        _plan(runtime, "salesforce", eu, {"object": "Account", "entity": "account"}, residency=nowhere)


def test_a_capture_for_an_unknown_tenant_is_refused(runtime: Runtime) -> None:
    sf = MemorySystem("salesforce", ("Account",))
    with pytest.raises(ConfigError, match=r"systems\.salesforce\.capture\[0\]\.tenant: unknown tenant 'nobody'"):
        _plan(runtime, "salesforce", sf, {"object": "Account", "entity": "account", "tenant": "nobody"})


def _file(tmp_path: Path, capture: str) -> Path:
    path = tmp_path / "systems.yaml"
    path.write_text("systems:\n  salesforce:\n    connector: salesforce\n    config:\n"
                    "      login_url: http://127.0.0.1:9\n      client_id: cid\n      client_secret: secret-value\n"
                    f"    capture:\n{capture}", encoding="utf-8")
    return path


def test_an_unknown_entity_is_named_with_file_and_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "      - {object: Account, entity: acount, every_s: 5}\n")
    with pytest.raises(ConfigError) as caught:
        read_connections(path)
    assert "systems.yaml" in str(caught.value) and "systems.salesforce.capture[0].entity" in str(caught.value)
    assert "acount" in str(caught.value)


def test_a_bad_schedule_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"capture\[0\]\.every_s"):
        read_connections(_file(tmp_path, "      - {object: Account, entity: account, every_s: 0}\n"))


def test_serve_plans_the_loop_only_when_sync_is_on_and_not_in_scale_mode(runtime: Runtime, tmp_path: Path) -> None:
    path = _file(tmp_path, "      - {object: Acount, entity: account}\n")  # refused when the loop is planned
    base = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", connections=path)
    with pytest.raises(ConfigError, match=r"systems\.yaml:9: systems\.salesforce\.capture\[0\]\.object"):
        create_serving_app(base, runtime)
    create_serving_app(base.model_copy(update={"sync": False}), runtime)  # --no-sync: no loop, nothing checked
    create_serving_app(base.model_copy(update={"scale": True}), runtime)  # scale workers own delivery


def _feed_doc(**entry: object) -> dict[str, object]:
    capture = [{"object": "invoice", "entity": "invoice", "every_s": 60}]
    return {"systems": {"billing_invoices": {"connector": "stripe_invoices", "capture": capture, **entry}}}


def test_a_feed_entry_is_captured_as_the_system_it_names(runtime: Runtime) -> None:
    feed = MemorySystem("stripe", ("invoice",))
    targets = Targets({"billing_invoices": feed}, Residency())
    planned = plan_captures(_feed_doc(system="stripe"), PATH, runtime, targets)
    # read (and its cursor kept) as the entry, mapped and bound as Stripe's records
    assert planned == [CaptureSpec("billing_invoices", "invoice", "invoice", "default", 60.0, ingest_as="stripe")]
    with pytest.raises(ConfigError, match=r"billing_invoices\.capture\[0\]\.entity: .*no mapping for system "
                                          r"'billing_invoices'.*says `system:`"):
        plan_captures(_feed_doc(), PATH, runtime, targets)
