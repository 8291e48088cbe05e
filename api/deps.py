"""Dependencies: the request's unit of work, the current user, and the one authorisation policy.

Authorisation happens here and nowhere else, in two tables:

* `POLICY` — endpoint (method, path) → the roles that may call it. A role not listed
  gets 403; an endpoint not listed is refused to everyone (fail closed). A new endpoint
  needs one line here.
* `SCOPES` — table → role → the rows of that table the role can see (its tenant). Every
  object a route touches is loaded through `Access.get` / `Access.select`, which apply the
  scope, so another tenant's object answers 404 exactly like a missing one, and its
  existence is not disclosed. A role without a scope for a table sees none of its rows.

The unit of work is one database transaction per request: it commits once after the route
returned, then refreshes the matching engine for the items the route changed, before the
response is sent. Any error rolls everything back.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.problems import Forbidden
from api.schemas import MAX_ID
from matching.audit import Actor, record_access
from matching.changes import record_changes
from matching.crashpoints import crashpoint
from matching.db.models import (
    ApiToken,
    AsfProvider,
    AuditEntry,
    Base,
    Employer,
    Opening,
    Organisation,
    Participant,
    Placement,
    Suggestion,
    User,
)
from matching.db.session import READ_ONLY, WriterLock, is_write_conflict
from matching.domain import AuditAction, Lane, Role
from matching.engine import MatchingEngine
from matching.errors import (
    InvalidInput,
    ModelUnavailable,
    NotFound,
    OpeningNotFound,
    ParticipantNotFound,
    PlacementNotFound,
    SuggestionNotFound,
    WriteConflict,
)
from matching.explain import Language
from matching.schemas import NO_NUL
from matching.settings import Settings
from matching.users import Unauthenticated, authenticate

E = TypeVar("E", bound=Base)

log = logging.getLogger("stegvis.api")

MAX_PAGE = 100
DEFAULT_PAGE = 50
#: An object's id in a path, and an id filter of a listing.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
#: Filters by municipality name and taxonomy concept id.
QueryMunicipality = Annotated[str | None, Query(max_length=64, pattern=NO_NUL)]
QueryConcept = Annotated[
    str | None, Query(pattern=r"^[0-9A-Za-z_]{1,16}$", description="Taxonomy concept id.")
]

# --- the policy -------------------------------------------------------------------------------

COACH, EMPLOYER, ASF, DATA, ADMIN = (
    Role.COACH,
    Role.EMPLOYER,
    Role.ASF_PROVIDER,
    Role.DATA_TEAM,
    Role.ADMIN,
)

#: Endpoints anyone may call, without a token.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics")}
)

#: Endpoint → roles that may call it.
POLICY: Mapping[tuple[str, str], frozenset[Role]] = {
    ("GET", "/me"): frozenset(Role),
    # participants and their suggestions, feedback and outcomes: coaches of their organisation
    ("GET", "/participants"): frozenset({COACH}),
    ("POST", "/participants"): frozenset({COACH}),
    ("GET", "/participants/{participant_id}"): frozenset({COACH}),
    ("PATCH", "/participants/{participant_id}"): frozenset({COACH}),
    ("DELETE", "/participants/{participant_id}"): frozenset({COACH}),
    ("GET", "/participants/{participant_id}/suggestions"): frozenset({COACH}),
    ("POST", "/participants/{participant_id}/outcomes"): frozenset({COACH}),
    ("POST", "/suggestions/{suggestion_id}/feedback"): frozenset({COACH}),
    # openings: their employer maintains them, coaches read them
    ("GET", "/openings"): frozenset({COACH, EMPLOYER}),
    ("POST", "/openings"): frozenset({EMPLOYER}),
    ("GET", "/openings/{opening_id}"): frozenset({COACH, EMPLOYER}),
    ("PATCH", "/openings/{opening_id}"): frozenset({EMPLOYER}),
    ("POST", "/openings/{opening_id}/close"): frozenset({EMPLOYER}),
    # work-training places: their ASF provider maintains them, coaches read them
    ("GET", "/placements"): frozenset({COACH, ASF}),
    ("POST", "/placements"): frozenset({ASF}),
    ("GET", "/placements/{placement_id}"): frozenset({COACH, ASF}),
    ("PATCH", "/placements/{placement_id}"): frozenset({ASF}),
    ("POST", "/placements/{placement_id}/close"): frozenset({ASF}),
    # parties: admins register them; each party reads its own record
    ("GET", "/employers"): frozenset({ADMIN, EMPLOYER}),
    ("POST", "/employers"): frozenset({ADMIN}),
    ("GET", "/employers/{employer_id}"): frozenset({ADMIN, EMPLOYER}),
    ("PATCH", "/employers/{employer_id}"): frozenset({ADMIN}),
    ("GET", "/asf-providers"): frozenset({ADMIN, ASF}),
    ("POST", "/asf-providers"): frozenset({ADMIN}),
    ("GET", "/asf-providers/{asf_provider_id}"): frozenset({ADMIN, ASF}),
    ("PATCH", "/asf-providers/{asf_provider_id}"): frozenset({ADMIN}),
    ("GET", "/organisations"): frozenset({ADMIN}),
    ("POST", "/organisations"): frozenset({ADMIN}),
    ("GET", "/organisations/{organisation_id}"): frozenset({ADMIN}),
    ("PATCH", "/organisations/{organisation_id}"): frozenset({ADMIN}),
    # users and tokens, the audit log: admins
    ("GET", "/users"): frozenset({ADMIN}),
    ("POST", "/users"): frozenset({ADMIN}),
    ("GET", "/users/{user_id}"): frozenset({ADMIN}),
    ("PATCH", "/users/{user_id}"): frozenset({ADMIN}),
    ("GET", "/users/{user_id}/tokens"): frozenset({ADMIN}),
    ("POST", "/users/{user_id}/tokens"): frozenset({ADMIN}),
    ("DELETE", "/users/{user_id}/tokens/{token_id}"): frozenset({ADMIN}),
    ("GET", "/audit"): frozenset({ADMIN}),
    # training data and models: the data team
    ("GET", "/exports/training"): frozenset({DATA}),
    ("GET", "/models/current"): frozenset({DATA, ADMIN}),
    ("GET", "/models"): frozenset({DATA, ADMIN}),
    ("POST", "/models/{version}/promote"): frozenset({DATA, ADMIN}),
    ("POST", "/models/rollback"): frozenset({DATA, ADMIN}),
}

Scope = Callable[[User], sa.ColumnElement[bool]]


def _everything(_user: User) -> sa.ColumnElement[bool]:
    return sa.true()


def _organisation_participants(user: User) -> sa.ColumnElement[bool]:
    return Participant.organisation_id == user.organisation_id


def _organisation_suggestions(user: User) -> sa.ColumnElement[bool]:
    return Suggestion.participant_id.in_(
        sa.select(Participant.id).where(_organisation_participants(user))
    )


#: Table → role → the rows that role can see. No entry: no rows.
SCOPES: Mapping[type[Base], Mapping[Role, Scope]] = {
    Participant: {COACH: _organisation_participants},
    Suggestion: {COACH: _organisation_suggestions},
    Opening: {COACH: _everything, EMPLOYER: lambda user: Opening.employer_id == user.employer_id},
    Placement: {
        COACH: _everything,
        ASF: lambda user: Placement.asf_provider_id == user.asf_provider_id,
    },
    Employer: {ADMIN: _everything, EMPLOYER: lambda user: Employer.id == user.employer_id},
    AsfProvider: {ADMIN: _everything, ASF: lambda user: AsfProvider.id == user.asf_provider_id},
    Organisation: {ADMIN: _everything},
    User: {ADMIN: _everything},
    ApiToken: {ADMIN: _everything},
    AuditEntry: {ADMIN: _everything},
}

_NOT_FOUND: Mapping[type[Base], Callable[[object], NotFound]] = {
    Participant: ParticipantNotFound,
    Suggestion: SuggestionNotFound,
    Opening: OpeningNotFound,
    Placement: PlacementNotFound,
}
_KIND: Mapping[type[Base], str] = {
    Employer: "employer",
    AsfProvider: "ASF provider",
    Organisation: "organisation",
    User: "user",
    ApiToken: "token",
    AuditEntry: "audit entry",
}


def not_found(entity: type[Base], key: object) -> NotFound:
    make = _NOT_FOUND.get(entity)
    return make(key) if make else NotFound(_KIND.get(entity, entity.__name__.lower()), key)


# --- the unit of work ---------------------------------------------------------------------------


#: Methods whose requests start reading without the writer lock (see `unit_of_work`).
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Work:
    """The request's transaction, and the items to refresh in the engine once it committed.

    `lock` is set for a reading request on SQLite: it has read without the app's writer
    lock so far, and `begin_writes` takes the lock before its first write.
    """

    session: Session
    refreshes: dict[Lane, set[int]] = field(default_factory=dict)
    lock: WriterLock | None = None
    writing: bool = False

    def refresh_after_commit(self, lane: Lane, ids: Iterable[int]) -> None:
        self.refreshes.setdefault(lane, set()).update(ids)

    def begin_writes(self) -> None:
        """Call before the request's first write; the same session writes afterwards.

        For a reading request on SQLite this takes the writer lock, ends the read-only
        transaction (what was loaded stays loaded) and lets the next statement begin a
        writing one. Elsewhere (PostgreSQL, or a request that holds the lock throughout) it
        does nothing. A write without it fails on SQLite: the read transaction is query-only.
        """
        if self.lock is None or self.writing:
            return
        self.lock.acquire()
        self.writing = True
        self.session.commit()  # a read-only transaction: nothing to write

    def release(self) -> None:
        if self.lock is not None and self.writing:
            self.writing = False
            self.lock.release()


def unit_of_work(request: Request) -> Iterator[Work]:
    """One transaction per request; commit after the route, then refresh the engine.

    SQLite has one writer, and a transaction that read before it writes fails at once
    (SQLITE_BUSY) if another committed in between; so on SQLite requests that write take
    the app's writer lock in turn. A reading request (GET) first reads without it, side by
    side with others (WAL), in a query-only transaction; its writes (audit rows, logged
    suggestions) come after `Work.begin_writes`, which takes the lock and starts the
    writing transaction. So a suggestions request ranks unlocked and holds the lock only
    to log what it shows. PostgreSQL needs no lock. A race lost all the same (another
    process writing the same SQLite file, a PostgreSQL deadlock or serialization failure)
    rolls back and becomes `WriteConflict`, and `api.retry.RetryWriteConflicts` runs the
    request again.
    """
    state = request.app.state
    lock: WriterLock | None = state.write_lock
    reading = lock is not None and request.method in READING_METHODS
    with lock if lock is not None and not reading else nullcontext():
        work = Work(session=state.session_factory(), lock=lock if reading else None)
        try:
            if reading:
                work.session.connection(execution_options={READ_ONLY: True})
            yield work
            if work.refreshes:
                work.begin_writes()
                # Other serving processes follow these rows (last: on PostgreSQL they
                # hold the feed's lock until the commit).
                record_changes(work.session, work.refreshes)
                crashpoint("update.before_commit")
            work.session.commit()
        except BaseException as error:
            work.session.rollback()
            if is_write_conflict(error):
                raise WriteConflict("another transaction changed the same data") from error
            raise
        finally:
            work.session.close()
            work.release()
        if work.refreshes:
            crashpoint("update.committed")
        matcher: MatchingEngine | None = state.matcher
        for lane, ids in work.refreshes.items():
            if matcher is not None and ids:
                refresh_engine(matcher, lane, sorted(ids))


def refresh_engine(matcher: MatchingEngine, lane: Lane, ids: list[int]) -> None:
    """Bring index and catalogue up to date; a failure leaves the stored change in place.

    The change is committed and the database is the source of truth: a failed refresh is
    logged, `/ready` reports the lane inconsistent, and the next start reconciles it.
    """
    try:
        matcher.refresh(lane, ids)
    except Exception:
        log.exception("refresh of the %s lane failed for %d items", lane.value, len(ids))


WorkDep = Annotated[Work, Depends(unit_of_work, scope="function")]

# --- the current user ---------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token: `Authorization: Bearer stv_…` (see `stegvis users tokens`).",
)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_user(
    request: Request,
    work: WorkDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The active user of the bearer token, or 401."""
    if credentials is None:
        raise Unauthenticated("send an API token as `Authorization: Bearer <token>`")
    user = authenticate(
        session=work.session,
        secret=credentials.credentials,
        environment=settings_of(request).environment,
        before_write=work.begin_writes,
    )
    request.state.user_id = user.id
    request.state.role = user.role.value
    return user


