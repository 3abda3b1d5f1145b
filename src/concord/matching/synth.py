"""A seeded generator of company (account) records with known duplicates, for tests and the benchmark.

Each company may appear up to four times, re-keyed as a CRM or ERP clerk would: legal-form variants, typos,
abbreviations, domain and tax-id formatting (sometimes missing or wrong), reformatted phones and, now and then,
a move to a new address. Sibling companies (same brand, other business, own tax id and domain) are the hard
negatives: a matcher that merges them makes the false merge this data set exists to catch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

_SYLLABLES = ("ka", "lo", "mi", "tra", "ven", "zor", "bel", "qui", "dra", "nex", "sol", "mar", "tek", "ori",
              "lum", "var", "pen", "cor", "ax", "sy", "ro", "fen", "gal", "hel", "ist", "jun", "kor", "ly")
_TRADES = ("Systems", "Logistics", "Technologies", "Foods", "Consulting", "Partners", "Industries", "Labs",
           "International", "Manufacturing", "Services", "Solutions", "Energy", "Pharma", "Media", "Capital")
_ABBREV = {"International": "Intl", "Technologies": "Tech", "Manufacturing": "Mfg", "Services": "Svcs",
           "Laboratories": "Labs", "and": "&"}
_STREETS = ("Main", "Market", "High", "Station", "Park", "Church", "Mill", "King", "Queen", "Lake", "Garden")
_COUNTRIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # legal forms as written by different clerks; city list; phone area code
    "DE": (("GmbH", "G.m.b.H.", "gmbh", "AG", ""), ("Berlin", "München", "Köln", "Hamburg"), "30"),
    "GB": (("Ltd", "Limited", "Ltd.", "PLC", ""), ("London", "Leeds", "Bristol", "York"), "20"),
    "US": (("Inc", "Inc.", "Incorporated", "LLC", "Corp.", ""), ("Austin", "Boston", "Denver", "Miami"), "512"),
    "FR": (("SA", "S.A.", "SAS", "SARL", ""), ("Paris", "Lyon", "Nantes", "Lille"), "1"),
    "CH": (("AG", "SA", "GmbH", ""), ("Zürich", "Genève", "Basel", "Bern"), "44"),
    "NL": (("B.V.", "BV", "N.V.", ""), ("Amsterdam", "Utrecht", "Delft", "Leiden"), "20"),
}


@dataclass(frozen=True)
class Company:
    key: int
    brand: str
    trade: str
    form: int  # index of the legal form family member used in the true name
    country: str
    city: str
    street: str
    number: int
    postcode: str
    domain: str
    tax_digits: str
    phone: str


def _street(rng: random.Random) -> str:
    return rng.choice(_STREETS) if rng.random() < 0.3 else _brand(rng)


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def company(rng: random.Random, key: int, brand: str | None = None) -> Company:
    country = rng.choice(list(_COUNTRIES))
    brand = brand or _brand(rng)
    trade = rng.choice(_TRADES)
    return Company(
        key=key, brand=brand, trade=trade, form=rng.randrange(len(_COUNTRIES[country][0])), country=country,
        city=rng.choice(_COUNTRIES[country][1]), street=_street(rng), number=rng.randint(1, 250),
        postcode=f"{rng.randint(1000, 99999):05d}", domain=f"{brand.lower()}-{trade.lower()}{key}.com",
        tax_digits=f"{rng.randint(10**8, 10**9 - 1)}", phone=f"{rng.randint(10**6, 10**7 - 1)}",
    )


def _tax(c: Company, rng: random.Random) -> dict[str, str]:
    d = c.tax_digits
    if c.country == "US":
        return {"type": "us_ein", "value": rng.choice((f"{d[:2]}-{d[2:]}", d))}
    if c.country == "CH":
        return {"type": "ch_vat", "value": rng.choice((f"CHE-{d[:3]}.{d[3:6]}.{d[6:]} MWST", f"CHE{d}"))}
    if c.country == "GB":
        return {"type": "gb_vat", "value": rng.choice((f"GB{d}", f"{d[:3]} {d[3:7]} {d[7:]}"))}
    suffix = "B01" if c.country == "NL" else ""
    value = rng.choice((f"{c.country}{d}{suffix}", f"{c.country} {d[:3]} {d[3:6]} {d[6:]}{suffix}"))
    return {"type": "eu_vat", "value": value, "country": c.country}


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    op = rng.randrange(3)
    if op == 0:
        return text[:i] + text[i + 1:]
    if op == 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1:]


def _name(c: Company, rng: random.Random, noisy: bool) -> str:
    forms = _COUNTRIES[c.country][0]
    trade = c.trade
    form = forms[c.form]
    if noisy:
        form = rng.choice([f for f in forms if f[:2].lower() == form[:2].lower()] or [form])
        if rng.random() < 0.3:
            trade = _ABBREV.get(trade, trade)
    name = " ".join(p for p in (c.brand, trade, form) if p)
    if noisy and rng.random() < 0.25:
        name = _typo(name, rng)
    if noisy and rng.random() < 0.15:
        name = name.upper()
    return name


def _phone(c: Company, rng: random.Random) -> str | None:
    code = {"US": "1", "GB": "44", "DE": "49", "FR": "33", "CH": "41", "NL": "31"}[c.country]
    area = _COUNTRIES[c.country][2]
    trunk = "" if c.country == "US" else "0"
    p = c.phone
    return rng.choice((f"+{code} {area} {p}", f"{trunk}{area} {p[:3]}-{p[3:]}", f"00{code}{area}{p}", None))


def record(c: Company, rng: random.Random, noisy: bool) -> dict[str, Any]:
    """One system's copy of company `c`; `noisy` copies carry clerical variation."""
    moved = noisy and rng.random() < 0.15
    street = f"{_street(rng)} Street" if moved else rng.choice((f"{c.street} Street", f"{c.street} St."))
    values: dict[str, Any] = {
        "name": _name(c, rng, noisy),
        "phone": None if moved else _phone(c, rng),
        "legal_address.line1": f"{rng.randint(1, 250) if moved else c.number} {street}",
        "legal_address.city": rng.choice(_COUNTRIES[c.country][1]) if moved else c.city,
        "legal_address.postal_code": f"{rng.randint(1000, 99999):05d}" if moved else c.postcode,
        "legal_address.country": c.country,
    }
    roll = rng.random()
    if not noisy or roll < 0.6:
        values["website"] = rng.choice((f"https://www.{c.domain}/", c.domain, f"http://{c.domain}"))
    elif roll < 0.7:
        values["website"] = c.domain.replace(".com", ".net")  # a regional site: the domain disagrees
    if not noisy or rng.random() < 0.6:
        values["tax_profile.tax_ids"] = [_tax(c, rng)]
    return values


def generate(companies: int, seed: int = 7, duplicate_rate: float = 0.5,
             sibling_rate: float = 0.1) -> list[tuple[int, dict[str, Any]]]:
    """(true company key, account values) pairs, shuffled; companies x (1 + ~duplicate_rate x 1.7) records."""
    rng = random.Random(seed)
    out: list[tuple[int, dict[str, Any]]] = []
    previous: Company | None = None
    for key in range(companies):
        sibling = previous is not None and rng.random() < sibling_rate
        c = company(rng, key, previous.brand if sibling and previous else None)
        out.append((key, record(c, rng, noisy=False)))
        if rng.random() < duplicate_rate:
            out.extend((key, record(c, rng, noisy=True)) for _ in range(rng.randint(1, 3)))
        previous = c
    rng.shuffle(out)
    return out
