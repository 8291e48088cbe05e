"""Keeps each lane's vector index equal to the searchable rows of the database.

The database is the source of truth; the index is derived. At start-up every lane is
loaded from disk, verified (checksums, model, dimension) and reconciled with the database:
missing items are added, stale ones removed, and items whose text changed are re-embedded.
An index that cannot be verified is rebuilt from the database, never served. After each
committed change the service calls :meth:`LaneIndexes.refresh` for the affected ids.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from embeddings.cache import stored_item_vectors
from embeddings.encoder import Encoder, Vectors
from embeddings.index import (
    Ids,
    IndexCorrupt,
    IndexKind,
    IndexMismatch,
    IndexParams,
    Scores,
    StoredIndex,
    VectorIndex,
)
from embeddings.texts import content_hash, opening_text, placement_text
from matching.db.models import Opening, Placement
from matching.db.repositories import Item, searchable_items
from matching.db.session import reading
from matching.domain import Lane
from matching.progress import Track, no_progress

log = logging.getLogger(__name__)


def item_text(item: Item) -> str:
    if isinstance(item, Opening):
        return opening_text(item)
    assert isinstance(item, Placement)
    return placement_text(item)


def model_folder_name(model_id: str) -> str:
    """A file-system-safe folder name for a model id (indexes of each model live apart)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)


@dataclass(frozen=True)
class LaneReport:
    """What opening or reconciling a lane did."""

    lane: Lane
    count: int
    added: int = 0
    removed: int = 0
    reembedded: int = 0
    rebuilt_because: str | None = None

    def summary(self) -> str:
        parts = [f"{self.lane.value}: {self.count} items"]
        if self.rebuilt_because:
            parts.append(f"rebuilt ({self.rebuilt_because})")
        parts.append(f"+{self.added} -{self.removed} ~{self.reembedded}")
        return ", ".join(parts)


@dataclass(frozen=True)
class LaneState:
    """An index compared with the database, without changing either."""

    lane: Lane
    database_count: int
    index_count: int
    missing: int
    stale: int
    changed: int
    model_id: str
    kind: str
    built_at: str
    log_records: int
    folder: Path

    @property
    def consistent(self) -> bool:
        return self.missing == self.stale == self.changed == 0


