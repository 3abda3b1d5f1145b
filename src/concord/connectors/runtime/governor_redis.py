"""A `GovernorStore` in Redis: every worker of a deployment spends one shared bucket per (tenant, system,
credential), daily quotas included (decision 062).

The governor's state transitions are Python functions (`mutate`), so the store runs them optimistically:
WATCH the key, read, compute, MULTI/SET/EXEC; a concurrent writer makes EXEC fail and the transition is re-run
on the fresh state. This keeps one implementation of the bucket arithmetic (tested with the in-process store)
instead of a second copy in Lua. Contention is per key and each transition is microseconds of Python, so the
retry rate stays low; a key untouched for `ttl_s` expires (a fresh bucket starts full, like a new process).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import WatchError

from concord.connectors.runtime.governor_store import BucketState

R = TypeVar("R")
MAX_ATTEMPTS = 200


class GovernorContention(RuntimeError):
    """The key changed under every attempt: far more callers than one key can serve."""


class RedisGovernorStore:
    def __init__(self, client: Redis, prefix: str = "concord:governor:", ttl_s: int = 3 * 86_400) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    @classmethod
    def from_url(cls, url: str, prefix: str = "concord:governor:") -> RedisGovernorStore:
        client: Redis = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
        client.ping()  # a wrong URL fails here, at start-up, not on the first vendor call
        return cls(client, prefix)

    def transact(self, key: str, mutate: Callable[[BucketState | None], tuple[BucketState, R]]) -> R:
        name = self._prefix + key
        with self._redis.pipeline() as pipe:
            for _ in range(MAX_ATTEMPTS):
                try:
                    pipe.watch(name)  # type: ignore[no-untyped-call]
                    raw: Any = pipe.get(name)
                    state, result = mutate(None if raw is None else BucketState.model_validate_json(raw))
                    pipe.multi()
                    pipe.set(name, state.model_dump_json(), ex=self._ttl_s)
                    pipe.execute()
                    return result
                except WatchError:
                    continue
        raise GovernorContention(f"rate governor key {key} kept changing under {MAX_ATTEMPTS} attempts")

    def peek(self, key: str) -> BucketState | None:
        raw: Any = self._redis.get(self._prefix + key)
        return None if raw is None else BucketState.model_validate_json(raw)
