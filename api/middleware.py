"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware, and it never buffers bodies).

- assigns the request id and adds `X-Request-ID` / `API-Version` to every response;
- rejects non-GET requests that carry a body which is not `application/json` with 415,
  before routing, so no route ever sees such a request.
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


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                response_headers["API-Version"] = API_VERSION
            await send(message)

        await self.app(scope, receive, send_with_headers)
