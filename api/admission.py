"""A first-come, first-served gate in front of ranking, per serving process.

Ranking is CPU work in Python: requests ranking side by side in one process share its
interpreter lock, and a request that pauses for the database waits up to the lock's
switch interval (5 ms) to get it back from a request that computes. Several requests
ranking at once therefore all finish late, and in no particular order. The gate lets
`slots` requests rank at a time and the rest wait in arrival order, so each finishes as
early as the ones before it allow (`STEGVIS_RANKING_SLOTS`; 0 turns the gate off).
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FifoGate:
    """At most `slots` holders at a time; waiters are let in in the order they came."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self.slots = slots
        self._lock = threading.Lock()
        self._inside = 0
        self._waiting: deque[threading.Event] = deque()

    def __enter__(self) -> FifoGate:
        with self._lock:
            if self._inside < self.slots and not self._waiting:
                self._inside += 1
                return self
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # the leaving holder hands its slot over: `_inside` stays counted
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._inside -= 1

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def inside(self) -> int:
        return self._inside
