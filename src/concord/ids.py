"""Identifiers that sort by creation time (UUIDv7 layout, RFC 9562).

Time-ordered ids append to the end of B-tree indexes instead of landing on random pages, which keeps each
group commit's write set small; they are still unguessable (74 random bits).
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """32 hex characters: 48-bit Unix milliseconds, version 7, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | (0x7 << 76)  # version 7
    value = value & ~(0x3 << 62) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value).hex
