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

from embeddings.encoder import Encoder, load_encoder
from embeddings.index import IndexKind, IndexParams
from embeddings.lanes import LaneIndexes, LaneReport, LaneState
from matching.catalogue import ItemCatalogue
from matching.concepts import ConceptRecogniser, Concepts, recogniser_for
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
    encoder: Encoder
    indexes: LaneIndexes
    catalogues: dict[Lane, ItemCatalogue]
    ranker: RankerSlot
    #: skill id -> SSYK-4 groups that list it (for skills-only participants)
    groups_of_skill: dict[str, tuple[str, ...]] = field(default_factory=dict)
    open_reports: list[LaneReport] = field(default_factory=list)
    #: `recogniser.recognise`, remembering the last texts: a profile is read on every
    #: suggestion but changes rarely (a changed text is a new key).
    recognise: Callable[[str], Concepts] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.recognise = lru_cache(maxsize=PROFILE_TEXTS_REMEMBERED)(self.recogniser.recognise)

    @classmethod
    def start(
        cls,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        track: Track = no_progress,
        ranker: tuple[AdditiveRanker, str] | None = None,
    ) -> MatchingEngine:
        """Load everything, open (verify, repair or rebuild) the indexes, build catalogues."""
        taxonomy = load_taxonomy(settings.taxonomy_dir)
        recogniser = recogniser_for(taxonomy)
        centroids = municipality_centroids(settings.geo_dir)
        encoder = load_encoder(
            settings.embedding_model, max_seq_length=settings.embedding_max_seq_length
        )
        indexes = LaneIndexes(
            folder=settings.resolved_index_dir,
            encoder=encoder,
            session_factory=session_factory,
            params=IndexParams(kind=IndexKind(settings.index_kind), nprobe=settings.index_nprobe),
            track=track,
        )
        reports = indexes.open()
        catalogues = {
            lane: ItemCatalogue(lane, taxonomy=taxonomy, recogniser=recogniser, centroids=centroids)
            for lane in Lane
        }
        with session_factory() as session:
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
            encoder=encoder,
            indexes=indexes,
            catalogues=catalogues,
            ranker=RankerSlot(model, version),
            groups_of_skill={skill: tuple(codes) for skill, codes in groups_of_skill.items()},
            open_reports=reports,
        )

    @cached_property
    def occupation_labels(self) -> Mapping[str, str]:
        """Occupation id -> Swedish label, for participant texts (read on every suggestion)."""
        return MappingProxyType({o.id: o.label for o in self.taxonomy.occupations.values()})

    def refresh(self, lane: Lane, ids: list[int]) -> None:
        """After a commit that changed these items: update the index and the catalogue."""
        self.indexes.refresh(lane, ids)
        with self.session_factory() as session:
            self.catalogues[lane].refresh(session, ids)

    def states(self) -> list[LaneState]:
        """Each lane's index compared with the database (read-only)."""
        return [self.indexes.inspect(lane) for lane in Lane]
