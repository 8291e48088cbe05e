"""Use cases: suggest placements for a participant, record decisions and outcomes, erase.

`suggest` is the heart of the product. For one participant and one lane it gathers
candidates from three sources — nearest vectors (FAISS), nearest character n-gram vectors,
and the taxonomy (items of the wished-for, same-group, substitutable occupations, and of
the groups the participant's skills point to) — keeps the open ones, computes the features,
scores them with the serving ranker and logs every shown suggestion exactly as shown
(rank, score, bias, per-feature values, contributions and facts, model version), so that
training later sees what the coach saw. Nothing here filters a person out: every
participant with consent for matching gets the best-ranked open items there are.

Service functions work inside the caller's transaction and never commit.
"""

from __future__ import annotations

import hmac
import math
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session

from embeddings.cache import participant_vector
from embeddings.texts import participant_text
from matching.audit import Actor
from matching.catalogue import CatalogueEntry, Placed
from matching.changes import record_forget
from matching.concepts import Concepts
from matching.db.models import (
    AuditEntry,
    Consent,
    Feedback,
    Outcome,
    Participant,
    ParticipantEmbedding,
    Suggestion,
)
from matching.domain import AuditAction, ConsentScope, Decision, Lane, OutcomeKind, ReasonCode
from matching.engine import MatchingEngine
from matching.errors import ConsentMissing, InvalidInput, ParticipantNotFound, SuggestionNotFound
from matching.explain import Explanation, Language, explain
from matching.features import (
    FEATURES,
    FeatureRow,
    ItemFacts,
    ParticipantFacts,
    Place,
    commute_limit_km,
    compute_features,
    distance_km,
    distances_km,
    feature_matrix,
)
from matching.geo import locate
from matching.taxonomy import Taxonomy

#: Candidates taken from each source before ranking.
SEMANTIC_CANDIDATES = 100
LEXICAL_CANDIDATES = 100
TAXONOMY_CANDIDATES = 100
#: Groups a skills-only profile points to: those sharing at least this many skills.
SKILL_GROUP_MIN_OVERLAP = 2
SKILL_GROUPS = 3
MAX_K = 100


@dataclass(frozen=True)
class ShownSuggestion:
    """One ranked suggestion as logged and shown."""

    suggestion_id: int
    rank: int
    lane: Lane
    item_id: int
    title: str
    organisation: str
    municipality: str | None
    occupation_label: str | None
    score: float
    bias: float
    contributions: dict[str, float]
    values: dict[str, float | None]
    facts: dict[str, dict[str, Any]]

    def explanation(self, language: Language = "sv") -> Explanation:
        return explain(
            contributions=self.contributions,
            values=self.values,
            facts=self.facts,
            language=language,
        )


@dataclass(frozen=True)
class Slate:
    """The suggestions shown together for one participant and lane."""

    slate_id: str
    participant_id: int
    lane: Lane
    model_version: str
    created_at: datetime
    considered: int
    suggestions: tuple[ShownSuggestion, ...]


def has_consent(participant: Participant, scope: ConsentScope) -> bool:
    return any(c.scope is scope and c.withdrawn_at is None for c in participant.consents)


def occupation_labels(engine: MatchingEngine) -> Mapping[str, str]:
    return engine.occupation_labels


def participant_facts(participant: Participant, engine: MatchingEngine) -> ParticipantFacts:
    """The participant as the features see it: stated wishes, strengths and limits only."""
    recognise = engine.recognise
    wishes: Concepts = recognise(
        f"{participant.preferred_occupations_text}\n{participant.preferred_tasks_text}"
    )
    strengths: Concepts = recognise(
        "\n".join(
            [
                participant.skills_text,
                participant.experience_text,
                participant.education_text,
                participant.interests_text,
            ]
        )
    )
    coded = [o for o in participant.preferred_occupation_ids if o in engine.taxonomy.occupations]
    recognised = [m.concept_id for m in wishes.mentions if m.kind == "occupation"]
    group_wishes = {m.concept_id for m in wishes.mentions if m.kind == "group"}
    experience = [m.concept_id for m in strengths.mentions if m.kind == "occupation"]
    return ParticipantFacts(
        home=locate(
            participant.home_lat, participant.home_lon, participant.municipality, engine.centroids
        ),
        commute_limit_km=commute_limit_km(
            participant.max_commute_km, participant.max_commute_minutes
        ),
        hours_min=participant.hours_min,
        hours_max=participant.hours_max,
        no_evenings=participant.no_evenings,
        no_weekends=participant.no_weekends,
        no_nights=participant.no_nights,
        environment=frozenset(participant.environment_preferences),
        accommodations=frozenset(participant.accommodations),
        preferred_occupations=tuple(dict.fromkeys([*coded, *recognised])),
        preferred_groups=frozenset(group_wishes),
        experience_occupations=tuple(dict.fromkeys(experience)),
        skills=wishes.skills | strengths.skills,
    )


