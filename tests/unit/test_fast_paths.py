"""The fast paths of suggesting give exactly what their readable references give.

`feature_matrix` (all candidates at once) against `compute_features` (one at a time), the
nearest-first taxonomy candidates with NumPy against sorting by `distance_km`, the flat
index's allowed-id search against a scan of every id, and the lexical index fitted on
distinct texts against fitting on every text. Equal means bit for bit: rankings
must not move when the engine gets faster.
"""

from __future__ import annotations

import math
import pickle
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from embeddings.index import VectorIndex
from matching.catalogue import Placed
from matching.domain import Accommodation, Lane, WorkEnvironment
from matching.features import (
    FEATURES,
    ItemFacts,
    ParticipantFacts,
    Place,
    compute_features,
    distance_km,
    feature_matrix,
)
from matching.lexical import CharNgramIndex, fit_tfidf, normalise
from matching.service import _nearest
from matching.settings import Settings
from matching.taxonomy import Taxonomy, load_taxonomy

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
WAREHOUSE = "DLEi_bTh_oLA"


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(Settings().taxonomy_dir)


def _related_occupations(taxonomy: Taxonomy, rng: random.Random) -> list[str]:
    """A pool where wishes and items often relate: same, same group, substitutable."""
    pool = [WAREHOUSE, *taxonomy.can_substitute_for.get(WAREHOUSE, {})]
    group = taxonomy.occupations[WAREHOUSE].ssyk
    pool += [o.id for o in taxonomy.occupations.values() if o.ssyk == group]
    pool += rng.sample(sorted(taxonomy.occupations), 40)
    return sorted(set(pool))


def _subset(rng: random.Random, values: list[str], most: int) -> frozenset[str]:
    return frozenset(rng.sample(values, rng.randint(0, most)))


def _maybe_hours(rng: random.Random) -> tuple[int | None, int | None]:
    low = rng.choice([None, 0, 8, 10, 20, 30, 40])
    high = rng.choice([None, 16, 20, 30, 40, 60])
    if low is not None and high is not None and low > high:
        low, high = high, low
    return low, high


def _place(rng: random.Random) -> Place | None:
    if rng.random() < 0.1:
        return None
    return Place(rng.uniform(58.8, 60.2), rng.uniform(17.2, 19.2))


def random_participant(taxonomy: Taxonomy, rng: random.Random) -> ParticipantFacts:
    occupations = _related_occupations(taxonomy, rng)
    skills = sorted(taxonomy.skills)
    hours_min, hours_max = _maybe_hours(rng)
    return ParticipantFacts(
        home=_place(rng),
        commute_limit_km=rng.choice([None, 5.0, 12.5, 20.0, 45.0]),
        hours_min=hours_min,
        hours_max=hours_max,
        no_evenings=rng.random() < 0.4,
        no_weekends=rng.random() < 0.4,
        no_nights=rng.random() < 0.4,
        environment=_subset(rng, [e.value for e in WorkEnvironment], 3),
        accommodations=_subset(rng, [a.value for a in Accommodation], 3),
        preferred_occupations=tuple(rng.sample(occupations, rng.randint(0, 3))),
        preferred_groups=_subset(rng, sorted(taxonomy.groups), 1),
        experience_occupations=tuple(rng.sample(occupations, rng.randint(0, 2))),
        skills=_subset(rng, skills[:300], 8),
    )


