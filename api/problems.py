"""Every error as RFC 9457 problem+json: the one place where errors become HTTP responses.

Domain errors from `matching.errors` map here and only here:

    Unauthenticated (missing, malformed, unknown, expired, revoked)  401  unauthenticated
        (with `WWW-Authenticate: Bearer`)
    Forbidden (the role may not use the endpoint)                    403  forbidden
    NotFound and subclasses (also another tenant's object)          404  not-found
    ConsentMissing                                                   409  consent-missing
    Conflict, a unique or check constraint of the database           409  conflict
    InvalidInput, request validation (`errors[].field`)              422  invalid-input
    a body over the size limit                                       413  content-too-large
    ModelUnavailable                                                 503  unavailable
    WriteConflict (replayed by api.retry first; Retry-After)         503  busy
    anything else (no details, no stack trace)                       500  internal

ConsentMissing is 409, not 403: the caller has the right to ask, but the participant's
consent (the current state of the resource) does not allow it; giving consent resolves it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.retry import RETRY_MARK
from matching.errors import (
    Conflict,
    ConsentMissing,
    InvalidInput,
    ModelUnavailable,
    NotFound,
    StegvisError,
    WriteConflict,
)
from matching.users import Unauthenticated

log = logging.getLogger("stegvis.api")

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://stegvis.example/problems/"
#: Request bodies larger than this are refused with 413 before they are read.
MAX_BODY_BYTES = 64 * 1024


class Forbidden(Exception):
    """The authenticated user's role may not use this endpoint."""


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `hours_max`.")
    location: str | None = Field(
        default=None, description="Where the field was: body, query, path or header."
    )
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=[TYPE_BASE + "not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["participant 42 was not found"])
    instance: str | None = Field(default=None, examples=["/participants/42"])
    request_id: str | None = Field(default=None, examples=["0b6c2c2e6a1d4a0f9d0f4b3f0e6f3a21"])
    errors: list[FieldError] | None = None


def problem(
    request: Request | None,
    status: int,
    slug: str,
    detail: str,
    *,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        body["request_id"] = request.scope.get("state", {}).get("request_id")
    if errors is not None:
        body["errors"] = [e.model_dump(exclude_none=True) for e in errors]
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _example(status: int, slug: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": HTTPStatus(status).phrase,
        "model": Problem,
        "content": {
            MEDIA_TYPE: {
                "example": {
                    "type": TYPE_BASE + slug,
                    "title": HTTPStatus(status).phrase,
                    "status": status,
                    "detail": detail,
                    **extra,
                }
            }
        },
    }


#: Problem responses every authenticated endpoint can give, for the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _example(401, "unauthenticated", "the bearer token has expired"),
    403: _example(403, "forbidden", "the role employer may not use GET /participants"),
    404: _example(404, "not-found", "participant 42 was not found"),
    409: _example(409, "conflict", "the organisation already has a participant 'SOD-0042'"),
    413: _example(413, "content-too-large", "the request body is larger than 65536 bytes"),
    422: _example(
        422,
        "invalid-input",
        "hours_max: hours_max must not be less than hours_min",
        errors=[
            {
                "field": "hours_max",
                "location": "body",
                "message": "hours_max must not be less than hours_min",
            }
        ],
    ),
}


def _field_errors(error: RequestValidationError) -> list[FieldError]:
    found = []
    for item in error.errors():
        location, *path = [str(part) for part in item.get("loc", ())] or ["body"]
        if item.get("type") == "json_invalid":
            path = []  # the position in the text is not a field
        found.append(
            FieldError(
                field=".".join(path) or location,
                location=location,
                message=str(item.get("msg", "invalid")),
            )
        )
    return found


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = _field_errors(error)
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return problem(request, 422, "invalid-input", detail, errors=errors)

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, error: InvalidInput) -> JSONResponse:
        errors = [FieldError(field=error.field, message=error.message)] if error.field else []
        return problem(request, 422, "invalid-input", str(error), errors=errors)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, error: Unauthenticated) -> JSONResponse:
        return problem(
            request,
            401,
            "unauthenticated",
            str(error),
            headers={"WWW-Authenticate": 'Bearer realm="stegvis"'},
        )

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> JSONResponse:
        return problem(request, 403, "forbidden", str(error))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound) -> JSONResponse:
        return problem(request, 404, "not-found", str(error))

    @app.exception_handler(ConsentMissing)
    async def consent_missing(request: Request, error: ConsentMissing) -> JSONResponse:
        return problem(request, 409, "consent-missing", str(error), extra={"scope": error.scope})

    @app.exception_handler(Conflict)
    async def conflict(request: Request, error: Conflict) -> JSONResponse:
        return problem(request, 409, "conflict", str(error))

    @app.exception_handler(sa.exc.IntegrityError)
    async def integrity(request: Request, error: sa.exc.IntegrityError) -> JSONResponse:
        # The message of the driver may quote stored values; it is not passed on.
        log.warning("integrity error: %s", type(error.orig).__name__)
        return problem(request, 409, "conflict", "the change conflicts with stored data")

    @app.exception_handler(ModelUnavailable)
    async def unavailable(request: Request, error: ModelUnavailable) -> JSONResponse:
        return problem(request, 503, "unavailable", str(error))

    @app.exception_handler(WriteConflict)
    async def write_conflict(request: Request, error: WriteConflict) -> JSONResponse:
        setattr(request.state, RETRY_MARK, True)  # api.retry replays the request
        return problem(request, 503, "busy", str(error), headers={"Retry-After": "1"})

    @app.exception_handler(StegvisError)
    async def domain_error(request: Request, error: StegvisError) -> JSONResponse:
        log.error("unmapped domain error %s", type(error).__name__)
        return problem(request, 500, "internal", "the request could not be completed")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 400:
            # FastAPI's answer to a body it cannot decode at all (invalid UTF-8): the
            # same invalid input as malformed JSON, so the same 422 naming the body.
            message = "the body is not JSON text in UTF-8"
            body = FieldError(field="body", location="body", message=message)
            return problem(request, 422, "invalid-input", f"body: {message}", errors=[body])
        slug = {
            404: "not-found",
            405: "method-not-allowed",
            413: "content-too-large",
        }.get(error.status_code, "http-error")
        detail = str(error.detail) if error.status_code != 404 else "no such resource"
        return problem(request, error.status_code, slug, detail, headers=error.headers)


class Unhandled:
    """A bug answers 500 problem+json with nothing of the error in it.

    This runs inside the app's other middleware (unlike an exception handler for
    `Exception`, which Starlette calls outside them), so the answer still gets its request
    id and security headers. The log names the error's type, the route template and where
    it was raised: never its message or a traceback, which can quote participant data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as error:
            frames = traceback.extract_tb(error.__traceback__)
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
            route = getattr(scope.get("route"), "path", "unmatched")
            log.error(
                "unhandled %s on %s %s at %s", type(error).__name__, scope["method"], route, where
            )
            if not started:
                response = problem(
                    Request(scope), 500, "internal", "the request could not be completed"
                )
                await response(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413 problem+json, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is larger than {self.max_bytes} bytes"
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem(None, 413, "content-too-large", detail)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited, send)
