"""events.yaml: validation with file:line errors, predicates, and the subscribers it wires."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from concord.events import tables as t
from concord.events.envelope import EventEnvelope
from concord.events.hub import MissingSecret, build_runners
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from concord.events.replay import replay
from concord.events.routing import RoutingConfig, load_routing, matches
from concord.storage import tables as st
from concord.yamlconf import ConfigError, validate_yaml
from tests.events.support import changed

TYPES = set(SchemaRegistry.default().types())


def config(text: str) -> RoutingConfig:
    return validate_yaml(RoutingConfig, text, "events.yaml", context={"event_types": TYPES})


def milestone(event_type: str, field: str, after: str, tenant: str = "default") -> EventEnvelope:
    base = changed("c1", 0, tenant=tenant)
    return base.model_copy(update={"type": event_type, "data": {
        "entity": "account", "canonical_id": "c1", "source_system": "tryton", "field": field, "before": None,
        "after": after}})


def test_the_bundled_default_loads() -> None:
    routing = load_routing(None, TYPES)
    assert {"onboarding-signals", "credit-signals", "analytics"} <= set(routing.subscriptions)


def test_errors_name_file_line_and_field() -> None:
    text = ("subscriptions:\n"
            "  a:\n"
            "    events: [CustomerCreated, CustomerTeleported]\n"
            "    subscriber: {kind: workflow_signal, workflow: w, signal: s}\n"
            "  b:\n"
            "    events: ['*']\n"
            "    subscriber: {kind: webhook, url: 'not a url', secret_env: KEY}\n")
    with pytest.raises(ConfigError) as info:
        config(text)
    problems = info.value.problems
    assert any(p.startswith("events.yaml:3: subscriptions.a.events[1]: unknown event type 'CustomerTeleported'")
               for p in problems), problems
    assert any(p.startswith("events.yaml:7: subscriptions.b.subscriber.webhook.url") for p in problems), problems


def test_predicates_on_tenant_region_lifecycle_state_and_changed_fields() -> None:
    routing = config("subscriptions:\n"
                     "  eu-holds:\n"
                     "    events: [CreditHoldApplied, CustomerUpdated]\n"
                     "    where: {tenants: [acme-eu], lifecycle_states: [credit_hold]}\n"
                     "    subscriber: {kind: workflow_signal, workflow: w, signal: s}\n"
                     "  regional:\n"
                     "    events: ['*']\n"
                     "    where: {regions: [EU], changed_fields: [tax_profile.region, name]}\n"
                     "    subscriber: {kind: workflow_signal, workflow: w, signal: s}\n")
    holds, regional = routing.subscriptions["eu-holds"], routing.subscriptions["regional"]
    assert matches(holds, milestone("CreditHoldApplied", "lifecycle_state", "credit_hold", "acme-eu"))
    assert not matches(holds, milestone("CreditHoldApplied", "lifecycle_state", "credit_hold", "default"))
    assert not matches(holds, milestone("AccountClosed", "lifecycle_state", "closed", "acme-eu"))
    eu = changed("c1", 0, fields={"tax_profile.region": "EU"})
    assert matches(regional, eu)
    assert not matches(regional, changed("c1", 0, fields={"tax_profile.region": "US-CA"}))
    assert not matches(regional, changed("c1", 0, fields={"name": "Acme"}))  # region unknown: no match


def test_connector_command_and_workflow_signal_subscribers_act_once(engine: Engine) -> None:
    from concord.events.embedded import EmbeddedLog

    registry = SchemaRegistry.default()
    routing = config("subscriptions:\n"
                     "  erp-hold:\n"
                     "    events: [CreditHoldApplied]\n"
                     "    subscriber: {kind: connector_command, system: tryton, object: party,\n"
                     "                 fields: {credit_hold: data.after, note: data.field}}\n"
                     "  credit:\n"
                     "    events: [CreditHoldApplied]\n"
                     "    subscriber: {kind: workflow_signal, workflow: credit, signal: hold}\n")
    log = EmbeddedLog(engine, partitions=4)
    event = milestone("CreditHoldApplied", "lifecycle_state", "credit_hold")
    publish(log, registry, [event, changed("c1", 1)])
    with httpx.Client() as http:
        runners = build_runners(routing, log, engine, registry, http, environ={})
        for runner in runners.values():
            assert runner.drain().processed == 1
            assert replay(runner, 1).delivered == 1  # replays are harmless
    o = st.outbox.c
    with engine.connect() as conn:
        commands = conn.execute(select(o.target, o.payload, o.causation_id).where(o.kind == "command")).all()
        signals = conn.execute(select(t.workflow_signals.c.workflow, t.workflow_signals.c.event_id)).all()
    assert len(commands) == 1 and commands[0].target == "tryton" and commands[0].causation_id == event.event_id
    assert '"fields":{"credit_hold":"credit_hold","note":"lifecycle_state"}' in commands[0].payload
    assert [tuple(s) for s in signals] == [("credit", event.event_id)]


def test_a_webhook_without_its_secret_is_refused(engine: Engine) -> None:
    from concord.events.embedded import EmbeddedLog

    routing = config("subscriptions:\n  hook:\n    events: ['*']\n"
                     "    subscriber: {kind: webhook, url: 'https://example.com/h', secret_env: HOOK_KEY}\n")
    with httpx.Client() as http, pytest.raises(MissingSecret, match="HOOK_KEY is not set"):
        build_runners(routing, EmbeddedLog(engine), engine, SchemaRegistry.default(), http, environ={})


def test_config_dir_events_yaml_overrides_the_default(tmp_path: Path) -> None:
    (tmp_path / "events.yaml").write_text("subscriptions: {}\n")
    assert load_routing(tmp_path, TYPES).subscriptions == {}


def _deal(stage: str, source: str = "salesforce", event_type: str = "ContractUpdated") -> EventEnvelope:
    base = changed("acct-1", 0)
    return base.model_copy(update={"type": event_type, "data": {
        "entity": "contract", "canonical_id": "k-1", "source_system": source,
        "changes": {"sales_stage": {"before": "negotiation", "after": stage}}}})


def test_source_system_and_field_value_filters() -> None:
    routing = load_routing(None, TYPES)
    won = routing.subscriptions["closed-won"]
    assert matches(won, _deal("closed_won"))
    assert matches(won, _deal("closed_won", event_type="ContractCreated"))
    assert not matches(won, _deal("negotiation"))  # another stage
    assert not matches(won, _deal("closed_won", source="hubspot"))  # another system
    renamed = _deal("closed_won").model_copy(update={"data": {
        "entity": "contract", "canonical_id": "k-1", "source_system": "salesforce",
        "changes": {"name": {"before": "a", "after": "b"}}}})
    assert not matches(won, renamed)  # the stage did not move: the filter holds on what the event sets
    lead = routing.subscriptions["lead-conversion"]
    assert matches(lead, _deal("prospecting", event_type="ContractCreated"))
    assert not matches(lead, _deal("prospecting"))  # only a new deal


def test_a_signal_carries_the_request_the_rule_fills_from_the_event(engine: Engine) -> None:
    import orjson

    from concord.events.subscribers import WorkflowSignalSubscriber

    routing = load_routing(None, TYPES)
    target = routing.subscriptions["closed-won"].subscriber
    assert target.kind == "workflow_signal"
    subscriber = WorkflowSignalSubscriber(target, "closed-won")
    event = _deal("closed_won")
    with engine.begin() as tx:
        subscriber.handle(event, tx)
        subscriber.handle(event, tx)  # a redelivery signals once
    with engine.connect() as conn:
        rows = conn.execute(select(t.workflow_signals.c.workflow, t.workflow_signals.c.payload)).all()
    assert [r.workflow for r in rows] == ["activate-contract"]
    route = orjson.loads(rows[0].payload)["route"]
    assert route == {"subscription": "closed-won", "otherwise": ["onboard-customer"], "on_refusal": "record",
                     "request": {"contract_id": "k-1", "activated_by": "salesforce"}}
    assert EventEnvelope.model_validate({k: v for k, v in orjson.loads(rows[0].payload).items() if k != "route"})


def test_field_values_and_request_paths_are_validated() -> None:
    with pytest.raises(ConfigError, match="field_values"):
        config("subscriptions:\n  x:\n    events: [ContractUpdated]\n    where: {field_values: {sales_stage: won}}\n"
               "    subscriber: {kind: workflow_signal, workflow: w, signal: start}\n")
    with pytest.raises(ConfigError, match="on_refusal"):
        config("subscriptions:\n  x:\n    events: [ContractUpdated]\n"
               "    subscriber: {kind: workflow_signal, workflow: w, signal: start, on_refusal: shout}\n")
