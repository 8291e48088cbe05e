"""The vector cache: texts are encoded once per (model, content hash) and kept in the database."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from embeddings.encoder import Encoder, Vectors
from embeddings.texts import content_hash
from matching.db.models import ItemEmbedding, ParticipantEmbedding
from matching.db.session import reading
from matching.db.types import utcnow
from matching.progress import Track, no_progress

_LOOKUP_CHUNK = 500
ENCODE_BATCH = 64


def _to_vector(data: bytes, dimension: int) -> Vectors:
    vector = np.frombuffer(data, dtype=np.float32)
    if vector.shape != (dimension,):
        raise ValueError(f"cached vector has {vector.size} values, expected {dimension}")
    return vector


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, object]]) -> None:
    """Add cache rows; a row another writer added meanwhile is the same vector, so skip it."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement: sa.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(ItemEmbedding).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(ItemEmbedding).on_conflict_do_nothing()
    else:
        statement = sa.insert(ItemEmbedding)
    now = utcnow()
    session.execute(statement, [row | {"created_at": now} for row in rows])


def cached_item_vectors(
    session: Session, model_id: str, hashes: Iterable[str], dimension: int
) -> dict[str, Vectors]:
    wanted = sorted(set(hashes))
    found: dict[str, Vectors] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        rows = session.execute(
            sa.select(ItemEmbedding.content_hash, ItemEmbedding.vector).where(
                ItemEmbedding.model_id == model_id,
                ItemEmbedding.content_hash.in_(wanted[start : start + _LOOKUP_CHUNK]),
            )
        )
        found.update((h, _to_vector(v, dimension)) for h, v in rows)
    return found


def item_vectors(
    session: Session,
    encoder: Encoder,
    texts: Sequence[str],
    *,
    track: Track = no_progress,
) -> tuple[Vectors, list[str]]:
    """Vectors (one row per text) and content hashes; only uncached texts are encoded.

    New vectors are added to the cache in `session`; the caller commits.
    """
    hashes = [content_hash(text) for text in texts]
    known = cached_item_vectors(session, encoder.model_id, hashes, encoder.dimension)
    missing: dict[str, str] = {}
    for text, digest in zip(texts, hashes, strict=True):
        if digest not in known:
            missing.setdefault(digest, text)
    pending = list(missing.items())
    batches = [pending[i : i + ENCODE_BATCH] for i in range(0, len(pending), ENCODE_BATCH)]
    for batch in track(([text for _, text in b] for b in batches), "encoding texts", len(batches)):
        vectors = encoder.encode(batch, batch_size=ENCODE_BATCH)
        digests = [content_hash(text) for text in batch]
        for digest, vector in zip(digests, vectors, strict=True):
            known[digest] = vector
        _insert_ignoring_duplicates(
            session,
            [
                {"model_id": encoder.model_id, "content_hash": d, "vector": v.tobytes()}
                for d, v in zip(digests, vectors, strict=True)
            ],
        )
    return _in_order(known, hashes, encoder.dimension), hashes


def stored_item_vectors(
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    texts: Sequence[str],
    *,
    track: Track = no_progress,
) -> tuple[Vectors, list[str]]:
    """`item_vectors` in transactions of its own: the cache is read without the write lock,
    and a writing transaction encodes and caches only when some text is not cached yet (so
    serving processes starting side by side do not queue on SQLite's one writer)."""
    hashes = [content_hash(text) for text in texts]
    with reading(session_factory) as session:
        known = cached_item_vectors(session, encoder.model_id, hashes, encoder.dimension)
    if all(digest in known for digest in hashes):
        return _in_order(known, hashes, encoder.dimension), hashes
    with session_factory.begin() as session:
        return item_vectors(session, encoder, texts, track=track)


def _in_order(known: dict[str, Vectors], hashes: Sequence[str], dimension: int) -> Vectors:
    """One row per hash, its vector from `known`."""
    matrix = np.zeros((len(hashes), dimension), dtype=np.float32)
    for row, digest in enumerate(hashes):
        matrix[row] = known[digest]
    return matrix


def participant_vector(
    session: Session,
    encoder: Encoder,
    participant_id: int,
    text: str,
    *,
    before_write: Callable[[], None] = lambda: None,
) -> Vectors:
    """The participant's profile vector, re-encoded only when the text changed.

    One row per participant and model, replaced on change, so no vector of an earlier
    version of the profile lingers; the row is deleted with the participant. Storing a new
    vector is a write: `before_write` runs first (after encoding).
    """
    digest = content_hash(text)
    row = session.get(ParticipantEmbedding, (participant_id, encoder.model_id))
    if row is not None and row.content_hash == digest:
        return _to_vector(row.vector, encoder.dimension)
    vector = encoder.encode_one(text)
    before_write()
    # An upsert, not an insert: two requests for the same participant may both find no row
    # (a coach's two tabs, or a search during an encoder switch); the later one wins.
    values = {
        "participant_id": participant_id,
        "model_id": encoder.model_id,
        "content_hash": digest,
        "vector": vector.tobytes(),
        "updated_at": utcnow(),
    }
    changes = {key: values[key] for key in ("content_hash", "vector", "updated_at")}
    keys = ["participant_id", "model_id"]
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
            ParticipantEmbedding
        )
        upsert = insert.values(values).on_conflict_do_update(index_elements=keys, set_=changes)
        session.execute(upsert)
        if row is not None:
            session.expire(row)  # the upsert bypassed the ORM: read it afresh next time
    elif row is None:
        session.add(ParticipantEmbedding(**values))
    else:
        row.content_hash, row.vector = digest, vector.tobytes()
    session.flush()
    return vector