def random_items(taxonomy: Taxonomy, rng: random.Random, count: int) -> list[ItemFacts]:
    occupations = _related_occupations(taxonomy, rng)
    skills = sorted(taxonomy.skills)[:300]
    items = []
    for number in range(count):
        occupation = rng.choice([None, *occupations])
        ssyk = taxonomy.occupations[occupation].ssyk if occupation else None
        if rng.random() < 0.1:
            ssyk = rng.choice([None, *sorted(taxonomy.groups)])
        hours_min, hours_max = _maybe_hours(rng)
        published = NOW - timedelta(days=rng.uniform(-2, 400))
        expires = rng.choice([None, NOW + timedelta(days=rng.uniform(-3, 120))])
        items.append(
            ItemFacts(
                id=number + 1,
                lane=rng.choice(list(Lane)),
                title="",
                occupation_id=occupation,
                ssyk=ssyk,
                occupation_inferred=rng.random() < 0.3,
                skills=_subset(rng, skills, 6),
                place=_place(rng),
                hours_min=hours_min,
                hours_max=hours_max,
                evenings=rng.random() < 0.3,
                weekends=rng.random() < 0.3,
                nights=rng.random() < 0.1,
                environment=_subset(rng, [e.value for e in WorkEnvironment], 4),
                accommodations=_subset(rng, [a.value for a in Accommodation], 4),
                published_at=published,
                expires_at=expires,
                free_places=rng.randint(-1, 8),
            )
        )
    return items


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_feature_matrix_gives_the_values_of_compute_features(taxonomy: Taxonomy, seed: int) -> None:
    rng = random.Random(seed)
    participant = random_participant(taxonomy, rng)
    items = random_items(taxonomy, rng, rng.randint(0, 60))
    # Repeat some items' inputs under another id: the fast path shares work between them.
    items += [replace(i, id=1000 + n) for n, i in enumerate(items[:10])]
    semantic = [float(np.float32(rng.uniform(-0.2, 0.9))) for _ in items]
    lexical = [float(np.float32(rng.uniform(0, 0.7))) for _ in items]
    snoozed = [rng.choice([None, None, 3]) for _ in items]
    fast = feature_matrix(
        participant,
        items,
        semantic=semantic,
        lexical=lexical,
        taxonomy=taxonomy,
        now=NOW,
        snoozed_days_ago=snoozed,
    )
    reference = np.array(
        [
            compute_features(
                participant,
                item,
                semantic=semantic[n],
                lexical=lexical[n],
                taxonomy=taxonomy,
                now=NOW,
                snoozed_days_ago=snoozed[n],
            ).values
            for n, item in enumerate(items)
        ],
        dtype=np.float64,
    ).reshape(len(items), len(FEATURES))
    assert fast.shape == reference.shape
    assert fast.tobytes() == reference.tobytes()


def test_feature_matrix_covers_every_feature_on_a_related_pair(taxonomy: Taxonomy) -> None:
    """A case where no value is NaN, so no column can hide behind NaN == NaN."""
    participant = ParticipantFacts(
        home=Place(59.2, 17.6),
        commute_limit_km=None,
        hours_min=20,
        hours_max=30,
        no_evenings=True,
        no_weekends=False,
        no_nights=False,
        environment=frozenset({"team"}),
        accommodations=frozenset({"mentor", "quiet_workplace"}),
        preferred_occupations=(WAREHOUSE,),
        preferred_groups=frozenset(),
        experience_occupations=(WAREHOUSE,),
        skills=frozenset(taxonomy.groups["4322"].skill_ids[:3]),
    )
    item = ItemFacts(
        id=7,
        lane=Lane.JOBS,
        title="Lagerarbetare",
        occupation_id=WAREHOUSE,
        ssyk="4322",
        occupation_inferred=False,
        skills=frozenset(),
        place=Place(59.3, 17.9),
        hours_min=25,
        hours_max=40,
        evenings=True,
        weekends=False,
        nights=False,
        environment=frozenset({"team", "physical"}),
        accommodations=frozenset({"mentor"}),
        published_at=NOW - timedelta(days=4),
        expires_at=NOW + timedelta(days=9),
        free_places=2,
    )
    fast = feature_matrix(
        participant,
        [item],
        semantic=[0.5],
        lexical=[0.25],
        taxonomy=taxonomy,
        now=NOW,
        snoozed_days_ago=[2],
    )
    row = compute_features(
        participant,
        item,
        semantic=0.5,
        lexical=0.25,
        taxonomy=taxonomy,
        now=NOW,
        snoozed_days_ago=2,
    )
    assert not any(math.isnan(v) for v in row.values)
    assert fast[0].tolist() == list(row.values)


def reference_nearest(places: dict[int, Place | None], home: Place | None, limit: int) -> list[int]:
    """The original selection: sorted ids, then by (distance_km, id) when there is a home."""
    found = sorted(places)
    if len(found) <= limit or home is None:
        return found[:limit]

    def distance(item_id: int) -> float:
        place = places[item_id]
        return distance_km(home, place) if place is not None else math.inf

    return sorted(found, key=lambda i: (distance(i), i))[:limit]