def target_groups(facts: ParticipantFacts, engine: MatchingEngine) -> set[str]:
    """SSYK groups whose items are candidates: wished-for, substitutable, experience, skills."""
    taxonomy = engine.taxonomy
    groups = set(facts.preferred_groups)
    for occupation_id in (*facts.preferred_occupations, *facts.experience_occupations):
        occupation = taxonomy.occupations.get(occupation_id)
        if occupation is None:
            continue
        groups.add(occupation.ssyk)
        for other in taxonomy.can_substitute_for.get(occupation_id, {}):
            groups.add(taxonomy.occupations[other].ssyk)
    overlap = Counter(
        group for skill in facts.skills for group in engine.groups_of_skill.get(skill, ())
    )
    groups.update(
        group
        for group, count in overlap.most_common(SKILL_GROUPS)
        if count >= SKILL_GROUP_MIN_OVERLAP
    )
    return groups


#: NumPy's great-circle distances may differ from `distance_km` in the last bits; anything
#: within this many km of the cut-off is measured again with `distance_km`, which decides.
DISTANCE_SLACK_KM = 1e-6


def _nearest(items: Placed, home: Place | None, limit: int) -> list[int]:
    """At most `limit` of the items, nearest to `home` first (ties and no home: by id)."""
    if len(items.ids) <= limit or home is None:
        first: list[int] = np.sort(items.ids)[:limit].tolist()
        return first
    approximate = distances_km(home, items.lat, items.lon)
    cutoff = np.partition(approximate, limit - 1)[limit - 1]
    close = np.flatnonzero(approximate <= cutoff + DISTANCE_SLACK_KM)
    exact = sorted(
        (
            math.inf if math.isnan(lat) else distance_km(home, Place(lat, lon)),
            item_id,
        )
        for item_id, lat, lon in zip(
            items.ids[close].tolist(),
            items.lat[close].tolist(),
            items.lon[close].tolist(),
            strict=True,
        )
    )
    return [item_id for _, item_id in exact[:limit]]


def feedback_state(
    session: Session, participant_id: int, lane: Lane, now: datetime, not_now_days: int
) -> tuple[set[int], dict[int, int]]:
    """Items hidden by "never", and items snoozed by a recent "not now" (days ago).

    The latest decision on an item counts: a later shortlist lifts an earlier "not now".
    """
    item_column = Suggestion.opening_id if lane is Lane.JOBS else Suggestion.placement_id
    rows = session.execute(
        sa.select(item_column, Feedback.decision, Feedback.created_at)
        .join(Feedback, Feedback.suggestion_id == Suggestion.id)
        .where(Feedback.participant_id == participant_id, Suggestion.lane == lane)
        .order_by(Feedback.created_at, Feedback.id)
    ).all()
    latest: dict[int, tuple[Decision, datetime]] = {}
    for item_id, decision, created_at in rows:
        if item_id is not None:
            latest[item_id] = (decision, created_at)
    hidden = {i for i, (d, _) in latest.items() if d is Decision.NEVER}
    period = timedelta(days=not_now_days)
    snoozed = {
        i: (now - at).days
        for i, (d, at) in latest.items()
        if d is Decision.NOT_NOW and now - at < period
    }
    return hidden, snoozed


def _is_open(entry: CatalogueEntry, now: datetime) -> bool:
    return entry.facts.free_places > 0 and (
        entry.facts.expires_at is None or entry.facts.expires_at >= now
    )


@dataclass(frozen=True)
class Candidates:
    """The open items considered for one participant and lane, with their feature values.

    Ranking needs the values of every candidate (`matrix`); the facts behind them are
    computed only for the candidates shown (`row`).
    """

    ids: list[int]
    values: npt.NDArray[np.float64]
    participant: ParticipantFacts
    items: list[ItemFacts]
    semantic: list[float]
    lexical: list[float]
    snoozed_days_ago: list[int | None]
    taxonomy: Taxonomy
    now: datetime

    def matrix(self) -> npt.NDArray[np.float64]:
        return self.values

    def row(self, position: int) -> FeatureRow:
        """All features of one candidate with the facts behind them (same values as `matrix`)."""
        return compute_features(
            self.participant,
            self.items[position],
            semantic=self.semantic[position],
            lexical=self.lexical[position],
            taxonomy=self.taxonomy,
            now=self.now,
            snoozed_days_ago=self.snoozed_days_ago[position],
        )


