"""Promotion gates: each one can refuse a candidate on its own, and says why."""

from __future__ import annotations

import dataclasses
import math

import pytest

from matching.settings import Settings
from training.evaluate import Evaluation
from training.metrics import MeanGap
from training.registry import GateReport, check_gates

SETTINGS = Settings(gate_min_ndcg_gain=0.01, gate_max_quality_loss=0.0, gate_max_exposure_gap=0.1)


def evaluation(
    version: str,
    *,
    ndcg: float = 0.70,
    quality: float = 0.80,
    gap: float = 0.02,
    violations: tuple[str, ...] = (),
) -> Evaluation:
    return Evaluation(
        version=version,
        metrics={"ndcg_at_10": ndcg, "ndcg_at_5": ndcg, "map": 0.5},
        exposure=MeanGap(
            first_mean=0.8 + gap,
            second_mean=0.8,
            gap=gap,
            low=gap - 0.05,
            high=gap + 0.05,
            first_count=40,
            second_count=38,
        ),
        quality=quality,
        quality_hard=quality / 2,
        direction_violations=violations,
        slates=50,
    )


CHAMPION = evaluation("stegvis-ranker/1", ndcg=0.70, quality=0.80)


def verdicts(report: GateReport) -> dict[str, bool]:
    return {gate.name: gate.passed for gate in report.gates}


def test_a_better_fair_candidate_that_keeps_the_benchmark_passes_every_gate() -> None:
    report = check_gates(evaluation("candidate", ndcg=0.72), CHAMPION, SETTINGS)
    assert report.passed
    assert set(verdicts(report)) == {
        "ndcg_at_10",
        "quality_benchmark",
        "gender_exposure",
        "domain_directions",
    }
    assert report.compared_with == "stegvis-ranker/1"
    assert "passed every gate" in report.summary()


@pytest.mark.parametrize(
    ("candidate", "failing", "reason"),
    [
        (evaluation("c", ndcg=0.705), "ndcg_at_10", "needs +0.0100"),
        (evaluation("c", ndcg=0.75, quality=0.79), "quality_benchmark", "0.7900 vs champion"),
        (evaluation("c", ndcg=0.75, gap=-0.15), "gender_exposure", "gap -0.150"),
        (
            evaluation("c", ndcg=0.75, violations=("commute_over",)),
            "domain_directions",
            "commute_over",
        ),
    ],
)
def test_each_gate_refuses_alone_and_names_its_reason(
    candidate: Evaluation, failing: str, reason: str
) -> None:
    report = check_gates(candidate, CHAMPION, SETTINGS)
    assert not report.passed
    assert [gate.name for gate in report.failed] == [failing]
    assert reason in report.failed[0].detail
    assert failing in report.summary()


def test_an_unmeasurable_figure_fails_its_gate() -> None:
    candidate = evaluation("c", ndcg=0.75)
    unmeasured = dataclasses.replace(
        candidate, exposure=dataclasses.replace(candidate.exposure, gap=math.nan)
    )
    assert [g.name for g in check_gates(unmeasured, CHAMPION, SETTINGS).failed] == [
        "gender_exposure"
    ]
    no_ndcg = dataclasses.replace(candidate, metrics={"ndcg_at_10": math.nan})
    assert [g.name for g in check_gates(no_ndcg, CHAMPION, SETTINGS).failed] == ["ndcg_at_10"]


def test_margins_come_from_the_settings() -> None:
    candidate = evaluation("c", ndcg=0.705, quality=0.79, gap=0.15)
    lenient = Settings(
        gate_min_ndcg_gain=0.0, gate_max_quality_loss=0.02, gate_max_exposure_gap=0.2
    )
    assert check_gates(candidate, CHAMPION, lenient).passed
    assert not check_gates(candidate, CHAMPION, SETTINGS).passed


def test_the_report_survives_its_json_round_trip() -> None:
    report = check_gates(evaluation("c", ndcg=0.6), CHAMPION, SETTINGS)
    assert GateReport.from_json(report.to_json()) == report


def test_the_ndcg_gate_reports_a_paired_interval_over_slates_but_gates_on_the_margin() -> None:
    champion_slates = (0.6, 0.8, 0.7, 0.9, math.nan) * 20
    champion = dataclasses.replace(CHAMPION, slate_ndcg_at_10=champion_slates)
    gained = tuple(v + 0.005 for v in champion_slates)
    candidate = dataclasses.replace(evaluation("c", ndcg=0.705), slate_ndcg_at_10=gained)
    gate = check_gates(candidate, champion, SETTINGS).gates[0]
    assert gate.name == "ndcg_at_10"
    assert "paired bootstrap 95% CI [+0.0050, +0.0050] over 80 slates" in gate.detail
    assert not gate.passed  # a certain gain below the margin is still refused