def placed(places: dict[int, Place | None]) -> Placed:
    ids = list(places)
    return Placed(
        ids=np.array(ids, dtype=np.int64),
        lat=np.array([p.lat if p else np.nan for p in places.values()], dtype=np.float64),
        lon=np.array([p.lon if p else np.nan for p in places.values()], dtype=np.float64),
    )


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    count=st.integers(min_value=0, max_value=400),
    limit=st.integers(min_value=1, max_value=120),
)
def test_nearest_with_arrays_picks_what_sorting_by_distance_picks(
    seed: int, count: int, limit: int
) -> None:
    rng = random.Random(seed)
    shared = [Place(rng.uniform(59.0, 59.6), rng.uniform(17.5, 18.6)) for _ in range(5)]
    ids = rng.sample(range(1, 100_000), count)
    places: dict[int, Place | None] = {}
    for item_id in ids:
        roll = rng.random()
        # Many items at the very same place (an employer's address) and a few unknown.
        places[item_id] = (
            None
            if roll < 0.05
            else rng.choice(shared)
            if roll < 0.5
            else Place(rng.uniform(58.8, 60.2), rng.uniform(17.2, 19.2))
        )
    home = rng.choice([None, shared[0], Place(59.33, 18.06)])
    assert _nearest(placed(places), home, limit) == reference_nearest(places, home, limit)


