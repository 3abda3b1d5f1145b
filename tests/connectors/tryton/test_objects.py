"""The pure half of the Tryton connector, without a server: flat fields to write values, domains, cursors."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from concord.connectors.base import DataRejected
from concord.connectors.tryton.objects import (
    flatten_party,
    overdue_domain,
    party_code,
    party_cursor,
    party_values,
    search_domain,
)

ROW = {
    "id": 7, "code": "C-1", "name": "Acme", "active": 1, "credit_limit_amount": None,
    "contact_mechanisms.": [{"id": 11, "type": "email", "value": "a@acme.test"}, {"id": 12, "type": "phone",
                                                                                   "value": "+32 2 555"}],
    "identifiers.": [{"id": 21, "type": "eu_vat", "code": "BE0897290877"}],
    "addresses.": [{"id": 31, "street": "Rue 1", "postal_code": "1000", "city": "Brussels",
                    "country.": {"code": "BE"}}],
    "tax_identifier.": {"type": "eu_vat", "code": "BE0897290877"},
}


def no_country(code: object) -> int | None:
    raise AssertionError(f"no country lookup expected, got {code!r}")


def test_flat_fields_of_a_row() -> None:
    fields = flatten_party(ROW)
    assert fields["active"] is True and fields["email"] == "a@acme.test" and fields["mobile"] is None
    assert fields["tax_identifiers"] == [{"type": "eu_vat", "value": "BE0897290877", "country": None}]
    assert (fields["address.city"], fields["address.country"]) == ("Brussels", "BE")


def test_write_values_write_delete_and_create_mechanisms_over_the_current_row() -> None:
    values = party_values({"email": "b@acme.test", "phone": "", "website": "acme.test"}, ROW, no_country)
    assert values == {"contact_mechanisms": [
        ["write", [11], {"value": "b@acme.test"}],
        ["delete", [12]],
        ["create", [{"type": "website", "value": "acme.test"}]],
    ]}


def test_tax_identifier_list_writes_the_primary_identifier_and_country_is_looked_up() -> None:
    fields = {"tax_identifiers": [{"type": "eu_vat", "value": "BE0123456749"}], "address.country": "be"}
    values = party_values(fields, ROW, lambda code: 56 if code == "be" else None)
    assert values["identifiers"] == [["write", [21], {"code": "BE0123456749", "type": "eu_vat"}]]
    assert values["addresses"] == [["write", [31], {"country": 56}]]


def test_refused_writes_name_the_field() -> None:
    with pytest.raises(DataRejected) as unknown:
        party_values({"credit_limit_amount": "10"}, None, no_country)
    assert unknown.value.field == "credit_limit_amount"
    with pytest.raises(DataRejected) as untyped:
        party_values({"tax_identifier.code": "BE0897290877"}, None, no_country)
    assert untyped.value.field == "tax_identifier.type"


def test_codes_domains_and_cursors() -> None:
    assert party_code({"concord_id": "acc-1"}, "key-1") == "acc-1" and party_code({}, "key-1") == "key-1"
    assert search_domain({"name": "Ac%"}) == [[("name", "ilike", "Ac%")]]
    with pytest.raises(DataRejected):
        search_domain({"city": "Brussels"})
    assert ("maturity_date", "<", date(2026, 1, 2)) in overdue_domain(7, 1, date(2026, 1, 2))
    assert party_cursor({"id": 7, "write_date": datetime(2026, 1, 2, 3, 4, 5, 6)}) == "2026-01-02T03:04:05.000006|7"
    assert party_cursor({"id": 7, "write_date": None}) == f"{datetime.min.isoformat()}|7"
