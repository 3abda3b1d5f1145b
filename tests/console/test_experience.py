"""Experience API: the customer 360 read model with ETag and conditional GET, from the golden store."""

from __future__ import annotations

from tests.console.conftest import OpsRun
from tests.console.scenario import BLOCKED_CUSTOMER


def test_read_model_with_blocked_reason_and_cross_system_ids(ops_run: OpsRun) -> None:
    response = ops_run.client.get(f"/api/v1/experience/customers/{BLOCKED_CUSTOMER}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "credit_hold" and body["blocked"] is True
    assert body["blocked_reasons"][0] == {"code": "lifecycle", "message": "customer is on credit hold",
                                          "system": "concord"}
    assert body["cross_system_ids"]["salesforce"] == "001000000000000003"
    assert {"subscription", "entitlements", "open_invoices", "billing_accounts"} <= set(body)


def test_conditional_get_answers_304_until_the_customer_changes(ops_run: OpsRun) -> None:
    url = "/api/v1/experience/customers/cus_0010"
    first = ops_run.client.get(url)
    etag = first.headers["etag"]
    again = ops_run.client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and again.content == b""
    moved = ops_run.client.post("/api/v1/customers/cus_0010/lifecycle", json={"to": "suspended", "reason": "fraud"})
    assert moved.status_code == 202, moved.text
    changed = ops_run.client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["blocked_reasons"][0]["message"] == "customer is suspended"


def test_unknown_customer_is_a_problem(ops_run: OpsRun) -> None:
    response = ops_run.client.get("/api/v1/experience/customers/nope")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
