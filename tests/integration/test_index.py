"""The lane indexes with the real model and real FAISS, kept equal to the database.

Built from the database, changed through `LaneIndexes.refresh`, restarted from disk,
damaged on disk, searched while updated, and driven through `stegvis index`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from embeddings.cache import cached_item_vectors
from embeddings.encoder import Encoder, Vectors
from embeddings.index import (
    MANIFEST,
    IndexCorrupt,
    IndexKind,
    IndexMismatch,
    IndexParams,
    Manifest,
    StoredIndex,
)
from embeddings.lanes import LaneIndexes, LaneReport, item_text
from embeddings.texts import content_hash
from matching.db.models import ItemEmbedding, Opening, Placement
from matching.db.repositories import searchable_ids, searchable_items
from matching.domain import Lane, OpeningStatus, PlacementStatus
from matching.engine import lane_indexes as configured_indexes
from matching.settings import Settings
from tests import factories as f


class CountingEncoder(Encoder):
    """The real encoder behind a thin wrapper that records every text it encodes.

    `model_id` may be changed to stand in for another model with the same weights.
    """

    def __init__(self, inner: Encoder, *, model_id: str | None = None) -> None:
        # No super().__init__: the wrapped encoder owns the model and its lock.
        self.inner = inner
        self.model_id = model_id or inner.model_id
        self.dimension = inner.dimension
        self.encoded: list[str] = []

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> Vectors:
        self.encoded.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size, show_progress=show_progress)


@dataclass(frozen=True)
class Catalogue:
    """Ids of the rows `catalogue` creates, by what they are."""

    warehouse: int
    cleaning: int
    care: int
    park: int
    shop: int
    closed_warehouse: int
    filled_warehouse: int
    full_care: int
    cafe: int
    garden: int
    secondhand: int
    closed_cafe: int
    full_garden: int

    @property
    def searchable_openings(self) -> set[int]:
        return {self.warehouse, self.cleaning, self.care, self.park, self.shop}

    @property
    def searchable_placements(self) -> set[int]:
        return {self.cafe, self.garden, self.secondhand}


WAREHOUSE = {
    "title": "Lagerarbetare",
    "occupation_label": "Lagerarbetare/Terminalarbetare",
    "required_skills": ["Truckkort"],
    "description": "Plock och pack, truckkörning och inleverans av varor på vårt lager.",
}
CARE = {
    "title": "Vårdbiträde på äldreboende",
    "occupation_label": "Vårdbiträde",
    "required_skills": [],
    "description": "Omsorg om äldre: hjälp med måltider, promenader och hygien.",
}
CAFE = {
    "title": "Arbetsträning i café",
    "occupation_label": "Kafébiträde",
    "skills": ["Servering"],
    "activities": "Servering, disk, bakning och kassa i vårt café.",
}
GARDEN = {
    "title": "Trädgård och odling",
    "occupation_label": "Trädgårdsarbetare",
    "skills": [],
    "activities": "Odling i växthus, plantering och skötsel av trädgården.",
}


@pytest.fixture
def catalogue(session_factory: sessionmaker[Session]) -> Catalogue:
    """Five searchable openings and three searchable places, plus some that must stay out.

    The ones that must stay out read like the best matches for the queries below, so an
    index that held them would show them first.
    """
    with session_factory.begin() as session:
        return Catalogue(
            warehouse=f.make_opening(session, **WAREHOUSE).id,
            cleaning=f.make_opening(
                session,
                title="Lokalvårdare",
                occupation_label="Lokalvårdare",
                required_skills=["Städvana"],
                description="Städning av kontor, trapphus och skolor.",
            ).id,
            care=f.make_opening(session, **CARE).id,
            park=f.make_opening(
                session,
                title="Parkarbetare",
                occupation_label="Parkarbetare",
                required_skills=[],
                description="Gräsklippning, plantering och skötsel av parker och grönytor.",
                environment=["outdoors"],
            ).id,
            shop=f.make_opening(
                session,
                title="Butiksmedarbetare",
                occupation_label="Butikssäljare, dagligvaror",
                required_skills=[],
                description="Kassa, kundservice och påfyllning av varor i livsmedelsbutik.",
                positions=2,
                positions_filled=1,
            ).id,
            closed_warehouse=f.make_opening(
                session,
                **(WAREHOUSE | {"title": "Truckförare på lager"}),
                status=OpeningStatus.CLOSED,
            ).id,
            filled_warehouse=f.make_opening(session, **WAREHOUSE, status=OpeningStatus.FILLED).id,
            full_care=f.make_opening(session, **CARE, positions=2, positions_filled=2).id,
            cafe=f.make_placement(session, **CAFE).id,
            garden=f.make_placement(session, **GARDEN).id,
            secondhand=f.make_placement(
                session,
                title="Second hand-butik",
                occupation_label="Butiksbiträde",
                skills=[],
                activities="Sortering av kläder, prismärkning och försäljning i butiken.",
            ).id,
            closed_cafe=f.make_placement(session, **CAFE, status=PlacementStatus.CLOSED).id,
            full_garden=f.make_placement(session, **GARDEN, capacity=2, taken=2).id,
        )


def lane_indexes(
    folder: Path,
    encoder: Encoder,
    session_factory: sessionmaker[Session],
    params: IndexParams | None = None,
) -> LaneIndexes:
    return LaneIndexes(
        folder=folder, encoder=encoder, session_factory=session_factory, params=params
    )


def ranked(indexes: LaneIndexes, lane: Lane, text: str, k: int = 10) -> list[int]:
    """Ids best first for a query text."""
    ids, _ = indexes.search(lane, indexes.encoder.encode_one(text), k)
    return [int(i) for i in ids]


def holding_exactly(indexes: LaneIndexes, lane: Lane, text: str) -> list[int]:
    """Ids whose vector is the vector of `text` (cosine ~1): the items that have that text."""
    ids, scores = indexes.search(lane, indexes.encoder.encode_one(text), 50)
    return sorted(int(i) for i, s in zip(ids, scores, strict=True) if s > 0.9999)


def database_state(session_factory: sessionmaker[Session], lane: Lane) -> dict[int, str]:
    """Content hash of the current text of every searchable item, by id."""
    with session_factory() as session:
        return {item.id: content_hash(item_text(item)) for item in searchable_items(session, lane)}


def assert_matches_database(
    indexes: LaneIndexes, session_factory: sessionmaker[Session], lane: Lane
) -> None:
    """Ids, content hashes and vectors of the index are those of the searchable rows."""
    expected = database_state(session_factory, lane)
    with session_factory() as session:
        assert searchable_ids(session, lane) == set(expected)
        vectors = cached_item_vectors(
            session, indexes.encoder.model_id, expected.values(), indexes.encoder.dimension
        )
    index = indexes.stored(lane).index
    assert index.content_hashes() == expected
    # The FAISS side, not just the id bookkeeping: a full search returns exactly these ids.
    found, _ = index.search(np.ones((1, index.dimension), dtype=np.float32), len(expected) + 5)
    assert set(found[0][found[0] >= 0].tolist()) == set(expected)
    for item_id, digest in expected.items():
        np.testing.assert_allclose(index.vector(item_id), vectors[digest], atol=1e-5)


def set_fields(
    session_factory: sessionmaker[Session],
    entity: type[Opening | Placement],
    item_id: int,
    **values: object,
) -> None:
    with session_factory.begin() as session:
        row = session.get(entity, item_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


# --- building and searching -----------------------------------------------------------------------


def test_build_indexes_only_searchable_items_and_ranks_by_meaning(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    indexes = lane_indexes(tmp_path / "index", encoder, session_factory)
    reports = {report.lane: report for report in indexes.open()}

    assert reports[Lane.JOBS].rebuilt_because == "no index on disk"
    assert reports[Lane.JOBS].count == len(catalogue.searchable_openings)
    assert reports[Lane.ASF].count == len(catalogue.searchable_placements)
    assert set(indexes.stored(Lane.JOBS).index.ids().tolist()) == catalogue.searchable_openings
    assert set(indexes.stored(Lane.ASF).index.ids().tolist()) == catalogue.searchable_placements
    for lane in Lane:
        assert_matches_database(indexes, session_factory, lane)

    assert ranked(indexes, Lane.JOBS, "Vill arbeta på lager med truck")[0] == catalogue.warehouse
    assert ranked(indexes, Lane.JOBS, "Vill arbeta med äldre i omsorgen")[0] == catalogue.care
    assert ranked(indexes, Lane.JOBS, "Vill jobba utomhus i park")[0] == catalogue.park
    assert ranked(indexes, Lane.JOBS, "Vill jobba i butik i kassan")[0] == catalogue.shop
    assert ranked(indexes, Lane.ASF, "vill arbeta i café")[0] == catalogue.cafe
    assert ranked(indexes, Lane.ASF, "Vill odla och arbeta i trädgård")[0] == catalogue.garden
    out_of_jobs = {catalogue.closed_warehouse, catalogue.filled_warehouse, catalogue.full_care}
    assert out_of_jobs.isdisjoint(ranked(indexes, Lane.JOBS, "Lager, truck, äldreomsorg", k=50))
    out_of_asf = {catalogue.closed_cafe, catalogue.full_garden}
    assert out_of_asf.isdisjoint(ranked(indexes, Lane.ASF, "Café och trädgård", k=50))


def test_changes_show_in_search_after_refresh_and_survive_a_restart(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    indexes = lane_indexes(tmp_path / "index", encoder, session_factory)
    indexes.open()
    warehouse_text = "Vill arbeta på lager med truck"
    assert ranked(indexes, Lane.JOBS, warehouse_text)[0] == catalogue.warehouse
    with session_factory() as session:
        old_text = item_text(session.get_one(Opening, catalogue.warehouse))

    # Add: a new opening is found by its own text.
    with session_factory.begin() as session:
        dishwasher = f.make_opening(
            session,
            title="Diskare i storkök",
            occupation_label="Diskare",
            required_skills=[],
            description="Disk av porslin och kastruller i ett storkök.",
        )
        dishwasher_text = item_text(dishwasher)
    assert holding_exactly(indexes, Lane.JOBS, dishwasher_text) == []
    indexes.refresh(Lane.JOBS, [dishwasher.id])
    assert holding_exactly(indexes, Lane.JOBS, dishwasher_text) == [dishwasher.id]

    # Update: the warehouse opening becomes a care job; its old text finds it no more.
    assert holding_exactly(indexes, Lane.JOBS, old_text) == [catalogue.warehouse]
    set_fields(session_factory, Opening, catalogue.warehouse, **(CARE | {"title": "Hemtjänst"}))
    indexes.refresh(Lane.JOBS, [catalogue.warehouse])
    with session_factory() as session:
        new_text = item_text(session.get_one(Opening, catalogue.warehouse))
    assert holding_exactly(indexes, Lane.JOBS, old_text) == []
    assert holding_exactly(indexes, Lane.JOBS, new_text) == [catalogue.warehouse]
    assert ranked(indexes, Lane.JOBS, warehouse_text)[0] != catalogue.warehouse

    # Remove: closed, filled and deleted openings and a closed place are gone.
    set_fields(session_factory, Opening, catalogue.park, status=OpeningStatus.CLOSED)
    set_fields(session_factory, Opening, catalogue.shop, positions_filled=2)
    with session_factory.begin() as session:
        session.delete(session.get_one(Opening, catalogue.cleaning))
    set_fields(session_factory, Placement, catalogue.cafe, status=PlacementStatus.CLOSED)
    indexes.refresh(Lane.JOBS, [catalogue.park, catalogue.shop, catalogue.cleaning])
    indexes.refresh(Lane.ASF, [catalogue.cafe])
    gone = {catalogue.park, catalogue.shop, catalogue.cleaning}
    assert gone.isdisjoint(ranked(indexes, Lane.JOBS, "Vill jobba utomhus i park", k=50))
    assert catalogue.cafe not in ranked(indexes, Lane.ASF, "vill arbeta i café", k=50)
    for lane in Lane:
        assert_matches_database(indexes, session_factory, lane)

    # Restart: the same state comes back from the snapshot and its change log, no rebuild.
    assert indexes.stored(Lane.JOBS).status()["log_records"] > 0
    before = {lane: indexes.stored(lane).index.content_hashes() for lane in Lane}
    counting = CountingEncoder(encoder)
    restarted = lane_indexes(tmp_path / "index", counting, session_factory)
    reports = restarted.open()
    assert [(r.rebuilt_because, r.added, r.removed, r.reembedded) for r in reports] == [
        (None, 0, 0, 0),
        (None, 0, 0, 0),
    ]
    assert counting.encoded == []
    for lane in Lane:
        assert restarted.stored(lane).index.content_hashes() == before[lane]
        assert_matches_database(restarted, session_factory, lane)
    assert holding_exactly(restarted, Lane.JOBS, new_text) == [catalogue.warehouse]
    assert holding_exactly(restarted, Lane.JOBS, dishwasher_text) == [dishwasher.id]
    assert gone.isdisjoint(ranked(restarted, Lane.JOBS, "park", k=50))


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_following_process_keeps_its_changes_in_memory_and_never_writes_the_files(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    """One of several serving processes: it reads the owner's files, changes only memory."""
    folder = tmp_path / "index"
    owner = lane_indexes(folder, encoder, session_factory)
    owner.open()
    # A torn record at the end of the owner's log (the owner would cut it off at its start).
    jobs = owner.stored(Lane.JOBS)
    log_file = jobs.folder / jobs.manifest.log_file
    log_file.write_bytes(log_file.read_bytes() + b"\x01\x02\x03")
    on_disk = files_of(folder)

    follower = LaneIndexes(
        folder=folder, encoder=encoder, session_factory=session_factory, durable=False
    )
    reports = follower.open()
    assert [r.rebuilt_because for r in reports] == [None, None]
    with session_factory.begin() as session:
        dishwasher = f.make_opening(
            session, title="Diskare", description="Disk av porslin i ett storkök."
        )
        text = item_text(dishwasher)
    set_fields(session_factory, Opening, catalogue.park, status=OpeningStatus.CLOSED)
    follower.refresh(Lane.JOBS, [dishwasher.id, catalogue.park])
    follower.stored(Lane.JOBS).snapshot()
    follower.reconcile(Lane.ASF)
    assert holding_exactly(follower, Lane.JOBS, text) == [dishwasher.id]
    assert catalogue.park not in ranked(follower, Lane.JOBS, "park", k=50)
    assert files_of(folder) == on_disk, "not one byte written, cut off or removed"

    # Without files at all it builds in memory and still writes nothing.
    empty = tmp_path / "elsewhere"
    alone = LaneIndexes(
        folder=empty, encoder=encoder, session_factory=session_factory, durable=False
    )
    assert [r.rebuilt_because for r in alone.open()] == ["no index on disk"] * 2
    assert holding_exactly(alone, Lane.JOBS, text) == [dishwasher.id]
    assert not empty.exists()


