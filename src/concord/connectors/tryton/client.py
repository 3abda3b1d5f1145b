"""Typed Tryton JSON-RPC over httpx, with Tryton's value encoding and error classification.

Wire facts (trytond 8.2, `trytond/protocols/jsonrpc.py` and `dispatcher.py`):
- request `{"id", "method", "params"}`; the last param of a model call is the context (missing → 422 HTML);
- Decimal, date, datetime, time, timedelta and bytes travel as `{"__class__": ..., ...}` objects;
- business errors are HTTP 200 with `"error": ["UserError", [message, description, domain]]`, warnings
  `["UserWarning", [name, message, description]]`, row-lock conflicts `["ConcurrencyException", message]`;
  any other server exception is untyped `[str(exception), traceback]` (an unknown field is `["'name'", ""]`);
- a dead session is 401, a method not exposed over RPC 403, a missing context 422 (HTML bodies).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TypeAlias

import httpx

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.retry import Retrier
from concord.connectors.tryton.auth import SecretResolver, TrytonAuth, TrytonSession
from concord.connectors.tryton.config import SYSTEM, TrytonConfig

RpcScalar: TypeAlias = (
    bool | int | float | str | Decimal | dt.datetime | dt.date | dt.time | dt.timedelta | bytes | None
)
# What we send (read-only views, so a list[int] is accepted) and what we get back (plain JSON containers).
RpcIn: TypeAlias = RpcScalar | Sequence["RpcIn"] | Mapping[str, "RpcIn"]
RpcOut: TypeAlias = RpcScalar | list["RpcOut"] | dict[str, "RpcOut"]
Domain: TypeAlias = Sequence[RpcIn]

# Everything else may change data, so a lost answer to it is an ambiguous write.
READ_METHODS = frozenset(
    {"search", "search_count", "read", "search_read", "fields_get", "default_get", "get_preferences"}
)
_KEY_ERROR = re.compile(r"^'([A-Za-z_][\w.]*)'$")
_FIELD_LABEL = re.compile(r'field "([^"]+)"')
_UNIQUE = re.compile(r"\bmust be unique\b")
_TRANSIENT = ("database is locked", "could not serialize", "deadlock detected")


class TrytonWarning(ConnectorError):
    """A `UserWarning`: the server wants a confirmation. `acknowledge_warning` then retry the same call."""

    def __init__(self, name: str, message: str, description: str = "") -> None:
        super().__init__(SYSTEM, f"{message} {description}".strip())
        self.name = name
        self.description = description


class TrytonConfigError(ConnectorError):
    """The call itself is wrong for this server (method not exposed, context missing, unknown database)."""


def encode_value(value: object) -> dict[str, object]:
    """json `default=` hook: Tryton's `__class__` objects for the types JSON has no spelling for."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dt.time):
        return {"__class__": "time", "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot encode {type(value).__name__} for Tryton")


def decode_object(obj: dict[str, object]) -> object:
    """json `object_hook`: the inverse of `encode_value`."""
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(str(obj["decimal"]))
    if kind in ("datetime", "date", "time", "timedelta", "bytes"):
        return _decode_temporal(str(kind), obj)
    return obj


def _decode_temporal(kind: str, obj: Mapping[str, object]) -> object:
    def num(key: str) -> int:
        value = obj[key]
        return int(value) if isinstance(value, int | float | str) else 0

    if kind == "datetime":
        return dt.datetime(num("year"), num("month"), num("day"), num("hour"), num("minute"), num("second"),
                           num("microsecond"))
    if kind == "date":
        return dt.date(num("year"), num("month"), num("day"))
    if kind == "time":
        return dt.time(num("hour"), num("minute"), num("second"), num("microsecond"))
    if kind == "timedelta":
        seconds = obj["seconds"]
        return dt.timedelta(seconds=float(seconds) if isinstance(seconds, int | float | str) else 0.0)
    return base64.b64decode(str(obj["base64"]))


def _user_error(args: RpcOut) -> DataRejected:
    parts = args if isinstance(args, list) else [args]
    message = str(parts[0]) if parts else "UserError"
    description = str(parts[1]) if len(parts) > 1 and parts[1] else ""
    domain = parts[2] if len(parts) > 2 else None
    field: str | None = None
    # Domain validation errors carry (domain, {field_name: definition}); the key is the technical name.
    if isinstance(domain, list) and len(domain) == 2 and isinstance(domain[1], dict) and domain[1]:
        field = next(iter(domain[1]))
    elif (match := _FIELD_LABEL.search(message) or _FIELD_LABEL.search(description)) is not None:
        field = match.group(1)  # required/size/selection messages name the field by its label
    text = f"{message} {description}".strip()
    return DataRejected(SYSTEM, text, field=field, code="UserError")


