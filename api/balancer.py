"""Several serving processes behind one port, each connection to the least busy process.

uvicorn's own `--workers` lets every process accept from the shared listening socket, and a
process that wakes first takes every connection waiting: a burst of keep-alive connections
(the benchmark's clients, a browser's six) can land on one process while the others idle,
and a kept connection stays where it landed. Measured at 100k openings with 8 clients on
two serving processes, splits of 5+3 and 7+1 gave p99 259 and 366 ms against 181 ms for an
even one (docs/benchmarks.md).

Here the supervising process accepts every connection itself and hands it (the file
descriptor, over a Unix socket: `socket.send_fds`) to the ready process holding the fewest
open connections; each process tells it when one of its connections closes. A process is
ready once its app started (engine loaded), so no connection waits on a process still
loading. The supervisor restarts a process that dies, stops on SIGINT/SIGTERM (the
processes finish their requests), and stops if a process fails before it could serve
(the configuration is broken: every restart would fail alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import selectors
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("stegvis.balancer")

#: One byte per message on a worker's channel.
HANDED = b"c"  # supervisor -> worker: a connection (its descriptor rides along)
CLOSED = b"-"  # worker -> supervisor: one of my connections closed
#: Connections accepted and handed on in one go before the supervisor looks at its workers
#: again (a burst waits in the listen backlog meanwhile).
ACCEPT_BATCH = 64
STOP_GRACE_S = 30.0
HAND_TIMEOUT_S = 5.0
ACCEPT_PAUSE_S = 0.1


class Balancer:
    """Accepts on `listener` and hands each connection to the worker with fewest open ones.

    Workers connect to `channel_path` once they are ready to serve; a worker whose channel
    closes (it stopped or died) gets no more connections. Until some worker is ready, new
    connections wait in the listen backlog.
    """

    def __init__(self, listener: socket.socket, channel_path: Path) -> None:
        self.listener = listener
        self.listener.setblocking(False)
        self.channels = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.channels.bind(str(channel_path))
        self.channels.listen()
        self.channels.setblocking(False)
        self.open: dict[socket.socket, int] = {}  # worker channel -> its open connections
        self._last: dict[socket.socket, int] = {}  # worker channel -> when it last got one
        self.handed = 0
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.channels, selectors.EVENT_READ, self._join)
        self._accepting = False
        self._stop = threading.Event()
        self._waker_r, self._waker_w = socket.socketpair()
        self._selector.register(self._waker_r, selectors.EVENT_READ, None)

    def run(self) -> None:
        """Serve until `stop()` (call from a thread of its own)."""
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=1.0):
                if key.data is not None:
                    key.data(key.fileobj)
        self._close()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._waker_w.send(b"x")

    def counts(self) -> list[int]:
        return sorted(self.open.values())

    # --- inside the loop ----------------------------------------------------------------

    def _join(self, _listening: Any) -> None:
        with contextlib.suppress(BlockingIOError):
            channel, _ = self.channels.accept()
            channel.setblocking(False)
            self.open[channel] = 0
            self._last[channel] = -1
            self._selector.register(channel, selectors.EVENT_READ, self._hear)
            self._accept_when_ready()

    def _hear(self, channel: Any) -> None:
        try:
            message = channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            message = b""
        if not message:
            self._drop(channel)
            return
        self.open[channel] = max(0, self.open[channel] - message.count(CLOSED))

    def _drop(self, channel: socket.socket) -> None:
        self._selector.unregister(channel)
        self.open.pop(channel, None)
        self._last.pop(channel, None)
        channel.close()
        self._accept_when_ready()

    def _accept_when_ready(self) -> None:
        ready = bool(self.open)
        if ready and not self._accepting:
            self._selector.register(self.listener, selectors.EVENT_READ, self._accept)
        elif not ready and self._accepting:
            self._selector.unregister(self.listener)
        self._accepting = ready

    def _accept(self, _listening: Any) -> None:
        for _ in range(ACCEPT_BATCH):
            if not self.open:
                return
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, say: pause rather than spin
                log.exception("accepting a connection failed")
                self._stop.wait(ACCEPT_PAUSE_S)
                return
            with connection:
                self._hand(connection)

    def _hand(self, connection: socket.socket) -> None:
        """To the least busy worker; among equals, the one that waited longest for one."""
        while self.open:
            channel = min(self.open, key=lambda c: (self.open[c], self._last[c]))
            try:
                # One byte and a descriptor: a worker's channel buffer holds thousands
                # of these, so this waits only on a process that stopped reading.
                channel.settimeout(HAND_TIMEOUT_S)
                socket.send_fds(channel, [HANDED], [connection.fileno()])
                channel.setblocking(False)
            except OSError:
                self._drop(channel)
                continue
            self.open[channel] += 1
            self._last[channel] = self.handed
            self.handed += 1
            return
        log.warning("no serving process to take a connection; it was closed")

    def _close(self) -> None:
        for channel in list(self.open):
            channel.close()
        self.open.clear()
        self._selector.close()
        self.channels.close()
        self._waker_r.close()
        self._waker_w.close()


class HandedServer(uvicorn.Server):
    """A uvicorn server in a worker: serves the connections its supervisor hands it."""

    def __init__(self, config: uvicorn.Config, channel_path: str) -> None:
        super().__init__(config)
        self.channel_path = channel_path
        self._channel: socket.socket | None = None
        self._pending: set[asyncio.Future[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app starts; no socket of its own
        if self.should_exit:
            return
        loop = asyncio.get_running_loop()
        channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        channel.connect(self.channel_path)  # now ready: the supervisor hands connections
        channel.setblocking(False)
        self._channel = channel
        protocol_class = self._counted_protocol()
        config, state, app_state = self.config, self.server_state, self.lifespan.state

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state=app_state, _loop=loop
            )
            return made

        def receive() -> None:
            try:
                message, descriptors, _, _ = socket.recv_fds(channel, 1024, 1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, descriptors = b"", []
            for descriptor in descriptors:
                connection = socket.socket(fileno=descriptor)
                task = asyncio.ensure_future(loop.connect_accepted_socket(protocol, connection))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            if not message:  # the supervisor is gone: finish what is open, then stop
                loop.remove_reader(channel.fileno())
                self.should_exit = True

        loop.add_reader(channel.fileno(), receive)

    def _counted_protocol(self) -> type[asyncio.Protocol]:
        """The configured HTTP protocol, telling the supervisor when a connection closes."""
        base: type[asyncio.Protocol] = self.config.http_protocol_class
        notify = self._notify_closed

        class Counted(base):  # type: ignore[valid-type,misc]
            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                notify()

        return Counted

    def _notify_closed(self) -> None:
        channel = self._channel
        if channel is not None:
            with contextlib.suppress(OSError):  # the supervisor is gone or busy: harmless
                channel.send(CLOSED)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:  # no new connections from here on
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(channel.fileno())
            channel.close()
        await super().shutdown(sockets=sockets)


def _worker(options: dict[str, Any], channel_path: str) -> None:
    """A serving process: the app of `api.app:worker_app`, fed by the supervisor."""
    config = uvicorn.Config("api.app:worker_app", factory=True, **options)
    HandedServer(config, channel_path).run()


def serve_balanced(options: dict[str, Any], workers: int) -> None:
    """Serve on options' host and port in `workers` processes until SIGINT or SIGTERM."""
    config = uvicorn.Config("api.app:worker_app", factory=True, **options)
    listener = config.bind_socket()
    listener.listen(config.backlog)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="stegvis-serve-") as folder:
        channel_path = str(Path(folder) / "channels")
        balancer = Balancer(listener, Path(channel_path))
        thread = threading.Thread(target=balancer.run, name="balancer", daemon=True)
        thread.start()

        def start() -> BaseProcess:
            process = context.Process(
                target=_worker, args=(options, channel_path), name="stegvis-worker"
            )
            process.start()
            return process

        processes = [start() for _ in range(workers)]
        log.info("serving processes %s", [p.pid for p in processes])
        try:
            _supervise(processes, start, stop)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
            for process in processes:
                process.join(STOP_GRACE_S)
                if process.is_alive():
                    process.kill()
                    process.join()
            balancer.stop()
            thread.join()
            listener.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _supervise(
    processes: list[BaseProcess], start: Callable[[], BaseProcess], stop: threading.Event
) -> None:
    """Replace a process that dies, until `stop`; give up if one failed to start."""
    while not stop.wait(0.5):
        for position, process in enumerate(processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("serving process %s failed to start; stopping", process.pid)
                raise SystemExit(STARTUP_FAILURE)
            log.warning(
                "serving process %s died (exit %s); starting another", process.pid, process.exitcode
            )
            processes[position] = start()
