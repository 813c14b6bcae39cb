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


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


loads = partial(json.loads, parse_float=Decimal)