# --- access: the policy applied to one request ------------------------------------------------


def primary_key(entity: type[Base]) -> sa.Column[Any]:
    column = sa.inspect(entity).primary_key[0]
    assert isinstance(column, sa.Column)
    return column


@dataclass
class Access:
    """What the current user may do in this request: scoped loading and auditing."""

    user: User
    work: Work
    request_id: str | None
    settings: Settings

    @property
    def session(self) -> Session:
        return self.work.session

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user.id, role=self.user.role, request_id=self.request_id)

    def visible(self, entity: type[Base]) -> sa.ColumnElement[bool]:
        scope = SCOPES.get(entity, {}).get(self.role)
        return scope(self.user) if scope is not None else sa.false()

    def select(self, entity: type[E]) -> sa.Select[E]:
        """Rows of `entity` the user can see, ordered by primary key."""
        return sa.select(entity).where(self.visible(entity)).order_by(primary_key(entity))

    def get(self, entity: type[E], key: int) -> E:
        """The row if the user can see it; otherwise NotFound, as if it did not exist."""
        row = self.session.scalars(
            sa.select(entity).where(primary_key(entity) == key, self.visible(entity))
        ).one_or_none()
        if row is None:
            raise not_found(entity, key)
        return row

    def audit(
        self, action: AuditAction, participant_ids: Iterable[int], fields: Sequence[str]
    ) -> None:
        self.work.begin_writes()
        record_access(
            session=self.session,
            actor=self.actor,
            action=action,
            participant_ids=participant_ids,
            fields=fields,
        )


