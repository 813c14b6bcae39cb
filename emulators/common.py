"""Machinery shared by the Procore and Business Central emulators.

Both emulators are an in-memory record store seeded from the demo data, an OAuth2 client-credentials
token store, a log of every applied write, a queue of injected faults and a control interface under
``/_control``. Only what differs between the two platforms (URLs, error bodies, concurrency rules,
rate limits, how a record's version is bumped) lives in ``procore.py`` and ``dynamics.py``.

Everything runs on one event loop and no handler awaits between reading and writing a record, so a
request's read-check-write is atomic without locks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import math
import secrets
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Final, Generic, Literal, TypeVar
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators.delivery import Outbox, WebhookSettings

Record = dict[str, Any]
Seed = Callable[[], Mapping[str, Iterable[Record]]]

#: Paths under this prefix are the emulator's own control interface: no auth, no faults, no limits.
CONTROL_PREFIX: Final = "/_control"


# --------------------------------------------------------------------------------------------- time


class Clock:
    """Wall-clock time plus an offset, so tests can expire tokens and rate windows without sleeping.

    Injected hangs still sleep for real: they exist to trip the client's own timeout.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp (``Z`` or an offset) as an aware datetime; naive input is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------- JSON


def _encode_default(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        # Written straight from the decimal's digits, never through a float. Normalised the way BC
        # prints Edm.Decimal: 1500, 172.94, 0 (no trailing zeros, no exponent).
        return orjson.Fragment(format(value.normalize(), "f"))
    raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


def dump_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_encode_default)


class JSONResponse(Response):
    """A JSON response that serialises ``Decimal`` as an exact JSON number."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dump_json(content)


class BodyError(ValueError):
    """A request body that is not the JSON the endpoint needs."""


def _reject_constant(name: str) -> Any:
    raise BodyError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a request body keeping every non-integer number as an exact ``Decimal``.

    Platform clients send money as JSON numbers (BC) or strings (Procore); parsing through float
    would silently turn ``0.1`` into ``0.1000000000000000055...``.
    """
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except BodyError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(f"malformed JSON: {exc}") from exc


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (``BodyError`` otherwise)."""
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise BodyError("the body must be a JSON object")
    return data


# ------------------------------------------------------------------------------------------- errors


class EmulatorError(Exception):
    """An error response in the platform's own shape; raised by handlers, rendered by ``build_app``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# --------------------------------------------------------------------------------------------- auth


async def token_request_params(request: Request) -> dict[str, str]:
    """The parameters of an OAuth2 token request: form-encoded (the standard) or JSON.

    Parsed by hand so the emulators do not need python-multipart. HTTP Basic client authentication
    (``client_secret_basic``) fills in ``client_id``/``client_secret`` when the body has none.
    """
    raw = await request.body()
    params: dict[str, str]
    if "json" in request.headers.get("content-type", ""):
        try:
            data = parse_json(raw)
        except BodyError:
            data = None
        params = {k: str(v) for k, v in data.items() if v is not None} if isinstance(data, dict) else {}
    else:
        params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and "client_id" not in params:
        try:
            client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return params
        params.update(client_id=client_id, client_secret=secret)
    return params


class TokenStatus(Enum):
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"
    VALID = "valid"


@dataclass(frozen=True)
class Token:
    value: str
    client_id: str
    issued_at: float
    expires_at: float
    audience: str  # what the token is good for (BC: the tenant); "" when unrestricted


class TokenStore:
    """Opaque bearer tokens with an expiry on the emulator's clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, Token] = {}

    def issue(self, client_id: str, ttl_seconds: float, audience: str = "") -> Token:
        now = self._clock.now()
        token = Token(secrets.token_urlsafe(32), client_id, now, now + ttl_seconds, audience)
        self._tokens[token.value] = token
        return token

    def revoke(self, value: str) -> None:
        self._tokens.pop(value, None)

    def check(self, authorization: str | None) -> tuple[TokenStatus, Token | None]:
        """The status of an ``Authorization: Bearer <token>`` header value."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return TokenStatus.MISSING, None
        token = self._tokens.get(value.strip())
        if token is None:
            return TokenStatus.INVALID, None
        if self._clock.now() >= token.expires_at:
            return TokenStatus.EXPIRED, token
        return TokenStatus.VALID, token

    def client_of(self, scope: Scope) -> str | None:
        """The client id behind a request's valid bearer token (for per-client rate limits)."""
        authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        status, token = self.check(authorization)
        return token.client_id if status is TokenStatus.VALID and token else None


