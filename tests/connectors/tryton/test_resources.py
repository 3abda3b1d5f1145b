"""TrytonConnector parties against a real trytond 8.2 (template copy, reset at module start)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from concord.connectors.base import Conflict, Connector, DataRejected, NotFound
from concord.connectors.tryton import TrytonConnector
from concord.sandbox.tryton import TrytonServer
from tests.connectors.tryton.support import connector_config

pytestmark = pytest.mark.tryton

VAT = "BE0897290877"  # a valid Belgian VAT number (checksum passes)


def new_id() -> str:
    return f"cc-{uuid.uuid4().hex[:12]}"


def acme(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "Acme Belgium SA",
        "email": "ap@acme-be.com",
        "tax_identifier.type": "eu_vat",
        "tax_identifier.code": VAT,
        "address.street": "Rue de la Loi 16",
        "address.postal_code": "1000",
        "address.city": "Brussels",
        "address.country": "BE",
    }
    fields.update(extra)
    return fields


def test_connector_satisfies_the_protocol_and_declares_capabilities(connector: TrytonConnector) -> None:
    assert isinstance(connector, Connector)
    caps = connector.capabilities
    assert caps.objects == ("party",)
    assert caps.webhooks is False
    assert caps.cursor_field == "write_date"
    assert caps.upsert_by_external_id is True
    assert caps.bulk_batch_size == 100


def test_create_then_read_back_every_flattened_field(connector: TrytonConnector) -> None:
    concord_id = new_id()
    created = connector.create("party", acme(), idempotency_key=concord_id)
    read = connector.read("party", created.id)
    assert read is not None
    assert read.fields == {
        "code": concord_id,
        "name": "Acme Belgium SA",
        "active": True,
        "credit_limit_amount": None,
        "email": "ap@acme-be.com",
        "phone": None,
        "mobile": None,
        "website": None,
        "tax_identifier.type": "eu_vat",
        "tax_identifier.code": VAT,
        "tax_identifiers": [{"type": "eu_vat", "value": VAT, "country": None}],
        "address.street": "Rue de la Loi 16",
        "address.postal_code": "1000",
        "address.city": "Brussels",
        "address.country": "BE",
    }
    assert read.modified_at is not None and read.modified_at.tzinfo is not None


def test_update_email_rewrites_the_existing_mechanism(connector: TrytonConnector) -> None:
    created = connector.create("party", acme(), idempotency_key=new_id())
    updated = connector.update("party", created.id, {"email": "billing@acme-be.com", "phone": "+3225551234"})
    assert updated.fields["email"] == "billing@acme-be.com"
    assert updated.fields["phone"] == "+3225551234"
    mechanisms = connector.client.search_read(
        "party.contact_mechanism", [("party", "=", int(created.id))], ["type", "value"]
    )
    assert sorted((m["type"], m["value"]) for m in mechanisms) == [
        ("email", "billing@acme-be.com"),
        ("phone", "+3225551234"),
    ]
    assert updated.modified_at is not None and created.modified_at is not None
    assert updated.modified_at > created.modified_at


def test_tax_identifiers_list_writes_the_primary_identifier(connector: TrytonConnector) -> None:
    created = connector.create("party", {"name": "Listy NV", "tax_identifiers": [
        {"type": "eu_vat", "value": VAT, "country": "BE"}]}, idempotency_key="cc-tax-list")
    assert created.fields["tax_identifier.code"] == VAT
    cleared = connector.update("party", created.id, {"tax_identifiers": []})
    assert cleared.fields["tax_identifiers"] == [] and cleared.fields["tax_identifier.code"] is None


def test_search_by_concord_id_tax_identifier_and_name(connector: TrytonConnector) -> None:
    concord_id = new_id()
    created = connector.create("party", acme(name=f"Searchable {concord_id}"), idempotency_key=concord_id)
    assert [r.id for r in connector.search("party", {"concord_id": concord_id})] == [created.id]
    assert [r.id for r in connector.search("party", {"code": concord_id})] == [created.id]
    assert created.id in [r.id for r in connector.search("party", {"tax_identifier": VAT})]
    assert [r.id for r in connector.search("party", {"name": f"%{concord_id}"})] == [created.id]
    by_mail = connector.create("party", {"name": "Mail Only", "email": f"{concord_id}@acme-be.com",
                                         "phone": "+3225550000"}, idempotency_key=new_id())
    assert [r.id for r in connector.search("party", {"email": f"{concord_id}@acme-be.com"})] == [by_mail.id]
    assert connector.search("party", {"email": "+3225550000"}) == []  # a phone value is not an email
    assert connector.search("party", {"concord_id": "no-such-id"}) == []
    with pytest.raises(DataRejected) as caught:
        connector.search("party", {"shoe_size": 42})
    assert caught.value.field == "shoe_size"


def test_create_is_idempotent_by_key_and_upsert_twice_makes_one_party(connector: TrytonConnector) -> None:
    key = new_id()
    first = connector.create("party", acme(), idempotency_key=key)
    again = connector.create("party", acme(), idempotency_key=key)
    assert again.id == first.id

    external = new_id()
    one = connector.upsert("party", "concord_id", external, {"name": "Upserted Ltd", "email": "a@upsert.com"})
    two = connector.upsert("party", "concord_id", external, {"name": "Upserted Ltd (renamed)"})
    assert two.id == one.id
    assert two.fields["name"] == "Upserted Ltd (renamed)"
    assert two.fields["email"] == "a@upsert.com"
    assert len(connector.search("party", {"concord_id": external})) == 1
    with pytest.raises(DataRejected):
        connector.upsert("party", "email", "a@upsert.com", {})


def test_duplicate_code_is_a_conflict_and_a_lost_create_race_returns_the_winner(
    connector: TrytonConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_id()
    winner = connector.create("party", {"name": "Winner"}, idempotency_key=key)
    with pytest.raises(Conflict):
        connector.client.create("party.party", [{"name": "Twin", "code": key}])
    real_lookup = connector._by_code
    lookups: list[str] = []

    def stale_first(code: str) -> dict[str, Any] | None:
        lookups.append(code)  # the read-before-create misses: the other writer commits just after it
        return None if len(lookups) == 1 else real_lookup(code)

    monkeypatch.setattr(connector, "_by_code", stale_first)
    loser = connector.create("party", {"name": "Loser"}, idempotency_key=key)
    assert (loser.id, loser.fields["name"]) == (winner.id, "Winner")
    assert lookups == [key, key]


def test_create_many_batches_and_skips_existing_codes(tryton_server: TrytonServer) -> None:
    creates: list[int] = []

    def count(request: httpx.Request) -> None:
        if json.loads(request.content)["method"] == "model.party.party.create":
            creates.append(len(json.loads(request.content)["params"][0]))

    http = httpx.Client(event_hooks={"request": [count]})
    conn = TrytonConnector(connector_config(tryton_server, batch_size=2), http=http)
    try:
        existing = conn.create("party", {"name": "Already There"}, idempotency_key=new_id())
        keys = [new_id() for _ in range(3)]
        items = [(keys[0], {"name": "Bulk 0"}), (existing.fields["code"], {"name": "ignored"}),
                 (keys[1], {"name": "Bulk 1", "email": "b1@bulk.com"}), (keys[2], {"name": "Bulk 2"})]
        records = conn.create_many("party", items)
        assert [r.fields["code"] for r in records] == [keys[0], existing.fields["code"], keys[1], keys[2]]
        assert records[1].id == existing.id and records[1].fields["name"] == "Already There"
        assert records[2].fields["email"] == "b1@bulk.com"
        assert creates == [1, 2, 1]  # the single create, then 3 new parties in batches of 2
        assert [r.id for r in conn.create_many("party", items)] == [r.id for r in records]
        assert creates == [1, 2, 1]  # all exist now: nothing created
    finally:
        conn.close()
        http.close()


def test_invalid_vat_is_rejected_naming_the_field(connector: TrytonConnector) -> None:
    concord_id = new_id()
    with pytest.raises(DataRejected) as caught:
        connector.create("party", acme(**{"tax_identifier.code": "BE0123456789"}), idempotency_key=concord_id)
    assert caught.value.field == "tax_identifier.code"
    assert "BE0123456789" in caught.value.message
    assert caught.value.code == "UserError"
    assert connector.search("party", {"concord_id": concord_id}) == []  # rolled back, nothing half-created


def test_malformed_email_and_unknown_country_are_rejected(connector: TrytonConnector) -> None:
    with pytest.raises(DataRejected) as caught:
        connector.create("party", acme(email="not-an-email"), idempotency_key=new_id())
    assert caught.value.field == "email"
    with pytest.raises(DataRejected) as unknown:
        connector.create("party", acme(**{"address.country": "XX"}), idempotency_key=new_id())
    assert unknown.value.field == "address.country"
    with pytest.raises(DataRejected) as readonly:
        connector.create("party", acme(credit_limit_amount="10"), idempotency_key=new_id())
    assert readonly.value.field == "credit_limit_amount"


def test_missing_records_and_objects(connector: TrytonConnector) -> None:
    assert connector.read("party", "987654") is None
    assert connector.read("party", "not-a-number") is None
    with pytest.raises(NotFound):
        connector.update("party", "987654", {"name": "ghost"})
    with pytest.raises(DataRejected):
        connector.read("invoice", "1")


def test_bad_session_logs_in_again(connector: TrytonConnector) -> None:
    created = connector.create("party", acme(), idempotency_key=new_id())
    auth = connector.client.auth
    logins = auth.logins
    session = auth.session
    assert session is not None
    # Forge a session the server never issued: it answers 401 and the client logs in once more.
    auth._session = type(session)(session.login, session.uid, base64.b16encode(b"forged").decode())
    assert connector.read("party", created.id) is not None
    assert auth.logins == logins + 1
    assert auth.session is not None and auth.session.token != session.token


def test_changes_since_pages_through_every_change_once(tryton_server: TrytonServer) -> None:
    conn = TrytonConnector(connector_config(tryton_server, page_size=2))
    try:
        start = _drain(conn, None)[1]
        made = [conn.create("party", {"name": f"Paged {i}"}, idempotency_key=new_id()).id for i in range(5)]
        seen, cursor = _drain(conn, start)
        assert seen == made  # oldest first, each exactly once, across three pages
        assert conn.changes_since("party", cursor).records == []
        conn.update("party", made[1], {"website": "https://paged.example.org"})
        again = conn.changes_since("party", cursor)
        assert [r.id for r in again.records] == [made[1]]
        with pytest.raises(DataRejected):
            conn.changes_since("party", "garbage")
    finally:
        conn.close()


def _drain(conn: TrytonConnector, cursor: str | None) -> tuple[list[str], str | None]:
    seen: list[str] = []
    while True:
        page = conn.changes_since("party", cursor)
        assert len(page.records) <= 2
        seen += [r.id for r in page.records]
        cursor = page.cursor
        if not page.has_more:
            return seen, cursor
