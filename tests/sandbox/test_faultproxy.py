from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from concord.sandbox.common import ServerHandle, free_port, serve_in_thread
from concord.sandbox.faultproxy import FaultKind, FaultPlan, WebhookPlan, WebhookStats, create_app, decide
from concord.sandbox.faultproxy.webhooks import Delivery, FanoutBuffer

ADMIN = "/__faults__"


def upstream_app() -> FastAPI:
    """A tiny system with a write counter and a webhook receiver that records arrival order."""
    app = FastAPI()
    items: list[dict[str, Any]] = []
    hooks: list[dict[str, Any]] = []

    @app.post("/items", status_code=201)
    async def create(payload: dict[str, Any]) -> dict[str, Any]:
        item = {"id": len(items) + 1, **payload}
        items.append(item)
        return item

    @app.get("/items")
    async def list_items() -> dict[str, Any]:
        return {"count": len(items), "items": items}

    @app.delete("/items", status_code=204)
    async def reset() -> Response:
        items.clear()
        hooks.clear()
        return Response(status_code=204)

    @app.get("/ping")
    async def ping(request: Request) -> dict[str, Any]:
        return {"ok": True, "host": request.headers.get("host"), "q": request.query_params.get("q")}

    @app.post("/hooks")
    async def hook(request: Request) -> dict[str, bool]:
        body = await request.json()
        hooks.append({"seq": body["seq"], "signature": request.headers.get("x-signature")})
        return {"ok": True}

    @app.get("/hooks")
    async def list_hooks() -> list[dict[str, Any]]:
        return hooks

    return app


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerHandle]:
    handle = serve_in_thread(upstream_app())
    yield handle
    handle.stop()


@pytest.fixture
def proxy_url(upstream: ServerHandle) -> Iterator[str]:
    httpx.delete(f"{upstream.base_url}/items")
    handle = serve_in_thread(create_app(upstream.base_url, FaultPlan()))
    yield handle.base_url
    handle.stop()


@pytest.fixture
def client(proxy_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy_url, timeout=5.0) as http:
        yield http


def set_plan(client: httpx.Client, **plan: Any) -> None:
    response = client.put(f"{ADMIN}/plan", json=plan)
    assert response.status_code == 200, response.text


def stats(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"{ADMIN}/stats").json()
    return body


def upstream_count(upstream: ServerHandle) -> int:
    count: int = httpx.get(f"{upstream.base_url}/items").json()["count"]
    return count