# --- damage on disk -------------------------------------------------------------------------------


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)


@pytest.mark.parametrize("damaged", ["snapshot", "sidecar", "manifest"])
def test_a_truncated_file_is_detected_and_rebuilt_never_served(
    damaged: str,
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    catalogue: Catalogue,
    tmp_path: Path,
) -> None:
    indexes = lane_indexes(tmp_path / "index", encoder, session_factory)
    indexes.open()
    folder = indexes.lane_folder(Lane.JOBS)
    manifest = indexes.stored(Lane.JOBS).manifest
    path = (
        folder
        / {
            "snapshot": manifest.snapshot_file,
            "sidecar": manifest.hashes_file,
            "manifest": MANIFEST,
        }[damaged]
    )
    _truncate(path, path.stat().st_size // 2)

    with pytest.raises(IndexCorrupt):
        StoredIndex.open(
            folder, lane=Lane.JOBS.value, model_id=encoder.model_id, dimension=encoder.dimension
        )
    counting = CountingEncoder(encoder)
    restarted = lane_indexes(tmp_path / "index", counting, session_factory)
    reports = {report.lane: report for report in restarted.open()}
    assert reports[Lane.JOBS].rebuilt_because is not None
    assert reports[Lane.ASF].rebuilt_because is None
    assert counting.encoded == [], "a rebuild takes its vectors from the cache"
    assert_matches_database(restarted, session_factory, Lane.JOBS)
    assert ranked(restarted, Lane.JOBS, "Vill arbeta på lager med truck")[0] == catalogue.warehouse
    # The rebuilt lane opens cleanly from disk again.
    StoredIndex.open(
        folder, lane=Lane.JOBS.value, model_id=encoder.model_id, dimension=encoder.dimension
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "hnsw"),
        ("kind", "ivf"),
        ("log_file", "../log-000000000000.bin"),
        ("snapshot_file", "vectors-000000000000.faiss"),
        ("dimension", "384"),
        ("built_at", None),
    ],
)
def test_a_malformed_manifest_is_detected_and_rebuilt(
    field: str,
    value: object,
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    catalogue: Catalogue,
    tmp_path: Path,
) -> None:
    indexes = lane_indexes(tmp_path / "index", encoder, session_factory)
    indexes.open()
    folder = indexes.lane_folder(Lane.JOBS)
    document = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps(document | {field: value}))

    with pytest.raises(IndexCorrupt):
        StoredIndex.open(
            folder, lane=Lane.JOBS.value, model_id=encoder.model_id, dimension=encoder.dimension
        )
    restarted = lane_indexes(tmp_path / "index", encoder, session_factory)
    reports = {report.lane: report for report in restarted.open()}
    assert reports[Lane.JOBS].rebuilt_because is not None
    with session_factory.begin() as session:
        added = f.make_opening(session, title="Diskare", description="Disk i storkök.").id
    restarted.refresh(Lane.JOBS, [added])
    assert_matches_database(restarted, session_factory, Lane.JOBS)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["asf", "jobs"]


