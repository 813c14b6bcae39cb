"""The bench's webhook receiver, in its own process (so it does not share the bench's or the
worker's interpreter): answers 204 to every POST and keeps, per path, the order of the events it got
and each one's delay from the event's timestamp (the state change's commit) to its arrival.
GET /stats returns them; POST /reset forgets them."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_seen: dict[str, list[int]] = defaultdict(list)
_delays: list[float] = []


async def receive(request: Request) -> Response:
    body: Any = orjson.loads(await request.body())
    arrived = time.time()
    path = request.url.path
    data = body.get("data") or {}
    _seen[path].append(int(data.get("n", -1)))
    stamp = body.get("timestamp")
    if stamp:
        _delays.append(arrived - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    return Response(status_code=204)


async def stats(request: Request) -> Response:
    ordered = all(seq == sorted(seq) for seq in _seen.values())
    body = {"count": sum(len(v) for v in _seen.values()), "paths": len(_seen), "ordered": ordered, "delays": _delays}
    return Response(orjson.dumps(body), media_type="application/json")


async def reset(request: Request) -> Response:
    _seen.clear()
    _delays.clear()
    return Response(status_code=204)


app = Starlette(
    routes=[
        Route("/_stats", stats, methods=["GET"]),
        Route("/_reset", reset, methods=["POST"]),
        Route("/{path:path}", receive, methods=["POST"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
