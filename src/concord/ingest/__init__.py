"""Accepting changes: validation, idempotency, group commit, ownership gate, golden record + outbox."""