def test_an_index_of_another_model_is_detected_and_rebuilt(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    indexes = lane_indexes(tmp_path / "index", encoder, session_factory)
    indexes.open()
    folder = indexes.lane_folder(Lane.JOBS)
    document = json.loads((folder / MANIFEST).read_text())
    document["model_id"] = "some-other-model@0123456789ab"
    (folder / MANIFEST).write_text(json.dumps(document))

    with pytest.raises(IndexMismatch, match="some-other-model"):
        StoredIndex.open(
            folder, lane=Lane.JOBS.value, model_id=encoder.model_id, dimension=encoder.dimension
        )
    restarted = lane_indexes(tmp_path / "index", encoder, session_factory)
    reports = {report.lane: report for report in restarted.open()}
    assert "some-other-model" in (reports[Lane.JOBS].rebuilt_because or "")
    assert restarted.stored(Lane.JOBS).manifest.model_id == encoder.model_id
    assert_matches_database(restarted, session_factory, Lane.JOBS)


def test_auto_kind_indexes_large_lanes_with_ivf_and_switches_back_with_slack(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    """Lanes from `ivf_from` items get IVF; a smaller one stays flat; a lane that shrank
    stays IVF down to half the threshold, so a size around it is not rebuilt every start."""
    jobs, asf = len(catalogue.searchable_openings), len(catalogue.searchable_placements)
    assert asf < jobs

    def opened(ivf_from: int | None) -> tuple[LaneIndexes, dict[Lane, LaneReport]]:
        indexes = LaneIndexes(
            folder=tmp_path / "index",
            encoder=encoder,
            session_factory=session_factory,
            ivf_from=ivf_from,
        )
        return indexes, {report.lane: report for report in indexes.open()}

    indexes, _ = opened(ivf_from=jobs)
    kinds = {lane: indexes.stored(lane).manifest.params.kind for lane in Lane}
    assert kinds == {Lane.JOBS: IndexKind.IVF, Lane.ASF: IndexKind.FLAT}
    assert ranked(indexes, Lane.JOBS, "Vill arbeta på lager med truck")[0] == catalogue.warehouse
    assert_matches_database(indexes, session_factory, Lane.JOBS)

    indexes, reports = opened(ivf_from=2 * jobs)  # within the slack: kept
    assert reports[Lane.JOBS].rebuilt_because is None
    assert indexes.stored(Lane.JOBS).manifest.params.kind is IndexKind.IVF

    indexes, reports = opened(ivf_from=2 * jobs + 1)  # beyond it: flat again
    assert reports[Lane.JOBS].rebuilt_because == "index kind changed to flat"
    assert indexes.stored(Lane.JOBS).manifest.params.kind is IndexKind.FLAT

    indexes, reports = opened(ivf_from=None)  # a fixed kind is always honoured
    assert reports[Lane.JOBS].rebuilt_because is None
    assert_matches_database(indexes, session_factory, Lane.JOBS)


@pytest.mark.parametrize(
    ("kind", "expected", "ivf_from"),
    [("auto", IndexKind.FLAT, 1234), ("flat", IndexKind.FLAT, None), ("ivf", IndexKind.IVF, None)],
)
def test_the_index_kind_setting_maps_to_lane_indexes(
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    tmp_path: Path,
    kind: str,
    expected: IndexKind,
    ivf_from: int | None,
) -> None:
    settings = Settings(data_dir=tmp_path, index_kind=kind, index_ivf_from=1234, index_nprobe=7)
    indexes = configured_indexes(settings, encoder, session_factory)
    assert indexes.params.kind is expected
    assert indexes.params.nprobe == 7
    assert indexes.ivf_from == ivf_from


def test_a_torn_log_record_is_cut_off_and_the_database_restores_it(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    indexes = lane_indexes(tmp_path / "index", encoder, session_factory)
    indexes.open()
    set_fields(session_factory, Opening, catalogue.park, status=OpeningStatus.CLOSED)
    indexes.refresh(Lane.JOBS, [catalogue.park])
    with session_factory.begin() as session:
        added = f.make_opening(session, title="Diskare", description="Disk i storkök.").id
    indexes.refresh(Lane.JOBS, [added])
    folder = indexes.lane_folder(Lane.JOBS)
    log_path = folder / indexes.stored(Lane.JOBS).manifest.log_file
    size = log_path.stat().st_size
    record = 13 + 4 * encoder.dimension + 64 + 4  # header, vector, content hash, CRC
    _truncate(log_path, size - 10)  # a crash in the middle of writing the last record

    stored = StoredIndex.open(
        folder, lane=Lane.JOBS.value, model_id=encoder.model_id, dimension=encoder.dimension
    )
    assert log_path.stat().st_size == size - record, "the torn record is cut off"
    assert catalogue.park not in stored.index, "the complete record before it is replayed"
    assert added not in stored.index, "the torn record never happened for the index"

    counting = CountingEncoder(encoder)
    restarted = lane_indexes(tmp_path / "index", counting, session_factory)
    reports = {report.lane: report for report in restarted.open()}
    assert reports[Lane.JOBS].rebuilt_because is None
    assert (reports[Lane.JOBS].added, reports[Lane.JOBS].removed) == (1, 0)
    assert counting.encoded == []
    assert added in restarted.stored(Lane.JOBS).index
    assert_matches_database(restarted, session_factory, Lane.JOBS)


# --- the vector cache -----------------------------------------------------------------------------


def test_unchanged_texts_are_never_encoded_again_and_another_model_encodes_all(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    hashes = [set(database_state(session_factory, lane).values()) for lane in Lane]
    distinct = len(hashes[0] | hashes[1])

    counting = CountingEncoder(encoder)
    first = lane_indexes(tmp_path / "first", counting, session_factory)
    first.open()
    assert len(counting.encoded) == distinct
    assert len(set(counting.encoded)) == distinct

    counting.encoded.clear()
    second = lane_indexes(tmp_path / "second", counting, session_factory)
    second.open()
    second.rebuild(Lane.JOBS)
    assert counting.encoded == [], "a fresh index over known texts encodes nothing"

    set_fields(session_factory, Opening, catalogue.shop, description="Kassa och kundservice.")
    second.refresh(Lane.JOBS, [catalogue.shop, catalogue.care])
    with session_factory() as session:
        assert counting.encoded == [item_text(session.get_one(Opening, catalogue.shop))]
    counting.encoded.clear()
    second.refresh(Lane.JOBS, [catalogue.shop, catalogue.care])
    first.reconcile(Lane.JOBS)
    assert counting.encoded == []
    assert_matches_database(first, session_factory, Lane.JOBS)

    other = CountingEncoder(encoder, model_id="another-model@000000000000")
    lane_indexes(tmp_path / "first", other, session_factory).open()
    assert len(other.encoded) == distinct
    with session_factory() as session:
        rows = session.execute(
            sa.select(ItemEmbedding.model_id, sa.func.count()).group_by(ItemEmbedding.model_id)
        ).all()
    assert dict(rows) == {encoder.model_id: distinct + 1, other.model_id: distinct}


# --- the index follows the database, whatever happens ---------------------------------------------

TITLES = ("Lagerarbetare", "Lokalvårdare", "Vårdbiträde")
DESCRIPTIONS = (
    "Plock och pack av varor på lager.",
    "Städning av kontor och trapphus.",
    "Omsorg om äldre på ett boende.",
    "Servering och disk i en restaurang.",
    "Skötsel av parker och grönytor.",
    "Kassa och påfyllning av varor i butik.",
)
FILES = ("manifest", "snapshot", "sidecar", "log")
MANIFEST_FIELDS = tuple(field.name for field in dataclasses.fields(Manifest))
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 400),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["flat", "ivf", "jobs", "asf", "log-0.bin", "../x"]),
    st.lists(st.integers(), max_size=2),
)


class IndexFollowsDatabase(RuleBasedStateMachine):
    """Openings change in every way; after each step the index equals the database."""

    session_factory: ClassVar[sessionmaker[Session]]
    encoder: ClassVar[Encoder]
    params: ClassVar[IndexParams]
    root: ClassVar[Path]

    def __init__(self) -> None:
        super().__init__()
        with self.session_factory.begin() as session:
            session.execute(sa.delete(Opening))
            self.employer_id = f.make_employer(session).id
        self.folder = self.root / uuid.uuid4().hex
        self.counting = CountingEncoder(self.encoder)
        self.ids: list[int] = []
        self.indexes = self._start()

    def _start(self) -> LaneIndexes:
        indexes = lane_indexes(self.folder, self.counting, self.session_factory, self.params)
        self.reports = indexes.open()
        return indexes

    def _change(self, pick: int, **values: object) -> int:
        opening_id = self.ids[pick % len(self.ids)]
        set_fields(self.session_factory, Opening, opening_id, **values)
        return opening_id

    @rule(
        title=st.sampled_from(TITLES),
        description=st.sampled_from(DESCRIPTIONS),
        status=st.sampled_from(OpeningStatus),
        positions=st.integers(1, 3),
        filled=st.integers(0, 3),
    )
    def create(
        self, title: str, description: str, status: OpeningStatus, positions: int, filled: int
    ) -> None:
        with self.session_factory.begin() as session:
            opening_id = f.make_opening(
                session,
                employer_id=self.employer_id,
                title=title,
                description=description,
                status=status,
                positions=positions,
                positions_filled=min(filled, positions),
            ).id
        self.ids.append(opening_id)
        self.indexes.refresh(Lane.JOBS, [opening_id])

    @precondition(lambda self: self.ids)
    @rule(
        pick=st.integers(min_value=0),
        title=st.sampled_from(TITLES),
        description=st.sampled_from(DESCRIPTIONS),
    )
    def change_text(self, pick: int, title: str, description: str) -> None:
        opening_id = self._change(pick, title=title, description=description)
        self.indexes.refresh(Lane.JOBS, [opening_id])

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(min_value=0), status=st.sampled_from(OpeningStatus))
    def set_status(self, pick: int, status: OpeningStatus) -> None:
        self.indexes.refresh(Lane.JOBS, [self._change(pick, status=status)])

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(min_value=0), filled=st.integers(0, 3))
    def fill(self, pick: int, filled: int) -> None:
        opening_id = self.ids[pick % len(self.ids)]
        with self.session_factory.begin() as session:
            opening = session.get_one(Opening, opening_id)
            opening.positions_filled = min(filled, opening.positions)
        self.indexes.refresh(Lane.JOBS, [opening_id])

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(min_value=0))
    def delete(self, pick: int) -> None:
        opening_id = self.ids.pop(pick % len(self.ids))
        with self.session_factory.begin() as session:
            session.delete(session.get_one(Opening, opening_id))
        self.indexes.refresh(Lane.JOBS, [opening_id])

    @rule()
    def restart(self) -> None:
        self.counting.encoded.clear()
        self.indexes = self._start()
        assert [(r.rebuilt_because, r.added, r.removed, r.reembedded) for r in self.reports] == [
            (None, 0, 0, 0)
        ] * len(Lane), "a clean restart changes nothing"
        assert self.counting.encoded == []

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(min_value=0), description=st.sampled_from(DESCRIPTIONS))
    def crash_between_commit_and_refresh(self, pick: int, description: str) -> None:
        self._change(pick, description=description)
        self.indexes = self._start()

    @rule(
        name=st.sampled_from(FILES),
        truncate=st.booleans(),
        where=st.floats(0, 1, exclude_max=True),
        xor=st.integers(1, 255),
    )
    def damage_then_restart(self, name: str, truncate: bool, where: float, xor: int) -> None:
        manifest = self.indexes.stored(Lane.JOBS).manifest
        file_name = {
            "manifest": MANIFEST,
            "snapshot": manifest.snapshot_file,
            "sidecar": manifest.hashes_file,
            "log": manifest.log_file,
        }[name]
        path = self.indexes.lane_folder(Lane.JOBS) / file_name
        data = bytearray(path.read_bytes())
        position = int(len(data) * where)
        if truncate:
            del data[position:]
        elif data:
            data[position] ^= xor
        path.write_bytes(bytes(data))
        self.indexes = self._start()

    @rule(name=st.sampled_from(MANIFEST_FIELDS), value=JSON_VALUES)
    def edit_manifest_then_restart(self, name: str, value: object) -> None:
        path = self.indexes.lane_folder(Lane.JOBS) / MANIFEST
        document = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps(document | {name: value}), encoding="utf-8")
        self.indexes = self._start()

    @invariant()
    def index_equals_database(self) -> None:
        assert_matches_database(self.indexes, self.session_factory, Lane.JOBS)


