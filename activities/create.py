"""Records created after a connect: register a new platform record as canonical (or link it to the
same record on another platform), then link or create it on each other platform, exactly once.

Exactly once, whatever retries: a target is first looked up (a record carrying our marker, the
canonical id — in Procore's origin fields — or the same strongest business key, which is also how a
create whose answer was lost is found again), and only then created. The lookup, the POST and the
mapping run under the advisory lock per (customer, entity type) that a registration of a new record
by the target's own webhook or delta pass takes too, so the record that comes back as a "new"
notification of our own create is seen mapped, never registered a second time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.propagate import platform_unavailable
from canonical.entities import entity_type as entity_row
from canonical.errors import TransformError
from canonical.ids import canonical_id as derive_canonical_id
from canonical.jsonio import dumps_text, loads
from canonical.models import model_for
from events import payloads
from models.create import CreateInput, CreatePlan, CreateTargetResult, TargetPlan
from models.propagate import PropagateResponse
from platforms import get_mapper
from platforms.http import RejectedError, RetryableError
from platforms.live import Connectors
from platforms.mapping import IdMap, MappingContext
from platforms.registry import get_platform
from propagation.logic import build_id_map, currency_of, render_view
from reconcile.keys import business_keys
from store import creates as q
from store import events as events_q


def create_propagation_id(customer_id: str, canonical_id: str) -> str:
    """The propagation a create is recorded as: one per canonical object (keyed on it, never the run)."""
    return "prop_" + hashlib.sha256(f"{customer_id}|create|{canonical_id}".encode()).hexdigest()[:24]


def canonical_of_new(
    platform: str, entity_type: str, native: Mapping[str, Any], customer_id: str, id_map: IdMap
) -> tuple[str, dict[str, Any], list[str]]:
    """A new platform record's canonical id (deterministic, as a connect derives it), canonical data
    (references resolved through ``id_map``) and business keys. Pure."""
    mapper = get_mapper(platform)
    model = mapper.to_canonical(
        entity_type,
        native,
        customer_id=customer_id,
        context=MappingContext(currency=currency_of(platform, native), id_map=id_map),
    )
    data = model.model_dump(mode="json", exclude={"external_ids"})
    cid = derive_canonical_id(entity_type, customer_id, platform, str(native["id"]))
    return cid, data, business_keys(platform, entity_type, native)


class CreateActivities:
    def __init__(self, engine: AsyncEngine, connectors: Connectors | None) -> None:
        self._engine = engine
        self._connectors = connectors

    @activity.defn
    async def store_object(self, params: CreateInput) -> None:
        """POST /objects: the canonical object the API validated, stored once (a retry finds it)."""
        assert params.entity_type is not None and params.data is not None
        async with self._engine.begin() as conn:
            await q.insert_canonical(
                conn, uuid.UUID(params.customer_id), params.canonical_id, params.entity_type, params.data
            )

    @activity.defn
    async def plan_create(self, params: CreateInput) -> CreatePlan:
        """The platforms the canonical object still has no record on, and per platform the objects it
        references that are not there yet (to be created first)."""
        customer = uuid.UUID(params.customer_id)
        async with self._engine.connect() as conn:
            state = await q.canonical_state(conn, customer, params.canonical_id)
            if state is None:
                return CreatePlan(entity_type="", targets=[])
            entity_type, data, version = state
            references = _references(entity_type, await _inherited(conn, customer, entity_type, data))
            targets = []
            for platform, mode in await q.create_targets(conn, customer, params.canonical_id):
                if entity_type not in get_platform(platform).synced_entity_types:
                    continue
                if params.platforms is not None and platform not in params.platforms:
                    continue
                mapped = {
                    row[1]
                    for row in await q.reference_links(
                        conn, customer, platform, list(references), get_platform(platform).number_reference()
                    )
                }
                missing = [cid for cid in references if cid not in mapped]
                targets.append(TargetPlan(platform=platform, mode=mode, missing_parents=missing))
        return CreatePlan(entity_type=entity_type, version=version, data=data, targets=targets)

    @activity.defn
    async def create_on_target(self, params: CreateInput, platform: str) -> CreateTargetResult:
        """Link or create the canonical object's record on ``platform`` (see the module docstring)."""
        customer = uuid.UUID(params.customer_id)
        async with self._engine.begin() as conn:
            existing = await q.target_mapping(conn, customer, params.canonical_id, platform)
            if existing is not None:
                return CreateTargetResult(platform=platform, status="synced", platform_id=existing, how="existing")
            state = await q.canonical_state(conn, customer, params.canonical_id)
            if state is None:
                return CreateTargetResult(platform=platform, status="failed", error="the canonical object is gone")
            entity_type, data, _ = state
            prepared = await self._render(conn, customer, platform, entity_type, params.canonical_id, data)
            if isinstance(prepared, str):
                return CreateTargetResult(platform=platform, status="failed", error=prepared)
            rendered, id_map = prepared
            await q.lock_type(conn, customer, entity_type)
            if (existing := await q.target_mapping(conn, customer, params.canonical_id, platform)) is not None:
                return CreateTargetResult(platform=platform, status="synced", platform_id=existing, how="existing")
            mode = dict(await q.create_targets(conn, customer, params.canonical_id)).get(platform, "live")
            if mode == "live":
                outcome = await self._live(conn, customer, platform, entity_type, params.canonical_id, rendered)
                if isinstance(outcome, CreateTargetResult):
                    return outcome
                record, how = outcome
            else:
                record, how = _sandbox_record(platform, params.canonical_id, rendered), "created"
            described = get_platform(platform)
            mapped_to = await q.map_target(
                conn,
                customer,
                params.canonical_id,
                platform=platform,
                entity_type=entity_type,
                platform_id=str(record["id"]),
                native=record,
                canonical_data=data,
                keys=business_keys(platform, entity_type, record),
                etag=described.etag(record),
                updated_at=described.updated_at(record),
            )
        if mapped_to != params.canonical_id:
            # That record was registered meanwhile as another canonical object (its own platform's
            # pass got there first): say so, nothing is created twice.
            return CreateTargetResult(
                platform=platform,
                status="failed",
                platform_id=str(record["id"]),
                error=f"the {platform} record {record['id']} is already mapped to {mapped_to}",
            )
        return CreateTargetResult(
            platform=platform,
            status="synced",
            platform_id=str(record["id"]),
            how=how,
            data=dumps_text(record),
            canonical_view=render_view(platform, entity_type, record, params.customer_id, id_map),
            live=mode == "live",
        )

    async def _render(
        self,
        conn: AsyncConnection,
        customer: uuid.UUID,
        platform: str,
        entity_type: str,
        canonical_id: str,
        data: dict[str, Any],
    ) -> tuple[dict[str, Any], IdMap] | str:
        """The native record a create sends (references in the platform's ids) and the ids it used,
        or why there is none."""
        described = get_platform(platform)
        data = await _inherited(conn, customer, entity_type, data)
        references = _references(entity_type, data)
        rows = await q.reference_links(conn, customer, platform, list(references), described.number_reference())
        id_map = build_id_map(platform, rows)
        missing = sorted(set(references) - {r[1] for r in rows})
        if missing:
            return f"referenced records are not on {described.title} yet: {', '.join(missing)}"
        # A record some platforms book in its customer's currency with no code of its own (a BC
        # payment journal line) is created in the currency of what it references there. When that
        # is blank too (the company's local currency, which the engine does not know) the mapper
        # refuses: booking canonical's amount as local currency could be a wrong amount.
        natives = await q.referenced_records(conn, customer, platform, list(references))
        currency = next(
            (
                code
                for parent in ("customer", "contract", "invoice")
                if parent in natives and (code := described.record_currency(natives[parent]))
            ),
            None,
        )
        try:
            model = model_for(entity_type).model_validate({**data, "id": canonical_id})
            native = get_mapper(platform).from_canonical(
                entity_type,
                model,
                context=MappingContext(
                    id_map=id_map, options=described.create_options, currency=currency
                ),
            )
        except (TransformError, ValueError) as err:
            return f"cannot map to {described.title}: {err}"
        native.pop("id", None)
        return native, id_map

    async def _live(
        self,
        conn: AsyncConnection,
        customer: uuid.UUID,
        platform: str,
        entity_type: str,
        canonical_id: str,
        rendered: dict[str, Any],
    ) -> tuple[dict[str, Any], str] | CreateTargetResult:
        if self._connectors is None:
            raise ApplicationError("live connectors are not configured", type="NotConfigured", non_retryable=True)
        session = AsyncSession(bind=conn)
        try:
            client = await self._connectors.client(session, customer, platform)
        except RejectedError as err:
            return CreateTargetResult(platform=platform, status="failed", error=err.message)
        finally:
            await session.close()
        try:
            found = await client.find(entity_type, rendered, canonical_id)
            if found is not None:
                return dict(found), "found"
            return dict(await client.create(entity_type, rendered, canonical_id)), "created"
        except RetryableError as err:
            raise platform_unavailable(err) from err
        except RejectedError as err:
            return CreateTargetResult(platform=platform, status="failed", error=err.message)

    @activity.defn
    async def record_create(
        self, params: CreateInput, plan: CreatePlan, outcomes: list[CreateTargetResult]
    ) -> PropagateResponse:
        """The create's outcome as a propagation record, in the propagate result shape; when every
        platform has its record the pending hand-over row goes."""
        customer = uuid.UUID(params.customer_id)
        failed = [o for o in outcomes if o.status == "failed"]
        # As a fan-out: any failed platform makes the create partial, replayable (POST .../retry).
        status = "partial" if failed else "synced"
        propagation_id = create_propagation_id(params.customer_id, params.canonical_id)
        fields = {str(plan.data[f]): f for f in entity_row(plan.entity_type).references if plan.data.get(f)}
        async with self._engine.connect() as conn:
            rows = await q.mapped_ids(conn, customer, list(fields))
        links = [
            {"field": fields[cid], "canonical_id": cid, "platform": platform, "platform_id": platform_id}
            for cid, platform, platform_id in rows
        ]
        response = PropagateResponse(
            propagation_id=propagation_id,
            canonical={
                "id": params.canonical_id,
                "entity_type": plan.entity_type,
                "updated_fields": [],
                "data": plan.data,
            },
            propagated={o.platform: _entry(o) for o in sorted(outcomes, key=lambda o: o.platform)},
            references={"resolved": links, "unresolved": []},
            status=status,
            failed={o.platform: o.error or "failed" for o in failed},
        )
        result = response.model_dump(mode="json")
        async with self._engine.begin() as conn:
            await q.record_create(
                conn,
                customer,
                create_propagation_id(params.customer_id, params.canonical_id),
                canonical_id=params.canonical_id,
                entity_type=plan.entity_type,
                source_platform=params.source_platform,
                request=params.request or {"create": params.model_dump(exclude={"data", "request"})},
                idempotency_key=params.idempotency_key,
                status=status,
                version=plan.version,
                data=plan.data,
                result=result,
            )
            await q.save_targets(conn, propagation_id, outcomes)
            if not failed:
                await q.drop_pending(conn, customer, params.canonical_id)
            await emit_record_events(
                conn, customer, "create", propagation_id, result, params.canonical_id, params.source_platform
            )
        return response

    @activity.defn
    async def give_up_create(self, params: CreateInput) -> None:
        """No replay came for the failed platforms: the hand-over row goes (the record stays failed)."""
        async with self._engine.begin() as conn:
            await q.drop_pending(conn, uuid.UUID(params.customer_id), params.canonical_id)


