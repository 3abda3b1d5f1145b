"""Ownership rules: per entity and field pattern, the owning system and the mode for everyone else."""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationInfo, field_validator, model_validator

from concord.canonical.fields import field_catalog
from concord.canonical.models import ENTITY_TYPES
from concord.yamlconf import Located


class OwnershipMode(StrEnum):
    OWNER_ONLY = "owner_only"  # a non-owner write is rejected and recorded
    APPROVAL = "approval"  # a non-owner write becomes a pending steward decision
    FILL_IF_EMPTY = "fill_if_empty"  # a non-owner may fill the field until the owner has spoken


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str = Field(min_length=1)
    mode: OwnershipMode = OwnershipMode.OWNER_ONLY

    @field_validator("owner")
    @classmethod
    def _known_owner(cls, owner: str, info: ValidationInfo) -> str:
        # A typo here would silently turn every write of the field into a refused non-owner write.
        known = (info.context or {}).get("systems")
        if known is not None and owner not in known:
            raise ValueError(f"unknown system {owner!r}; known: {', '.join(sorted(known))}")
        return owner


EntityRules = dict[str, dict[str, FieldRule]]  # entity -> field pattern -> rule


def check_rules(scope: tuple[str, ...], rules: EntityRules) -> None:
    """Every entity known and every pattern matching one of its fields; raises Located at the culprit."""
    for entity, patterns in rules.items():
        if entity not in ENTITY_TYPES:
            raise Located((*scope, entity), "unknown entity")
        paths = field_catalog(entity)
        for pattern in patterns:
            if not any(fnmatchcase(p, pattern) for p in paths):
                raise Located((*scope, entity, pattern), f"matches no field of {entity}")


def _specificity(pattern: str) -> tuple[int, int]:
    # An exact path beats any wildcard; among wildcards, more literal characters is more specific.
    literal = sum(1 for ch in pattern if ch not in "*?[]")
    return (0 if any(ch in pattern for ch in "*?[") else 1, literal)


class OwnershipPolicy(BaseModel):
    """The whole ownership configuration; `rule_for` answers per (tenant, entity, field)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    entities: EntityRules
    tenants: dict[str, EntityRules] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> OwnershipPolicy:
        check_rules(("entities",), self.entities)
        for tenant, rules in self.tenants.items():
            check_rules(("tenants", tenant), rules)
        for entity in ENTITY_TYPES:
            own = self.entities.get(entity, {})
            uncovered = [p for p in field_catalog(entity) if not any(fnmatchcase(p, pat) for pat in own)]
            if uncovered:
                raise Located(("entities", entity), f"no rule covers {', '.join(uncovered)} (add a '*' rule)")
        return self

    def rule_for(self, tenant: str, entity: str, path: str) -> FieldRule:
        """The most specific matching pattern across the tenant's overrides and the defaults; on equal
        specificity the tenant's rule wins (a tenant `"*"` must not shadow a default `legal_name`)."""
        candidates = [((*_specificity(pat), level), rule)
                      for level, rules in ((1, self.tenants.get(tenant, {}).get(entity, {})),
                                           (0, self.entities.get(entity, {})))
                      for pat, rule in rules.items() if fnmatchcase(path, pat)]
        if not candidates:
            raise KeyError(f"no ownership rule for {entity}.{path}")
        return max(candidates, key=lambda c: c[0])[1]

    def owners(self) -> set[str]:
        found = {r.owner for rules in self.entities.values() for r in rules.values()}
        found |= {r.owner for t in self.tenants.values() for rules in t.values() for r in rules.values()}
        return found


class TenantOverrides(RootModel[EntityRules]):
    """One tenant's override section (what sits under `tenants.<T>` in ownership.yaml): entity → field pattern
    → rule. Empty means the tenant follows the hub-wide rules. Validated like the same section of a policy."""

    @model_validator(mode="after")
    def _check(self) -> TenantOverrides:
        check_rules((), self.root)
        return self


def overrides_of(policy: OwnershipPolicy, tenant: str) -> EntityRules:
    return policy.tenants.get(tenant, {})


def with_overrides(policy: OwnershipPolicy, tenant: str, overrides: EntityRules) -> OwnershipPolicy:
    """`policy` with `tenant`'s override section replaced (removed when empty); every other part unchanged."""
    tenants = {t: rules for t, rules in policy.tenants.items() if t != tenant}
    if overrides:
        tenants[tenant] = overrides
    return policy.model_copy(update={"tenants": dict(sorted(tenants.items()))})


class RuleIndex:
    """Memoised `rule_for`: the gate asks the same (tenant, entity, field) questions millions of times."""

    def __init__(self, policy: OwnershipPolicy) -> None:
        self.policy = policy
        self._memo: dict[tuple[str, str, str], FieldRule] = {}

    def rule_for(self, tenant: str, entity: str, path: str) -> FieldRule:
        key = (tenant, entity, path)
        rule = self._memo.get(key)
        if rule is None:
            rule = self._memo[key] = self.policy.rule_for(tenant, entity, path)
        return rule
