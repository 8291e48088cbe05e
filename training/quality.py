"""The matching quality benchmark: a Swedish relevance-labelled set made from the taxonomy.

The set is synthetic and comes from the same JobTech Taxonomy extract the concept
recogniser uses, which favours the taxonomy signals; `docs/benchmarks.md` says so next to
the figures. It is made like this (`generate_set`, deterministic for a seed):

- *Groups*: a seeded sample of the SSYK-4 groups that have at least two occupation names
  and eight skills. A seeded, hash-based share of all groups is *held out*
  (`group_split`): a group's side depends only on the seed and its code, so encoder or
  ranker training can leave the held-out groups out entirely, and the benchmark reports
  them separately. Weights are tuned on the other ("development") groups only.
- *Openings*: for a few occupations of each sampled group, several ads. Title: the
  occupation name or one of its "/" alternatives in a few phrasings, sometimes a generic
  title. Text: skills of the occupation (see below) as requirements and in the body, one
  sentence of the group's definition, neutral intro and closing. Most carry the
  employer's occupation code, the rest are left to the recogniser. Hours, place and dates
  are the same for every opening, so only the text decides.
- *Skills per occupation*: the taxonomy links skills to groups, not occupations, so each
  occupation gets a seeded profile (a subset of its group's skills); a quarter of each
  group's skills is held back from every ad.
- *Participants*, two kinds: "title_skills" ("Vill arbeta som X" and three skills) and
  "skills_only" (skills and experience, no occupation name). Their skills are sampled from
  the occupation's profile independently of any ad. The *hard* variant draws skills only
  from the held-back skills (so no ad names them), inflects them slightly and names the
  occupation without its qualifier.
- *Relevance*: an opening of the participant's occupation 2, of the same SSYK-4 group 1,
  otherwise 0.

`QualityBenchmark.build` runs the real pipeline once: the set goes into a temporary,
migrated SQLite database, a `MatchingEngine` starts on it, and for every participant the
jobs lane's `candidates_for` gives the candidates and their feature rows; the baselines
rank every opening by word BM25, character n-gram TF-IDF and embedding cosine over the same
texts. What is kept (feature matrices, baseline rankings, labels) is small and cacheable
(`load_or_build`, an .npz keyed by a digest of the taxonomy, the code and the settings), so
`score(model)` of any `AdditiveRanker` costs milliseconds: a promotion gate can score a
candidate model without rebuilding anything.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import os
import random
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Self

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from embeddings.cache import ENCODE_BATCH, item_vectors
from embeddings.encoder import Encoder, load_encoder
from embeddings.texts import content_hash, participant_text
from matching.catalogue import item_text
from matching.db import migrate
from matching.db.models import (
    Consent,
    Employer,
    Opening,
    Organisation,
    Participant,
    ParticipantEmbedding,
)
from matching.db.repositories import searchable_items
from matching.db.session import make_engine, make_session_factory
from matching.domain import ConsentScope, Goal, Lane
from matching.engine import MatchingEngine
from matching.features import FEATURES
from matching.lexical import Bm25Index
from matching.progress import Track, no_progress
from matching.ranker import HAND_SET, AdditiveRanker
from matching.service import candidates_for, occupation_labels
from matching.settings import Settings
from matching.taxonomy import Occupation, Skill, Taxonomy, load_taxonomy
from training.metrics import mean_ignoring_undefined, ndcg_at_k, recall_at_k

log = logging.getLogger(__name__)

#: Change whenever the generation below changes in a way the source digest cannot see.
QUALITY_SET_VERSION: Final = "1"
DEFAULT_SEED: Final = 20251124
NDCG_K: Final = 10
RECALL_K: Final = 50
#: Positions of each baseline's ranking that are kept (NDCG@10 and recall@50 need 50).
BASELINE_DEPTH: Final = 100

TITLE_SKILLS, SKILLS_ONLY = "title_skills", "skills_only"
KINDS: Final = (TITLE_SKILLS, SKILLS_ONLY)
STANDARD, HARD = "standard", "hard"
VARIANTS: Final = (STANDARD, HARD)

BM25, TFIDF, SEMANTIC = "bm25", "tfidf", "semantic"
BASELINES: Final = (BM25, TFIDF, SEMANTIC)
METHOD_NAMES: Final[Mapping[str, str]] = {
    BM25: "BM25 (words)",
    TFIDF: "TF-IDF (character n-grams)",
    SEMANTIC: "embeddings alone",
}
#: The features of the taxonomy-only ranker (the recogniser's signals, nothing textual).
TAXONOMY_FEATURES: Final = ("occupation", "experience", "skills")

#: The clock of the benchmark: every opening is published 5 days before and open 30 after.
NOW: Final = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

MIN_OCCUPATIONS: Final = 2
MIN_SKILLS: Final = 8
#: Share of ads that carry the employer's occupation code (the fixtures have about 3/4).
CODED_SHARE: Final = 0.7
GENERIC_TITLE_SHARE: Final = 0.15
#: Share of a group's skills held back from every ad (the hard participants' skills).
HELD_BACK_SHARE: Final = 0.25
#: Share of the (not held back) group skills in one occupation's profile.
PROFILE_SHARE: Final = 0.6


@dataclass(frozen=True)
class SetSize:
    """How big the generated set is. The defaults are the benchmark's; tests use fewer."""

    groups: int = 120
    occupations_per_group: int = 4
    openings_per_occupation: int = 3
    #: participants of each kind per group, standard variant
    participants_per_kind: int = 2
    #: participants of each kind per group, hard variant
    hard_participants_per_kind: int = 1
    held_out_share: float = 0.2