# ----------------------------------------------------------------------------------------- validation


class Kind(Enum):
    """Wire types of writable fields; each platform states its fields with these."""

    TEXT = "text"  # a JSON string
    LOOSE_TEXT = "loose_text"  # a string, or an integer the platform stores as its text (Procore)
    DECIMAL_TEXT = "decimal_text"  # money as a decimal string (Procore); a JSON number is accepted
    DECIMAL = "decimal"  # money as a JSON number (BC Edm.Decimal); strings are rejected
    DATE = "date"  # YYYY-MM-DD
    BOOL = "bool"
    INT = "int"
    GUID = "guid"


@dataclass(frozen=True)
class Choice:
    """A string field restricted to a vocabulary (status enums)."""

    values: tuple[str, ...]


FieldType = Kind | Choice


@dataclass(frozen=True)
class Invalid:
    """One rejected field value; each platform renders these in its own error shape."""

    field: str
    value: Any
    expected: FieldType


def _coerce(value: Any, expected: FieldType) -> Any:
    """The stored form of ``value``; ``ValueError`` when it is not of the expected type."""
    if isinstance(expected, Choice):
        if isinstance(value, str) and value in expected.values:
            return value
        raise ValueError
    is_number = isinstance(value, int | Decimal) and not isinstance(value, bool)
    if expected is Kind.TEXT and isinstance(value, str):
        return value
    if expected is Kind.LOOSE_TEXT and (isinstance(value, str) or (is_number and isinstance(value, int))):
        return str(value)
    if expected is Kind.DECIMAL_TEXT and (isinstance(value, str) or is_number):
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValueError from None
        if not amount.is_finite():
            raise ValueError
        if isinstance(value, str):
            return value.strip()  # stored as sent: Procore's precision varies per record anyway
        text = format(amount, "f")
        return text if "." in text else f"{text}.0"  # Rails prints a BigDecimal as "1500.0"
    if expected is Kind.DECIMAL and is_number:
        return Decimal(value)
    if expected is Kind.DATE and isinstance(value, str):
        date.fromisoformat(value)  # ValueError when not a real YYYY-MM-DD date
        if len(value) == 10:
            return value
        raise ValueError
    if expected is Kind.BOOL and isinstance(value, bool):
        return value
    if expected is Kind.INT and is_number and isinstance(value, int):
        return value
    if expected is Kind.GUID and isinstance(value, str):
        return str(uuid.UUID(value))
    raise ValueError


def coerce_fields(
    values: Mapping[str, Any], types: Mapping[str, FieldType], *, nullable: bool
) -> tuple[dict[str, Any], list[Invalid]]:
    """Check and convert writable field values; fields not in ``types`` must be filtered out first."""
    clean: dict[str, Any] = {}
    invalid: list[Invalid] = []
    for name, value in values.items():
        if value is None and nullable:
            clean[name] = None
            continue
        try:
            clean[name] = _coerce(value, types[name])
        except ValueError:
            invalid.append(Invalid(name, value, types[name]))
    return clean, invalid


# ---------------------------------------------------------------------------------------- write log

#: What a write did to its record: made it, changed it, or removed it (a soft delete is a delete).
Operation = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class WriteEntry:
    """One applied write: what a test counts to prove a write happened exactly once."""

    seq: int
    at: str
    source: Literal["api", "control"]
    method: str
    path: str
    entity_type: str
    record_id: str
    changes: dict[str, dict[str, Any]]  # field -> {"old": ..., "new": ...}
    version: str  # the record's new version: Procore updated_at, BC @odata.etag (a delete: its last)
    operation: Operation = "update"

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "source": self.source,
            "method": self.method,
            "operation": self.operation,
            "path": self.path,
            "entity_type": self.entity_type,
            "record_id": self.record_id,
            "changes": self.changes,
            "version": self.version,
        }


# ------------------------------------------------------------------------------------------- faults

