"""Retraining at scale: time and peak memory to build the dataset and fit the ranker.

For each size a synthetic SQLite database is filled with that many logged suggestions (slates
of ten, features drawn like the demo's, decisions from the simulator's hidden preferences
plus noise, a few outcomes), and a fresh process builds the dataset from it
(`training.dataset.build_dataset`: read, label, split, digest), fits the ranker on the
training part (`training.train.fit`, the default parameters) and computes the held-out
ranking metrics. Peak memory is the process's maximum resident set size.

    python benchmarks/training.py                 # 10k, 100k, 1M rows; updates docs/benchmarks.md
    python benchmarks/training.py --sizes 10000 --no-write
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import markdown_table, write_section
from matching.db import migrate
from matching.db.models import (
    Consent,
    Employer,
    Feedback,
    Opening,
    Organisation,
    Outcome,
    Participant,
    Suggestion,
)
from matching.db.session import make_engine, make_session_factory
from matching.domain import ConsentScope, Decision, Gender, Goal, Lane, OutcomeKind
from matching.features import FEATURES
from training.simulate import decide, hidden_utility

SLATE = 10
SUGGESTIONS_PER_PARTICIPANT = 200
OPENINGS = 2000
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SPAN_DAYS = 365
CHUNK = 20_000


def synthetic_features(rng: np.random.Generator, n: int) -> np.ndarray:
    """Feature rows with roughly the demo's distributions (a share unknown, as NaN)."""
    x = np.full((n, len(FEATURES)), np.nan)
    column = {name: i for i, name in enumerate(FEATURES)}

    def fill(name: str, values: np.ndarray, known: float = 1.0) -> None:
        mask = rng.uniform(size=n) < known
        x[mask, column[name]] = values[mask]

    fill("occupation", rng.choice([0, 0.25, 0.5, 0.75, 1], n), 0.6)
    fill("experience", rng.choice([0, 0.5, 1], n), 0.35)
    fill("skills", rng.choice([0, 0.25, 0.5, 1], n), 0.8)
    fill("environment", rng.choice([0, 0.5, 1], n), 0.8)
    fill("semantic", rng.uniform(0.4, 0.85, n))
    fill("lexical", rng.uniform(0.0, 0.4, n))
    km_share = rng.uniform(0, 2.5, n)
    fill("commute_within", np.clip(1 - km_share, 0, 1))
    fill("commute_over", np.clip(km_share - 1, 0, 3))
    fill("hours_fit", rng.choice([0, 0.5, 1], n), 0.9)
    fill("hours_gap", rng.choice([0, 0, 0.5, 1.5], n), 0.9)
    fill("schedule_clash", rng.choice([0, 0, 0, 1, 2], n))
    fill("accommodation_met", rng.choice([0, 0.5, 1], n), 0.6)
    fill("accommodation_missing", rng.choice([0, 0.5, 1], n), 0.6)
    fill("days_published", rng.integers(0, 365, n).astype(float))
    fill("days_to_expiry", rng.integers(0, 90, n).astype(float), 0.6)
    fill("free_places", rng.integers(1, 5, n).astype(float))
    fill("snoozed", (rng.uniform(size=n) < 0.03).astype(float))
    return x


