"""Create, list and delete a customer's periodic re-seed of a connected platform.

Each schedule is a Temporal Schedule (visible on the UI's Schedules page, overlap policy SKIP)
that starts ScheduledReseedWorkflow; a `reseed_schedules` row records the owner so deleting the
customer can delete its schedules too. Used by the API and the CLI.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from models.connect import ScheduledReseedInput
from store import schedules
from workflows.names import customer_platform
from workflows.reseed import ScheduledReseedWorkflow


class ScheduleExists(Exception):
    pass


@dataclass(frozen=True)
class ReseedScheduleInfo:
    schedule_id: str
    platform: str
    interval_seconds: int
    next_run_at: datetime | None
    created_at: datetime | None = None


def schedule_id(customer_id: uuid.UUID | str, platform: str) -> str:
    return f"reseed-{customer_id}-{platform}"


async def create(
    client: Client,
    session: AsyncSession,
    customer_id: uuid.UUID,
    platform: str,
    interval_seconds: int,
    task_queue: str,
) -> ReseedScheduleInfo:
    """Create the schedule; the row is written only once Temporal accepted it (caller commits)."""
    sid = schedule_id(customer_id, platform)
    attrs = customer_platform(str(customer_id), platform)
    try:
        handle = await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ScheduledReseedWorkflow.run,
                    ScheduledReseedInput(customer_id=str(customer_id), platform=platform),
                    id=sid,
                    task_queue=task_queue,
                    typed_search_attributes=attrs,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]),
                # A re-seed still running when the next is due: skip the next one.
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                state=ScheduleState(note=f"Re-seed {platform} every {interval_seconds}s for customer {customer_id}"),
            ),
            search_attributes=attrs,
        )
    except ScheduleAlreadyRunningError as err:
        raise ScheduleExists(sid) from err
    await schedules.add(session, sid, customer_id, platform, interval_seconds)
    desc = await handle.describe()
    nxt = desc.info.next_action_times[0] if desc.info.next_action_times else None
    return ReseedScheduleInfo(sid, platform, interval_seconds, nxt)


async def list_for_customer(client: Client, session: AsyncSession, customer_id: uuid.UUID) -> list[ReseedScheduleInfo]:
    out = []
    for row in await schedules.for_customer(session, customer_id):
        try:
            desc = await client.get_schedule_handle(row.schedule_id).describe()
            nxt = desc.info.next_action_times[0] if desc.info.next_action_times else None
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            nxt = None  # deleted in the UI by an operator; the row goes with the next delete
        out.append(ReseedScheduleInfo(row.schedule_id, row.platform, row.interval_seconds, nxt, row.created_at))
    return out


async def delete_one(client: Client, session: AsyncSession, customer_id: uuid.UUID, platform: str) -> bool:
    sid = schedule_id(customer_id, platform)
    existed = await schedules.remove(session, customer_id, sid)
    await delete_schedule(client, sid)
    return existed


async def delete_all_for_customer(client: Client, session: AsyncSession, customer_id: uuid.UUID) -> int:
    ids = await schedules.ids_for_customer(session, customer_id)
    for sid in ids:
        await delete_schedule(client, sid)
    return len(ids)


async def delete_schedule(client: Client, sid: str) -> None:
    """Delete a Temporal Schedule; one already gone (deleted in the UI) is no error."""
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
