"""Create and update use cases: merged validation, consents, parties of users, the export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from matching.db.models import Base, Consent
from matching.domain import (
    ConsentScope,
    Decision,
    Lane,
    OpeningStatus,
    OutcomeKind,
    PlacementStatus,
    Role,
)
from matching.errors import Conflict, InvalidInput
from matching.fixtures import EmployerRecord
from matching.resources import (
    close_opening,
    close_placement,
    create_employer,
    create_opening,
    create_participant,
    create_user,
    participant_key,
    training_examples,
    update_opening,
    update_participant,
    update_placement,
    update_user,
)
from matching.schemas import OpeningFields, ParticipantProfile
from tests import factories as f

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def invalid_field(error: pytest.ExceptionInfo[InvalidInput]) -> str | None:
    return error.value.field


def test_a_participant_gets_the_consents_given_and_a_coach_of_the_same_organisation(
    session: Session,
) -> None:
    organisation = f.make_organisation(session)
    coach = f.make_user(session, organisation_id=organisation.id)
    other_coach = f.make_user(session)
    participant = create_participant(
        session=session,
        organisation_id=organisation.id,
        external_ref="SOD-0001",
        profile=ParticipantProfile(hours_min=10, hours_max=20),
        coach_id=coach.id,
        consents=[ConsentScope.MATCHING, ConsentScope.MATCHING],
        now=NOW,
    )
    assert [(c.scope, c.given_at) for c in participant.consents] == [(ConsentScope.MATCHING, NOW)]
    with pytest.raises(Conflict):
        create_participant(
            session=session,
            organisation_id=organisation.id,
            external_ref="SOD-0001",
            profile=ParticipantProfile(),
        )
    with pytest.raises(InvalidInput) as error:
        create_participant(
            session=session,
            organisation_id=organisation.id,
            external_ref="SOD-0002",
            profile=ParticipantProfile(),
            coach_id=other_coach.id,
        )
    assert invalid_field(error) == "coach_id"


def test_an_update_is_checked_against_the_stored_fields(session: Session) -> None:
    participant = f.make_participant(session, hours_min=20, hours_max=30)
    with pytest.raises(InvalidInput) as error:
        update_participant(session=session, participant=participant, changes={"hours_max": 10})
    assert invalid_field(error) == "hours_max"
    with pytest.raises(InvalidInput) as error:
        update_participant(session=session, participant=participant, changes={"home_lat": None})
    assert invalid_field(error) == "home_lon", "coordinates change together"
    with pytest.raises(InvalidInput) as error:
        update_participant(session=session, participant=participant, changes={"external_ref": "X"})
    assert invalid_field(error) == "external_ref"
    changed = update_participant(
        session=session,
        participant=participant,
        changes={"hours_max": 35, "hours_min": 20, "skills_text": "  Har körkort B"},
        now=NOW,
    )
    assert changed == ["hours_max", "skills_text"], "only what really differs"
    assert participant.hours_max == 35
    assert participant.updated_at == NOW


def test_consents_are_given_and_withdrawn_to_match_the_set_sent(session: Session) -> None:
    participant = f.make_participant(session, consents=(ConsentScope.MATCHING,))
    later = NOW + timedelta(days=40)
    changed = update_participant(
        session=session,
        participant=participant,
        changes={"consents": [ConsentScope.FOLLOW_UP]},
        now=later,
    )
    assert changed == ["consents"]
    state = {c.scope: (c.given_at, c.withdrawn_at) for c in participant.consents}
    assert state[ConsentScope.MATCHING][1] == later
    assert state[ConsentScope.FOLLOW_UP] == (later, None)
    again = update_participant(
        session=session,
        participant=participant,
        changes={"consents": [ConsentScope.MATCHING, ConsentScope.FOLLOW_UP]},
        now=later + timedelta(days=1),
    )
    assert again == ["consents"]
    matching = next(c for c in participant.consents if c.scope is ConsentScope.MATCHING)
    assert matching.withdrawn_at is None
    assert session.scalar(sa.select(sa.func.count()).select_from(Consent)) == 2


def test_openings_positions_and_expiry_are_checked_whole(session: Session) -> None:
    employer = f.make_employer(session)
    opening = create_opening(
        session=session,
        employer_id=employer.id,
        fields=OpeningFields(title="Lagerarbetare", positions=3),
        expires_at=NOW + timedelta(days=10),
        now=NOW,
    )
    assert opening.published_at == NOW
    assert update_opening(session=session, opening=opening, changes={"positions_filled": 2}) == [
        "positions_filled"
    ]
    with pytest.raises(InvalidInput) as error:
        update_opening(session=session, opening=opening, changes={"positions": 1})
    assert invalid_field(error) == "positions_filled"
    with pytest.raises(InvalidInput) as error:
        update_opening(
            session=session, opening=opening, changes={"expires_at": NOW - timedelta(days=1)}
        )
    assert invalid_field(error) == "expires_at"
    assert close_opening(session=session, opening=opening) == ["status"]
    assert opening.status is OpeningStatus.CLOSED
    assert close_opening(session=session, opening=opening) == [], "closing twice changes nothing"


def test_a_place_cannot_take_more_than_its_capacity(session: Session) -> None:
    placement = f.make_placement(session, capacity=3, taken=1)
    with pytest.raises(InvalidInput) as error:
        update_placement(session=session, placement=placement, changes={"taken": 4})
    assert invalid_field(error) == "taken"
    assert update_placement(
        session=session, placement=placement, changes={"capacity": 5, "taken": 4}
    ) == ["capacity", "taken"]
    close_placement(session=session, placement=placement)
    assert placement.status is PlacementStatus.CLOSED


@pytest.mark.parametrize(
    ("role", "party", "field"),
    [
        (Role.COACH, None, "organisation_id"),
        (Role.EMPLOYER, "organisation_id", "organisation_id"),
        (Role.EMPLOYER, None, "employer_id"),
        (Role.DATA_TEAM, "employer_id", "employer_id"),
        (Role.ASF_PROVIDER, "missing", "asf_provider_id"),
    ],
)
def test_a_user_belongs_to_exactly_the_party_of_the_role(
    session: Session, role: Role, party: str | None, field: str
) -> None:
    organisation_id = f.make_organisation(session).id if party == "organisation_id" else None
    employer_id = f.make_employer(session).id if party == "employer_id" else None
    with pytest.raises(InvalidInput) as error:
        create_user(
            session=session,
            username="someone",
            role=role,
            organisation_id=organisation_id,
            employer_id=employer_id,
            asf_provider_id=999 if party == "missing" else None,
        )
    assert invalid_field(error) == field


def test_users_have_unique_valid_names_and_can_be_deactivated(session: Session) -> None:
    user = create_user(session=session, username="data.one", role=Role.DATA_TEAM)
    with pytest.raises(Conflict):
        create_user(session=session, username="data.one", role=Role.ADMIN)
    with pytest.raises(InvalidInput) as error:
        create_user(session=session, username="Data One", role=Role.ADMIN)
    assert invalid_field(error) == "username"
    assert update_user(session=session, user=user, changes={"is_active": False}) == ["is_active"]
    with pytest.raises(InvalidInput):
        update_user(session=session, user=user, changes={"role": Role.ADMIN})


def test_organisation_numbers_are_unique(session: Session) -> None:
    fields = EmployerRecord(org_number="556677-0011", name="Lager AB")
    create_employer(session=session, fields=fields)
    with pytest.raises(Conflict):
        create_employer(session=session, fields=fields)


def test_the_training_export_is_keyed_consenting_and_without_free_text(session: Session) -> None:
    consenting = f.make_participant(session)
    refusing = f.make_participant(session, consents=(ConsentScope.MATCHING, ConsentScope.FOLLOW_UP))
    withdrawn = f.make_participant(session)
    for consent in withdrawn.consents:
        if consent.scope is ConsentScope.MODEL_TRAINING:
            consent.withdrawn_at = NOW
    shown = f.make_suggestion(session, participant_id=consenting.id)
    f.make_feedback(
        session, suggestion_id=shown.id, decision=Decision.NEVER, comment="Hemlig kommentar"
    )
    f.make_outcome(
        session, participant_id=consenting.id, suggestion_id=shown.id, kind=OutcomeKind.INTERVIEW
    )
    f.make_suggestion(session, participant_id=refusing.id)
    f.make_suggestion(session, participant_id=withdrawn.id, lane=Lane.ASF)
    session.flush()

    (example,) = training_examples(session=session, secret="s" * 32, limit=10)
    assert example.suggestion_id == shown.id
    assert example.participant_key == participant_key("s" * 32, consenting.id)
    assert example.participant_key != participant_key("t" * 32, consenting.id)
    assert [d.decision for d in example.decisions] == [Decision.NEVER]
    assert [o.kind for o in example.outcomes] == [OutcomeKind.INTERVIEW]
    assert "Hemlig" not in repr(example)
    assert consenting.external_ref not in repr(example)
    assert training_examples(session=session, secret="s" * 32, limit=10, after=shown.id) == []
