"""Templates, the page frame (navigation, messages), error pages and the pages' HTTP headers."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import Forbidden
from api.web import labels
from api.web.forms import LOCAL
from api.web.security import (
    LOGIN_PATH,
    PREFIX,
    CsrfRefused,
    HasRole,
    LoginRequired,
    Viewer,
    allowed,
    clear_session_cookie,
)
from matching.errors import (
    Conflict,
    ConsentMissing,
    InvalidInput,
    ModelUnavailable,
    NotFound,
    StegvisError,
)
from matching.users import Unauthenticated

log = logging.getLogger("stegvis.web")

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")

#: Messages after a successful form, by the key the redirect names (`?klart=...`).
NOTICES: Mapping[str, str] = {
    "profil": "Profilen är sparad.",
    "beslut": "Beslutet är sparat.",
    "utfall": "Utfallet är sparat.",
    "ny-annons": "Annonsen är publicerad. Den kan föreslås för deltagare från och med nu.",
    "annons": "Annonsen är sparad.",
    "stangd": "Annonsen är stängd och föreslås inte längre.",
    "befordrad": "Versionen används nu för alla förslag.",
    "tillbaka": "Den tidigare modellen används igen.",
    "utloggad": "Du är utloggad.",
}

#: Messages after a refused form that has no page of its own (`?fel=...`).
PROBLEMS: Mapping[str, str] = {
    "anledning": "Välj en anledning när du markerar ett förslag som Aldrig. Inget sparades.",
    "beslut": "Beslutet kunde inte läsas. Inget sparades.",
}


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    #: The API endpoint whose policy decides who sees the link.
    endpoint: tuple[str, str]


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Deltagare", f"{PREFIX}/participants", ("GET", "/participants")),
    NavItem("Mina annonser", f"{PREFIX}/openings", ("POST", "/openings")),
    NavItem("Modeller", f"{PREFIX}/models", ("GET", "/models")),
)


def navigation(user: Viewer | None, path: str) -> list[dict[str, Any]]:
    if user is None:
        return []
    return [
        {"label": item.label, "href": item.href, "current": path.startswith(item.href)}
        for item in NAVIGATION
        if allowed(user, *item.endpoint)
    ]


def home_of(user: HasRole) -> str:
    """The first page of the user's role."""
    for item in NAVIGATION:
        if allowed(user, *item.endpoint):
            return item.href
    return f"{PREFIX}/start"


# --- template filters ---------------------------------------------------------------------


def sv_number(value: float | int | None, digits: int = 2, signed: bool = False) -> str:
    """A number as Swedes write it: decimal comma, minus sign, no trailing zeros needed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return text.replace("-", "\u2212").replace(".", ",")


def sv_date(value: datetime | date | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL).date()
    return value.isoformat()


def field_value(value: Any) -> str:
    """A stored value as an input shows it."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


TEMPLATES.env.filters["sv_number"] = sv_number
TEMPLATES.env.filters["sv_date"] = sv_date
TEMPLATES.env.filters["field_value"] = field_value
TEMPLATES.env.globals["labels"] = labels
TEMPLATES.env.globals["prefix"] = PREFIX


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    """A page in the frame: the signed-in user, their navigation, the form token, a notice."""
    user: Viewer | None = getattr(request.state, "web_user", None)
    notice = NOTICES.get(request.query_params.get("klart", ""))
    problem = PROBLEMS.get(request.query_params.get("fel", ""))
    frame: dict[str, Any] = {
        "problem": problem,
        "user": user,
        "nav": navigation(user, request.url.path),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "notice": notice,
        "role_label": labels.ROLES.get(user.role, "") if user is not None else "",
    }
    return TEMPLATES.TemplateResponse(
        request, template, {**frame, **(context or {})}, status_code=status_code
    )


def redirect(
    path: str, notice: str | None = None, *, error: str | None = None, anchor: str = ""
) -> RedirectResponse:
    """See other (303): the browser loads `path` with GET, so a reload does not repost."""
    assert notice is None or notice in NOTICES
    assert error is None or error in PROBLEMS
    query = f"?klart={notice}" if notice else f"?fel={error}" if error else ""
    return RedirectResponse(f"{path}{query}{'#' + anchor if anchor else ''}", status_code=303)


