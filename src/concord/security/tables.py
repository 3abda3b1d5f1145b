"""Tables of the security side (migration 0008): API keys, the audit chain, encrypted secrets, mapping change
proposals and activated mapping versions, and the nonces of inbound webhooks already seen."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from concord.storage.tables import Seq, metadata

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),  # the public prefix of the key, used for lookup
    Column("tenant", String(64), nullable=False),
    Column("name", String(128), nullable=False),  # the actor recorded in the audit trail
    Column("role", String(32)),
    Column("scopes", Text, nullable=False),  # space-separated Scope values
    Column("secret_hash", String(64), nullable=False),  # SHA-256 hex of the secret part; the secret is never stored
    Column("created_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("replaced_by", String(32)),
    Index("ix_api_keys_tenant", "tenant"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("customer", String(64)),
    Column("system", String(32)),
    Column("correlation_id", String(128)),
    Column("before", Text),
    Column("after", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Two writers that read the same chain head would fork the chain: the second insert fails and retries.
    UniqueConstraint("prev_hash", name="uq_audit_prev_hash"),
    Index("ix_audit_customer", "customer", "seq"),
    Index("ix_audit_actor", "actor", "seq"),
)

secrets = Table(
    "secrets", metadata,
    Column("name", String(255), primary_key=True),
    Column("master_key_id", String(64), nullable=False),  # which master key wraps the data key
    Column("wrapped_key", Text, nullable=False),  # the per-secret data key, encrypted under the master key
    Column("ciphertext", Text, nullable=False),  # nonce + AES-GCM ciphertext of the value under the data key
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(128), nullable=False),
)

mapping_proposals = Table(
    "mapping_proposals", metadata,
    Column("id", String(64), primary_key=True),
    Column("system", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("base_version", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # the proposed MappingSpec as JSON
    Column("status", String(16), nullable=False),  # proposed | active | superseded | rejected | rolled_back
    Column("proposed_by", String(128), nullable=False),
    Column("proposed_at", Float, nullable=False),
    Column("dry_run", Text),  # the field-level diff over recent traffic, kept with the decision
    Column("approved_by", String(128)),
    Column("approved_at", Float),
    Column("activated_version", Integer),
    Column("reason", Text),
    # Whose mapping is changed: a tenant's override, or "*" for the hub-wide spec (migration 0011).
    Column("tenant", String(64), nullable=False, server_default="*"),
    Index("ix_mapping_proposals_status", "status"),
)

mapping_versions = Table(
    "mapping_versions", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("system", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("spec", Text, nullable=False),
    Column("proposal_id", String(64)),
    Column("activated_by", String(128), nullable=False),
    Column("activated_at", Float, nullable=False),
    Column("tenant", String(64), nullable=False, server_default="*"),  # "*": the hub-wide spec's history
    UniqueConstraint("tenant", "system", "entity", "version", name="uq_mapping_version"),
)

webhook_nonces = Table(
    "webhook_nonces", metadata,
    Column("source", String(64), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("seen_at", Float, nullable=False),
    Index("ix_webhook_nonces_seen", "seen_at"),
)

# Ownership rule changes (migration 0010): the same four-eyes flow as mappings, over the whole policy ('*') or
# one tenant's override section (migration 0012: `tenant`, and `policy` then holds only that section).
ownership_proposals = Table(
    "ownership_proposals", metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False, server_default="*"),
    Column("base_version", Integer, nullable=False),  # the policy version in force when proposed
    Column("policy", Text, nullable=False),  # the proposed OwnershipPolicy as JSON
    Column("status", String(16), nullable=False),  # proposed | active | superseded | rejected | rolled_back
    Column("proposed_by", String(128), nullable=False),
    Column("proposed_at", Float, nullable=False),
    Column("dry_run", Text),  # accepted / rejected / pending per system and field, old rules vs new
    Column("approved_by", String(128)),
    Column("approved_at", Float),
    Column("activated_version", Integer),
    Column("reason", Text),
    Index("ix_ownership_proposals_status", "status"),
    Index("ix_ownership_proposals_tenant_status", "tenant", "status"),
)

ownership_versions = Table(
    "ownership_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),  # the highest row is the policy in force
    Column("policy", Text, nullable=False),
    Column("proposal_id", String(64)),
    Column("activated_by", String(128), nullable=False),
    Column("activated_at", Float, nullable=False),
)