def error_from_payload(error: RpcOut) -> ConnectorError:
    """The typed error for the `error` member of a JSON-RPC answer."""
    if isinstance(error, list) and error and error[0] == "UserError" and len(error) > 1:
        rejected = _user_error(error[1])
        if _UNIQUE.search(rejected.message):  # an SQL unique constraint (English server messages)
            return Conflict(SYSTEM, rejected.message)
        return rejected
    if isinstance(error, list) and error and error[0] == "UserWarning" and len(error) > 1:
        args = error[1] if isinstance(error[1], list) else []
        name, message, description = ([str(a or "") for a in args] + ["", "", ""])[:3]
        return TrytonWarning(name, message, description)
    if isinstance(error, list) and error and error[0] == "ConcurrencyException":
        return Conflict(SYSTEM, str(error[1]) if len(error) > 1 else "record modified concurrently")
    if isinstance(error, list) and error and error[0] == "LoginException":
        return AuthError(SYSTEM, "the server asks for another login parameter")
    text = str(error[0]) if isinstance(error, list) and error else str(error)
    if (match := _KEY_ERROR.match(text)) is not None:
        return DataRejected(SYSTEM, f"unknown field or model {match.group(1)!r}", field=match.group(1),
                            code="unknown_field")
    if any(marker in text for marker in _TRANSIENT):
        # The server rolled the transaction back before answering, so even a write is safe to repeat.
        return RetryableError(SYSTEM, text[:300])
    return DataRejected(SYSTEM, text[:300], code="server_exception")


def error_from_status(response: httpx.Response, *, write: bool) -> ConnectorError:
    status = response.status_code
    where = f"HTTP {status} from {response.request.url.path}"
    if status == 401:
        return AuthError(SYSTEM, f"{where}: session refused")
    if status == 429:
        raw = response.headers.get("retry-after", "")
        return RateLimited(SYSTEM, f"{where}: too many login attempts",
                           retry_after=float(raw) if raw.isdigit() else None)
    if status in (403, 404, 422):
        reason = {403: "method not exposed over RPC", 404: "unknown database",
                  422: "call without context"}[status]
        return TrytonConfigError(SYSTEM, f"{where}: {reason}")
    if status >= 500:
        if write and status in (502, 504):  # a gateway lost track of a write the server may have applied
            return AmbiguousWrite(SYSTEM, f"{where}: outcome unknown")
        return RetryableError(SYSTEM, where)
    return DataRejected(SYSTEM, f"{where}: {response.text[:200]}", code=str(status))


def error_from_transport(exc: httpx.TransportError, *, write: bool) -> ConnectorError:
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return RetryableError(SYSTEM, f"{name}: request not sent")
    if write:
        return AmbiguousWrite(SYSTEM, f"{name}: write sent, response lost")
    return RetryableError(SYSTEM, f"{name}: no response")


def attribute_field(exc: DataRejected, sent: Mapping[str, object]) -> DataRejected:
    """Name the flat field whose value Tryton quotes when Tryton itself named none. The offending value is
    quoted first ('The European VAT Number "XX" for party "Y" is not valid.'), so the earliest quote wins."""
    if exc.field is not None:
        return exc
    quoted = {name: exc.message.find(f'"{value}"') for name, value in sent.items()
              if isinstance(value, str) and value}
    hits = {name: at for name, at in quoted.items() if at >= 0}
    if not hits:
        return exc
    return DataRejected(SYSTEM, exc.message, field=min(hits, key=hits.__getitem__), code=exc.code)


def flatten_dotted(row: Mapping[str, RpcOut]) -> dict[str, RpcOut]:
    """Tryton answers a dotted read `currency.code` as `{"currency.": {"code": ...}}`; flatten it back."""
    plain: dict[str, RpcOut] = {}
    for key, value in row.items():
        if key.endswith(".") and isinstance(value, dict):
            plain.update({f"{key}{sub}": inner for sub, inner in value.items()})
        else:
            plain[key] = value
    return plain


