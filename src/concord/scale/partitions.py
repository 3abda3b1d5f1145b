"""Which partition a change and an outbound command belong to (stable across processes and languages)."""

from __future__ import annotations

import hashlib
import zlib

from concord.hubconfig import INTERNAL_SYSTEMS
from concord.ingest.models import ChangeCreate


def customer_key(change: ChangeCreate) -> str:
    """The key a change is ordered by. A change naming its golden record (`canonical_id`) is ordered with every
    other change of that record, whichever system sent it; otherwise by the source record it describes, so
    one system's changes to one record never overtake each other (decision 061)."""
    if change.canonical_id:
        return f"{change.tenant}/{change.canonical_id}"
    if change.system in INTERNAL_SYSTEMS:
        return f"{change.tenant}/{change.external_id}"
    return f"{change.tenant}/{change.system}/{change.entity}/{change.external_id}"


def change_partition(change: ChangeCreate, partitions: int) -> int:
    return zlib.crc32(customer_key(change).encode()) % partitions


def command_partition(canonical_id: str, partitions: int) -> int:
    """Outbound commands are delivered by the owner of their golden record's partition. Defined on MD5 so
    PostgreSQL computes the same number in the pending-commands query (`command_partition_sql`)."""
    return int(hashlib.md5(canonical_id.encode()).hexdigest()[:8], 16) % partitions


def command_partition_sql(column: str, partitions: int) -> str:
    return f"(('x' || substr(md5({column}), 1, 8))::bit(32)::bigint % {int(partitions)})"
