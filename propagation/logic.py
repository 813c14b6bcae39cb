"""Pure steps of a propagation: validate a patch, build the workflow input, apply the patch, and
render it for a target platform.

Money: canonical amounts keep their currency; a platform-mode patch in another currency (a BC
amount in QAR on a canonical in USD) is converted at the pegged rate so the canonical currency is
stable, and fan-outs convert into each target platform's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from canonical.errors import TransformError
from canonical.models import CanonicalModel, model_for
from canonical.money import Money, convert
from models.propagate import PropagateInput
from platforms import get_mapper
from platforms.mapping import IdMap, MappingContext
from platforms.registry import get_platform

READ_ONLY_CANONICAL = frozenset({"id", "object", "external_ids"})
NOT_PROPAGATED = frozenset({"id", "object", "external_ids", "provider_metadata"})

class PatchError(ValueError):
    """The request's `data` cannot be applied (400)."""


def _describe_validation(err: ValidationError, prefix: str = "data") -> str:
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{prefix}.{loc}: {e.get('msg')}" if loc else f"{prefix}: {e.get('msg')}")
    return "; ".join(parts)


def storable_text(text: str) -> bool:
    """Whether PostgreSQL can store `text`: no NUL byte, no lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(value: Any, path: str) -> str | None:
    """The path of the first text in `value` that PostgreSQL cannot store, or None. Such a value
    would be accepted here and fail every write later."""
    if isinstance(value, str):
        return None if storable_text(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _unstorable(key, path) or _unstorable(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}[{index}]")
            if found:
                return found
    return None


def check_storable(patch: Mapping[str, Any]) -> None:
    """Refuse text PostgreSQL cannot hold anywhere in a patch (PatchError naming the field)."""
    path = _unstorable(patch, "data")
    if path is not None:
        raise PatchError(f"{path}: text must not contain NUL characters or unpaired surrogates")


def validate_canonical_patch(entity_type: str, current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Check a canonical-mode patch against the model; returns it in JSON form."""
    check_storable(patch)
    model = model_for(entity_type)
    read_only = sorted(set(patch) & READ_ONLY_CANONICAL)
    if read_only:
        raise PatchError(f"read-only fields cannot be propagated: {', '.join(read_only)}")
    unknown = sorted(set(patch) - set(model.model_fields))
    if unknown:
        raise PatchError(f"unknown {entity_type} fields: {', '.join(unknown)}")
    try:
        merged = model.model_validate({**current, **patch})
    except ValidationError as err:
        raise PatchError(_describe_validation(err)) from err
    dumped = merged.model_dump(mode="json")
    return {key: dumped[key] for key in patch}


def native_fields(platform: str, entity_type: str) -> set[str]:
    spec = get_mapper(platform).specs[entity_type]  # type: ignore[attr-defined]
    fields: set[str] = set()
    for codec in spec.codecs:
        fields.update(k for k in getattr(codec, "keys", ()) if k)
    return fields


def currency_of(platform: str, native: Mapping[str, Any]) -> str | None:
    """The currency of a native record's amounts, when the platform can tell (else the customer's)."""
    return get_platform(platform).record_currency(native)


def platform_patch_to_canonical(
    platform: str,
    entity_type: str,
    stored: Mapping[str, Any],
    native_patch: Mapping[str, Any],
    *,
    customer_id: str,
    current: Mapping[str, Any],
) -> dict[str, Any]:
    """What a native patch means canonically: the canonical fields whose value it changes."""
    check_storable(native_patch)
    read_only = sorted(set(native_patch) & get_platform(platform).read_only_fields)
    if read_only:
        raise PatchError(f"read-only {platform} fields cannot be propagated: {', '.join(read_only)}")
    unknown = sorted(set(native_patch) - native_fields(platform, entity_type) - set(stored))
    if unknown:
        raise PatchError(f"unknown {platform} {entity_type} fields: {', '.join(unknown)}")
    mapper = get_mapper(platform)
    currency = currency_of(platform, stored)
    try:
        before = mapper.to_canonical(
            entity_type, stored, customer_id=customer_id, context=MappingContext(currency=currency)
        ).model_dump(mode="json")
        after = mapper.to_canonical(
            entity_type, {**stored, **native_patch}, customer_id=customer_id, context=MappingContext(currency=currency)
        ).model_dump(mode="json")
    except TransformError as err:
        raise PatchError(f"{err.path}: {err}" if getattr(err, "path", None) else str(err)) from err
    patch = {k: v for k, v in after.items() if k not in NOT_PROPAGATED and v != before.get(k)}
    # Keep the canonical currency stable: express a changed amount in the canonical's currency.
    for key, value in list(patch.items()):
        existing = current.get(key)
        if (
            isinstance(value, dict)
            and isinstance(existing, dict)
            and "currency" in value
            and existing.get("currency")
            and existing["currency"] != value["currency"]
        ):
            patch[key] = convert(Money(**value), existing["currency"]).model_dump(mode="json")
    return patch


