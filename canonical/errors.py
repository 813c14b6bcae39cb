"""Typed errors of the translation layer, and the refusals of the use cases (`ServiceError`).

The HTTP layer turns them into responses without matching on message text:
``TransformError`` (and its ``MoneyError`` subclass) -> 422 ``TRANSFORM_ERROR``,
``RequestShapeError`` -> 400 ``VALIDATION_ERROR``.
"""

from __future__ import annotations

from typing import Literal


class TransformError(Exception):
    """A record cannot be translated.

    ``path`` points at the offending input, e.g. ``data.amount`` for a native field,
    ``canonical.status`` for a canonical value with no native counterpart, or
    ``context.commitmentType`` for missing request context.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def at(self, path: str) -> TransformError:
        """The same error located at ``path``; helpers raise without knowing where they were called."""
        return type(self)(self.message, path)


class MoneyError(TransformError):
    """An amount that cannot be represented exactly in its currency, or an unknown currency."""


class RequestShapeError(ValueError):
    """The request itself is malformed: unknown platform or entity type, data that is not an object."""


ServiceErrorKind = Literal["validation", "forbidden", "not_found", "conflict", "unavailable"]


class ServiceError(Exception):
    """A use case (``propagation.service``, ``scheduling.connect``...) refused a request the caller can
    correct or retry. ``kind`` says which, so the API maps it onto its error envelope
    (``api.errors.from_service``) without the services knowing HTTP."""

    def __init__(self, kind: ServiceErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
