"""Every endpoint × every role × own/other tenant's object: the exact status, and no foreign data.

The endpoints come from the app's own route table, so an endpoint added without a line in
EXPECTED fails `test_every_endpoint_is_in_the_matrix` (and its matrix cases). EXPECTED is
written out by hand here, independently of the policy in `api/deps.py`, so a change to the
policy that is not meant shows up as a failing case.

Only the JSON API is enumerated: the web pages under `/web` (mounted, outside the OpenAPI
document) are authorised by the same POLICY and have their own tests in
`tests/e2e/test_web_access.py`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import POLICY, PUBLIC
from api.web.security import PREFIX as WEB_PREFIX
from matching.domain import Role
from matching.engine import MatchingEngine
from matching.settings import Environment, Settings
from tests.e2e.conftest import (
    COMMENT_MARKERS,
    EMPLOYER_B_MARKER,
    PARTICIPANT_A_MARKER,
    PARTICIPANT_B_MARKER,
    PROVIDER_B_MARKER,
    Tenant,
    World,
)
from training.registry import ModelRegistry

COACH, EMPLOYER, ASF, DATA, ADMIN = (
    Role.COACH,
    Role.EMPLOYER,
    Role.ASF_PROVIDER,
    Role.DATA_TEAM,
    Role.ADMIN,
)
_serial = itertools.count(1)

Body = Callable[[World, Tenant], dict[str, Any]]


def _n() -> int:
    return next(_serial)


@dataclass(frozen=True)
class Expect:
    """The success status, and for each allowed role whether the object is tenant-scoped
    (another tenant's object answers 404) or visible to the role across tenants."""

    ok: int
    roles: Mapping[Role, bool]
    body: Body | None = None
    public: bool = field(default=False)
    #: Path parameters of objects made for the case, for endpoints that destroy theirs.
    fresh: Callable[[TestClient, Tenant], dict[str, int]] | None = None


def _participant(_w: World, _t: Tenant) -> dict[str, Any]:
    return {
        "external_ref": f"MATRIX-{_n()}",
        "preferred_occupations_text": "Vill jobba i lager",
        "consents": ["matching"],
    }


def _fresh_participant(client: TestClient, tenant: Tenant) -> dict[str, int]:
    response = client.post(
        "/participants",
        headers={"Authorization": f"Bearer {tenant.tokens[COACH]}"},
        json={"external_ref": f"MATRIX-{_n()}", "consents": ["matching"]},
    )
    assert response.status_code == 201, response.text
    return {"participant_id": response.json()["id"]}


def _opening(_w: World, _t: Tenant) -> dict[str, Any]:
    return {"title": f"Lagerarbetare matris {_n()}", "municipality": "Södertälje"}


def _placement(_w: World, _t: Tenant) -> dict[str, Any]:
    return {"title": f"Arbetsträning matris {_n()}", "capacity": 2}


def _org_number() -> str:
    return f"{555000 + _n():06d}-{_n() % 10000:04d}"


EXPECTED: dict[tuple[str, str], Expect] = {
    ("GET", "/me"): Expect(200, dict.fromkeys(Role, False)),
    ("GET", "/participants"): Expect(200, {COACH: True}),
    ("POST", "/participants"): Expect(201, {COACH: True}, _participant),
    ("GET", "/participants/{participant_id}"): Expect(200, {COACH: True}),
    ("PATCH", "/participants/{participant_id}"): Expect(
        200, {COACH: True}, lambda _w, _t: {"hours_min": 20}
    ),
    ("DELETE", "/participants/{participant_id}"): Expect(
        204, {COACH: True}, fresh=_fresh_participant
    ),
    ("GET", "/participants/{participant_id}/suggestions"): Expect(200, {COACH: True}),
    ("POST", "/participants/{participant_id}/outcomes"): Expect(
        201,
        {COACH: True},
        lambda _w, _t: {"kind": "interview", "occurred_at": "2026-11-01T10:00:00Z"},
    ),
    ("POST", "/suggestions/{suggestion_id}/feedback"): Expect(
        201, {COACH: True}, lambda _w, _t: {"decision": "shortlisted"}
    ),
    ("GET", "/openings"): Expect(200, {COACH: False, EMPLOYER: True}),
    ("POST", "/openings"): Expect(201, {EMPLOYER: True}, _opening),
    ("GET", "/openings/{opening_id}"): Expect(200, {COACH: False, EMPLOYER: True}),
    ("PATCH", "/openings/{opening_id}"): Expect(
        200, {EMPLOYER: True}, lambda _w, _t: {"hours_max": 40}
    ),
    ("POST", "/openings/{opening_id}/close"): Expect(200, {EMPLOYER: True}),
    ("GET", "/placements"): Expect(200, {COACH: False, ASF: True}),
    ("POST", "/placements"): Expect(201, {ASF: True}, _placement),
    ("GET", "/placements/{placement_id}"): Expect(200, {COACH: False, ASF: True}),
    ("PATCH", "/placements/{placement_id}"): Expect(200, {ASF: True}, lambda _w, _t: {"taken": 1}),
    ("POST", "/placements/{placement_id}/close"): Expect(200, {ASF: True}),
    ("GET", "/employers"): Expect(200, {ADMIN: False, EMPLOYER: True}),
    ("POST", "/employers"): Expect(
        201,
        {ADMIN: False},
        lambda _w, _t: {"org_number": _org_number(), "name": f"Matrisbolaget {_n()} AB"},
    ),
    ("GET", "/employers/{employer_id}"): Expect(200, {ADMIN: False, EMPLOYER: True}),
    ("PATCH", "/employers/{employer_id}"): Expect(
        200, {ADMIN: False}, lambda _w, _t: {"municipality": "Södertälje"}
    ),
    ("GET", "/asf-providers"): Expect(200, {ADMIN: False, ASF: True}),
    ("POST", "/asf-providers"): Expect(
        201,
        {ADMIN: False},
        lambda _w, _t: {"org_number": _org_number(), "name": f"Matriskooperativet {_n()}"},
    ),
    ("GET", "/asf-providers/{asf_provider_id}"): Expect(200, {ADMIN: False, ASF: True}),
    ("PATCH", "/asf-providers/{asf_provider_id}"): Expect(
        200, {ADMIN: False}, lambda _w, _t: {"municipality": "Södertälje"}
    ),
    ("GET", "/organisations"): Expect(200, {ADMIN: False}),
    ("POST", "/organisations"): Expect(
        201,
        {ADMIN: False},
        lambda _w, _t: {"name": f"Matrisförbundet {_n()}", "municipalities": ["Nykvarn"]},
    ),
    ("GET", "/organisations/{organisation_id}"): Expect(200, {ADMIN: False}),
    ("PATCH", "/organisations/{organisation_id}"): Expect(
        200, {ADMIN: False}, lambda _w, _t: {"municipalities": ["Södertälje", "Nykvarn"]}
    ),
    ("GET", "/users"): Expect(200, {ADMIN: False}),
    ("POST", "/users"): Expect(
        201, {ADMIN: False}, lambda _w, _t: {"username": f"matrix.{_n()}", "role": "data_team"}
    ),
    ("GET", "/users/{user_id}"): Expect(200, {ADMIN: False}),
    ("PATCH", "/users/{user_id}"): Expect(
        200, {ADMIN: False}, lambda _w, _t: {"display_name": "Målanvändare"}
    ),
    ("GET", "/users/{user_id}/tokens"): Expect(200, {ADMIN: False}),
    ("POST", "/users/{user_id}/tokens"): Expect(
        201, {ADMIN: False}, lambda _w, _t: {"name": "matris", "valid_days": 1}
    ),
    ("DELETE", "/users/{user_id}/tokens/{token_id}"): Expect(204, {ADMIN: False}),
    ("GET", "/audit"): Expect(200, {ADMIN: False}),
    ("GET", "/exports/training"): Expect(200, {DATA: False}),
    ("GET", "/models/current"): Expect(200, {DATA: False, ADMIN: False}),
    # The matrix app follows a real, empty MLflow registry: it lists no versions, has no
    # version 1 to promote (404) and nothing promoted to roll back (409).
    ("GET", "/models"): Expect(200, {DATA: False, ADMIN: False}),
    ("POST", "/models/{version}/promote"): Expect(404, {DATA: False, ADMIN: False}),
    ("POST", "/models/rollback"): Expect(409, {DATA: False, ADMIN: False}),
    ("GET", "/health"): Expect(200, {}, public=True),
    ("GET", "/ready"): Expect(200, {}, public=True),
    ("GET", "/metrics"): Expect(200, {}, public=True),
}

#: Path parameter → the object of a tenant it names.
PARAMETERS: dict[str, Callable[[Tenant], int]] = {
    "participant_id": lambda t: t.participant,
    "suggestion_id": lambda t: t.suggestion,
    "opening_id": lambda t: t.opening,
    "placement_id": lambda t: t.placement,
    "employer_id": lambda t: t.employer,
    "asf_provider_id": lambda t: t.provider,
    "organisation_id": lambda t: t.organisation,
    "user_id": lambda t: t.target_user,
    "token_id": lambda t: t.target_token,
    "version": lambda _t: 1,
}


def _app_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every API route of the app, routers included as the app sees them."""
    app = create_app(Settings(environment=Environment.TEST))
    return sorted(
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and not context.path.startswith(WEB_PREFIX)
        for method in context.methods or ()
    )


ENDPOINTS = _app_endpoints()


def _cases() -> Iterator[Any]:
    for method, path in ENDPOINTS:
        tenants = ("own", "other") if "{" in path else ("own",)
        for role, tenant in itertools.product(["anonymous", *Role], tenants):
            name = role if isinstance(role, str) else role.value
            yield pytest.param(method, path, role, tenant, id=f"{method} {path} {name} {tenant}")


def _foreign_texts(role: Role) -> list[str]:
    """Strings a user of tenant A in `role` must never receive."""
    participant_data = [
        PARTICIPANT_A_MARKER,
        PARTICIPANT_B_MARKER,
        "AREF-",
        "BREF-",
        *COMMENT_MARKERS.values(),
    ]
    if role is COACH:
        return [PARTICIPANT_B_MARKER, "BREF-", COMMENT_MARKERS["B"]]
    if role is EMPLOYER:
        return [*participant_data, EMPLOYER_B_MARKER, PROVIDER_B_MARKER]
    if role is ASF:
        return [*participant_data, EMPLOYER_B_MARKER, PROVIDER_B_MARKER]
    return participant_data + ([] if role is ADMIN else [EMPLOYER_B_MARKER, PROVIDER_B_MARKER])


def _participant_ids(document: Any, path: str) -> Iterator[int]:
    """Participant ids anywhere in a response body (`id` of a participant resource too)."""
    if path in ("/participants", "/participants/{participant_id}"):
        for item in document.get("items", [document]):
            yield item["id"]
    yield from _values_of("participant_id", document)


def _values_of(key: str, document: Any) -> Iterator[int]:
    if isinstance(document, dict):
        for name, value in document.items():
            if name == key and isinstance(value, int):
                yield value
            else:
                yield from _values_of(key, value)
    elif isinstance(document, list):
        for item in document:
            yield from _values_of(key, item)


def _foreign_participants(world: World, role: Role) -> set[int]:
    b = {world.b.participant, world.b.participant_work_training}
    if role is COACH:
        return b
    if role is ADMIN:
        return set()  # the audit log names participants by id, to admins only
    return b | {world.a.participant, world.a.participant_work_training}


def test_every_endpoint_is_in_the_matrix_and_the_policy() -> None:
    endpoints = set(ENDPOINTS)
    assert endpoints - set(EXPECTED) == set(), "add the new endpoint to EXPECTED"
    assert set(EXPECTED) - endpoints == set(), "EXPECTED names an endpoint the app lacks"
    assert endpoints == set(POLICY) | PUBLIC
    for key, expect in EXPECTED.items():
        assert expect.public == (key in PUBLIC)
        if not expect.public:
            assert set(POLICY[key]) == set(expect.roles), key


@pytest.fixture(scope="module")
def matrix_client(
    world: World,
    matcher: MatchingEngine,
    e2e_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    """An app over the shared engine that follows a real (empty) MLflow model registry, so
    the model endpoints answer as in production."""
    folder = tmp_path_factory.mktemp("matrix-mlflow")
    settings = e2e_settings.model_copy(
        update={
            "mlflow_tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
            "mlflow_artifact_root": folder / "artifacts",
            "champion_poll_seconds": 3600.0,
        }
    )
    app = create_app(settings, engine=matcher, registry=ModelRegistry(settings))
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(("method", "path", "role", "tenant"), list(_cases()))
def test_matrix(
    matrix_client: TestClient,
    world: World,
    method: str,
    path: str,
    role: Role | str,
    tenant: str,
) -> None:
    client = matrix_client
    expect = EXPECTED.get((method, path))
    assert expect is not None, f"{method} {path} is not in the authorisation matrix"
    target = world.a if tenant == "own" else world.b
    parameters = {name: PARAMETERS[name](target) for name in PARAMETERS}
    if expect.fresh is not None:
        parameters |= expect.fresh(client, target)
    url = path.format(**parameters)
    headers = {} if role == "anonymous" else world.headers(Role(role))
    body = expect.body(world, target) if expect.body else None
    response = client.request(method, url, headers=headers, json=body)

    if expect.public:
        wanted = 200
    elif role == "anonymous":
        wanted = 401
    elif Role(role) not in expect.roles:
        wanted = 403
    elif tenant == "other" and expect.roles[Role(role)]:
        wanted = 404
    else:
        wanted = expect.ok
    assert response.status_code == wanted, response.text

    if wanted >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == wanted
        assert {"type", "title", "detail"} <= set(problem)
        if wanted == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
    if role == "anonymous" or expect.public:
        return
    text = response.text
    for foreign in _foreign_texts(Role(role)):
        assert foreign not in text, f"{foreign!r} leaked to {role}"
    if text and response.headers["content-type"].startswith("application/json"):
        seen = set(_participant_ids(json.loads(text), path))
        assert not seen & _foreign_participants(world, Role(role))


def test_a_bad_token_is_refused_on_every_endpoint(client: TestClient, world: World) -> None:
    for method, path in ENDPOINTS:
        if (method, path) in PUBLIC:
            continue
        url = path.format(**{name: PARAMETERS[name](world.a) for name in PARAMETERS})
        for header in ("Bearer stv_not-a-real-token-at-all", "Bearer", "Basic dXNlcjpwYXNz"):
            response = client.request(method, url, headers={"Authorization": header})
            assert response.status_code == 401, (method, path, header)
            assert response.headers["content-type"] == "application/problem+json"