# --- error pages ----------------------------------------------------------------------------

ERROR_TEXTS: Mapping[int, tuple[str, str]] = {
    400: ("Felaktig förfrågan", "Adressen innehåller något som sidan inte förstår."),
    403: ("Åtkomst nekad", "Du har inte behörighet till den här sidan eller åtgärden."),
    404: ("Sidan finns inte", "Sidan finns inte, eller så har du inte tillgång till den."),
    405: ("Fel metod", "Sidan kan inte användas på det här sättet."),
    409: ("Det gick inte att spara", "Ändringen krockar med något som redan är sparat."),
    413: ("För mycket text", "Formuläret innehåller mer text än vad som kan sparas."),
    422: ("Ogiltiga uppgifter", "Uppgifterna i formuläret kunde inte godtas."),
    503: ("Inte tillgängligt just nu", "Tjänsten är inte redo. Försök igen om en stund."),
    500: ("Något gick fel", "Ett oväntat fel inträffade. Försök igen, eller kontakta support."),
}


def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    title, text = ERROR_TEXTS.get(status, ERROR_TEXTS[500])
    return render(
        request,
        "error.html",
        {"title": title, "text": detail or text, "status": status},
        status_code=status,
    )


def to_login(request: Request) -> Response:
    """To the login page, coming back here afterwards (for a page that was read)."""
    target = LOGIN_PATH
    if request.method == "GET" and request.url.path != LOGIN_PATH:
        target += "?next=" + quote(request.url.path, safe="/")
    response = RedirectResponse(target, status_code=303)
    if request.cookies.get("stegvis_session"):
        clear_session_cookie(response, request)
    return response


def install_error_pages(pages: FastAPI) -> None:
    """Every error of the pages as an HTML page in Swedish (the API keeps problem+json)."""

    async def login_required(request: Request, error: Exception) -> Response:
        return to_login(request)

    async def csrf_refused(request: Request, error: Exception) -> Response:
        log.warning("csrf token missing or wrong on %s", request.url.path)
        return error_page(
            request,
            403,
            "Formuläret kunde inte kontrolleras (säkerhetskoden saknas eller är fel). "
            "Ladda om sidan och försök igen.",
        )

    async def forbidden(request: Request, error: Exception) -> Response:
        return error_page(request, 403)

    async def not_found(request: Request, error: Exception) -> Response:
        return error_page(request, 404)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        in_path = any(item.get("loc", ("",))[0] == "path" for item in error.errors())
        return error_page(request, 404 if in_path else 400)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return error_page(request, error.status_code if error.status_code in ERROR_TEXTS else 500)

    async def consent_missing(request: Request, error: Exception) -> Response:
        return error_page(request, 409, "Deltagaren har inte gett samtycke till detta.")

    async def conflict(request: Request, error: Exception) -> Response:
        return error_page(request, 409)

    async def invalid_input(request: Request, error: Exception) -> Response:
        return error_page(request, 422)

    async def unavailable(request: Request, error: Exception) -> Response:
        return error_page(request, 503)

    async def internal(request: Request, error: Exception) -> Response:
        log.error("unhandled %s on %s", type(error).__name__, request.url.path)
        return error_page(request, 500)

    handlers: dict[type[Exception], Any] = {
        LoginRequired: login_required,
        Unauthenticated: login_required,
        CsrfRefused: csrf_refused,
        Forbidden: forbidden,
        NotFound: not_found,
        RequestValidationError: invalid_request,
        HTTPException: http_error,
        ConsentMissing: consent_missing,
        Conflict: conflict,
        sa.exc.IntegrityError: conflict,
        InvalidInput: invalid_input,
        ModelUnavailable: unavailable,
        StegvisError: internal,
        Exception: internal,
    }
    for kind, handler in handlers.items():
        pages.add_exception_handler(kind, handler)


# --- headers ----------------------------------------------------------------------------------

#: No inline script or style anywhere, forms only to this site, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class PageHeaders:
    """Security headers on every response of the pages; pages (with participant data) are
    never stored by the browser or a proxy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