def test_no_faults_is_a_transparent_proxy(client: httpx.Client, upstream: ServerHandle, proxy_url: str) -> None:
    created = client.post("/items", json={"name": "Ada"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "name": "Ada"}
    pong = client.get("/ping", params={"q": "x y"}).json()
    # The client's Host is kept, so links an upstream builds point back at the proxy.
    assert pong == {"ok": True, "host": proxy_url.removeprefix("http://"), "q": "x y"}
    assert upstream_count(upstream) == 1
    assert stats(client)["forwarded"] == 2
    assert stats(client)["requests"] == 2


def test_rate_limit_with_retry_after(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, rate_limit_p=1.0, retry_after_s=3)
    response = client.post("/items", json={"name": "Ada"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert upstream_count(upstream) == 0
    assert stats(client)["rate_limited"] == 1


def test_server_errors(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, error_p=1.0)
    statuses = [client.post("/items", json={"n": n}).status_code for n in range(12)]
    assert set(statuses) <= {500, 502, 503}
    assert len(set(statuses)) > 1
    assert upstream_count(upstream) == 0
    counted = stats(client)["server_errors"]
    assert sum(counted.values()) == 12
    assert counted == {str(s): statuses.count(s) for s in set(statuses)}


def test_timeout_holds_past_the_client_timeout(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, timeout_p=1.0, timeout_hold_s=5.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post("/items", json={"name": "Ada"}, timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert upstream_count(upstream) == 0
    assert stats(client)["timeouts"] == 1


def test_timeout_answers_504_to_a_patient_client(client: httpx.Client) -> None:
    set_plan(client, timeout_p=1.0, timeout_hold_s=0.2)
    assert client.get("/ping").status_code == 504


def test_timeout_after_forwarding_is_an_applied_but_failed_write(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, timeout_p=1.0, timeout_hold_s=5.0, timeout_forwards=True)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/items", json={"name": "Ada"}, timeout=0.5)
    assert upstream_count(upstream) == 1
    assert stats(client)["writes_applied_but_failed"] == 1


def test_added_latency(client: httpx.Client) -> None:
    set_plan(client, latency_ms=200, jitter_ms=50)
    started = time.monotonic()
    assert client.get("/ping").status_code == 200
    assert time.monotonic() - started >= 0.2
    counted = stats(client)
    assert counted["delayed"] == 1
    assert 200 <= counted["delay_ms_total"] <= 250


def test_drop_after_write_applies_upstream_but_reports_failure(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, drop_after_write_p=1.0, drop_statuses=[502, 504])
    statuses = [client.post("/items", json={"n": n}).status_code for n in range(6)]
    assert set(statuses) <= {502, 504}
    assert client.get("/ping").status_code == 200  # reads are never dropped
    assert upstream_count(upstream) == 6
    counted = stats(client)
    assert counted["writes_applied_but_failed"] == 6
    assert sum(counted["drops"].values()) == 6
    assert {entry["upstream_status"] for entry in counted["applied_but_failed"]} == {201}
    assert [entry["client_saw"] for entry in counted["applied_but_failed"]] == [str(s) for s in statuses]


def test_drop_after_write_can_cut_the_connection(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, drop_after_write_p=1.0, drop_disconnect_p=1.0)
    with pytest.raises(httpx.TransportError):
        client.post("/items", json={"name": "Ada"})
    assert upstream_count(upstream) == 1
    counted = stats(client)
    assert counted["drops"] == {"disconnect": 1}
    assert counted["writes_applied_but_failed"] == 1


def test_path_and_method_filters(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, error_p=1.0, only_writes=True, paths=["/items*"])
    assert client.get("/ping").status_code == 200
    assert client.get("/items").status_code == 200
    assert client.post("/items", json={}).status_code >= 500
    set_plan(client, error_p=1.0, methods=["get"], paths=["/ping"])
    assert client.get("/ping").status_code >= 500
    assert client.post("/items", json={}).status_code == 201
    assert stats(client)["matched"] == 2


def test_same_seed_same_faults(client: httpx.Client) -> None:
    def run(seed: int) -> list[int]:
        set_plan(client, seed=seed, error_p=0.3, rate_limit_p=0.2)
        return [client.get("/ping").status_code for _ in range(30)]

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert first != other
    assert 200 in first and 429 in first and any(s >= 500 for s in first)


def test_admin_plan_round_trip_validation_and_stats_reset(client: httpx.Client) -> None:
    set_plan(client, error_p=0.25, paths=["/items"])
    plan = client.get(f"{ADMIN}/plan").json()
    assert plan["error_p"] == 0.25
    assert plan["paths"] == ["/items"]
    too_likely = client.put(f"{ADMIN}/plan", json={"error_p": 0.7, "rate_limit_p": 0.5})
    assert too_likely.status_code == 422
    assert client.put(f"{ADMIN}/plan", json={"error_statuses": [404]}).status_code == 422
    assert client.put(f"{ADMIN}/plan", json={"bogus": 1}).status_code == 422
    assert client.get(f"{ADMIN}/plan").json()["error_p"] == 0.25
    client.get("/ping")
    assert stats(client)["requests"] == 1
    assert client.delete(f"{ADMIN}/stats").status_code == 204
    assert stats(client)["requests"] == 0


def test_unreachable_upstream_is_a_502() -> None:
    handle = serve_in_thread(create_app(f"http://127.0.0.1:{free_port()}"))
    try:
        with httpx.Client(base_url=handle.base_url, timeout=5.0) as http:
            assert http.get("/ping").status_code == 502
            assert http.get(f"{ADMIN}/stats").json()["upstream_errors"] == 1
    finally:
        handle.stop()


def send_hooks(client: httpx.Client, count: int) -> list[int]:
    return [
        client.post("/hooks", json={"seq": n}, headers={"X-Signature": f"sig-{n}"}).status_code for n in range(count)
    ]


def received(upstream: ServerHandle) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = httpx.get(f"{upstream.base_url}/hooks").json()
    return hooks


def test_webhook_duplication(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, paths=["/hooks"], webhook=WebhookPlan(duplicate_p=1.0).model_dump())
    assert send_hooks(client, 5) == [200] * 5
    hooks = received(upstream)
    assert [h["seq"] for h in hooks] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert all(h["signature"] == f"sig-{h['seq']}" for h in hooks)
    webhooks = stats(client)["webhooks"]
    assert (webhooks["received"], webhooks["duplicated"], webhooks["delivered"]) == (5, 5, 10)


def test_webhook_reordering_with_hold_back(client: httpx.Client, upstream: ServerHandle) -> None:
    set_plan(client, seed=3, paths=["/hooks"], webhook=WebhookPlan(reorder_p=0.4, hold_back=3).model_dump())
    statuses = send_hooks(client, 20)
    assert client.post(f"{ADMIN}/webhooks/flush").status_code == 200
    seqs = [h["seq"] for h in received(upstream)]
    assert sorted(seqs) == list(range(20))
    assert seqs != list(range(20))
    webhooks = stats(client)["webhooks"]
    assert webhooks["held"] == statuses.count(202) > 0
    assert webhooks["released"] == webhooks["held"]
    assert webhooks["delivered"] == 20


def test_webhook_fanout_is_deterministic(client: httpx.Client, upstream: ServerHandle) -> None:
    def run() -> list[int]:
        httpx.delete(f"{upstream.base_url}/items")
        plan = WebhookPlan(reorder_p=0.3, duplicate_p=0.3, hold_back=4).model_dump()
        set_plan(client, seed=9, paths=["/hooks"], webhook=plan)
        send_hooks(client, 15)
        client.post(f"{ADMIN}/webhooks/flush")
        return [h["seq"] for h in received(upstream)]

    first, second = run(), run()
    assert first == second
    assert len(first) > 15


def test_decide_matches_the_planned_proportions() -> None:
    plan = FaultPlan(rate_limit_p=0.2, error_p=0.1, timeout_p=0.1, drop_after_write_p=0.3)
    rng = random.Random(1)
    writes = Counter(decide(plan, rng, "POST").kind for _ in range(5000))
    reads = Counter(decide(plan, rng, "GET").kind for _ in range(5000))
    for kind, share in [
        (FaultKind.RATE_LIMIT, 0.2),
        (FaultKind.SERVER_ERROR, 0.1),
        (FaultKind.TIMEOUT, 0.1),
        (FaultKind.DROP_AFTER_WRITE, 0.3),
        (FaultKind.NONE, 0.3),
    ]:
        assert writes[kind] / 5000 == pytest.approx(share, abs=0.03)
    # A read is never dropped after write: that band passes through.
    assert reads[FaultKind.DROP_AFTER_WRITE] == 0
    assert reads[FaultKind.NONE] / 5000 == pytest.approx(0.6, abs=0.03)


def test_fanout_buffer_evicts_the_oldest_when_full() -> None:
    counters = WebhookStats()
    buffer = FanoutBuffer(WebhookPlan(reorder_p=1.0, hold_back=2), random.Random(0), counters)

    def delivery(seq: int) -> Delivery:
        return Delivery(seq, "POST", "/hooks", b"", (), b"{}")

    assert buffer.admit(delivery(1)) == []
    assert buffer.admit(delivery(2)) == []
    assert [d.seq for d in buffer.admit(delivery(3))] == [1]
    assert [d.seq for d in buffer.flush()] == [2, 3]
    assert (counters.held, counters.released) == (3, 3)
    assert buffer.held == 0
