"""The pages app: login and logout, the start page, and the coach, employer and data-team pages.

The pages are a FastAPI app of their own, mounted at `/web` by `install`, sharing the API
app's state (database, matching engine, registry watcher, settings, metrics). Mounting keeps
the pages out of the API's routes and OpenAPI document, and gives them their own error
pages (HTML in Swedish) while the API keeps problem+json.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from api.deps import WorkDep, settings_of
from api.web import coach, data_team, employer
from api.web.render import (
    PageHeaders,
    error_page,
    home_of,
    install_error_pages,
    redirect,
    render,
)
from api.web.security import (
    LOGIN_COOKIE,
    LOGIN_PATH,
    PREFIX,
    SESSION_COOKIE,
    LoginThrottle,
    SignedInDep,
    clear_session_cookie,
    login_csrf_token,
    login_nonce,
    set_login_cookie,
    set_session_cookie,
    verify_csrf,
)
from matching.users import Unauthenticated, end_session, login, start_session

router = APIRouter()


def _safe_next(target: str | None) -> str | None:
    """Only a page of this app (no other site, no scheme-relative `//host`)."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target if "\\" not in target and "://" not in target else None
    return None


def _login_page(
    request: Request,
    *,
    username: str = "",
    next_page: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    nonce, new = login_nonce(request)
    response = render(
        request,
        "login.html",
        {
            "login_token": login_csrf_token(settings_of(request), nonce),
            "username": username,
            "next_page": next_page or "",
            "login_error": error,
            "logged_out": request.query_params.get("klart") == "utloggad",
        },
        status_code=status_code,
    )
    if new:
        set_login_cookie(response, request, nonce)
    return response


@router.get("/login")
def login_form(
    request: Request, next_page: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> Response:
    return _login_page(request, next_page=_safe_next(next_page))


@router.post("/login")
def login_submit(
    request: Request,
    work: WorkDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next_page: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    keys = throttle.keys(username, address)
    wait = throttle.locked_for(keys)
    if wait:
        return _login_page(
            request,
            username=username,
            next_page=_safe_next(next_page),
            error=f"För många misslyckade inloggningar. Försök igen om {wait} minuter.",
            status_code=429,
        )
    try:
        user = login(
            session=work.session,
            username=username,
            password=password,
            environment=settings_of(request).environment,
        )
    except Unauthenticated:
        throttle.failed(keys)
        return _login_page(
            request,
            username=username,
            next_page=_safe_next(next_page),
            error="Fel användarnamn eller lösenord.",
            status_code=401,
        )
    throttle.succeeded(username)
    secret = start_session(session=work.session, user=user)
    response = RedirectResponse(_safe_next(next_page) or home_of(user), status_code=303)
    set_session_cookie(response, request, secret)
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/logout")
def logout(request: Request, work: WorkDep) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        end_session(session=work.session, secret=secret, now=datetime.now(UTC))
    response = redirect(LOGIN_PATH, "utloggad")
    clear_session_cookie(response, request)
    return response


@router.get("/")
def home(user: SignedInDep) -> Response:
    return RedirectResponse(home_of(user), status_code=303)


@router.get("/start")
def start(request: Request, user: SignedInDep) -> Response:
    """For a role without pages of its own yet (ASF providers use the API)."""
    return render(request, "start.html")


@router.get("/{path:path}")
def unknown(request: Request, user: SignedInDep, path: str) -> Response:
    return error_page(request, 404)


def create_pages(shared: FastAPI) -> FastAPI:
    """The pages app over the API app's state (set by its lifespan)."""
    pages = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    pages.state = shared.state
    shared.state.login_throttle = LoginThrottle()
    pages.mount(
        "/static",
        StaticFiles(directory=Path(__file__).resolve().parent / "static"),
        name="static",
    )
    checked = [Depends(verify_csrf)]
    for module in (coach, employer, data_team):
        pages.include_router(module.router, dependencies=checked, include_in_schema=False)
    pages.include_router(router, dependencies=checked, include_in_schema=False)
    install_error_pages(pages)
    pages.add_middleware(PageHeaders)
    return pages


def install(app: FastAPI) -> None:
    """Mount the pages at /web, and send a browser opening / there."""
    app.mount(PREFIX, create_pages(app), name="web")

    async def to_pages(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.add_route("/", to_pages, include_in_schema=False)
