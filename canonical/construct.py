"""Build pydantic models from already-checked values without running validation.

``BaseModel.model_construct`` does this too, but walks every field in Python and
costs microseconds per instance; the mappers create two or three models per record
on the sync hot path. This sets exactly the four slots pydantic itself sets when it
validates (``__dict__``, ``__pydantic_fields_set__``, ``__pydantic_extra__``,
``__pydantic_private__``), through the slot descriptors, which is several times
faster. The tests check that adopted and validated models are equal and serialise
alike.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from pydantic import BaseModel

_Model = TypeVar("_Model", bound=BaseModel)

# Public so generated code can inline ``adopt`` (see platforms.mapping.compiler).
new: Final = object.__new__
set_dict: Final = BaseModel.__dict__["__dict__"].__set__
set_fields_set: Final = BaseModel.__dict__["__pydantic_fields_set__"].__set__
set_extra: Final = BaseModel.__dict__["__pydantic_extra__"].__set__
set_private: Final = BaseModel.__dict__["__pydantic_private__"].__set__


def adopt(cls: type[_Model], values: dict[str, Any], fields_set: set[str]) -> _Model:
    """An instance of ``cls`` holding ``values`` (every field, right types) as is.

    ``fields_set`` is stored, not copied: pass a set nobody mutates (the models using
    this are frozen, and pydantic copies the set in ``model_copy``).
    """
    model = new(cls)
    set_dict(model, values)
    set_fields_set(model, fields_set)
    set_extra(model, None)
    set_private(model, None)
    return model