# --- the group split ---------------------------------------------------------------------


def is_held_out(ssyk: str, *, seed: int, share: float) -> bool:
    """Whether an SSYK-4 group is held out: a hash of seed and code, stable as groups change."""
    digest = hashlib.sha256(f"quality-split:{seed}:{ssyk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True)
class GroupSplit:
    """SSYK-4 groups for development (training, tuning) and held out (evaluation only)."""

    development: frozenset[str]
    held_out: frozenset[str]


def group_split(taxonomy: Taxonomy, *, seed: int = DEFAULT_SEED, share: float = 0.2) -> GroupSplit:
    """Split every group of the taxonomy; training pairs must come from `development` only."""
    held_out = frozenset(c for c in taxonomy.groups if is_held_out(c, seed=seed, share=share))
    return GroupSplit(development=frozenset(taxonomy.groups) - held_out, held_out=held_out)


def eligible_groups(taxonomy: Taxonomy) -> list[str]:
    """Groups with enough occupation names and skills to make openings and participants."""
    return sorted(
        code
        for code in taxonomy.groups
        if len(taxonomy.occupations_by_group.get(code, ())) >= MIN_OCCUPATIONS
        and len(taxonomy.group_skills(code)) >= MIN_SKILLS
    )


# --- generating the set ------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningSpec:
    occupation_id: str  # the truth, whether or not the ad carries the code
    ssyk: str
    coded: bool
    title: str
    required_skills: tuple[str, ...]
    nice_skills: tuple[str, ...]
    description: str
    skill_ids: tuple[str, ...]  # every skill the ad names (requirements and body)


@dataclass(frozen=True)
class ParticipantSpec:
    reference: str
    kind: str
    variant: str
    occupation_id: str  # the occupation the profile was made from
    ssyk: str
    preferred_occupations_text: str
    skills_text: str
    experience_text: str
    skill_ids: tuple[str, ...]  # the skills the texts name


@dataclass(frozen=True)
class LabelledSet:
    groups: tuple[str, ...]
    held_out: frozenset[str]
    openings: tuple[OpeningSpec, ...]
    participants: tuple[ParticipantSpec, ...]


_TITLE_FORMS: Final = ("{t}", "{t}", "{t}", "{t} sökes", "{t} till vårt team", "Vi söker {l}")
_GENERIC_TITLES: Final = (
    "Ny medarbetare sökes",
    "Vi söker en ny kollega",
    "Medarbetare till vårt team",
    "Förstärkning sökes",
)
_INTROS: Final = (
    "Vi är ett växande företag och söker nu en ny medarbetare.",
    "Till vår verksamhet söker vi en engagerad kollega.",
    "Vill du bli en del av vårt team? Läs vidare!",
    "Vi behöver förstärkning och söker dig som vill utvecklas hos oss.",
)
_ROLE_SENTENCES: Final = (
    "Som {l} hos oss får du ett varierat arbete.",
    "Nu söker vi en {l}.",
    "Tjänsten passar dig som vill arbeta som {l}.",
)
_TASK_LEADS: Final = ("I arbetet ingår bland annat följande.", "Om arbetet:", "Arbetsuppgifter:")
_SKILL_SENTENCES: Final = (
    "Vi ser gärna att du har erfarenhet av {s}.",
    "Det är meriterande med kunskaper i {s}.",
    "Du behärskar {s}.",
)
_CLOSINGS: Final = (
    "Välkommen med din ansökan!",
    "Tillträde enligt överenskommelse.",
    "Vi tillämpar löpande urval.",
    "",
)
_WISHES: Final = ("Vill arbeta som {l}", "Vill jobba som {l}", "Söker arbete som {l}")
_HARD_WISHES: Final = ("Vill gärna jobba som {l}", "Intresserad av jobb som {l}")
_EXPERIENCE: Final = ("Erfarenhet av {s}", "Har tidigare hållit på med {s}")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+")


def _generator(name: str) -> random.Random:
    """A seeded generator: a string seed is hashed with SHA-512, the same on every run."""
    return random.Random(name)  # noqa: S311 - reproducible synthetic data, not secrets


def _alternatives(label: str) -> list[str]:
    return [part.strip() for part in label.split("/") if part.strip()]


def _in_sentence(label: str) -> str:
    """A label inside running text: lower case first letter unless it is an acronym."""
    if len(label) > 1 and label[:2].isupper():
        return label
    return label[:1].lower() + label[1:]


def _listing(labels: Sequence[str]) -> str:
    if len(labels) <= 1:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} och {labels[-1]}"


