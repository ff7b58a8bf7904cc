"""A stand-in for the WAN between the stores and the cloud: a TCP relay in front of the
simulator (and of Redis) that holds every chunk for half the round trip, each way, in order.
It models latency only: no loss, no jitter, no bandwidth limit, and the TCP handshake itself
is local (a connection's first bytes pay the delay instead)."""

from __future__ import annotations

import asyncio
import contextlib


class DelayRelay:
    def __init__(self, target_port: int, round_trip_s: float) -> None:
        self._target_port = target_port
        self._one_way = round_trip_s / 2
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self._target_port
            )
        except OSError:
            client_writer.close()  # the service is down: the caller sees its connection drop
            return
        pumps = [
            asyncio.create_task(self._pump(client_reader, upstream_writer)),
            asyncio.create_task(self._pump(upstream_reader, client_writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            for writer in (client_writer, upstream_writer):
                writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Forward each chunk once it has been on the way for the one-way delay."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    chunks.put_nowait((loop.time() + self._one_way, data))
            chunks.put_nowait((loop.time() + self._one_way, b""))

        reader = asyncio.create_task(read())
        try:
            while True:
                due, data = await chunks.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    if sink.can_write_eof():
                        sink.write_eof()
                    return
                sink.write(data)
                await sink.drain()
        except OSError:
            return
        finally:
            reader.cancel()