async def emit_record_events(
    conn: AsyncConnection,
    customer: uuid.UUID,
    kind: Literal["create", "delete"],
    propagation_id: str,
    result: dict[str, Any],
    canonical_id: str,
    source_platform: str | None,
) -> None:
    """``record.created`` / ``record.deleted`` once per object, and each pass's outcome as a
    ``propagation.*`` event (in the caller's transaction)."""
    build = payloads.record_created if kind == "create" else payloads.record_deleted
    await events_q.emit(
        conn, customer, f"record.{kind}d", build(propagation_id, result, source_platform), key=canonical_id
    )
    await events_q.emit(
        conn,
        customer,
        f"propagation.{result['status']}",
        payloads.propagation(propagation_id, result, kind=kind),
        key=f"{propagation_id}|{payloads.fingerprint(result)}",
    )


def _entry(outcome: CreateTargetResult) -> dict[str, Any]:
    """One platform's entry of ``propagated``, as a fan-out reports a live write."""
    entry: dict[str, Any] = {
        "platform_id": outcome.platform_id,
        "data": outcome.data,
        "canonical_view": outcome.canonical_view,
        "writeStatus": outcome.status,
    }
    if outcome.how:
        entry["createdHow"] = outcome.how
    if outcome.error:
        entry["writeError"] = outcome.error
    return entry


