"""The shipped JobTech Taxonomy extract: occupations, SSYK-4 groups, skills, substitutability."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from matching.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Occupation:
    """An occupation name (yrkesbenämning) and the SSYK-4 group it belongs to."""

    id: str
    label: str
    ssyk: str


@dataclass(frozen=True, slots=True)
class SsykGroup:
    code: str
    id: str
    label: str
    definition: str
    skill_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Skill:
    id: str
    label: str


@dataclass(frozen=True)
class Taxonomy:
    occupations: dict[str, Occupation]
    groups: dict[str, SsykGroup]
    skills: dict[str, Skill]
    #: occupation id -> {occupation id it can substitute for: percentage (75 high, 25 low)}
    can_substitute_for: dict[str, dict[str, int]]
    no_education_occupations: frozenset[str]
    major_groups: dict[str, str]
    occupations_by_group: dict[str, tuple[Occupation, ...]] = field(init=False)

    def __post_init__(self) -> None:
        by_group: defaultdict[str, list[Occupation]] = defaultdict(list)
        for occupation in self.occupations.values():
            by_group[occupation.ssyk].append(occupation)
        object.__setattr__(
            self,
            "occupations_by_group",
            {code: tuple(sorted(rows, key=lambda o: o.label)) for code, rows in by_group.items()},
        )

    def group_of(self, occupation_id: str) -> SsykGroup | None:
        occupation = self.occupations.get(occupation_id)
        return self.groups.get(occupation.ssyk) if occupation else None

    def group_skills(self, ssyk_code: str) -> tuple[Skill, ...]:
        group = self.groups.get(ssyk_code)
        if group is None:
            return ()
        return tuple(self.skills[s] for s in group.skill_ids if s in self.skills)

    def substitutability(self, from_occupation: str, to_occupation: str) -> int:
        """How well a person from one occupation can do the other's job: 75, 25 or 0."""
        return self.can_substitute_for.get(from_occupation, {}).get(to_occupation, 0)


def _read(directory: Path, name: str) -> Any:
    path = directory / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigurationError(
            f"taxonomy file {path} is missing; set STEGVIS_TAXONOMY_DIR to the folder that "
            "holds the shipped JobTech Taxonomy extract (data/taxonomy/ in the repository)"
        ) from error


@cache
def load_taxonomy(directory: Path) -> Taxonomy:
    """Read the extract once per process (cached by folder)."""
    substitutes: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for edge in _read(directory, "substitutability.json"):
        substitutes[edge["from"]][edge["to"]] = int(edge["percentage"])
    return Taxonomy(
        occupations={
            o["id"]: Occupation(o["id"], o["label"], o["ssyk"])
            for o in _read(directory, "occupations.json")
        },
        groups={
            g["code"]: SsykGroup(
                g["code"], g["id"], g["label"], g["definition"], tuple(g["skill_ids"])
            )
            for g in _read(directory, "ssyk_groups.json")
        },
        skills={s["id"]: Skill(s["id"], s["label"]) for s in _read(directory, "skills.json")},
        can_substitute_for=dict(substitutes),
        no_education_occupations=frozenset(_read(directory, "no_education_occupations.json")),
        major_groups={g["code"]: g["label"] for g in _read(directory, "ssyk_major_groups.json")},
    )