class TrytonClient:
    """Session-aware JSON-RPC calls plus typed wrappers for the ORM methods Concord uses.

    `write` marks calls that may change data: when their response is lost the error is `AmbiguousWrite`.
    Model calls get it from the method name (anything not in READ_METHODS counts as a write).
    """

    def __init__(
        self,
        config: TrytonConfig,
        http: httpx.Client | None = None,
        resolver: SecretResolver | None = None,
    ) -> None:
        self.config = config
        self.auth = TrytonAuth(config, resolver)
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=config.http.timeout())
        self._next_id = 0
        # Reads are retried here; writes are retried by the connector, which knows how to make them
        # exactly-once (a party is looked up by its code before it is created again).
        self.retrier = Retrier(config.retry)

    # -- transport ---------------------------------------------------------------------------------------
    def raw_call(self, method: str, params: list[RpcIn], headers: Mapping[str, str], *, write: bool) -> RpcOut:
        self._next_id += 1
        body = json.dumps({"id": self._next_id, "method": method, "params": params}, default=encode_value)
        request_headers = {"Content-Type": "application/json", **headers}
        try:
            response = self._http.post(self.config.rpc_url, content=body, headers=request_headers)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, write=write) from exc
        if response.status_code != 200:
            raise error_from_status(response, write=write)
        try:
            payload = json.loads(response.text, object_hook=decode_object)
        except ValueError as exc:
            error = AmbiguousWrite if write else RetryableError
            raise error(SYSTEM, "HTTP 200 without a JSON-RPC body") from exc
        if not isinstance(payload, dict):
            raise RetryableError(SYSTEM, "HTTP 200 without a JSON-RPC object")
        if payload.get("error") is not None:
            raise error_from_payload(payload["error"])
        result: RpcOut = payload.get("result")
        return result

    def call(self, method: str, params: list[RpcIn], *, write: bool) -> RpcOut:
        return self._in_session(lambda session: self.raw_call(method, params, self.auth.headers(session),
                                                                write=write))

    def model_call(
        self,
        model: str,
        method: str,
        args: Sequence[RpcIn],
        context: Mapping[str, RpcIn] | None = None,
    ) -> RpcOut:
        """`model.<model>.<method>(*args, context)`; the context is rebuilt after a re-login."""
        name, write = f"model.{model}.{method}", method not in READ_METHODS

        def send(session: TrytonSession) -> RpcOut:
            params = [*args, self.auth.context(context)]
            return self.raw_call(name, params, self.auth.headers(session), write=write)

        if write:
            return self._in_session(send)
        return self.retrier.run(lambda: self._in_session(send))

    def _in_session(self, send: Callable[[TrytonSession], RpcOut]) -> RpcOut:
        """Run `send` in the current session; after a 401 log in again once and repeat it.

        Repeating is safe even for writes: the server checks the session before it runs anything.
        """
        session = self.auth.ensure(self)
        try:
            return send(session)
        except AuthError:
            fresh = self.auth.relogin(self, session)
        return send(fresh)

    # -- typed ORM wrappers ------------------------------------------------------------------------------
    def search(
        self,
        model: str,
        domain: Domain,
        offset: int = 0,
        limit: int | None = None,
        order: Sequence[tuple[str, str]] | None = None,
        context: Mapping[str, RpcIn] | None = None,
    ) -> list[int]:
        order_arg = [list(item) for item in order] if order else None
        result = self.model_call(model, "search", [list(domain), offset, limit, order_arg], context)
        return _ids(result, f"{model}.search")

    def read(
        self, model: str, ids: Sequence[int], fields: Sequence[str], context: Mapping[str, RpcIn] | None = None
    ) -> list[dict[str, RpcOut]]:
        if not ids:
            return []
        result = self.model_call(model, "read", [list(ids), list(fields)], context)
        return _rows(result, f"{model}.read")

    def search_read(
        self,
        model: str,
        domain: Domain,
        fields: Sequence[str],
        offset: int = 0,
        limit: int | None = None,
        order: Sequence[tuple[str, str]] | None = None,
        context: Mapping[str, RpcIn] | None = None,
    ) -> list[dict[str, RpcOut]]:
        order_arg = [list(item) for item in order] if order else None
        args: list[RpcIn] = [list(domain), offset, limit, order_arg, list(fields)]
        return _rows(self.model_call(model, "search_read", args, context), f"{model}.search_read")

    def create(
        self, model: str, values: Sequence[Mapping[str, RpcIn]], context: Mapping[str, RpcIn] | None = None
    ) -> list[int]:
        result = self.model_call(model, "create", [[dict(v) for v in values]], context)
        return _ids(result, f"{model}.create")

    def write(
        self,
        model: str,
        ids: Sequence[int],
        values: Mapping[str, RpcIn],
        context: Mapping[str, RpcIn] | None = None,
    ) -> None:
        self.model_call(model, "write", [list(ids), dict(values)], context)

    def button(
        self, model: str, name: str, ids: Sequence[int], context: Mapping[str, RpcIn] | None = None
    ) -> RpcOut:
        return self.model_call(model, name, [list(ids)], context)

    def acknowledge_warning(self, warning: TrytonWarning) -> None:
        """Record the user's "yes" for one warning, as the desktop client does; the next attempt passes."""
        session = self.auth.ensure(self)
        values: dict[str, RpcIn] = {"user": session.uid, "name": warning.name, "always": False}
        self.create("res.user.warning", [values])

    def close(self) -> None:
        if self._owns_http:
            self._http.close()


def _ids(result: RpcOut, what: str) -> list[int]:
    if isinstance(result, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in result):
        return [i for i in result if isinstance(i, int)]
    raise ConnectorError(SYSTEM, f"{what} returned {type(result).__name__}, expected a list of ids")


def _rows(result: RpcOut, what: str) -> list[dict[str, RpcOut]]:
    if isinstance(result, list) and all(isinstance(row, dict) for row in result):
        return [row for row in result if isinstance(row, dict)]
    raise ConnectorError(SYSTEM, f"{what} returned {type(result).__name__}, expected a list of records")