@pytest.mark.parametrize("kind", list(IndexKind))
def test_the_index_always_equals_the_database(
    kind: IndexKind, session_factory: sessionmaker[Session], encoder: Encoder, tmp_path: Path
) -> None:
    machine = type(
        "BoundIndexFollowsDatabase",
        (IndexFollowsDatabase,),
        {
            "session_factory": session_factory,
            "encoder": encoder,
            "params": IndexParams(kind=kind),
            "root": tmp_path,
        },
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# --- concurrency ----------------------------------------------------------------------------------


def test_searches_while_updating_never_fail_or_return_unknown_ids(
    session_factory: sessionmaker[Session], encoder: Encoder, catalogue: Catalogue, tmp_path: Path
) -> None:
    indexes = lane_indexes(tmp_path / "index", encoder, session_factory)
    indexes.open()
    known = set(catalogue.searchable_openings)
    allowed = sorted(known)[::2]
    queries = encoder.encode(["Vill arbeta på lager med truck", "Vill städa", "Vill arbeta i kök"])
    errors: list[BaseException] = []
    searches = [0]
    stop = threading.Event()

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                restrict = rng.random() < 0.3
                ids, scores = indexes.search(
                    Lane.JOBS,
                    queries[int(rng.integers(len(queries)))],
                    20,
                    allowed_ids=allowed if restrict else None,
                )
                assert set(ids.tolist()) <= (set(allowed) if restrict else known)
                assert np.all(np.diff(scores) <= 1e-6)
                searches[0] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=searcher, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(30):
            with session_factory.begin() as session:
                opening = f.make_opening(
                    session, title=TITLES[n % 3], description=DESCRIPTIONS[n % len(DESCRIPTIONS)]
                )
                known.add(opening.id)  # before it can be found
            indexes.refresh(Lane.JOBS, [opening.id])
            if n % 3 == 0:
                set_fields(session_factory, Opening, opening.id, description=DESCRIPTIONS[0])
            if n % 4 == 1:
                set_fields(session_factory, Opening, opening.id, status=OpeningStatus.CLOSED)
            indexes.refresh(Lane.JOBS, [opening.id])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert searches[0] > 0
    assert_matches_database(indexes, session_factory, Lane.JOBS)


# --- the command line -----------------------------------------------------------------------------


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the rich table in a command's output, as lists of cell texts."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.strip().startswith("│")
    ]


