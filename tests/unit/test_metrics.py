"""Ranking metrics: NDCG@k with graded gains and recall@k, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.metrics import dcg_at_k, mean_ignoring_undefined, ndcg_at_k, recall_at_k

grades = st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=30)


def test_dcg_discounts_by_log2_of_the_position_plus_one() -> None:
    assert dcg_at_k([2, 1, 0, 1], 4) == pytest.approx(2 + 1 / math.log2(3) + 1 / math.log2(5))
    assert dcg_at_k([2, 1, 0, 1], 2) == pytest.approx(2 + 1 / math.log2(3))


def test_a_perfect_ranking_scores_one_and_the_worst_scores_less() -> None:
    assert ndcg_at_k([2, 2, 1, 0, 0], 10) == pytest.approx(1.0)
    worst = ndcg_at_k([0, 0, 1, 2, 2], 10)
    assert 0 < worst < 1
    expected = (1 / math.log2(4) + 2 / math.log2(5) + 2 / math.log2(6)) / (
        2 + 2 / math.log2(3) + 1 / math.log2(4)
    )
    assert worst == pytest.approx(expected)


def test_grade_two_counts_more_than_grade_one() -> None:
    assert ndcg_at_k([2, 1], 10) > ndcg_at_k([1, 2], 10)


def test_items_not_retrieved_count_against_the_ranking() -> None:
    # Retrieved one of the two relevant items, at the top.
    alone = ndcg_at_k([2, 0, 0], 10)
    missed = ndcg_at_k([2, 0, 0], 10, ideal=[2, 2, 0, 0])
    assert alone == pytest.approx(1.0)
    assert missed == pytest.approx(2 / (2 + 2 / math.log2(3)))


def test_only_the_first_k_positions_count() -> None:
    ranking = [0] * 10 + [2]
    assert ndcg_at_k(ranking, 10) == 0.0
    assert ndcg_at_k(ranking, 11) > 0.0


def test_recall_counts_relevant_items_in_the_first_k() -> None:
    assert recall_at_k([2, 0, 1, 0, 1], 3) == pytest.approx(2 / 3)
    assert recall_at_k([2, 0, 1, 0, 1], 3, total_relevant=4) == pytest.approx(2 / 4)
    assert recall_at_k([0, 0, 2], 2) == 0.0
    assert recall_at_k([1, 2], 50) == 1.0


def test_a_query_without_relevant_items_is_undefined_and_left_out_of_means() -> None:
    assert math.isnan(ndcg_at_k([0, 0, 0], 10))
    assert math.isnan(recall_at_k([0, 0], 50))
    assert math.isnan(recall_at_k([], 50))
    assert mean_ignoring_undefined([1.0, math.nan, 0.5]) == pytest.approx(0.75)
    assert math.isnan(mean_ignoring_undefined([math.nan]))


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k([1], 0)
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k([1, -1], 5)
    with pytest.raises(ValueError, match="more relevant"):
        recall_at_k([1, 1], 5, total_relevant=1)


@given(grades, st.integers(min_value=1, max_value=40))
def test_ndcg_lies_in_the_unit_interval_and_sorting_is_best(ranking: list[int], k: int) -> None:
    value = ndcg_at_k(ranking, k)
    if not any(ranking):
        assert math.isnan(value)
        return
    assert 0.0 <= value <= 1.0 + 1e-12
    assert ndcg_at_k(sorted(ranking, reverse=True), k) == pytest.approx(1.0)
    assert value <= ndcg_at_k(sorted(ranking, reverse=True), k) + 1e-12


@given(grades, st.integers(min_value=1, max_value=40))
def test_recall_never_falls_as_k_grows(ranking: list[int], k: int) -> None:
    if not any(ranking):
        return
    assert recall_at_k(ranking, k) <= recall_at_k(ranking, k + 1)
    assert recall_at_k(ranking, len(ranking)) == 1.0
    assert np.isclose(
        recall_at_k(ranking, k), sum(g >= 1 for g in ranking[:k]) / sum(g >= 1 for g in ranking)
    )
