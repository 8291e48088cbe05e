"""Training pairs for adapting the encoder to Swedish job texts: taxonomy and coach decisions.

Each pair is (anchor, positive[, hard negative]): an anchor written like a participant's
text, a positive written like an opening's, both through `embeddings.texts` so they read
exactly as the served texts do. In-batch negatives come from the other pairs of a batch.

From the shipped JobTech Taxonomy, for the *development* SSYK-4 groups only:

- `name_definition`: "Vill arbeta som X" <-> an ad made of X's group name and definition;
- `occupation_skills`: "Vill arbeta som X" and two group skills <-> an ad for X with other
  skills of its group;
- `skills_occupation`: skills and experience only (no occupation named) <-> an ad for an
  occupation of the group that lists other skills of it: the hardest participants;
- `substitutes`: "Vill arbeta som A" <-> an ad for B, where the taxonomy says a person
  from A can do B's job (high substitutability);
- hard negatives (optional): an ad of an occupation in a *neighbouring* group (same
  SSYK-3, else SSYK-2 prefix).

From accepted coach decisions (`decision_pairs`), only of participants whose consent to
model training is given and not withdrawn: participant text <-> opening text for
shortlisted / contacted; an opening decided "never" is that participant's hard negative.

The held-out groups are those of the quality benchmark (`training.quality.group_split`):
no pair may touch one — neither through an occupation, a group, nor a skill that a
held-out group lists — so the benchmark's held-out figures measure transfer, not recall.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from embeddings.texts import opening_text, participant_text
from matching.db.models import Feedback, Opening, Participant, Suggestion
from matching.domain import Decision, Lane
from matching.taxonomy import Occupation, Skill, Taxonomy
from training.dataset import training_consent
from training.quality import DEFAULT_SEED, GroupSplit, group_split

NAME_DEFINITION, OCCUPATION_SKILLS, SKILLS_OCCUPATION, SUBSTITUTES, DECISIONS = (
    "name_definition",
    "occupation_skills",
    "skills_occupation",
    "substitutes",
    "decisions",
)
TAXONOMY_KINDS: Final = (NAME_DEFINITION, OCCUPATION_SKILLS, SKILLS_OCCUPATION, SUBSTITUTES)
KINDS: Final = (*TAXONOMY_KINDS, DECISIONS)
#: Substitutability the taxonomy calls high (75) — the low one (25) is too loose a positive.
HIGH_SUBSTITUTABILITY: Final = 75
_POSITIVE_DECISIONS: Final = (Decision.SHORTLISTED, Decision.CONTACTED_EMPLOYER)
_WISHES: Final = ("Vill arbeta som {l}", "Vill jobba som {l}", "Söker arbete som {l}")


@dataclass(frozen=True, slots=True)
class ProfileText:
    """The fields of a participant that enter its text (`embeddings.texts.ParticipantText`)."""

    preferred_occupations_text: str = ""
    preferred_tasks_text: str = ""
    preferred_occupation_ids: Sequence[str] = ()
    environment_preferences: Sequence[str] = ()
    environment_text: str = ""
    skills_text: str = ""
    experience_text: str = ""
    education_text: str = ""
    interests_text: str = ""


@dataclass(frozen=True, slots=True)
class AdText:
    """The fields of an opening that enter its text (`embeddings.texts.OpeningText`)."""

    title: str
    occupation_label: str | None = None
    required_skills: Sequence[str] = ()
    nice_skills: Sequence[str] = ()
    description: str = ""
    environment: Sequence[str] = ()


@dataclass(frozen=True)
class Pair:
    """One training example and what it was made from (for the leakage check)."""

    kind: str
    #: the SSYK-4 group of the positive: a batch holds one pair per group, so that no
    #: in-batch negative is of the positive's own group
    group: str
    anchor: str
    positive: str
    negative: str | None
    #: SSYK-4 groups whose occupations, definitions or skills the texts use
    groups: frozenset[str]
    skill_ids: frozenset[str] = field(default_factory=frozenset)


def _sentences(text: str) -> list[str]:
    return [s.strip().rstrip(".") + "." for s in text.replace("\n", " ").split(". ") if s.strip()]


def _first_sentence(text: str) -> str:
    sentences = _sentences(text)
    return sentences[0] if sentences else ""


def _names(occupation: Occupation) -> list[str]:
    """An occupation's label and its "/" alternatives ("Lagerarbetare/Truckförare")."""
    parts = [p.strip() for p in occupation.label.split("/") if p.strip()]
    return [occupation.label, *parts] if len(parts) > 1 else [occupation.label]


