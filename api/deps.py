"""Request-scoped dependencies (Annotated aliases used by the routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from settings import Settings

# The dependencies are ``async def`` although none awaits: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request per dependency.


async def get_settings_dep(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker = cast(async_sessionmaker[AsyncSession], request.app.state.sessionmaker)
    async with maker() as session:
        yield session


async def get_temporal(request: Request) -> Client:
    return cast(Client, request.app.state.temporal)


async def request_id(request: Request) -> str:
    return cast(str, request.state.request_id)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
RequestIdDep = Annotated[str, Depends(request_id)]
