"""A real HTTP receiver for the emulators' webhook deliveries (tests only).

It runs on its own uvicorn server (``serve_in_thread``), records every request it gets, and answers
as the test tells it: a queue of statuses for deliveries, and an echo (or not) for Business
Central's ``validationToken`` handshake. Nothing is mocked: the emulator delivers over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from emulators import serve_in_thread


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What a receiver got and how it answers; ``url`` is set once it is serving."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)  # statuses for the next deliveries, in order
    status: int = 200  # then this one
    handshake: Literal["echo", "wrong", "fail"] = "echo"
    pause: float = 0.0  # seconds to wait before answering a delivery (a slow receiver)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deliveries(self) -> list[Received]:
        """Everything but handshakes, in arrival order."""
        with self._lock:
            return [r for r in self.received if "validationToken" not in r.query]

    def handshakes(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if "validationToken" in r.query]

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.deliveries()]

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self.answers.extend(statuses)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def receive(path: str, request: Request) -> Response:
            got = Received(
                request.method, "/" + path, dict(request.query_params), dict(request.headers), await request.body()
            )
            with self._lock:
                self.received.append(got)
                token = got.query.get("validationToken")
                if token is not None:
                    if self.handshake == "echo":
                        return PlainTextResponse(token)
                    if self.handshake == "wrong":
                        return PlainTextResponse("not the token")
                    return PlainTextResponse("no", status_code=500)
                status = self.answers.popleft() if self.answers else self.status
            if self.pause:
                await asyncio.sleep(self.pause)
            return Response(status_code=status)

        return app


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as url:
        receiver.url = url
        yield receiver


def wait_for(condition: Callable[[], bool], within: float = 10.0, what: str = "the condition") -> None:
    """Poll ``condition`` until it holds (AssertionError after ``within`` seconds)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
