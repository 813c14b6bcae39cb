"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware, and it never buffers bodies).

- assigns the request id and adds `X-Request-ID` / `API-Version` to every response;
- rejects non-GET requests that carry a body which is not `application/json` with 415,
  before routing, so no route ever sees such a request;
- enforces the edge limits on every body, before any route (webhooks and /transform included) parses
  it: larger than MAX_REQUEST_BODY_BYTES -> 413 (from `Content-Length` before reading anything, else
  counted as it streams in, never buffered past the limit); not UTF-8, or JSON nested deeper than
  MAX_JSON_DEPTH -> 400. A body that passes is handed on as read.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import API_VERSION, ErrorType, error_response, new_request_id

BODYLESS_METHODS = {"GET", "HEAD", "OPTIONS"}


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"transfer-encoding" in headers


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


class ClientGone(Exception):
    """The client disconnected before its body was complete: nobody to answer."""


class BodyRefused(Exception):
    def __init__(self, type_: ErrorType, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether ``body``'s JSON nests deeper than ``limit`` (brackets inside strings do not count).
    Cheap for ordinary bodies: a body with fewer opening brackets than the limit is not scanned."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


async def read_limited(receive: Receive, declared: int | None, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to be over ``limit``."""
    if declared is not None and declared > limit:
        raise BodyRefused(ErrorType.PAYLOAD_TOO_LARGE, f"Request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone  # a truncated body is never handed on as if it were whole
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyRefused(ErrorType.PAYLOAD_TOO_LARGE, f"Request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def check_body(body: bytes, max_depth: int) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyRefused(ErrorType.VALIDATION_ERROR, f"Request body is not UTF-8 (byte {err.start})") from None
    if json_depth_exceeds(body, max_depth):
        raise BodyRefused(ErrorType.VALIDATION_ERROR, f"JSON nested deeper than {max_depth} levels")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int = 1 << 20, max_json_depth: int = 64) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        method = scope["method"]
        if method not in BODYLESS_METHODS:
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"")
            # A POST with no body at all (e.g. POST /demo/session) needs no Content-Type;
            # any body must be JSON.
            if (content_type or _has_body(headers)) and not _is_json(content_type):
                response = error_response(
                    ErrorType.UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be application/json",
                    request_id,
                )
                await response(scope, receive, send)
                return
            if _has_body(headers):
                length = headers.get(b"content-length")
                try:
                    declared = int(length) if length is not None else None
                    body = await read_limited(receive, declared, self.max_body_bytes)
                    check_body(body, self.max_json_depth)
                except ValueError:
                    await error_response(ErrorType.VALIDATION_ERROR, "Content-Length is not a number", request_id)(
                        scope, receive, send
                    )
                    return
                except BodyRefused as refused:
                    await error_response(refused.type, refused.message, request_id)(scope, receive, send)
                    return
                except ClientGone:
                    return
                receive = _replay(body, receive)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                response_headers["API-Version"] = API_VERSION
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body on, then is the server's again (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
