"""The web service's listening socket: every connection it accepts has Nagle's algorithm off
(TCP_NODELAY). Without it each response after a connection's first waited ~40 ms for the
client's delayed ACK (uvicorn writes a response's head and body separately)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn

from provisioning.web.server import listening_socket

pytestmark = pytest.mark.unit


async def accepted_nodelay(listener: socket.socket) -> int:
    """Serve on ``listener`` as uvicorn does (``create_server(sock=...)``), connect once, and
    read TCP_NODELAY off the connection the server accepted."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn: socket.socket = transport.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await loop.create_server(Probe, sock=listener)
    host, port = listener.getsockname()[:2]
    async with server:
        _reader, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_every_accepted_connection_has_nagle_off(host: str) -> None:
    config = uvicorn.Config(app="unused:app", host=host, port=0, log_level="warning")
    listener = listening_socket(config)
    assert listener.proto == socket.IPPROTO_TCP
    assert asyncio.run(accepted_nodelay(listener)) != 0
