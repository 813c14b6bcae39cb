"""What the platform HTTP connectors share: typed failures and token caching.

Connectors raise these; activities turn them into Temporal retries (honouring Retry-After via
`next_retry_delay`) or into a recorded outcome. Nothing here matches on message text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class PlatformError(Exception):
    """Base of connector failures; `message` is safe to show to callers."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class RetryableError(PlatformError):
    """Throttled (429), unavailable (5xx), timed out or connection lost: try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class StaleError(PlatformError):
    """The record changed since we read it (BC 412/409 Request_EntityChanged, Procore updated_at moved)."""


class RejectedError(PlatformError):
    """The platform refused the request (4xx validation, lock, not found): retrying will not help."""


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def error_message(response: httpx.Response) -> str:
    """A readable message from either platform's (non-uniform) error bodies."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # BC: {"error": {"code", "message"}}
            return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        if isinstance(body.get("errors"), dict):  # Procore validation: {"errors": {"field": ["msg"]}}
            return "; ".join(
                f"{field} {' '.join(map(str, msgs if isinstance(msgs, list) else [msgs]))}"
                for field, msgs in body["errors"].items()
            )
        if error or body.get("message"):
            return " ".join(str(part) for part in (body.get("message"), error) if part)
    return str(body)[:500]


def raise_for(
    response: httpx.Response, retry_after: Callable[[httpx.Response], float | None] = retry_after_seconds
) -> None:
    """Classify a non-2xx response. ``retry_after``: how long the platform asks us to wait (a
    platform may say it in its own headers)."""
    status = response.status_code
    if status < 400:
        return
    message = error_message(response)
    if status == 429 or status >= 500 or status == 408:
        raise RetryableError(f"HTTP {status}: {message}", retry_after=retry_after(response), status=status)
    raise RejectedError(f"HTTP {status}: {message}", status=status, body=_json_or_none(response))


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def holds(remote: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    """Whether the remote record already carries every changed value (a lost response's write)."""
    return all(remote.get(key) == value for key, value in changes.items())


def token_base(base_url: str, auth_url: str | None, token_hosts: Mapping[str, str]) -> str:
    """The base URL of a platform's OAuth token endpoint: the connection's ``auth_url`` when given,
    else the login host ``token_hosts`` names for the platform's real API host ``base_url``, else
    ``base_url`` itself (an emulator or a proxy issues its own tokens)."""
    if auth_url:
        return auth_url.rstrip("/")
    base = base_url.rstrip("/")
    return token_hosts.get(base, base)


@dataclass
class Token:
    value: str
    expires_at: float

    def valid(self, margin: float = 30.0) -> bool:
        return time.monotonic() < self.expires_at - margin
