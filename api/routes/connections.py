"""POST /connect, GET /connections, GET /objects."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import CurrentKey
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, ErrorType, from_service, json_response
from api.pagination import decode_cursor, encode_cursor
from api.schemas import SyncedEntityTypeName, error_responses
from canonical.entities import SYNCED_NAMES
from canonical.timefmt import iso_millis
from models.delete import DeletePolicy
from platforms.registry import PlatformName, PlatformNameOut
from scheduling.connect import ConnectError, connect_platform, update_connection
from scheduling.connect import ConnectRequest as ConnectCommand
from scheduling.disconnect import DisconnectError, disconnect
from scheduling.sync import sync_status
from store.objects import list_active_connections, list_objects

router = APIRouter(tags=["Connections"])

MAX_PAGE = 1000


class LiveSettings(BaseModel):
    """How to reach the customer's own platform account (live mode)."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(description="API base URL, e.g. https://api.procore.com (must be on the allow-list)")
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, description="Stored encrypted; never returned")
    company_id: str | None = Field(default=None, description="Procore company id / BC company id (GUID)")
    tenant: str | None = Field(default=None, description="Business Central: Entra tenant")
    environment: str | None = Field(default=None, description="Business Central: environment, e.g. production")
    auth_url: str | None = Field(
        default=None,
        description="Base URL of the OAuth token endpoint, when it is not the platform's usual one (must be on the "
        "allow-list). Default: the platform's login host for its real API hosts (Procore: login.procore.com / "
        "login-sandbox.procore.com; Business Central: login.microsoftonline.com), else base_url itself (the "
        "emulators issue their own tokens)",
    )


ConflictRules = dict[str, str | dict[str, str]]
Directions = dict[str, str]
RULES_DOC = (
    'Conflict rules per entity type, or per field (`"*"` for the rest): `manual` (default: queue the conflict, '
    "write nothing), `latest` (the later change wins, by the platforms' timestamps), `prefer:<platform>` (that "
    'platform\'s value wins). E.g. `{"contract": {"amount": "prefer:dynamics", "*": "latest"}}`'
)
DIRECTIONS_DOC = (
    "Sync direction per entity type: `both` (default) or `<from>_to_<to>` (e.g. `procore_to_dynamics`: changes "
    "made in the other platform are ignored and recorded, and it takes the first's values)"
)


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: PlatformName = Field(description="The platform to connect")
    mode: Literal["sandbox", "live"] = Field(default="sandbox", description="`live` reads the customer's own account")
    settings: LiveSettings | None = Field(default=None, description="Required in live mode")
    delete_policy: DeletePolicy | None = Field(
        default=None,
        description="What this connection does when an object is deleted elsewhere: `tombstone_only` (the "
        "default: nothing is deleted here, the deletion is recorded) or `propagate` (deleted here where the "
        "platform allows it, otherwise recorded `refused` with its reason; posted documents are never forced). "
        "Omitted on a reconnect: the connection keeps its policy.",
    )
    rules: ConflictRules | None = Field(default=None, description=RULES_DOC)
    directions: Directions | None = Field(default=None, description=DIRECTIONS_DOC)


class ConnectResultData(BaseModel):
    platform: PlatformNameOut
    status: Literal["connected"]
    entities: dict[str, int] = Field(
        description="Count of seeded entities per type",
        examples=[{"projects": 5, "customers": 4, "contracts": 13, "invoices": 8, "payments": 8}],
    )


class ConnectEnvelope(BaseModel):
    data: ConnectResultData


class Subscription(BaseModel):
    resource: str = Field(description="What it covers, in the platform's words (a Procore trigger, a BC entity set)")
    status: Literal["active", "expiring", "missing", "refused"]
    id: str | None = None
    expires_at: str | None = None
    detail: str | None = Field(default=None, description="Why the platform refused it")


class LastPass(BaseModel):
    started_at: str
    finished_at: str
    read: int = Field(description="Records the platform returned as changed since the watermark")
    changed: int = Field(description="Of those, the ones that differed from the stored copy")
    workflow_id: str | None = None


class SyncState(BaseModel):
    """Continuous sync of a live connection (webhooks, delta passes)."""

    paused: bool
    subscriptions: list[Subscription]
    subscriptions_checked_at: str | None
    last_pass: LastPass | None = Field(description="The last complete delta pass")
    lag_seconds: int | None = Field(
        description="Age of the last complete delta pass's start: the most a change no webhook announced can be "
        "behind (null: no pass yet)"
    )
    changes_applied: int = Field(description="Platform changes handed to the canonical layer (webhooks and passes)")
    last_change_at: str | None
    held: int = Field(description="Changes announced while paused, applied on resume")
    last_error: str | None


