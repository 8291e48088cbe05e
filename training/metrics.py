"""Ranking metrics over graded relevance: pure functions of arrays (benchmarks, training).

A ranking is given as the relevance of its items in ranked order (best first). Relevance is
a non-negative grade (in the quality benchmark: 2 same occupation, 1 same SSYK-4 group,
0 otherwise); an item counts as relevant when its grade is at least 1. Items a method did
not retrieve are simply absent from its ranking; pass the relevance of every judged item
as `ideal` (NDCG) or their number as `total_relevant` (recall) so that what was missed
counts against the method. A query with no relevant item has no defined value: the
functions return NaN, and `mean_ignoring_undefined` leaves such queries out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Relevance = npt.ArrayLike


def _grades(relevance: Relevance, name: str) -> npt.NDArray[np.float64]:
    grades = np.asarray(relevance, dtype=np.float64).reshape(-1)
    if np.any(np.isnan(grades)) or np.any(grades < 0):
        raise ValueError(f"{name} must hold non-negative grades")
    return grades


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError("k must be at least 1")


def dcg_at_k(relevance: Relevance, k: int) -> float:
    """Discounted cumulative gain of the first `k` items: Σ grade_i / log2(i + 1), i from 1."""
    _check_k(k)
    grades = _grades(relevance, "relevance")[:k]
    discounts = np.log2(np.arange(2, grades.size + 2, dtype=np.float64))
    return float(np.sum(grades / discounts))


def ndcg_at_k(relevance: Relevance, k: int, *, ideal: Relevance | None = None) -> float:
    """DCG@k of the ranking divided by the DCG@k of the best possible ranking.

    `ideal` holds the grades of every judged item of the query, in any order (by default
    the ranking's own grades, i.e. everything relevant was retrieved). NaN when no item is
    relevant.
    """
    grades = _grades(relevance, "relevance")
    best = _grades(grades if ideal is None else ideal, "ideal")
    best_dcg = dcg_at_k(np.sort(best)[::-1], k)
    if best_dcg == 0.0:
        return math.nan
    return dcg_at_k(grades, k) / best_dcg


def recall_at_k(
    relevance: Relevance, k: int, *, total_relevant: int | None = None, threshold: float = 1.0
) -> float:
    """Share of the relevant items (grade ≥ `threshold`) that are among the first `k`.

    `total_relevant` is the number of relevant items of the query (by default those in the
    ranking). NaN when there is none.
    """
    _check_k(k)
    grades = _grades(relevance, "relevance")
    total = int(np.sum(grades >= threshold)) if total_relevant is None else total_relevant
    if total < 0:
        raise ValueError("total_relevant must not be negative")
    if total == 0:
        return math.nan
    found = int(np.sum(grades[:k] >= threshold))
    if found > total:
        raise ValueError("the ranking holds more relevant items than total_relevant")
    return found / total


def mean_ignoring_undefined(values: npt.ArrayLike) -> float:
    """The mean over queries whose value is defined (NaN when none is)."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    defined = array[~np.isnan(array)]
    return float(defined.mean()) if defined.size else math.nan


def average_precision(
    relevance: Relevance, *, threshold: float = 1.0, total_relevant: int | None = None
) -> float:
    """Mean of precision@i over the positions i of the relevant items (grade ≥ `threshold`).

    Relevant items the ranking does not hold count as found at no position (precision 0)
    when `total_relevant` says how many there are. NaN when there is none; the mean over
    queries is MAP.
    """
    grades = _grades(relevance, "relevance")
    hits = grades >= threshold
    total = int(hits.sum()) if total_relevant is None else total_relevant
    if total < int(hits.sum()):
        raise ValueError("the ranking holds more relevant items than total_relevant")
    if total == 0:
        return math.nan
    precision = np.cumsum(hits) / np.arange(1, grades.size + 1)
    return float(precision[hits].sum() / total)


def exposure_at_k(in_group: npt.ArrayLike, k: int) -> float:
    """Share of the first `k` ranked items that belong to a group (e.g. competitive jobs)."""
    _check_k(k)
    flags = np.asarray(in_group, dtype=bool).reshape(-1)[:k]
    return float(flags.mean()) if flags.size else math.nan


@dataclass(frozen=True)
class MeanGap:
    """The difference of two groups' means with a bootstrap confidence interval."""

    first_mean: float
    second_mean: float
    gap: float
    low: float
    high: float
    first_count: int
    second_count: int


def mean_gap(
    first: npt.ArrayLike,
    second: npt.ArrayLike,
    *,
    paired: bool = False,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> MeanGap:
    """mean(first) − mean(second), with a percentile bootstrap interval.

    Each group is resampled with replacement on its own (units are e.g. participants), so
    the interval reflects how many units each group has. NaN when a group is empty.

    `paired`: `first[i]` and `second[i]` are two methods' values on the same unit (e.g. one
    slate); units are resampled together, so what both find easy or hard cancels out, and
    units undefined (NaN) for either method are left out.
    """
    a = np.asarray(first, dtype=np.float64).reshape(-1)
    b = np.asarray(second, dtype=np.float64).reshape(-1)
    if paired:
        if a.shape != b.shape:
            raise ValueError("paired values need one value per unit from each method")
        defined = ~(np.isnan(a) | np.isnan(b))
        a, b = a[defined], b[defined]
    if not a.size or not b.size:
        return MeanGap(
            first_mean=float(a.mean()) if a.size else math.nan,
            second_mean=float(b.mean()) if b.size else math.nan,
            gap=math.nan,
            low=math.nan,
            high=math.nan,
            first_count=int(a.size),
            second_count=int(b.size),
        )
    generator = np.random.default_rng(seed)
    if paired:
        picks = generator.integers(0, a.size, size=(resamples, a.size))
        first_means, second_means = a[picks].mean(axis=1), b[picks].mean(axis=1)
    else:
        first_means = a[generator.integers(0, a.size, size=(resamples, a.size))].mean(axis=1)
        second_means = b[generator.integers(0, b.size, size=(resamples, b.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(first_means - second_means, [tail, 100 - tail])
    return MeanGap(
        first_mean=float(a.mean()),
        second_mean=float(b.mean()),
        gap=float(a.mean() - b.mean()),
        low=float(low),
        high=float(high),
        first_count=int(a.size),
        second_count=int(b.size),
    )
