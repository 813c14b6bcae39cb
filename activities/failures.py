"""Platform failures as Temporal sees them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.exceptions import ApplicationError

from platforms.http import RejectedError, RetryableError


@contextlib.contextmanager
def as_activity_failures() -> Iterator[None]:
    """A platform that is unavailable (5xx, 429, a timeout) is retried (``PlatformUnavailable``); one
    that refuses (403, a bad setting) is not (``NotConfigured``): retrying will not help."""
    try:
        yield
    except RetryableError as err:
        raise ApplicationError(err.message, type="PlatformUnavailable") from err
    except RejectedError as err:
        raise ApplicationError(err.message, type="NotConfigured", non_retryable=True) from err
