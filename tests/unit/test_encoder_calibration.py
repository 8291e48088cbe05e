"""The calibration of an adapted encoder's cosine onto the scale the ranker was fitted on."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from embeddings.encoder import CALIBRATION_FILE, Calibration
from matching.errors import ModelUnavailable
from training.encoder_eval import SEMANTIC_COLUMN, EncoderBench


def test_the_default_is_the_identity_and_a_fit_is_affine() -> None:
    assert Calibration().apply([0.0, 0.25, 1.0]).tolist() == [0.0, 0.25, 1.0]
    fitted = Calibration(slope=0.5, intercept=0.4, fitted_on="test")
    assert fitted.apply(np.array([0.0, 0.2], dtype=np.float32)).tolist() == pytest.approx(
        [0.4, 0.5]
    )


def test_it_travels_with_the_model_folder(tmp_path: Path) -> None:
    assert Calibration.read(tmp_path) == Calibration()  # a model without the file
    fitted = Calibration(slope=0.34, intercept=0.48, fitted_on="test rows")
    fitted.write(tmp_path)
    assert Calibration.read(tmp_path) == fitted
    (tmp_path / CALIBRATION_FILE).write_text('{"slope": "steep"}')
    with pytest.raises(ModelUnavailable, match="unreadable"):
        Calibration.read(tmp_path)


def test_a_calibration_that_would_reverse_similarity_is_refused() -> None:
    for slope in (0.0, -1.0, float("nan")):
        with pytest.raises(ModelUnavailable, match="positive"):
            Calibration(slope=slope)


def _bench(served: np.ndarray, groups: list[str], held_out: set[str]) -> EncoderBench:
    """An EncoderBench over one item per row and one query per row (no benchmark build)."""
    rows = len(served)
    features = np.zeros((rows, SEMANTIC_COLUMN + 1))
    features[:, SEMANTIC_COLUMN] = served
    bench = object.__new__(EncoderBench)
    bench.benchmark = SimpleNamespace(  # type: ignore[assignment]
        query_group=np.asarray(groups),
        features=features,
        candidate_items=np.arange(rows),
        key="k" * 20,
    )
    bench._row_query = np.arange(rows)
    bench.held_out = frozenset(held_out)
    return bench


def test_the_fit_maps_new_cosines_onto_the_served_scale_from_development_rows_only() -> None:
    rng = np.random.default_rng(0)
    cosines = rng.uniform(0.0, 0.8, 200)
    served = 0.3 * cosines + 0.5
    groups = ["dev"] * 150 + ["held"] * 50
    served[150:] = 9.0  # held-out rows must not influence the fit
    # Unit vectors whose products are the cosines: queries e1, items cos*e1 + sin*e2.
    queries = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (200, 1))
    items = np.stack([cosines, np.sqrt(1 - cosines**2)], axis=1).astype(np.float32)
    fitted = _bench(served, groups, {"held"}).fit_calibration(items, queries)
    assert (fitted.slope, fitted.intercept) == pytest.approx((0.3, 0.5), abs=1e-4)
    assert "150 development rows" in fitted.fitted_on


def test_no_positive_relation_keeps_the_cosine() -> None:
    cosines = np.linspace(0.0, 0.8, 100)
    queries = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (100, 1))
    items = np.stack([cosines, np.sqrt(1 - cosines**2)], axis=1).astype(np.float32)
    reversed_scale = _bench(1.0 - cosines, ["dev"] * 100, set()).fit_calibration(items, queries)
    assert (reversed_scale.slope, reversed_scale.intercept) == (1.0, 0.0)
    assert reversed_scale.fitted_on.startswith("identity")