def _definite(word: str) -> str:
    """A rough Swedish definite form ("truckvana" -> "truckvanan", "bokslut" -> "bokslutet")."""
    if not word.isalpha() or word.isupper():
        return word
    if word.endswith(("er", "ar", "or")):
        return word + "na"
    if word.endswith("a"):
        return word + "n"
    if word.endswith("e"):
        return word + "t"
    if word.endswith(("slut", "stöd", "språk", "kort", "bevis", "intyg")):
        return word + "et"
    return word + "en"


def _inflected(label: str) -> str:
    """A skill label as a participant might write it: one of its "/" alternatives, lower
    case, its head word in the definite form ("Truckvana" -> "truckvanan")."""
    core, comma, qualifier = label.partition(",")
    words = _in_sentence(_alternatives(core)[0]).split()
    if words:
        words[-1] = _definite(words[-1])
    return " ".join(words) + (f",{qualifier}" if comma else "")


def _core(label: str) -> str:
    """An occupation named loosely: one alternative, without its qualifier, in lower case."""
    return _in_sentence(label.split(",")[0].strip())


def _sentences(definition: str) -> list[str]:
    text = " ".join(definition.split())
    return [s for s in _SENTENCE_END.split(text) if len(s) > 10]


def _opening(
    rng: random.Random, taxonomy: Taxonomy, occupation: Occupation, profile: Sequence[Skill]
) -> OpeningSpec:
    title_label = rng.choice(_alternatives(occupation.label))
    if rng.random() < GENERIC_TITLE_SHARE:
        title = rng.choice(_GENERIC_TITLES)
    else:
        form = rng.choice(_TITLE_FORMS)
        title = form.format(t=title_label, l=_in_sentence(title_label))
    skills = rng.sample(list(profile), min(len(profile), rng.randint(3, 6)))
    required = tuple(s.label for s in skills[: rng.randint(2, 3)])
    nice = tuple(s.label for s in skills[len(required) : len(required) + rng.randint(0, 1)])
    body_skills = [_in_sentence(s.label) for s in skills[len(required) + len(nice) :]]
    group = taxonomy.groups[occupation.ssyk]
    sentences = _sentences(group.definition)
    parts = [rng.choice(_INTROS)]
    if rng.random() < 0.5:
        parts.append(rng.choice(_ROLE_SENTENCES).format(l=_in_sentence(title_label)))
    if sentences:
        parts += [rng.choice(_TASK_LEADS), rng.choice(sentences)]
    if body_skills:
        parts.append(rng.choice(_SKILL_SENTENCES).format(s=_listing(body_skills)))
    parts.append(rng.choice(_CLOSINGS))
    return OpeningSpec(
        occupation_id=occupation.id,
        ssyk=occupation.ssyk,
        coded=rng.random() < CODED_SHARE,
        title=title,
        required_skills=required,
        nice_skills=nice,
        description=" ".join(p for p in parts if p),
        skill_ids=tuple(s.id for s in skills),
    )


def _participant(
    rng: random.Random,
    reference: str,
    kind: str,
    variant: str,
    occupation: Occupation,
    skills: Sequence[Skill],
) -> ParticipantSpec:
    count = 3 if kind == TITLE_SKILLS else 4
    chosen = rng.sample(list(skills), min(count, len(skills)))
    write = _inflected if variant == HARD else _in_sentence
    labels = [write(s.label) for s in chosen]
    wish = ""
    experience = ""
    if kind == TITLE_SKILLS:
        if variant == HARD:
            wish = rng.choice(_HARD_WISHES).format(
                l=_core(rng.choice(_alternatives(occupation.label)))
            )
        else:
            name = _in_sentence(rng.choice(_alternatives(occupation.label)))
            wish = rng.choice(_WISHES).format(l=name)
        skills_text = _listing(labels)
    else:
        split = rng.randint(2, max(2, len(labels) - 1))
        skills_text = _listing(labels[:split])
        if labels[split:]:
            experience = rng.choice(_EXPERIENCE).format(s=_listing(labels[split:]))
    return ParticipantSpec(
        reference=reference,
        kind=kind,
        variant=variant,
        occupation_id=occupation.id,
        ssyk=occupation.ssyk,
        preferred_occupations_text=wish,
        skills_text=skills_text,
        experience_text=experience,
        skill_ids=tuple(s.id for s in chosen),
    )


