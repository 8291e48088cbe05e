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

import contextlib
import math
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from matching.domain import Lane
from matching.taxonomy import SsykGroup, Taxonomy

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


def _relation_levels(
    wanted: tuple[str, ...],
    wanted_groups: frozenset[str],
    keys: Sequence[tuple[str | None, str | None]],
    taxonomy: Taxonomy,
) -> list[float]:
    """`_best_relation`'s value for items of each (occupation id, SSYK group) in `keys`.

    The same relations as `occupation_relation`, the best one for each key, without going
    through every wish for every key: the relations are ranked as their levels are, so the
    best level is the highest one any wish reaches.
    """
    if not wanted and not wanted_groups:
        return [NAN] * len(keys)
    same = set(wanted)
    same_group = {
        occupation.ssyk
        for occupation_id in wanted
        if (occupation := taxonomy.occupations.get(occupation_id)) is not None
        and occupation.ssyk is not None
    }
    # `taxonomy.substitutability` both ways, the strongest over the wishes: the best
    # substitutable relation is the one of the strongest edge.
    substitutes = taxonomy.can_substitute_for
    towards: dict[str, int] = {}
    for other in wanted:
        for substitute, strength in substitutes.get(other, {}).items():
            if strength > towards.get(substitute, 0):
                towards[substitute] = strength
    high, low = RELATION_LEVEL["substitutable_high"], RELATION_LEVEL["substitutable_low"]
    group_level = RELATION_LEVEL["same_group"]
    levels = []
    for occupation_id, ssyk in keys:
        level = 0.0
        if occupation_id is not None:
            if occupation_id in same:
                level = RELATION_LEVEL["same"]
            else:
                strength = towards.get(occupation_id, 0)
                back = substitutes.get(occupation_id)
                if back:
                    for other in wanted:
                        strength = max(strength, back.get(other, 0))
                if strength >= 75:
                    level = high
                elif strength > 0:
                    level = low
        if level < group_level and (ssyk in same_group or ssyk in wanted_groups):
            level = group_level
        levels.append(level)
    return levels


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
    shown, on every request. So each item packs its numeric inputs once (`_item_record`,
    kept on the item), and the features are computed column by column with NumPy, with
    only operations that round as the reference's Python arithmetic does (IEEE arithmetic
    and square roots; the trigonometry and powers of the distance are `math`'s, element by
    element). The taxonomy parts are computed once per distinct occupation, group or set
    among the candidates. `compute_features` stays the reference: the tests check equal
    values, bit for bit. Inputs the columns do not take (odd types, time zones other than
    UTC, coordinates off the globe) go through its helpers one item at a time.
    """
    count = len(items)
    now_kind = _date_kind(now)
    limit, _ = participant.commute_limit
    if (
        not count
        or not now_kind
        or not _plain_participant(participant, limit)
        or len(semantic) != count
        or len(lexical) != count
        or len(snoozed_days_ago) != count
    ):
        return _feature_rows(
            participant,
            items,
            semantic=semantic,
            lexical=lexical,
            taxonomy=taxonomy,
            now=now,
            snoozed_days_ago=snoozed_days_ago,
        )
    columns = np.frombuffer(
        b"".join([getattr(item, _RECORD_ATTRIBUTE, None) or _item_record(item) for item in items]),
        dtype=_RECORD_DTYPE,
    )
    flags = columns["flags"]
    out = np.empty((count, len(FEATURES)), dtype=np.float64)
    by_item = (flags & (_BY_ITEM | now_kind)) != now_kind

    # The taxonomy parts once per distinct (occupation, group) of the candidates.
    occupations = _OCCUPATION_KEYS.distinct(columns["occupation"])
    keys = [key for _, key in occupations]
    wished = _relation_levels(
        participant.preferred_occupations, participant.preferred_groups, keys, taxonomy
    )
    experience = _relation_levels(participant.experience_occupations, frozenset(), keys, taxonomy)
    out[:, _OCCUPATION : _EXPERIENCE + 1] = _OCCUPATION_KEYS.spread(
        columns["occupation"], occupations, list(zip(wished, experience, strict=True))
    )

    wanted = participant.skills
    if wanted:
        ssyks = {ssyk for _, ssyk in keys}
        groups = {ssyk: wanted & _group_skill_set(ssyk, taxonomy) for ssyk in ssyks}
        matched = np.array([len(wanted & i.skills | groups[i.ssyk]) for i in items])
        out[:, _SKILLS] = np.minimum(matched, SKILLS_SATURATE) / SKILLS_SATURATE
    else:
        out[:, _SKILLS] = NAN

    environment = participant.environment
    if environment:
        offered = _SETS.distinct(columns["environment"])
        shared = [len(environment & value) for _, value in offered]
        out[:, _ENVIRONMENT] = _SETS.spread(columns["environment"], offered, shared) / len(
            environment
        )
    else:
        out[:, _ENVIRONMENT] = NAN

    out[:, _SEMANTIC] = semantic
    out[:, _LEXICAL] = lexical
    _commute_columns(participant.home, limit, columns, out, by_item)
    _hours_columns(participant, columns, out)

    out[:, _SCHEDULE] = (
        columns["evenings"] * (1.0 if participant.no_evenings else 0.0)
        + columns["weekends"] * (1.0 if participant.no_weekends else 0.0)
        + columns["nights"] * (1.0 if participant.no_nights else 0.0)
    )

    needs = participant.accommodations
    if needs:
        offered = _SETS.distinct(columns["accommodations"])
        met = _SETS.spread(columns["accommodations"], offered, [len(needs & v) for _, v in offered])
        out[:, _ACCOMMODATION_MET] = met / len(needs)
        out[:, _ACCOMMODATION_MISSING] = (len(needs) - met) / len(needs)
    else:
        out[:, _ACCOMMODATION_MET : _ACCOMMODATION_MISSING + 1] = NAN

    # `timedelta.days` is the floor of the span in days: integer floor division agrees.
    now_us = _micros(now)
    published = (now_us - columns["published"]) // _DAY_US
    out[:, _DAYS_PUBLISHED] = np.clip(published, 0.0, MAX_DAYS_PUBLISHED)
    left = (columns["expires"] - now_us) // _DAY_US
    out[:, _DAYS_TO_EXPIRY] = np.where(
        flags & _EXPIRES, np.clip(left, 0.0, MAX_DAYS_TO_EXPIRY), NAN
    )
    out[:, _FREE_PLACES] = columns["free"]
    out[:, _SNOOZED] = [days is not None for days in snoozed_days_ago]

    if by_item.any():
        positions = np.flatnonzero(by_item).tolist()
        out[positions] = _feature_rows(
            participant,
            [items[p] for p in positions],
            semantic=[semantic[p] for p in positions],
            lexical=[lexical[p] for p in positions],
            taxonomy=taxonomy,
            now=now,
            snoozed_days_ago=[snoozed_days_ago[p] for p in positions],
        )
    return out


# --- the columnar path's per-item records ---------------------------------------------------

(
    _OCCUPATION,
    _EXPERIENCE,
    _SKILLS,
    _ENVIRONMENT,
    _SEMANTIC,
    _LEXICAL,
    _COMMUTE_WITHIN,
    _COMMUTE_OVER,
    _HOURS_FIT,
    _HOURS_GAP,
    _SCHEDULE,
    _ACCOMMODATION_MET,
    _ACCOMMODATION_MISSING,
    _DAYS_PUBLISHED,
    _DAYS_TO_EXPIRY,
    _FREE_PLACES,
    _SNOOZED,
) = range(len(FEATURES))

#: Where an item keeps its packed record (set once, on first use; items are immutable).
_RECORD_ATTRIBUTE = "_feature_record"
#: hours (after the one-sided fallback), schedule flags, radians of the latitude and the
#: longitude, cosine of the latitude, free-places value; microseconds of the dates; flags
#: below; codes of the (occupation, group) key, the environment and the accommodations.
_RECORD = struct.Struct("<9d6q")
_RECORD_DTYPE = np.dtype(
    [
        ("hours_min", "<f8"),
        ("hours_max", "<f8"),
        ("evenings", "<f8"),
        ("weekends", "<f8"),
        ("nights", "<f8"),
        ("lat", "<f8"),
        ("lon", "<f8"),
        ("cos_lat", "<f8"),
        ("free", "<f8"),
        ("published", "<i8"),
        ("expires", "<i8"),
        ("flags", "<i8"),
        ("occupation", "<i8"),
        ("environment", "<i8"),
        ("accommodations", "<i8"),
    ]
)
assert _RECORD_DTYPE.itemsize == _RECORD.size
_PLACED, _HOURS, _EXPIRES, _BY_ITEM = 1, 2, 4, 8
#: The kind of the item's dates: the columnar days need `now` of the same kind.
_NAIVE, _UTC = 16, 32
_DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_INT_LIMIT = 2**31
_EARTH_DIAMETER_KM = 2 * 6371.0088


_K = TypeVar("_K")


class _Codes(Generic[_K]):
    """Small integer codes for values items share, given once per value for the process.

    Items keep the codes of their (occupation, group) and of their sets in their records, so
    a request finds the distinct values among its candidates with NumPy. Only values of
    items are coded: occupations and groups of the taxonomy, sets of the fixed vocabularies
    of work environments and accommodations.
    """

    def __init__(self) -> None:
        self._codes: dict[_K, int] = {}
        self._values: list[_K] = []
        self._lock = threading.Lock()

    def code(self, value: _K) -> int:
        code = self._codes.get(value)
        if code is None:
            with self._lock:
                code = self._codes.get(value)
                if code is None:
                    code = len(self._values)
                    self._values.append(value)
                    self._codes[value] = code
        return code

    def distinct(self, codes: npt.NDArray[np.int64]) -> list[tuple[int, _K]]:
        """The distinct codes among `codes`, with their values."""
        seen = np.zeros(len(self._values), dtype=np.bool_)
        seen[codes] = True
        values = self._values
        return [(code, values[code]) for code in np.flatnonzero(seen).tolist()]

    def spread(
        self,
        codes: npt.NDArray[np.int64],
        distinct: list[tuple[int, _K]],
        results: Sequence[float] | Sequence[tuple[float, ...]],
    ) -> npt.NDArray[np.float64]:
        """The results computed for `distinct` (in its order), one per entry of `codes`."""
        table = np.empty((len(self._values), *np.shape(results)[1:]), dtype=np.float64)
        table[[code for code, _ in distinct]] = results
        return table[codes]


_OCCUPATION_KEYS: _Codes[tuple[str | None, str | None]] = _Codes()
_SETS: _Codes[frozenset[str]] = _Codes()
#: `_group_skills` of each group seen, by the group's id; the group is kept with it, so the
#: id cannot pass to another object while the entry exists.
_GROUP_SKILLS: dict[int, tuple[SsykGroup, frozenset[str]]] = {}
_NO_SKILLS: frozenset[str] = frozenset()


def _group_skill_set(ssyk: str | None, taxonomy: Taxonomy) -> frozenset[str]:
    """`_group_skills`, remembered across requests (a group's skills never change)."""
    group = taxonomy.groups.get(ssyk or "")
    if group is None:
        return _NO_SKILLS
    known = _GROUP_SKILLS.get(id(group))
    if known is not None and known[0] is group:
        return known[1]
    skills = _group_skills(ssyk, taxonomy)
    if len(_GROUP_SKILLS) > 50_000:  # taxonomies loaded again and again: start afresh
        _GROUP_SKILLS.clear()
    _GROUP_SKILLS[id(group)] = (group, skills)
    return skills


def _date_kind(moment: object) -> int:
    """_NAIVE or _UTC for the datetimes the columnar days take, 0 for the others."""
    if type(moment) is not datetime:
        return 0
    if moment.tzinfo is None:
        return _NAIVE
    return _UTC if moment.tzinfo is UTC else 0


def _micros(moment: datetime) -> int:
    """Microseconds since 1970 on the wall clock (UTC for aware `_UTC` datetimes)."""
    return (moment.replace(tzinfo=None) - _EPOCH) // _MICROSECOND


def _small_int(value: object) -> bool:
    return type(value) is int and -_INT_LIMIT < value < _INT_LIMIT


def _on_globe(place: Place) -> bool:
    """Coordinates whose distances the columnar path computes as `distance_km` does."""
    lat, lon = place.lat, place.lon
    return (
        type(lat) in (float, int)
        and type(lon) in (float, int)
        and -90.0 <= lat <= 90.0
        and math.isfinite(lon)
    )


def _plain_participant(participant: ParticipantFacts, limit: float) -> bool:
    """Whether the columnar path gives the reference's values for this participant."""
    return (
        (participant.home is None or _on_globe(participant.home))
        and (type(limit) is float or _small_int(limit))
        and limit != 0
        and (participant.hours_min is None or _small_int(participant.hours_min))
        and (participant.hours_max is None or _small_int(participant.hours_max))
    )


def _item_record(item: ItemFacts) -> bytes:
    """The item's numeric inputs and the codes of its sets, packed as one `_RECORD_DTYPE` row.

    Computed once per item and kept on it (ItemFacts is immutable; the catalogue makes a
    new one whenever an item changes). Anything the columns cannot reproduce exactly marks
    the item _BY_ITEM: its row is then computed by the reference helpers.
    """
    flags = 0
    low = item.hours_min if item.hours_min is not None else item.hours_max
    high = item.hours_max if item.hours_max is not None else item.hours_min
    hours_min = hours_max = NAN
    if low is not None and high is not None:
        if _small_int(low) and _small_int(high):
            hours_min, hours_max, flags = float(low), float(high), flags | _HOURS
        else:
            flags |= _BY_ITEM
    lat = lon = cos_lat = NAN
    if item.place is not None:
        if _on_globe(item.place):
            lat, lon = math.radians(item.place.lat), math.radians(item.place.lon)
            cos_lat, flags = math.cos(lat), flags | _PLACED
        else:
            flags |= _BY_ITEM
    free = NAN
    if _small_int(item.free_places):
        free = _free_places(item)
    else:
        flags |= _BY_ITEM
    published = expires = 0
    kind = _date_kind(item.published_at)
    if kind:
        published = _micros(item.published_at)
    if item.expires_at is not None:
        if _date_kind(item.expires_at) == kind:
            expires, flags = _micros(item.expires_at), flags | _EXPIRES
        else:
            kind = 0
    record = _RECORD.pack(
        hours_min,
        hours_max,
        1.0 if item.evenings else 0.0,
        1.0 if item.weekends else 0.0,
        1.0 if item.nights else 0.0,
        lat,
        lon,
        cos_lat,
        free,
        published,
        expires,
        flags | kind,
        _OCCUPATION_KEYS.code((item.occupation_id, item.ssyk)),
        _SETS.code(item.environment),
        _SETS.code(item.accommodations),
    )
    # An instance without a __dict__ would compute it again next time.
    with contextlib.suppress(AttributeError):
        object.__setattr__(item, _RECORD_ATTRIBUTE, record)
    return record


def _commute_columns(
    home: Place | None,
    limit: float,
    columns: npt.NDArray[Any],
    out: npt.NDArray[np.float64],
    by_item: npt.NDArray[np.bool_],
) -> None:
    """commute_within and commute_over, as `_commute` gives them."""
    out[:, _COMMUTE_WITHIN : _COMMUTE_OVER + 1] = NAN
    if home is None:
        return
    placed = np.flatnonzero(columns["flags"] & _PLACED)
    if not len(placed):
        return
    count = len(placed)
    lat1, lon1 = math.radians(home.lat), math.radians(home.lon)
    lat, lon, cos_lat = columns["lat"], columns["lon"], columns["cos_lat"]
    if count < len(columns):
        lat, lon, cos_lat = lat[placed], lon[placed], cos_lat[placed]
    # `distance_km`, operation by operation: the arithmetic and the square root round
    # alike in NumPy, the trigonometry and the power come from the same `math` and `pow`.
    half_lat = ((lat - lat1) / 2).tolist()
    half_lon = ((lon - lon1) / 2).tolist()
    h = np.fromiter(map(pow, map(math.sin, half_lat), repeat(2)), np.float64, count) + (
        math.cos(lat1)
        * cos_lat
        * np.fromiter(map(pow, map(math.sin, half_lon), repeat(2)), np.float64, count)
    )
    if (h < 0).any():  # unreachable on the globe; math.sqrt would refuse it
        by_item[placed[h < 0]] = True
        h = np.maximum(h, 0.0)
    root = np.sqrt(h)
    root = np.where(root < 1.0, root, 1.0)  # min(1.0, root)
    km = _EARTH_DIAMETER_KM * np.fromiter(map(math.asin, root.tolist()), np.float64, count)
    ratio = km / limit
    within = 1.0 - ratio
    over = ratio - 1.0
    over = np.where(over > 0.0, over, 0.0)  # max(0.0, over)
    out[placed, _COMMUTE_WITHIN] = np.where(within > 0.0, within, 0.0)
    out[placed, _COMMUTE_OVER] = np.where(over < MAX_COMMUTE_OVER, over, MAX_COMMUTE_OVER)


def _hours_columns(
    participant: ParticipantFacts, columns: npt.NDArray[Any], out: npt.NDArray[np.float64]
) -> None:
    """hours_fit and hours_gap, as `_hours` gives them (small integers: exact as floats)."""
    if participant.hours_min is None and participant.hours_max is None:
        out[:, _HOURS_FIT : _HOURS_GAP + 1] = NAN
        return
    wish_min = participant.hours_min if participant.hours_min is not None else 0
    wish_max = participant.hours_max if participant.hours_max is not None else WEEK_HOURS
    low, high = columns["hours_min"], columns["hours_max"]  # NaN: no hours
    width = wish_max - wish_min
    if width > 0:
        overlap = np.minimum(high, wish_max) - np.maximum(low, wish_min)
        fit = np.where(overlap > 0, overlap, 0.0) / width
    else:
        fit = np.where((low <= wish_min) & (wish_min <= high), 1.0, 0.0)
    gap = np.maximum(np.maximum(low - wish_max, wish_min - high), 0.0) / HOURS_GAP_UNIT
    known = (columns["flags"] & _HOURS) != 0
    out[:, _HOURS_FIT] = np.where(known, fit, NAN)
    out[:, _HOURS_GAP] = np.where(known, gap, NAN)


def _feature_rows(
    participant: ParticipantFacts,
    items: Sequence[ItemFacts],
    *,
    semantic: Sequence[float],
    lexical: Sequence[float],
    taxonomy: Taxonomy,
    now: datetime,
    snoozed_days_ago: Sequence[int | None],
) -> npt.NDArray[np.float64]:
    """`feature_matrix` one item at a time: for inputs the columnar path does not take."""
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
