"""Credentials: API tokens, passwords and browser sessions — issued, stored hashed, verified.

A token is `stv_` followed by 43 URL-safe random characters (256 bits). Only its SHA-256
and its first characters (the prefix, to tell tokens apart in listings) are stored, so a
copy of the database does not give anyone access. Demo tokens are fixed, documented
strings for the demo users; they exist only in the development environment.

A password is stored as scrypt with a random salt and its parameters
(`scrypt$n=16384,r=8,p=5$salt$hash`, OWASP's minimum: 16 MiB and ~0.5 s here) and
compared in constant time; an unknown user costs the same time as a wrong password.

A browser session is a row of the token table too (name `web session`): its secret is
`stvw_` + 256 random bits, kept only in an HttpOnly cookie, stored as SHA-256, and useless
as a bearer token (the API's token pattern refuses it). It ends on logout (revoked), after
`SESSION_IDLE` without a request, after `SESSION_LIFETIME` in any case, when the user is
deactivated, and when their password changes. Admins see and revoke sessions like tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from matching.db.models import ApiToken, User
from matching.errors import ConfigurationError, InvalidInput, NotFound, StegvisError
from matching.settings import Environment

TOKEN_PREFIX = "stv_"  # noqa: S105 - the public prefix of every token, not a secret
#: Characters of a token kept in clear text to identify it (never enough to use it).
SHOWN_PREFIX = 12
#: What a bearer token may look like; anything else is refused before a database lookup.
TOKEN_PATTERN = re.compile(r"^stv_[A-Za-z0-9_-]{8,128}$")
#: A token's last use is written at most this often, so reading does not mean writing.
LAST_USED_RESOLUTION = timedelta(minutes=5)
MAX_TOKEN_DAYS = 3650

#: The demo users of data/fixtures/users.json and their fixed, documented tokens.
DEMO_TOKENS: Mapping[str, str] = {
    "coach.demo": "stv_demo_coach_demo",
    "coach.other": "stv_demo_coach_other",
    "employer.demo": "stv_demo_employer_demo",
    "asf.demo": "stv_demo_asf_demo",
    "data.team": "stv_demo_data_team",
    "admin": "stv_demo_admin",
}


class Unauthenticated(StegvisError):
    """No usable credentials: missing, malformed, unknown, expired or revoked token."""


class TokenNotFound(NotFound):
    def __init__(self, key: object) -> None:
        super().__init__("token", key)


class UserNotFound(NotFound):
    def __init__(self, key: object) -> None:
        super().__init__("user", key)


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `secret` is the only copy of the token and is shown once."""

    token: ApiToken
    secret: str


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _store(
    session: Session,
    *,
    user: User,
    secret: str,
    name: str,
    expires_at: datetime | None,
    now: datetime,
) -> IssuedToken:
    token = ApiToken(
        user_id=user.id,
        token_hash=token_hash(secret),
        prefix=secret[:SHOWN_PREFIX],
        name=name,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def issue_token(
    *,
    session: Session,
    user_id: int,
    name: str = "",
    valid_days: int | None = 90,
    now: datetime | None = None,
) -> IssuedToken:
    """A new random token for the user; `valid_days=None` means it never expires."""
    now = now or datetime.now(UTC)
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    if valid_days is not None and not 1 <= valid_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"must be between 1 and {MAX_TOKEN_DAYS}", field="valid_days")
    if len(name) > 100:
        raise InvalidInput("at most 100 characters", field="name")
    expires_at = None if valid_days is None else now + timedelta(days=valid_days)
    return _store(
        session, user=user, secret=new_secret(), name=name, expires_at=expires_at, now=now
    )


