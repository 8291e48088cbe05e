"""The committed demo fixtures are reproducible, valid, big enough, plausible and lawful."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from matching.fixtures import FixtureSet, read_fixture_set
from matching.taxonomy import Taxonomy, load_taxonomy

REPOSITORY = Path(__file__).resolve().parents[2]
FIXTURES = REPOSITORY / "data" / "fixtures"
GEO = REPOSITORY / "data" / "geo"
FILES = (
    "organisations.json",
    "employers.json",
    "asf_providers.json",
    "users.json",
    "openings.json",
    "placements.json",
    "participants.json",
    "history.json",
)
#: Stockholm County, with a small margin (Landsort to Väddö, Nykvarn to Söderarm).
COUNTY_BOX = {"lat": (58.70, 60.35), "lon": (17.15, 19.45)}
#: Words that would mean the engine holds health data about a participant.
HEALTH_WORDS = (
    "diagnos",
    "adhd",
    "autism",
    "depression",
    "schizofreni",
    "missbruk",
    "bipolär",
    "psykos",
)


@pytest.fixture(scope="module")
def fixtures() -> FixtureSet:
    return read_fixture_set(FIXTURES)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(REPOSITORY / "data" / "taxonomy")


@pytest.fixture(scope="module")
def centroids() -> dict[str, tuple[float, float]]:
    with (GEO / "stockholm_municipalities.csv").open(encoding="utf-8") as handle:
        return {
            row["municipality_name_short"]: (
                float(row["centroid_latitude"]),
                float(row["centroid_longitude"]),
            )
            for row in csv.DictReader(handle)
        }


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    dphi, dlmb = phi2 - phi1, math.radians(b[1] - a[1])
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def test_regenerating_writes_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    # A separate process also gets a different string-hash seed, so set-order bugs show up.
    subprocess.run(
        [sys.executable, str(FIXTURES / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def test_every_file_stays_under_four_megabytes() -> None:
    for name in FILES:
        assert (FIXTURES / name).stat().st_size < 4_000_000, name


def test_the_loader_accepts_the_committed_set_and_it_is_big_enough(fixtures: FixtureSet) -> None:
    counts = {name: len(records) for name, records in vars(fixtures).items()}
    minimums = {
        "organisations": 8,
        "employers": 300,
        "asf_providers": 40,
        "openings": 3000,
        "placements": 100,
        "participants": 500,
    }
    for name, minimum in minimums.items():
        assert counts[name] >= minimum, (name, counts[name])
    assert counts["history"] > 0


def test_the_organisations_cover_the_26_municipalities_once(
    fixtures: FixtureSet, centroids: dict[str, tuple[float, float]]
) -> None:
    covered = [m for o in fixtures.organisations for m in o.municipalities]
    assert sorted(covered) == sorted(centroids)
    assert len(centroids) == 26


def test_every_coordinate_lies_in_the_county_near_its_municipality(
    fixtures: FixtureSet, centroids: dict[str, tuple[float, float]]
) -> None:
    points: list[tuple[str, str | None, float | None, float | None]] = [
        (o.ref, o.municipality, o.lat, o.lon) for o in fixtures.openings
    ]
    points += [(p.ref, p.municipality, p.lat, p.lon) for p in fixtures.placements]
    points += [(p.ref, p.municipality, p.home_lat, p.home_lon) for p in fixtures.participants]
    located = [point for point in points if point[2] is not None]
    assert len(located) > 0.9 * len(points)
    for ref, municipality, lat, lon in located:
        assert lat is not None, ref
        assert lon is not None, ref
        assert municipality is not None, ref
        assert COUNTY_BOX["lat"][0] <= lat <= COUNTY_BOX["lat"][1], ref
        assert COUNTY_BOX["lon"][0] <= lon <= COUNTY_BOX["lon"][1], ref
        assert distance_km((lat, lon), centroids[municipality]) <= 60, ref


def test_participants_live_where_their_organisation_works(fixtures: FixtureSet) -> None:
    served = {o.name: set(o.municipalities) for o in fixtures.organisations}
    for participant in fixtures.participants:
        assert participant.municipality in served[participant.organisation], participant.ref


def test_opening_occupations_are_real_and_span_many_ssyk_groups(
    fixtures: FixtureSet, taxonomy: Taxonomy
) -> None:
    groups = set()
    for opening in fixtures.openings:
        if opening.occupation_id is None:
            assert opening.ssyk_code is None, opening.ref
            assert opening.occupation_label is None, opening.ref
            continue
        occupation = taxonomy.occupations[opening.occupation_id]
        assert occupation.ssyk == opening.ssyk_code, opening.ref
        assert occupation.label == opening.occupation_label, opening.ref
        skills = {s.label for s in taxonomy.group_skills(occupation.ssyk)}
        assert set(opening.required_skills) | set(opening.nice_skills) <= skills, opening.ref
        groups.add(occupation.ssyk)
    assert len(groups) >= 150
    without = sum(o.occupation_id is None for o in fixtures.openings)
    assert 0.15 < without / len(fixtures.openings) < 0.35


def test_placement_occupations_and_skills_are_real(
    fixtures: FixtureSet, taxonomy: Taxonomy
) -> None:
    for placement in fixtures.placements:
        if placement.occupation_id is not None:
            occupation = taxonomy.occupations[placement.occupation_id]
            assert occupation.ssyk == placement.ssyk_code, placement.ref
            group_skills = {s.label for s in taxonomy.group_skills(occupation.ssyk)}
            assert set(placement.skills) <= group_skills, placement.ref


def test_no_participant_text_carries_health_information(fixtures: FixtureSet) -> None:
    texts = [
        str(value)
        for participant in fixtures.participants
        for value in participant.model_dump().values()
        if isinstance(value, str)
    ]
    texts += [item.comment for session in fixtures.history for item in session.items]
    together = "\n".join(texts).lower()
    assert [word for word in HEALTH_WORDS if word in together] == []


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [text for value in values for text in _strings(value)]


def test_no_text_keeps_a_template_placeholder() -> None:
    for name in FILES:
        document = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        leftovers = [text for text in _strings(document) if "{" in text or "}" in text]
        assert leftovers == [], name


def test_refs_are_pseudonymous_and_org_numbers_fictional(fixtures: FixtureSet) -> None:
    for participant in fixtures.participants:
        # An organisation prefix and a counter: nothing like a name or an identity number.
        prefix, _, number = participant.ref.partition("-")
        assert prefix.isalpha(), participant.ref
        assert prefix.isupper(), participant.ref
        assert number.isdigit(), participant.ref

    def luhn_valid(digits: str) -> bool:
        total = 0
        for index, char in enumerate(digits):
            product = int(char) * (2 if index % 2 == 0 else 1)
            total += product // 10 + product % 10
        return total % 10 == 0

    numbers = [e.org_number for e in fixtures.employers + fixtures.asf_providers]
    assert len(numbers) == len(set(numbers))
    assert not any(luhn_valid(number.replace("-", "")) for number in numbers)


def test_participant_mix_matches_the_target_group(fixtures: FixtureSet) -> None:
    participants = fixtures.participants
    genders = Counter(p.gender.value for p in participants)
    assert abs(genders["woman"] - genders["man"]) <= 0.05 * len(participants)
    goals = Counter(p.goal.value for p in participants)
    assert goals["competitive_job"] > 0.65 * len(participants)
    assert goals["work_training"] > 0.1 * len(participants)
    with_matching = [
        p
        for p in participants
        if any(c.scope.value == "matching" and c.withdrawn_days_ago is None for c in p.consents)
    ]
    assert 0.9 * len(participants) < len(with_matching) < len(participants)


def test_history_is_consistent_in_time_and_lane(fixtures: FixtureSet) -> None:
    published: dict[str, int] = {o.ref: o.published_days_ago for o in fixtures.openings}
    published |= {p.ref: p.published_days_ago for p in fixtures.placements}
    openings = {o.ref for o in fixtures.openings}
    consent_given = {
        p.ref: next(
            (c.given_days_ago for c in p.consents
             if c.scope.value == "matching" and c.withdrawn_days_ago is None),
            None,
        )
        for p in fixtures.participants
    }  # fmt: skip
    slates = [(s.participant, s.lane, s.shown_days_ago) for s in fixtures.history]
    assert len(slates) == len(set(slates))
    outcome_kinds: Counter[str] = Counter()
    for session in fixtures.history:
        given = consent_given[session.participant]
        assert given is not None, session.participant
        assert session.shown_days_ago <= given, session.participant
        assert 5 <= len(session.items) <= 10
        assert sorted(item.rank for item in session.items) == list(range(1, len(session.items) + 1))
        for item in session.items:
            assert (item.item in openings) == (session.lane.value == "jobs"), item.item
            assert published[item.item] >= session.shown_days_ago, item.item
            if item.decided_days_ago is not None:
                assert item.decided_days_ago <= session.shown_days_ago
            last = item.decided_days_ago
            for outcome in item.outcomes:
                assert last is not None, item.item
                assert outcome.days_ago <= last, item.item
                last = outcome.days_ago
                outcome_kinds[outcome.kind.value] += 1
    assert {"interview", "job_start", "employed_90_days"} <= set(outcome_kinds)


def _open_items_near(fixtures: FixtureSet, ref: str, groups: set[str], *, lane: str) -> list[str]:
    person = next(p for p in fixtures.participants if p.ref == ref)
    assert person.home_lat is not None
    assert person.home_lon is not None
    assert person.max_commute_km is not None
    home = (person.home_lat, person.home_lon)
    items: list[Any] = fixtures.openings if lane == "jobs" else fixtures.placements
    return [
        item.ref
        for item in items
        if item.status.value == "open"
        and item.ssyk_code in groups
        and item.lat is not None
        and item.lon is not None
        and distance_km(home, (item.lat, item.lon)) <= person.max_commute_km
    ]


@pytest.mark.parametrize(
    ("ref", "groups", "lane"),
    [
        ("DEMO-01", {"6121", "6122"}, "jobs"),
        ("DEMO-02", {"4322", "8344"}, "jobs"),
        ("DEMO-03", {"9412", "9413"}, "jobs"),
        ("DEMO-04", {"9111"}, "jobs"),
        ("DEMO-05", {"3512", "4119"}, "jobs"),
        ("DEMO-06", {"5223", "9610"}, "asf"),
    ],
)
def test_each_demo_participant_has_fitting_open_items_within_reach(
    fixtures: FixtureSet, ref: str, groups: set[str], lane: str
) -> None:
    assert len(_open_items_near(fixtures, ref, groups, lane=lane)) >= 2


def test_the_demo_users_and_participants_are_wired_together(fixtures: FixtureSet) -> None:
    users = {u.username: u for u in fixtures.users}
    demo = users["coach.demo"]
    assert demo.role.value == "coach"
    assert demo.organisation is not None
    assert "Södertälje" in next(
        o.municipalities for o in fixtures.organisations if o.name == demo.organisation
    )
    assert users["coach.other"].organisation not in (None, demo.organisation)
    assert {users[name].role.value for name in ("data.team", "admin")} == {"data_team", "admin"}
    demos = [p for p in fixtures.participants if p.ref.startswith("DEMO-")]
    assert sorted(p.ref for p in demos) == [f"DEMO-0{i}" for i in range(1, 7)]
    assert {(p.organisation, p.coach) for p in demos} == {(demo.organisation, "coach.demo")}
    employer = users["employer.demo"].employer
    assert any(o.employer == employer and o.status.value == "open" for o in fixtures.openings)
    provider = users["asf.demo"].asf_provider
    assert any(p.asf_provider == provider for p in fixtures.placements)


def test_committed_json_is_sorted_and_indented_as_the_generator_writes_it() -> None:
    for name in FILES:
        text = (FIXTURES / name).read_text(encoding="utf-8")
        document = json.loads(text)
        expected = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        assert text == expected, name