def apply_patch(current: Mapping[str, Any], patch: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The new canonical data and the fields whose value really changed (in patch order)."""
    updated = [key for key, value in patch.items() if current.get(key) != value]
    return {**current, **{key: patch[key] for key in updated}}, updated


def build_id_map(platform: str, rows: Iterable[Sequence[Any]]) -> IdMap:
    """Links of referenced objects: (entity_type, canonical_id, platform_id, project number or None)."""
    id_map = IdMap()
    for entity_type, canonical_id, platform_id, number in rows:
        id_map.add(platform, entity_type, canonical_id, platform_id, number=number)
    return id_map


def render_for_target(
    platform: str,
    entity_type: str,
    stored: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    fields: Iterable[str],
    *,
    customer_id: str,
    id_map: IdMap,
) -> tuple[dict[str, Any], dict[str, Any], MappingContext]:
    """The target platform's record after applying `fields` of the canonical `snapshot`.

    Starts from the platform's own record (so its fields without a canonical home survive), converts
    money into the record's currency and translates references into the platform's ids.
    Returns (native record, its canonical view, the context with the references met).
    """
    mapper = get_mapper(platform)
    currency = currency_of(platform, stored)
    view = mapper.to_canonical(
        entity_type, stored, customer_id=customer_id, context=MappingContext(currency=currency, id_map=id_map)
    )
    model: type[CanonicalModel] = type(view)
    update = {f: snapshot[f] for f in fields if f in snapshot and f in model.model_fields and f not in NOT_PROPAGATED}
    merged = model.model_validate({**view.model_dump(mode="json"), **update})
    context = MappingContext(currency=currency, target_currency=currency, id_map=id_map)
    native = mapper.from_canonical(entity_type, merged, context=context)
    record = {**stored, **native}
    canonical_view = mapper.to_canonical(
        entity_type, record, customer_id=customer_id, context=MappingContext(currency=currency, id_map=id_map)
    )
    return record, canonical_view.model_dump(mode="json"), context


def write_problems(
    platform: str,
    entity_type: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    changes: Mapping[str, Any],
) -> tuple[list[str], list[str]]:
    """Why the target cannot take all of this write, said before writing: (changed fields it
    computes, which are left out; problems that refuse the write). Both empty: it can.

    ``before``/``after`` are the canonical views of the target record without and with the change,
    ``changes`` the native keys that would be sent. A canonical field that changes but lives only in
    fields the platform computes (Procore's ``grand_total`` from line items, BC's document totals)
    cannot be written: the platform would drop it or answer 400, and reporting ``synced`` would be a
    lie. Over-long text is refused here rather than by the platform's 400.
    """
    described = get_platform(platform)
    computed = described.computed_fields.get(entity_type, {})
    skipped = []
    if computed:
        spec = get_mapper(platform).specs[entity_type]  # type: ignore[attr-defined]
        for codec in spec.codecs:
            # The codec's own key decides: an amount's currency key beside it (BC documents) is no
            # reason to think the amount writable.
            key = str(getattr(codec, "key", ""))
            fields = getattr(codec, "fields", ())
            if key in computed and any(before.get(f) != after.get(f) for f in fields):
                skipped.append(f"{', '.join(fields)} cannot be written to {described.title} ({key}: {computed[key]})")
    refused = described.unwritable(entity_type, {k: v for k, v in changes.items() if k not in computed})
    return skipped, refused


def render_view(
    platform: str, entity_type: str, record: Mapping[str, Any], customer_id: str, id_map: IdMap
) -> dict[str, Any]:
    """The canonical view of a platform record (what `propagated[p].canonical_view` shows)."""
    view = get_mapper(platform).to_canonical(
        entity_type,
        record,
        customer_id=customer_id,
        context=MappingContext(currency=currency_of(platform, record), id_map=id_map),
    )
    return view.model_dump(mode="json")


def reference_report(platform: str, context: MappingContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    resolved = [r.as_dict() for r in context.resolved("from_canonical")]
    unresolved = [r.as_dict() for r in context.unresolved("from_canonical")]
    return resolved, unresolved


@dataclass(frozen=True)
class NativeChange:
    """A platform-mode change: `patch` of the `stored` native record (`platform`, `platform_id`)."""

    platform: str
    platform_id: str
    stored: Mapping[str, Any]
    patch: dict[str, Any]


def propagate_input(
    *,
    propagation_id: str,
    customer_id: str,
    canonical_id: str,
    entity_type: str,
    current: Mapping[str, Any],
    change: Mapping[str, Any] | NativeChange,
    request: dict[str, Any],
    idempotency_key: str | None = None,
    overwrite: bool = False,
) -> PropagateInput:
    """PropagateWorkflow's input for a change of the canonical object `current`: canonical fields, or a
    native change (mirrored on its source, fanned out as what it means canonically). PatchError when
    it cannot be applied. The API and webhook intake both build their inputs here."""
    if isinstance(change, NativeChange):
        patch = platform_patch_to_canonical(
            change.platform, entity_type, change.stored, change.patch, customer_id=customer_id, current=current
        )
    else:
        patch = validate_canonical_patch(entity_type, current, change)
    native = change if isinstance(change, NativeChange) else None
    return PropagateInput(
        propagation_id=propagation_id,
        customer_id=customer_id,
        canonical_id=canonical_id,
        entity_type=entity_type,
        format="canonical" if native is None else "platform",
        canonical_patch=patch,
        source_platform=None if native is None else native.platform,
        source_platform_id=None if native is None else native.platform_id,
        native_patch=None if native is None else native.patch,
        request=request,
        idempotency_key=idempotency_key,
        overwrite=overwrite,
        # Still set while workers from before the patch may run: they read it to pick the local
        # activity (an unset field would replay the activity path against a patched history).
        workflow_revision=2,
    )
