"""Feature values and their facts, on the shipped taxonomy; reasons written from them."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from matching.domain import Lane
from matching.explain import FEATURE_LABELS, explain, reason
from matching.features import (
    FEATURES,
    ItemFacts,
    ParticipantFacts,
    Place,
    commute_limit_km,
    compute_features,
    distance_km,
)
from matching.ranker import hand_set_ranker
from matching.settings import Settings
from matching.taxonomy import Taxonomy, load_taxonomy

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
WAREHOUSE = "DLEi_bTh_oLA"  # Lagerarbetare/Terminalarbetare, 4322
TRUCK_DRIVER = "GQSf_fnq_kjF"  # Truckförare, 8344; a warehouse worker can do it (25)
SODERTALJE = Place(59.1955, 17.6253)
STOCKHOLM = Place(59.3293, 18.0686)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(Settings().taxonomy_dir)


def participant(**changes: object) -> ParticipantFacts:
    base = ParticipantFacts(
        home=SODERTALJE,
        commute_limit_km=20.0,
        hours_min=20,
        hours_max=30,
        no_evenings=True,
        no_weekends=False,
        no_nights=True,
        environment=frozenset({"team", "physical"}),
        accommodations=frozenset({"quiet_workplace", "written_instructions"}),
        preferred_occupations=(WAREHOUSE,),
        preferred_groups=frozenset(),
        experience_occupations=(),
        skills=frozenset(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def item(**changes: object) -> ItemFacts:
    base = ItemFacts(
        id=1,
        lane=Lane.JOBS,
        title="Lagerarbetare",
        occupation_id=WAREHOUSE,
        ssyk="4322",
        occupation_inferred=False,
        skills=frozenset(),
        place=Place(59.20, 17.63),
        hours_min=20,
        hours_max=40,
        evenings=False,
        weekends=False,
        nights=False,
        environment=frozenset({"physical"}),
        accommodations=frozenset({"quiet_workplace"}),
        published_at=NOW - timedelta(days=3),
        expires_at=NOW + timedelta(days=20),
        free_places=2,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def features(
    taxonomy: Taxonomy, p: ParticipantFacts, i: ItemFacts, **kw: object
) -> dict[str, float]:
    row = compute_features(p, i, semantic=0.4, lexical=0.2, taxonomy=taxonomy, now=NOW, **kw)  # type: ignore[arg-type]
    return dict(zip(FEATURES, row.values, strict=True))


def test_occupation_levels_follow_the_taxonomy(taxonomy: Taxonomy) -> None:
    p = participant()
    assert features(taxonomy, p, item())["occupation"] == 1.0
    same_group = item(occupation_id="other-4322-occupation", ssyk="4322")
    assert features(taxonomy, p, same_group)["occupation"] == 0.75
    truck = item(occupation_id=TRUCK_DRIVER, ssyk="8344")
    assert features(taxonomy, p, truck)["occupation"] == 0.25
    unrelated = item(occupation_id="KF64_AvU_S4N", ssyk="9111")  # Städare
    assert features(taxonomy, p, unrelated)["occupation"] == 0.0
    no_wish = participant(preferred_occupations=())
    assert math.isnan(features(taxonomy, no_wish, item())["occupation"])
    by_group = participant(preferred_occupations=(), preferred_groups=frozenset({"4322"}))
    assert features(taxonomy, by_group, same_group)["occupation"] == 0.75


def test_commute_is_judged_against_the_participants_own_limit(taxonomy: Taxonomy) -> None:
    near = features(taxonomy, participant(), item())
    assert 0.9 < near["commute_within"] <= 1.0
    assert near["commute_over"] == 0.0
    km = distance_km(SODERTALJE, STOCKHOLM)
    assert 28 < km < 32
    far = features(taxonomy, participant(), item(place=STOCKHOLM))
    assert far["commute_within"] == 0.0
    assert far["commute_over"] == pytest.approx(km / 20 - 1)
    generous = features(taxonomy, participant(commute_limit_km=40.0), item(place=STOCKHOLM))
    assert generous["commute_over"] == 0.0
    unknown = features(taxonomy, participant(home=None), item())
    assert math.isnan(unknown["commute_within"])
    assert math.isnan(unknown["commute_over"])


def test_commute_limit_in_minutes_and_km() -> None:
    assert commute_limit_km(None, 40) == 20.0
    assert commute_limit_km(15.0, 60) == 15.0
    assert commute_limit_km(None, None) is None


def test_hours_schedule_and_accommodations(taxonomy: Taxonomy) -> None:
    values = features(taxonomy, participant(), item(evenings=True, nights=True))
    assert values["hours_fit"] == 1.0
    assert values["hours_gap"] == 0.0
    assert values["schedule_clash"] == 2.0
    assert values["accommodation_met"] == 0.5
    assert values["accommodation_missing"] == 0.5
    full_time = features(taxonomy, participant(), item(hours_min=40, hours_max=40))
    assert full_time["hours_fit"] == 0.0
    assert full_time["hours_gap"] == 1.0
    no_needs = features(taxonomy, participant(accommodations=frozenset()), item())
    assert math.isnan(no_needs["accommodation_missing"])


def test_skills_overlap_the_items_group_skills(taxonomy: Taxonomy) -> None:
    group_skills = taxonomy.groups["4322"].skill_ids
    p = participant(preferred_occupations=(), skills=frozenset(group_skills[:2]) | {"unrelated"})
    values = features(taxonomy, p, item())
    assert values["skills"] == 0.5
    assert math.isnan(features(taxonomy, participant(), item())["skills"])


def test_snoozed_freshness_and_capacity(taxonomy: Taxonomy) -> None:
    values = features(taxonomy, participant(), item(), snoozed_days_ago=4)
    assert values["snoozed"] == 1.0
    assert values["days_published"] == 3.0
    assert values["days_to_expiry"] == 20.0
    assert values["free_places"] == 2.0
    assert features(taxonomy, participant(), item())["snoozed"] == 0.0


def test_reasons_read_like_the_coach_would_say_them(taxonomy: Taxonomy) -> None:
    row = compute_features(
        participant(),
        item(place=STOCKHOLM, evenings=True),
        semantic=0.5,
        lexical=0.3,
        taxonomy=taxonomy,
        now=NOW,
    )
    model = hand_set_ranker()
    contributions = dict(zip(FEATURES, model.explain(np.array([row.values]))[0], strict=True))
    sv = explain(contributions=contributions, values=row.as_dict(), facts=row.facts, language="sv")
    en = explain(contributions=contributions, values=row.as_dict(), facts=row.facts, language="en")
    positives = [r.text for r in sv.positives]
    negatives = [r.text for r in sv.negatives]
    assert positives[0] == "Matchar önskemålet att arbeta som lagerarbetare/terminalarbetare"
    assert any(t.startswith("Kvällsarbete — du har sagt nej till kvällar") for t in negatives)
    assert any("km hemifrån, över din gräns på 20 km" in t for t in negatives)
    assert en.positives[0].text == "Matches the wish to work as Lagerarbetare/Terminalarbetare"
    assert [r.feature for r in sv.table] == list(FEATURES)
    assert sum(r.contribution for r in sv.table) == pytest.approx(sum(contributions.values()))
    assert all(r.contribution > 0 for r in sv.positives)
    assert all(r.contribution < 0 for r in sv.negatives)


def test_within_limit_and_environment_reasons(taxonomy: Taxonomy) -> None:
    row = compute_features(
        participant(environment=frozenset({"animals"})),
        item(environment=frozenset({"animals", "outdoors"})),
        semantic=0.5,
        lexical=0.3,
        taxonomy=taxonomy,
        now=NOW,
    )
    assert reason("environment", row.facts["environment"], "sv") == (
        "Matchar önskemålet om arbete med djur"
    )
    commute = reason("commute_within", row.facts["commute_within"], "sv")
    assert commute.endswith("km hemifrån, inom din gräns på 20 km")
    assert set(FEATURE_LABELS) == set(FEATURES)
