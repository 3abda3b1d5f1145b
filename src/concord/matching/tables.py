"""The match review queue (migration 0004): one row per undecided pair, with the decision's score and
evidence, so a steward's verdict can later drive merge / unmerge and train the model."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, String, Table, Text, UniqueConstraint

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
    Column("source", String(16), nullable=False),  # dedupe | online
    Column("status", String(16), nullable=False),  # pending | same | different
    Column("created_at", Float, nullable=False),
    Column("decided_by", String(128)),
    Column("decided_at", Float),
    UniqueConstraint("tenant", "entity", "left_id", "right_id", name="uq_match_review_pair"),
    Index("ix_match_reviews_status", "tenant", "entity", "status"),
)
