"""Domain errors: one base class and specific subclasses; `api/` maps them to HTTP."""

from __future__ import annotations


class StegvisError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigurationError(StegvisError):
    """The settings cannot work (placeholder secret in production, missing model...)."""


class NotFound(StegvisError):
    """A referenced object does not exist (or is not visible to the caller)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} was not found")
        self.kind = kind
        self.key = key


class ParticipantNotFound(NotFound):
    def __init__(self, key: object) -> None:
        super().__init__("participant", key)


class OpeningNotFound(NotFound):
    def __init__(self, key: object) -> None:
        super().__init__("opening", key)


class PlacementNotFound(NotFound):
    def __init__(self, key: object) -> None:
        super().__init__("placement", key)


class SuggestionNotFound(NotFound):
    def __init__(self, key: object) -> None:
        super().__init__("suggestion", key)


class ConsentMissing(StegvisError):
    """The participant has not given (or has withdrawn) the consent this use needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"the participant has not given consent for {scope}")
        self.scope = scope


class InvalidInput(StegvisError):
    """Input that breaks a domain rule; names the field and, for files, where it was."""

    def __init__(self, message: str, *, field: str | None = None, location: str | None = None):
        parts = [p for p in (location, field) if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)
        self.message = message
        self.field = field
        self.location = location


class Conflict(StegvisError):
    """The change conflicts with the current state (duplicate key, stale update...)."""


class WriteConflict(StegvisError):
    """The transaction lost a race with another writer (SQLite busy, a PostgreSQL
    serialization failure or deadlock); run again, it sees the other's change and succeeds."""


class ModelUnavailable(StegvisError):
    """The embedding model or the ranker cannot be loaded."""
