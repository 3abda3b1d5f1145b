"""The change bus: inbound changes on a NATS JetStream stream, one subject per partition (decision 061).

Publishing: `<prefix>.<partition>` with `Nats-Msg-Id: <tenant>:<idempotency key>` (the stream stores a retried
publish once within its duplicate window; later repeats become idempotent replays at commit). A publish returns
only after JetStream acknowledged it, i.e. after the stream's replicas have it: durable before acknowledged.

Consuming: the owner of a partition reads it through a consumer of its own that starts right after the
partition's `committed_seq` in PostgreSQL. The position lives in the database, committed with the data it
describes; the consumer is disposable — a takeover, a failed batch or a lost NATS node just opens a new one
from the database position. nats-py is asyncio; like `NatsLog` this class runs a private loop on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError, ServiceUnavailableError

from concord.ingest.models import ChangeCreate
from concord.scale.partitions import change_partition
from concord.scale.settings import ScaleConfigError, ScaleSettings

T = TypeVar("T")
log = logging.getLogger(__name__)
PUBLISH_ACK_TIMEOUT_S = 5.0
RETENTION_S = 7 * 86_400.0
ENSURE_PATIENCE_S = 30.0  # how long a change stays replayable from the stream


@dataclass(frozen=True)
class BusMessage:
    partition: int
    seq: int  # stream sequence
    change: ChangeCreate


class ChangeBus:
    def __init__(self, settings: ScaleSettings, connect_timeout_s: float = 3.0) -> None:
        self.settings = settings
        self.partitions = settings.partitions
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="concord-change-bus", daemon=True)
        self._thread.start()
        self._subs: dict[int, JetStreamContext.PullSubscription] = {}
        self._last: dict[int, Msg] = {}
        # Per open partition: the last consumer sequence and stream sequence handed out (see `_in_sequence`).
        self._seen: dict[int, tuple[int, int]] = {}
        self._active: set[int] = set()  # partitions that delivered since the last `broken()` check
        try:
            self._nc: Client = self._call(self._connect(connect_timeout_s))
        except Exception as exc:
            self._stop_loop()
            raise ScaleConfigError(f"cannot reach NATS at CONCORD_SCALE_NATS_URLS={settings.nats_urls}: "
                                   f"{type(exc).__name__}: {exc}") from exc
        self._js = self._nc.jetstream()

    async def _connect(self, timeout_s: float) -> Client:
        # nats-py retries an unreachable first server without end; at start-up a clear error beats a silent
        # wait, so probe the servers first. Once connected the client reconnects forever, moving to another
        # node of the cluster when one goes away.
        servers = self.settings.server_list()
        reachable = [url for url in servers if await _reachable(url, timeout_s)]
        if not reachable:
            raise ConnectionError("no server accepts connections")
        # The reachable nodes first, in order: a node that is down (a cluster member being restarted) must not
        # eat the start-up's time budget.
        ordered = reachable + [url for url in servers if url not in reachable]
        return await asyncio.wait_for(nats.connect(servers=ordered, connect_timeout=timeout_s, dont_randomize=True,
                                                   max_reconnect_attempts=-1, reconnect_time_wait=0.5),
                                      timeout_s * (len(servers) + 1))

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def ensure_stream(self) -> None:
        s = self.settings
        config = StreamConfig(name=s.stream, subjects=[f"{s.subject_prefix}.*"], num_replicas=s.replicas,
                              duplicate_window=120.0, max_age=RETENTION_S)
        # While a cluster elects a stream or meta leader (a node just died or returned) the JetStream API times
        # out or answers 503 for a few seconds: that is no configuration error, so ask again for a while.
        deadline = time.monotonic() + ENSURE_PATIENCE_S
        while True:
            try:
                self._call(self._ensure(config), timeout=30)
                return
            except (NatsError, TimeoutError) as exc:
                transient = isinstance(exc, TimeoutError | NatsTimeout | NoRespondersError | ServiceUnavailableError)
                if transient and time.monotonic() < deadline:
                    log.info("stream %s not ready (%s); asking again", s.stream, type(exc).__name__)
                    time.sleep(1.0)
                    continue
                raise ScaleConfigError(f"cannot create or check stream {s.stream} with {s.replicas} replica(s) "
                                       f"(CONCORD_SCALE_REPLICAS): {type(exc).__name__}: {exc}") from exc

    async def _ensure(self, config: StreamConfig) -> None:
        try:
            info = await self._js.stream_info(str(config.name))
        except NotFoundError:
            await self._js.add_stream(config)
            return
        if info.config.subjects != config.subjects:
            raise ScaleConfigError(f"stream {config.name} exists with subjects {info.config.subjects}, expected "
                                   f"{config.subjects} (CONCORD_SCALE_SUBJECT_PREFIX)")

    # -- publishing -------------------------------------------------------------------------------------
    def publish(self, changes: Sequence[ChangeCreate], patience_s: float = 20.0) -> list[int]:
        """Publish and wait for JetStream's acknowledgements; returns each change's stream sequence.

        While a cluster elects a new stream leader (a node died) publishes time out for a few seconds: the
        whole call is repeated until `patience_s` ran out — safe, the stream keeps one copy per message id."""
        if not changes:
            return []
        deadline = time.monotonic() + patience_s
        while True:
            try:
                return self._call(self._publish(changes))
            except (NatsError, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise
                log.info("publish not acknowledged (%s); repeating", type(exc).__name__)
                time.sleep(0.5)

    async def _publish(self, changes: Sequence[ChangeCreate]) -> list[int]:
        futures = []
        for change in changes:
            subject = f"{self.settings.subject_prefix}.{change_partition(change, self.partitions)}"
            futures.append(await self._js.publish_async(
                subject, change.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"{change.tenant}:{change.idempotency_key}"}))
        # An ack lost with a dying node would leave its future pending for good: give up after a while and let
        # `publish` repeat the whole call (the message ids make the repeat harmless).
        acks = await asyncio.wait_for(asyncio.gather(*futures), PUBLISH_ACK_TIMEOUT_S)
        return [int(ack.seq) for ack in acks]

    # -- consuming --------------------------------------------------------------------------------------
    def open(self, partition: int, after_seq: int) -> None:
        self.close_partition(partition)
        self._subs[partition] = self._call(self._open(partition, after_seq), timeout=8)
        self._seen[partition] = (0, after_seq)

    async def _open(self, partition: int, after_seq: int) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1,
                                ack_policy=AckPolicy.ALL, ack_wait=60.0, max_deliver=-1, inactive_threshold=30.0,
                                num_replicas=1, mem_storage=True)
        return await self._js.pull_subscribe(f"{self.settings.subject_prefix}.{partition}",
                                             stream=self.settings.stream, config=config)

    def close_partition(self, partition: int) -> None:
        sub = self._subs.pop(partition, None)
        self._last.pop(partition, None)
        self._seen.pop(partition, None)
        if sub is not None:
            with contextlib.suppress(Exception):  # the consumer may already be gone with its node
                self._call(self._close(sub), timeout=10)

    async def _close(self, sub: JetStreamContext.PullSubscription) -> None:
        info = await sub.consumer_info()
        await sub.unsubscribe()
        await self._js.delete_consumer(self.settings.stream, info.name)

    def owned(self) -> list[int]:
        return sorted(self._subs)

    def fetch(self, max_total: int) -> tuple[list[BusMessage], list[int]]:
        """Read every open partition at once; returns messages (in stream order per partition) and the
        partitions whose consumer failed (to be reopened from the database position)."""
        if not self._subs:
            return [], []
        per = max(1, min(self.settings.fetch_per_partition, max_total // max(len(self._subs), 1)))
        return self._call(self._fetch_all(per))

    async def _fetch_all(self, per: int) -> tuple[list[BusMessage], list[int]]:
        parts = list(self._subs)
        results = await asyncio.gather(*(self._fetch_one(p, per) for p in parts), return_exceptions=True)
        out: list[BusMessage] = []
        broken: list[int] = []
        for p, result in zip(parts, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("partition %s: consumer failed (%s); reopening", p, result)
                broken.append(p)
                continue
            if not result:
                continue
            if not self._in_sequence(p, result):
                broken.append(p)
                continue
            self._last[p] = result[-1]
            self._active.add(p)
            out.extend(BusMessage(p, m.metadata.sequence.stream, ChangeCreate.model_validate_json(m.data))
                       for m in result)
        return out, broken

    def _in_sequence(self, partition: int, msgs: list[Msg]) -> bool:
        """True when `msgs` continue exactly where the last fetch of the partition ended.

        A consumer numbers every delivery 1, 2, 3…; a fetch that gave up while the server was already delivering
        (a timeout, a reconnect) leaves those messages undelivered to us, and the next fetch starts further on.
        Committing that batch would advance `committed_seq` past the missing changes — lost for good. So any
        jump in the consumer sequence, or a stream sequence that does not rise (a redelivery of something
        older), refuses the fetch; the caller reopens the partition from its committed position."""
        consumer, stream = self._seen.get(partition, (0, 0))
        for m in msgs:
            seq = m.metadata.sequence
            if seq.consumer != consumer + 1 or seq.stream <= stream:
                log.warning("partition %s: delivery gap (consumer seq %s after %s, stream seq %s after %s); "
                            "re-reading from the committed position", partition, seq.consumer, consumer,
                            seq.stream, stream)
                return False
            consumer, stream = seq.consumer, seq.stream
        self._seen[partition] = (consumer, stream)
        return True

    async def _fetch_one(self, partition: int, per: int) -> list[Msg]:
        try:
            return await self._subs[partition].fetch(batch=per, timeout=self.settings.fetch_wait_s)
        except (TimeoutError, NatsTimeout):
            return []

    def broken(self) -> list[int]:
        """Partitions whose consumer is gone (its NATS node died): an empty fetch cannot tell, so ask — but only
        about partitions that delivered nothing since the last check. A consumer that delivers is alive, and asking
        about all of them every heartbeat is a request per partition that, on a loaded server, times out and
        would reopen healthy consumers."""
        idle = sorted(set(self._subs) - self._active)
        self._active.clear()
        if not idle:
            return []
        return self._call(self._broken(idle), timeout=30)

    async def _broken(self, parts: list[int]) -> list[int]:
        infos = await asyncio.gather(*(asyncio.wait_for(self._subs[p].consumer_info(), 3.0) for p in parts),
                                     return_exceptions=True)
        return [p for p, info in zip(parts, infos, strict=True) if isinstance(info, BaseException)]

    def ack(self, partitions: Sequence[int]) -> None:
        """Acknowledge up to the last fetched message (AckAll): lets the consumer move its window on."""
        msgs = [m for m in (self._last.pop(p, None) for p in partitions) if m is not None]
        if msgs:
            with contextlib.suppress(Exception):  # progress is in the database; an ack is only flow control
                self._call(self._ack(msgs), timeout=10)

    async def _ack(self, msgs: list[Msg]) -> None:
        for m in msgs:
            await m.ack()

    # -- housekeeping -----------------------------------------------------------------------------------
    def stream_state(self) -> tuple[int, int]:
        """(first, last) sequence of the stream."""
        info = self._call(self._js.stream_info(self.settings.stream), timeout=10)
        return int(info.state.first_seq), int(info.state.last_seq)

    def delete_stream(self) -> None:
        with contextlib.suppress(NotFoundError):
            self._call(self._js.delete_stream(self.settings.stream))

    def close(self) -> None:
        for p in list(self._subs):
            self.close_partition(p)
        try:
            if not self._nc.is_closed:
                self._call(self._nc.close(), timeout=10)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _reachable(url: str, timeout_s: float) -> bool:
    parsed = urlparse(url if "://" in url else f"nats://{url}")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parsed.hostname, parsed.port or 4222), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
