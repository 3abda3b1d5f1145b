"""The match review queue (migration 0004): one row per undecided pair, with the decision's score and
evidence, so a steward's verdict can later drive merge / unmerge and train the model."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from concord.storage.tables import metadata

match_reviews = Table(
    "match_reviews", metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("left_id", String(64), nullable=False),  # the smaller canonical id of the pair
    Column("right_id", String(64), nullable=False),
    Column("score", Float, nullable=False),
    Column("outcome", String(16), nullable=False),  # what the matcher concluded: link | review
    Column("reason", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # MatchDecision.to_json()["evidence"]
    Column("source", String(16), nullable=False),  # dedupe | online | onboarding
    Column("status", String(16), nullable=False),  # pending | same | different | auto (linked, for audit)
    Column("created_at", Float, nullable=False),
    Column("decided_by", String(128)),
    Column("decided_at", Float),
    UniqueConstraint("tenant", "entity", "left_id", "right_id", name="uq_match_review_pair"),
    Index("ix_match_reviews_status", "tenant", "entity", "status"),
)

# Merges (migration 0006): what `concord merge` changed, enough to undo it exactly. `snapshot` holds both golden
# rows as they were, every binding and match key that was repointed; `merged_version` is the survivor's version
# right after the merge, so an unmerge can tell whether anything wrote to the survivor since.
merges = Table(
    "merges", metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("survivor_id", String(64), nullable=False),
    Column("absorbed_id", String(64), nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("merged_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # merged | unmerged
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("undone_at", Float),
    Column("undone_by", String(128)),
    Index("ix_merges_survivor", "tenant", "survivor_id"),
    Index("ix_merges_absorbed", "tenant", "absorbed_id"),
)

# Changes held back by the online duplicate check (outcome `review`): the incoming record might be an existing
# customer, so it is neither bound nor created until a steward links or splits the review named here.
held_changes = Table(
    "held_changes", metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("system", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("review_id", String(64), nullable=False),
    Column("change_id", String(64), nullable=False),
    Column("request", Text, nullable=False),  # the ChangeCreate as submitted (JSON)
    Column("status", String(16), nullable=False),  # held | released
    Column("created_at", Float, nullable=False),
    Column("released_at", Float),
    Index("ix_held_external", "tenant", "system", "entity", "external_id", "status"),
    Index("ix_held_review", "review_id"),
)

# Bindings reconciliation dropped because the record was deleted or archived in its system: the customer stays,
# and is not reported as missing there again (re-creating a record someone deleted is a steward's call).
binding_tombstones = Table(
    "binding_tombstones", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("system", String(32), primary_key=True),
    Column("entity", String(32), primary_key=True),
    Column("canonical_id", String(64), primary_key=True),
    Column("external_id", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
