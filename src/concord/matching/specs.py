"""What to compare per entity: the projection of canonical flat fields onto normalised match fields, the
blocking keys, the comparators and default Fellegi-Sunter parameters (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jellyfish

from concord.canonical.fields import JsonValue
from concord.matching import compare as c
from concord.matching import normalize as n
from concord.matching.model import FieldParams, FSModel

Row = tuple[str, ...]  # normalised values, aligned with the spec's comparators


@dataclass(frozen=True)
class MatchSpec:
    entity: str
    comparators: tuple[c.Comparator, ...]
    project: Callable[[Mapping[str, JsonValue]], Row]
    block_keys: Callable[[Row], list[str]]
    defaults: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]  # (m, u) per comparator

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(cmp.field for cmp in self.comparators)

    def model(self) -> FSModel:
        """A fresh model with the default parameters (EM or training refines a copy, never the spec)."""
        return FSModel(self.comparators, [FieldParams(list(m), list(u)) for m, u in self.defaults])


def _text(values: Mapping[str, JsonValue], key: str) -> str:
    value = values.get(key)
    return "" if value is None else str(value).strip()


def _soundex(token: str) -> str:
    return jellyfish.soundex(token) if token.isalpha() else token


def _phonetic(name: str) -> str:
    return " ".join(jellyfish.metaphone(t) if t.isalpha() else t for t in name.split()[:2])


# ---- accounts -------------------------------------------------------------------------------------------
def _account_row(values: Mapping[str, JsonValue]) -> Row:
    country = _text(values, "legal_address.country") or _text(values, "billing_address.country")
    # ERP owns the legal and billing addresses, CRM the shipping one: a record known only to CRM is matched on
    # the address it has rather than on none (most companies ship where they are registered).
    prefix = next((p for p in ("legal_address", "billing_address", "shipping_address")
                   if _text(values, f"{p}.line1") or _text(values, f"{p}.postal_code")), "legal_address")
    taxes = sorted({n.tax_id(t.get("type"), t.get("value"), t.get("country") or country)
                    for t in values.get("tax_profile.tax_ids") or [] if isinstance(t, dict)} - {""})
    return (
        n.company_name(_text(values, "legal_name") or _text(values, "name")),
        n.company_domain(_text(values, "domain") or _text(values, "website")),
        "|".join(taxes),
        n.phone(_text(values, "phone"), country),
        n.postcode(_text(values, f"{prefix}.postal_code"), country),
        n.fold(_text(values, f"{prefix}.city")),
        n.street(_text(values, f"{prefix}.line1")),
        country,
    )


def _account_keys(row: Row) -> list[str]:
    name, domain, taxes, phone, postcode, city = row[:6]
    keys = [f"tax:{t}" for t in taxes.split("|") if t]
    keys += [f"dom:{domain}"] if domain else []
    keys += [f"tel:{phone}"] if len(phone) >= 8 else []
    if name:
        keys.append("tok:" + " ".join(sorted(name.split())))
        keys.append("pre:" + " ".join(sorted(t[:4] for t in name.split())))  # a typo past the 4th letter
        keys.append(f"pho:{_phonetic(name)}")
        keys += [f"loc:{postcode or city}:{name[:3]}"] if postcode or city else []
    return keys


ACCOUNT = MatchSpec(
    entity="account",
    comparators=(c.anchored(c.company("name"), "reordered"), c.anchored(c.exact("domain"), "exact"),
                 c.anchored(c.any_shared("tax_id"), "shared"), c.anchored(c.edit_distance("phone"), "exact"),
                 c.edit_distance("postcode"), c.fuzzy_text("city"), c.fuzzy_text("street"), c.exact("country")),
    project=_account_row,
    block_keys=_account_keys,
    defaults=(
        ((0.04, 0.06, 0.1, 0.1, 0.7), (0.97, 0.02, 0.006, 0.002, 0.002)),
        ((0.15, 0.85), (0.9995, 0.0005)),
        ((0.01, 0.99), (0.99995, 0.00005)),  # two tax ids that differ: almost never one company
        ((0.2, 0.05, 0.75), (0.999, 0.0009, 0.0001)),
        ((0.25, 0.05, 0.7), (0.98, 0.01, 0.01)),
        ((0.2, 0.03, 0.07, 0.7), (0.9, 0.03, 0.02, 0.05)),
        ((0.3, 0.05, 0.1, 0.55), (0.97, 0.02, 0.009, 0.001)),
        ((0.02, 0.98), (0.6, 0.4)),
    ),
)


# ---- contacts -------------------------------------------------------------------------------------------
def _contact_row(values: Mapping[str, JsonValue]) -> Row:
    return (
        n.person_name(_text(values, "first_name")),
        n.person_name(_text(values, "last_name")),
        n.email(_text(values, "email")),
        n.phone(_text(values, "phone")),
        _text(values, "account_id"),
    )


def _contact_keys(row: Row) -> list[str]:
    first, last, mail, phone, account = row
    keys = [f"mail:{mail}"] if mail else []
    keys += [f"tel:{phone}"] if len(phone) >= 8 else []
    if first and last:
        keys.append("nm:" + "".join(sorted((_soundex(first), _soundex(last)))))
    if last and account:
        keys.append(f"acct:{account}:{_soundex(last)}")
    return keys


CONTACT = MatchSpec(
    entity="contact",
    comparators=(c.fuzzy_text("first_name"), c.fuzzy_text("last_name"),
                 c.anchored(c.edit_distance("email"), "one_edit"), c.anchored(c.edit_distance("phone"), "exact"),
                 c.anchored(c.exact("account_id"), "exact")),
    project=_contact_row,
    block_keys=_contact_keys,
    defaults=(
        ((0.05, 0.05, 0.1, 0.8), (0.9, 0.05, 0.04, 0.01)),
        ((0.05, 0.05, 0.1, 0.8), (0.95, 0.03, 0.015, 0.005)),
        ((0.15, 0.05, 0.8), (0.99999, 0.000005, 0.000005)),
        ((0.3, 0.05, 0.65), (0.9999, 0.00005, 0.00005)),
        ((0.1, 0.9), (0.99, 0.01)),
    ),
)


# ---- people as in FEBRL (the labelled benchmark for contacts) -------------------------------------------
PERSON_FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode",
                 "state", "date_of_birth", "soc_sec_id")


def _person_row(values: Mapping[str, JsonValue]) -> Row:
    return tuple(n.person_name(_text(values, f)) if f in {"given_name", "surname"} else n.fold(_text(values, f))
                 for f in PERSON_FIELDS)


def _person_keys(row: Row) -> list[str]:
    given, surname, number, _addr, _addr2, suburb, postcode, _state, dob, ssn = row
    keys = [f"ssn:{ssn}"] if ssn else []
    if number:  # the house: catches a name changed and a birth date mistyped together
        keys += [f"house:{number}:{place}" for place in (postcode, suburb) if place]
    keys += [f"dob:{dob}"] if dob else []
    if given and surname:
        keys.append("nm:" + "".join(sorted((_soundex(given), _soundex(surname)))))
    if postcode and (given or surname):
        keys.append(f"pc:{postcode}:{(surname or given)[:1]}")
    return keys


_TEXT4 = ((0.05, 0.05, 0.1, 0.8), (0.9, 0.05, 0.04, 0.01))
_CODE3 = ((0.05, 0.1, 0.85), (0.99, 0.009, 0.001))
PERSON = MatchSpec(
    entity="person",
    comparators=(c.fuzzy_text("given_name"), c.fuzzy_text("surname"), c.edit_distance("street_number"),
                 c.fuzzy_text("address_1"), c.fuzzy_text("address_2"), c.fuzzy_text("suburb"),
                 c.edit_distance("postcode"), c.exact("state"), c.date("date_of_birth"),
                 c.edit_distance("soc_sec_id")),
    project=_person_row,
    block_keys=_person_keys,
    defaults=(_TEXT4, _TEXT4, _CODE3, _TEXT4, _TEXT4, _TEXT4, _CODE3, ((0.05, 0.95), (0.7, 0.3)),
              ((0.05, 0.02, 0.08, 0.85), (0.99, 0.001, 0.008, 0.001)), _CODE3),
)

SPECS: dict[str, MatchSpec] = {s.entity: s for s in (ACCOUNT, CONTACT, PERSON)}
