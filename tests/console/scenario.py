"""A scripted operations run shared by the console, metrics and browser tests: the bundled demo changes go in
through the API, events are relayed and consumed by a webhook subscriber that fails for one customer (a real
HTTP server), one outbound command fails for good, and a replay runs."""

from __future__ import annotations

import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from sqlalchemy import Engine

from concord.cli.demo_cmd import sample_path
from concord.connectors.base import RateLimit
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.caller import ResilientCaller
from concord.connectors.runtime.clock import SystemClock
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.retry import Retrier
from concord.connectors.stripe import StripeClient, StripeConnector
from concord.delivery.store import DeliveryStore
from concord.events.hub import EventSettings, build_runners, open_log
from concord.events.registry import SchemaRegistry
from concord.events.relay import OutboxRelay
from concord.events.replay import replay
from concord.events.routing import load_routing
from concord.hubconfig import bundled_config_dir
from concord.observability.headroom import sample_headroom
from concord.observability.install import OpsState
from concord.observability.logs import log_context
from tests.connectors.stripe.support import config_for

SECRET_ENV = "CONCORD_WEBHOOK_TEST_SECRET"
BROKEN_CUSTOMER = "cus_0002"
BLOCKED_CUSTOMER = "cus_0003"


@dataclass
class Partner:
    """The webhook receiver: refuses events about the customers in `broken` (until fixed)."""

    url: str = ""
    broken: set[str] = field(default_factory=lambda: {BROKEN_CUSTOMER})
    received: list[dict[str, object]] = field(default_factory=list)


@contextmanager
def partner_server() -> Iterator[Partner]:
    partner = Partner()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ok = body.get("customer_key") not in partner.broken
            if ok:
                partner.received.append(body)
            self.send_response(200 if ok else 500)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    partner.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield partner
    finally:
        server.shutdown()
        server.server_close()


def config_dir(tmp: Path, partner_url: str) -> Path:
    """The bundled configuration plus a webhook subscription to the partner (no retries: dead-letter at once)."""
    target = tmp / "config"
    shutil.copytree(bundled_config_dir(), target)
    (target / "events.yaml").write_text(
        "subscriptions:\n"
        "  partner-webhook:\n"
        "    events: [CustomerCreated]\n"
        f"    subscriber: {{kind: webhook, url: \"{partner_url}\", secret_env: {SECRET_ENV}}}\n"
        "    max_attempts: 1\n", encoding="utf-8")
    return target


def ingest_demo(client: httpx.Client) -> int:
    """Returns how many changes were recorded (accepted, not answered from the idempotency record)."""
    lines = [orjson.loads(line) for line in sample_path().read_bytes().splitlines()]
    accepted = 0
    for start in range(0, len(lines), 500):
        response = client.post("/api/v1/changes/batch", json={"changes": lines[start:start + 500]})
        assert response.status_code == 202, response.text
        accepted += sum(1 for r in response.json()["results"] if r["result"] and not r["result"]["replayed"])
    return accepted


def run_events(engine: Engine, config: Path) -> None:
    """Relay the outbox to the embedded log and let every subscription consume it once."""
    registry = SchemaRegistry.default()
    log = open_log(EventSettings(), engine)
    try:
        OutboxRelay(engine, log, registry).drain()
        routing = load_routing(config, set(registry.types()))
        with httpx.Client() as http:
            for runner in build_runners(routing, log, engine, registry, http).values():
                runner.drain()
                runner.close()
    finally:
        log.close()


def replay_subscription(engine: Engine, config: Path, subscription: str) -> None:
    registry = SchemaRegistry.default()
    log = open_log(EventSettings(), engine)
    try:
        routing = load_routing(config, set(registry.types()))
        with httpx.Client() as http:
            runner = build_runners(routing, log, engine, registry, http)[subscription]
            replay(runner, 0)
            runner.close()
    finally:
        log.close()


def fail_one_command(engine: Engine) -> int:
    """The first pending outbound command fails for good (as the dispatcher records it after its retries)."""
    store = DeliveryStore(engine)
    cmd = store.pending(1)[0]
    store.failed(cmd, "tryton: DataRejected: party.name is required")
    return cmd.seq


def block_customer(client: httpx.Client, customer: str = BLOCKED_CUSTOMER) -> None:
    """Move a customer onto credit hold, as the ERP's credit check would."""
    response = client.post(f"/api/v1/customers/{customer}/lifecycle",
                           json={"to": "credit_hold", "reason": "overdue invoices"})
    assert response.status_code == 202, response.text


def stripe_traffic(ops: OpsState, base_url: str, calls: int = 12) -> None:
    """Real calls to the Stripe twin through the production connector, recorded into the app's metrics and
    with its rate governor watched (latency per system, headroom and daily quota on the dashboard)."""
    config = config_for(base_url, rate_limit=RateLimit(requests=50, per_seconds=1.0, daily_quota=5000))
    governor = RateGovernor({"stripe": config.effective_rate_limit()})
    caller = ResilientCaller(Retrier(config.retry), BreakerRegistry(config.breaker, SystemClock()), governor)
    connector = StripeConnector(config, StripeClient(config, caller=caller, recorder=ops.metrics))
    ops.metrics.headroom.watch_all(connector.rate_keys())  # the connector names its read and write buckets
    try:
        with log_context(tenant=config.tenant):
            for i in range(calls):
                created = connector.create("customer", {"name": f"Traffic {i}", "email": f"t{i}@example.com"},
                                           idempotency_key=f"traffic-{i}")
                connector.read("customer", created.id)
    finally:
        connector.close()


def earlier_headroom_sample(engine: Engine, ops: OpsState, minutes_ago: int = 3) -> None:
    """A headroom sample from a few minutes back (as the sampler would have taken), so the charts show a line
    over time rather than the single point the page's own render adds."""
    with engine.begin() as conn:
        sample_headroom(conn, ops.metrics.headroom.watched(), now=time.time() - 60 * minutes_ago)
