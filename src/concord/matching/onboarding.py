"""Link-or-create for onboarding: before the workflow creates the customer in a system of record (the ERP), the
candidates that system already holds are matched against the account, and a match links instead of creating.

`erp_candidates` asks the connector (by tax id, then by the distinctive word of the name); `decide_party` is
pure: the candidates are mapped to canonical values with the system's own mapping and scored by the same
Fellegi-Sunter model as every other duplicate check, with the same thresholds (precision first: anything short
of an auto-link is a steward's call, never a silent second party).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from concord.canonical.fields import JsonValue
from concord.connectors.base import Connector, ExternalRecord
from concord.mappings.mapper import Mapper, MappingError
from concord.matching.decision import MatchDecision, MatchSettings, Outcome
from concord.matching.index import MatchIndex
from concord.matching.normalize import company_name
from concord.matching.specs import ACCOUNT

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


@dataclass(frozen=True)
class PartyDecision:
    """`link`: use the system's record `external_id`; `review`: ask a steward; `new`: create it."""

    outcome: Outcome
    external_id: str | None
    best: MatchDecision | None
    candidates: tuple[MatchDecision, ...]


def decide_party(account: Mapping[str, JsonValue], candidates: Sequence[ExternalRecord], mapper: Mapper,
                 settings: MatchSettings | None = None) -> PartyDecision:
    """Which of the system's records (if any) is this account; candidates that do not map are skipped."""
    index = MatchIndex(ACCOUNT, ACCOUNT.model(), settings or MatchSettings())
    for record in candidates:
        if record.deleted:
            continue
        try:
            index.upsert(record.id, mapper.to_canonical(record.fields).values)
        except MappingError:
            continue
    result = index.check(account)
    best = result.best
    if best is None or result.outcome is Outcome.NEW:
        return PartyDecision(Outcome.NEW, None, best, result.candidates)
    return PartyDecision(result.outcome, best.right_id if result.outcome is Outcome.LINK else None, best,
                         result.candidates)


def _name_probe(account: Mapping[str, JsonValue]) -> str | None:
    """The longest word of the normalised name (legal forms dropped): "ACME Corp." and "Acme Corporation"
    both contain "acme", which a substring search finds whatever the legal form and case."""
    name = company_name(str(account.get("legal_name") or account.get("name") or ""))
    words = sorted(name.split(), key=len, reverse=True)
    return words[0] if words and len(words[0]) >= 3 else None


def erp_candidates(connector: Connector, obj: str, account: Mapping[str, JsonValue],
                   limit: int = 25) -> list[ExternalRecord]:
    """The system's records that could be this account: same tax id, or a name sharing its main word."""
    found: dict[str, ExternalRecord] = {}
    taxes = account.get("tax_profile.tax_ids")
    for tax in taxes if isinstance(taxes, list) else []:
        if isinstance(tax, dict) and tax.get("value"):
            compact = _NON_ALNUM.sub("", str(tax["value"])).upper()  # as Tryton's code_compact holds it
            for record in connector.search(obj, {"tax_identifier": compact}, limit):
                found.setdefault(record.id, record)
    probe = _name_probe(account)
    if probe is not None:
        for record in connector.search(obj, {"name": f"%{probe}%"}, limit):
            found.setdefault(record.id, record)
    return list(found.values())


def link_or_create(connector: Connector, mapper: Mapper, account: Mapping[str, JsonValue],
                   settings: MatchSettings | None = None) -> PartyDecision:
    """What the onboarding workflow calls before creating the customer in a system of record."""
    return decide_party(account, erp_candidates(connector, mapper.spec.object, account), mapper, settings)
