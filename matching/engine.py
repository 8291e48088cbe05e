"""The running engine: taxonomy, recogniser, encoder, indexes, catalogues and ranker, loaded once.

Entrypoints (the API, the CLI, training) build one `MatchingEngine` with `MatchingEngine.start`
and pass it to the use cases in `matching.service`. After a committed change to an opening or
place, `refresh(lane, ids)` brings the vector index and the catalogue up to date at once.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from types import MappingProxyType

from sqlalchemy.orm import Session, sessionmaker

from embeddings.cache import ENCODE_BATCH, item_vectors
from embeddings.encoder import Encoder, load_encoder
from embeddings.index import IndexKind, IndexParams
from embeddings.lanes import LaneIndexes, LaneReport, LaneState, item_text
from matching.catalogue import ItemCatalogue
from matching.changes import ChangeFollower
from matching.concepts import ConceptRecogniser, Concepts, recogniser_for
from matching.db.repositories import searchable_items
from matching.db.session import make_engine, make_session_factory, reading
from matching.domain import Lane
from matching.features import Place
from matching.geo import municipality_centroids
from matching.progress import Track, no_progress
from matching.ranker import HAND_SET_VERSION, AdditiveRanker, hand_set_ranker
from matching.settings import Settings
from matching.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

#: Participant texts whose recognised concepts are kept (two texts per profile).
PROFILE_TEXTS_REMEMBERED = 8192


def limit_native_threads(count: int) -> None:
    """Let each BLAS, OpenMP and FAISS operation of this process use at most `count` threads.

    A server runs many requests at once, each on its own thread. If each request's matrix
    product also spreads over every core, the threads of concurrent requests spin against
    one another: measured at 100k openings and 8 clients on two cores, 19.7 requests/s
    with the libraries' defaults and 25.8 with one thread per operation
    (`benchmarks/api_load.py`). 0 keeps the defaults. Process-wide.
    """
    if count <= 0:
        return
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=count)
    faiss.omp_set_num_threads(count)
    log.info("numeric operations limited to %d thread(s) each", count)


def lane_indexes(
    settings: Settings,
    encoder: Encoder,
    session_factory: sessionmaker[Session],
    *,
    track: Track = no_progress,
    durable: bool = True,
) -> LaneIndexes:
    """The lane indexes of `encoder` as the settings say (`index_kind`, `index_nprobe`).

    "auto" indexes a lane exactly (flat) below `index_ivf_from` items and with IVF from
    there: candidates are then found approximately, and scored exactly (see
    `VectorIndex.search` with `allowed_ids`).
    """
    automatic = settings.index_kind == "auto"
    kind = IndexKind.FLAT if automatic else IndexKind(settings.index_kind)
    return LaneIndexes(
        folder=settings.resolved_index_dir,
        encoder=encoder,
        session_factory=session_factory,
        params=IndexParams(kind=kind, nprobe=settings.index_nprobe),
        ivf_from=settings.index_ivf_from if automatic else None,
        track=track,
        durable=durable,
    )


class RankerSlot:
    """The ranker serving now and its version, replaced atomically on promotion or rollback."""

    def __init__(self, model: AdditiveRanker, version: str) -> None:
        self._current = (model, version)
        self._lock = threading.Lock()

    def current(self) -> tuple[AdditiveRanker, str]:
        return self._current

    def replace(self, model: AdditiveRanker, version: str) -> None:
        with self._lock:
            self._current = (model, version)
        log.info("ranker %s now serves", version)


@dataclass
class MatchingEngine:
    settings: Settings
    session_factory: sessionmaker[Session]
    taxonomy: Taxonomy
    recogniser: ConceptRecogniser
    centroids: dict[str, Place]
    #: The indexes searches use, with their encoder; replaced whole (one reference) by
    #: `switch_encoder`, so a search sees either the old encoder and index or the new ones.
    indexes: LaneIndexes
    catalogues: dict[Lane, ItemCatalogue]
    ranker: RankerSlot
    #: Which encoder serves: the configured model or a registered version ("stegvis-encoder/2").
    encoder_version: str = ""
    #: skill id -> SSYK-4 groups that list it (for skills-only participants)
    groups_of_skill: dict[str, tuple[str, ...]] = field(default_factory=dict)
    open_reports: list[LaneReport] = field(default_factory=list)
    #: With several serving processes: applies the changes other processes committed
    #: (`matching.changes`) before each ranking. None: this process makes every change.
    follower: ChangeFollower | None = None
    #: The encoder being embedded into new indexes in the background, if any.
    encoder_switching_to: str | None = None
    _previous_encoder: tuple[LaneIndexes, str] | None = field(default=None, repr=False)
    _switching: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: `recogniser.recognise`, remembering the last texts: a profile is read on every
    #: suggestion but changes rarely (a changed text is a new key).
    recognise: Callable[[str], Concepts] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.recognise = lru_cache(maxsize=PROFILE_TEXTS_REMEMBERED)(self.recogniser.recognise)

    def forget_texts(self) -> None:
        """Forget every profile text and word remembered for speed (after an erasure)."""
        clear = getattr(self.recognise, "cache_clear", None)
        if clear is not None:
            clear()
        self.recogniser.forget()

    @classmethod
    def start(
        cls,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        track: Track = no_progress,
        ranker: tuple[AdditiveRanker, str] | None = None,
        follow: bool = False,
    ) -> MatchingEngine:
        """Load everything, open (verify, repair or rebuild) the indexes, build catalogues.

        `follow`: one of several serving processes. The indexes then stay in memory (the
        process that started the workers brought the files up to date) and the engine
        follows the change feed from the newest row at start.
        """
        follower = ChangeFollower.from_latest(session_factory) if follow else None
        taxonomy = load_taxonomy(settings.taxonomy_dir)
        recogniser = recogniser_for(taxonomy)
        centroids = municipality_centroids(settings.geo_dir)
        encoder = load_encoder(
            settings.embedding_model, max_seq_length=settings.embedding_max_seq_length
        )
        indexes = lane_indexes(settings, encoder, session_factory, track=track, durable=not follow)
        reports = indexes.open()
        catalogues = {
            lane: ItemCatalogue(lane, taxonomy=taxonomy, recogniser=recogniser, centroids=centroids)
            for lane in Lane
        }
        with reading(session_factory) as session:  # no SQLite write lock
            for catalogue in catalogues.values():
                catalogue.build(session, track=track)
        groups_of_skill: defaultdict[str, list[str]] = defaultdict(list)
        for code, group in taxonomy.groups.items():
            for skill in group.skill_ids:
                groups_of_skill[skill].append(code)
        model, version = ranker or (hand_set_ranker(), HAND_SET_VERSION)
        return cls(
            settings=settings,
            session_factory=session_factory,
            taxonomy=taxonomy,
            recogniser=recogniser,
            centroids=centroids,
            indexes=indexes,
            catalogues=catalogues,
            ranker=RankerSlot(model, version),
            groups_of_skill={skill: tuple(codes) for skill, codes in groups_of_skill.items()},
            open_reports=reports,
            encoder_version=settings.embedding_model,
            follower=follower,
        )

    @property
    def encoder(self) -> Encoder:
        """The encoder of the serving indexes."""
        return self.indexes.encoder

    @cached_property
    def occupation_labels(self) -> Mapping[str, str]:
        """Occupation id -> Swedish label, for participant texts (read on every suggestion)."""
        return MappingProxyType({o.id: o.label for o in self.taxonomy.occupations.values()})

    def catch_up(self, session: Session) -> int:
        """Apply the changes other serving processes committed (none without a follower)."""
        return self.follower.catch_up(session, self) if self.follower is not None else 0

    def refresh(self, lane: Lane, ids: list[int]) -> None:
        """After a commit that changed these items: update the index and the catalogue."""
        self.indexes.refresh(lane, ids)
        with reading(self.session_factory) as session:
            self.catalogues[lane].refresh(session, ids)

    # --- switching the encoder --------------------------------------------------------------

    def switch_encoder(self, encoder: Encoder, version: str, *, track: Track = no_progress) -> None:
        """Embed every item with `encoder` into new indexes, then serve them at once.

        Searches keep using the old indexes (and encoder) until the one assignment that
        swaps them; changes committed while the new indexes were built are caught by a
        reconcile right after the swap. The old indexes are kept for `rollback_encoder`.
        Blocking; `switch_encoder_in_background` runs it on a thread.
        """
        with self._switching:
            if encoder.model_id == self.encoder.model_id:
                self.encoder_version = version
                return
            self.encoder_switching_to = version
            try:
                self._embed_all(encoder, track)
                fresh = LaneIndexes(
                    folder=self.settings.resolved_index_dir,
                    encoder=encoder,
                    session_factory=self.session_factory,
                    params=self.indexes.params,
                    ivf_from=self.indexes.ivf_from,
                    track=track,
                    durable=self.indexes.durable,
                )
                fresh.open()
                self._serve(fresh, version)
            finally:
                self.encoder_switching_to = None

    def _embed_all(self, encoder: Encoder, track: Track) -> None:
        """Fill the vector cache with every searchable item's vector of `encoder`.

        In small transactions that take the write lock when they begin (SQLite), so the
        requests writing meanwhile wait a moment instead of this failing when one of them
        commits between its reads and writes; the indexes are then built from the cache.
        """
        bind = self.session_factory.kw["bind"]
        url = bind.url.render_as_string(hide_password=False)
        database = make_engine(url, immediate=True) if url.startswith("sqlite") else bind
        try:
            writer = make_session_factory(database)
            for lane in Lane:
                with self.session_factory() as session:
                    texts = [item_text(item) for item in searchable_items(session, lane)]
                chunks = [texts[i : i + ENCODE_BATCH] for i in range(0, len(texts), ENCODE_BATCH)]
                for chunk in track(
                    chunks, f"embedding {lane.value} with {encoder.model_id}", len(chunks)
                ):
                    with writer.begin() as session:
                        item_vectors(session, encoder, chunk)
        finally:
            if database is not bind:
                database.dispose()

    def switch_encoder_in_background(self, encoder: Encoder, version: str) -> threading.Thread:
        thread = threading.Thread(
            target=self.switch_encoder,
            args=(encoder, version),
            name="stegvis-encoder-switch",
            daemon=True,
        )
        thread.start()
        return thread

    def rollback_encoder(self) -> str:
        """Serve the indexes of the encoder before the last switch again; its version."""
        with self._switching:
            if self._previous_encoder is None:
                raise RuntimeError("no earlier encoder to roll back to")
            indexes, version = self._previous_encoder
            for lane in Lane:  # items changed since the switch
                indexes.reconcile(lane)
            self._serve(indexes, version)
            return version

    def _serve(self, indexes: LaneIndexes, version: str) -> None:
        previous = (self.indexes, self.encoder_version)
        self.indexes = indexes  # the swap: one reference assignment
        self.encoder_version = version
        self._previous_encoder = previous
        for lane in Lane:
            indexes.reconcile(lane)
        log.info("encoder %s (%s) now serves", version, indexes.encoder.model_id)

    def states(self) -> list[LaneState]:
        """Each lane's index compared with the database (read-only)."""
        return [self.indexes.inspect(lane) for lane in Lane]
