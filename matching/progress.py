"""The progress-reporting hook long operations accept; the command line passes a bar."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Track(Protocol):
    """Wrap `items` so that consuming them advances a progress display of `total` steps."""

    def __call__(self, items: Iterable[T], description: str, total: int) -> Iterable[T]: ...


def no_progress(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    """The default: report nothing."""
    return items