async def _inherited(
    conn: AsyncConnection, customer: uuid.UUID, entity_type: str, data: dict[str, Any]
) -> dict[str, Any]:
    """``data`` with the references it lacks taken from the objects it references: a Procore pay
    application names its commitment but not the customer, which a Business Central invoice must
    name; the commitment's customer is the invoice's. Only for creates (canonical keeps what the
    source said)."""
    own = entity_row(entity_type).references
    data = dict(data)
    for _ in range(len(own)):  # a payment's invoice gives its contract, which gives its customer
        added = False
        for field, parent_type in own.items():
            parent_id = data.get(field)
            if not parent_id:
                continue
            parent = await q.canonical_state(conn, customer, str(parent_id))
            if parent is None or parent[0] != parent_type:
                continue
            for inherited in entity_row(parent_type).references:
                if inherited in own and not data.get(inherited) and parent[1].get(inherited):
                    data[inherited] = parent[1][inherited]
                    added = True
        if not added:
            break
    return data


def _references(entity_type: str, data: Mapping[str, Any]) -> dict[str, str]:
    """Referenced canonical id -> its entity type, for the object's set reference fields."""
    refs = entity_row(entity_type).references
    return {str(data[f]): t for f, t in refs.items() if data.get(f)}


def _sandbox_record(platform: str, canonical_id: str, rendered: dict[str, Any]) -> dict[str, Any]:
    """A sandbox platform's new record: an id derived from the canonical id (the same on a retry)."""
    digest = hashlib.sha256(f"{platform}|{canonical_id}".encode()).digest()
    native_id: Any = (
        str(uuid.UUID(bytes=digest[:16])) if platform == "dynamics" else 9_000_000 + int.from_bytes(digest[:3])
    )
    return dict(loads(dumps_text(rendered | {"id": native_id})))


