"""The shared backend: Redis Streams (redis-py asyncio), for several bridge processes behind one load balancer.

Everything the bridge keeps lives in Redis under one key prefix (default ``{trayapp}``, a hash tag, so every key
sits in one cluster slot and the Lua scripts may touch them all): the event stream, the seq counter, the dedupe
keys, the epoch, the tokens (hashes only), the token generation and the Ed25519 signing key. Every process that
points at the same Redis is the same bridge: same seqs, same epoch, same key.

Keys (``P`` = prefix): ``P:epoch``, ``P:seq`` (the head: last seq assigned), ``P:events`` (the stream; entry id
``<seq>-0``; one field ``e`` = ``received_at LF received_ts LF dedupe_key LF event-JSON LF body``, one field so
that reading is cheap), ``P:dd:<sha256>`` (dedupe → seq, TTL: the retention), ``P:cases:open`` (case id → state
JSON of every open case), ``P:cc:<case id>`` (a closed case's state, TTL: the retention), ``P:signing-key`` (PEM),
``P:tokens`` (hash → JSON name/created_at/n),
``P:tokens:revoked`` (hash → revoked_at), ``P:tokens:active`` (name → hash),
``P:tokens:n`` (creation counter), ``P:token-gen`` (bumped on every revocation).

Design: **the stream stores the parts of an event and every process signs at read time.**
The Ed25519 signature covers the seq, and the seq is only known inside Redis. Signing first and storing after
needs a second write (a crash between the two leaves a hole, or readers see an unsigned event), and guessing the
seq before the write livelocks when several processes append. Instead ONE Lua script, per batch, does for each
item: dedupe check (an accepted key answers the original seq, ``duplicate=True``), ``INCR`` of the seq, ``XADD
P:events <seq>-0`` with the item's parts (received_at, received_ts, dedupe key, event JSON, body) and ``SET
P:dd:<key> <seq> EX 86400``. Scripts are atomic, so the seq and its stream entry appear together: a reader never
sees a seq without its event (every seq <= ``GET P:seq`` is in the stream unless retention trimmed it), no crash
can leave a hole, and stream-id order *is* seq order -- also when several processes append at once.
The frame (``FrameBuilder(seq, item)``, the same function the SQLite backend uses) is built when an event is
first read or fanned out in a process and cached (bounded by bytes). Ed25519 (RFC 8032) signatures are
deterministic, so every process produces the same ``sig`` for the same seq from the shared key (and the frame's
``id`` is ``<epoch>-<seq>``). ``read`` serves the cached run of frames after ``since`` without asking Redis (the
fan-out fills the cache, so catch-ups and reconnect storms mostly stay in process) and fetches the rest with
``XRANGE``; cached events older than the last known first retained seq (``bounds``/``prune``) are not served.

Durability: the script's reply is the acknowledgement. With ``appendonly yes`` + ``appendfsync always`` Redis
fsyncs the AOF before it sends any reply of that event-loop turn (also to the ``XREAD`` of other processes), so
"200 only after durable" holds and no client can see an event that a Redis crash could lose. ``open()`` checks
this with ``CONFIG GET`` when allowed and logs a warning otherwise (``docs/deploy.md#redis``).

Group commits: ``append`` only queues; one writer task sends everything queued (up to ``MAX_BATCH`` items or
``MAX_BATCH_BYTES``) as ONE ``EVALSHA``; concurrent webhooks share one round trip and one fsync. Items of a batch
get consecutive seqs unless another process interleaves -- order between processes is decided by Redis.

Fan-out: a background task per process ``XREAD BLOCK``s from the last id it saw and calls the listeners with
every new event in seq order -- events appended by any process, this one included, each exactly once per
process. It survives outages: on an error it retries with a short backoff and resumes from the same id.

Failures: short socket timeouts, no retry on a timeout and one immediate retry on a broken connection (what a
pooled connection does once after a Redis restart), so an unreachable or hanging Redis raises
:class:`~trayapp.bridge.errors.StoreUnavailable` within about ``timeout`` seconds (503; Acquire retries). A batch
whose reply did not arrive may or may not have been stored; it is never acknowledged, and a retry of the delivery
finds the dedupe key and answers the original seq. Each batch checks the epoch key: a Redis that lost its data (no
AOF) is a different store, and this process refuses to write into it until restarted.

Cases: the append script also folds each event's case update (``NewEvent.case``; the rule of
``core.cases.merge``, written again in Lua) into ``P:cases:open`` (case id → state JSON) -- or, once the case is
closed, into ``P:cc:<case id>`` (TTL: the retention) -- so every process sees the same case state, consistent with
the seq counter; ``open_cases`` reads the hash and the head in one ``MULTI``. A store from before the case state is
folded once from the events it still has when a serving process opens it (``P:cases:folded`` marks it done).
Every process must run a version that folds: an older one appends events without case updates.

Retention: ``prune`` scans the oldest entries (``XRANGE``) for the first one received at or after the cutoff and
``XTRIM MINID``s up to it (always a prefix, so the retained seqs stay contiguous). Dedupe keys expire by TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from ..core import cases
from ..core.backoff import backoff
from ..logs import redact, redact_url
from .errors import BadRequest, ConfigError, StoreClosed, StoreUnavailable
from .keys import from_pem, new_pem
from .store import (
    DEFAULT_DEDUPE_WINDOW_S,
    AppendResult,
    Bounds,
    FrameBuilder,
    NewEvent,
    OpenCases,
    Store,
    StoredEvent,
    TokenInfo,
    within_bytes,
)

log = logging.getLogger("trayapp.bridge.store_redis")

MAX_BATCH = 256
MAX_BATCH_BYTES = 8 * 1024 * 1024
FANOUT_COUNT = 1000
FRAME_CACHE_BYTES = 64 * 1024 * 1024
PRUNE_PAGE = 100
READ_PAGE = 50  # XRANGE page of a byte-bounded read

# The fold of one case update (KEYS[4]: the open cases; ARGV[2]: the ttl of a closed case), shared by the append and
# the back-fill script. fold() is core.cases.merge, the same rule (tests/integration/test_store_contract.py holds
# both stores to core's fold).
_FOLD_LUA = """
local FIELDS = {'contact_name', 'title', 'channel', 'department', 'agent_name'}
local function digits(t) return (string.gsub(t, '%D', '')) end
local function fold(ck, seq, up)
  local id = up.case_id
  local raw = redis.call('HGET', KEYS[4], id)
  local was_closed = false
  if not raw then
    raw = redis.call('GET', ck)
    was_closed = raw and true or false
  end
  local s
  if raw then
    s = cjson.decode(raw)
    local newer = up.status ~= nil and tonumber(up.order) > tonumber(s.order)
    if up.status ~= nil then
      if up.status == s.status then
        if digits(up.since) < digits(s.status_since) then s.status_since = up.since end
        if tonumber(up.order) > tonumber(s.order) then s.order = up.order end
      elseif newer then
        s.status, s.status_since, s.order = up.status, up.since, up.order
      end
    end
    for _, f in ipairs(FIELDS) do
      if up[f] ~= nil and (newer or s[f] == nil) then s[f] = up[f] end
    end
    if s.first_message == nil then s.first_message = up.first_message end
    if seq > s.updated_seq then s.updated_seq = seq end
    if up.ts > s.updated_ts then s.updated_ts = up.ts end
  else
    s = {case_id = id, status = up.status or 'pending', status_since = up.since, order = up.order,
         updated_seq = seq, updated_ts = up.ts, first_message = up.first_message}
    for _, f in ipairs(FIELDS) do s[f] = up[f] end
  end
  local encoded = cjson.encode(s)
  if s.status == 'closed' then
    redis.call('HDEL', KEYS[4], id)
    redis.call('SET', ck, encoded, 'EX', tonumber(ARGV[2]))
  else
    redis.call('HSET', KEYS[4], id, encoded)
    if was_closed then redis.call('DEL', ck) end
  end
