"""A TCP proxy that delays every byte by a fixed time in each direction: a far-away client on
localhost. Stack and browser tests put it between a client and nginx.

    with DelayProxy(upstream_port=stack.port, delay_s=0.010) as proxy:
        ...  # connect to 127.0.0.1:proxy.port (HTTP and WebSocket alike)

It runs its own event loop in a thread, so synchronous tests (Playwright) and asyncio tests
alike can use it. Each chunk read is written `delay_s` after it was read, in order, so the
delay adds to each direction's latency without limiting its throughput.
"""

import asyncio
import contextlib
import threading
import time


class DelayProxy:
    def __init__(self, upstream_port: int, delay_s: float, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = delay_s
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._connections: set[asyncio.Task] = set()

    def __enter__(self) -> "DelayProxy":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the delay proxy did not start")
        return self

    def __exit__(self, *exc_info) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in self._connections:
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            self._connections.discard(task)
            return
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer),
                self._pipe(upstream_reader, client_writer),
                return_exceptions=True,
            )
        except asyncio.CancelledError:  # the proxy is stopping: just close both ends
            client_writer.close()
            upstream_writer.close()
        finally:
            self._connections.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, each chunk `delay_s` after it arrived (a queue keeps the order)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((time.perf_counter() + self.delay_s, data))
        except OSError:
            pass
        finally:
            queue.put_nowait((0.0, b""))
            with contextlib.suppress(Exception):
                await delivering
            writer.close()