@dataclass(frozen=True)
class NewRecords:
    pending: list[str]  # canonical ids still to be linked or created on the other platforms
    unmappable: list[str]  # "<platform id>: <why>" of records that cannot be read as canonical


async def register_new(
    engine: AsyncEngine, customer: uuid.UUID, platform: str, entity_type: str, records: list[dict[str, Any]]
) -> NewRecords:
    """Register the platform records a delta pass found unmapped (each linked to the same record on
    another platform or a new canonical object, with a pending hand-over row), then return every
    pending create of the type: these and any a crashed pass left."""
    from activities.connect import References  # the seed's reference resolution, one batch

    async with engine.connect() as lookups:
        generation = await q.active_generation(lookups, customer, platform)
        if generation is None:
            return NewRecords([], [])
        id_map = IdMap()
        if records:
            references = References(customer, platform, entity_type, generation)
            await references.prepare(lookups)
            id_map = await references.id_map(lookups, references.wanted(records))
    described = get_platform(platform)
    unmappable = []
    for done, native in enumerate(records):
        if activity.in_activity():
            activity.heartbeat(f"registered {done} of {len(records)} new records")
        try:
            cid, data, keys = canonical_of_new(platform, entity_type, native, str(customer), id_map)
        except (TransformError, ValueError) as err:  # pydantic's ValidationError is a ValueError
            # Not silently dropped: the pass reports it, and the next pass tries again.
            unmappable.append(f"{native.get('id')}: {err}")
            continue
        async with engine.begin() as conn:
            await q.register_record(
                conn,
                customer,
                platform=platform,
                entity_type=entity_type,
                platform_id=str(native["id"]),
                native=native,
                canonical_data=data,
                canonical_id=cid,
                keys=keys,
                etag=described.etag(native),
                updated_at=described.updated_at(native),
                claimed=described.created_marker(entity_type, native),
            )
    async with engine.connect() as conn:
        return NewRecords(await q.pending(conn, customer, platform, entity_type), unmappable)