FaultKind = Literal["error", "unavailable", "rate_limit", "hang", "drop_after_apply"]
DropMode = Literal["gateway_timeout", "reset", "hang"]


class FaultSpec(BaseModel):
    """``POST /_control/faults`` body: the next ``count`` matching requests fail this way."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    count: int = Field(1, ge=1)
    method: str | None = Field(None, description="only requests with this HTTP method (any case)")
    path_prefix: str | None = Field(None, description="only requests whose path starts with this")
    status: int | None = Field(None, ge=400, le=599, description="error: the status (default 500)")
    retry_after: int | None = Field(None, ge=0, description="Retry-After seconds for unavailable/rate_limit")
    seconds: float = Field(30.0, ge=0, le=3600, description="hang, and drop_after_apply with drop=hang")
    drop: DropMode = Field("gateway_timeout", description="drop_after_apply: how the response is lost")


@dataclass
class Fault:
    id: str
    spec: FaultSpec
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        spec = self.spec
        if spec.method and spec.method.upper() != method.upper():
            return False
        return not spec.path_prefix or path.startswith(spec.path_prefix)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "remaining": self.remaining, **self.spec.model_dump()}


class FaultQueue:
    """Injected faults, consumed first-in first-out by the requests they match."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> Fault:
        fault = Fault(f"flt_{next(self._ids)}", spec, spec.count)
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[Fault]:
        return list(self._faults)

    def clear(self) -> None:
        self._faults.clear()


async def buffered(receive: Receive) -> Receive:
    """Read a request's whole body now; returns a ``receive`` that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replay() -> Message:
        # After the body, a late reader only learns that the client is gone.
        return pending.pop() if pending else {"type": "http.disconnect"}

    return replay


def without_content_length(message: Message) -> Message:
    """A response start without Content-Length, so the server falls back to chunked encoding."""
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
    return {**message, "headers": headers}


class FaultMiddleware:
    """Applies injected faults to platform requests (never to ``/_control``).

    ``error``/``unavailable``/``rate_limit`` answer without touching the platform. ``hang`` sleeps,
    then handles the request normally (a slow platform: a write still lands after the client gave
    up). ``drop_after_apply`` handles the request (so a write is applied and logged) and then loses
    the response: a 504 (``gateway_timeout``), a connection closed mid-response (``reset``: the
    status line and headers go out, then the connection closes before the body; over real HTTP the
    client sees a protocol error), or the real response held back ``seconds`` (``hang``).
    """

    def __init__(self, app: ASGIApp, *, core: EmulatorCore[Any]) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.core.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        spec = fault.spec
        if spec.kind == "hang":
            # Take the whole request first, as a real server does before it stalls; the client
            # disconnecting during the hang must not stop the (late) processing.
            replay = await buffered(receive)
            await asyncio.sleep(spec.seconds)
            await self.app(scope, replay, send)
        elif spec.kind == "drop_after_apply":
            await self._drop_after_apply(spec, scope, receive, send)
        else:
            await self.core.fault_response(spec)(scope, receive, send)

    async def _drop_after_apply(self, spec: FaultSpec, scope: Scope, receive: Receive, send: Send) -> None:
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        if spec.drop == "gateway_timeout":
            await self.core.gateway_timeout_response()(scope, receive, send)
        elif spec.drop == "hang":
            await asyncio.sleep(spec.seconds)
            for message in captured:
                await send(message)
        else:
            # Send the head without Content-Length (so it is chunked) and return without the body:
            # the server closes the connection and the client never gets a complete response.
            await send(without_content_length(captured[0]))


# --------------------------------------------------------------------------------------- rate limits


@dataclass
class FixedWindow:
    """A request counter that resets ``length`` seconds after the window's first request."""

    limit: int
    length: float
    started: float = -math.inf
    count: int = 0

    def hit(self, now: float) -> None:
        if now >= self.started + self.length:
            self.started, self.count = now, 0
        self.count += 1

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def reset_at(self) -> float:
        return self.started + self.length


# --------------------------------------------------------------------------------------------- core


SettingsT = TypeVar("SettingsT", bound=BaseModel)


