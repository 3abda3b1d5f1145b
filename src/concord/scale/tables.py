"""Tables of scale mode (migration 0009): the fixed partition count, partition leases and live workers."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from concord.storage.tables import metadata

scale_settings = Table(
    "scale_settings", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per partition. `token` is the fencing token: every takeover increments it, and a batch commits only
# while its worker still holds the token it was granted. `committed_seq` is the last stream sequence of the
# partition whose change is committed: the position lives with the data, in the same transaction.
scale_leases = Table(
    "scale_leases", metadata,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(128)),
    Column("token", BigInteger, nullable=False, server_default="0"),
    Column("expires_at", Float, nullable=False, server_default="0"),
    Column("committed_seq", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", Float, nullable=False, server_default="0"),
)

scale_workers = Table(
    "scale_workers", metadata,
    Column("worker_id", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("draining", Integer, nullable=False, server_default="0"),
)
