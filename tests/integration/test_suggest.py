"""Suggesting with the real model, index, taxonomy and database: the IPS guardrails.

Zero exclusion, invariance to fields outside the feature set, preferences first, consent,
exact contributions logged as shown, and the coach's "never" / "not now".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from matching.db.models import Opening, Participant, Suggestion
from matching.domain import (
    ConsentScope,
    Decision,
    Gender,
    Goal,
    Lane,
    OpeningStatus,
    ParticipantStatus,
)
from matching.engine import MatchingEngine
from matching.errors import ConsentMissing
from matching.features import FEATURES
from matching.service import Slate, record_feedback, suggest
from matching.settings import Settings
from tests import factories as f

NOW = datetime.now(UTC)
WAREHOUSE = ("DLEi_bTh_oLA", "Lagerarbetare/Terminalarbetare", "4322")
TRUCK_DRIVER = ("GQSf_fnq_kjF", "Truckförare", "8344")
CLEANER = ("KF64_AvU_S4N", "Städare", "9111")
DISHWASHER = ("pKTY_Kwu_sUw", "Diskare", "9412")
SODERTALJE = (59.1955, 17.6253)


def occupation(code: tuple[str, str, str]) -> dict[str, Any]:
    return {"occupation_id": code[0], "occupation_label": code[1], "ssyk_code": code[2]}


def opening(session: Session, employer_id: int, **fields: Any) -> Opening:
    defaults: dict[str, Any] = {
        "employer_id": employer_id,
        "published_at": NOW - timedelta(days=2),
        "expires_at": NOW + timedelta(days=30),
        "lat": SODERTALJE[0] + 0.01,
        "lon": SODERTALJE[1],
        "hours_min": 20,
        "hours_max": 30,
    }
    return f.make_opening(session, **(defaults | fields))


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """A few openings and places around Södertälje, and one organisation."""
    with session_factory.begin() as session:
        organisation = f.make_organisation(session, municipalities=["Södertälje"])
        employer = f.make_employer(session).id
        return {
            "organisation": organisation.id,
            "coach": f.make_user(session, organisation_id=organisation.id).id,
            "warehouse": opening(
                session,
                employer,
                title="Lagerarbetare till centrallager",
                description="Plock och pack av varor, inleveranser och truckkörning på lagret.",
                required_skills=["Truckvana"],
                **occupation(WAREHOUSE),
            ).id,
            "truck": opening(
                session,
                employer,
                title="Truckförare",
                description="Truckförare för lastning och lossning av gods vid vår terminal.",
                required_skills=["Truckvana"],
                **occupation(TRUCK_DRIVER),
            ).id,
            "cleaning": opening(
                session,
                employer,
                title="Städare till kontor",
                description="Kontorsstädning på dagtid i Södertälje.",
                **occupation(CLEANER),
            ).id,
            "kitchen": opening(
                session,
                employer,
                title="Diskare till restaurang",
                description="Disk och enklare köksarbete i vår lunchrestaurang.",
                evenings=True,
                **occupation(DISHWASHER),
            ).id,
            "closed": opening(
                session,
                employer,
                title="Lagerarbetare, tjänsten tillsatt",
                status=OpeningStatus.CLOSED,
                **occupation(WAREHOUSE),
            ).id,
            "expired": opening(
                session,
                employer,
                title="Lagerarbetare, sista dag passerad",
                published_at=NOW - timedelta(days=60),
                expires_at=NOW - timedelta(days=1),
                **occupation(WAREHOUSE),
            ).id,
            "cafe": f.make_placement(
                session, title="Arbetsträning i café", activities="Servering och disk i café."
            ).id,
            "secondhand": f.make_placement(
                session,
                title="Arbetsträning i second hand-butik",
                activities="Sortera, prismärka och sälja skänkta kläder och möbler.",
            ).id,
            "full": f.make_placement(
                session, title="Arbetsträning i snickeri", capacity=2, taken=2
            ).id,
        }


@pytest.fixture
def matcher(
    world: dict[str, int], database_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> Iterator[MatchingEngine]:
    settings_ = Settings(database_url=database_url, data_dir=tmp_path)
    return MatchingEngine.start(settings_, session_factory)


def participant(
    session_factory: sessionmaker[Session], world: dict[str, int], **fields: Any
) -> int:
    defaults: dict[str, Any] = {
        "organisation_id": world["organisation"],
        "coach_id": world["coach"],
        "municipality": "Södertälje",
        "home_lat": SODERTALJE[0],
        "home_lon": SODERTALJE[1],
        "max_commute_km": 15.0,
        "preferred_occupations_text": "Vill jobba som lagerarbetare",
        "preferred_tasks_text": "Plocka och packa varor",
        "skills_text": "Har truckkort",
        "hours_min": 20,
        "hours_max": 30,
        "no_evenings": True,
    }
    with session_factory.begin() as session:
        return f.make_participant(session, **(defaults | fields)).id


def run(
    session_factory: sessionmaker[Session],
    matcher: MatchingEngine,
    participant_id: int,
    lane: Lane = Lane.JOBS,
    k: int = 10,
) -> Slate:
    with session_factory.begin() as session:
        return suggest(
            session=session, engine=matcher, participant_id=participant_id, lane=lane, k=k
        )


def ranking(slate: Slate) -> list[int]:
    return [s.item_id for s in slate.suggestions]


def test_contributions_sum_to_the_score_and_are_logged_as_shown(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    slate = run(session_factory, matcher, participant(session_factory, world))
    assert slate.suggestions
    assert slate.model_version == "handset-1"
    assert [s.rank for s in slate.suggestions] == list(range(1, len(slate.suggestions) + 1))
    scores = [s.score for s in slate.suggestions]
    assert scores == sorted(scores, reverse=True)
    with session_factory() as session:
        for shown in slate.suggestions:
            assert shown.bias + sum(shown.contributions.values()) == pytest.approx(shown.score)
            assert set(shown.contributions) == set(FEATURES)
            stored = session.get(Suggestion, shown.suggestion_id)
            assert stored is not None
            assert stored.slate_id == slate.slate_id
            assert stored.score == shown.score
            assert stored.contributions == shown.contributions
            assert stored.feature_values == shown.values
            assert stored.facts == shown.facts
            assert stored.model_version == "handset-1"
            assert shown.explanation("sv").positives, "every suggestion has a reason"


def test_closed_expired_and_full_items_are_never_suggested(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    person = participant(session_factory, world)
    jobs = ranking(run(session_factory, matcher, person))
    assert world["closed"] not in jobs
    assert world["expired"] not in jobs
    assert world["full"] not in ranking(run(session_factory, matcher, person, Lane.ASF))


def test_preferences_first_the_stated_occupation_outranks_a_similar_one(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    jobs = ranking(run(session_factory, matcher, participant(session_factory, world)))
    assert jobs[0] == world["warehouse"]
    assert jobs.index(world["warehouse"]) < jobs.index(world["truck"])
    cleaner = participant(
        session_factory,
        world,
        preferred_occupations_text="Vill arbeta som städare",
        preferred_tasks_text="",
        skills_text="Har truckkort",
    )
    assert ranking(run(session_factory, matcher, cleaner))[0] == world["cleaning"]


def test_a_coded_wish_counts_like_a_written_one(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    person = participant(
        session_factory,
        world,
        preferred_occupations_text="",
        preferred_tasks_text="",
        skills_text="",
        preferred_occupation_ids=[CLEANER[0]],
    )
    slate = run(session_factory, matcher, person)
    assert slate.suggestions[0].item_id == world["cleaning"]
    assert slate.suggestions[0].explanation("sv").positives[0].text == (
        "Matchar önskemålet att arbeta som städare"
    )


def test_a_schedule_clash_is_explained_and_costs(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    slate = run(session_factory, matcher, participant(session_factory, world))
    kitchen = next(s for s in slate.suggestions if s.item_id == world["kitchen"])
    assert kitchen.contributions["schedule_clash"] < 0
    negatives = [r.text for r in kitchen.explanation("sv").negatives]
    assert "Kvällsarbete — du har sagt nej till kvällar" in negatives


@pytest.mark.parametrize(
    "profile",
    [
        {},
        {"preferred_occupations_text": "", "preferred_tasks_text": "", "skills_text": ""},
        {"home_lat": None, "home_lon": None, "municipality": None, "max_commute_km": None},
        {"home_lat": 67.85, "home_lon": 20.22, "max_commute_km": 1.0},  # Kiruna, tiny limit
        {"hours_min": 1, "hours_max": 2, "no_weekends": True, "no_nights": True},
        {"accommodations": ["quiet_workplace", "mentor", "step_free_access"]},
        {"status": ParticipantStatus.PAUSED, "goal": Goal.STUDIES},
    ],
)
def test_zero_exclusion_everyone_with_consent_gets_both_lanes(
    profile: dict[str, Any],
    session_factory: sessionmaker[Session],
    matcher: MatchingEngine,
    world: dict[str, int],
) -> None:
    person = participant(session_factory, world, **profile)
    for lane in Lane:
        assert run(session_factory, matcher, person, lane).suggestions, lane


def test_without_consent_for_matching_there_is_a_clear_refusal(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    never_asked = participant(session_factory, world, consents=(ConsentScope.FOLLOW_UP,))
    withdrawn = participant(session_factory, world)
    with session_factory.begin() as session:
        person = session.get(Participant, withdrawn)
        assert person is not None
        for consent in person.consents:
            if consent.scope is ConsentScope.MATCHING:
                consent.withdrawn_at = datetime.now(UTC)
    for person_id in (never_asked, withdrawn):
        with pytest.raises(ConsentMissing, match="matching"):
            run(session_factory, matcher, person_id)
    with session_factory() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(Suggestion)
            .where(Suggestion.participant_id.in_([never_asked, withdrawn]))
        )
    assert count == 0, "nothing is logged for a refused request"


def test_never_hides_an_item_and_not_now_lowers_it(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    person = participant(session_factory, world)
    first = run(session_factory, matcher, person)
    top, second = first.suggestions[0], first.suggestions[1]
    with session_factory.begin() as session:
        record_feedback(session=session, suggestion_id=top.suggestion_id, decision=Decision.NEVER)
        record_feedback(
            session=session, suggestion_id=second.suggestion_id, decision=Decision.NOT_NOW
        )
    again = run(session_factory, matcher, person)
    assert top.item_id not in ranking(again)
    lowered = next(s for s in again.suggestions if s.item_id == second.item_id)
    assert lowered.contributions["snoozed"] < 0
    assert lowered.score < second.score
    assert "inte nu" in " ".join(r.text for r in lowered.explanation("sv").negatives)


def test_an_item_closed_after_start_disappears_once_refreshed(
    session_factory: sessionmaker[Session], matcher: MatchingEngine, world: dict[str, int]
) -> None:
    person = participant(session_factory, world)
    assert world["warehouse"] in ranking(run(session_factory, matcher, person))
    with session_factory.begin() as session:
        item = session.get(Opening, world["warehouse"])
        assert item is not None
        item.status = OpeningStatus.FILLED
    matcher.refresh(Lane.JOBS, [world["warehouse"]])
    assert world["warehouse"] not in ranking(run(session_factory, matcher, person))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    gender=st.sampled_from(list(Gender)),
    accommodations_text=st.text(
        alphabet=st.characters(codec="utf-8", categories=["L", "Zs"]), max_size=60
    ),
    languages=st.lists(
        st.fixed_dictionaries(
            {
                "language": st.sampled_from(["arabiska", "somaliska", "svenska", "dari"]),
                "level": st.sampled_from(["basic", "good", "fluent", "native"]),
            }
        ),
        max_size=3,
    ),
    status=st.sampled_from(list(ParticipantStatus)),
    goal=st.sampled_from(list(Goal)),
)
def test_rankings_do_not_depend_on_fields_outside_the_feature_set(
    session_factory: sessionmaker[Session],
    matcher: MatchingEngine,
    world: dict[str, int],
    gender: Gender,
    accommodations_text: str,
    languages: list[dict[str, str]],
    status: ParticipantStatus,
    goal: Goal,
) -> None:
    base = participant(session_factory, world, gender=Gender.WOMAN)
    twin = participant(
        session_factory,
        world,
        gender=gender,
        accommodations_text=accommodations_text,
        languages=languages,
        status=status,
        goal=goal,
    )
    for lane in Lane:
        original = run(session_factory, matcher, base, lane)
        other = run(session_factory, matcher, twin, lane)
        assert [(s.item_id, round(s.score, 9)) for s in original.suggestions] == [
            (s.item_id, round(s.score, 9)) for s in other.suggestions
        ]
