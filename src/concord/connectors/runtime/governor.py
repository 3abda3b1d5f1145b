"""The rate governor: one token bucket per (tenant, system, credential), adapted by what vendors report.

`acquire` blocks (through the injected clock) while the key is short of tokens or paused by a `Retry-After`;
it raises `QuotaExhausted` instead of blocking when the daily allowance is spent, since that pause lasts
hours and the caller should park the work rather than hold a worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import QuotaExhausted, RateLimit, RateLimited
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.governor_store import BucketState, GovernorStore, InMemoryGovernorStore
from concord.connectors.runtime.quota_headers import HeaderRule, QuotaObservation, parse_quota_headers


@dataclass(frozen=True)
class RateKey:
    """Whose allowance a call spends. `credential` is a credential's id, never the secret."""

    tenant: str
    system: str
    credential: str

    def storage_key(self) -> str:
        return f"{self.tenant}/{self.system}/{self.credential}"


MIN_WAIT_S = 1e-6


class GovernorSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Longer waits raise RateLimited(retry_after): the retry policy or scheduler decides, not a parked thread.
    max_wait_s: float = Field(default=30.0, ge=0)
    daily_window_s: float = Field(default=86_400.0, gt=0)
    # A vendor said 'daily quota spent' without saying when it resets: let one probe call through this often.
    quota_recheck_s: float = Field(default=900.0, gt=0)


@dataclass(frozen=True)
class Headroom:
    """What is left for a key, for metrics and dashboards."""

    tokens: float | None
    capacity: float | None
    daily_remaining: int | None
    daily_limit: int | None
    paused_for_s: float
    quota_resume_at: datetime | None


@dataclass(frozen=True)
class _Decision:
    wait: float = 0.0
    quota_resume_at: float | None = None


def _to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _refill(state: BucketState, now: float) -> BucketState:
    elapsed = max(now - state.updated_at, 0.0)
    if state.capacity is None:
        return state.model_copy(update={"updated_at": max(now, state.updated_at)})
    tokens = min(state.capacity, state.tokens + elapsed * state.refill_per_s)
    return state.model_copy(update={"tokens": tokens, "updated_at": max(now, state.updated_at)})


