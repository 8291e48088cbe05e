"""Schemathesis against the app's own OpenAPI document: every operation, with every role's token.

The app under test is the production configuration in-process: `create_app(settings)` with
no injected engine, so it starts its own matching engine over a seeded world (tenants A and
B of the e2e fixtures) and follows a real, empty MLflow registry in a temporary folder. Each
(operation, role) gets cases in three kinds: valid data whose path names a real object of
tenant A, valid data with generated path parameters, and invalid data. Every response must
not be a 5xx, must conform to the document (status, content type, headers, body schema),
and invalid data must be refused.

`STEGVIS_FUZZ_EXAMPLES` sets the examples per (operation, role, kind) for the roles the
policy allows (default 3, deterministic); refused roles get a third of that. `make fuzz`
runs it longer and prints the figures per role.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.deps import POLICY
from matching.db import migrate
from matching.db.session import make_engine, make_session_factory
from matching.domain import Role
from matching.settings import Environment, Settings
from tests.e2e.conftest import (
    PARTICIPANT_A_MARKER,
    PARTICIPANT_B_MARKER,
    Tenant,
    World,
    seed_world,
)
from tests.e2e.test_authorisation_matrix import PARAMETERS
from tests.integration.conftest import BACKENDS, POSTGRES_URL, PostgresServer

EXAMPLES = int(os.environ.get("STEGVIS_FUZZ_EXAMPLES", "3"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: Generated user ids would hit the fuzzing users themselves (and deactivate them).
ALWAYS_REAL = {"user_id"}


@dataclass
class Figures:
    """What one role's run did: cases sent and the failures found (one line each)."""

    operations: int = 0
    cases: int = 0
    failures: list[str] = field(default_factory=list)


FIGURES: dict[tuple[str, Role], Figures] = {}


@dataclass
class Fuzzed:
    backend: str
    app: FastAPI
    world: World
    schema: schemathesis.BaseSchema


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    server = (
        PostgresServer(POSTGRES_URL) if request.param == "postgresql" and POSTGRES_URL else None
    )
    name = f"stegvis_fuzz_{uuid.uuid4().hex[:10]}"
    url = server.create(name) if server else f"sqlite:///{folder / 'stegvis.db'}"
    migrate.upgrade(url)
    settings = Settings(
        database_url=url,
        data_dir=folder,
        environment=Environment.TEST,
        secret_key="fuzz-secret-key-fuzz-secret-key-fuzz-secret",
        mlflow_tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        mlflow_artifact_root=folder / "artifacts",
        champion_poll_seconds=3600,
    )
    engine = make_engine(url)
    world = seed_world(make_session_factory(engine), settings)
    engine.dispose()
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(with_security_parameters=False, allow_x00=True)
    with asgi.get_client(app) as client:
        # One logged slate, so a suggestion of tenant A exists to give feedback on.
        for tenant in (world.a, world.b):
            response = client.get(
                f"/participants/{tenant.participant}/suggestions",
                params={"lane": "jobs"},
                headers={"Authorization": f"Bearer {tenant.tokens[Role.COACH]}"},
            )
            assert response.status_code == 200, response.text
            tenant.suggestion = response.json()["lanes"][0]["suggestions"][0]["suggestion_id"]
    yield Fuzzed(backend=request.param, app=app, world=world, schema=schema)
    asgi.shutdown_lifespans()
    if server:
        server.drop(name)
        server.admin.dispose()


def _real(path: str, tenant: Tenant) -> dict[str, int]:
    names = re.findall(r"{(\w+)}", path)
    return {name: PARAMETERS[name](tenant) for name in names if name in PARAMETERS}


def _describe(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return " | ".join(lines[:6]) or "".join(traceback.format_exception_only(error)).strip()


def _fuzz(
    label: str,
    strategy: hypothesis.strategies.SearchStrategy[schemathesis.Case],
    *,
    examples: int,
    headers: dict[str, str],
    figures: Figures,
) -> None:
    """Send `examples` cases of `strategy`; record each failing check instead of stopping."""

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        figures.cases += 1
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (Exception, schemathesis.errors.FailureGroup) as error:
            figures.failures.append(
                f"{label}: {_describe(error)}\n    {case.as_curl_command(headers=headers)}"
            )

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()  # Unsatisfiable: no invalid data exists for an operation without parameters


@pytest.mark.slow
@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_fuzz_every_operation(fuzzed: Fuzzed, role: Role, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    figures = FIGURES.setdefault((fuzzed.backend, role), Figures())
    headers = fuzzed.world.headers(role)
    for result in fuzzed.schema.get_all_operations():
        operation = result.ok()
        method, path = operation.method.upper(), operation.path
        allowed = role in POLICY.get((method, path), frozenset(Role))
        real = _real(path, fuzzed.world.a)
        fixed = {name: real[name] for name in ALWAYS_REAL if name in real}
        kinds = [
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real or None),
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed or None),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed or None),
        ]
        figures.operations += 1
        for strategy in kinds if real else kinds[1:]:
            _fuzz(
                f"{method} {path} ({role.value})",
                strategy,
                examples=EXAMPLES if allowed else max(1, EXAMPLES // 3),
                headers=headers,
                figures=figures,
            )
    print(
        f"fuzz backend={fuzzed.backend} role={role.value} operations={figures.operations} "
        f"cases={figures.cases} failures={len(figures.failures)}"
    )
    assert not figures.failures, "\n".join(figures.failures[:20])
    # Every participant of the world was read, changed and suggested for: none of their
    # texts or references reached any log line, whatever the fuzzer sent.
    world = fuzzed.world
    for secret in (
        PARTICIPANT_A_MARKER,
        PARTICIPANT_B_MARKER,
        world.a.participant_ref,
        world.b.participant_ref,
    ):
        assert secret not in caplog.text, f"{secret!r} reached the logs"
