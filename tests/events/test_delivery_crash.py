"""A worker SIGKILLed while it delivers 100 events: the receiver gets every one, in order; events
acknowledged but not yet recorded when the worker died come again (at least once: a replay of at most
one batch, from the first unrecorded event), never with a different body, never skipping ahead."""

from __future__ import annotations

import asyncio
import itertools
import signal
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.events import FLUSH_EVERY
from api.app import create_app
from settings import Settings
from store import events as q
from store.customers import create_customer
from tests.events.conftest import add_endpoint, eventually
from tests.events.receiver import Answer, receiving
from tests.fixtures.net import auth, make_client
from tests.fixtures.workers import start_worker

EVENTS = 100


async def test_deliveries_survive_worker_kills(
    temporal_client: Client, settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    queue = f"events-crash-{uuid.uuid4().hex[:8]}"
    worker = start_worker(settings, queue)
    app = create_app(settings.model_copy(update={"task_queue": queue}))
    async with sessionmaker() as s:
        created = await create_customer(s, name="events-crash", environment="demo")
        await s.commit()
    customer, h = created.customer_id, auth(created.api_key)
    try:
        with receiving() as receiver:
            receiver.default = Answer(200, hang=0.02)  # a steady receiver, so the kills land mid-stream
            async with app.router.lifespan_context(app), make_client(app) as api:
                await add_endpoint(api, h, receiver.url)
                wanted = []
                for n in range(EVENTS):
                    async with engine.begin() as conn:
                        wanted.append(await q.emit(conn, customer, "sync.paused", {"n": n}, key=f"crash-{n}"))
                for kill in (1,):
                    due = len(wanted) // 3 * kill
                    await eventually(lambda due=due: len(receiver.got) >= due, within=60)
                    worker.send_signal(signal.SIGKILL)
                    worker.wait(10)
                    await asyncio.sleep(0.5)
                    worker = start_worker(settings, queue)

                def received_in_order() -> list[str]:
                    """First arrivals: a kill between acknowledgements and their record makes the
                    next pass send those again (at most a batch), from the first unrecorded one."""
                    return list(dict.fromkeys(g.id for g in receiver.acknowledged()))

                await eventually(lambda: received_in_order() == wanted, within=90)
                # Repeats are replays of a stretch already received, in order, never a skip ahead.
                position = {eid: i for i, eid in enumerate(wanted)}
                seen = [position[g.id] for g in receiver.acknowledged()]
                for before, after in itertools.pairwise(seen):
                    assert after == before + 1 or after <= before, (before, after)
                assert len(seen) - len(wanted) <= FLUSH_EVERY
                bodies: dict[str, set[bytes]] = {}
                for got in receiver.got:
                    bodies.setdefault(got.id, set()).add(got.body)
                assert all(len(b) == 1 for b in bodies.values())
                assert [g.json()["data"]["n"] for g in receiver.acknowledged()][-1] == EVENTS - 1
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