def candidates_for(
    *,
    session: Session,
    engine: MatchingEngine,
    participant: Participant,
    lane: Lane,
    now: datetime,
    before_write: Callable[[], None] = lambda: None,
) -> Candidates:
    """Gather the candidates of every source and compute their features (no ranking).

    Reads only, unless the profile vector must be stored (the profile changed):
    `before_write` runs before that write.
    """
    catalogue = engine.catalogues[lane]
    facts = participant_facts(participant, engine)
    text = participant_text(participant, occupation_labels(engine))
    vector = participant_vector(
        session, engine.encoder, participant.id, text, before_write=before_write
    )
    query = catalogue.lexical.vectorise(text)
    hidden, snoozed = feedback_state(
        session, participant.id, lane, now, engine.settings.not_now_days
    )

    semantic_ids, _ = engine.indexes.search(lane, vector, SEMANTIC_CANDIDATES)
    lexical_ids, _ = catalogue.lexical.search(query, LEXICAL_CANDIDATES)
    taxonomy_ids = _nearest(
        catalogue.places_in_groups(target_groups(facts, engine)),
        facts.home,
        TAXONOMY_CANDIDATES,
    )
    entries = {
        i: entry
        for i in {*semantic_ids.tolist(), *lexical_ids.tolist(), *taxonomy_ids}
        if i not in hidden and (entry := catalogue.get(i)) is not None and _is_open(entry, now)
    }
    ids = sorted(entries)
    items = [entries[i].facts for i in ids]
    if ids:
        found, similarities = engine.indexes.search(lane, vector, len(ids), allowed_ids=ids)
        by_id = dict(zip(found.tolist(), similarities.tolist(), strict=True))
        # The serving model's cosine, on the scale the ranker was fitted on.
        semantic = engine.encoder.calibration.apply([by_id.get(i, 0.0) for i in ids]).tolist()
        lexical = catalogue.lexical.similarities(query, ids).tolist()
    else:
        semantic, lexical = [], []
    snoozed_days_ago = [snoozed.get(i) for i in ids]
    values = feature_matrix(
        facts,
        items,
        semantic=semantic,
        lexical=lexical,
        taxonomy=engine.taxonomy,
        now=now,
        snoozed_days_ago=snoozed_days_ago,
    )
    return Candidates(
        ids=ids,
        values=values,
        participant=facts,
        items=items,
        semantic=semantic,
        lexical=lexical,
        snoozed_days_ago=snoozed_days_ago,
        taxonomy=engine.taxonomy,
        now=now,
    )


@dataclass(frozen=True)
class RankedSlate:
    """A slate ranked but not yet logged: `log_slate` stores its rows and shows them."""

    slate_id: str
    participant_id: int
    lane: Lane
    model_version: str
    created_at: datetime
    considered: int
    rows: tuple[dict[str, Any], ...]  # the Suggestion rows to log, best first
    entries: tuple[CatalogueEntry, ...]  # the items shown, in the same order


def rank(
    *,
    session: Session,
    engine: MatchingEngine,
    participant_id: int,
    lane: Lane,
    k: int = 10,
    now: datetime | None = None,
    before_write: Callable[[], None] = lambda: None,
) -> RankedSlate:
    """Rank open items of `lane` for the participant; the top `k`, not yet logged.

    Reads only (see `candidates_for` for the one exception and `before_write`).
    """
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}", field="k")
    now = now or datetime.now(UTC)
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise ParticipantNotFound(participant_id)
    if not has_consent(participant, ConsentScope.MATCHING):
        raise ConsentMissing(ConsentScope.MATCHING.value)

    engine.catch_up(session)  # what other serving processes changed
    catalogue = engine.catalogues[lane]
    candidates = candidates_for(
        session=session,
        engine=engine,
        participant=participant,
        lane=lane,
        now=now,
        before_write=before_write,
    )
    model, version = engine.ranker.current()
    slate_id = str(uuid.uuid4())
    if not candidates.ids:
        return RankedSlate(slate_id, participant.id, lane, version, now, 0, (), ())
    contributions = model.explain(candidates.matrix())
    scores = model.bias_ + contributions.sum(axis=1)
    ids = candidates.ids
    order = sorted(range(len(ids)), key=lambda p: (-scores[p], ids[p]))[:k]

    rows: list[dict[str, Any]] = []
    entries: list[CatalogueEntry] = []
    for place, position in enumerate(order, start=1):
        item_id = ids[position]
        entry = catalogue.get(item_id)
        assert entry is not None  # a candidate is an entry of the catalogue
        row = candidates.row(position)
        rows.append(
            {
                "participant_id": participant.id,
                "lane": lane,
                "opening_id": item_id if lane is Lane.JOBS else None,
                "placement_id": item_id if lane is Lane.ASF else None,
                "slate_id": slate_id,
                "rank": place,
                "score": float(scores[position]),
                "bias": float(model.bias_),
                "contributions": {
                    name: float(value)
                    for name, value in zip(FEATURES, contributions[position], strict=True)
                },
                "feature_values": row.as_dict(),
                "facts": row.facts,
                "model_version": version,
                "created_at": now,
            }
        )
        entries.append(entry)
    return RankedSlate(
        slate_id, participant.id, lane, version, now, len(ids), tuple(rows), tuple(entries)
    )