def _group_set(
    taxonomy: Taxonomy, code: str, *, seed: int, size: SetSize
) -> tuple[list[OpeningSpec], list[ParticipantSpec]]:
    """The openings and participants of one group; its own seeded generator, so a group's
    content does not depend on which other groups were sampled."""
    rng = _generator(f"quality:{seed}:{code}")
    skills = list(taxonomy.group_skills(code))
    held_back = rng.sample(skills, max(4, round(HELD_BACK_SHARE * len(skills))))
    open_skills = [s for s in skills if s not in held_back]
    occupations = list(taxonomy.occupations_by_group[code])
    chosen = rng.sample(occupations, min(size.occupations_per_group, len(occupations)))
    profiles = {
        o.id: rng.sample(open_skills, max(4, round(PROFILE_SHARE * len(open_skills))))
        if len(open_skills) > 4
        else open_skills
        for o in chosen
    }
    openings = [
        _opening(rng, taxonomy, occupation, profiles[occupation.id])
        for occupation in chosen
        for _ in range(size.openings_per_occupation)
    ]
    participants = []
    for variant, per_kind in (
        (STANDARD, size.participants_per_kind),
        (HARD, size.hard_participants_per_kind),
    ):
        for kind in KINDS:
            for n in range(per_kind):
                occupation = rng.choice(chosen)
                pool = held_back if variant == HARD else profiles[occupation.id]
                reference = f"Q-{code}-{variant[0]}{kind[0]}{n}"
                participants.append(_participant(rng, reference, kind, variant, occupation, pool))
    return openings, participants


def generate_set(
    taxonomy: Taxonomy, *, seed: int = DEFAULT_SEED, size: SetSize = SetSize()
) -> LabelledSet:
    """The labelled set for a seed: the held-out share of the sample comes from held-out groups."""
    eligible = eligible_groups(taxonomy)
    held_out = [c for c in eligible if is_held_out(c, seed=seed, share=size.held_out_share)]
    development = sorted(set(eligible) - set(held_out))
    rng = _generator(f"quality-groups:{seed}")
    wanted_held_out = min(len(held_out), round(size.held_out_share * size.groups))
    wanted_development = min(len(development), size.groups - wanted_held_out)
    groups = sorted(
        rng.sample(development, wanted_development) + rng.sample(held_out, wanted_held_out)
    )
    openings: list[OpeningSpec] = []
    participants: list[ParticipantSpec] = []
    for code in groups:
        group_openings, group_participants = _group_set(taxonomy, code, seed=seed, size=size)
        openings += group_openings
        participants += group_participants
    # Database ids follow insertion order; shuffled, they say nothing about the group.
    _generator(f"quality-order:{seed}").shuffle(openings)
    return LabelledSet(
        groups=tuple(groups),
        held_out=frozenset(held_out) & frozenset(groups),
        openings=tuple(openings),
        participants=tuple(participants),
    )


# --- running the pipeline once -----------------------------------------------------------

Strings = npt.NDArray[np.str_]
Positions = npt.NDArray[np.int64]
Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]

#: Modules whose code decides what the benchmark stores: a change to any rebuilds the cache.
SOURCE_MODULES: Final = (
    "embeddings.cache",
    "embeddings.encoder",
    "embeddings.index",
    "embeddings.lanes",
    "embeddings.texts",
    "matching.catalogue",
    "matching.concepts",
    "matching.engine",
    "matching.features",
    "matching.lexical",
    "matching.service",
    "matching.taxonomy",
    "training.quality",
)