def revoke_token(*, session: Session, token_id: int, now: datetime | None = None) -> ApiToken:
    """Revoke a token from now on; revoking twice keeps the first time."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise TokenNotFound(token_id)
    if token.revoked_at is None:
        token.revoked_at = now or datetime.now(UTC)
        session.flush()
    return token


def authenticate(
    *,
    session: Session,
    secret: str,
    environment: Environment,
    now: datetime | None = None,
    before_write: Callable[[], None] = lambda: None,
) -> User:
    """The active user a bearer token belongs to, or `Unauthenticated` saying why not.

    The published demo tokens are refused outside development, even if a demo database
    was carried over. Noting when the token was last used is a write, at most once per
    `LAST_USED_RESOLUTION`; `before_write` runs before it (the API's reading requests take
    the writer lock there).
    """
    if not TOKEN_PATTERN.fullmatch(secret):
        raise Unauthenticated("the bearer token is malformed")
    if environment is not Environment.DEVELOPMENT and secret in DEMO_TOKENS.values():
        raise Unauthenticated("demo tokens are accepted only in development")
    now = now or datetime.now(UTC)
    found = session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(secret))
    ).one_or_none()
    if found is None:
        raise Unauthenticated("the bearer token is not known")
    token, user = found
    if token.revoked_at is not None:
        raise Unauthenticated("the bearer token has been revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated("the bearer token has expired")
    if not user.is_active:
        raise Unauthenticated("the user of this token is deactivated")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        before_write()
        token.last_used_at = now
    return user


def ensure_demo_tokens(
    *, session: Session, environment: Environment, now: datetime | None = None
) -> dict[str, str]:
    """Give each demo user present its fixed demo token (development only); idempotent."""
    if environment is not Environment.DEVELOPMENT:
        raise ConfigurationError(
            f"demo tokens exist only in the development environment, not in {environment.value}"
        )
    now = now or datetime.now(UTC)
    users = {
        u.username: u
        for u in session.scalars(sa.select(User).where(User.username.in_(list(DEMO_TOKENS))))
    }
    known = set(
        session.scalars(
            sa.select(ApiToken.token_hash).where(
                ApiToken.token_hash.in_([token_hash(s) for s in DEMO_TOKENS.values()])
            )
        )
    )
    given: dict[str, str] = {}
    for username, secret in DEMO_TOKENS.items():
        user = users.get(username)
        if user is None:
            continue
        if token_hash(secret) not in known:
            _store(session, user=user, secret=secret, name="demo", expires_at=None, now=now)
        given[username] = secret
    return given


# --- passwords ------------------------------------------------------------------------------

#: scrypt at OWASP's minimum cost (N=2^14, r=8, p=5): 16 MiB of memory per hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 5
#: Parameters a stored hash may name; anything beyond is refused rather than computed.
_SCRYPT_LIMITS = (2**20, 32, 16)
_SCRYPT_MAXMEM = 256 * 1024 * 1024
_SCRYPT_LENGTH = 32
_STORED_PASSWORD = re.compile(
    r"^scrypt\$n=([0-9]{1,8}),r=([0-9]{1,3}),p=([0-9]{1,3})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{16,128})$"
)
MIN_PASSWORD = 12
MAX_PASSWORD = 256
#: The documented password of the demo users; accepted only in development, like the tokens.
DEMO_PASSWORD = "stegvis-demo"  # noqa: S105 - public on purpose, refused outside development


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=_SCRYPT_MAXMEM,
        dklen=_SCRYPT_LENGTH,
    )


def hash_password(password: str) -> str:
    """`scrypt$n=…,r=…,p=…$salt$hash` with a random 128-bit salt (parameters kept, so a
    stronger setting later still verifies the hashes stored before)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


_DUMMY_SALT = secrets.token_bytes(16)


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches the stored hash, compared in constant time.

    Without a usable hash the same work is done against a dummy salt before answering
    False, so an unknown user or one without a password cannot be told apart by timing.
    """
    match = _STORED_PASSWORD.fullmatch(stored or "")
    n, r, p = (int(g) for g in match.groups()[:3]) if match else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    usable = match is not None and all(
        1 <= value <= limit for value, limit in zip((n, r, p), _SCRYPT_LIMITS, strict=True)
    )
    if match is None or not usable or n & (n - 1):
        _scrypt(password, _DUMMY_SALT, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return False
    digest = _scrypt(password, _unb64(match.group(4)), n, r, p)
    return hmac.compare_digest(digest, _unb64(match.group(5)))


def check_password_rules(password: str, username: str) -> None:
    """Length (NIST SP 800-63B: long passphrases welcome, no composition rules), not the
    username, not the published demo password."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"at most {MAX_PASSWORD} characters", field="password")
    if password.strip().lower() == username.lower():
        raise InvalidInput("must not be the username", field="password")
    if password == DEMO_PASSWORD:
        raise InvalidInput("is the published demo password", field="password")


def set_password(
    *, session: Session, user_id: int, password: str, now: datetime | None = None
) -> User:
    """Store a new password for the user (hashed) and end their browser sessions."""
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    check_password_rules(password, user.username)
    user.password_hash = hash_password(password)
    end_sessions(session=session, user_id=user.id, now=now)
    session.flush()
    return user