def test_index_commands_build_show_verify_and_repair(
    database_url: str,
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    catalogue: Catalogue,
    tmp_path: Path,
) -> None:
    # Imported here: the command line pulls in every package, the other tests need none of it.
    from api.cli import app

    runner = CliRunner()
    environment = {
        "STEGVIS_DATA_DIR": str(tmp_path / "data"),
        "STEGVIS_DATABASE_URL": database_url,
        "COLUMNS": "250",
    }

    def stegvis(*arguments: str) -> tuple[int, str]:
        result = runner.invoke(app, ["index", *arguments], env=environment)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    code, output = stegvis("build")
    assert code == 0, output
    assert f"jobs: {len(catalogue.searchable_openings)} items" in output
    assert f"asf: {len(catalogue.searchable_placements)} items" in output

    code, output = stegvis("status")
    assert code == 0, output
    assert {row[0]: row[1:3] for row in table_rows(output)} == {
        "jobs": ["5", "5"],
        "asf": ["3", "3"],
    }, output

    code, output = stegvis("verify")
    assert (code, "both lanes match the database" in output) == (0, True), output

    with session_factory.begin() as session:
        f.make_opening(session, title="Diskare", description="Disk i storkök.")
    code, output = stegvis("verify")
    assert code == 1, output
    assert {row[0]: row[1:6] for row in table_rows(output)} == {
        "jobs": ["6", "5", "1", "0", "0"],
        "asf": ["3", "3", "0", "0", "0"],
    }, output
    assert [row[6] for row in table_rows(output)] == ["no", "yes"]

    code, output = stegvis("verify", "--repair")
    assert code == 0, output
    assert "repaired: jobs: 6 items" in output
    code, output = stegvis("verify")
    assert code == 0, output

    index_folder = tmp_path / "data" / "index"
    snapshots = list(index_folder.glob("*/asf/vectors-*.faiss"))
    assert len(snapshots) == 1
    _truncate(snapshots[0], 100)
    code, output = stegvis("verify")
    assert code == 1, output
    assert "checksum" in output
    code, output = stegvis("verify", "--repair")
    assert code == 0, output
    assert stegvis("verify")[0] == 0
