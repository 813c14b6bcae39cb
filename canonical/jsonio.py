"""JSON in and out without losing money precision.

Business Central amounts are JSON numbers; we hold them as ``Decimal`` and write them back as
JSON numbers with exactly their digits (orjson has no Decimal support, and float() would add
binary noise). Reading, numbers with a fraction become ``Decimal`` for the same reason.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from functools import partial
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _fallback_default(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else _default(value)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_default)
    except TypeError:
        # orjson refuses integers beyond 64 bits; the standard library does not (slow path,
        # only for such odd input echoed back, e.g. in provider metadata).
        return json.dumps(value, default=_fallback_default, ensure_ascii=False).encode()


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


loads = partial(json.loads, parse_float=Decimal)