def populate(url: str, rows: int, seed: int = 1) -> None:
    """`rows` logged suggestions in slates of ten over a year, with decisions and outcomes."""
    rng = np.random.default_rng(seed)
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    participants = max(1, rows // SUGGESTIONS_PER_PARTICIPANT)
    with factory.begin() as session:
        organisation = Organisation(name="Benchmark", municipalities=["Södertälje"])
        employer = Employer(name="Benchmark AB", municipality="Södertälje")
        session.add_all([organisation, employer])
        session.flush()
        session.execute(
            sa.insert(Opening),
            [
                {
                    "employer_id": employer.id,
                    "title": f"Lagerarbetare {i}",
                    "published_at": NOW - timedelta(days=30),
                }
                for i in range(OPENINGS)
            ],
        )
        session.execute(
            sa.insert(Participant),
            [
                {
                    "organisation_id": organisation.id,
                    "external_ref": f"B-{i:06d}",
                    "goal": Goal.COMPETITIVE_JOB,
                    "gender": (Gender.WOMAN, Gender.MAN)[i % 2],
                }
                for i in range(participants)
            ],
        )
        people = session.scalars(sa.select(Participant.id).order_by(Participant.id)).all()
        openings = session.scalars(sa.select(Opening.id).order_by(Opening.id)).all()
        session.execute(
            sa.insert(Consent),
            [
                {"participant_id": p, "scope": scope, "given_at": NOW - timedelta(days=400)}
                for p in people
                for scope in (ConsentScope.MATCHING, ConsentScope.MODEL_TRAINING)
            ],
        )
    slates = rows // SLATE
    next_id = 1
    for start in range(0, slates, CHUNK // SLATE):
        count = min(CHUNK // SLATE, slates - start)
        features = synthetic_features(rng, count * SLATE)
        noisy = hidden_utility(features) + rng.normal(0, 1.0, len(features))
        suggestions, feedback, outcomes = [], [], []
        for s in range(count):
            number = start + s
            shown_at = NOW - timedelta(days=SPAN_DAYS * (1 - number / slates))
            participant = people[number % len(people)]
            block = slice(s * SLATE, (s + 1) * SLATE)
            decisions = decide(noisy[block].tolist())
            for rank, (row, decision) in enumerate(
                zip(features[block], decisions, strict=True), start=1
            ):
                values = {
                    name: None if np.isnan(v) else float(v)
                    for name, v in zip(FEATURES, row, strict=True)
                }
                suggestions.append(
                    {
                        "id": next_id,
                        "participant_id": participant,
                        "lane": Lane.JOBS,
                        "opening_id": openings[int(rng.integers(len(openings)))],
                        "slate_id": f"bench-{number:08d}",
                        "rank": rank,
                        "score": 0.0,
                        "contributions": {},
                        "feature_values": values,
                        "facts": {},
                        "model_version": "handset-1",
                        "created_at": shown_at,
                    }
                )
                if decision is not None:
                    feedback.append(
                        {
                            "suggestion_id": next_id,
                            "decision": decision,
                            "created_at": shown_at + timedelta(days=2),
                        }
                    )
                if decision is Decision.CONTACTED_EMPLOYER and rng.uniform() < 0.4:
                    outcomes.append(
                        {
                            "participant_id": participant,
                            "suggestion_id": next_id,
                            "kind": OutcomeKind.INTERVIEW,
                            "occurred_at": shown_at + timedelta(days=10),
                            "created_at": shown_at + timedelta(days=10),
                        }
                    )
                next_id += 1
        with factory.begin() as session:
            session.execute(sa.insert(Suggestion), suggestions)
            if feedback:
                session.execute(sa.insert(Feedback), feedback)
            if outcomes:
                session.execute(sa.insert(Outcome), outcomes)
        print(f"  {min(rows, next_id - 1):,} of {rows:,} rows stored", file=sys.stderr)
    engine.dispose()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str) -> dict[str, float]:
    """In this process: build the dataset, fit, evaluate; times and peak memory."""
    from training.dataset import build_dataset
    from training.evaluate import ranking_metrics
    from training.train import TrainingParams, fit

    engine = make_engine(url)
    factory = make_session_factory(engine)
    start_memory = peak_mib()
    started = time.perf_counter()
    with factory() as session:
        dataset = build_dataset(session=session, min_age=timedelta(days=14), evaluation_share=0.2)
    built = time.perf_counter()
    dataset_memory = peak_mib()
    training, held_out = dataset.training_part(), dataset.evaluation_part()
    model = fit(training, TrainingParams())
    fitted = time.perf_counter()
    metrics = ranking_metrics(model.predict(held_out.features), held_out)
    evaluated = time.perf_counter()
    engine.dispose()
    return {
        "rows": len(dataset),
        "slates": dataset.slate_count,
        "dataset_seconds": built - started,
        "fit_seconds": fitted - built,
        "evaluate_seconds": evaluated - fitted,
        "total_seconds": evaluated - started,
        "start_mib": start_memory,
        "dataset_peak_mib": dataset_memory,
        "peak_mib": peak_mib(),
        "iterations": float(model.n_iter_),
        "ndcg_at_10": metrics["ndcg_at_10"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--no-write", action="store_true", help="Do not update the report.")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="stegvis-bench-training-") as folder:
        for size in args.sizes:
            url = f"sqlite:///{Path(folder) / f'training-{size}.db'}"
            print(f"filling a database with {size:,} logged suggestions", file=sys.stderr)
            populate(url, size)
            output = subprocess.run(  # noqa: S603 - this script, with a URL it made
                [sys.executable, __file__, "--measure", url],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
    rows = [
        [
            f"{int(r['rows']):,}",
            f"{int(r['slates']):,}",
            f"{r['dataset_seconds']:.1f}",
            f"{r['fit_seconds']:.1f}",
            f"{r['evaluate_seconds']:.1f}",
            f"**{r['dataset_seconds'] + r['fit_seconds']:.1f}**",
            f"{r['peak_mib']:,.0f}",
            f"{r['start_mib']:,.0f}",
        ]
        for r in results
    ]
    body = (
        "Logged suggestions with feedback (slates of ten on SQLite; features like the "
        "demo's, decisions by the simulator's hidden preferences plus noise), read, "
        "labelled, split and digested by `build_dataset`, then fitted with the default "
        "`TrainingParams` (pairwise, two ramps per feature) on the older 80 % and scored "
        "on the newest 20 %. Each size runs in a fresh process; peak memory is its "
        "maximum resident set size, next to what the process held before reading (the "
        "interpreter and its libraries). Target: 100k rows in under 60 s.\n\n"
        + markdown_table(
            [
                "labelled rows",
                "slates",
                "dataset (s)",
                "fit (s)",
                "evaluate (s)",
                "dataset + fit (s)",
                "peak memory (MiB)",
                "before reading (MiB)",
            ],
            rows,
        )
    )
    print(body)
    if not args.no_write:
        write_section("training", "Training", body)


if __name__ == "__main__":
    main()