class LaneIndexes:
    """The vector indexes of both lanes for one encoder, kept consistent with the database."""

    def __init__(
        self,
        *,
        folder: Path,
        encoder: Encoder,
        session_factory: sessionmaker[Session],
        params: IndexParams | None = None,
        ivf_from: int | None = None,
        track: Track = no_progress,
        durable: bool = True,
    ) -> None:
        self.root = folder / model_folder_name(encoder.model_id)
        self.encoder = encoder
        self.session_factory = session_factory
        self.params = params or IndexParams()
        #: With a flat `params`: lanes of at least this many items get an IVF index instead
        #: (the "auto" index kind); None keeps `params.kind` for every lane.
        self.ivf_from = ivf_from
        self.track = track
        #: False: the indexes live in memory only and the files on disk are never written
        #: (one of several serving processes; see `matching.changes`).
        self.durable = durable
        self._stored: dict[Lane, StoredIndex] = {}
        # Refreshes of a lane run one at a time, so a slower refresh that read an older
        # row can never overwrite the vector of a newer one.
        self._refreshing = {lane: threading.Lock() for lane in Lane}

    # --- lifecycle ------------------------------------------------------------------------

    def params_for(self, count: int) -> IndexParams:
        """How a lane of `count` items is indexed: `params`, or IVF from `ivf_from` items."""
        if (
            self.ivf_from is not None
            and self.params.kind is IndexKind.FLAT
            and count >= self.ivf_from
        ):
            return replace(self.params, kind=IndexKind.IVF)
        return self.params

    def _keeps_kind(self, kind: IndexKind, count: int) -> bool:
        """Whether a stored index of `kind` and `count` items may be served as it is.

        An automatic IVF index stays IVF down to half the threshold, so a lane whose size
        hovers around it is not rebuilt back and forth at every start.
        """
        if kind is self.params_for(count).kind:
            return True
        return self.ivf_from is not None and kind is IndexKind.IVF and 2 * count >= self.ivf_from

    def lane_folder(self, lane: Lane) -> Path:
        return self.root / lane.value

    def open(self) -> list[LaneReport]:
        """Load (or rebuild) and reconcile every lane. Call once at start-up."""
        return [self._open_lane(lane) for lane in Lane]

    def _open_lane(self, lane: Lane) -> LaneReport:
        folder = self.lane_folder(lane)
        try:
            stored = StoredIndex.open(
                folder,
                lane=lane.value,
                model_id=self.encoder.model_id,
                dimension=self.encoder.dimension,
                durable=self.durable,
            )
        except FileNotFoundError:
            return self.rebuild(lane, reason="no index on disk")
        except (IndexCorrupt, IndexMismatch) as error:
            log.warning("index of lane %s cannot be served: %s", lane.value, error)
            return self.rebuild(lane, reason=str(error))
        kind = stored.manifest.params.kind
        if not self._keeps_kind(kind, len(stored.index)):
            wanted = self.params_for(len(stored.index)).kind
            return self.rebuild(lane, reason=f"index kind changed to {wanted.value}")
        self._stored[lane] = stored
        return self.reconcile(lane)

    def rebuild(self, lane: Lane, *, reason: str = "requested") -> LaneReport:
        """Build the lane from the database and commit it; replaces what was on disk."""
        texts_of = self._texts(lane)
        ids, texts = list(texts_of), list(texts_of.values())
        vectors, hashes = self._vectors(texts)
        index = VectorIndex.build(
            ids, vectors, hashes, dimension=self.encoder.dimension, params=self.params_for(len(ids))
        )
        self._stored[lane] = StoredIndex.create(
            self.lane_folder(lane),
            index,
            lane=lane.value,
            model_id=self.encoder.model_id,
            durable=self.durable,
        )
        report = LaneReport(lane, count=len(index), added=len(ids), rebuilt_because=reason)
        log.info("index %s", report.summary())
        return report

    def reconcile(self, lane: Lane) -> LaneReport:
        """Bring the index to the database's searchable rows: add, remove, re-embed."""
        stored = self.stored(lane)
        texts = self._texts(lane)
        indexed = stored.index.content_hashes()
        stale = sorted(set(indexed) - set(texts))
        stale_count = stored.remove(stale)
        todo = [i for i, text in texts.items() if indexed.get(i) != content_hash(text)]
        added = sum(1 for i in todo if i not in indexed)
        if todo:
            vectors, hashes = self._vectors([texts[i] for i in todo])
            stored.upsert(todo, vectors, hashes)
        if stale_count or todo:
            stored.snapshot()
        report = LaneReport(
            lane,
            count=len(stored.index),
            added=added,
            removed=stale_count,
            reembedded=len(todo) - added,
        )
        log.info("index %s", report.summary())
        return report

    def adopt(self, lane: Lane, stored: StoredIndex) -> None:
        """Serve an index opened elsewhere (e.g. by a verification) without reconciling it."""
        self._stored[lane] = stored

    def stored(self, lane: Lane) -> StoredIndex:
        try:
            return self._stored[lane]
        except KeyError:
            raise RuntimeError(f"the {lane.value} index is not open; call open() first") from None

    # --- reading the database -------------------------------------------------------------

    def _texts(self, lane: Lane, ids: Sequence[int] | None = None) -> dict[int, str]:
        """Id -> text of the lane's searchable items (of `ids`), read without the write lock."""
        with reading(self.session_factory) as session:
            return {item.id: item_text(item) for item in searchable_items(session, lane, ids)}

    def _vectors(self, texts: Sequence[str]) -> tuple[Vectors, list[str]]:
        return stored_item_vectors(self.session_factory, self.encoder, texts, track=self.track)

    # --- checks ---------------------------------------------------------------------------

    def inspect(self, lane: Lane) -> LaneState:
        """Compare the lane's index with the database (read-only)."""
        stored = self.stored(lane)
        with self.session_factory() as session:
            texts = {item.id: item_text(item) for item in searchable_items(session, lane)}
        indexed = stored.index.content_hashes()
        status = stored.status()
        return LaneState(
            lane=lane,
            database_count=len(texts),
            index_count=len(indexed),
            missing=len(set(texts) - set(indexed)),
            stale=len(set(indexed) - set(texts)),
            changed=sum(
                1 for i, t in texts.items() if i in indexed and indexed[i] != content_hash(t)
            ),
            model_id=status["model_id"],
            kind=status["kind"],
            built_at=status["built_at"],
            log_records=status["log_records"],
            folder=stored.folder,
        )

    # --- changes and searches ---------------------------------------------------------------

    def refresh(self, lane: Lane, ids: Sequence[int]) -> None:
        """Re-read `ids` after a commit: searchable ones are (re-)embedded, others removed."""
        if not ids:
            return
        stored = self.stored(lane)
        with self._refreshing[lane]:
            texts = self._texts(lane, ids)
            indexed = stored.index.content_hashes()
            todo = [i for i, t in texts.items() if indexed.get(i) != content_hash(t)]
            if todo:
                vectors, hashes = self._vectors([texts[i] for i in todo])
                stored.upsert(todo, vectors, hashes)
            stored.remove([i for i in ids if i not in texts])

    def search(
        self,
        lane: Lane,
        query: Vectors,
        k: int,
        *,
        allowed_ids: Sequence[int] | Ids | None = None,
    ) -> tuple[Ids, Scores]:
        """Top-k (ids, cosine similarities) for one query vector; empty slots are dropped."""
        ids, scores = self.stored(lane).index.search(
            np.asarray(query, dtype=np.float32).reshape(1, -1), k, allowed_ids=allowed_ids
        )
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]
