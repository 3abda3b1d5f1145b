"""The HTTP API (FastAPI): change ingest, golden records, approvals, health."""