end
"""

# KEYS: seq, stream, epoch, open cases, then per item its dedupe key and its closed-case key.  ARGV: epoch, ttl,
# then per item its packed entry and its case update (JSON, "" for none).
# Answers one number per item: the new seq, or minus the original seq of a duplicate.
APPEND_LUA = "#!lua\n" + _FOLD_LUA[1:] + """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return redis.error_reply('EPOCH the store was recreated (epoch key changed or lost); restart the bridge')
end
local ttl = tonumber(ARGV[2])
local out = {}
for i = 5, #KEYS, 2 do
  local dk = KEYS[i]
  local prev = redis.call('GET', dk)
  if prev then
    out[#out + 1] = -tonumber(prev)
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('XADD', KEYS[2], seq .. '-0', 'e', ARGV[i - 2])
    redis.call('SET', dk, seq, 'EX', ttl)
    local case = ARGV[i - 1]
    if case ~= '' then fold(KEYS[i + 1], seq, cjson.decode(case)) end
    out[#out + 1] = seq
  end
end
return out
"""

# KEYS: (unused), (unused), (unused), open cases, then per update its closed-case key.  ARGV: (unused), ttl, then per
# update its seq and its case update (JSON). Folds events a store had before it kept case state (see open()).
BACKFILL_LUA = "#!lua\n" + _FOLD_LUA[1:] + """
for i = 5, #KEYS do
  fold(KEYS[i], tonumber(ARGV[2 * (i - 4) + 1]), cjson.decode(ARGV[2 * (i - 4) + 2]))
end
return #KEYS - 4
"""

# KEYS: tokens, active, counter.  ARGV: hash, name, created_at, departments (JSON).  1 ok, 0 name taken,
# -1 hash exists.
ADD_TOKEN_LUA = """#!lua
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
local n = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({name = ARGV[2], created_at = ARGV[3], n = n,
                                                   departments = ARGV[4]}))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: active, revoked, token-gen.  ARGV: name, revoked_at.  1 revoked, 0 no active token of that name.
REVOKE_TOKEN_LUA = """#!lua
local h = redis.call('HGET', KEYS[1], ARGV[1])
if not h then return 0 end
redis.call('HSET', KEYS[2], h, ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
"""


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _pack(item: NewEvent) -> bytes:
    """The stream entry of an item: the fixed fields (no LF in any of them), then the body (may hold LFs)."""
    event = json.dumps(item.event, ensure_ascii=True, separators=(",", ":"))  # lone surrogates survive, no LF
    text = f"{item.received_at}\n{float(item.received_ts)!r}\n{item.dedupe_key}\n{event}\n{item.body}"
    return text.encode("utf-8", "surrogatepass")


def _unpack(raw: bytes) -> NewEvent:
    at, ts, dk, event, body = raw.decode("utf-8", "surrogatepass").split("\n", 4)
    return NewEvent(body=body, event=json.loads(event), dedupe_key=dk, received_at=at, received_ts=float(ts))


def _case_arg(item: NewEvent) -> str:
    """The case update of an item as the append script reads it ("" for none)."""
    if item.case is None:
        return ""
    return json.dumps({**item.case.to_json(), "ts": float(item.received_ts)}, ensure_ascii=False,
                      separators=(",", ":"))


def _ts_of(raw: bytes) -> float:
    return float(raw[raw.index(b"\n") + 1:raw.index(b"\n", raw.index(b"\n") + 1)])


def _seq_of(entry_id: bytes | str) -> int:
    return int(_text(entry_id).partition("-")[0])


class _Append:
    __slots__ = ("future", "item", "size")

    def __init__(self, item: NewEvent, future: asyncio.Future[AppendResult], size: int) -> None:
        self.item = item
        self.future = future
        self.size = size


async def probe(url: str, timeout: float = 1.0) -> None:
    """One ``PING``: :class:`ConfigError` for a URL the store would refuse, :class:`StoreUnavailable` if Redis does not
    answer within about ``timeout`` (or answers an error, e.g. ``LOADING`` while it reads its AOF)."""
    store = RedisStore(url, timeout=timeout)
    try:
        r = store._client(timeout, 1)
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL {redact_url(url)!r}: {redact(str(exc))}") from exc
    try:
        await store._io(r.ping())
    finally:
        await r.aclose(close_connection_pool=True)


def _token_info(data: dict[str, Any], revoked: bytes | None) -> TokenInfo:
    departments = tuple(json.loads(data.get("departments") or "[]"))  # (tokens from before scoping have none)
    return TokenInfo(data["name"], data["created_at"], _text(revoked) if revoked is not None else None, departments)


class RedisStore(Store):
    """``RedisStore("redis://host:6379/0")``; see the module docstring."""

    def __init__(self, url: str, *, prefix: str = "trayapp", timeout: float = 0.8, block_ms: int = 1000,
                 max_connections: int = 64, dedupe_window: float = DEFAULT_DEDUPE_WINDOW_S) -> None:
        super().__init__(dedupe_window)
        self.url = url
        self.timeout = timeout
        self.block_ms = block_ms
        self.max_connections = max_connections
        p = "{" + prefix + "}"
        self._k_epoch = f"{p}:epoch"
        self._k_seq = f"{p}:seq"
        self._k_stream = f"{p}:events"
        self._k_dedupe = f"{p}:dd:"
        self._k_key = f"{p}:signing-key"
        self._k_tokens = f"{p}:tokens"
        self._k_revoked = f"{p}:tokens:revoked"
        self._k_active = f"{p}:tokens:active"
        self._k_token_n = f"{p}:tokens:n"
        self._k_token_gen = f"{p}:token-gen"
        self._k_open_cases = f"{p}:cases:open"
        self._k_closed_case = f"{p}:cc:"
        self._k_cases_from = f"{p}:cases:folded"
        self._r: aioredis.Redis | None = None
        self._rx: aioredis.Redis | None = None  # the fan-out's own connection (long XREAD BLOCKs)
        self._scripts: dict[str, Any] = {}
        self._epoch = ""
        self._frame_builder: FrameBuilder | None = None
        self._pending: list[_Append] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._fanout: asyncio.Task[None] | None = None
        self._fan_last = "0-0"
        self._frames: OrderedDict[int, StoredEvent] = OrderedDict()
        self._first_known = 1  # the first retained seq as last seen by bounds() / prune() here
        self._frames_bytes = 0
        self._key: Ed25519PrivateKey | None = None
        self._closed = True
        self._stopping = False
        self.durable: bool | None = None  # what open() found out about the AOF settings (None: unknown)

    # -- lifecycle -------------------------------------------------------------------------------
    def _client(self, socket_timeout: float, max_connections: int) -> aioredis.Redis:
        # One immediate retry on a broken connection (a pooled connection that a Redis restart closed fails once;
        # a dead Redis refuses the retry at once), none on a timeout (a hanging Redis must answer 503 within about
        # `timeout`). A retried append that did run is answered by its dedupe key: same seq, never a second event.
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=max_connections, timeout=self.timeout,
            socket_timeout=socket_timeout, socket_connect_timeout=self.timeout,
            retry=retry, retry_on_error=[], health_check_interval=0,
        )
        if str(pool.connection_kwargs.get("protocol") or 2) != "2":
            raise ValueError("the bridge speaks RESP2 to Redis: drop ?protocol= from the URL")
        return aioredis.Redis(connection_pool=pool, retry=retry)

    async def open(self, frame_builder: FrameBuilder | None = None) -> None:
        if not self._closed:
            return
        self._frame_builder = frame_builder
        self._stopping = False
        try:
            self._r = self._client(self.timeout, self.max_connections)
        except ValueError as exc:
            raise ConfigError(f"bad Redis URL {redact_url(self.url)!r}: {redact(str(exc))}") from exc
        r = self._r
        self._scripts = {
            "append": r.register_script(APPEND_LUA),
            "add_token": r.register_script(ADD_TOKEN_LUA),
            "revoke": r.register_script(REVOKE_TOKEN_LUA),
            "backfill": r.register_script(BACKFILL_LUA),
        }
        try:
            await self._io(r.set(self._k_epoch, secrets.token_hex(8), nx=True))
            epoch, head = await self._io(r.mget(self._k_epoch, self._k_seq))
            if epoch is None:
                raise StoreUnavailable("Redis lost the epoch key right after it was set")
            self._epoch = _text(epoch)
            self._fan_last = f"{int(head or 0)}-0"
            await self._check_durability()
            if frame_builder is not None:
                await self._backfill_cases()
        except StoreUnavailable as exc:
            await r.aclose(close_connection_pool=True)
            self._r = None
            raise StoreUnavailable(f"{redact(exc.reason)} (Redis URL {redact_url(self.url)})") from exc
        except BaseException:
            await r.aclose(close_connection_pool=True)
            self._r = None
            raise
        self._closed = False
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._writer = loop.create_task(self._write_loop(), name="redis-store-writer")
        if frame_builder is not None:
            self._rx = self._client(self.block_ms / 1000 + self.timeout + 1.0, 2)
            self._fanout = loop.create_task(self._fanout_loop(), name="redis-store-fanout")

    async def _backfill_cases(self) -> None:
        """A store from before the case state (no ``P:cases:folded``): fold the events it still has, then mark it.
        Folding an update twice changes nothing, so processes starting together, or a restart after a crash in
        the middle, do no harm; events appended meanwhile were folded by the append script."""
        assert self._r is not None
        r = self._r
        if await self._io(r.exists(self._k_cases_from)):
            return
        head = int(await self._io(r.get(self._k_seq)) or 0)
        start, folded = "-", 0
        while head:
            entries = await self._io(r.xrange(self._k_stream, start, f"{head}-0", count=PRUNE_PAGE))
            keys: list[str] = ["", "", "", self._k_open_cases]
            args: list[str | int] = ["", max(1, int(self.dedupe_window))]
            for entry_id, fields in entries:
                item = _unpack(fields[b"e"])
                with contextlib.suppress(ValueError, TypeError, RecursionError):
                    payload = json.loads(item.body)
                    update = cases.update_of(payload, item.event, item.received_at) \
                        if isinstance(payload, dict) and isinstance(item.event, dict) else None
                    if update is not None:
                        keys.append(self._k_closed_case + update.case_id)
                        args += [_seq_of(entry_id), _case_arg(replace(item, case=update))]
            if len(keys) > 4:
                folded += int(await self._io(self._scripts["backfill"](keys=keys, args=args)))
            if len(entries) < PRUNE_PAGE:
                break
            start = "(" + _text(entries[-1][0])
        await self._io(r.set(self._k_cases_from, str(head)))
        if folded:
            log.info("case state: folded %d events the store had before it kept case state", folded)

    async def _check_durability(self) -> None:
        assert self._r is not None
        try:
            conf: Any = await self._r.config_get("append*")
        except ResponseError:  # CONFIG disabled (managed Redis): cannot tell
            log.info("cannot read the Redis AOF settings; make sure appendonly=yes and appendfsync=always")
            return
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"Redis not reachable at {redact_url(self.url)}: {redact(str(exc))}") from exc
        values = {_text(k): _text(v) for k, v in conf.items()}
        self.durable = values.get("appendonly") == "yes" and values.get("appendfsync") == "always"
        if not self.durable:
            log.warning("Redis runs with appendonly=%s appendfsync=%s: an acknowledged webhook may be lost if Redis "
                        "crashes; set appendonly yes and appendfsync always (docs/deploy.md#redis)",
                        values.get("appendonly"), values.get("appendfsync"))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wake.set()
        if self._writer is not None:
            await self._writer  # finishes what was queued (each batch fails fast if Redis is gone)
            self._writer = None
        if self._fanout is not None:
            # redis-py (8.1) can swallow a cancellation that lands while it connects: ask again until it ends
            while not self._fanout.done():
                self._fanout.cancel()
                await asyncio.wait({self._fanout}, timeout=0.2)
            with contextlib.suppress(asyncio.CancelledError):
                await self._fanout
            self._fanout = None
        for client in (self._r, self._rx):
            if client is not None:
                await client.aclose(close_connection_pool=True)
        self._r = self._rx = None
        self._frames.clear()
        self._frames_bytes = 0

    @property
    def epoch(self) -> str:
        return self._epoch

    def _redis(self) -> aioredis.Redis:
        if self._closed or self._r is None:
            raise StoreClosed("store is closed")
        return self._r

    async def _io(self, aw: Awaitable[Any]) -> Any:
        """Await one Redis call (untyped replies: ``decode_responses=False``); failures become StoreUnavailable."""
        try:
            return await aw
        except ResponseError as exc:
            raise StoreUnavailable(f"Redis refused: {exc}") from exc
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"Redis not reachable: {exc or type(exc).__name__}") from exc

    async def ping(self) -> None:
        """Redis answers *and* still holds this store (a Redis that lost its data is not ready)."""
        epoch = await self._io(self._redis().get(self._k_epoch))
        if epoch is None or _text(epoch) != self._epoch:
            raise StoreUnavailable("the store in Redis was recreated (epoch changed or lost); restart the bridge")

    # -- appends (group commits) -----------------------------------------------------------------
    async def append(self, item: NewEvent) -> AppendResult:
        if self._closed:
            raise StoreClosed("store is closed")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._pending.append(_Append(item, future, len(item.body) + 512))
        self._wake.set()
        return await future

    async def _write_loop(self) -> None:
        while True:
            if not self._pending:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch: list[_Append] = []
            size = 0
            for job in self._pending:
                if len(batch) >= MAX_BATCH or (batch and size + job.size > MAX_BATCH_BYTES):
                    break
                batch.append(job)
                size += job.size
            del self._pending[:len(batch)]
            try:
                await self._commit(batch)
            except Exception as exc:  # a bug: never leave callers waiting, never lose the writer
                log.exception("append batch failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(StoreUnavailable(f"append failed: {exc!r}"))

    async def _commit(self, batch: list[_Append]) -> None:
        assert self._r is not None
        keys = [self._k_seq, self._k_stream, self._k_epoch, self._k_open_cases]
        args: list[bytes | str | int] = [self._epoch, max(1, int(self.dedupe_window))]
        packable: list[_Append] = []
        for job in batch:
            item = job.item
            try:
                packed = _pack(item)
                case = _case_arg(item)
            except (TypeError, ValueError) as exc:  # an event dict that is not JSON: a bug upstream, not Redis
                log.error("cannot store event: %s", exc)
                if not job.future.done():
                    job.future.set_exception(StoreUnavailable(f"event cannot be stored: {exc}"))
                continue
            packable.append(job)
            keys += [self._k_dedupe + item.dedupe_key, self._k_closed_case + (item.case.case_id if item.case else "")]
            args += [packed, case]
        batch = packable
        if not batch:
            return
        try:
            answers = await self._scripts["append"](keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            if isinstance(exc, ResponseError):
                err: StoreUnavailable = StoreUnavailable(f"Redis refused the append: {exc}")
                log.error("append failed: %s", exc)
            else:
                err = StoreUnavailable(f"Redis not reachable: {exc or type(exc).__name__}")
                # everything queued meanwhile would only wait for the next timeout: answer 503 now
                batch = batch + self._pending
                self._pending = []
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        except BaseException as exc:  # cancelled: nobody gets an answer that was not confirmed
            for job in batch + self._pending:
                if not job.future.done():
                    job.future.set_exception(StoreClosed(f"store closed during append: {exc!r}"))
            raise
        for job, answer in zip(batch, answers, strict=True):
            n = int(answer)
            if not job.future.done():
                job.future.set_result(AppendResult(abs(n), n < 0))

    # -- reads -----------------------------------------------------------------------------------
    def _cache(self, event: StoredEvent) -> None:
        self._frames[event.seq] = event
        self._frames_bytes += len(event.frame)
        while self._frames_bytes > FRAME_CACHE_BYTES and len(self._frames) > 1:
            _, old = self._frames.popitem(last=False)
            self._frames_bytes -= len(old.frame)

    def _stored(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> list[StoredEvent]:
        out = []
        for entry_id, fields in entries:
            seq = _seq_of(entry_id)
            event = self._frames.get(seq)
            if event is None:
                if self._frame_builder is None:
                    raise StoreUnavailable("store opened without a frame builder cannot read events")
                item = _unpack(fields[b"e"])
                event = StoredEvent(seq, item.received_ts, self._frame_builder(seq, item))
                self._cache(event)
            out.append(event)
        return out

    async def read(self, since: int, limit: int, max_bytes: int | None = None) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        size = 0
        seq = since + 1
        if seq >= self._first_known:  # the cached run after `since` (the fan-out keeps it filled)
            frames = self._frames
            while len(out) < limit and (max_bytes is None or size < max_bytes):
                event = frames.get(seq)
                if event is None:
                    break
                frames.move_to_end(seq)
                out.append(event)
                size += len(event.frame)
                seq += 1
        while len(out) < limit and (max_bytes is None or size < max_bytes):
            count = limit - len(out) if max_bytes is None else min(limit - len(out), READ_PAGE)
            entries = await self._io(self._redis().xrange(self._k_stream, f"{seq}-0", "+", count=count))
            page = within_bytes(self._stored(entries), None if max_bytes is None else max_bytes - size)
            out += page
            size += sum(len(e.frame) for e in page)
            if len(entries) < count:
                break
            seq = out[-1].seq + 1
        return out

    async def bounds(self) -> Bounds:
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.get(self._k_seq)
            pipe.xrange(self._k_stream, "-", "+", count=1)
            head_raw, first_entries = await self._io(pipe.execute())
        head = int(head_raw or 0)
        first = _seq_of(first_entries[0][0]) if first_entries else head + 1
        self._forget_before(first)
        return Bounds(first=first, head=head)

    def _forget_before(self, first: int) -> None:
        if first > self._first_known:
            self._first_known = first
            for seq in [s for s in self._frames if s < first]:
                self._frames_bytes -= len(self._frames.pop(seq).frame)

    async def prune(self, older_than_ts: float) -> int:
        r = self._redis()
        start = "-"
        minid: str | None = None
        last_old: int | None = None
        while minid is None:
            entries = await self._io(r.xrange(self._k_stream, start, "+", count=PRUNE_PAGE))
            for entry_id, fields in entries:
                if _ts_of(fields[b"e"]) >= older_than_ts:
                    minid = _text(entry_id)
                    break
                last_old = _seq_of(entry_id)
            if len(entries) < PRUNE_PAGE:
                break
            start = "(" + _text(entries[-1][0])
        if minid is None:
            if last_old is None:
                return 0
            minid = f"{last_old + 1}-0"  # everything read is old; later appends have higher ids
        dropped = await self._io(r.xtrim(self._k_stream, minid=minid, approximate=False))
        self._forget_before(_seq_of(minid))
        return int(dropped)

    async def open_cases(self) -> OpenCases:
        async with self._redis().pipeline(transaction=True) as pipe:  # MULTI: the head and the cases of one moment
            pipe.get(self._k_seq)
            pipe.hvals(self._k_open_cases)
            head_raw, values = await self._io(pipe.execute())
        states = [cases.state_from_json(json.loads(raw)) for raw in values]
        return OpenCases(int(head_raw or 0), sorted(states, key=cases.order_key))

    # -- fan-out ---------------------------------------------------------------------------------
    async def _fanout_loop(self) -> None:
        assert self._rx is not None
        rx = self._rx
        delays = backoff(0.05, 0.5)
        down = False
        while not self._stopping:
            try:
                resp: Any = await rx.xread({self._k_stream: self._fan_last}, count=FANOUT_COUNT, block=self.block_ms)
            except (RedisError, OSError, TimeoutError) as exc:
                if not down:
                    log.warning("event fan-out lost Redis (%s); retrying from %s", exc or type(exc).__name__,
                                self._fan_last)
                    down = True
                await asyncio.sleep(next(delays))
                continue
            if down:
                log.warning("event fan-out reconnected to Redis; resuming after %s", self._fan_last)
                down = False
            delays = backoff(0.05, 0.5)
            if not resp:
                continue
            entries = resp[0][1]
            if not entries:
                continue
            self._fan_last = _text(entries[-1][0])
            if not self._listeners:
                continue
            try:
                events = self._stored(entries)
                self._notify(events)
            except Exception:
                log.exception("event fan-out: a listener or the frame builder failed")

    # -- tokens ----------------------------------------------------------------------------------
    async def add_token(self, name: str, token_hash: str, departments: tuple[str, ...] = ()) -> None:
        self._redis()
        answer = await self._io(self._scripts["add_token"](
            keys=[self._k_tokens, self._k_active, self._k_token_n],
            args=[token_hash, name, _now_text(), json.dumps(list(departments))]))
        if int(answer) == 0:
            raise BadRequest(f"a token named {name!r} already exists (revoke it first)")
        if int(answer) < 0:
            raise BadRequest("this token is already registered")

    async def list_tokens(self) -> list[TokenInfo]:
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.hgetall(self._k_tokens)
            pipe.hgetall(self._k_revoked)
            tokens, revoked = await self._io(pipe.execute())
        rows = []
        for h, raw in tokens.items():
            data = json.loads(raw)
            rev = revoked.get(h)
            rows.append((int(data["n"]), _token_info(data, rev)))
        return [info for _, info in sorted(rows, key=lambda r: r[0])]

    async def revoke_token(self, name: str) -> bool:
        self._redis()
        answer = await self._io(self._scripts["revoke"](
            keys=[self._k_active, self._k_revoked, self._k_token_gen], args=[name, _now_text()]))
        return bool(int(answer))

    async def lookup_token(self, token_hash: str) -> TokenInfo | None:
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.hget(self._k_tokens, token_hash)
            pipe.hget(self._k_revoked, token_hash)
            raw, rev = await self._io(pipe.execute())
        if raw is None:
            return None
        return _token_info(json.loads(raw), rev)

    async def token_generation(self) -> int:
        return int(await self._io(self._redis().get(self._k_token_gen)) or 0)

    # -- signing key -----------------------------------------------------------------------------
    async def signing_key(self) -> Ed25519PrivateKey:
        if self._key is not None:
            return self._key
        r = self._redis()
        pem = await self._io(r.get(self._k_key))
        if pem is None:
            await self._io(r.set(self._k_key, new_pem(), nx=True))  # the first process wins ...
            pem = await self._io(r.get(self._k_key))  # ... and everybody uses its key
            if pem is None:
                raise StoreUnavailable("Redis lost the signing key right after it was set")
        key = from_pem(pem, f"the signing key in Redis ({self._k_key})")
        self._key = key
        return key