class RateGovernor:
    """Token buckets per key built from declared `RateLimit`s (keyed by system name)."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        store: GovernorStore | None = None,
        clock: Clock | None = None,
        settings: GovernorSettings | None = None,
        header_rules: Sequence[HeaderRule] | None = None,
    ) -> None:
        self._limits = dict(limits)
        self._store: GovernorStore = store or InMemoryGovernorStore()
        self._clock: Clock = clock or SystemClock()
        self._settings = settings or GovernorSettings()
        self._rules = header_rules

    # -- public API -------------------------------------------------------------------------------------

    def acquire(self, key: RateKey) -> None:
        """Take one token for `key`, sleeping while the bucket refills or a pause runs out."""
        waited = 0.0
        while True:
            now = self._clock.time()
            decision = self._store.transact(key.storage_key(), partial(self._take, key, now))
            if decision.quota_resume_at is not None:
                resume = _to_datetime(decision.quota_resume_at)
                raise QuotaExhausted(key.system, f"daily API quota spent until {resume.isoformat()}", resume)
            if decision.wait <= 0:
                return
            if waited + decision.wait > self._settings.max_wait_s:
                raise RateLimited(
                    key.system, f"rate governor would wait {decision.wait:.3f}s", retry_after=decision.wait
                )
            # A floor on the sleep: at epoch-sized times a sub-microsecond wait cannot move a float clock, and
            # the loop would spin forever on a token that is 0.9999999 full.
            wait = max(decision.wait, MIN_WAIT_S)
            self._clock.sleep(wait)
            waited += wait

    def pause(self, key: RateKey, seconds: float) -> None:
        """Stop every caller of `key` for `seconds` (a 429's Retry-After applies to the key, not one call)."""
        now = self._clock.time()
        self._store.transact(key.storage_key(), partial(self._pause, key, now, seconds))

    def observe(self, key: RateKey, headers: Mapping[str, str]) -> QuotaObservation:
        """Adapt the key's bucket to what a response's headers say about the vendor's own counters."""
        now = self._clock.time()
        observation = parse_quota_headers(headers, now, self._rules)
        if not observation.is_empty():
            self._store.transact(key.storage_key(), partial(self._apply, key, now, observation))
        return observation

    def headroom(self, key: RateKey) -> Headroom:
        now = self._clock.time()
        state = self._current(key, self._store.peek(key.storage_key()), now)
        return Headroom(
            tokens=None if state.capacity is None else state.tokens,
            capacity=state.capacity,
            daily_remaining=state.daily_remaining,
            daily_limit=state.daily_limit,
            paused_for_s=max(state.paused_until - now, 0.0),
            quota_resume_at=None if state.quota_resume_at is None else _to_datetime(state.quota_resume_at),
        )

    # -- state transitions (run inside the store's transaction) -----------------------------------------

    def _initial(self, key: RateKey, now: float) -> BucketState:
        limit = self._limits.get(key.system)
        if limit is None:
            return BucketState(capacity=None, refill_per_s=0.0, tokens=0.0, updated_at=now)
        return BucketState(
            capacity=float(limit.requests),
            refill_per_s=limit.requests / limit.per_seconds,
            tokens=float(limit.requests),
            updated_at=now,
            daily_limit=limit.daily_quota,
            daily_remaining=limit.daily_quota,
        )

    def _current(self, key: RateKey, state: BucketState | None, now: float) -> BucketState:
        """The state as of `now`: refilled, daily window rolled, an elapsed quota pause lifted."""
        current = _refill(state or self._initial(key, now), now)
        start = current.daily_window_start
        if start is not None and now >= start + self._settings.daily_window_s:
            current = current.model_copy(
                update={"daily_remaining": current.daily_limit, "daily_window_start": None}
            )
        if current.quota_resume_at is not None and now >= current.quota_resume_at:
            update: dict[str, Any] = {"quota_resume_at": None}
            if current.daily_remaining is not None and current.daily_remaining <= 0:
                # Same window, vendor-reported exhaustion: one probe call learns the vendor's new count.
                update["daily_remaining"] = 1
            current = current.model_copy(update=update)
        return current

    def _take(self, key: RateKey, now: float, state: BucketState | None) -> tuple[BucketState, _Decision]:
        current = self._current(key, state, now)
        if current.quota_resume_at is not None:
            return current, _Decision(quota_resume_at=current.quota_resume_at)
        if current.daily_remaining is not None and current.daily_remaining <= 0:
            resume = self._local_quota_resume(current, now)
            return current.model_copy(update={"quota_resume_at": resume}), _Decision(quota_resume_at=resume)
        if now < current.paused_until:
            return current, _Decision(wait=current.paused_until - now)
        if current.capacity is not None and current.tokens < 1.0:
            return current, _Decision(wait=(1.0 - current.tokens) / current.refill_per_s)
        update: dict[str, Any] = {}
        if current.capacity is not None:
            update["tokens"] = current.tokens - 1.0
        if current.daily_remaining is not None:
            update["daily_remaining"] = current.daily_remaining - 1
            if current.daily_window_start is None:
                update["daily_window_start"] = now
        return current.model_copy(update=update), _Decision()

    def _local_quota_resume(self, state: BucketState, now: float) -> float:
        if state.daily_window_start is None:
            return now + self._settings.quota_recheck_s
        return state.daily_window_start + self._settings.daily_window_s

    def _pause(
        self, key: RateKey, now: float, seconds: float, state: BucketState | None
    ) -> tuple[BucketState, None]:
        current = self._current(key, state, now)
        return current.model_copy(update={"paused_until": max(current.paused_until, now + seconds)}), None

    def _apply(
        self, key: RateKey, now: float, obs: QuotaObservation, state: BucketState | None
    ) -> tuple[BucketState, None]:
        current = self._current(key, state, now)
        update: dict[str, Any] = {}
        if obs.interval_max and obs.interval_seconds:
            # The vendor's real burst limit (a tier upgrade, a capacity pack) beats the declared one.
            update["capacity"] = obs.interval_max
            update["refill_per_s"] = obs.interval_max / obs.interval_seconds
            update["tokens"] = min(current.tokens, obs.interval_max)
        if obs.interval_remaining is not None and (current.capacity is not None or "capacity" in update):
            # Other clients share the vendor's counter; never believe we have more than it says.
            update["tokens"] = min(update.get("tokens", current.tokens), obs.interval_remaining)
        pause_for = obs.retry_after or 0.0
        if obs.interval_remaining is not None and obs.interval_remaining <= 0 and obs.reset_after:
            pause_for = max(pause_for, obs.reset_after)
        if pause_for > 0:
            update["paused_until"] = max(current.paused_until, now + pause_for)
        update.update(self._daily_update(current, now, obs))
        return current.model_copy(update=update), None

    def _daily_update(self, current: BucketState, now: float, obs: QuotaObservation) -> dict[str, Any]:
        update: dict[str, Any] = {}
        if obs.daily_max is not None:
            update["daily_limit"] = int(obs.daily_max)
        left = obs.daily_left()
        if left is None:
            return update
        start = current.daily_window_start if current.daily_window_start is not None else now
        update["daily_remaining"] = left
        update["daily_window_start"] = start
        if left <= 0:
            update["quota_resume_at"] = min(
                now + self._settings.quota_recheck_s, start + self._settings.daily_window_s
            )
        return update
