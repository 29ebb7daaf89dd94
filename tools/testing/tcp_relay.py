"""A TCP relay for tests: "the network to a server is down" is a port with nothing behind it, and
"it is back" a relay that opens on that port and forwards every connection to the real server
(used with the session's PostgreSQL: a database reachable late, or lost for an outage)."""

from __future__ import annotations

import asyncio


async def tcp_relay(listen_port: int, target_port: int) -> asyncio.Server:
    """Forward every connection on 127.0.0.1:listen_port to 127.0.0.1:target_port until closed."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", listen_port)
