"""Console pages over HTTP (the browser tests drive the same pages in Chromium): each renders, declares its
scope, and its forms act only with a valid CSRF token."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import text

from tests.console.conftest import OpsRun
from tests.console.scenario import BLOCKED_CUSTOMER, BROKEN_CUSTOMER

PAGES = ["/console/dashboard", "/console/customers", f"/console/customers/{BLOCKED_CUSTOMER}", "/console/inbox",
         "/console/dead-letters", "/console/mappings", "/console/audit", "/console/dashboard/charts"]


def token(run: OpsRun, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', run.client.get(page).text)
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def test_every_page_renders(ops_run: OpsRun) -> None:
    for page in PAGES:
        response = ops_run.client.get(page)
        assert response.status_code == 200, (page, response.text[:500])
        assert response.headers["x-trace-id"] and len(response.headers["x-trace-id"]) == 32
    missing = ops_run.client.get("/console/customers/nobody")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as nested router objects)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def test_every_operations_route_declares_a_scope(ops_run: OpsRun) -> None:
    prefixes = ("/console", "/metrics", "/api/v1/experience")  # /healthz and /readyz are public for probes
    routes = [r for r in api_routes(ops_run.client.app.routes)  # type: ignore[attr-defined]
              if r.path.startswith(prefixes)]
    assert len(routes) > 15
    for route in routes:
        scopes = [d.call.__concord_scope__ for d in route.dependant.dependencies  # type: ignore[union-attr]
                  if hasattr(d.call, "__concord_scope__")]
        assert scopes, f"{route.path} declares no scope"


def test_customer_360_shows_blocked_reason_provenance_and_timeline(ops_run: OpsRun) -> None:
    page = ops_run.client.get(f"/console/customers/{BLOCKED_CUSTOMER}").text
    assert "Why is this customer blocked?" in page and "customer is on credit hold" in page
    assert "salesforce/account@1" in page  # mapping version in the provenance table
    assert "001000000000000003" in page  # cross-system id
    assert "corr-demo-" in page  # timeline grouped by correlation id


def test_customers_are_found_by_name_fragment_and_external_id(ops_run: OpsRun) -> None:
    by_name = ops_run.client.get("/console/customers?q=globex energy 3").text
    assert f'href="/console/customers/{BLOCKED_CUSTOMER}"' in by_name
    by_id = ops_run.client.get("/console/customers?q=001000000000000003").text
    assert re.findall(r'href="/console/customers/(cus_\d+)"', by_id) == [BLOCKED_CUSTOMER]


def test_dashboard_figures_match_the_database(ops_run: OpsRun) -> None:
    summary = ops_run.client.get("/console/api/summary").json()
    with ops_run.engine.connect() as conn:
        changes = conn.execute(text("SELECT COUNT(*) FROM change_log")).scalar()
        dead = conn.execute(text("SELECT COUNT(*) FROM event_dead_letters WHERE status = 'dead'")).scalar()
    assert summary["changes"] == changes and summary["dead_letters"] == dead
    filtered = ops_run.client.get("/console/api/summary?system=tryton").json()
    assert 0 < filtered["changes"] < summary["changes"]


def test_forms_refuse_a_post_without_the_token(ops_run: OpsRun) -> None:
    response = ops_run.client.post(f"/console/inbox/commands/{ops_run.failed_command}/retry", data={})
    assert response.status_code == 403 and response.json()["field"] == "csrf_token"
    forged = ops_run.client.post(f"/console/inbox/commands/{ops_run.failed_command}/retry",
                                 data={"csrf_token": "0" * 64})
    assert forged.status_code == 403


def test_failed_sync_is_corrected_and_requeued_from_the_inbox(ops_run: OpsRun) -> None:
    seq = ops_run.failed_command
    with ops_run.engine.connect() as conn:
        customer = conn.execute(text(f"SELECT canonical_id FROM outbox WHERE seq = {seq}")).scalar()
    response = ops_run.client.post(f"/console/inbox/commands/{seq}/resolve", follow_redirects=False, data={
        "csrf_token": token(ops_run, "/console/inbox"), "canonical_id": customer,
        "corrected": '{"legal_name": "Corrected Legal Name Ltd"}'})
    assert response.status_code == 303 and "queued" in response.headers["location"], response.headers
    with ops_run.engine.connect() as conn:
        failed_at = conn.execute(text(f"SELECT failed_at FROM outbox WHERE seq = {seq}")).scalar()
    assert failed_at is None
    record = ops_run.client.get(f"/api/v1/customers/{customer}").json()
    assert record["fields"]["legal_name"] == {**record["fields"]["legal_name"], "value": "Corrected Legal Name Ltd",
                                              "system": "steward", "approved_by": "operator"}


def test_dead_letter_payload_is_shown(ops_run: OpsRun) -> None:
    with ops_run.engine.connect() as conn:
        letter = conn.execute(text("SELECT id FROM event_dead_letters")).scalar()
    page = ops_run.client.get(f"/console/dead-letters/{letter}").text
    assert BROKEN_CUSTOMER in page and "CustomerCreated" in page and "500" in page


def test_steward_approval_from_the_mappings_page(ops_run: OpsRun) -> None:
    with ops_run.engine.connect() as conn:
        approval = conn.execute(text("SELECT id FROM approvals WHERE status = 'pending' LIMIT 1")).scalar()
    response = ops_run.client.post(f"/console/mappings/approvals/{approval}/reject", follow_redirects=False,
                                   data={"csrf_token": token(ops_run, "/console/mappings")})
    assert response.status_code == 303
    with ops_run.engine.connect() as conn:
        status, by = conn.execute(text(f"SELECT status, decided_by FROM approvals WHERE id = '{approval}'")).one()
    assert (status, by) == ("rejected", "operator")
    audit = ops_run.client.get("/console/audit?actor=operator").text
    assert "approval" in audit


def test_audit_filters_by_customer_and_system(ops_run: OpsRun) -> None:
    page = ops_run.client.get(f"/console/audit?customer={BLOCKED_CUSTOMER}&system=tryton").text
    rows = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td>", page)
    assert rows and set(rows) == {"tryton"}


def test_a_browser_without_a_key_is_sent_to_sign_in_and_api_clients_get_the_problem(ops_run: OpsRun) -> None:
    anonymous = {"Authorization": "", "Cookie": ""}
    browser = ops_run.client.get("/console/dashboard", follow_redirects=False,
                                 headers={**anonymous, "Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 303 and browser.headers["location"] == "/console/static/login.html"
    api = ops_run.client.get("/console/dashboard", follow_redirects=False, headers=anonymous)
    assert api.status_code == 401 and api.headers["content-type"] == "application/problem+json"
    chart_data = ops_run.client.get("/console/api/summary", headers={**anonymous, "Accept": "text/html"})
    assert chart_data.status_code == 401


def test_ownership_change_proposed_and_approved_from_the_mappings_page(ops_run: OpsRun) -> None:
    import yaml

    from tests.security.support import bearer, key_for

    policy = yaml.safe_load((ops_run.config / "ownership.yaml").read_text())
    policy["entities"]["account"]["name"] = {"owner": "salesforce", "mode": "owner_only"}
    csrf = token(ops_run, "/console/mappings")
    bad = ops_run.client.post("/console/ownership/proposals", follow_redirects=False,
                              data={"csrf_token": csrf, "policy": "version: 2\nentities: {account: {}}"})
    assert bad.status_code == 303 and "kind=error" in bad.headers["location"]
    proposed = ops_run.client.post("/console/ownership/proposals", follow_redirects=False,
                                   data={"csrf_token": csrf, "policy": yaml.safe_dump(policy)})
    assert proposed.status_code == 303 and "kind=ok" in proposed.headers["location"], proposed.headers
    page = ops_run.client.get("/console/mappings").text
    found = re.search(r'data-ownership-proposal="(\w+)"', page)
    assert found and "dry-run:" in page and "mode: owner_only" in page
    proposal = found.group(1)
    own = ops_run.client.post(f"/console/ownership/proposals/{proposal}/approve", follow_redirects=False,
                              data={"csrf_token": token(ops_run, "/console/mappings")})
    assert own.status_code == 303, own.text
    assert "kind=error" in own.headers["location"] and "proposer" in own.headers["location"]
    second = bearer(key_for(ops_run.engine, tenant="*", name="second-operator"))
    approved = ops_run.client.post(f"/console/ownership/proposals/{proposal}/approve", follow_redirects=False,
                                   data={"csrf_token": token(ops_run, "/console/mappings")}, headers=second)
    assert "kind=ok" in approved.headers["location"], approved.headers
    with ops_run.engine.connect() as conn:
        assert conn.execute(text("SELECT max(version) FROM ownership_versions")).scalar() == 2
    assert "Field ownership (policy v2)" in ops_run.client.get("/console/mappings").text
