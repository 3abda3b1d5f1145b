"""Normalisation: one spelling per company name, domain, phone, tax id and address."""

from __future__ import annotations

import pytest

from concord.matching import normalize as n


@pytest.mark.parametrize(("raw", "expected"), [
    ("ACME, Inc.", "acme"),
    ("Acme Incorporated", "acme"),
    ("Müller & Söhne GmbH", "muller and sohne"),
    ("Société Générale S.A.", "societe generale"),
    ("The Widget Co. Ltd", "widget"),
    ("Globex Intl. B.V.", "globex international"),
    ("Straße Bau AG", "strasse bau"),
    ("Inc", "inc"),  # a name that is only a legal form keeps it rather than vanishing
    ("", ""),
    (None, ""),
])
def test_company_names_lose_legal_form_punctuation_case_and_accents(raw: str | None, expected: str) -> None:
    assert n.company_name(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://www.Example.com/about?x=1", "example.com"),
    ("http://shop.example.co.uk:8080", "shop.example.co.uk"),
    ("sales@Example.com", "example.com"),
    ("example.com.", "example.com"),
    ("localhost", ""),
])
def test_domains_come_from_urls_emails_and_bare_hosts(raw: str, expected: str) -> None:
    assert n.domain(raw) == expected


def test_free_mail_is_no_evidence_of_a_company() -> None:
    assert n.company_domain("jane@gmail.com") == ""
    assert n.company_domain("jane@acme.io") == "acme.io"


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("+49 (0)30 1234-567", None, "+49301234567"),
    ("0049 30 1234567", None, "+49301234567"),
    ("030 1234567", "DE", "+49301234567"),
    ("(512) 555-0100", "US", "+15125550100"),
    ("1-512-555-0100", "US", "+15125550100"),
    ("020 7946 0018", "GB", "+442079460018"),
    ("555 0100", None, "5550100"),
])
def test_phones_become_e164_when_the_country_is_known(raw: str, country: str | None, expected: str) -> None:
    assert n.phone(raw, country) == expected


@pytest.mark.parametrize(("kind", "value", "country", "expected"), [
    ("eu_vat", "DE 123 456 789", "DE", "DE123456789"),
    ("eu_vat", "123456789", "DE", "DE123456789"),
    ("eu_vat", "094259216", "GR", "EL094259216"),
    ("gb_vat", "123 4567 89", None, "GB123456789"),
    ("ch_vat", "CHE-123.456.789 MWST", "CH", "CHE123456789"),
    ("us_ein", "12-3456789", "US", "123456789"),
    ("eu_vat", "nl8532.56.789.b01", "NL", "NL853256789B01"),
    ("eu_vat", " - ", "DE", ""),
])
def test_tax_ids_have_one_spelling_per_country(kind: str, value: str, country: str | None, expected: str) -> None:
    assert n.tax_id(kind, value, country) == expected


def test_addresses_fold_street_words_and_postcodes() -> None:
    assert n.street("12 Main Street") == n.street("12 main st.")
    assert n.street("Hauptstraße 5") == "hauptstrasse 5"
    assert n.postcode("sw1a 1aa", "GB") == "SW1A1AA"
    assert n.postcode("78701-1234", "US") == "78701"


def test_person_names_and_emails() -> None:
    assert n.person_name("  O'Brien-Smith ") == "obriensmith"
    assert n.person_name("José") == "jose"
    assert n.email(" Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert n.email("not-an-email") == ""
