"""Who is signed in, and the checks every page and form passes: session, CSRF, login throttle.

* The session cookie holds only the session's random secret (`matching.users.start_session`:
  stored hashed, ended by logout, idle and absolute expiry, deactivation, a new password). It
  is HttpOnly, SameSite=Lax, limited to the pages (`Path=/web`, so the JSON API never sees
  it), and Secure unless the app runs in development or test over plain http.
* Every form carries a CSRF token in a hidden field: HMAC(secret key, session secret), so it
  cannot be known without the cookie. `verify_csrf` runs before every route of the pages and
  refuses any POST without the right token (403). The login form, before any session, uses a
  signed double-submit cookie instead.
* Pages are authorised by the JSON API's own policy: each page names the API endpoint it
  stands for, and `page_access` checks `api.deps.POLICY` for it and hands out the same
  `Access` (tenant scopes, audit) the API routes get. There is no second permission table.
* Failed logins are counted per username and per client address (in memory, per process);
  too many within the window lock further attempts for a while.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol

from fastapi import Depends, Request
from starlette.responses import Response

from api.deps import POLICY, Access, WorkDep, settings_of
from api.problems import Forbidden
from matching.db.models import User
from matching.domain import Role
from matching.settings import Environment, Settings
from matching.users import Unauthenticated, session_user

PREFIX = "/web"
LOGIN_PATH = f"{PREFIX}/login"
SESSION_COOKIE = "stegvis_session"
LOGIN_COOKIE = "stegvis_login"
CSRF_FIELD = "csrf_token"


class HasRole(Protocol):
    @property
    def role(self) -> Role: ...


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as the page frame shows them: plain values, still readable when
    the request's transaction was rolled back (an error page)."""

    username: str
    display_name: str
    role: Role


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page."""


class CsrfRefused(Exception):
    """A form posted without its CSRF token (or with another session's)."""


def _mac(settings: Settings, purpose: str, value: str) -> str:
    key = settings.secret_key.get_secret_value().encode("utf-8")
    return hmac.new(key, f"{purpose}:{value}".encode(), "sha256").hexdigest()


def csrf_token(settings: Settings, session_secret: str) -> str:
    """The CSRF token of a session's forms."""
    return _mac(settings, "csrf", session_secret)


def login_csrf_token(settings: Settings, nonce: str) -> str:
    """The CSRF token of the login form, bound to the browser's login cookie."""
    return _mac(settings, "login", nonce)


def secure_cookies(request: Request) -> bool:
    """Secure cookies, except in development and test over plain http (no TLS there)."""
    environment = settings_of(request).environment
    local = environment in (Environment.DEVELOPMENT, Environment.TEST)
    return not (local and request.url.scheme == "http")


def set_session_cookie(response: Response, request: Request, secret: str) -> None:
    # No Max-Age: the cookie goes with the browser; the server ends the session itself.
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=secure_cookies(request)
    )


def login_nonce(request: Request) -> tuple[str, bool]:
    """The browser's login nonce (the double-submit cookie), and whether it is new."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if len(nonce) >= 32:
        return nonce, False
    return secrets.token_urlsafe(32), True


def set_login_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


async def verify_csrf(request: Request) -> None:
    """Every POST of the pages carries its form's CSRF token, or is refused."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    given = form.get(CSRF_FIELD)
    settings = settings_of(request)
    if request.url.path == LOGIN_PATH:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        expected = login_csrf_token(settings, nonce) if nonce else ""
    else:
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret:
            raise LoginRequired("no session")
        expected = csrf_token(settings, secret)
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise CsrfRefused(request.url.path)


def signed_in(request: Request, work: WorkDep) -> User:
    """The user of the browser's live session, or LoginRequired."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginRequired("no session")
    try:
        user = session_user(session=work.session, secret=secret, before_write=work.begin_writes)
    except Unauthenticated as error:
        raise LoginRequired(str(error)) from error
    request.state.user_id = user.id
    request.state.role = user.role.value
    request.state.web_user = Viewer(
        username=user.username, display_name=user.display_name, role=user.role
    )
    request.state.csrf_token = csrf_token(settings_of(request), secret)
    return user


SignedInDep = Annotated[User, Depends(signed_in)]


def allowed(user: HasRole, method: str, path: str) -> bool:
    """Whether the API policy lets this user call the endpoint (to show a link or button)."""
    return user.role in POLICY.get((method, path), frozenset())


def page_access(method: str, path: str) -> Callable[[Request, User, WorkDep], Access]:
    """A dependency: the `Access` of the signed-in user for the API endpoint a page stands
    for, after the API's own policy check (403 for another role)."""
    if (method, path) not in POLICY:
        raise ValueError(f"{method} {path} is not an endpoint of the API policy")

    def access(request: Request, user: SignedInDep, work: WorkDep) -> Access:
        if not allowed(user, method, path):
            raise Forbidden(f"the role {user.role.value} may not use {method} {path}")
        return Access(
            user=user,
            work=work,
            request_id=getattr(request.state, "request_id", None),
            settings=settings_of(request),
        )

    return access


class LoginThrottle:
    """Failed logins per key (a username, a client address) within a sliding window.

    In memory and per process: enough to slow guessing against one server; a deployment
    with several processes multiplies the limits by their number.
    """

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window: timedelta = timedelta(minutes=15),
        max_keys: int = 10_000,
    ) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, address: str) -> list[tuple[str, str]]:
        return [("user", username.strip().lower()[:64]), ("address", address)]

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def locked_for(self, keys: Iterable[tuple[str, str]], now: datetime | None = None) -> int:
        """Minutes until another attempt is allowed (0: allowed now)."""
        now = now or datetime.now(UTC)
        wait = timedelta(0)
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, times[0] + self.window - now)
        return -(-int(wait.total_seconds()) // 60)

    def failed(self, keys: Iterable[tuple[str, str]], now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for stale in [k for k in self._failures if not self._recent(k, now)]:
                    del self._failures[stale]
                while len(self._failures) >= self.max_keys:
                    del self._failures[next(iter(self._failures))]
            for key in keys:
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("user", username.strip().lower()[:64]), None)
