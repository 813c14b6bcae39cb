"""Continuous-sync upkeep of a live connection: its platform subscriptions (register, repair, renew,
remove) and the changes held while its sync was paused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.webhook import (
    CatchUpInput,
    HeldChanges,
    ResumeInput,
    SubscriptionInfo,
    SubscriptionInput,
    SubscriptionResult,
    WebhookEvent,
)
from platforms.descriptor import Destination
from platforms.http import RejectedError, RetryableError
from platforms.live import Connectors
from settings import Settings
from store import events as events_q
from store.connections import encrypted_webhook_secret, merge_sync_state, save_sync_watermark, sync_state
from store.credentials import decrypt_webhook_secret
from store.webhooks import held_changes, release_held

# Held changes handed on per activity: one resume of a long pause runs several.
HELD_BATCH = 500


def destination(settings: Settings, customer_id: str, platform: str, secret: str) -> Destination:
    """Where a connection's notifications go. The namespace names the connection, so two customers
    connecting the same platform account keep apart registrations."""
    return Destination(
        url=f"{settings.webhook_base_url}/api/v1/webhooks/{platform}",
        secret=secret,
        namespace=f"structural-{uuid.UUID(customer_id).hex[:12]}",
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SyncActivities:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], connectors: Connectors | None, settings: Settings
    ) -> None:
        self._sessionmaker = sessionmaker
        self._connectors = connectors
        self._settings = settings

    @activity.defn
    async def check_subscriptions(self, params: SubscriptionInput) -> SubscriptionResult:
        """Register, repair and renew (or, ``remove``, delete) the connection's subscriptions on the
        platform, and record their state for GET /connections."""
        if self._connectors is None:
            raise ApplicationError("live connectors are not configured", type="NotConfigured", non_retryable=True)
        customer = uuid.UUID(params.customer_id)
        async with self._sessionmaker() as session:
            encrypted = await encrypted_webhook_secret(session, customer, params.platform)
            try:
                client = await self._connectors.client(session, customer, params.platform)
            except RejectedError as err:
                return SubscriptionResult(reason=err.message)
        if encrypted is None:
            return SubscriptionResult(reason="the connection has no webhook secret (connect it in live mode again)")
        target = destination(
            self._settings, params.customer_id, params.platform, decrypt_webhook_secret(self._settings, encrypted)
        )
        try:
            if params.remove:
                return SubscriptionResult(removed=await client.unsubscribe(target))
            states = await client.subscribe(target)
        except RetryableError as err:
            await self._note(customer, params.platform, {"subscriptions_error": err.message})
            raise ApplicationError(err.message, type="PlatformUnavailable") from err
        except RejectedError as err:  # e.g. no permission for the webhooks API: the delta pass still syncs
            await self._note(
                customer, params.platform, {"subscriptions_error": err.message, "subscriptions_checked_at": _now()}
            )
            return SubscriptionResult(reason=err.message)
        infos = [
            SubscriptionInfo(resource=s.resource, status=s.status, id=s.id, expires_at=s.expires_at, detail=s.detail)
            for s in states
        ]
        await self._note(
            customer,
            params.platform,
            {
                "subscriptions": [i.model_dump(exclude_none=True) for i in infos],
                "subscriptions_checked_at": _now(),
                "subscriptions_error": None,
            },
        )
        return SubscriptionResult(subscriptions=infos)

    async def _note(self, customer: uuid.UUID, platform: str, patch: dict[str, object]) -> None:
        async with self._sessionmaker() as session:
            await merge_sync_state(session, customer, platform, patch)
            await session.commit()

    @activity.defn
    async def held_changes(self, params: ResumeInput) -> HeldChanges:
        """The oldest changes held while the connection was paused (a batch)."""
        async with self._sessionmaker() as session:
            rows = await held_changes(session, uuid.UUID(params.customer_id), params.platform, limit=HELD_BATCH)
        events, collections = [], []
        for key, held in rows:
            if held.get("collection"):
                collections.append(
                    CatchUpInput(
                        customer_id=params.customer_id,
                        platform=params.platform,
                        entity_type=held["entity_type"],
                        delivery_key=key,
                    )
                )
            else:
                events.append(
                    WebhookEvent(
                        customer_id=params.customer_id,
                        platform=params.platform,
                        entity_type=held["entity_type"],
                        platform_id=held["platform_id"],
                        delivery_key=key,
                    )
                )
        return HeldChanges(events=events, collections=collections)

    @activity.defn
    async def release_held(self, params: ResumeInput, keys: list[str]) -> None:
        """Held changes that were handed on (their workflows started) are no longer held."""
        async with self._sessionmaker() as session:
            await release_held(session, uuid.UUID(params.customer_id), params.platform, keys)
            await session.commit()

    @activity.defn
    async def record_delta_pass(
        self, params: ResumeInput, summary: dict[str, object], watermarks: dict[str, str] | None = None
    ) -> None:
        """The last complete delta pass, for GET /connections (its start bounds the lag), and where
        the next pass reads from (``watermarks``: per type, and per change journal; each only moves
        forward), in one transaction. A pass that starts long after the one before
        (SYNC_LAGGING_AFTER_SECONDS: a stopped worker, a paused schedule, a pass that took long)
        records ``sync.lagging``: changes no webhook announced were that far behind."""
        customer = uuid.UUID(params.customer_id)
        async with self._sessionmaker() as session:
            for key, watermark in (watermarks or {}).items():
                await save_sync_watermark(session, customer, params.platform, key, watermark)
            before = (await sync_state(session, customer, params.platform)).get("last_pass")
            swept_at = summary.pop("swept_at", None)
            await merge_sync_state(
                session,
                customer,
                params.platform,
                {"last_pass": summary, **({"last_sweep_at": swept_at} if swept_at else {})},
            )
            limit = self._settings.sync_lagging_after_seconds
            if before and limit:
                gap = (_instant(str(summary["started_at"])) - _instant(str(before["started_at"]))).total_seconds()
                if gap > limit:
                    await events_q.emit(
                        session,
                        customer,
                        "sync.lagging",
                        {
                            "platform": params.platform,
                            "lag_seconds": int(gap),
                            "previous_pass_started_at": before["started_at"],
                            "pass_started_at": summary["started_at"],
                        },
                        key=f"{params.platform}|{summary['started_at']}",
                    )
            await session.commit()


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