def _store(
    session_factory: sessionmaker[Session], taxonomy: Taxonomy, labelled: LabelledSet
) -> None:
    """Write the set into the (empty, migrated) database."""
    with session_factory.begin() as session:
        organisation = Organisation(name="Kvalitetsmätning", municipalities=[])
        employer = Employer(name="Arbetsgivare i kvalitetsmätningen")
        session.add_all([organisation, employer])
        session.flush()
        for n, spec in enumerate(labelled.openings):
            session.add(
                Opening(
                    employer_id=employer.id,
                    title=spec.title,
                    description=spec.description,
                    occupation_id=spec.occupation_id if spec.coded else None,
                    occupation_label=(
                        taxonomy.occupations[spec.occupation_id].label if spec.coded else None
                    ),
                    ssyk_code=spec.ssyk if spec.coded else None,
                    required_skills=list(spec.required_skills),
                    nice_skills=list(spec.nice_skills),
                    published_at=NOW - timedelta(days=5),
                    expires_at=NOW + timedelta(days=30),
                    source_ref=f"Q-O{n:05d}",
                )
            )
        for person in labelled.participants:
            participant = Participant(
                organisation_id=organisation.id,
                external_ref=person.reference,
                preferred_occupations_text=person.preferred_occupations_text,
                skills_text=person.skills_text,
                experience_text=person.experience_text,
                goal=Goal.COMPETITIVE_JOB,
            )
            participant.consents = [Consent(scope=ConsentScope.MATCHING, given_at=NOW)]
            session.add(participant)


def _top(scores: npt.ArrayLike, ids: Positions, *, positive_only: bool) -> Positions:
    """Positions of the best `BASELINE_DEPTH` scores (ties by database id), -1 padded."""
    values = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((ids, -values))
    if positive_only:
        order = order[values[order] > 0]
    ranking = np.full(BASELINE_DEPTH, -1, dtype=np.int64)
    kept = order[:BASELINE_DEPTH]
    ranking[: kept.size] = kept
    return ranking


@dataclass
class _Collected:
    item_ids: list[int] = field(default_factory=list)
    item_specs: list[OpeningSpec] = field(default_factory=list)
    query_specs: list[ParticipantSpec] = field(default_factory=list)
    query_texts: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=lambda: [0])
    candidate_items: list[npt.NDArray[np.int64]] = field(default_factory=list)
    features: list[Matrix] = field(default_factory=list)
    baselines: dict[str, list[Positions]] = field(
        default_factory=lambda: {name: [] for name in BASELINES}
    )


def _encode_participants(
    session: Session,
    encoder: Encoder,
    participants: Sequence[Participant],
    texts: Sequence[str],
    track: Track,
) -> list[npt.NDArray[np.float32]]:
    """Encode every profile in batches and fill the vector cache with them.

    `candidates_for` then finds each participant's vector cached (same model, same content
    hash) instead of encoding one text at a time, which is several times slower.
    """
    batches = [
        range(i, min(i + ENCODE_BATCH, len(texts))) for i in range(0, len(texts), ENCODE_BATCH)
    ]
    vectors: list[npt.NDArray[np.float32]] = []
    for batch in track(batches, "encoding participants", len(batches)):
        vectors.extend(encoder.encode([texts[i] for i in batch], batch_size=ENCODE_BATCH))
    session.add_all(
        ParticipantEmbedding(
            participant_id=participant.id,
            model_id=encoder.model_id,
            content_hash=content_hash(text),
            vector=vector.tobytes(),
        )
        for participant, text, vector in zip(participants, texts, vectors, strict=True)
    )
    session.flush()
    return vectors


def _collect(engine: MatchingEngine, labelled: LabelledSet, track: Track) -> _Collected:
    """Candidates and feature rows through `candidates_for`, and the baselines' rankings."""
    collected = _Collected()
    by_reference = {spec.reference: spec for spec in labelled.participants}
    labels = occupation_labels(engine)
    with engine.session_factory() as session:
        items = searchable_items(session, Lane.JOBS)
        texts = [item_text(item) for item in items]
        collected.item_ids = [item.id for item in items]
        collected.item_specs = [
            labelled.openings[int(str(item.source_ref)[3:])]
            for item in items
            if isinstance(item, Opening)
        ]
        ids = np.asarray(collected.item_ids, dtype=np.int64)
        position = {item_id: n for n, item_id in enumerate(collected.item_ids)}
        item_vectors_, _ = item_vectors(session, engine.encoder, texts)
        bm25 = Bm25Index(texts)
        lexical = engine.catalogues[Lane.JOBS].lexical
        participants = session.scalars(sa.select(Participant).order_by(Participant.id)).all()
        query_texts = [participant_text(participant, labels) for participant in participants]
        query_vectors = _encode_participants(
            session, engine.encoder, participants, query_texts, track
        )
        for participant, text, vector in track(
            zip(participants, query_texts, query_vectors, strict=True),
            "ranking for each participant",
            len(participants),
        ):
            candidates = candidates_for(
                session=session, engine=engine, participant=participant, lane=Lane.JOBS, now=NOW
            )
            collected.query_specs.append(by_reference[participant.external_ref])
            collected.query_texts.append(text)
            collected.candidate_items.append(
                np.asarray([position[i] for i in candidates.ids], dtype=np.int64)
            )
            collected.features.append(candidates.matrix())
            collected.offsets.append(collected.offsets[-1] + len(candidates.ids))
            baselines = collected.baselines
            baselines[BM25].append(_top(bm25.scores(text), ids, positive_only=True))
            similarities = lexical.similarities(lexical.vectorise(text), collected.item_ids)
            baselines[TFIDF].append(_top(similarities, ids, positive_only=True))
            baselines[SEMANTIC].append(_top(item_vectors_ @ vector, ids, positive_only=False))
        session.rollback()
    return collected


