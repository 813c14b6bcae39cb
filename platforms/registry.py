"""The platform registry: which platforms exist. Everything that lists platforms asks here.

The API's enums and validation, the CLI's choices, the supervisor's emulators, the worker's
per-platform task queues, the transform and the connect rules all derive from ``platforms()``.
Adding a platform is a package under ``platforms/`` exporting a ``Platform`` and one line in
``_BUILT_IN`` (see ARCHITECTURE.md, "Add a platform"); tests register their own with
``registered(...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from canonical.errors import RequestShapeError
from platforms.descriptor import Platform
from platforms.dynamics import PLATFORM as _DYNAMICS
from platforms.procore import PLATFORM as _PROCORE

_BUILT_IN = (_PROCORE, _DYNAMICS)
_PLATFORMS: dict[str, Platform] = {platform.name: platform for platform in _BUILT_IN}


def platforms() -> tuple[Platform, ...]:
    """Every registered platform, in registration order."""
    return tuple(_PLATFORMS.values())


def names() -> tuple[str, ...]:
    return tuple(_PLATFORMS)


def get_platform(name: str) -> Platform:
    """The platform called ``name``; RequestShapeError (a ValueError) for an unknown one."""
    try:
        return _PLATFORMS[name]
    except (KeyError, TypeError):
        raise RequestShapeError(f"unknown platform {name!r}; expected one of {', '.join(_PLATFORMS)}") from None


def is_platform(name: object) -> bool:
    return isinstance(name, str) and name in _PLATFORMS


def others(name: str) -> tuple[str, ...]:
    """The registered platforms other than ``name``."""
    return tuple(other for other in _PLATFORMS if other != name)


def register(platform: Platform) -> None:
    if platform.name in _PLATFORMS:
        raise ValueError(f"platform {platform.name!r} is already registered")
    _PLATFORMS[platform.name] = platform


def unregister(name: str) -> None:
    if any(platform.name == name for platform in _BUILT_IN):
        raise ValueError(f"{name!r} is built in")
    _PLATFORMS.pop(name, None)


@contextmanager
def registered(platform: Platform) -> Iterator[Platform]:
    """Register ``platform`` for the duration of the block (tests)."""
    register(platform)
    try:
        yield platform
    finally:
        unregister(platform.name)


def expected() -> str:
    """``'a', 'b' or 'c'``: how validation errors list the platforms (as pydantic lists a Literal's)."""
    quoted = [repr(name) for name in _PLATFORMS]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class _RegisteredName:
    """Pydantic type of a platform name: a string naming a registered platform.

    Checked against the registry when a value is validated and listed as an enum when the JSON
    schema is built, so the API's OpenAPI document and its validation follow the registry (a
    ``Literal`` would freeze the list at import time). Anything else, a non-string included, is the
    error a ``Literal`` gives. ``validate=False`` only documents the enum (response models: a stored
    row of a platform no longer registered is still shown)."""

    def __init__(self, *, validate: bool = True) -> None:
        self._validate = validate

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        if not self._validate:
            return core_schema.str_schema()
        return core_schema.no_info_plain_validator_function(_validate)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"type": "string", "enum": list(_PLATFORMS)}


def _validate(value: Any) -> str:
    if not isinstance(value, str) or value not in _PLATFORMS:
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected()})
    return value


#: A registered platform's name, for request models and path/query parameters.
PlatformName = Annotated[str, _RegisteredName()]
#: The same in response models: documented as the enum, not checked on the way out.
PlatformNameOut = Annotated[str, _RegisteredName(validate=False)]
