"""The benchmark's HTTP load test: a connection the server drops is a counted error, not the end of the run."""

from __future__ import annotations

import asyncio

from infra.bench.harness import _drive


async def _drive_a_server_that_drops_every_other_request(requests: int) -> dict[str, str]:
    """A server that answers /openapi.json, answers reads with 200, and hangs up on every command."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):  # the client hung up
                writer.close()
                return
            fields = head.lower().split(b"\r\n")
            lengths = [line.split(b":")[1] for line in fields if line.startswith(b"content-length")]
            length = int(lengths[0]) if lengths else 0
            await reader.readexactly(length)
            if head.startswith(b"POST"):
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}")
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        return await _drive(f"http://127.0.0.1:{port}", "token", requests)


def test_dropped_connections_are_counted_and_the_answered_requests_timed() -> None:
    figures = asyncio.run(_drive_a_server_that_drops_every_other_request(20))
    assert figures["HTTP load: requests, concurrency, errors"].startswith("20, 16, 10 (connections lost: 10 ")
    assert figures["HTTP load: command p50 / p99"] == "none answered"
    assert figures["HTTP load: read p50 / p99"].endswith(" ms")