class EmulatorCore(ABC, Generic[SettingsT]):
    """State of one emulator instance: records, tokens, write log, faults, settings and clock.

    ``settings`` is a pydantic model the control interface can read and patch at run time.
    """

    def __init__(self, seed: Seed, settings: SettingsT) -> None:
        self._seed = seed
        self._initial_settings = settings
        self.settings = settings
        self.clock = Clock()
        self.tokens = TokenStore(self.clock)
        self.faults = FaultQueue()
        self.writes: list[WriteEntry] = []
        self.records: dict[str, dict[str, Record]] = {}
        self.outbox = Outbox(now=self.clock.now, encode=dump_json, settings=self.webhook_settings)
        self.reset()

    def reset(self) -> None:
        """Back to a fresh instance: demo data, empty write log and fault queue, the factory's
        settings, no rate-limit history, the real clock, no webhook deliveries owed or logged
        (platforms also forget their hooks or subscriptions).

        Issued tokens stay valid: they are credentials, not data, and a connector holding one should
        not have to notice that a test reset the platform between two of its calls.
        """
        self.settings = self._initial_settings.model_copy(deep=True)
        self.records = {kind: {str(r["id"]): r for r in rows} for kind, rows in self._seed().items()}
        self.writes.clear()
        self.faults.clear()
        self.clock.offset = 0.0
        self.reset_limits()
        self.outbox.reset()

    def webhook_settings(self) -> WebhookSettings:
        """The webhook settings in force (the settings' ``webhooks``; defaults where there are none)."""
        webhooks = getattr(self.settings, "webhooks", None)
        return webhooks if isinstance(webhooks, WebhookSettings) else WebhookSettings()

    def changed(self, entry: WriteEntry, record: Record, client_id: str | None) -> None:
        """Announce an applied write to the platform's webhook subscribers (platforms override).

        Called by ``apply`` for every write, API or out-of-band, so no change escapes the webhooks;
        it only queues deliveries, which go out later from the server's loop.
        """

    def record(self, entity_type: str, record_id: str) -> Record | None:
        return self.records.get(entity_type, {}).get(record_id)

    def apply(
        self,
        entity_type: str,
        record: Record,
        values: Mapping[str, Any],
        *,
        source: Literal["api", "control"],
        method: str,
        path: str,
        force: bool = False,
        client_id: str | None = None,
        operation: Operation = "update",
    ) -> WriteEntry | None:
        """Write ``values`` into ``record``, bump its version, log the write and announce it.

        A write that changes nothing is not a write: no version bump, no log entry, no webhook,
        ``None`` (unless ``force``, used by out-of-band edits, which always touch the record).
        ``client_id`` is the OAuth client of an API write (Procore's events name the application).
        """
        changes = {
            name: {"old": record.get(name), "new": value}
            for name, value in values.items()
            if name not in record or record[name] != value or type(record[name]) is not type(value)
        }
        if not changes and not force:
            return None
        record.update(values)
        version = self.bump_version(entity_type, record)
        return self._logged(entity_type, record, changes, version, source, method, path, client_id, operation)

    def _logged(
        self,
        entity_type: str,
        record: Record,
        changes: dict[str, dict[str, Any]],
        version: str,
        source: Literal["api", "control"],
        method: str,
        path: str,
        client_id: str | None,
        operation: Operation,
    ) -> WriteEntry:
        entry = WriteEntry(
            seq=len(self.writes) + 1,
            at=self.clock.datetime().isoformat().replace("+00:00", "Z"),
            source=source,
            method=method,
            path=path,
            entity_type=entity_type,
            record_id=str(record["id"]),
            changes=changes,
            version=version,
            operation=operation,
        )
        self.writes.append(entry)
        self.changed(entry, record, client_id)
        return entry

    def create(
        self,
        entity_type: str,
        record: Record,
        *,
        source: Literal["api", "control"],
        method: str,
        path: str,
        client_id: str | None = None,
    ) -> WriteEntry:
        """Store a new ``record`` (its ``id`` already assigned), give it its first version, log the
        create (every field with a value as a change from null) and announce it."""
        self.records.setdefault(entity_type, {})[str(record["id"])] = record
        version = self.bump_version(entity_type, record)
        changes = {
            name: {"old": None, "new": value}
            for name, value in record.items()
            if value is not None and not name.startswith("@")
        }
        return self._logged(entity_type, record, changes, version, source, method, path, client_id, "create")

    def remove(
        self,
        entity_type: str,
        record: Record,
        *,
        source: Literal["api", "control"],
        method: str,
        path: str,
        client_id: str | None = None,
    ) -> WriteEntry:
        """Delete ``record`` from the store, log the delete (its last version) and announce it; the
        record itself is still handed to ``changed``, so events can name its scope."""
        self.records.get(entity_type, {}).pop(str(record["id"]), None)
        return self._logged(
            entity_type, record, {}, self.version_of(record), source, method, path, client_id, "delete"
        )

    def new_record(self, entity_type: str, fields: Mapping[str, Any]) -> Record:
        """A whole new record of ``entity_type`` made of ``fields`` plus what the platform assigns
        itself (id, number, defaults), for an out-of-band create; ``ValueError`` when ``fields``
        lack what identifies such a record. Not stored yet."""
        raise ValueError(f"records of type {entity_type!r} cannot be created here")

    def discard(
        self, entity_type: str, record: Record, *, source: Literal["api", "control"], method: str, path: str,
        client_id: str | None = None,
    ) -> WriteEntry:
        """Delete ``record`` the platform's way, without its business rules (platforms with soft
        deletes override this)."""
        return self.remove(entity_type, record, source=source, method=method, path=path, client_id=client_id)

    def api_write(
        self,
        request: Request,
        entity_type: str,
        record: Record,
        values: Mapping[str, Any],
        *,
        operation: Operation = "update",
    ) -> WriteEntry | None:
        """``apply`` for a platform API request: logged as ``api``, attributed to the token's client."""
        return self.apply(
            entity_type,
            record,
            values,
            source="api",
            method=request.method,
            path=request.url.path,
            client_id=self.tokens.client_of(request.scope),
            operation=operation,
        )

    def api_create(self, request: Request, entity_type: str, record: Record) -> WriteEntry:
        """``create`` for a platform API request."""
        return self.create(
            entity_type,
            record,
            source="api",
            method=request.method,
            path=request.url.path,
            client_id=self.tokens.client_of(request.scope),
        )

    def api_delete(self, request: Request, entity_type: str, record: Record) -> WriteEntry:
        """``discard`` for a platform API request (the platform has checked its rules first)."""
        return self.discard(
            entity_type,
            record,
            source="api",
            method=request.method,
            path=request.url.path,
            client_id=self.tokens.client_of(request.scope),
        )

    def reset_limits(self) -> None:
        """Forget rate-limit state (platforms with limits override this)."""

    @abstractmethod
    def bump_version(self, entity_type: str, record: Record) -> str:
        """Give ``record`` a new version (timestamp, etag) after a write and return it."""

    @abstractmethod
    def version_of(self, record: Record) -> str:
        """The record's current version, as ``bump_version`` returns it."""

    @abstractmethod
    def fault_response(self, spec: FaultSpec) -> Response:
        """The response of an injected ``error``, ``unavailable`` or ``rate_limit`` fault."""

    def gateway_timeout_response(self) -> Response:
        # What a load balancer in front of either platform sends when the backend overran.
        return Response("504 Gateway Time-out", status_code=504, media_type="text/plain")


