"""Pure feature computation: (participant, item, similarities) -> feature values and their facts.

Every feature is a number with a documented meaning, or NaN when it cannot be known (no
stated preference, no coordinates...). The ranker gives an unknown feature exactly zero
contribution, so missing data never helps or hurts an item. Each value comes with the
facts behind it ("12 km, limit 20 km"), kept as JSON-able dicts: they are stored with every
shown suggestion and turned into plain language by `matching.explain`.

Nothing here reads gender, languages, free accommodation text or any field outside the
documented inputs below: the guardrail tests check that rankings do not depend on them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.domain import Lane
from matching.taxonomy import Taxonomy

NAN = float("nan")

#: The features, in the order of the ranker's columns. Names are stable: they key stored
#: contributions and trained models.
FEATURES: tuple[str, ...] = (
    "occupation",
    "experience",
    "skills",
    "environment",
    "semantic",
    "lexical",
    "commute_within",
    "commute_over",
    "hours_fit",
    "hours_gap",
    "schedule_clash",
    "accommodation_met",
    "accommodation_missing",
    "days_published",
    "days_to_expiry",
    "free_places",
    "snoozed",
)

#: Domain directions every model must keep: +1 never lowers the score as the value grows,
#: -1 never raises it. Features not listed may take any learned shape.
DIRECTIONS: Mapping[str, int] = {
    "occupation": +1,
    "experience": +1,
    "skills": +1,
    "environment": +1,
    "semantic": +1,
    "lexical": +1,
    "commute_within": +1,
    "commute_over": -1,
    "hours_fit": +1,
    "hours_gap": -1,
    "schedule_clash": -1,
    "accommodation_met": +1,
    "accommodation_missing": -1,
    "snoozed": -1,
}

#: Strength of an occupation relation, from the participant's wish to the item's occupation.
RELATION_LEVEL: Mapping[str, float] = {
    "same": 1.0,
    "same_group": 0.75,
    "substitutable_high": 0.5,
    "substitutable_low": 0.25,
}

#: Without a stated limit, distances are judged against this many kilometres.
DEFAULT_COMMUTE_KM = 20.0
#: A limit in minutes becomes kilometres of straight-line distance at this speed: door-to-door
#: travel by public transport in the county averages roughly 30 km/h including waits.
COMMUTE_KM_PER_MINUTE = 0.5
SKILLS_SATURATE = 4
HOURS_GAP_UNIT = 10.0
MAX_DAYS_PUBLISHED = 365.0
MAX_DAYS_TO_EXPIRY = 90.0
MAX_FREE_PLACES = 5.0
MAX_COMMUTE_OVER = 3.0
WEEK_HOURS = 80


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lon: float


@dataclass(frozen=True)
class ParticipantFacts:
    """What the features may know about a participant (and nothing else).

    Built by the service from the stored profile and the taxonomy concepts recognised in
    its texts; gender, languages and free accommodation text are deliberately absent.
    """

    home: Place | None
    commute_limit_km: float | None
    hours_min: int | None
    hours_max: int | None
    no_evenings: bool
    no_weekends: bool
    no_nights: bool
    environment: frozenset[str]
    accommodations: frozenset[str]
    #: Occupation ids the participant wants: coded wishes first, then recognised in texts.
    preferred_occupations: tuple[str, ...]
    #: SSYK-4 groups named as wishes without a specific occupation ("vill jobba med städ").
    preferred_groups: frozenset[str]
    #: Occupation ids recognised in the strengths texts (skills, experience, education).
    experience_occupations: tuple[str, ...]
    #: Skill ids recognised in the strengths and preference texts.
    skills: frozenset[str]

    @property
    def commute_limit(self) -> tuple[float, bool]:
        """(limit in km, whether the participant stated it)."""
        if self.commute_limit_km is None:
            return DEFAULT_COMMUTE_KM, False
        return self.commute_limit_km, True


@dataclass(frozen=True)
class ItemFacts:
    """What the features may know about an opening or an ASF place."""

    id: int
    lane: Lane
    title: str
    occupation_id: str | None
    ssyk: str | None
    #: True when the occupation was recognised in the text rather than given by the employer.
    occupation_inferred: bool
    #: Skill ids the item asks for or mentions (required and nice skills, ad text).
    skills: frozenset[str]
    place: Place | None
    hours_min: int | None
    hours_max: int | None
    evenings: bool
    weekends: bool
    nights: bool
    environment: frozenset[str]
    accommodations: frozenset[str]
    published_at: datetime
    expires_at: datetime | None
    free_places: int


@dataclass(frozen=True)
class FeatureRow:
    """One (participant, item) pair: values in FEATURES order, and the facts behind them."""

    values: tuple[float, ...]
    facts: dict[str, dict[str, Any]]

    def as_dict(self) -> dict[str, float | None]:
        """Values by name, unknown as None (JSON has no NaN)."""
        return {
            name: None if math.isnan(value) else value
            for name, value in zip(FEATURES, self.values, strict=True)
        }


def distance_km(a: Place, b: Place) -> float:
    """Great-circle distance (haversine) in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def distances_km(
    home: Place, lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """`distance_km` from `home` to many places at once (NaN coordinates: infinitely far).

    NumPy's trigonometry may differ from `math` in the last bit, so where an exact tie or
    order matters the caller confirms with `distance_km`.
    """
    lat1, lon1 = math.radians(home.lat), math.radians(home.lon)
    lat2, lon2 = np.radians(lat), np.radians(lon)
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    km = 2 * 6371.0088 * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return np.where(np.isnan(km), np.inf, km)


def commute_limit_km(km: float | None, minutes: int | None) -> float | None:
    """The participant's own limit in km: the stricter of the two when both are given."""
    limits = [v for v in (km, None if minutes is None else minutes * COMMUTE_KM_PER_MINUTE) if v]
    return min(limits) if limits else None


def occupation_relation(
    wanted: str, occupation_id: str | None, ssyk: str | None, taxonomy: Taxonomy
) -> str | None:
    """How the item's occupation relates to one wished-for occupation, or None."""
    if occupation_id is not None and occupation_id == wanted:
        return "same"
    wanted_occupation = taxonomy.occupations.get(wanted)
    if wanted_occupation is not None and ssyk is not None and wanted_occupation.ssyk == ssyk:
        return "same_group"
    if occupation_id is None:
        return None
    strength = max(
        taxonomy.substitutability(wanted, occupation_id),
        taxonomy.substitutability(occupation_id, wanted),
    )
    if strength >= 75:
        return "substitutable_high"
    if strength > 0:
        return "substitutable_low"
    return None


def _best_relation(
    wanted: tuple[str, ...],
    wanted_groups: frozenset[str],
    item: ItemFacts,
    taxonomy: Taxonomy,
) -> tuple[float, dict[str, Any]]:
    if not wanted and not wanted_groups:
        return NAN, {}
    best_level = 0.0
    best: dict[str, Any] = {}
    for occupation_id in wanted:
        relation = occupation_relation(occupation_id, item.occupation_id, item.ssyk, taxonomy)
        if relation is not None and RELATION_LEVEL[relation] > best_level:
            best_level = RELATION_LEVEL[relation]
            occupation = taxonomy.occupations.get(occupation_id)
            best = {"relation": relation, "wanted": occupation.label if occupation else ""}
    if best_level < RELATION_LEVEL["same_group"] and item.ssyk in wanted_groups:
        best_level = RELATION_LEVEL["same_group"]
        best = {"relation": "same_group", "wanted": taxonomy.groups[item.ssyk].label}
    if best:
        group = taxonomy.groups.get(item.ssyk or "")
        occupation = taxonomy.occupations.get(item.occupation_id or "")
        best |= {
            "item_occupation": occupation.label if occupation else (group.label if group else ""),
            "group": group.label if group else "",
            "inferred": item.occupation_inferred,
        }
    else:
        labels = [taxonomy.occupations[o].label for o in wanted if o in taxonomy.occupations]
        labels += [taxonomy.groups[g].label for g in sorted(wanted_groups) if g in taxonomy.groups]
        best = {"relation": "none", "wanted": ", ".join(labels[:3])}
    return best_level, best


def _skills(
    participant: ParticipantFacts, item: ItemFacts, taxonomy: Taxonomy
) -> tuple[float, dict[str, Any]]:
    if not participant.skills:
        return NAN, {}
    matched = participant.skills & (item.skills | _group_skills(item.ssyk, taxonomy))
    # Skills the ad itself names are listed first: they are what the employer asks for.
    ordered = sorted(matched, key=lambda s: (s not in item.skills, taxonomy.skills[s].label))
    facts = {
        "matched": [taxonomy.skills[s].label for s in ordered[:3]],
        "count": len(matched),
    }
    return _skills_level(len(matched)), facts


def _group_skills(ssyk: str | None, taxonomy: Taxonomy) -> frozenset[str]:
    group = taxonomy.groups.get(ssyk or "")
    return frozenset(group.skill_ids) if group else frozenset()


def _skills_level(matched: int) -> float:
    return min(matched, SKILLS_SATURATE) / SKILLS_SATURATE


def _hours(participant: ParticipantFacts, item: ItemFacts) -> tuple[float, float, dict[str, Any]]:
    if participant.hours_min is None and participant.hours_max is None:
        return NAN, NAN, {}
    item_min = item.hours_min if item.hours_min is not None else item.hours_max
    item_max = item.hours_max if item.hours_max is not None else item.hours_min
    if item_min is None or item_max is None:
        return NAN, NAN, {}
    wish_min = participant.hours_min if participant.hours_min is not None else 0
    wish_max = participant.hours_max if participant.hours_max is not None else WEEK_HOURS
    overlap = min(wish_max, item_max) - max(wish_min, item_min)
    width = wish_max - wish_min
    if width > 0:
        fit = max(0.0, overlap) / width
    else:
        fit = 1.0 if item_min <= wish_min <= item_max else 0.0
    gap = max(0, item_min - wish_max, wish_min - item_max) / HOURS_GAP_UNIT
    facts = {"wish_min": wish_min, "wish_max": wish_max, "item_min": item_min, "item_max": item_max}
    return fit, gap, facts


def _schedule(participant: ParticipantFacts, item: ItemFacts) -> tuple[float, dict[str, Any]]:
    clashes = [
        name
        for name, refused, required in (
            ("evenings", participant.no_evenings, item.evenings),
            ("weekends", participant.no_weekends, item.weekends),
            ("nights", participant.no_nights, item.nights),
        )
        if refused and required
    ]
    return float(len(clashes)), {"clashes": clashes}


def _share(wanted: frozenset[str], offered: frozenset[str]) -> tuple[float, float, dict[str, Any]]:
    if not wanted:
        return NAN, NAN, {}
    met, missing = sorted(wanted & offered), sorted(wanted - offered)
    return len(met) / len(wanted), len(missing) / len(wanted), {"met": met, "missing": missing}


def _environment(participant: ParticipantFacts, item: ItemFacts) -> tuple[float, dict[str, Any]]:
    if not participant.environment:
        return NAN, {}
    matched = sorted(participant.environment & item.environment)
    facts = {"matched": matched, "wanted": sorted(participant.environment)}
    return len(matched) / len(participant.environment), facts


def _commute(participant: ParticipantFacts, item: ItemFacts) -> tuple[float, float, dict[str, Any]]:
    if participant.home is None or item.place is None:
        return NAN, NAN, {}
    limit, stated = participant.commute_limit
    km = distance_km(participant.home, item.place)
    within, over = _commute_levels(km, limit)
    return within, over, {"km": round(km, 1), "limit_km": round(limit, 1), "stated": stated}


def _commute_levels(km: float, limit: float) -> tuple[float, float]:
    """(share of the limit left, excess over the limit as a share of it, capped)."""
    return max(0.0, 1.0 - km / limit), min(MAX_COMMUTE_OVER, max(0.0, km / limit - 1.0))


def _days(item: ItemFacts, now: datetime) -> tuple[float, float]:
    """(days since publication, days to expiry or NaN), both capped."""
    published = min(MAX_DAYS_PUBLISHED, max(0.0, (now - item.published_at).days))
    if item.expires_at is None:
        return published, NAN
    return published, min(MAX_DAYS_TO_EXPIRY, max(0.0, (item.expires_at - now).days))


def _free_places(item: ItemFacts) -> float:
    return min(MAX_FREE_PLACES, float(max(0, item.free_places)))


def compute_features(
    participant: ParticipantFacts,
    item: ItemFacts,
    *,
    semantic: float,
    lexical: float,
    taxonomy: Taxonomy,
    now: datetime,
    snoozed_days_ago: int | None = None,
) -> FeatureRow:
    """All features of one (participant, item) pair, with the facts behind each."""
    facts: dict[str, dict[str, Any]] = {}
    values: dict[str, float] = {}

    values["occupation"], facts["occupation"] = _best_relation(
        participant.preferred_occupations, participant.preferred_groups, item, taxonomy
    )
    values["experience"], facts["experience"] = _best_relation(
        participant.experience_occupations, frozenset(), item, taxonomy
    )
    values["skills"], facts["skills"] = _skills(participant, item, taxonomy)

    values["environment"], facts["environment"] = _environment(participant, item)

    values["semantic"], facts["semantic"] = semantic, {"similarity": round(semantic, 3)}
    values["lexical"], facts["lexical"] = lexical, {"similarity": round(lexical, 3)}

    values["commute_within"], values["commute_over"], commute = _commute(participant, item)
    facts["commute_within"] = facts["commute_over"] = commute

    values["hours_fit"], values["hours_gap"], hours = _hours(participant, item)
    facts["hours_fit"] = facts["hours_gap"] = hours
    values["schedule_clash"], facts["schedule_clash"] = _schedule(participant, item)
    met, missing, accommodation = _share(participant.accommodations, item.accommodations)
    values["accommodation_met"], values["accommodation_missing"] = met, missing
    facts["accommodation_met"] = facts["accommodation_missing"] = accommodation

    days_published, days_left = _days(item, now)
    values["days_published"], facts["days_published"] = days_published, {"days": days_published}
    values["days_to_expiry"] = days_left
    if item.expires_at is not None:
        facts["days_to_expiry"] = {"days": days_left}
    values["free_places"] = _free_places(item)
    facts["free_places"] = {"free": item.free_places, "lane": item.lane.value}
    values["snoozed"] = 0.0 if snoozed_days_ago is None else 1.0
    if snoozed_days_ago is not None:
        facts["snoozed"] = {"days_ago": snoozed_days_ago}

    return FeatureRow(
        values=tuple(float(values[name]) for name in FEATURES),
        facts={name: fact for name, fact in facts.items() if fact},
    )


def feature_matrix(
    participant: ParticipantFacts,
    items: Sequence[ItemFacts],
    *,
    semantic: Sequence[float],
    lexical: Sequence[float],
    taxonomy: Taxonomy,
    now: datetime,
    snoozed_days_ago: Sequence[int | None],
) -> npt.NDArray[np.float64]:
    """The values `compute_features` gives each of `items` (one row each), without facts.

    Ranking needs the values of a few hundred candidates, but the facts only of the few
    shown. Candidates share occupations, skill sets, hours and schedules, so each part is
    computed once per distinct input it depends on, by the same helpers as
    `compute_features`, which stays the reference (the tests check equal values).
    """
    # What a part depends on -> its values, for the parts candidates often share.
    relations: dict[tuple[str | None, str | None], tuple[float, float]] = {}
    group_skills: dict[str | None, frozenset[str]] = {}
    environments: dict[frozenset[str], float] = {}
    hours: dict[tuple[int | None, int | None], tuple[float, float]] = {}
    schedules: dict[tuple[bool, bool, bool], float] = {}
    accommodations: dict[frozenset[str], tuple[float, float]] = {}
    home, wanted_skills = participant.home, participant.skills
    limit, _ = participant.commute_limit
    no_groups: frozenset[str] = frozenset()
    rows = []
    for position, item in enumerate(items):
        occupation = (item.occupation_id, item.ssyk)
        if occupation not in relations:
            relations[occupation] = (
                _best_relation(
                    participant.preferred_occupations, participant.preferred_groups, item, taxonomy
                )[0],
                _best_relation(participant.experience_occupations, no_groups, item, taxonomy)[0],
            )
        wished, experience = relations[occupation]
        if wanted_skills:
            if item.ssyk not in group_skills:
                group_skills[item.ssyk] = wanted_skills & _group_skills(item.ssyk, taxonomy)
            matched = (wanted_skills & item.skills) | group_skills[item.ssyk]
            skills = _skills_level(len(matched))
        else:
            skills = NAN
        if item.environment not in environments:
            environments[item.environment] = _environment(participant, item)[0]
        if home is not None and item.place is not None:
            within, over = _commute_levels(distance_km(home, item.place), limit)
        else:
            within = over = NAN
        span = (item.hours_min, item.hours_max)
        if span not in hours:
            hours[span] = _hours(participant, item)[:2]
        fit, gap = hours[span]
        schedule = (item.evenings, item.weekends, item.nights)
        if schedule not in schedules:
            schedules[schedule] = _schedule(participant, item)[0]
        if item.accommodations not in accommodations:
            accommodations[item.accommodations] = _share(
                participant.accommodations, item.accommodations
            )[:2]
        met, missing = accommodations[item.accommodations]
        published, to_expiry = _days(item, now)
        rows.append(
            (
                wished,
                experience,
                skills,
                environments[item.environment],
                semantic[position],
                lexical[position],
                within,
                over,
                fit,
                gap,
                schedules[schedule],
                met,
                missing,
                published,
                to_expiry,
                _free_places(item),
                0.0 if snoozed_days_ago[position] is None else 1.0,
            )
        )
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