def _lower_first(label: str) -> str:
    """ "Truckkort" reads "truckkort" in a listing; acronyms ("CAN") keep their case."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _listing(labels: Sequence[str]) -> str:
    words = [_lower_first(label) for label in labels]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " och " + words[-1]


@dataclass
class PairMaker:
    """Makes the taxonomy pairs of the development groups, deterministically for a seed."""

    taxonomy: Taxonomy
    split: GroupSplit
    seed: int = DEFAULT_SEED
    hard_negatives: bool = True
    _skills: dict[str, list[Skill]] = field(init=False, repr=False)
    _neighbours: dict[str, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        held_out_skills = {
            skill for code in self.split.held_out for skill in self.taxonomy.groups[code].skill_ids
        }
        # Only development groups with occupations; only skills no held-out group lists.
        self._skills = {
            code: [s for s in self.taxonomy.group_skills(code) if s.id not in held_out_skills]
            for code in sorted(self.split.development)
            if self.taxonomy.occupations_by_group.get(code)
        }
        usable = [code for code, skills in self._skills.items() if len(skills) >= 4]
        self._neighbours = {}
        for code in usable:
            same3 = [c for c in usable if c != code and c[:3] == code[:3]]
            same2 = [c for c in usable if c != code and c[:2] == code[:2]]
            self._neighbours[code] = same3 or same2 or [c for c in usable if c != code]

    @property
    def groups(self) -> list[str]:
        return sorted(self._neighbours)

    def _rng(self, *parts: str) -> random.Random:
        return random.Random(":".join(["encoder-pairs", str(self.seed), *parts]))  # noqa: S311

    def _ad(
        self, rng: random.Random, occupation: Occupation, skills: Sequence[Skill]
    ) -> tuple[str, frozenset[str]]:
        """An ad for the occupation naming `skills`, and the ids of those skills."""
        group = self.taxonomy.groups[occupation.ssyk]
        required = [s.label for s in skills[:3]]
        nice = [s.label for s in skills[3:5]]
        title = rng.choice(_names(occupation))
        text = opening_text(
            AdText(
                title=title,
                occupation_label=occupation.label if rng.random() < 0.5 else None,
                required_skills=required,
                nice_skills=nice,
                description=_first_sentence(group.definition),
            )
        )
        return text, frozenset(s.id for s in skills)

    def _negative(self, rng: random.Random, code: str) -> tuple[str, str, frozenset[str]]:
        """A hard negative: an ad of an occupation of a neighbouring group."""
        other = rng.choice(self._neighbours[code])
        occupation = rng.choice(self.taxonomy.occupations_by_group[other])
        skills = rng.sample(self._skills[other], min(5, len(self._skills[other])))
        text, skill_ids = self._ad(rng, occupation, skills)
        return text, other, skill_ids

    def _pair(
        self,
        rng: random.Random,
        kind: str,
        anchor: str,
        positive: tuple[str, frozenset[str]],
        code: str,
        extra_groups: Iterable[str] = (),
        anchor_skills: Iterable[str] = (),
    ) -> Pair:
        groups = {code, *extra_groups}
        skill_ids = set(positive[1]) | set(anchor_skills)
        negative = None
        if self.hard_negatives:
            negative, other, negative_skills = self._negative(rng, code)
            groups.add(other)
            skill_ids |= negative_skills
        return Pair(
            kind, code, anchor, positive[0], negative, frozenset(groups), frozenset(skill_ids)
        )

    def name_definition(self, occupation: Occupation) -> Pair:
        rng = self._rng(NAME_DEFINITION, occupation.id)
        group = self.taxonomy.groups[occupation.ssyk]
        anchor = participant_text(
            ProfileText(
                preferred_occupations_text=rng.choice(_WISHES).format(
                    l=rng.choice(_names(occupation))
                )
            ),
            {},
        )
        definition = " ".join(_sentences(group.definition)[:2])
        positive = opening_text(AdText(title=group.label, description=definition))
        return self._pair(rng, NAME_DEFINITION, anchor, (positive, frozenset()), occupation.ssyk)

    def occupation_skills(self, occupation: Occupation) -> Pair:
        rng = self._rng(OCCUPATION_SKILLS, occupation.id)
        skills = rng.sample(
            self._skills[occupation.ssyk], min(7, len(self._skills[occupation.ssyk]))
        )
        wish = rng.choice(_WISHES).format(l=rng.choice(_names(occupation)))
        anchor = participant_text(
            ProfileText(
                preferred_occupations_text=wish, skills_text=_listing([s.label for s in skills[:2]])
            ),
            {},
        )
        positive = self._ad(rng, occupation, skills[2:])
        return self._pair(
            rng,
            OCCUPATION_SKILLS,
            anchor,
            positive,
            occupation.ssyk,
            anchor_skills=(s.id for s in skills[:2]),
        )

    def skills_occupation(self, occupation: Occupation) -> Pair:
        rng = self._rng(SKILLS_OCCUPATION, occupation.id)
        pool = self._skills[occupation.ssyk]
        skills = rng.sample(pool, min(8, len(pool)))
        cut = min(3, len(skills) - 1)
        anchor = participant_text(
            ProfileText(
                skills_text=_listing([s.label for s in skills[:cut]]),
                experience_text=_listing([skills[cut].label]) if rng.random() < 0.5 else "",
            ),
            {},
        )
        positive = self._ad(rng, occupation, skills[cut + 1 :] or skills[:1])
        return self._pair(
            rng,
            SKILLS_OCCUPATION,
            anchor,
            positive,
            occupation.ssyk,
            anchor_skills=(s.id for s in skills[: cut + 1]),
        )

    def substitutes(self, occupation: Occupation) -> list[Pair]:
        rng = self._rng(SUBSTITUTES, occupation.id)
        targets = sorted(
            other
            for other, percentage in self.taxonomy.can_substitute_for.get(occupation.id, {}).items()
            if percentage >= HIGH_SUBSTITUTABILITY
            and other in self.taxonomy.occupations
            and self.taxonomy.occupations[other].ssyk in self._neighbours
        )
        if not targets:
            return []
        target = self.taxonomy.occupations[rng.choice(targets)]
        anchor = participant_text(
            ProfileText(preferred_occupations_text=rng.choice(_WISHES).format(l=occupation.label)),
            {},
        )
        pool = self._skills[target.ssyk]
        positive = self._ad(rng, target, rng.sample(pool, min(5, len(pool))))
        return [
            self._pair(
                rng, SUBSTITUTES, anchor, positive, target.ssyk, extra_groups=[occupation.ssyk]
            )
        ]

    def pairs(self, kinds: Sequence[str] = TAXONOMY_KINDS) -> list[Pair]:
        """Every pair of the chosen kinds, one per development occupation and kind."""
        made: list[Pair] = []
        for code in self.groups:
            for occupation in self.taxonomy.occupations_by_group[code]:
                if NAME_DEFINITION in kinds:
                    made.append(self.name_definition(occupation))
                if OCCUPATION_SKILLS in kinds:
                    made.append(self.occupation_skills(occupation))
                if SKILLS_OCCUPATION in kinds:
                    made.append(self.skills_occupation(occupation))
                if SUBSTITUTES in kinds:
                    made.extend(self.substitutes(occupation))
        return made


def taxonomy_pairs(
    taxonomy: Taxonomy,
    *,
    kinds: Sequence[str] = TAXONOMY_KINDS,
    seed: int = DEFAULT_SEED,
    hard_negatives: bool = True,
    split: GroupSplit | None = None,
) -> list[Pair]:
    """The taxonomy pairs of the development groups of the quality benchmark's split."""
    maker = PairMaker(
        taxonomy,
        split or group_split(taxonomy, seed=seed),
        seed=seed,
        hard_negatives=hard_negatives,
    )
    return maker.pairs(kinds)