def monotonic_stamp(now: datetime, previous: str | None, step_seconds: float, fmt: Callable[[datetime], str]) -> str:
    """A new modification timestamp for a record, strictly later than its previous one.

    Both platforms print these timestamps at a coarse precision (Procore: seconds, BC:
    milliseconds), so two writes in the same tick would otherwise leave the version unchanged and a
    client comparing versions would miss the second write.
    """
    if previous:
        try:
            floor = parse_timestamp(previous).timestamp() + step_seconds
        except ValueError:
            floor = -math.inf
        if now.timestamp() < floor:
            now = datetime.fromtimestamp(floor, UTC)
    return fmt(now)


# ---------------------------------------------------------------------------------- control interface


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(..., gt=0, description="how far to move the emulator's clock forward")


class Flush(BaseModel):
    """``POST /_control/webhooks/flush`` body: wait until no delivery is owed."""

    model_config = ConfigDict(extra="forbid")
    timeout: float = Field(10.0, ge=0, le=600, description="real seconds to wait at most")
    release: bool = Field(
        False, description="first send what is only held: batch windows, reorder holds, injected delays"
    )


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        merged[key] = _deep_merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def _control_error(status: int, message: str) -> EmulatorError:
    return EmulatorError(JSONResponse({"detail": message}, status_code=status))


