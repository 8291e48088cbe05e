"""Features for logged suggestions stored without them: the imported fixture history.

The fixture history (`matching.fixtures`, model version "fixture-history") records what
coaches were shown and decided, but not the feature values, which only the engine can
compute. `backfill_features` computes them once with the current engine, as the engine
would have for that participant and item at the moment the slate was shown, and stores
them on the suggestion (values and facts; contributions stay empty, since no model scored
them). Items that have since closed are no longer in the engine's catalogue and index, so
their facts, vectors and n-gram vectors are computed here the same way. Whether the coach
had said "not now" to the item before cannot be known any more: `snoozed` stays unknown.

Only participants whose consent includes model training are touched; the rows serve
nothing but training.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import sqlalchemy as sa
from sqlalchemy.orm import Session

from embeddings.cache import item_vectors, participant_vector
from embeddings.texts import participant_text
from matching.catalogue import CatalogueEntry, item_text
from matching.db.models import Participant, Suggestion
from matching.db.repositories import items_by_id
from matching.domain import Lane
from matching.engine import MatchingEngine
from matching.features import compute_features
from matching.fixtures import HISTORY_MODEL_VERSION
from matching.progress import Track, no_progress
from matching.service import occupation_labels, participant_facts
from training.dataset import training_consent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillReport:
    filled: int
    #: suggestions whose item no longer exists (deleted), left without features
    missing_items: int

    def summary(self) -> str:
        return (
            f"{self.filled} historical suggestions given features "
            f"({self.missing_items} without item)"
        )


def _pending() -> sa.Select[Suggestion]:
    return (
        sa.select(Suggestion)
        .where(
            Suggestion.model_version == HISTORY_MODEL_VERSION,
            Suggestion.participant_id.in_(training_consent()),
        )
        .order_by(Suggestion.participant_id, Suggestion.lane, Suggestion.id)
    )


def pending_count(session: Session) -> int:
    """Historical suggestions of consenting participants that still lack feature values."""
    rows = session.execute(
        sa.select(Suggestion.feature_values).where(
            Suggestion.model_version == HISTORY_MODEL_VERSION,
            Suggestion.participant_id.in_(training_consent()),
        )
    ).scalars()
    return sum(1 for values in rows if not values)


@dataclass(frozen=True)
class _Item:
    entry: CatalogueEntry
    text: str
    ngrams: sp.csr_matrix | None


def _items(
    session: Session, engine: MatchingEngine, lane: Lane, ids: Sequence[int]
) -> dict[int, _Item]:
    """Facts, text and n-gram vector of each item, searchable or not (closed items too)."""
    catalogue = engine.catalogues[lane]
    found = {}
    for item_id, item in items_by_id(session, lane, sorted(set(ids))).items():
        # Closed items are not in the live catalogue: analyse them the way it would.
        entry = catalogue.get(item_id) or catalogue.analyse(item)
        text = item_text(item)
        found[item_id] = _Item(entry, text, catalogue.lexical.vectorise(text))
    return found


def backfill_features(
    *, session: Session, engine: MatchingEngine, track: Track = no_progress
) -> BackfillReport:
    """Compute and store the feature values of every pending historical suggestion."""
    pending = [s for s in session.scalars(_pending()) if not s.feature_values]
    if not pending:
        return BackfillReport(0, 0)
    by_lane: defaultdict[Lane, set[int]] = defaultdict(set)
    for suggestion in pending:
        if suggestion.item_id is not None:
            by_lane[suggestion.lane].add(suggestion.item_id)
    items = {lane: _items(session, engine, lane, sorted(ids)) for lane, ids in by_lane.items()}
    texts = sorted({item.text for found in items.values() for item in found.values()})
    vectors, _ = item_vectors(session, engine.encoder, texts, track=track)
    vector_of = dict(zip(texts, vectors, strict=True))
    labels = occupation_labels(engine)

    by_participant: defaultdict[int, list[Suggestion]] = defaultdict(list)
    for suggestion in pending:
        by_participant[suggestion.participant_id].append(suggestion)
    filled = missing = 0
    for participant_id in track(
        sorted(by_participant), "computing historical features", len(by_participant)
    ):
        participant = session.get(Participant, participant_id)
        assert participant is not None
        facts = participant_facts(participant, engine)
        text = participant_text(participant, labels)
        query_vector = participant_vector(session, engine.encoder, participant.id, text)
        calibration = engine.encoder.calibration
        queries = {lane: engine.catalogues[lane].lexical.vectorise(text) for lane in Lane}
        for suggestion in by_participant[participant_id]:
            item = items.get(suggestion.lane, {}).get(suggestion.item_id or 0)
            if item is None:
                missing += 1
                continue
            query = queries[suggestion.lane]
            lexical = 0.0
            if query is not None and item.ngrams is not None:
                lexical = float(query.multiply(item.ngrams).sum())
            row = compute_features(
                facts,
                item.entry.facts,
                semantic=float(calibration.apply([np.dot(query_vector, vector_of[item.text])])[0]),
                lexical=lexical,
                taxonomy=engine.taxonomy,
                now=suggestion.created_at,
            )
            # Earlier "not now" decisions on the item are history we cannot replay.
            suggestion.feature_values = row.as_dict() | {"snoozed": None}
            suggestion.facts = {name: f for name, f in row.facts.items() if name != "snoozed"}
            filled += 1
    session.flush()
    report = BackfillReport(filled, missing)
    log.info("backfill: %s", report.summary())
    return report
