"""Fixture loading: idempotent, all-or-nothing, and bad input named by file, record and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.cli import app
from matching.db.models import Base, Feedback, Opening, Outcome, Participant, Suggestion
from matching.db.session import transaction
from matching.errors import InvalidInput
from matching.fixtures import load_fixtures, read_fixture_set
from matching.settings import Settings

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
COMMITTED = Settings().fixtures_dir


def small_fixture_set() -> dict[str, list[dict[str, Any]]]:
    """The smallest set that exercises every file and every reference."""
    return {
        "organisations.json": [
            {"name": "Samordningsförbundet Test", "municipalities": ["Södertälje"]}
        ],
        "employers.json": [
            {"org_number": "556000-0001", "name": "Lagret AB", "municipality": "Södertälje"}
        ],
        "asf_providers.json": [
            {
                "org_number": "769000-0001",
                "name": "Kooperativet Bryggan",
                "municipality": "Södertälje",
                "description": "Café och second hand.",
            }
        ],
        "users.json": [
            {
                "username": "coach.test",
                "role": "coach",
                "organisation": "Samordningsförbundet Test",
            },
            {"username": "employer.test", "role": "employer", "employer": "556000-0001"},
        ],
        "openings.json": [
            {
                "ref": "O-1",
                "employer": "556000-0001",
                "title": "Lagerarbetare",
                "description": "Plock och pack på vårt lager.",
                "hours_min": 20,
                "hours_max": 40,
                "municipality": "Södertälje",
                "lat": 59.2,
                "lon": 17.63,
                "published_days_ago": 3,
                "expires_in_days": 20,
            }
        ],
        "placements.json": [
            {
                "ref": "A-1",
                "asf_provider": "769000-0001",
                "title": "Arbetsträning i café",
                "activities": "Servering och disk.",
                "capacity": 3,
                "taken": 1,
            }
        ],
        "participants.json": [
            {
                "ref": "T-0001",
                "organisation": "Samordningsförbundet Test",
                "coach": "coach.test",
                "municipality": "Södertälje",
                "home_lat": 59.19,
                "home_lon": 17.62,
                "max_commute_km": 15,
                "preferred_occupations_text": "Vill arbeta på lager",
                "hours_min": 10,
                "hours_max": 20,
                "consents": [{"scope": "matching", "given_days_ago": 30}],
            }
        ],
        "history.json": [
            {
                "participant": "T-0001",
                "lane": "jobs",
                "shown_days_ago": 20,
                "items": [
                    {
                        "item": "O-1",
                        "rank": 1,
                        "decision": "contacted_employer",
                        "reason_code": "good_fit",
                        "decided_days_ago": 18,
                        "outcomes": [{"kind": "interview", "days_ago": 10}],
                    }
                ],
            }
        ],
    }


def write_set(directory: Path, files: dict[str, list[dict[str, Any]]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, records in files.items():
        (directory / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return directory


def row_counts(session: Session) -> dict[str, int]:
    return {
        name: session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
        for name, table in Base.metadata.tables.items()
    }


def test_small_set_loads_with_its_history(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    directory = write_set(tmp_path / "fixtures", small_fixture_set())
    with transaction(session_factory) as session:
        report = load_fixtures(session=session, directory=directory, now=NOW)
    assert report.added["participants"] == 1
    with session_factory() as session:
        participant = session.scalars(sa.select(Participant)).one()
        assert participant.external_ref == "T-0001"
        assert [c.scope.value for c in participant.consents] == ["matching"]
        suggestion = session.scalars(sa.select(Suggestion)).one()
        assert suggestion.rank == 1
        assert session.scalars(sa.select(Feedback)).one().decision.value == "contacted_employer"
        assert session.scalars(sa.select(Outcome)).one().kind.value == "interview"
        opening = session.scalars(sa.select(Opening)).one()
        assert (NOW - opening.published_at).days == 3


def test_loading_twice_changes_nothing(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    directory = write_set(tmp_path / "fixtures", small_fixture_set())
    with transaction(session_factory) as session:
        load_fixtures(session=session, directory=directory, now=NOW)
    with session_factory() as session:
        before = row_counts(session)
    with transaction(session_factory) as session:
        report = load_fixtures(session=session, directory=directory, now=NOW)
    assert report.added == {}
    assert report.present["openings"] == 1
    with session_factory() as session:
        assert row_counts(session) == before


Breakage = Callable[[dict[str, list[dict[str, Any]]]], None]

BAD_RECORDS: dict[str, tuple[Breakage, str, str]] = {
    # case: (how the set is broken, file named in the error, field named in the error)
    "hours min above max": (
        lambda s: s["participants.json"][0].update(hours_min=30, hours_max=20),
        "participants.json",
        "hours_max",
    ),
    "latitude out of range": (
        lambda s: s["openings.json"][0].update(lat=123.0),
        "openings.json",
        "lat",
    ),
    "unknown field": (
        lambda s: s["placements.json"][0].update(diagnosis="x"),
        "placements.json",
        "diagnosis",
    ),
    "unknown enum value": (
        lambda s: s["users.json"][0].update(role="superuser"),
        "users.json",
        "role",
    ),
    "taken above capacity": (
        lambda s: s["placements.json"][0].update(capacity=1, taken=2),
        "placements.json",
        "taken",
    ),
    "unknown employer": (
        lambda s: s["openings.json"][0].update(employer="556999-9999"),
        "openings.json",
        "employer",
    ),
    "history of an unknown item": (
        lambda s: s["history.json"][0]["items"][0].update(item="O-404"),
        "history.json",
        "items.0.item",
    ),
    "coach of another organisation": (
        lambda s: s["participants.json"][0].update(coach="employer.test"),
        "participants.json",
        "coach",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_invalid_record_names_file_record_and_field_and_loads_nothing(
    case: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    files = small_fixture_set()
    # A second, valid participant first: the load must not keep it when a later record fails.
    files["participants.json"].insert(
        0, {**files["participants.json"][0], "ref": "T-0000", "consents": []}
    )
    breakage, file_name, field_name = BAD_RECORDS[case]
    breakage(files)
    directory = write_set(tmp_path / "fixtures", files)
    with pytest.raises(InvalidInput) as raised, transaction(session_factory) as session:
        load_fixtures(session=session, directory=directory, now=NOW)
    message = str(raised.value)
    assert file_name in message
    assert "record" in message
    assert raised.value.field is not None
    assert field_name in raised.value.field
    with session_factory() as session:
        assert set(row_counts(session).values()) == {0}, "nothing partial may be stored"


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    directory = write_set(tmp_path / "fixtures", small_fixture_set())
    (directory / "openings.json").write_text('[{"ref": "O-1",\n  "title": }]', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"openings\.json.*line 2 column"):
        read_fixture_set(directory)


def test_not_utf8_and_missing_file_are_named(tmp_path: Path) -> None:
    directory = write_set(tmp_path / "fixtures", small_fixture_set())
    (directory / "users.json").write_bytes(b'[{"username": "\xff"}]')
    with pytest.raises(InvalidInput, match=r"users\.json.*UTF-8"):
        read_fixture_set(directory)
    (directory / "users.json").unlink()
    with pytest.raises(InvalidInput, match=r"users\.json.*missing"):
        read_fixture_set(directory)


def test_cli_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    files = small_fixture_set()
    files["openings.json"][0]["hours_max"] = 99
    directory = write_set(tmp_path / "fixtures", files)
    data_dir = tmp_path / "var"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["fixtures", "load", "--directory", str(directory)],
        env={"STEGVIS_DATA_DIR": str(data_dir)},
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput)
    assert "openings.json" in str(result.exception)
    assert "hours_max" in str(result.exception)
    engine = sa.create_engine(f"sqlite:///{data_dir / 'stegvis.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM openings").scalar() == 0
    finally:
        engine.dispose()


def test_committed_fixtures_load_idempotently(session_factory: sessionmaker[Session]) -> None:
    fixtures = read_fixture_set(COMMITTED)
    with transaction(session_factory) as session:
        load_fixtures(session=session, directory=COMMITTED, now=NOW)
    with session_factory() as session:
        counts = row_counts(session)
    assert counts["participants"] == len(fixtures.participants) >= 500
    assert counts["openings"] == len(fixtures.openings) >= 3000
    assert counts["employers"] == len(fixtures.employers) >= 300
    assert counts["asf_providers"] == len(fixtures.asf_providers) >= 40
    assert counts["placements"] == len(fixtures.placements) >= 100
    assert counts["feedback"] > 0
    assert counts["outcomes"] > 0
    with transaction(session_factory) as session:
        report = load_fixtures(session=session, directory=COMMITTED, now=NOW)
    assert report.added == {}
    with session_factory() as session:
        assert row_counts(session) == counts