def control_router(core: EmulatorCore[Any]) -> APIRouter:
    """``/_control``: unauthenticated test and demo hooks (see docs/emulators.md)."""
    router = APIRouter(prefix=CONTROL_PREFIX)

    def existing(entity_type: str, record_id: str) -> Record:
        record = core.record(entity_type, record_id)
        if record is None:
            raise _control_error(404, f"no {entity_type} {record_id}")
        return record

    @router.post("/reset")
    async def reset() -> JSONResponse:
        core.reset()
        return JSONResponse({"reset": True, "counts": {k: len(v) for k, v in core.records.items()}})

    @router.get("/faults")
    async def list_faults() -> JSONResponse:
        return JSONResponse({"faults": [f.as_json() for f in core.faults.pending()]})

    @router.post("/faults", status_code=201)
    async def add_fault(spec: FaultSpec) -> JSONResponse:
        return JSONResponse(core.faults.add(spec).as_json(), status_code=201)

    @router.delete("/faults")
    async def clear_faults() -> Response:
        core.faults.clear()
        return Response(status_code=204)

    @router.get("/writes")
    async def list_writes(
        entity_type: str | None = None, record_id: str | None = None, source: str | None = None
    ) -> JSONResponse:
        entries = [
            w.as_json()
            for w in core.writes
            if (entity_type is None or w.entity_type == entity_type)
            and (record_id is None or w.record_id == record_id)
            and (source is None or w.source == source)
        ]
        return JSONResponse({"writes": entries})

    @router.delete("/writes")
    async def clear_writes() -> Response:
        core.writes.clear()
        return Response(status_code=204)

    @router.get("/records/{entity_type}")
    async def list_records(entity_type: str) -> JSONResponse:
        if entity_type not in core.records:
            raise _control_error(404, f"unknown entity type {entity_type!r}")
        return JSONResponse({"records": list(core.records[entity_type].values())})

    @router.get("/records/{entity_type}/{record_id}")
    async def get_record(entity_type: str, record_id: str) -> JSONResponse:
        return JSONResponse(existing(entity_type, record_id))

    @router.patch("/records/{entity_type}/{record_id}")
    async def edit_record(entity_type: str, record_id: str, request: Request) -> JSONResponse:
        # An out-of-band edit, as a person in the platform's UI would make it: no validation, and
        # the record's version always moves (even with no fields: a plain "save").
        record = existing(entity_type, record_id)
        try:
            body = await json_object(request)
        except BodyError as exc:
            raise _control_error(400, str(exc)) from exc
        fields = body.get("fields", {})
        if not isinstance(fields, dict) or "id" in fields:
            raise _control_error(400, "'fields' must be an object of field values (the id cannot change)")
        entry = core.apply(
            entity_type, record, fields, source="control", method="PATCH", path=request.url.path, force=True
        )
        assert entry is not None  # force=True always writes
        return JSONResponse({"record": record, "write": entry.as_json()})

    @router.post("/records/{entity_type}", status_code=201)
    async def create_record(entity_type: str, request: Request) -> JSONResponse:
        # An out-of-band create, as a person in the platform's UI would make one: no validation
        # beyond what identifies the record; the platform assigns id, number and version.
        if entity_type not in core.records:
            raise _control_error(404, f"unknown entity type {entity_type!r}")
        try:
            body = await json_object(request)
        except BodyError as exc:
            raise _control_error(400, str(exc)) from exc
        fields = body.get("fields", {})
        if not isinstance(fields, dict) or "id" in fields:
            raise _control_error(400, "'fields' must be an object of field values (the id is assigned)")
        try:
            record = core.new_record(entity_type, fields)
        except ValueError as exc:
            raise _control_error(400, str(exc)) from exc
        entry = core.create(entity_type, record, source="control", method="POST", path=request.url.path)
        return JSONResponse({"record": record, "write": entry.as_json()}, status_code=201)

    @router.delete("/records/{entity_type}/{record_id}")
    async def delete_record(entity_type: str, record_id: str, request: Request) -> JSONResponse:
        # An out-of-band delete: whatever the platform's rules say (posted, approved, in use).
        record = existing(entity_type, record_id)
        entry = core.discard(entity_type, record, source="control", method="DELETE", path=request.url.path)
        return JSONResponse({"write": entry.as_json()})

    @router.get("/deliveries")
    async def list_deliveries(request: Request) -> JSONResponse:
        # Any top-level field of a log line filters (outcome=retrying, lane=..., kind=batch).
        filters = {k: v for k, v in request.query_params.items() if k != "pending"}
        pending = core.outbox.pending()
        if request.query_params.get("pending") == "true":
            return JSONResponse({"pending": pending})
        return JSONResponse({"pending": pending, "deliveries": core.outbox.records(filters)})

    @router.delete("/deliveries")
    async def clear_deliveries() -> Response:
        core.outbox.log.clear()
        return Response(status_code=204)

    @router.post("/webhooks/flush")
    async def flush(body: Flush | None = None) -> JSONResponse:
        wanted = body or Flush()
        if wanted.release:
            core.outbox.release()
        left = await core.outbox.drained(wanted.timeout)
        return JSONResponse({"pending": left, "idle": left == 0})

    @router.post("/clock")
    async def advance_clock(body: ClockAdvance) -> JSONResponse:
        core.clock.advance(body.seconds)
        core.outbox.wake()  # retries and batch windows are due on the emulator clock
        return JSONResponse({"offset_seconds": core.clock.offset, "now": core.clock.datetime().isoformat()})

    @router.get("/settings")
    async def get_settings() -> JSONResponse:
        return JSONResponse(core.settings.model_dump(mode="json"))

    @router.patch("/settings")
    async def patch_settings(request: Request) -> JSONResponse:
        try:
            body = await json_object(request)
            core.settings = type(core.settings).model_validate(_deep_merge(core.settings.model_dump(), body))
        except BodyError as exc:
            raise _control_error(400, str(exc)) from exc
        except ValidationError as exc:
            raise EmulatorError(
                JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, status_code=422)
            ) from exc
        core.reset_limits()
        core.outbox.wake()
        return JSONResponse(core.settings.model_dump(mode="json"))

    return router


