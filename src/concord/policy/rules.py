"""Decision tables and their evaluation (pure: no I/O).

A policy file holds named tables; each table is an ordered list of rules and the first rule whose `when`
holds decides. A condition is either a list of allowed values or a numeric range `{gte, lt}`; a fact that is
absent satisfies no condition except `{missing: true}`. A rule without `when` always holds (a default).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from concord.yamlconf import Located

Fact = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    gte: float | None = None
    lt: float | None = None
    missing: bool | None = None


Condition = list[Fact] | Range


class Rule(_Strict):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    when: dict[str, Condition] = Field(default_factory=dict)
    set: dict[str, Any] = Field(min_length=1)


class PolicyFile(_Strict):
    version: int = Field(ge=1)
    tables: dict[str, list[Rule]] = Field(min_length=1)

    @field_validator("tables")
    @classmethod
    def _unique_ids(cls, value: dict[str, list[Rule]]) -> dict[str, list[Rule]]:
        for table, rules in value.items():
            seen: set[str] = set()
            for i, rule in enumerate(rules):
                if rule.id in seen:
                    raise Located((table, i, "id"), f"rule id {rule.id!r} is used twice in table {table!r}")
                seen.add(rule.id)
        return value


class Decision(BaseModel):
    """What one table decided for one set of facts, and on whose authority."""

    model_config = ConfigDict(frozen=True)

    table: str
    rule_id: str
    version: str
    outputs: dict[str, Any]


class NoRuleMatched(LookupError):
    def __init__(self, table: str, version: str) -> None:
        super().__init__(f"no rule of policy table {table!r} (version {version}) matches, and it has no default")
        self.table = table


def _holds(condition: Condition, value: Fact) -> bool:
    if isinstance(condition, Range):
        if value is None:
            return bool(condition.missing)
        if condition.missing or isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return (condition.gte is None or value >= condition.gte) and (condition.lt is None or value < condition.lt)
    return value is not None and value in condition


def evaluate(policy: PolicyFile, version: str, table: str, facts: dict[str, Fact]) -> Decision:
    """The first rule of `table` whose conditions all hold for `facts`."""
    rules = policy.tables.get(table)
    if rules is None:
        raise KeyError(f"policy has no table {table!r}")
    for rule in rules:
        if all(_holds(condition, facts.get(name)) for name, condition in rule.when.items()):
            return Decision(table=table, rule_id=rule.id, version=version, outputs=dict(rule.set))
    raise NoRuleMatched(table, version)