def log_slate(session: Session, ranked: RankedSlate) -> Slate:
    """Log a ranked slate's suggestions as shown (one INSERT ... RETURNING) and show them."""
    shown: tuple[ShownSuggestion, ...] = ()
    if ranked.rows:
        # One statement on either backend: the returned ids are matched to the rows by
        # rank (unique within a slate), so they need not come back in parameter order
        # (which SQLite only guarantees one row at a time).
        returned = session.execute(
            sa.insert(Suggestion).returning(Suggestion.rank, Suggestion.id), list(ranked.rows)
        )
        id_of_rank: dict[int, int] = dict(returned.all())
        suggestion_ids = [id_of_rank[row["rank"]] for row in ranked.rows]
        shown = tuple(
            ShownSuggestion(
                suggestion_id=suggestion_id,
                rank=row["rank"],
                lane=ranked.lane,
                item_id=entry.facts.id,
                title=entry.title,
                organisation=entry.organisation,
                municipality=entry.municipality,
                occupation_label=entry.occupation_label,
                score=row["score"],
                bias=row["bias"],
                contributions=row["contributions"],
                values=row["feature_values"],
                facts=row["facts"],
            )
            for suggestion_id, row, entry in zip(
                suggestion_ids, ranked.rows, ranked.entries, strict=True
            )
        )
    return Slate(
        ranked.slate_id,
        ranked.participant_id,
        ranked.lane,
        ranked.model_version,
        ranked.created_at,
        ranked.considered,
        shown,
    )


def suggest(
    *,
    session: Session,
    engine: MatchingEngine,
    participant_id: int,
    lane: Lane,
    k: int = 10,
    now: datetime | None = None,
) -> Slate:
    """Rank open items of `lane` for the participant and log the top `k` as shown."""
    ranked = rank(
        session=session, engine=engine, participant_id=participant_id, lane=lane, k=k, now=now
    )
    return log_slate(session, ranked)


def lanes_in_order(participant: Participant) -> tuple[Lane, Lane]:
    """Competitive jobs first, unless the participant asked for work training."""
    if participant.goal.value == "work_training":
        return (Lane.ASF, Lane.JOBS)
    return (Lane.JOBS, Lane.ASF)


def record_feedback(
    *,
    session: Session,
    suggestion_id: int,
    decision: Decision,
    reason_code: ReasonCode | None = None,
    comment: str = "",
    coach_id: int | None = None,
    now: datetime | None = None,
) -> Feedback:
    """Record the coach's (and participant's) decision on a shown suggestion."""
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        raise SuggestionNotFound(suggestion_id)
    feedback = Feedback(
        suggestion_id=suggestion.id,
        participant_id=suggestion.participant_id,
        decision=decision,
        reason_code=reason_code,
        comment=comment,
        coach_id=coach_id,
        created_at=now or datetime.now(UTC),
    )
    session.add(feedback)
    session.flush()
    return feedback