def test_allowed_id_search_equals_a_scan_of_every_id() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(500, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.permutation(np.arange(10, 10_010))[:500]
    index = VectorIndex.build(ids, vectors, [str(i) for i in ids], dimension=24)

    def check(allowed: list[int]) -> None:
        query = rng.normal(size=(1, 24)).astype(np.float32)
        found, scores = index.search(query, len(allowed), allowed_ids=allowed)
        # The scan it replaces: every stored id tested for membership, rows in storage order.
        stored_vectors, stored_ids = index._flat_storage()
        rows = np.flatnonzero(np.isin(stored_ids, np.asarray(allowed)))
        expected = (query @ stored_vectors[rows].T)[0]
        best = sorted(range(len(rows)), key=lambda n: (-expected[n], n))
        assert found[0][: len(rows)].tolist() == stored_ids[rows][best].tolist()
        assert (found[0][len(rows) :] == -1).all()
        assert scores[0][: len(rows)].tobytes() == expected[best].tobytes()

    check(rng.choice(ids, 60, replace=False).tolist())
    check([*rng.choice(ids, 30, replace=False).tolist(), 5, 99_999, int(ids[0]), int(ids[0])])
    # After changes the rows move: the lookup must follow.
    index.remove(ids[:100])
    fresh = rng.normal(size=(60, 24)).astype(np.float32)
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    index.upsert(ids[200:260], fresh, [f"{i}-v2" for i in ids[200:260]])
    check([*ids[:20].tolist(), *rng.choice(ids[100:], 80, replace=False).tolist()])


def test_remembered_query_vectors_follow_the_vocabulary() -> None:
    texts = ["Lagerarbete och truckkörning.", "Barista till café.", "Städare till kontor."]
    index = CharNgramIndex()
    index.build([1, 2, 3], texts)
    first = index.vectorise("Vill jobba på lager med truck")
    again = index.vectorise("  vill JOBBA på lager med truck ")  # the same once normalised
    assert first is not None
    assert again is not None
    assert (first != again).nnz == 0
    # A rebuild fits a new vocabulary: a remembered vector of the old one would be wrong.
    index.build([1, 4], [texts[0], "Truckförare på lager, nattskift och lagerarbete."])
    rebuilt = index.vectorise("Vill jobba på lager med truck")
    assert rebuilt is not None
    fresh = CharNgramIndex()
    fresh.build([1, 4], [texts[0], "Truckförare på lager, nattskift och lagerarbete."])
    expected = fresh.vectorise("Vill jobba på lager med truck")
    assert expected is not None
    assert rebuilt.shape == expected.shape
    assert (rebuilt != expected).nnz == 0
    assert rebuilt.shape != first.shape


def test_fitting_distinct_texts_once_gives_what_fitting_every_text_gives() -> None:
    rng = random.Random(5)
    words = ["lager", "truckkörning", "städning", "café", "kassa", "lagerarbetare", "kök", "disk"]
    distinct = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(40)]
    texts = [normalise(rng.choice(distinct)) for _ in range(200)]  # most texts repeat
    vectorizer, distinct, rows = fit_tfidf(texts)
    assert distinct.shape[0] == len(set(texts))  # each distinct text is stored once
    matrix = distinct[rows]
    reference = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), lowercase=True, sublinear_tf=True, dtype=np.float32
    )
    expected = reference.fit_transform(texts).tocsr()
    assert vectorizer.vocabulary_ == reference.vocabulary_
    assert vectorizer.idf_.tobytes() == reference.idf_.tobytes()
    for name in ("indptr", "indices", "data"):
        assert getattr(matrix, name).tobytes() == getattr(expected, name).tobytes()
    query = ["vill jobba med lagerarbete och truck", "okända ord qqq"]
    got, want = vectorizer.transform(query), reference.transform(query)
    for name in ("indptr", "indices", "data"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes()


def test_an_update_in_place_searches_like_a_fresh_build() -> None:
    rng = np.random.default_rng(11)

    def unit(rows: int) -> np.ndarray:
        vectors = rng.normal(size=(rows, 16)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    ids = np.arange(100, 400)
    vectors = unit(len(ids))
    index = VectorIndex.build(ids, vectors, [f"{i}" for i in ids], dimension=16)
    changed = rng.choice(ids, 40, replace=False)
    added = np.arange(1000, 1010)
    batch_ids = np.concatenate([changed, added])
    batch = unit(len(batch_ids))
    index.upsert(batch_ids, batch, [f"{i}-v2" for i in batch_ids])

    final = dict(zip(ids.tolist(), vectors, strict=True))
    final.update(zip(batch_ids.tolist(), batch, strict=True))
    fresh_ids = sorted(final)
    fresh = VectorIndex.build(
        fresh_ids, np.stack([final[i] for i in fresh_ids]), ["" for _ in fresh_ids], dimension=16
    )
    assert len(index) == len(fresh_ids)
    assert index.content_hashes()[int(changed[0])] == f"{changed[0]}-v2"
    for query in [*batch[:5], *unit(5)]:
        found, scores = index.search(query, 20)
        expected, expected_scores = fresh.search(query, 20)
        assert found.tolist() == expected.tolist()
        assert scores.tobytes() == expected_scores.tobytes()
    allowed = [*changed[:10].tolist(), *added[:3].tolist(), int(ids[0])]
    found, _ = index.search(batch[0], len(allowed), allowed_ids=allowed)
    assert sorted(found[0].tolist()) == sorted(allowed)


def _reference_matrix(
    participant: ParticipantFacts,
    items: list[ItemFacts],
    taxonomy: Taxonomy,
    now: datetime,
    snoozed: list[int | None],
) -> np.ndarray:
    return np.array(
        [
            compute_features(
                participant,
                item,
                semantic=0.25 + n / 1000,
                lexical=0.5 - n / 1000,
                taxonomy=taxonomy,
                now=now,
                snoozed_days_ago=snoozed[n],
            ).values
            for n, item in enumerate(items)
        ],
        dtype=np.float64,
    ).reshape(len(items), len(FEATURES))


def _fast_matrix(
    participant: ParticipantFacts,
    items: list[ItemFacts],
    taxonomy: Taxonomy,
    now: datetime,
    snoozed: list[int | None],
) -> np.ndarray:
    return feature_matrix(
        participant,
        items,
        semantic=[0.25 + n / 1000 for n in range(len(items))],
        lexical=[0.5 - n / 1000 for n in range(len(items))],
        taxonomy=taxonomy,
        now=now,
        snoozed_days_ago=snoozed,
    )


def _edge_items(now: datetime) -> list[ItemFacts]:
    """Items at the edges of every numeric input: missing, one-sided, boundaries, far away."""
    base = ItemFacts(
        id=1,
        lane=Lane.JOBS,
        title="",
        occupation_id=WAREHOUSE,
        ssyk="4322",
        occupation_inferred=False,
        skills=frozenset(),
        place=Place(59.3, 17.9),
        hours_min=20,
        hours_max=40,
        evenings=False,
        weekends=True,
        nights=False,
        environment=frozenset({"team"}),
        accommodations=frozenset(),
        published_at=now - timedelta(days=3),
        expires_at=now + timedelta(days=5),
        free_places=1,
    )
    second, day = timedelta(microseconds=1), timedelta(days=1)
    changes: list[dict[str, object]] = [
        {"hours_min": None},
        {"hours_max": None},
        {"hours_min": None, "hours_max": None},
        {"hours_min": 40, "hours_max": 40},
        {"hours_min": 0, "hours_max": 80},
        {"hours_min": 31, "hours_max": 35},
        {"hours_max": 30},
        {"hours_min": 30},
        {"place": None},
        {"place": Place(59.2, 17.6)},  # the participant's home: 0 km
        {"place": Place(90.0, 0.0)},
        {"place": Place(-90.0, 180.0)},
        {"place": Place(-59.2, -162.4)},  # the antipode of home
        {"place": Place(44.0875753669041, 178.35663135409874)},  # see the participants
        {"place": Place(60, 18)},  # integer coordinates
        {"place": Place(math.nan, 17.9)},  # no distance the columns can compute
        {"expires_at": None},
        {"published_at": now},
        {"published_at": now + second},
        {"published_at": now - second},
        {"published_at": now - day + second},
        {"published_at": now - day},
        {"published_at": now + 2 * day},
        {"published_at": now - 365 * day - second},
        {"published_at": now - 400 * day},
        {"expires_at": now},
        {"expires_at": now - second},
        {"expires_at": now + day - second},
        {"expires_at": now + day},
        {"expires_at": now - 10 * day},
        {"expires_at": now + 200 * day},
        {"free_places": -3},
        {"free_places": 0},
        {"free_places": 12},
        {"evenings": True, "weekends": True, "nights": True},
        {"evenings": False, "weekends": False, "nights": False},
        {"occupation_id": None},
        {"occupation_id": None, "ssyk": None},
        {"ssyk": None},
        {"environment": frozenset()},
        {"accommodations": frozenset({"mentor", "quiet_workplace"})},
        {"skills": frozenset({"no such skill"})},
    ]
    return [base] + [replace(base, id=n + 2, **c) for n, c in enumerate(changes)]  # type: ignore[arg-type]


def _edge_participants(taxonomy: Taxonomy) -> list[ParticipantFacts]:
    base = ParticipantFacts(
        home=Place(59.2, 17.6),
        commute_limit_km=12.5,
        hours_min=20,
        hours_max=30,
        no_evenings=True,
        no_weekends=True,
        no_nights=False,
        environment=frozenset({"team", "physical"}),
        accommodations=frozenset({"mentor"}),
        preferred_occupations=(WAREHOUSE,),
        preferred_groups=frozenset({"5120"}),
        experience_occupations=("no such occupation",),
        skills=frozenset(taxonomy.groups["4322"].skill_ids[:2]),
    )
    changes: list[dict[str, object]] = [
        {"home": None},
        {"commute_limit_km": None},
        {"home": Place(-90.0, 0.0)},
        # Nearly opposite an item: the haversine's h comes out just above 1.
        {"home": Place(-44.0875753669041, -1.6433686469012514)},
        {"hours_min": None},
        {"hours_max": None},
        {"hours_min": None, "hours_max": None},
        {"hours_min": 30, "hours_max": 30},  # no width: fit is in or out
        {"hours_min": 35, "hours_max": 25},
        {"environment": frozenset(), "accommodations": frozenset(), "skills": frozenset()},
        {"preferred_occupations": (), "preferred_groups": frozenset()},
        {"preferred_occupations": (), "experience_occupations": ()},
        {"no_evenings": False, "no_weekends": False, "no_nights": True},
        {"hours_min": 20.5},  # not an integer: the reference helpers take it
        {"home": Place(math.nan, 17.6)},
    ]
    return [base] + [replace(base, **c) for c in changes]  # type: ignore[arg-type]


@pytest.mark.parametrize("zone", [UTC, None], ids=["utc", "naive"])
def test_feature_matrix_on_the_edges_of_every_input(
    taxonomy: Taxonomy, zone: tzinfo | None
) -> None:
    now = NOW.replace(tzinfo=zone)
    items = _edge_items(now)
    snoozed: list[int | None] = [None if n % 3 else n for n in range(len(items))]
    for participant in _edge_participants(taxonomy):
        fast = _fast_matrix(participant, items, taxonomy, now, snoozed)
        reference = _reference_matrix(participant, items, taxonomy, now, snoozed)
        assert fast.tobytes() == reference.tobytes(), participant


def test_feature_matrix_takes_other_time_zones_item_by_item(taxonomy: Taxonomy) -> None:
    """Dates in another zone, or a wall clock with summer time, count as the reference does."""
    participant = _edge_participants(taxonomy)[0]
    stockholm = ZoneInfo("Europe/Stockholm")
    plus_two = timezone(timedelta(hours=2))
    items = _edge_items(NOW)
    items += [
        replace(items[0], id=100, published_at=NOW.astimezone(plus_two) - timedelta(days=2)),
        replace(items[0], id=101, expires_at=NOW.astimezone(stockholm) + timedelta(days=1)),
        replace(items[0], id=102, published_at=datetime(2026, 3, 28, 23, 30, tzinfo=stockholm)),
    ]
    snoozed: list[int | None] = [None] * len(items)
    for now in (NOW, NOW.astimezone(stockholm), datetime(2026, 3, 29, 23, 10, tzinfo=stockholm)):
        fast = _fast_matrix(participant, items, taxonomy, now, snoozed)
        assert (
            fast.tobytes()
            == _reference_matrix(participant, items, taxonomy, now, snoozed).tobytes()
        )


def test_feature_matrix_refuses_what_the_reference_refuses(taxonomy: Taxonomy) -> None:
    participant = _edge_participants(taxonomy)[0]
    naive = replace(_edge_items(NOW)[0], published_at=NOW.replace(tzinfo=None))
    with pytest.raises(TypeError):
        _reference_matrix(participant, [naive], taxonomy, NOW, [None])
    with pytest.raises(TypeError):
        _fast_matrix(participant, [naive], taxonomy, NOW, [None])
    endless = replace(_edge_items(NOW)[0], place=Place(59.3, math.inf))
    with pytest.raises(ValueError, match="math domain error"):
        _reference_matrix(participant, [endless], taxonomy, NOW, [None])
    with pytest.raises(ValueError, match="math domain error"):
        _fast_matrix(participant, [endless], taxonomy, NOW, [None])
    # Without a home no distance is measured, by either.
    homeless = replace(participant, home=None)
    assert (
        _fast_matrix(homeless, [endless], taxonomy, NOW, [None]).tobytes()
        == _reference_matrix(homeless, [endless], taxonomy, NOW, [None]).tobytes()
    )


def test_feature_matrix_follows_changed_and_copied_items(taxonomy: Taxonomy) -> None:
    """What an item keeps for the matrix is its own: a changed copy is a new item."""
    participant = _edge_participants(taxonomy)[0]
    items = _edge_items(NOW)[:4]
    snoozed: list[int | None] = [None] * len(items)
    first = _fast_matrix(participant, items, taxonomy, NOW, snoozed)
    changed = [replace(i, hours_min=33, place=Place(59.4, 18.1), free_places=4) for i in items]
    copied = [pickle.loads(pickle.dumps(i)) for i in changed]
    for group in (changed, copied):
        again = _fast_matrix(participant, group, taxonomy, NOW, snoozed)
        assert (
            again.tobytes()
            == _reference_matrix(participant, group, taxonomy, NOW, snoozed).tobytes()
        )
        assert again.tobytes() != first.tobytes()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_feature_matrix_anywhere_on_earth_and_at_any_time(taxonomy: Taxonomy, seed: int) -> None:
    """Places all over the globe and dates a microsecond either side of whole days."""
    rng = random.Random(seed)
    participant = replace(
        random_participant(taxonomy, rng),
        home=rng.choice([None, Place(rng.uniform(-90, 90), rng.uniform(-180, 180))]),
    )
    items = []
    for item in random_items(taxonomy, rng, rng.randint(1, 40)):
        step = timedelta(microseconds=rng.choice([-1, 0, 1]))
        items.append(
            replace(
                item,
                place=rng.choice([None, Place(rng.uniform(-90, 90), rng.uniform(-180, 180))]),
                published_at=NOW - timedelta(days=rng.randint(-3, 400)) + step,
                expires_at=rng.choice([None, NOW + timedelta(days=rng.randint(-3, 100)) - step]),
            )
        )
    snoozed: list[int | None] = [rng.choice([None, 1]) for _ in items]
    fast = _fast_matrix(participant, items, taxonomy, NOW, snoozed)
    assert fast.tobytes() == _reference_matrix(participant, items, taxonomy, NOW, snoozed).tobytes()
