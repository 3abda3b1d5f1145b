"""Deterministic generator of the bundled demo streams (`python -m concord.demo.generate > sample.jsonl`).

Per customer: a CRM create, an ERP create, ERP credit updates arriving out of order, CRM writes to ERP-owned
fields (owner conflicts), CRM echoes of values Concord pushed to it, a support-desk rename needing approval,
lifecycle moves by Concord (one of them illegal) and re-sent duplicates.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
         "Cyberdyne", "Wonka", "Oscorp", "Gringotts", "Pied", "Aperture", "Black Mesa", "Monarch", "Nakatomi", "Zorg"]
SUFFIX = ["Inc", "GmbH", "Ltd", "SA", "BV", "AG", "LLC", "Oy"]
CITIES = [("Berlin", "DE", "10115"), ("Paris", "FR", "75001"), ("London", "GB", "EC1A"), ("Austin", "US", "73301"),
          ("Madrid", "ES", "28001"), ("Zurich", "CH", "8001"), ("Amsterdam", "NL", "1011")]
TAX = {"DE": "eu_vat", "FR": "eu_vat", "ES": "eu_vat", "NL": "eu_vat", "GB": "gb_vat", "US": "us_ein", "CH": "ch_vat"}


def _change(system: str, entity: str, ext: str, fields: dict[str, Any], at: datetime, key: str,
            canonical_id: str, corr: str) -> dict[str, Any]:
    return {"tenant": "default", "system": system, "entity": entity, "external_id": ext, "fields": fields,
            "source_ts": at.isoformat(), "idempotency_key": key, "correlation_id": corr, "canonical_id": canonical_id}


@dataclass
class _Stream:
    """One customer's changes as (arrival time, change) pairs."""

    cid: str
    corr: str
    out: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)

    def add(self, at: datetime, system: str, entity: str, ext: str, fields: dict[str, Any], key: str,
            source_at: datetime | None = None) -> None:
        change = _change(system, entity, ext, fields, source_at or at, key, self.cid, self.corr)
        self.out.append((at, change))


def _happy_path(rng: random.Random, s: _Stream, i: int, t0: datetime) -> tuple[str, str, str, str]:
    """CRM create, qualification, ERP create, activation, and CRM's reflection of the ERP number."""
    name = f"{rng.choice(WORDS)} {rng.choice(['Labs', 'Systems', 'Foods', 'Motors', 'Energy', 'Health'])} {i}"
    city, country, postcode = rng.choice(CITIES)
    domain = f"{name.lower().replace(' ', '-')}.example"
    sf, erp, number = f"001{i:015d}", str(1000 + i), f"C-{10000 + i}"
    s.add(t0, "salesforce", "account", sf, {
        "Name": name, "Type": rng.choice(["SMB", "Mid-Market", "Enterprise"]), "Industry": "Manufacturing",
        "Website": f"https://www.{domain}", "Domain__c": domain, "Phone": f"+49 30 {rng.randint(1000000, 9999999)}",
        "NumberOfEmployees": rng.randint(5, 5000), "AnnualRevenue": rng.randint(1, 900) * 10000,
        "ShippingCity": city, "ShippingCountry": country}, f"sf-{sf}-1")
    s.add(t0 + timedelta(seconds=30), "concord", "account", s.cid, {"lifecycle_state": "prospect"}, f"lc-{s.cid}-1")
    s.add(t0 + timedelta(minutes=1), "concord", "account", s.cid, {"lifecycle_state": "qualified"}, f"lc-{s.cid}-2")
    s.add(t0 + timedelta(minutes=2), "tryton", "account", erp, {
        "name": f"{name} {rng.choice(SUFFIX)}", "code": number, "currency": "EUR",
        "address": {"street": f"{rng.randint(1, 200)} Main St", "city": city, "postal_code": postcode,
                    "country": country},
        "invoice_address": {"street": "PO Box 42", "city": city, "postal_code": postcode, "country": country},
        "tax_identifiers": [{"type": TAX[country], "value": f"{country}{rng.randint(10**8, 10**9 - 1)}",
                             "country": country}],
        "customer_payment_term": rng.choice(["NET30", "NET45", "NET60"]), "credit_limit_amount": 50000,
        "credit_status": "ok"}, f"erp-{erp}-1")
    s.add(t0 + timedelta(minutes=3), "concord", "account", s.cid, {"lifecycle_state": "onboarding"}, f"lc-{s.cid}-3")
    s.add(t0 + timedelta(minutes=4), "concord", "account", s.cid, {"lifecycle_state": "active"}, f"lc-{s.cid}-4")
    # CRM reflects the ERP number Concord pushed to it (an echo), and a rep edits the invoice city (not theirs).
    s.add(t0 + timedelta(minutes=5), "salesforce", "account", sf, {
        "Name": name, "ERP_Customer_Number__c": number, "BillingCity": "Springfield"}, f"sf-{sf}-2")
    return name, sf, erp, number


def _complications(s: _Stream, i: int, t0: datetime, name: str, erp: str) -> None:
    if i % 4 == 0:  # credit review then hold; the older update is delivered last (out of order)
        hold_at = t0 + timedelta(minutes=9)
        s.add(hold_at, "tryton", "account", erp, {"credit_status": "hold"}, f"erp-{erp}-hold")
        s.add(hold_at + timedelta(seconds=1), "tryton", "account", erp, {"credit_status": "review"},
              f"erp-{erp}-review", source_at=t0 + timedelta(minutes=8))
        s.add(t0 + timedelta(minutes=10), "concord", "account", s.cid, {"lifecycle_state": "credit_hold"},
              f"lc-{s.cid}-5")
    if i % 5 == 0:  # the support desk renames the organisation: name is CRM's, so a steward decides
        s.add(t0 + timedelta(minutes=11), "zendesk", "account", f"zd-{i}", {"name": f"{name} (Support)"}, f"zd-{i}-1")
    if i % 7 == 0:  # a workflow bug tries to jump straight back to prospect: refused with 409
        s.add(t0 + timedelta(minutes=12), "concord", "account", s.cid, {"lifecycle_state": "prospect"},
              f"lc-{s.cid}-bad")
    if i % 3 == 0:  # a connector retry re-sends the CRM create with the same idempotency key
        s.out.append((t0 + timedelta(minutes=13), s.out[0][1]))


def _customer(rng: random.Random, i: int) -> list[tuple[datetime, dict[str, Any]]]:
    stream = _Stream(cid=f"cus_{i:04d}", corr=f"corr-demo-{i:04d}")
    t0 = BASE + timedelta(minutes=i * 3)
    name, _, erp, _ = _happy_path(rng, stream, i, t0)
    _complications(stream, i, t0, name, erp)
    return stream.out


def generate(customers: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    timeline = [item for i in range(1, customers + 1) for item in _customer(rng, i)]
    timeline.sort(key=lambda pair: pair[0])
    return [change for _, change in timeline]


def main() -> None:
    for change in generate():
        sys.stdout.buffer.write(orjson.dumps(change) + b"\n")


if __name__ == "__main__":
    main()