def login(*, session: Session, username: str, password: str, environment: Environment) -> User:
    """The active user with this username and password, or `Unauthenticated`.

    One message for every reason (unknown user, no password, wrong password, deactivated),
    so the answer does not tell which usernames exist. The demo password is refused
    outside development, even if a demo database was carried over.
    """
    refused = Unauthenticated("wrong username or password")
    if not password or len(password) > MAX_PASSWORD or len(username) > 64:
        raise refused
    user = session.scalar(sa.select(User).where(User.username == username.strip().lower()))
    matches = verify_password(password, user.password_hash if user is not None else None)
    is_demo = hmac.compare_digest(password.encode("utf-8"), DEMO_PASSWORD.encode("utf-8"))
    if environment is not Environment.DEVELOPMENT and is_demo:
        matches = False
    if user is None or not matches or not user.is_active:
        raise refused
    return user


def ensure_demo_passwords(*, session: Session, environment: Environment) -> list[str]:
    """Give each demo user present that has no password the demo password (development
    only); idempotent. Returns the demo users present."""
    if environment is not Environment.DEVELOPMENT:
        raise ConfigurationError(
            f"demo passwords exist only in the development environment, not in {environment.value}"
        )
    users = list(
        session.scalars(
            sa.select(User).where(User.username.in_(list(DEMO_TOKENS))).order_by(User.id)
        )
    )
    for user in users:
        if user.password_hash is None:
            user.password_hash = hash_password(DEMO_PASSWORD)
    session.flush()
    return [user.username for user in users]


# --- browser sessions ---------------------------------------------------------------------

SESSION_PREFIX = "stvw_"
SESSION_NAME = "web session"
SESSION_PATTERN = re.compile(r"^stvw_[A-Za-z0-9_-]{43}$")
#: A session ends after this long without a request ...
SESSION_IDLE = timedelta(minutes=30)
#: ... and after this long in any case (a working day).
SESSION_LIFETIME = timedelta(hours=10)
#: How often a session's last use is written (so reading a page rarely means writing).
SESSION_TOUCH = timedelta(minutes=1)


def _is_session() -> sa.ColumnElement[bool]:
    return sa.and_(ApiToken.name == SESSION_NAME, ApiToken.prefix == SESSION_PREFIX)


def start_session(*, session: Session, user: User, now: datetime | None = None) -> str:
    """A new browser session for `user`; returns its secret, to be kept only in a cookie.

    The user's ended sessions are deleted on the way, so they do not pile up.
    """
    now = now or datetime.now(UTC)
    session.execute(
        sa.delete(ApiToken).where(
            ApiToken.user_id == user.id,
            _is_session(),
            sa.or_(
                ApiToken.revoked_at.is_not(None),
                ApiToken.expires_at <= now,
                ApiToken.last_used_at <= now - SESSION_IDLE,
            ),
        )
    )
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=token_hash(secret),
            prefix=SESSION_PREFIX,
            name=SESSION_NAME,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            last_used_at=now,
        )
    )
    session.flush()
    return secret


def session_user(
    *,
    session: Session,
    secret: str,
    now: datetime | None = None,
    before_write: Callable[[], None] = lambda: None,
) -> User:
    """The active user of a live browser session, or `Unauthenticated` saying why not.

    Keeping the session alive is a write, at most once per `SESSION_TOUCH`; `before_write`
    runs before it, as in `authenticate`.
    """
    if not SESSION_PATTERN.fullmatch(secret):
        raise Unauthenticated("not a session")
    now = now or datetime.now(UTC)
    found = session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(secret), _is_session())
    ).one_or_none()
    if found is None:
        raise Unauthenticated("the session is not known")
    token, user = found
    if token.revoked_at is not None:
        raise Unauthenticated("the session has ended")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated("the session has expired")
    if token.last_used_at is None or now - token.last_used_at >= SESSION_IDLE:
        raise Unauthenticated("the session expired after inactivity")
    if not user.is_active:
        raise Unauthenticated("the user is deactivated")
    if now - token.last_used_at >= SESSION_TOUCH:
        before_write()
        token.last_used_at = now
    return user


def end_session(*, session: Session, secret: str, now: datetime | None = None) -> None:
    """Log out: the session can no longer be used, whoever holds a copy of its cookie."""
    if not SESSION_PATTERN.fullmatch(secret):
        return
    session.execute(
        sa.update(ApiToken)
        .where(
            ApiToken.token_hash == token_hash(secret),
            _is_session(),
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now or datetime.now(UTC))
    )


def end_sessions(*, session: Session, user_id: int, now: datetime | None = None) -> None:
    """End every browser session of the user (a new password, a deactivation)."""
    session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user_id, _is_session(), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
    )
