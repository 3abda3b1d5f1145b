"""Identifiers that sort by creation time (UUIDv7 layout, RFC 9562).

Time-ordered ids append to the end of B-tree indexes instead of landing on random pages, which keeps each
group commit's write set small. The random part comes from a per-process PRNG seeded from the OS (and re-seeded
after fork by the `random` module): ids must be unique, not secret, and an `os.urandom` call per id cost 5% of
ingest time.
"""

from __future__ import annotations

import random
import time

_VERSION_AND_VARIANT = (0x7 << 76) | (0x2 << 62)
_RAND_A = (0xFFF << 64) | ((1 << 62) - 1)  # the 12 + 62 random bits around the version and variant fields


def new_id() -> str:
    """32 hex characters: 48-bit Unix milliseconds, version 7, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = random.getrandbits(80) & _RAND_A
    return f"{(ms & 0xFFFF_FFFF_FFFF) << 80 | _VERSION_AND_VARIANT | rand:032x}"
