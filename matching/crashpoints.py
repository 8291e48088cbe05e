"""Named points where the process can be killed on purpose, to test that crashes lose nothing.

The crash-safety tests run an update in a subprocess with `STEGVIS_CRASH_AT` naming one of
`POINTS` (optionally `name:n`, the n-th time the point is reached) and the process kills
itself there with SIGKILL: no clean-up, no flush, exactly like a power cut of the process.
The entrypoint arms it once from `Settings.crash_at`, which production refuses; unarmed,
`crashpoint` costs one comparison.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Final

#: Every point the code can be killed at, in the order an update reaches them.
POINTS: Final = (
    "update.before_commit",  # the request's rows are flushed, the transaction not committed
    "update.committed",  # the transaction committed, the index not yet refreshed
    "index.log.torn",  # half of the index change-log records written
    "index.log.synced",  # the change-log records written and fsynced
    "index.temp.written",  # a snapshot file written to its temporary name and fsynced
    "index.renamed",  # a snapshot file renamed into place, its folder not yet fsynced
    "index.snapshot.written",  # every file of a new snapshot written, the manifest not yet
    "index.manifest.renamed",  # the new manifest in place, the old snapshot not yet deleted
    "training.fitted",  # the candidate fitted, nothing logged to MLflow yet
    "training.run_logged",  # the MLflow run logged, the model not yet registered
    "training.registered",  # the version registered, its gates not yet recorded
)

_armed: tuple[str, int] | None = None
_reached = 0
_lock = threading.Lock()


def arm(spec: str) -> None:
    """Arm `name` or `name:n` (the n-th time it is reached); an empty spec disarms."""
    global _armed, _reached
    if not spec:
        _armed = None
        return
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}; known: {', '.join(POINTS)}")
    if count and not (count.isdigit() and int(count) >= 1):
        raise ValueError(f"crash point count must be a positive integer, not {count!r}")
    with _lock:
        _armed, _reached = (name, int(count or 1)), 0


def crashpoint(name: str) -> None:
    """Kill this process with SIGKILL if `name` is the armed point (reached often enough)."""
    global _reached
    armed = _armed
    if armed is None or armed[0] != name:
        return
    with _lock:
        _reached += 1
        if _reached == armed[1]:
            os.kill(os.getpid(), signal.SIGKILL)