class ConnectionItem(BaseModel):
    platform: PlatformNameOut
    status: Literal["active"]
    mode: Literal["sandbox", "live"]
    connected_at: str | None
    entities_synced: int
    delete_policy: DeletePolicy = Field(
        default="tombstone_only", description="What a deletion elsewhere does here (PATCH /connections/{platform})"
    )
    rules: ConflictRules = Field(default_factory=dict, description="Conflict rules (PATCH /connections/{platform})")
    directions: Directions = Field(default_factory=dict, description="Sync directions (PATCH /connections/{platform})")
    sync: SyncState | None = Field(default=None, description="Live connections only")


class ConnectionsData(BaseModel):
    connections: list[ConnectionItem]


class ConnectionsEnvelope(BaseModel):
    data: ConnectionsData


class DisconnectedData(BaseModel):
    platform: PlatformNameOut
    status: Literal["disconnected"]
    subscriptions_removed: int = Field(description="Webhook registrations deleted on the platform")
    subscriptions_left: str | None = Field(
        description="With force=true and a platform that could not be reached: why registrations may remain there "
        "(their notifications now change nothing)"
    )


class DisconnectedEnvelope(BaseModel):
    data: DisconnectedData


class Mapping(BaseModel):
    platform: str
    platform_id: str


class Tombstone(BaseModel):
    at: str = Field(description="When the canonical object was deleted (UTC)")
    by: str = Field(description="Who deleted it: a platform's name, or `api:<key id>`")


class ObjectItem(BaseModel):
    id: str = Field(description="Platform-native id (always a string)")
    canonical_id: str
    platform: str
    entity_type: str
    data: dict[str, Any] = Field(description="Canonical view")
    platform_data: dict[str, Any] = Field(description="Raw native payload")
    mappings: list[Mapping]
    deleted: Tombstone | None = Field(default=None, description="Only on deleted objects (`include_deleted=true`)")


class Pagination(BaseModel):
    next_cursor: str | None
    has_more: bool


class ObjectsEnvelope(BaseModel):
    data: list[ObjectItem]
    pagination: Pagination | None = Field(default=None, description="Only when `limit` is given")


@router.post(
    "/connect",
    response_model=ConnectEnvelope,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR,
        ErrorType.AUTHENTICATION_ERROR,
        ErrorType.AUTHORIZATION_ERROR,
        ErrorType.CONFLICT_ERROR,
        ErrorType.UNSUPPORTED_MEDIA_TYPE,
    ),
    summary="Connect a platform",
    description="Seeds every entity type of the platform, then reconciles it against the other platform if it "
    "is connected. Re-connecting is a destructive reset of that platform's data. Answers when the "
    "ConnectWorkflow has finished.",
)
async def connect(
    body: ConnectRequest, key: CurrentKey, temporal: TemporalDep, settings: SettingsDep, session: SessionDep
) -> ConnectEnvelope:
    request = ConnectCommand(
        customer_id=key.customer_id,
        key_mode=key.mode,
        platform=body.platform,
        mode=body.mode,
        live=body.settings.model_dump() if body.settings is not None else None,
        delete_policy=body.delete_policy,
        rules=body.rules,
        directions=body.directions,
    )
    try:
        result = await connect_platform(session, temporal, settings, request)
    except ConnectError as err:
        raise from_service(err) from err
    return ConnectEnvelope(
        data=ConnectResultData(platform=result.platform, status="connected", entities=result.entities)
    )


@router.get(
    "/connections",
    response_model=ConnectionsEnvelope,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR),
    summary="List active connections",
)
async def connections(key: CurrentKey, session: SessionDep) -> ConnectionsEnvelope:
    rows = await list_active_connections(session, key.customer_id)
    items = [
        ConnectionItem(
            platform=r["platform"],
            status=r["status"],
            mode=r["mode"],
            connected_at=iso_millis(r["connected_at"]) if r["connected_at"] else None,
            entities_synced=int(r["entities_synced"]),
            delete_policy=r["delete_policy"],
            rules=r["rules"],
            directions=r["directions"],
            sync=SyncState.model_validate(sync_status(r)) if r["mode"] == "live" else None,
        )
        for r in rows
    ]
    return ConnectionsEnvelope(data=ConnectionsData(connections=items))


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delete_policy: DeletePolicy | None = Field(
        default=None,
        description="`tombstone_only` (nothing deleted here when an object is deleted elsewhere) or `propagate` "
        "(deleted here where the platform allows it, else recorded `refused`)",
    )
    rules: ConflictRules | None = Field(default=None, description=RULES_DOC + " (replaces the connection's)")
    directions: Directions | None = Field(default=None, description=DIRECTIONS_DOC + " (replaces the connection's)")
    sandbox_fail_writes: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Sandbox connections only: the next N write attempts to this platform fail (a simulated "
        "outage; 0 ends it). A fan-out pass tries a platform 3 times, so N >= 3 fails a pass (it is left "
        "`failed`, replayable); N < 3 only delays it.",
    )


class ConnectionUpdated(BaseModel):
    platform: PlatformNameOut
    delete_policy: DeletePolicy
    rules: ConflictRules
    directions: Directions


