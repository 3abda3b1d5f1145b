"""Process-wide runtime tuning for long-running Concord processes (server, workers, benchmarks)."""

from __future__ import annotations

import gc


def tune_gc_for_throughput() -> None:
    """Fewer, larger automatic garbage collections. The ingest writer keeps up to 10^5 golden records cached;
    with CPython's default thresholds (700, 10, 10) full collections walked them every few hundred milliseconds
    and stalled acknowledgements for over 100 ms (bench/ingest p99 145 ms → 32 ms with these settings). Objects
    alive at start-up (config, mappings, compiled SQL) are frozen out of collection altogether. Under sustained
    ingest the writer collects the young generation itself, a batch at a time (`YoungCollector`)."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class YoungCollector:
    """Collects the young generation in small steps, a batch at a time, instead of letting CPython do it in
    lumps (docs/decisions/090). Owned by the ingest writer, which calls `collect` once per pipelined batch while
    the previous batch's commit runs without the interpreter lock on another thread.

    Why: under ingest the young generation is mostly freshly cached golden records, and CPython counts
    allocations *minus deallocations* towards its threshold — each new record version frees the old one, so the
    count crawls while the young list grows. At 50,000 a young collection found ~75,000 live objects and held
    the lock for 30 to 75 ms, stalling every caller in flight. One batch's survivors take ~0.2 ms.

    Generation 1 (survivors of earlier passes) is collected whenever its count is due, as CPython would: every
    50 passes, ~7 ms. Gating it to once per 5 s was measured too: a quarter of the work, but ~60 ms passes —
    most survivors of a few seconds are still alive. The full collection stays CPython's own (its long-lived
    rule), from its automatic trigger."""

    def __init__(self) -> None:
        self.passes = [0, 0]  # collections made here, by generation

    def collect(self) -> int:
        """One pass; the generation collected, or -1 when the process turned collection off (gc.disable)."""
        if not gc.isenabled():
            return -1
        generation = 1 if gc.get_count()[1] > gc.get_threshold()[1] else 0
        gc.collect(generation)
        self.passes[generation] += 1
        return generation
