"""The supervisor's balancer hands each connection to the worker with the fewest open ones.

Real sockets throughout: a TCP listener on loopback, workers played by Unix sockets that
receive the connections' descriptors, clients that write through the handed connection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.balancer import CLOSED, HANDED, Balancer

WAIT_S = 10.0


class FakeWorker:
    """A worker's end of the channel: it collects the connections handed to it."""

    def __init__(self, channel_path: Path) -> None:
        self.channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.channel.connect(str(channel_path))
        self.channel.settimeout(WAIT_S)
        self.connections: list[socket.socket] = []

    def take(self) -> socket.socket:
        message, descriptors, _, _ = socket.recv_fds(self.channel, 1, 1)
        assert message == HANDED
        assert len(descriptors) == 1
        connection = socket.socket(fileno=descriptors[0])
        self.connections.append(connection)
        return connection

    def has_waiting(self) -> bool:
        self.channel.settimeout(0.2)
        try:
            return bool(self.channel.recv(1, socket.MSG_PEEK))
        except TimeoutError:
            return False
        finally:
            self.channel.settimeout(WAIT_S)

    def close_one(self) -> None:
        self.connections.pop().close()
        self.channel.send(CLOSED)

    def stop(self) -> None:
        for connection in self.connections:
            connection.close()
        self.channel.close()


@pytest.fixture
def balancer(tmp_path: Path) -> Iterator[Balancer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    running = Balancer(listener, tmp_path / "channels")
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    yield running
    running.stop()
    thread.join(WAIT_S)
    listener.close()
    assert not thread.is_alive()


def connect(balancer: Balancer) -> socket.socket:
    return socket.create_connection(balancer.listener.getsockname(), timeout=WAIT_S)


def workers(balancer: Balancer, tmp_path: Path, count: int) -> list[FakeWorker]:
    joined = [FakeWorker(tmp_path / "channels") for _ in range(count)]
    deadline = time.monotonic() + WAIT_S
    while len(balancer.open) < count:
        assert time.monotonic() < deadline, "the workers were not registered"
        time.sleep(0.01)
    return joined


def counts_become(balancer: Balancer, expected: list[int]) -> list[int]:
    """The balancer's open counts once they equal `expected` (or when time runs out): it
    counts a connection just after handing it, so a worker can hold it a moment before."""
    deadline = time.monotonic() + WAIT_S
    while balancer.counts() != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return balancer.counts()


def test_connections_are_spread_evenly_and_reach_the_worker_intact(
    balancer: Balancer, tmp_path: Path
) -> None:
    first, second = workers(balancer, tmp_path, 2)
    clients = [connect(balancer) for _ in range(4)]
    for worker in (first, second, first, second):  # equal counts: the longest idle first
        worker.take()
    assert counts_become(balancer, [2, 2]) == [2, 2]
    # What a client writes arrives on the descriptor its worker holds.
    for number, client in enumerate(clients):
        client.sendall(f"hello {number}\n".encode())
    received = sorted(c.recv(100).decode() for c in first.connections + second.connections)
    assert received == [f"hello {n}\n" for n in range(4)]
    for client in clients:
        client.close()
    first.stop()
    second.stop()


def test_a_closed_connection_makes_its_worker_the_next_choice(
    balancer: Balancer, tmp_path: Path
) -> None:
    first, second = workers(balancer, tmp_path, 2)
    clients = [connect(balancer) for _ in range(4)]
    for worker in (first, second, first, second):
        worker.take()
    second.close_one()
    second.close_one()
    assert counts_become(balancer, [0, 2]) == [0, 2]
    clients += [connect(balancer), connect(balancer)]
    second.take()
    second.take()  # 2 + 2: the second worker took both new ones
    assert not first.has_waiting()
    assert counts_become(balancer, [2, 2]) == [2, 2]
    for client in clients:
        client.close()
    first.stop()
    second.stop()


def test_connections_wait_until_a_worker_is_ready_and_skip_a_gone_one(
    balancer: Balancer, tmp_path: Path
) -> None:
    early = connect(balancer)  # no worker yet: it waits in the listen backlog
    time.sleep(0.2)
    assert balancer.handed == 0
    first, second = workers(balancer, tmp_path, 2)
    first.take()
    early.sendall(b"waited\n")
    assert first.connections[0].recv(100) == b"waited\n"
    first.stop()  # the first worker stops: everything goes to the second
    deadline = time.monotonic() + WAIT_S
    while len(balancer.open) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    late = [connect(balancer) for _ in range(3)]
    for _ in late:
        second.take()
    assert counts_become(balancer, [3]) == [3]
    for client in [early, *late]:
        client.close()
    second.stop()