class ConnectionUpdatedEnvelope(BaseModel):
    data: ConnectionUpdated


@router.patch(
    "/connections/{platform}",
    response_model=ConnectionUpdatedEnvelope,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND, ErrorType.CONFLICT_ERROR
    ),
    summary="Change a connection's options",
    description="Options that apply from now on, without a reconnect: `delete_policy`, conflict `rules`, sync "
    "`directions`, and for sandbox connections a simulated outage `sandbox_fail_writes` (at least one).",
)
async def change_connection(
    platform: PlatformName, body: ConnectionUpdate, key: CurrentKey, session: SessionDep
) -> ConnectionUpdatedEnvelope:
    try:
        await update_connection(
            session,
            key.customer_id,
            platform,
            delete_policy=body.delete_policy,
            rules=body.rules,
            directions=body.directions,
            sandbox_fail_writes=body.sandbox_fail_writes,
        )
    except ConnectError as err:
        raise from_service(err) from err
    [row] = [r for r in await list_active_connections(session, key.customer_id) if r["platform"] == platform]
    return ConnectionUpdatedEnvelope(
        data=ConnectionUpdated(
            platform=platform, delete_policy=row["delete_policy"], rules=row["rules"], directions=row["directions"]
        )
    )


@router.delete(
    "/connections/{platform}",
    response_model=DisconnectedEnvelope,
    responses=error_responses(
        ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND, ErrorType.CONFLICT_ERROR, ErrorType.EXTERNAL_SERVICE_ERROR
    ),
    summary="Remove a connection",
)
async def remove_connection(
    platform: PlatformName,
    key: CurrentKey,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    force: Annotated[
        bool, Query(description="Remove it even when its webhook registrations cannot be deleted on the platform")
    ] = False,
) -> DisconnectedEnvelope:
    """Deletes the engine's webhook registrations on the platform (live connections), stops the
    connection's delta passes, subscription checks and re-seeds, and forgets its credentials, records
    and mappings. Canonical objects and propagation history stay. 502 when the platform cannot be
    reached to remove the registrations: the connection is kept (retry, or `force=true`)."""
    try:
        done = await disconnect(session, temporal, settings, key.customer_id, platform, force=force)
    except DisconnectError as err:
        raise from_service(err) from err
    return DisconnectedEnvelope(
        data=DisconnectedData(
            platform=platform,
            status="disconnected",
            subscriptions_removed=done.subscriptions_removed,
            subscriptions_left=done.subscriptions_left,
        )
    )


def _entity_type(value: str) -> str | None:
    return SYNCED_NAMES.get(value)


@router.get(
    "/objects",
    response_model=ObjectsEnvelope,
    responses=error_responses(ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR),
    summary="Read objects of one platform and entity type",
    description="Canonical `data`, raw `platform_data` and every cross-platform mapping. Optional cursor "
    "pagination: pass `limit` (1-1000) and then the returned `pagination.next_cursor` as `cursor`. Objects "
    "deleted (on a platform or with DELETE /objects/{id}) whose record this platform still holds are hidden "
    "unless `include_deleted=true`; they then carry `deleted: {at, by}`.",
)
async def objects(
    request: Request,
    key: CurrentKey,
    session: SessionDep,
    platform: Annotated[PlatformName, Query(description="Platform whose objects to read")],
    entity_type: Annotated[SyncedEntityTypeName, Query(description="Entity type (singular or plural)")],
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE, description="Page size; enables pagination")] = None,
    cursor: Annotated[str | None, Query(description="`pagination.next_cursor` of the previous page")] = None,
    include_deleted: Annotated[bool, Query(description="Also list deleted objects (with `deleted`)")] = False,
) -> Response:
    etype = _entity_type(entity_type)
    assert etype is not None  # guaranteed by the Literal
    if cursor is not None and limit is None:
        raise ApiError(ErrorType.VALIDATION_ERROR, "cursor requires limit")
    after = decode_cursor(cursor)
    rows = await list_objects(
        session,
        key.customer_id,
        platform,
        etype,
        after=after,
        limit=(limit + 1) if limit else None,
        include_deleted=include_deleted,
    )
    has_more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    items = []
    for r in rows:
        mappings = r["mappings"] or []
        data = dict(r["canonical_data"])
        data["external_ids"] = {m["platform"]: m["platform_id"] for m in mappings}
        item = {
            "id": r["platform_id"],
            "canonical_id": r["canonical_id"],
            "platform": platform,
            "entity_type": etype,
            "data": data,
            "platform_data": r["platform_data"],
            "mappings": mappings,
        }
        if r["deleted_at"] is not None:
            item["deleted"] = {"at": r["deleted_at"], "by": r["deleted_by"]}
        items.append(item)
    body: dict[str, Any] = {"data": items}
    if limit is not None:
        body["pagination"] = {
            "next_cursor": encode_cursor(rows[-1]["row_id"] if has_more and rows else None),
            "has_more": has_more,
        }
    return json_response(body)
