"""How a participant, an opening and an ASF work-training place become text to embed.

The participant text carries only what the participant wants and brings: stated
preferences (occupations, tasks, environment) and strengths (skills, experience,
education, interests). It never carries accommodations, gender, languages, age, status,
location or anything else sensitive, so the semantic signal cannot depend on them.
Location, hours, schedule and accommodations are separate, explicit features.

Items lead with what identifies the work (title, occupation, required skills) because the
encoder truncates long texts at its maximum sequence length.

`TEXT_FORMAT_VERSION` is part of every content hash: change it whenever the format
below changes, so cached vectors of the old format are never reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from matching.domain import ENVIRONMENT_LABELS

TEXT_FORMAT_VERSION = "1"


class ParticipantText(Protocol):
    """The participant fields that may enter the text (and nothing else)."""

    @property
    def preferred_occupations_text(self) -> str: ...
    @property
    def preferred_tasks_text(self) -> str: ...
    @property
    def preferred_occupation_ids(self) -> Sequence[str]: ...
    @property
    def environment_preferences(self) -> Sequence[str]: ...
    @property
    def environment_text(self) -> str: ...
    @property
    def skills_text(self) -> str: ...
    @property
    def experience_text(self) -> str: ...
    @property
    def education_text(self) -> str: ...
    @property
    def interests_text(self) -> str: ...


class OpeningText(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def occupation_label(self) -> str | None: ...
    @property
    def required_skills(self) -> Sequence[str]: ...
    @property
    def nice_skills(self) -> Sequence[str]: ...
    @property
    def description(self) -> str: ...
    @property
    def environment(self) -> Sequence[str]: ...


class PlacementText(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def occupation_label(self) -> str | None: ...
    @property
    def skills(self) -> Sequence[str]: ...
    @property
    def activities(self) -> str: ...
    @property
    def supervision(self) -> str: ...
    @property
    def environment(self) -> Sequence[str]: ...


def _sentence(label: str, value: str) -> str:
    value = " ".join(value.split()).strip().rstrip(".")
    return f"{label}: {value}." if value else ""


def _listing(values: Iterable[str]) -> str:
    return ", ".join(v.strip() for v in values if v and v.strip())


def _environments(codes: Iterable[str]) -> str:
    return _listing(ENVIRONMENT_LABELS[code][0] for code in codes if code in ENVIRONMENT_LABELS)


def _join(parts: Iterable[str]) -> str:
    return " ".join(part for part in parts if part)


def participant_text(participant: ParticipantText, occupation_labels: Mapping[str, str]) -> str:
    """Preferences first (they weigh most), then strengths.

    `occupation_labels` maps taxonomy occupation ids to their Swedish names, so coded
    preferences read like the free-text ones.
    """
    preferred = _listing(
        occupation_labels.get(code, "") for code in participant.preferred_occupation_ids
    )
    return _join(
        [
            _sentence("Vill arbeta som", preferred),
            _sentence("Önskat arbete", participant.preferred_occupations_text),
            _sentence("Önskade arbetsuppgifter", participant.preferred_tasks_text),
            _sentence("Önskad arbetsmiljö", _environments(participant.environment_preferences)),
            _sentence("Om arbetsmiljön", participant.environment_text),
            _sentence("Kan", participant.skills_text),
            _sentence("Erfarenhet", participant.experience_text),
            _sentence("Utbildning", participant.education_text),
            _sentence("Intressen", participant.interests_text),
        ]
    )


def opening_text(opening: OpeningText) -> str:
    return _join(
        [
            _sentence("Tjänst", opening.title),
            _sentence("Yrke", opening.occupation_label or ""),
            _sentence("Krav", _listing(opening.required_skills)),
            _sentence("Meriterande", _listing(opening.nice_skills)),
            _sentence("Arbetsmiljö", _environments(opening.environment)),
            " ".join(opening.description.split()),
        ]
    )


def placement_text(placement: PlacementText) -> str:
    return _join(
        [
            _sentence("Arbetsträning", placement.title),
            _sentence("Yrke", placement.occupation_label or ""),
            _sentence("Färdigheter", _listing(placement.skills)),
            _sentence("Arbetsmiljö", _environments(placement.environment)),
            " ".join(placement.activities.split()),
            _sentence("Handledning", placement.supervision),
        ]
    )


def content_hash(text: str) -> str:
    """The cache key of a text: SHA-256 over the format version and the text."""
    return hashlib.sha256(f"{TEXT_FORMAT_VERSION}\n{text}".encode()).hexdigest()
