"""An encoder on the quality benchmark: semantic-only and full-ranker NDCG@10, and guardrails.

The stored quality benchmark (`training.quality.QualityBenchmark`, built once with the
serving encoder) keeps each participant's candidates and feature rows. To judge another
encoder without rebuilding the benchmark (minutes), this module re-encodes the benchmark's
texts with it and

- ranks every opening by cosine similarity alone — exactly the benchmark's "embeddings
  alone" baseline, now with the candidate encoder;
- replaces the `semantic` feature of every stored candidate row by the candidate encoder's
  similarity, through its calibration (`embeddings.encoder.Calibration`, fitted here on the
  development groups' rows by `fit_calibration`), and re-scores the ranker: the full ranker
  with the new encoder. The candidate
  *sets* stay those the serving encoder retrieved (recall@50 is already 0.99 there, most
  candidates come from the taxonomy and lexical lanes), which is the one approximation.

The figures are split by the benchmark's group split: development groups and held-out
groups (which no training pair touches, `training.encoder_pairs`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from embeddings.encoder import Calibration, Encoder
from matching.catalogue import item_text
from matching.db.models import Opening
from matching.errors import ConfigurationError
from matching.features import FEATURES
from matching.ranker import AdditiveRanker
from matching.taxonomy import Taxonomy
from training.quality import (
    NOW,
    SEMANTIC,
    SKILLS_ONLY,
    TITLE_SKILLS,
    Positions,
    QualityBenchmark,
    _top,
    generate_set,
)

SEMANTIC_COLUMN: Final = FEATURES.index("semantic")
#: Encoding batch for the benchmark's texts.
BATCH: Final = 32


@dataclass(frozen=True)
class EncoderFigures:
    """One encoder on the benchmark (NDCG@10 unless named otherwise)."""

    semantic_held_out: float
    semantic_held_out_skills_only: float
    semantic_development: float
    full_held_out: float
    full_held_out_skills_only: float
    full_development: float
    full_hard_skills_only: float
    #: share of title + skills participants whose first suggestion is their stated occupation
    stated_occupation_first: float

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{name}": float(value) for name, value in asdict(self).items()}


class EncoderBench:
    """The benchmark's texts and stored candidates, ready to score any encoder."""

    def __init__(self, benchmark: QualityBenchmark, taxonomy: Taxonomy) -> None:
        self.benchmark = benchmark
        labelled = generate_set(taxonomy, seed=benchmark.seed, size=benchmark.size)
        # The benchmark stored its openings in the order of `labelled.openings`, ids from 1.
        specs = [labelled.openings[int(i) - 1] for i in benchmark.item_ids]
        if [s.occupation_id for s in specs] != benchmark.item_occupation.tolist() or [
            s.title for s in specs
        ] != benchmark.item_title.tolist():
            raise ConfigurationError("the stored quality benchmark does not match its generator")
        self.item_texts = [
            item_text(
                Opening(
                    title=s.title,
                    description=s.description,
                    occupation_label=(
                        taxonomy.occupations[s.occupation_id].label if s.coded else None
                    ),
                    required_skills=list(s.required_skills),
                    nice_skills=list(s.nice_skills),
                    environment=[],
                    published_at=NOW - timedelta(days=5),
                )
            )
            for s in specs
        ]
        self.query_texts = benchmark.query_text.tolist()
        counts = np.diff(benchmark.candidate_offsets)
        self._row_query = np.repeat(np.arange(benchmark.query_count), counts)
        self.held_out = benchmark.held_out_groups
        self.development = benchmark.development_groups

    def similarities(self, encoder: Encoder) -> tuple[npt.NDArray[np.float32], ...]:
        """(item vectors, query vectors) of the encoder."""
        items = encoder.encode(self.item_texts, batch_size=BATCH)
        queries = encoder.encode(self.query_texts, batch_size=BATCH)
        return items, queries

    def figures(self, encoder: Encoder, ranker: AdditiveRanker) -> EncoderFigures:
        """Encode the texts once and compute every figure (with the encoder's calibration)."""
        items, queries = self.similarities(encoder)
        return self.figures_of(items, queries, ranker, encoder.calibration)

    def _candidate_cosines(
        self, items: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Each stored candidate row's cosine between its query and its item."""
        rows: npt.NDArray[np.float32] = np.einsum(
            "ij,ij->i", queries[self._row_query], items[self.benchmark.candidate_items]
        )
        return rows

    def fit_calibration(
        self, items: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]
    ) -> Calibration:
        """The affine map from this encoder's cosine to the `semantic` feature as the
        benchmark stored it (the serving encoder's, the scale the ranker knows): least squares
        of the stored value on the new cosine over the development groups' candidate rows
        only, so nothing of the held-out groups is used."""
        bench = self.benchmark
        development = ~np.isin(bench.query_group, sorted(self.held_out))[self._row_query]
        cosines = self._candidate_cosines(items, queries)[development].astype(np.float64)
        served = bench.features[development, SEMANTIC_COLUMN].astype(np.float64)
        if cosines.size < 2 or float(np.std(cosines)) == 0.0:
            return Calibration()
        slope, intercept = np.polyfit(cosines, served, 1)
        if not slope > 0:  # no positive relation to the served scale: keep the cosine
            return Calibration(fitted_on="identity: no positive fit on the development rows")
        return Calibration(
            slope=float(slope),
            intercept=float(intercept),
            fitted_on=f"quality benchmark {bench.key[:12]}, {cosines.size} development rows",
        )

    def figures_of(
        self,
        items: npt.NDArray[np.float32],
        queries: npt.NDArray[np.float32],
        ranker: AdditiveRanker,
        calibration: Calibration,
    ) -> EncoderFigures:
        """Every figure from an encoder's vectors of the benchmark's texts."""
        bench = self.benchmark
        ids = bench.item_ids
        semantic_rankings = [
            ranking[ranking >= 0]
            for ranking in (_top(items @ query, ids, positive_only=False) for query in queries)
        ]
        semantic = bench.report(SEMANTIC, semantic_rankings, self.held_out)
        semantic_dev = bench.report(SEMANTIC, semantic_rankings, self.development)
        features = bench.features.copy()
        features[:, SEMANTIC_COLUMN] = calibration.apply(self._candidate_cosines(items, queries))
        rankings = self._rankings(ranker, features)
        full = bench.report("full ranker", rankings, self.held_out)
        full_dev = bench.report("full ranker", rankings, self.development)
        full_all = bench.report("full ranker", rankings)
        return EncoderFigures(
            semantic_held_out=semantic.ndcg("overall"),
            semantic_held_out_skills_only=semantic.ndcg(SKILLS_ONLY),
            semantic_development=semantic_dev.ndcg("overall"),
            full_held_out=full.ndcg("overall"),
            full_held_out_skills_only=full.ndcg(SKILLS_ONLY),
            full_development=full_dev.ndcg("overall"),
            full_hard_skills_only=full_all.ndcg(f"hard_{SKILLS_ONLY}"),
            stated_occupation_first=self._stated_first(rankings),
        )

    def _rankings(
        self, ranker: AdditiveRanker, features: npt.NDArray[np.float64]
    ) -> list[Positions]:
        bench = self.benchmark
        scores = ranker.predict(features)
        rankings = []
        for query in range(bench.query_count):
            start, end = bench.candidate_offsets[query], bench.candidate_offsets[query + 1]
            positions = bench.candidate_items[start:end]
            order = np.lexsort((bench.item_ids[positions], -scores[start:end]))
            rankings.append(positions[order])
        return rankings

    def _stated_first(self, rankings: list[Positions]) -> float:
        bench = self.benchmark
        wanted = np.flatnonzero(bench.query_kind == TITLE_SKILLS)
        hits = [
            len(rankings[q]) > 0
            and bench.item_occupation[rankings[q][0]] == bench.query_occupation[q]
            for q in wanted
        ]
        return float(np.mean(hits)) if hits else float("nan")
