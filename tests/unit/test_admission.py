"""The first-come, first-served gate in front of ranking (`api.admission`)."""

from __future__ import annotations

import threading

import pytest

from api.admission import FifoGate


def queue_up(
    gate: FifoGate, slots: int, count: int
) -> tuple[list[int], threading.Event, list[threading.Thread]]:
    """`count` threads enter `gate` one after another (each once the one before is inside or
    waiting) and stay until released; the order in which they got in."""
    order: list[int] = []
    release = threading.Event()

    def holder(number: int) -> None:
        with gate:
            order.append(number)
            release.wait(timeout=30)

    threads = []
    for number in range(count):
        thread = threading.Thread(target=holder, args=(number,))
        thread.start()
        while gate.inside + gate.waiting < number + 1:
            threading.Event().wait(0.005)
        threads.append(thread)
    while len(order) < min(slots, count):
        threading.Event().wait(0.005)
    return order, release, threads


def test_the_gate_lets_in_at_most_its_slots() -> None:
    gate = FifoGate(2)
    order, release, threads = queue_up(gate, 2, 5)
    assert sorted(order) == [0, 1]
    assert (gate.inside, gate.waiting) == (2, 3)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert (gate.inside, gate.waiting) == (0, 0)


def test_waiters_get_in_in_the_order_they_came() -> None:
    gate = FifoGate(1)
    order, release, threads = queue_up(gate, 1, 6)
    assert order == [0]
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert order == [0, 1, 2, 3, 4, 5]


def test_a_holder_that_fails_still_hands_on_its_slot() -> None:
    gate = FifoGate(1)
    with pytest.raises(RuntimeError), gate:
        raise RuntimeError("ranking failed")
    with gate:
        assert gate.inside == 1
    assert gate.inside == 0


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FifoGate(0)
