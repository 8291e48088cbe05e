"""The in-memory catalogue of one lane's searchable items: feature facts and the lexical index.

Suggesting must not read hundreds of rows or run text analysis per request, so every
searchable item's facts (location, hours, schedule, accommodations, occupation and skills
recognised in its text) are computed once, when the item is loaded or changed, and kept
here together with its character n-gram vector. Like the FAISS index, the catalogue is
derived from the database: `build` loads it, `refresh(ids)` re-reads items after a commit.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from embeddings.texts import opening_text, placement_text
from matching.concepts import ConceptRecogniser, Concepts, OccupationGuess
from matching.db.models import Opening
from matching.db.repositories import Item, searchable_items
from matching.domain import Lane
from matching.features import ItemFacts, Place
from matching.geo import locate
from matching.lexical import CharNgramIndex
from matching.progress import Track, no_progress
from matching.taxonomy import Taxonomy


@dataclass(frozen=True)
class Placed:
    """Item ids and where the items are (NaN when unknown), as arrays."""

    ids: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]

    @classmethod
    def of(cls, entries: Sequence[CatalogueEntry]) -> Placed:
        places = [e.facts.place for e in entries]
        return cls(
            ids=np.fromiter((e.facts.id for e in entries), dtype=np.int64, count=len(entries)),
            lat=np.array([p.lat if p else np.nan for p in places], dtype=np.float64),
            lon=np.array([p.lon if p else np.nan for p in places], dtype=np.float64),
        )

    @classmethod
    def joined(cls, parts: Sequence[Placed]) -> Placed:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.of([])
        return cls(
            ids=np.concatenate([p.ids for p in parts]),
            lat=np.concatenate([p.lat for p in parts]),
            lon=np.concatenate([p.lon for p in parts]),
        )


@dataclass(frozen=True)
class CatalogueEntry:
    """An item as the engine knows it: its facts, and what a coach is shown about it."""

    facts: ItemFacts
    title: str
    organisation: str
    municipality: str | None
    occupation_label: str | None


def item_text(item: Item) -> str:
    """The text of an item, the same for the vector and the lexical index."""
    if isinstance(item, Opening):
        return opening_text(item)
    return placement_text(item)


class ItemCatalogue:
    """Facts and lexical vectors of one lane's searchable items, by database id."""

    def __init__(
        self,
        lane: Lane,
        *,
        taxonomy: Taxonomy,
        recogniser: ConceptRecogniser,
        centroids: dict[str, Place],
    ) -> None:
        self.lane = lane
        self.taxonomy = taxonomy
        self.recogniser = recogniser
        self.centroids = centroids
        self.lexical = CharNgramIndex()
        self._entries: dict[int, CatalogueEntry] = {}
        self._by_group: defaultdict[str, set[int]] = defaultdict(set)
        # The same groups as arrays with the items' places, replaced (never changed in
        # place) on every change: picking the nearest of thousands needs no Python loop.
        self._placed: dict[str, Placed] = {}
        self._write = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._entries

    def ids(self) -> set[int]:
        return set(self._entries)

    def get(self, item_id: int) -> CatalogueEntry | None:
        return self._entries.get(item_id)

    def ids_in_groups(self, groups: Iterable[str]) -> set[int]:
        found: set[int] = set()
        for group in groups:
            found |= self._by_group.get(group, set())
        return found

    def places_in_groups(self, groups: Iterable[str]) -> Placed:
        """The items of these SSYK groups and their places (in no particular order)."""
        placed = self._placed
        return Placed.joined([placed[g] for g in sorted(set(groups)) if g in placed])

    # --- loading --------------------------------------------------------------------------

    def build(self, session: Session, *, track: Track = no_progress) -> int:
        """Load every searchable item of the lane; replaces what was loaded before."""
        items = searchable_items(session, self.lane)
        # Texts repeat across a lane (one employer's opening in several places): each
        # distinct text is analysed once per build.
        recognise = functools.cache(self.recogniser.recognise)
        primary_occupation = functools.cache(self.recogniser.primary_occupation)
        entries = {
            item.id: self._analyse(item, recognise, primary_occupation)
            for item in track(items, f"analysing {self.lane.value} texts", len(items))
        }
        texts = [item_text(item) for item in items]
        with self._write:
            self.lexical.build([item.id for item in items], texts)
            self._entries = entries
            self._by_group = defaultdict(set)
            for item_id, entry in entries.items():
                if entry.facts.ssyk:
                    self._by_group[entry.facts.ssyk].add(item_id)
            self._placed = {}
            self._place_groups(self._by_group)
        return len(entries)

    def refresh(self, session: Session, ids: Sequence[int]) -> None:
        """Re-read `ids` after a commit: searchable ones are re-analysed, others dropped."""
        if not ids:
            return
        items = {item.id: item for item in searchable_items(session, self.lane, ids)}
        with self._write:
            changed: set[str] = set()
            gone = [i for i in ids if i not in items]
            for item_id in gone:
                self._forget(item_id, changed)
            self.lexical.remove(gone)
            for item_id, item in items.items():
                self._forget(item_id, changed)
                entry = self.analyse(item)
                self._entries[item_id] = entry
                if entry.facts.ssyk:
                    self._by_group[entry.facts.ssyk].add(item_id)
                    changed.add(entry.facts.ssyk)
            self.lexical.upsert(list(items), [item_text(item) for item in items.values()])
            self._place_groups(changed)

    def _forget(self, item_id: int, changed: set[str]) -> None:
        entry = self._entries.pop(item_id, None)
        if entry is not None and entry.facts.ssyk:
            self._by_group[entry.facts.ssyk].discard(item_id)
            changed.add(entry.facts.ssyk)

    def _place_groups(self, groups: Iterable[str]) -> None:
        """Rebuild the arrays of these groups; the caller holds the write lock."""
        placed = dict(self._placed)
        for group in groups:
            members = self._by_group.get(group)
            if members:
                placed[group] = Placed.of([self._entries[i] for i in sorted(members)])
            else:
                placed.pop(group, None)
        self._placed = placed

    def analyse(self, item: Item) -> CatalogueEntry:
        """The facts of one item as this catalogue keeps them; works for closed items too
        (training backfills the features of suggestions whose items have since closed)."""
        return self._analyse(item, self.recogniser.recognise, self.recogniser.primary_occupation)

    def _analyse(
        self,
        item: Item,
        recognise: Callable[[str], Concepts],
        primary_occupation: Callable[[str, str], OccupationGuess | None],
    ) -> CatalogueEntry:
        if isinstance(item, Opening):
            skills_text = " ".join([*item.required_skills, *item.nice_skills])
            body = item.description
            organisation = item.employer.name
            free = item.positions - item.positions_filled
            expires_at = item.expires_at
        else:
            skills_text = " ".join(item.skills)
            body = f"{item.activities} {item.supervision}"
            organisation = item.asf_provider.name
            free = item.capacity - item.taken
            expires_at = None
        concepts = recognise(
            "\n".join([item.title, item.occupation_label or "", skills_text, body])
        )
        occupation_id, ssyk, inferred = self._occupation(item, body, primary_occupation)
        facts = ItemFacts(
            id=item.id,
            lane=self.lane,
            title=item.title,
            occupation_id=occupation_id,
            ssyk=ssyk,
            occupation_inferred=inferred,
            skills=concepts.skills,
            place=locate(item.lat, item.lon, item.municipality, self.centroids),
            hours_min=item.hours_min,
            hours_max=item.hours_max,
            evenings=item.evenings,
            weekends=item.weekends,
            nights=item.nights,
            environment=frozenset(item.environment),
            accommodations=frozenset(item.accommodations_offered),
            published_at=item.published_at,
            expires_at=expires_at,
            free_places=free,
        )
        label = item.occupation_label
        if label is None and occupation_id is not None:
            label = self.taxonomy.occupations[occupation_id].label
        return CatalogueEntry(
            facts=facts,
            title=item.title,
            organisation=organisation,
            municipality=item.municipality,
            occupation_label=label,
        )

    def _occupation(
        self,
        item: Item,
        body: str,
        primary_occupation: Callable[[str, str], OccupationGuess | None],
    ) -> tuple[str | None, str | None, bool]:
        """(occupation id, SSYK-4 code, inferred?): the employer's code wins when given."""
        if item.occupation_id and item.occupation_id in self.taxonomy.occupations:
            occupation = self.taxonomy.occupations[item.occupation_id]
            return occupation.id, item.ssyk_code or occupation.ssyk, False
        if item.ssyk_code:
            return None, item.ssyk_code, False
        guess = primary_occupation(item.title, body)
        if guess is None:
            return None, None, True
        return guess.occupation_id, guess.ssyk, True
