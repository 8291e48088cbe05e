"""Runs a request again when its transaction lost a race with another writer.

The unit of work (`api.deps.unit_of_work`) rolls such a transaction back and raises
`WriteConflict`; its problem handler marks the request, and this middleware then discards
that response and replays the request — the body it recorded the first time, a fresh
transaction — after a short, growing pause. Nothing of a lost attempt was stored, and the
engine is refreshed only after a commit, so a replay repeats nothing. After the last
attempt the 503 problem reaches the client, with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import logging
import random

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("stegvis.api")

#: The scope-state key the `WriteConflict` problem handler sets.
RETRY_MARK = "write_conflict"
ATTEMPTS = 5
FIRST_PAUSE_SECONDS = 0.01


class RetryWriteConflicts:
    """Replay a request whose transaction hit a write conflict, up to `attempts` times."""

    def __init__(self, app: ASGIApp, attempts: int = ATTEMPTS) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorded: list[Message] = []
        for attempt in range(1, self.attempts + 1):
            if await self._attempt(scope, receive, send, recorded, last=attempt == self.attempts):
                return
            log.info(
                "write conflict on attempt %d of %d: running the request again",
                attempt,
                self.attempts,
            )
            jitter = random.uniform(1, 2)  # noqa: S311 - spreads the retries, no secrecy
            await asyncio.sleep(FIRST_PAUSE_SECONDS * 2 ** (attempt - 1) * jitter)

    async def _attempt(
        self, scope: Scope, receive: Receive, send: Send, recorded: list[Message], *, last: bool
    ) -> bool:
        """Run the request once; False when its response was discarded to run it again."""
        state = scope.setdefault("state", {})
        state.pop(RETRY_MARK, None)
        replay = list(recorded)
        discarded = False

        async def receive_recorded() -> Message:
            if replay:
                return replay.pop(0)
            message = await receive()
            if message["type"] == "http.request":
                recorded.append(message)
            return message

        async def send_unless_retried(message: Message) -> None:
            nonlocal discarded
            if message["type"] == "http.response.start" and state.get(RETRY_MARK):
                discarded = not last
            if not discarded:
                await send(message)

        await self.app(scope, receive_recorded, send_unless_retried)
        return not discarded