def _source_digest() -> str:
    digest = hashlib.sha256()
    for name in SOURCE_MODULES:
        module = importlib.import_module(name)
        digest.update(name.encode())
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def _taxonomy_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.json")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def benchmark_key(settings: Settings, *, seed: int, size: SetSize, model_id: str) -> str:
    """What the stored artefact depends on: set version and size, seed, data, code, model."""
    parts = {
        "version": QUALITY_SET_VERSION,
        "seed": seed,
        "size": asdict(size),
        "taxonomy": _taxonomy_digest(settings.taxonomy_dir),
        "code": _source_digest(),
        "model": model_id,
        "max_seq_length": settings.embedding_max_seq_length,
        "index": [settings.index_kind, settings.index_ivf_from, settings.index_nprobe],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# --- the stored benchmark and its reports ------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """Means over the queries of one slice."""

    queries: int
    ndcg_at_10: float
    recall_at_50: float


#: Report slices: (variant, kind or None for both kinds).
SLICES: Final[Mapping[str, tuple[str, str | None]]] = {
    "overall": (STANDARD, None),
    TITLE_SKILLS: (STANDARD, TITLE_SKILLS),
    SKILLS_ONLY: (STANDARD, SKILLS_ONLY),
    "hard": (HARD, None),
    f"hard_{TITLE_SKILLS}": (HARD, TITLE_SKILLS),
    f"hard_{SKILLS_ONLY}": (HARD, SKILLS_ONLY),
}


@dataclass(frozen=True)
class QualityReport:
    method: str
    slices: Mapping[str, Metrics]

    def ndcg(self, name: str = "overall") -> float:
        return self.slices[name].ndcg_at_10


def taxonomy_only_ranker() -> AdditiveRanker:
    """The hand-set shapes of the taxonomy features alone (occupation, experience, skills)."""
    return AdditiveRanker.from_shapes(
        {name: (HAND_SET[name].low, HAND_SET[name].high) for name in TAXONOMY_FEATURES},
        {name: (HAND_SET[name].weight,) for name in TAXONOMY_FEATURES},
    )


_ARRAYS: Final = (
    "item_ids",
    "item_occupation",
    "item_group",
    "item_title",
    "item_coded",
    "query_kind",
    "query_variant",
    "query_occupation",
    "query_group",
    "query_text",
    "candidate_offsets",
    "candidate_items",
    "features",
)


@dataclass(frozen=True, eq=False)
class QualityBenchmark:
    """The labelled set as the pipeline saw it: candidates, feature rows, baseline rankings.

    Items are the openings (positions 0..n-1 in every array), queries the participants.
    Query q's candidates are rows `candidate_offsets[q]:candidate_offsets[q + 1]` of
    `features`, and `candidate_items` holds their item positions.
    """

    key: str
    seed: int
    size: SetSize
    groups: tuple[str, ...]
    held_out_groups: frozenset[str]
    item_ids: Positions
    item_occupation: Strings
    item_group: Strings
    item_title: Strings
    item_coded: npt.NDArray[np.bool_]
    query_kind: Strings
    query_variant: Strings
    query_occupation: Strings
    query_group: Strings
    query_text: Strings
    candidate_offsets: Positions
    candidate_items: Positions
    features: Matrix
    baseline_rankings: Mapping[str, Positions]

    # --- making and keeping it ------------------------------------------------------------

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        seed: int = DEFAULT_SEED,
        size: SetSize = SetSize(),
        track: Track = no_progress,
    ) -> Self:
        """Generate the set and run it through a fresh engine on a temporary database."""
        taxonomy = load_taxonomy(settings.taxonomy_dir)
        labelled = generate_set(taxonomy, seed=seed, size=size)
        with tempfile.TemporaryDirectory(prefix="stegvis-quality-") as folder:
            root = Path(folder)
            url = f"sqlite:///{(root / 'quality.db').as_posix()}"
            migrate.upgrade(url)
            database = make_engine(url)
            try:
                session_factory = make_session_factory(database)
                _store(session_factory, taxonomy, labelled)
                engine = MatchingEngine.start(
                    settings.model_copy(
                        update={"database_url": url, "data_dir": root, "index_dir": None}
                    ),
                    session_factory,
                    track=track,
                )
                collected = _collect(engine, labelled, track)
                model_id = engine.encoder.model_id
            finally:
                database.dispose()
        features = (
            np.vstack(collected.features) if collected.features else np.zeros((0, len(FEATURES)))
        )
        benchmark = cls(
            key=benchmark_key(settings, seed=seed, size=size, model_id=model_id),
            seed=seed,
            size=size,
            groups=labelled.groups,
            held_out_groups=labelled.held_out,
            item_ids=np.asarray(collected.item_ids, dtype=np.int64),
            item_occupation=np.asarray([s.occupation_id for s in collected.item_specs]),
            item_group=np.asarray([s.ssyk for s in collected.item_specs]),
            item_title=np.asarray([s.title for s in collected.item_specs]),
            item_coded=np.asarray([s.coded for s in collected.item_specs], dtype=bool),
            query_kind=np.asarray([s.kind for s in collected.query_specs]),
            query_variant=np.asarray([s.variant for s in collected.query_specs]),
            query_occupation=np.asarray([s.occupation_id for s in collected.query_specs]),
            query_group=np.asarray([s.ssyk for s in collected.query_specs]),
            query_text=np.asarray(collected.query_texts),
            candidate_offsets=np.asarray(collected.offsets, dtype=np.int64),
            candidate_items=(
                np.concatenate(collected.candidate_items)
                if collected.candidate_items
                else np.zeros(0, dtype=np.int64)
            ),
            features=features.astype(np.float64),
            baseline_rankings={
                name: np.vstack(rows) if rows else np.zeros((0, BASELINE_DEPTH), dtype=np.int64)
                for name, rows in collected.baselines.items()
            },
        )
        log.info(
            "quality benchmark built: %d groups, %d openings, %d participants, %d candidate rows",
            len(benchmark.groups),
            len(benchmark.item_ids),
            len(benchmark.query_kind),
            len(benchmark.features),
        )
        return benchmark

    @classmethod
    def load_or_build(
        cls,
        settings: Settings,
        *,
        seed: int = DEFAULT_SEED,
        size: SetSize = SetSize(),
        cache_dir: Path | None = None,
        rebuild: bool = False,
        track: Track = no_progress,
    ) -> Self:
        """The stored benchmark for these settings, built (and stored) when there is none.

        The file is keyed by `benchmark_key`, so a changed taxonomy, feature or recogniser
        code, embedding model or set size never reuses an old artefact. `rebuild` builds
        and stores it anew regardless.
        """
        encoder = load_encoder(
            settings.embedding_model, max_seq_length=settings.embedding_max_seq_length
        )
        key = benchmark_key(settings, seed=seed, size=size, model_id=encoder.model_id)
        folder = cache_dir if cache_dir is not None else settings.data_dir / "quality"
        path = folder / f"quality-{key[:20]}.npz"
        if path.exists() and not rebuild:
            try:
                stored = cls.load(path)
            except (OSError, ValueError, KeyError) as error:
                log.warning(
                    "stored quality benchmark %s is unreadable (%s); rebuilding", path, error
                )
            else:
                if stored.key == key:
                    return stored
        benchmark = cls.build(settings, seed=seed, size=size, track=track)
        benchmark.save(path)
        return benchmark

    def save(self, path: Path) -> None:
        """Write the benchmark as one .npz, atomically."""
        meta = {
            "key": self.key,
            "seed": self.seed,
            "size": asdict(self.size),
            "groups": list(self.groups),
            "held_out_groups": sorted(self.held_out_groups),
            "baselines": list(self.baseline_rankings),
        }
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays |= {f"baseline_{name}": r for name, r in self.baseline_rankings.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            try:
                np.savez_compressed(handle, meta=np.asarray(json.dumps(meta)), **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                Path(handle.name).unlink(missing_ok=True)
                raise
        Path(handle.name).replace(path)
        descriptor = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    @classmethod
    def load(cls, path: Path) -> Self:
        with np.load(path, allow_pickle=False) as stored:
            meta: dict[str, Any] = json.loads(str(stored["meta"]))
            arrays = {name: stored[name] for name in _ARRAYS}
            baselines = {name: stored[f"baseline_{name}"] for name in meta["baselines"]}
        return cls(
            key=meta["key"],
            seed=int(meta["seed"]),
            size=SetSize(**meta["size"]),
            groups=tuple(meta["groups"]),
            held_out_groups=frozenset(meta["held_out_groups"]),
            baseline_rankings=baselines,
            **arrays,
        )

    # --- scoring --------------------------------------------------------------------------

    @property
    def query_count(self) -> int:
        return len(self.query_kind)

    @cached_property
    def _grades(self) -> npt.NDArray[np.int8]:
        """(queries, items): 2 same occupation, 1 same group, 0 otherwise."""
        same_occupation = self.query_occupation[:, None] == self.item_occupation[None, :]
        same_group = self.query_group[:, None] == self.item_group[None, :]
        return np.where(same_occupation, 2, np.where(same_group, 1, 0)).astype(np.int8)

    def rankings(self, model: AdditiveRanker) -> list[Positions]:
        """Each query's candidates ordered by the model's score, ties by database id."""
        scores = model.predict(self.features) if len(self.features) else np.zeros(0)
        rankings = []
        for query in range(self.query_count):
            start, end = self.candidate_offsets[query], self.candidate_offsets[query + 1]
            positions = self.candidate_items[start:end]
            order = np.lexsort((self.item_ids[positions], -scores[start:end]))
            rankings.append(positions[order])
        return rankings

    def baseline_ranking(self, method: str) -> list[Positions]:
        return [row[row >= 0] for row in self.baseline_rankings[method]]

    def query_metrics(self, rankings: Sequence[Positions]) -> tuple[Vector, Vector]:
        """(NDCG@10, recall@50) of every query; unretrieved relevant items count as missed."""
        ndcg = np.empty(self.query_count)
        recall = np.empty(self.query_count)
        for query, ranking in enumerate(rankings):
            every = self._grades[query]
            grades = every[ranking]
            ndcg[query] = ndcg_at_k(grades, NDCG_K, ideal=every[every > 0])
            recall[query] = recall_at_k(
                grades, RECALL_K, total_relevant=int(np.count_nonzero(every))
            )
        return ndcg, recall

    def report(
        self, method: str, rankings: Sequence[Positions], groups: Iterable[str] | None = None
    ) -> QualityReport:
        """Mean metrics per slice, over the queries of `groups` (all groups by default)."""
        ndcg, recall = self.query_metrics(rankings)
        groups = None if groups is None else frozenset(groups)
        slices = {}
        for name in SLICES:
            mask = self.slice_mask(name, groups)
            slices[name] = Metrics(
                queries=int(mask.sum()),
                ndcg_at_10=mean_ignoring_undefined(ndcg[mask]) if mask.any() else math.nan,
                recall_at_50=mean_ignoring_undefined(recall[mask]) if mask.any() else math.nan,
            )
        return QualityReport(method, slices)

    def slice_mask(self, name: str, groups: Iterable[str] | None = None) -> npt.NDArray[np.bool_]:
        """The queries of a report slice (`SLICES`), within `groups` when given."""
        variant, kind = SLICES[name]
        mask: npt.NDArray[np.bool_] = np.asarray(self.query_variant == variant, dtype=bool)
        if kind is not None:
            mask &= self.query_kind == kind
        if groups is not None:
            mask &= np.isin(self.query_group, sorted(set(groups)))
        return mask

    def score(
        self,
        model: AdditiveRanker,
        groups: Iterable[str] | None = None,
        *,
        method: str = "full ranker",
    ) -> QualityReport:
        """The model's quality over the stored candidates: cheap, no engine needed."""
        return self.report(method, self.rankings(model), groups)

    def baseline(self, method: str, groups: Iterable[str] | None = None) -> QualityReport:
        """A single-signal baseline (`BM25`, `TFIDF`, `SEMANTIC`) over every opening."""
        return self.report(METHOD_NAMES[method], self.baseline_ranking(method), groups)

    def baselines(self, groups: Iterable[str] | None = None) -> list[QualityReport]:
        return [self.baseline(method, groups) for method in BASELINES]

    @property
    def development_groups(self) -> frozenset[str]:
        return frozenset(self.groups) - self.held_out_groups

    def describe(self) -> dict[str, int]:
        """The set's size, for the report."""
        counts = {
            "groups": len(self.groups),
            "held_out_groups": len(self.held_out_groups),
            "openings": len(self.item_ids),
            "coded_openings": int(self.item_coded.sum()),
            "occupations": len(set(self.item_occupation.tolist())),
            "participants": self.query_count,
            "mean_candidates": round(len(self.features) / max(1, self.query_count)),
        }
        for variant in VARIANTS:
            for kind in KINDS:
                mask = (self.query_variant == variant) & (self.query_kind == kind)
                counts[f"{variant}_{kind}"] = int(mask.sum())
        return counts