# ---------------------------------------------------------------------------------------------- app


def build_app(
    core: EmulatorCore[Any],
    platform_router: APIRouter,
    *,
    title: str,
    http_error: Callable[[Request, int, str], Response],
    outer_middleware: Iterable[tuple[Any, dict[str, Any]]] = (),
) -> FastAPI:
    """An emulator's ASGI app: platform routes, control routes, faults inside the platform's limits.

    ``outer_middleware`` (the platform's rate limiting) wraps the fault layer, so injected failures
    count against the limits and carry their headers like any other response.
    """
    # No /docs or /openapi.json: the real platforms have neither at these paths.
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.core = core
    app.include_router(control_router(core))
    app.include_router(platform_router)

    async def render_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EmulatorError)
        return exc.response

    async def render_http_error(request: Request, exc: Exception) -> Response:
        # Unknown paths and wrong methods on platform paths answer in the platform's error shape.
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(CONTROL_PREFIX):
            return http_error(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(EmulatorError, render_error)
    app.add_exception_handler(StarletteHTTPException, render_http_error)
    app.add_middleware(FaultMiddleware, core=core)
    for middleware, options in outer_middleware:
        app.add_middleware(middleware, **options)
    return app


def retry_after_seconds(reset_at: float, now: float) -> str:
    """A ``Retry-After`` value: whole seconds until ``reset_at``, at least 1."""
    return str(max(1, math.ceil(reset_at - now)))


def fault_status(spec: FaultSpec) -> tuple[int, int | None]:
    """Status and ``Retry-After`` seconds (``None``: no header) of an injected failure."""
    if spec.kind == "rate_limit":
        return 429, spec.retry_after
    if spec.kind == "unavailable":
        # Both platforms send Retry-After with their 502/503 answers.
        return spec.status or 503, 1 if spec.retry_after is None else spec.retry_after
    return spec.status or 500, spec.retry_after
