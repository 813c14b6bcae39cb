"""Edge limits on every request body, over real HTTP against a real uvicorn process: a body over the
limit is refused with 413 before it is read (the process's memory does not grow by its size), JSON
nested too deep and bodies that are not UTF-8 are 400, on every kind of route; no 5xx."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from settings import Settings
from tests.fixtures.api_process import api_process

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 1 << 20


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[tuple[str, int]]:
    """The API as its own uvicorn process (its RSS is what is measured); base URL and pid."""
    with api_process(settings) as (base, proc):
        yield base, proc.pid


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise KeyError("VmRSS")


async def _raw(port: int, head: bytes, body_chunks: int = 0, chunk: bytes = b"") -> bytes:
    """Send ``head`` (and then chunked ``body_chunks`` x ``chunk`` while the server reads), and
    read what the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            for _ in range(body_chunks):
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        answer = b""
        with contextlib.suppress(ConnectionError, TimeoutError):
            while not _complete(answer):
                more = await asyncio.wait_for(reader.read(65536), 10)
                if not more:
                    break
                answer += more
        return answer
    finally:
        writer.close()


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _body_routes() -> list[tuple[str, str]]:
    """(method, path) of every operation that takes a body, path parameters filled in."""
    from api.app import create_app

    out = []
    for path, item in create_app(Settings()).openapi()["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                filled = path.replace("{platform}", "procore")
                while "{" in filled:
                    start = filled.index("{")
                    filled = filled[:start] + "x" + filled[filled.index("}") + 1 :]
                out.append((method.upper(), filled))
    return sorted(out)


BODY_ROUTES = _body_routes()
ROUTES = ["/api/v1/transform", "/api/v1/propagate", "/api/v1/webhooks/procore", "/api/v1/connect"]


@pytest.mark.parametrize("path", ROUTES)
async def test_a_body_over_the_limit_is_413_before_it_is_read(server: tuple[str, int], path: str) -> None:
    base, pid = server
    port = int(base.rsplit(":", 1)[1])
    before = _rss_kib(pid)
    # Declared 50 MB, nothing sent: answered at once from Content-Length.
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {50 << 20}\r\n\r\n"
    answer = await _raw(port, head.encode())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"PAYLOAD_TOO_LARGE"' in answer and b"X-Request-ID" in answer.replace(b"x-request-id", b"X-Request-ID")
    # 50 MB streamed without a length: refused once the count passes the limit, the rest never read.
    chunked = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = await _raw(port, chunked.encode(), body_chunks=800, chunk=b"[" + b"0," * 32767 + b"0]")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _rss_kib(pid) - before < 16 * 1024, "the API's memory grew by the body's size"


async def test_just_under_the_limit_is_read(server: tuple[str, int]) -> None:
    base, _ = server
    async with httpx.AsyncClient(base_url=base) as http:
        body = b'{"pad": "' + b"x" * (LIMIT - 100) + b'"}'
        resp = await http.post("/api/v1/transform", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 401  # read, then the key is checked: no 413
        over = b'{"pad": "' + b"x" * LIMIT + b'"}'
        resp = await http.post("/api/v1/transform", content=over, headers={"Content-Type": "application/json"})
        assert resp.status_code == 413 and resp.json()["error"]["type"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
        (b'{"a": ' * 65 + b"1" + b"}" * 65, "nested deeper than 64"),
        (b'{"name": "caf\xe9"}', "not UTF-8"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
    ],
)
async def test_deep_nesting_and_non_utf8_are_400_on_every_route(
    server: tuple[str, int], method: str, path: str, body: bytes, why: str
) -> None:
    base, _ = server
    async with httpx.AsyncClient(base_url=base) as http:
        resp = await http.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "VALIDATION_ERROR" and why in error["message"]


async def test_brackets_inside_strings_do_not_count(server: tuple[str, int]) -> None:
    base, _ = server
    async with httpx.AsyncClient(base_url=base) as http:
        body = b'{"notes": "' + b"[{" * 5000 + b'"}'
        resp = await http.post("/api/v1/transform", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 401  # not refused by the depth check: read, then the key is checked