def record_outcome(
    *,
    session: Session,
    participant_id: int,
    kind: OutcomeKind,
    occurred_at: datetime,
    suggestion_id: int | None = None,
    hours_per_week: float | None = None,
    recorded_by: int | None = None,
) -> Outcome:
    """Record what followed (interview, job start, end, still employed at 90 days)."""
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise ParticipantNotFound(participant_id)
    opening_id = placement_id = None
    if suggestion_id is not None:
        suggestion = session.get(Suggestion, suggestion_id)
        if suggestion is None or suggestion.participant_id != participant_id:
            raise SuggestionNotFound(suggestion_id)
        opening_id, placement_id = suggestion.opening_id, suggestion.placement_id
    outcome = Outcome(
        participant_id=participant_id,
        suggestion_id=suggestion_id,
        opening_id=opening_id,
        placement_id=placement_id,
        kind=kind,
        hours_per_week=hours_per_week,
        occurred_at=occurred_at,
        recorded_by=recorded_by,
    )
    session.add(outcome)
    session.flush()
    return outcome


@dataclass(frozen=True)
class Erasure:
    """What erasing one participant removed: rows per table, and the audit tombstone."""

    tombstone: str
    removed: dict[str, int]

    def summary(self) -> str:
        rows = ", ".join(f"{count} {table}" for table, count in self.removed.items())
        return f"erased ({rows}); the audit log keeps {self.tombstone}"


def tombstone_of(secret: str, participant_id: int) -> str:
    """The pseudonym audit rows keep for an erased participant: a keyed hash of the id.

    It groups the erased person's audit rows and cannot be turned back into the id without
    the secret; it differs from the training export's `participant_key`, so the two cannot
    be joined.
    """
    digest = hmac.new(secret.encode(), f"erased-participant:{participant_id}".encode(), "sha256")
    return f"erased:{digest.hexdigest()[:32]}"


def erase_participant(
    *, session: Session, participant: Participant, secret: str, actor: Actor
) -> Erasure:
    """Remove the participant everywhere (GDPR Art. 17); the audit log keeps a tombstone.

    Deleted: the profile, consents, profile vectors, every logged suggestion with its
    decisions and comments, and outcomes. Later datasets and exports read these rows, so
    the person leaves them too; the vector indexes hold only openings and places. Audit rows
    lose the id and keep `tombstone_of`, plus one `erase` row saying who erased and when.
    """
    participant_id = participant.id
    tombstone = tombstone_of(secret, participant_id)
    suggestions = sa.select(Suggestion.id).where(Suggestion.participant_id == participant_id)
    statements: dict[str, sa.Delete] = {
        "feedback": sa.delete(Feedback).where(Feedback.suggestion_id.in_(suggestions)),
        "outcomes": sa.delete(Outcome).where(Outcome.participant_id == participant_id),
        "suggestions": sa.delete(Suggestion).where(Suggestion.participant_id == participant_id),
        "consents": sa.delete(Consent).where(Consent.participant_id == participant_id),
        "profile vectors": sa.delete(ParticipantEmbedding).where(
            ParticipantEmbedding.participant_id == participant_id
        ),
    }
    removed = {
        table: _rowcount(
            session.execute(statement, execution_options={"synchronize_session": False})
        )
        for table, statement in statements.items()
    }
    removed["audit rows pseudonymised"] = _rowcount(
        session.execute(
            sa.update(AuditEntry)
            .where(AuditEntry.participant_id == participant_id)
            .values(participant_id=None, subject=tombstone),
            execution_options={"synchronize_session": False},
        )
    )
    session.expunge(participant)
    removed["participants"] = _rowcount(
        session.execute(
            sa.delete(Participant).where(Participant.id == participant_id),
            execution_options={"synchronize_session": False},
        )
    )
    session.add(
        AuditEntry(
            actor_user_id=actor.user_id,
            actor_role=actor.role.value if actor.role else None,
            action=AuditAction.ERASE,
            participant_id=None,
            subject=tombstone,
            fields=sorted(removed),
            request_id=actor.request_id,
        )
    )
    # Every serving process forgets the profile texts it remembers, not only this one.
    record_forget(session)
    session.flush()
    return Erasure(tombstone=tombstone, removed=removed)


def _rowcount(result: sa.Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def participant_by_reference(
    session: Session, reference: str, organisation_id: int | None = None
) -> Participant:
    """Find a participant by pseudonymous reference (unique within an organisation)."""
    statement = sa.select(Participant).where(Participant.external_ref == reference)
    if organisation_id is not None:
        statement = statement.where(Participant.organisation_id == organisation_id)
    found: Sequence[Participant] = session.scalars(statement).all()
    if not found:
        raise ParticipantNotFound(reference)
    if len(found) > 1:
        raise InvalidInput(
            f"reference {reference!r} exists in {len(found)} organisations; name the organisation",
            field="organisation",
        )
    return found[0]