def decision_pairs(
    session: Session,
    *,
    taxonomy: Taxonomy,
    split: GroupSplit,
    occupation_labels: Mapping[str, str],
) -> list[Pair]:
    """Participant <-> opening pairs from coach decisions, consenting participants only.

    The latest decision on a suggestion counts. Only coded openings of development groups
    are used, and only participants none of whose stated occupations is in a held-out
    group: an uncoded opening might be of a held-out group.
    """
    consented = training_consent()
    rows = session.execute(
        sa.select(Suggestion.participant_id, Suggestion.opening_id, Feedback.decision)
        .join(Feedback, Feedback.suggestion_id == Suggestion.id)
        .where(
            Suggestion.participant_id.in_(consented),
            Suggestion.lane == Lane.JOBS,
            Suggestion.opening_id.is_not(None),
        )
        .order_by(Feedback.created_at, Feedback.id)
    ).all()
    latest: dict[tuple[int, int], Decision] = {}
    for participant_id, opening_id, decision in rows:
        if opening_id is not None:
            latest[(participant_id, opening_id)] = decision
    positives: defaultdict[int, list[int]] = defaultdict(list)
    negatives: defaultdict[int, list[int]] = defaultdict(list)
    for (participant_id, opening_id), decision in sorted(latest.items()):
        if decision in _POSITIVE_DECISIONS:
            positives[participant_id].append(opening_id)
        elif decision is Decision.NEVER:
            negatives[participant_id].append(opening_id)
    if not positives:
        return []
    participants = {
        p.id: p
        for p in session.scalars(sa.select(Participant).where(Participant.id.in_(list(positives))))
    }
    opening_ids = {i for ids in [*positives.values(), *negatives.values()] for i in ids}
    openings = {
        o.id: o for o in session.scalars(sa.select(Opening).where(Opening.id.in_(opening_ids)))
    }

    def development_group(opening_id: int) -> str | None:
        code = openings[opening_id].ssyk_code if opening_id in openings else None
        return code if code in split.development else None

    made: list[Pair] = []
    for participant_id, opening_list in sorted(positives.items()):
        participant = participants.get(participant_id)
        if participant is None:
            continue
        stated = {
            taxonomy.occupations[o].ssyk
            for o in participant.preferred_occupation_ids
            if o in taxonomy.occupations
        }
        if stated & split.held_out:
            continue
        anchor = participant_text(participant, occupation_labels)
        refused = [i for i in negatives.get(participant_id, []) if development_group(i)]
        for n, opening_id in enumerate(opening_list):
            code = development_group(opening_id)
            if code is None:
                continue
            negative_id = refused[n % len(refused)] if refused else None
            groups = {code, *stated}
            if negative_id is not None:
                groups.add(str(development_group(negative_id)))
            made.append(
                Pair(
                    DECISIONS,
                    code,
                    anchor,
                    opening_text(openings[opening_id]),
                    opening_text(openings[negative_id]) if negative_id is not None else None,
                    frozenset(groups),
                )
            )
    return made


def pairs_digest(pairs: Sequence[Pair]) -> str:
    """SHA-256 over every pair's texts and kind, in order: the run's dataset digest."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(json.dumps([pair.kind, pair.anchor, pair.positive, pair.negative]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def touches(pair: Pair, split: GroupSplit, taxonomy: Taxonomy) -> bool:
    """Whether a pair uses a held-out group, directly or through a skill such a group lists."""
    if pair.groups & split.held_out:
        return True
    held_out_skills = {s for code in split.held_out for s in taxonomy.groups[code].skill_ids}
    return bool(pair.skill_ids & held_out_skills)


def kind_counts(pairs: Iterable[Pair]) -> dict[str, int]:
    counts: defaultdict[str, int] = defaultdict(int)
    for pair in pairs:
        counts[pair.kind] += 1
    return dict(sorted(counts.items()))
