"""Reconciliation and backfill: compare what each system holds with the golden records, report drift, heal it
through the normal outbound path, and load a system's existing records (matching as it goes).

`drift` is pure (what differs and how to heal it), `engine` walks a system through its connector and the
store, `heal` turns drift into outbox commands and ingest changes, `backfill` the resumable initial load,
`cli` the commands. See docs/decisions/023-025.
"""
