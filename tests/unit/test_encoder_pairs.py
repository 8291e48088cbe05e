"""Encoder training pairs: kinds, determinism, batches, and no leakage from held-out groups."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from matching.settings import Settings
from matching.taxonomy import Taxonomy, load_taxonomy
from training.encoder_pairs import (
    NAME_DEFINITION,
    SKILLS_OCCUPATION,
    SUBSTITUTES,
    TAXONOMY_KINDS,
    GroupSplit,
    Pair,
    kind_counts,
    pairs_digest,
    taxonomy_pairs,
    touches,
)
from training.finetune import FinetuneConfig, batches, select_pairs
from training.quality import DEFAULT_SEED, group_split


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(Settings().taxonomy_dir)


@pytest.fixture(scope="module")
def split(taxonomy: Taxonomy) -> GroupSplit:
    return group_split(taxonomy, seed=DEFAULT_SEED)


@pytest.fixture(scope="module")
def pairs(taxonomy: Taxonomy) -> list[Pair]:
    return taxonomy_pairs(taxonomy)


def test_every_kind_is_made_from_the_taxonomy(pairs: list[Pair]) -> None:
    counts = kind_counts(pairs)
    assert set(counts) == set(TAXONOMY_KINDS)
    assert counts[NAME_DEFINITION] > 1000
    assert all(pair.negative for pair in pairs)  # hard negatives by default


def test_no_pair_touches_a_held_out_group_of_the_quality_benchmark(
    taxonomy: Taxonomy, split: GroupSplit, pairs: list[Pair]
) -> None:
    held_out_skills = {s for code in split.held_out for s in taxonomy.groups[code].skill_ids}
    held_out_labels = {
        o.label for code in split.held_out for o in taxonomy.occupations_by_group.get(code, ())
    }
    assert split.held_out
    for pair in pairs:
        assert not touches(pair, split, taxonomy)
        assert not pair.groups & split.held_out
        assert not pair.skill_ids & held_out_skills
        assert pair.group in split.development
    # Nor does any anchor ask for a held-out occupation by name.
    wishes = {p.anchor for p in pairs if p.kind in (NAME_DEFINITION, SUBSTITUTES)}
    assert not any(f"som {label}." in anchor for anchor in wishes for label in held_out_labels)


def test_the_leakage_check_catches_pairs_of_held_out_groups(
    taxonomy: Taxonomy, split: GroupSplit
) -> None:
    # Pairs made with every group available do use the held-out ones; the check sees it.
    everything = GroupSplit(development=frozenset(taxonomy.groups), held_out=frozenset())
    unrestricted = taxonomy_pairs(taxonomy, kinds=(NAME_DEFINITION,), split=everything)
    leaking = [p for p in unrestricted if touches(p, split, taxonomy)]
    assert leaking
    assert {p.group for p in leaking} & split.held_out


def test_pairs_are_reproducible_for_a_seed(taxonomy: Taxonomy, pairs: list[Pair]) -> None:
    assert pairs_digest(taxonomy_pairs(taxonomy)) == pairs_digest(pairs)
    assert pairs_digest(taxonomy_pairs(taxonomy, seed=DEFAULT_SEED + 1)) != pairs_digest(pairs)


def test_skills_only_anchors_name_no_occupation(pairs: list[Pair]) -> None:
    anchors = [p.anchor for p in pairs if p.kind == SKILLS_OCCUPATION]
    assert anchors
    assert all(a.startswith("Kan: ") and "Önskat arbete" not in a for a in anchors)


def test_substitutes_are_high_substitutability_occupations(
    taxonomy: Taxonomy, pairs: list[Pair]
) -> None:
    substitutes = [p for p in pairs if p.kind == SUBSTITUTES]
    assert substitutes
    by_label = {o.label: o for o in taxonomy.occupations.values()}
    for pair in substitutes[:100]:
        wished = by_label[pair.anchor.removesuffix(".").split(" som ", 1)[1]]
        assert any(
            taxonomy.substitutability(wished.id, target.id) >= 75
            for target in taxonomy.occupations_by_group[pair.group]
        )


def test_batches_hold_one_pair_per_group_and_use_each_pair_once(pairs: list[Pair]) -> None:
    chosen = select_pairs(pairs, FinetuneConfig(max_pairs=600))
    made = list(batches(chosen, 32, random.Random(1)))
    used = Counter(id(p) for batch in made for p in batch)
    assert all(len({p.group for p in batch}) == len(batch) for batch in made)
    assert max(used.values()) == 1
    assert len(used) >= len(chosen) - 1  # at most a lone last pair is left out
    assert all(len(batch) <= 32 for batch in made)
