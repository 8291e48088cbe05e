"""Erasure (GDPR Art. 17) over the API and the command line, and consent taking effect at once.

After an erasure every table of the database (every column of every row), every file of the
vector indexes, the training export and the next training dataset are searched for the
participant's reference and free texts: nothing may remain but the audit log's tombstone.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.cli import app as cli
from matching.db.models import AuditEntry, Base
from matching.domain import Role
from matching.resources import participant_key
from matching.service import tombstone_of
from tests.e2e.conftest import World
from tests.e2e.test_api import assert_problem, export_all
from tests.e2e.test_flows import new_participant, suggestions
from training.dataset import build_dataset

COACH, EMPLOYER, DATA, ADMIN = Role.COACH, Role.EMPLOYER, Role.DATA_TEAM, Role.ADMIN


def traces(session_factory: sessionmaker[Session], needles: list[str]) -> list[str]:
    """`table.column` of every stored value that contains one of `needles`, any table."""
    found = []
    with session_factory() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    found += [f"{table.name}.{column}" for n in needles if n in text]
    return found


def file_traces(folder: Path, needles: list[str]) -> list[str]:
    """Files under `folder` whose bytes contain one of `needles` (UTF-8)."""
    encoded = [n.encode() for n in needles]
    return [
        str(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and any(n in path.read_bytes() for n in encoded)
    ]


def dataset_participants(session_factory: sessionmaker[Session]) -> set[int]:
    with session_factory() as session:
        dataset = build_dataset(session=session, min_age=timedelta(days=14), evaluation_share=0.2)
    return set(dataset.participants.tolist())


def rows_naming(session_factory: sessionmaker[Session], participant_id: int) -> dict[str, int]:
    """Rows of every table with a `participant_id` column that still name the participant."""
    counts = {}
    with session_factory() as session:
        for table in Base.metadata.sorted_tables:
            column = table.columns.get("participant_id")
            if column is not None:
                counts[table.name] = int(
                    session.scalar(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(column == participant_id)
                    )
                    or 0
                )
    return {name: count for name, count in counts.items() if count}


def a_participant_with_history(
    client: TestClient, world: World
) -> tuple[dict[str, Any], list[str]]:
    """A participant with free texts, suggestions, a commented decision and an outcome."""
    marker = f"Raderingsmarkör{uuid.uuid4().hex[:8]}"
    texts = [
        f"Samlar på {marker}-frimärken",
        f"Behöver lugn miljö, {marker}-rummet",
        f"Kommentar {marker}: vill gärna till lagret",
    ]
    participant = new_participant(
        client,
        world,
        external_ref=f"ERASE-{uuid.uuid4().hex[:8]}",
        interests_text=texts[0],
        accommodations_text=texts[1],
    )
    shown = suggestions(client, world, participant["id"], lane="jobs")["lanes"][0]["suggestions"]
    assert shown, "the participant must have suggestions to erase"
    first = shown[0]["suggestion_id"]
    feedback = client.post(
        f"/suggestions/{first}/feedback",
        headers=world.headers(COACH),
        json={"decision": "shortlisted", "comment": texts[2]},
    )
    assert feedback.status_code == 201, feedback.text
    outcome = client.post(
        f"/participants/{participant['id']}/outcomes",
        headers=world.headers(COACH),
        json={"kind": "interview", "occurred_at": "2026-11-01T10:00:00Z", "suggestion_id": first},
    )
    assert outcome.status_code == 201, outcome.text
    return participant, [participant["external_ref"], marker, *texts]


def assert_erased_everywhere(
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    participant: dict[str, Any],
    needles: list[str],
) -> None:
    participant_id = participant["id"]
    assert rows_naming(session_factory, participant_id) == {}
    assert traces(session_factory, needles) == []
    assert file_traces(world.settings.resolved_index_dir, needles) == []
    key = participant_key(world.settings.secret_key.get_secret_value(), participant_id)
    assert all(item["participant_key"] != key for item in export_all(client, world))
    assert participant_id not in dataset_participants(session_factory)
    tombstone = tombstone_of(world.settings.secret_key.get_secret_value(), participant_id)
    with session_factory() as session:
        kept = session.scalars(sa.select(AuditEntry).where(AuditEntry.subject == tombstone)).all()
        named = session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.subject == f"participant:{participant_id}")
        )
    assert named == 0
    assert {entry.action.value for entry in kept} >= {"create", "suggest", "feedback", "erase"}
    assert all(entry.participant_id is None for entry in kept)


def test_a_coach_erases_a_participant_everywhere(
    client: TestClient, world: World, e2e_session_factory: sessionmaker[Session]
) -> None:
    participant, needles = a_participant_with_history(client, world)
    participant_id = participant["id"]
    assert participant_id in dataset_participants(e2e_session_factory)
    assert traces(e2e_session_factory, needles), "the scan must see the texts while stored"

    other_coach = {"Authorization": f"Bearer {world.b.tokens[COACH]}"}
    assert_problem(
        client.delete(f"/participants/{participant_id}", headers=other_coach), 404, "not-found"
    )
    assert_problem(
        client.delete(f"/participants/{participant_id}", headers=world.headers(EMPLOYER)),
        403,
        "forbidden",
    )
    assert rows_naming(e2e_session_factory, participant_id)
    remembered = client.app.state.matcher.recognise.cache_info  # type: ignore[attr-defined]
    assert remembered().currsize > 0, "the profile text was read, so it is remembered"

    response = client.delete(f"/participants/{participant_id}", headers=world.headers(COACH))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert remembered().currsize == 0, "the server forgot the profile texts it remembered"

    assert_erased_everywhere(client, world, e2e_session_factory, participant, needles)
    for method, path in (
        ("GET", f"/participants/{participant_id}"),
        ("GET", f"/participants/{participant_id}/suggestions"),
        ("DELETE", f"/participants/{participant_id}"),
    ):
        assert_problem(client.request(method, path, headers=world.headers(COACH)), 404, "not-found")


def test_the_command_line_erases_only_when_confirmed(
    client: TestClient, world: World, e2e_session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    participant, needles = a_participant_with_history(client, world)
    environment = {
        "STEGVIS_DATABASE_URL": world.settings.resolved_database_url,
        "STEGVIS_DATA_DIR": str(tmp_path),
        "STEGVIS_ENVIRONMENT": "test",
        "STEGVIS_SECRET_KEY": world.settings.secret_key.get_secret_value(),
    }
    runner = CliRunner()
    reference = participant["external_ref"]

    refused = runner.invoke(cli, ["erase", reference], env=environment)
    assert refused.exit_code == 1, refused.output
    assert "--yes" in refused.output
    assert rows_naming(e2e_session_factory, participant["id"])

    done = runner.invoke(
        cli,
        ["erase", reference, "--organisation", str(world.a.organisation), "--yes"],
        env=environment,
    )
    assert done.exit_code == 0, done.output
    assert "1 participants" in done.output
    assert reference not in done.output
    assert_erased_everywhere(client, world, e2e_session_factory, participant, needles)


def test_withdrawing_matching_consent_stops_suggestions_at_the_next_request(
    client: TestClient, world: World
) -> None:
    participant = new_participant(client, world)
    path = f"/participants/{participant['id']}"
    suggestions(client, world, participant["id"])

    changed = client.patch(
        path, headers=world.headers(COACH), json={"consents": ["follow_up", "model_training"]}
    )
    assert changed.status_code == 200, changed.text
    refused = client.get(f"{path}/suggestions", headers=world.headers(COACH))
    assert assert_problem(refused, 409, "consent-missing")["scope"] == "matching"

    client.patch(path, headers=world.headers(COACH), json={"consents": ["matching"]})
    assert suggestions(client, world, participant["id"])["lanes"]


def test_withdrawing_training_consent_leaves_the_next_dataset_at_once(
    client: TestClient, world: World, e2e_session_factory: sessionmaker[Session]
) -> None:
    participant = new_participant(client, world)
    shown = suggestions(client, world, participant["id"], lane="jobs")["lanes"][0]["suggestions"]
    client.post(
        f"/suggestions/{shown[0]['suggestion_id']}/feedback",
        headers=world.headers(COACH),
        json={"decision": "contacted_employer"},
    )
    assert participant["id"] in dataset_participants(e2e_session_factory)

    changed = client.patch(
        f"/participants/{participant['id']}",
        headers=world.headers(COACH),
        json={"consents": ["matching", "follow_up"]},
    )
    assert changed.status_code == 200, changed.text
    assert participant["id"] not in dataset_participants(e2e_session_factory)
    # Matching still works: only the training scope was withdrawn.
    assert suggestions(client, world, participant["id"], lane="jobs")["lanes"][0]["suggestions"]