def authorise(
    request: Request,
    user: Annotated[User, Depends(current_user)],
    work: WorkDep,
) -> Access:
    """The one authorisation check: the endpoint's roles from POLICY, else 403."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    roles = POLICY.get((request.method, path), frozenset())
    if user.role not in roles:
        raise Forbidden(f"the role {user.role.value} may not use {request.method} {path}")
    return Access(
        user=user,
        work=work,
        request_id=request.state.request_id if hasattr(request.state, "request_id") else None,
        settings=settings_of(request),
    )


AccessDep = Annotated[Access, Depends(authorise)]

# --- the engine, language, pages ---------------------------------------------------------------


def matching_engine(request: Request) -> MatchingEngine:
    matcher: MatchingEngine | None = getattr(request.app.state, "matcher", None)
    if matcher is None:
        raise ModelUnavailable("the matching engine is not loaded")
    return matcher


MatcherDep = Annotated[MatchingEngine, Depends(matching_engine)]

_LANGUAGE_RANGE = re.compile(
    r"\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*"
)


def language(request: Request) -> Language:
    """Swedish unless Accept-Language prefers English (the two languages of the reasons)."""
    header = request.headers.get("accept-language", "")
    best: tuple[float, Language] = (0.0, "sv")
    for position, part in enumerate(header.split(",")[:20]):
        match = _LANGUAGE_RANGE.fullmatch(part)
        if not match:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        code = match.group(1).lower()
        if code in ("sv", "en") and quality > best[0]:
            best = (quality - position * 1e-6, "sv" if code == "sv" else "en")
    return best[1]


LanguageDep = Annotated[Language, Depends(language)]


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: int | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    kind, _, number = text.partition(":")
    if kind != "after" or not number.isdigit():
        raise InvalidInput("not a cursor this API gave out", field="cursor")
    return int(number)


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = DEFAULT_PAGE,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=_decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageRequest, Depends(page_request)]


def paged(
    session: Session, statement: sa.Select[E], entity: type[E], page: PageRequest
) -> tuple[list[E], str | None]:
    """One page of `statement` (ordered by primary key) and the cursor of the next."""
    key = primary_key(entity)
    if page.after is not None:
        statement = statement.where(key > page.after)
    rows = list(session.scalars(statement.limit(page.limit + 1)))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if not more:
        return rows, None
    last: int = getattr(rows[-1], key.name)
    return rows, encode_cursor(last)
