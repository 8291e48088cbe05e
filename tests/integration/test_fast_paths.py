"""The catalogue's per-group place arrays stay equal to its entries through build and refresh.

Taxonomy candidates are picked nearest-first from these arrays; if they lagged behind a
change (an opening moved, re-coded to another group, closed), suggestions would include
stale items or miss new ones.
"""

from __future__ import annotations

import math

from sqlalchemy.orm import Session, sessionmaker

from matching.catalogue import ItemCatalogue
from matching.concepts import recogniser_for
from matching.db.models import Opening
from matching.domain import Lane, OpeningStatus
from matching.geo import municipality_centroids
from matching.settings import Settings
from matching.taxonomy import load_taxonomy
from tests import factories as f

GROUPS = ("4322", "9111", "8344")


def assert_arrays_match_entries(catalogue: ItemCatalogue) -> None:
    for groups in [GROUPS, GROUPS[:1], GROUPS[1:]]:
        placed = catalogue.places_in_groups(groups)
        expected = catalogue.ids_in_groups(groups)
        assert sorted(placed.ids.tolist()) == sorted(expected)
        for item_id, lat, lon in zip(
            placed.ids.tolist(), placed.lat.tolist(), placed.lon.tolist(), strict=True
        ):
            entry = catalogue.get(item_id)
            assert entry is not None
            place = entry.facts.place
            if place is None:
                assert math.isnan(lat)
                assert math.isnan(lon)
            else:
                assert (lat, lon) == (place.lat, place.lon)


def jobs_catalogue() -> ItemCatalogue:
    settings = Settings()
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    return ItemCatalogue(
        Lane.JOBS,
        taxonomy=taxonomy,
        recogniser=recogniser_for(taxonomy),
        centroids=municipality_centroids(settings.geo_dir),
    )


def test_place_arrays_follow_build_and_refresh(session_factory: sessionmaker[Session]) -> None:
    catalogue = jobs_catalogue()
    with session_factory.begin() as session:
        employer = f.make_employer(session).id
        warehouse = [f.make_opening(session, employer_id=employer).id for _ in range(4)]
        cleaning = f.make_opening(
            session,
            employer_id=employer,
            title="Städare",
            occupation_id="KF64_AvU_S4N",
            occupation_label="Städare",
            ssyk_code="9111",
            lat=None,
            lon=None,
            municipality="Huddinge",
        ).id
        unplaced = f.make_opening(
            session,
            employer_id=employer,
            title="Städare",
            occupation_id="KF64_AvU_S4N",
            occupation_label="Städare",
            ssyk_code="9111",
            lat=None,
            lon=None,
            municipality=None,
        ).id
    with session_factory() as session:
        catalogue.build(session)
    assert_arrays_match_entries(catalogue)
    assert catalogue.get(cleaning) is not None
    assert set(catalogue.places_in_groups(["9111"]).ids.tolist()) == {cleaning, unplaced}

    with session_factory.begin() as session:
        moved = session.get(Opening, warehouse[0])
        assert moved is not None
        moved.lat, moved.lon = 59.33, 18.06
        recoded = session.get(Opening, warehouse[1])
        assert recoded is not None
        recoded.occupation_id, recoded.ssyk_code = "GQSf_fnq_kjF", "8344"
        closed = session.get(Opening, warehouse[2])
        assert closed is not None
        closed.status = OpeningStatus.CLOSED
        added = f.make_opening(session, employer_id=employer, lat=59.4, lon=17.9).id
    with session_factory() as session:
        catalogue.refresh(session, [warehouse[0], warehouse[1], warehouse[2], added])
    assert_arrays_match_entries(catalogue)
    assert set(catalogue.places_in_groups(["4322"]).ids.tolist()) == {
        warehouse[0],
        warehouse[3],
        added,
    }
    assert catalogue.places_in_groups(["8344"]).ids.tolist() == [warehouse[1]]
    assert catalogue.places_in_groups(["1111"]).ids.tolist() == []


def test_a_build_analyses_repeated_texts_as_each_item_alone(
    session_factory: sessionmaker[Session],
) -> None:
    """The build analyses each distinct text once; every entry equals its own analysis."""
    catalogue = jobs_catalogue()
    uncoded = {"occupation_id": None, "occupation_label": None, "ssyk_code": None}
    texts = [
        {"title": "Lagerarbetare", "description": "Plock, pack och truckkörning på lagret."},
        {"title": "Städare", "description": "Städning av kontor på kvällar.", **uncoded},
        {"title": "Kock", "description": "Matlagning i ett storkök, även disk.", **uncoded},
    ]
    with session_factory.begin() as session:
        employer = f.make_employer(session).id
        ids = [
            f.make_opening(
                session,
                employer_id=employer,
                lat=59.2 + number / 100,
                positions=1 + number % 3,
                **texts[number % len(texts)],
            ).id
            for number in range(12)
        ]
    with session_factory() as session:
        catalogue.build(session)
        for item_id in ids:
            opening = session.get(Opening, item_id)
            assert opening is not None
            assert catalogue.get(item_id) == catalogue.analyse(opening)
    guessed = catalogue.get(ids[1])
    assert guessed is not None
    assert guessed.facts.occupation_inferred
