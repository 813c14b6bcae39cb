"""A real HTTP receiver of event deliveries (tests only): records every request, answers from a
script (status, headers, or a hang longer than the engine's timeout), then with 200."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from emulators import serve_in_thread


@dataclass(frozen=True)
class Got:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (0: too late, the caller had given up)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering
    too_late: bool = False  # the hang outlasts the engine's timeout: not an acknowledgement


@dataclass
class EventReceiver:
    url: str = ""
    got: list[Got] = field(default_factory=list)
    script: deque[Answer] = field(default_factory=deque)
    default: Answer = field(default_factory=Answer)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def then(self, *answers: Answer) -> None:
        with self._lock:
            self.script.extend(answers)

    def acknowledged(self) -> list[Got]:
        """The deliveries answered 2xx, in arrival order."""
        with self._lock:
            return [g for g in self.got if 200 <= g.status < 300]

    def ids(self) -> list[str]:
        return [g.id for g in self.acknowledged()]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            body = await request.body()
            with self._lock:
                answer = self.script.popleft() if self.script else self.default
            if answer.hang:
                await asyncio.sleep(answer.hang)
            with self._lock:
                self.got.append(Got(dict(request.headers), body, 0 if answer.too_late else answer.status))
            return Response(status_code=answer.status, headers=answer.headers)

        return app


@contextmanager
def receiving(port: int = 0) -> Iterator[EventReceiver]:
    receiver = EventReceiver()
    with serve_in_thread(receiver.app(), port=port) as url:
        receiver.url = f"{url}/hooks"
        yield receiver
