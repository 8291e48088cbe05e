"""MAP, exposure and the bootstrap gap added to training/metrics.py for the retraining gates."""

from __future__ import annotations

import math

import pytest

from training.metrics import average_precision, exposure_at_k, mean_gap


def test_average_precision_rewards_relevant_items_early() -> None:
    assert average_precision([1, 1, 0, 0]) == 1.0
    assert average_precision([0, 1, 0, 1]) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert average_precision([0, 0, 4, 3], threshold=3) < average_precision(
        [4, 3, 0, 0], threshold=3
    )


def test_average_precision_counts_missed_items_and_is_undefined_without_any() -> None:
    assert average_precision([1, 0], total_relevant=2) == pytest.approx(0.5)
    assert math.isnan(average_precision([0, 0, 0]))
    with pytest.raises(ValueError, match="more relevant"):
        average_precision([1, 1], total_relevant=1)


def test_exposure_is_the_share_of_the_group_in_the_top_k() -> None:
    assert exposure_at_k([True, False, True, True], 2) == 0.5
    assert exposure_at_k([True, True], 10) == 1.0
    assert math.isnan(exposure_at_k([], 10))


def test_mean_gap_interval_covers_the_gap_and_is_reproducible() -> None:
    women = [0.6, 0.7, 0.5, 0.8, 0.6, 0.7] * 5
    men = [0.5, 0.4, 0.6, 0.5, 0.5, 0.4] * 5
    first = mean_gap(women, men, seed=3)
    assert first.gap == pytest.approx(sum(women) / len(women) - sum(men) / len(men))
    assert first.low < first.gap < first.high
    assert first == mean_gap(women, men, seed=3)
    assert (first.first_count, first.second_count) == (30, 30)


def test_mean_gap_is_undefined_when_a_group_is_empty() -> None:
    gap = mean_gap([0.5, 0.7], [])
    assert math.isnan(gap.gap)
    assert gap.first_mean == pytest.approx(0.6)


def test_a_paired_gap_is_narrower_than_unpaired_when_units_vary_together() -> None:
    # Slates differ a lot in how hard they are; the candidate is a little better on each.
    champion = [0.3, 0.9, 0.5, 0.7, 0.4, 0.8] * 5
    candidate = [value + 0.02 for value in champion]
    paired = mean_gap(candidate, champion, paired=True, seed=3)
    assert paired.gap == pytest.approx(0.02)
    assert paired.low == pytest.approx(0.02)
    assert paired.high == pytest.approx(0.02)
    unpaired = mean_gap(candidate, champion, seed=3)
    assert unpaired.low < 0 < unpaired.high
    assert paired == mean_gap(candidate, champion, paired=True, seed=3)


def test_a_paired_gap_leaves_out_units_undefined_for_either() -> None:
    gap = mean_gap([0.5, math.nan, 0.9], [0.4, 0.6, math.nan], paired=True)
    assert gap.gap == pytest.approx(0.1)
    assert (gap.first_count, gap.second_count) == (1, 1)
    assert math.isnan(mean_gap([math.nan], [0.3], paired=True).gap)
    with pytest.raises(ValueError, match="one value per unit"):
        mean_gap([0.1, 0.2], [0.1], paired=True)
