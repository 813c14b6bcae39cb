"""The product's app plus one bare endpoint, served together for bench.transform.http."""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI

from api.app import create_app


def create_bench_app() -> FastAPI:
    app = create_app()

    @app.post("/bench/bare")
    async def bare(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        # The baseline: FastAPI parses the same JSON body and returns JSON, through the same middleware.
        return {"echo": payload}

    # First in the routing table, as /transform is in the product's: both are matched at once.
    app.router.routes.insert(0, app.router.routes.pop())
    return app
