"""The quality benchmark on a tiny set, through the real database, model, index and recogniser.

The full ranker must beat every single-signal baseline, a stored benchmark must score any
model the same way every time (a promotion gate relies on it), and the held-out groups must
stay apart from the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matching.features import FEATURES
from matching.ranker import AdditiveRanker, hand_set_ranker
from matching.settings import Settings
from matching.taxonomy import load_taxonomy
from training.quality import (
    BASELINES,
    HARD,
    SKILLS_ONLY,
    STANDARD,
    TITLE_SKILLS,
    QualityBenchmark,
    SetSize,
    eligible_groups,
    generate_set,
    group_split,
    taxonomy_only_ranker,
)

SEED = 7
TINY = SetSize(
    groups=10,
    occupations_per_group=3,
    openings_per_occupation=2,
    participants_per_kind=2,
    hard_participants_per_kind=1,
    held_out_share=0.2,
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("quality"))


@pytest.fixture(scope="module")
def benchmark(settings: Settings) -> QualityBenchmark:
    return QualityBenchmark.build(settings, seed=SEED, size=TINY)


def test_the_tiny_set_has_the_size_asked_for(
    benchmark: QualityBenchmark, settings: Settings
) -> None:
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    size = benchmark.describe()
    assert size["groups"] == 10
    assert size["held_out_groups"] == 2
    occupations = sum(
        min(TINY.occupations_per_group, len(taxonomy.occupations_by_group[code]))
        for code in benchmark.groups
    )
    assert size["openings"] == occupations * TINY.openings_per_occupation
    assert size["occupations"] == occupations
    assert size[f"{STANDARD}_{TITLE_SKILLS}"] == size[f"{STANDARD}_{SKILLS_ONLY}"] == 20
    assert size[f"{HARD}_{TITLE_SKILLS}"] == size[f"{HARD}_{SKILLS_ONLY}"] == 10
    assert benchmark.features.shape == (benchmark.candidate_offsets[-1], len(FEATURES))


def test_the_full_ranker_beats_every_single_signal_baseline(benchmark: QualityBenchmark) -> None:
    full = benchmark.score(hand_set_ranker())
    for baseline in benchmark.baselines():
        for part in ("overall", SKILLS_ONLY):
            assert full.ndcg(part) > baseline.ndcg(part), (baseline.method, part)


def test_skills_only_participants_are_helped_by_the_taxonomy(benchmark: QualityBenchmark) -> None:
    """Without a title the recognised skills are what finds the group's openings."""
    full = benchmark.score(hand_set_ranker())
    taxonomy = benchmark.score(taxonomy_only_ranker())
    assert taxonomy.slices[SKILLS_ONLY].recall_at_50 > 0.8
    assert full.slices[SKILLS_ONLY].recall_at_50 > 0.8


def test_scoring_is_deterministic_and_survives_storing(
    benchmark: QualityBenchmark, tmp_path: Path
) -> None:
    model = hand_set_ranker()
    first = benchmark.score(model)
    assert benchmark.score(model) == first
    benchmark.save(tmp_path / "quality.npz")
    stored = QualityBenchmark.load(tmp_path / "quality.npz")
    assert stored.score(model) == first
    assert [r.slices for r in stored.baselines()] == [r.slices for r in benchmark.baselines()]


def test_a_model_that_ignores_every_feature_ranks_worse(benchmark: QualityBenchmark) -> None:
    blind = AdditiveRanker.from_shapes({}, {})
    assert benchmark.score(blind).ndcg() < benchmark.score(hand_set_ranker()).ndcg() - 0.2


def test_scores_can_be_restricted_to_the_held_out_groups(benchmark: QualityBenchmark) -> None:
    held_out = benchmark.held_out_groups
    report = benchmark.score(hand_set_ranker(), groups=held_out)
    per_group = TINY.participants_per_kind * 2
    assert report.slices["overall"].queries == len(held_out) * per_group
    everything = benchmark.score(hand_set_ranker())
    assert everything.slices["overall"].queries == len(benchmark.groups) * per_group


def test_a_stored_benchmark_is_reused_and_not_rebuilt(
    benchmark: QualityBenchmark, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []

    def build(cls: type[QualityBenchmark], *args: object, **kwargs: object) -> QualityBenchmark:
        builds.append(1)
        return benchmark

    monkeypatch.setattr(QualityBenchmark, "build", classmethod(build))
    cache = settings.data_dir / "cache"
    first = QualityBenchmark.load_or_build(settings, seed=SEED, size=TINY, cache_dir=cache)
    assert len(builds) == 1
    assert list(cache.glob("*.npz"))
    again = QualityBenchmark.load_or_build(settings, seed=SEED, size=TINY, cache_dir=cache)
    assert len(builds) == 1, "a stored benchmark with the same key must be loaded"
    assert again is not first
    assert again.key == first.key
    assert again.score(hand_set_ranker()) == first.score(hand_set_ranker())
    QualityBenchmark.load_or_build(settings, seed=SEED + 1, size=TINY, cache_dir=cache)
    assert len(builds) == 2, "another seed is another benchmark"


def test_the_set_is_labelled_from_the_taxonomy_and_reproducible(settings: Settings) -> None:
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    labelled = generate_set(taxonomy, seed=SEED, size=TINY)
    assert labelled == generate_set(taxonomy, seed=SEED, size=TINY)
    assert labelled != generate_set(taxonomy, seed=SEED + 1, size=TINY)
    assert set(labelled.groups) <= set(eligible_groups(taxonomy))
    for opening in labelled.openings:
        assert taxonomy.occupations[opening.occupation_id].ssyk == opening.ssyk
    named_in_ads: dict[str, set[str]] = {}
    for opening in labelled.openings:
        named_in_ads.setdefault(opening.ssyk, set()).update(opening.skill_ids)
    for person in labelled.participants:
        assert taxonomy.occupations[person.occupation_id].ssyk == person.ssyk
        assert set(person.skill_ids) <= set(taxonomy.groups[person.ssyk].skill_ids)
        assert len(person.skill_ids) >= 3
        if person.kind == SKILLS_ONLY:
            assert person.preferred_occupations_text == ""
        if person.variant == HARD:
            assert not set(person.skill_ids) & named_in_ads[person.ssyk]


def test_held_out_groups_are_fixed_by_the_seed_alone(settings: Settings) -> None:
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    split = group_split(taxonomy, seed=SEED, share=0.2)
    assert split == group_split(taxonomy, seed=SEED, share=0.2)
    assert not split.held_out & split.development
    assert split.held_out | split.development == set(taxonomy.groups)
    assert 0.1 < len(split.held_out) / len(taxonomy.groups) < 0.3
    labelled = generate_set(taxonomy, seed=SEED, size=TINY)
    assert labelled.held_out == split.held_out & set(labelled.groups)


def test_baseline_rankings_hold_every_opening_at_most_once(benchmark: QualityBenchmark) -> None:
    for method in BASELINES:
        for ranking in benchmark.baseline_ranking(method):
            assert len(np.unique(ranking)) == len(ranking)
            assert ranking.max(initial=-1) < len(benchmark.item_ids)
