"""concord.ids.new_id: UUIDv7 layout (RFC 9562), time-ordered, unique."""

from __future__ import annotations

import time
import uuid

from concord.ids import new_id


def test_an_id_is_a_version_7_uuid_of_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    raw = new_id()
    after = time.time_ns() // 1_000_000
    assert len(raw) == 32 and raw == raw.lower()
    parsed = uuid.UUID(hex=raw)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after


def test_ids_are_unique_and_sort_by_creation_across_milliseconds() -> None:
    earlier = [new_id() for _ in range(1000)]
    time.sleep(0.002)
    later = [new_id() for _ in range(1000)]
    assert len(set(earlier + later)) == 2000
    assert max(earlier) < min(later)


def test_the_random_part_varies_in_every_random_bit() -> None:
    ids = [uuid.UUID(hex=new_id()).int for _ in range(2000)]
    random_mask = (0xFFF << 64) | ((1 << 62) - 1)
    seen_ones = 0
    for value in ids:
        seen_ones |= value & random_mask
    assert seen_ones == random_mask
