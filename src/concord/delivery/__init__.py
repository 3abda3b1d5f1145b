"""Outbound delivery (outbox commands → connectors) and inbound change capture (connectors → ingest)."""
