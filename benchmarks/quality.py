"""Matching quality: NDCG@10 and recall@50 of the full ranker and of single-signal baselines.

    python benchmarks/quality.py [--seed N] [--groups N] [--rebuild] [--no-write]

Builds (or loads from var/quality/) the relevance-labelled Swedish set of
`training.quality`, runs it through the real pipeline once, and compares on it: word BM25,
character n-gram TF-IDF and embeddings alone (each ranking every opening), the taxonomy
features alone, and the full ranker with the hand-set weights over its candidates. Figures
are for the development groups; the held-out groups are reported apart and never used to
choose weights. Results go to the console and to the "quality" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from matching.concepts import recogniser_for
from matching.ranker import HAND_SET, AdditiveRanker, HandSetShape, hand_set_ranker
from matching.settings import REPOSITORY_ROOT, Settings
from matching.taxonomy import Taxonomy, load_taxonomy
from training.quality import (
    BASELINES,
    DEFAULT_SEED,
    HARD,
    METHOD_NAMES,
    SKILLS_ONLY,
    STANDARD,
    TAXONOMY_FEATURES,
    TITLE_SKILLS,
    Positions,
    QualityBenchmark,
    QualityReport,
    SetSize,
    taxonomy_only_ranker,
)

# `python benchmarks/quality.py` puts only benchmarks/ on the path; report is shared.
sys.path.insert(0, str(REPOSITORY_ROOT))
from benchmarks.report import markdown_table, write_section

T = TypeVar("T")

#: The targets of the matching issue (NDCG@10 of the full ranker).
TARGET_OVERALL = 0.70
TARGET_SKILLS_ONLY = 0.50
#: Development-group columns, then held-out ones: (report slice, column title).
COLUMNS = (
    ("overall", "overall"),
    (TITLE_SKILLS, "title + skills"),
    (SKILLS_ONLY, "skills only"),
    ("hard", "hard"),
    (f"hard_{TITLE_SKILLS}", "hard, title + skills"),
    (f"hard_{SKILLS_ONLY}", "hard, skills only"),
)
HELD_OUT_COLUMNS = (("overall", "held-out"), (SKILLS_ONLY, "held-out, skills only"))
FAILURES = 5
#: Single weight changes whose effect is shown (not adopted: see the discussion).
SENSITIVITY = (("semantic", 0.5), ("lexical", 0.75), ("skills", 2.5))


def track(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    return tqdm(items, desc=description, total=total, file=sys.stderr, mininterval=2)


def hand_set_with(
    *, without: Sequence[str] = (), shapes: dict[str, HandSetShape] | None = None
) -> AdditiveRanker:
    """The hand-set ranker with some features left out or some shapes replaced."""
    chosen = {name: shape for name, shape in HAND_SET.items() if name not in without}
    chosen |= shapes or {}
    return AdditiveRanker.from_shapes(
        {name: (shape.low, shape.high) for name, shape in chosen.items()},
        {name: (shape.weight,) for name, shape in chosen.items()},
    )


def cell(report: QualityReport, part: str) -> str:
    metrics = report.slices[part]
    return f"{metrics.ndcg_at_10:.3f} / {metrics.recall_at_50:.3f}"


def results_table(development: Sequence[QualityReport], held_out: Sequence[QualityReport]) -> str:
    header = ["method", *(title for _, title in COLUMNS), *(t for _, t in HELD_OUT_COLUMNS)]
    rows = [
        [
            dev.method,
            *(cell(dev, part) for part, _ in COLUMNS),
            *(cell(out, part) for part, _ in HELD_OUT_COLUMNS),
        ]
        for dev, out in zip(development, held_out, strict=True)
    ]
    return markdown_table(header, rows)


def ablation_rows(
    benchmark: QualityBenchmark, groups: frozenset[str]
) -> list[tuple[str, QualityReport]]:
    """The hand-set ranker with one signal (or the taxonomy signals) left out."""
    variants = {
        "full ranker (hand-set weights)": hand_set_ranker(),
        "without semantic": hand_set_with(without=("semantic",)),
        "without lexical": hand_set_with(without=("lexical",)),
        "without semantic and lexical": hand_set_with(without=("semantic", "lexical")),
        "without occupation": hand_set_with(without=("occupation",)),
        "without skills": hand_set_with(without=("skills",)),
        "without the taxonomy features": hand_set_with(without=TAXONOMY_FEATURES),
        **{
            f"what if: {name} weight {HAND_SET[name].weight:g} → {weight:g}": hand_set_with(
                shapes={name: replace(HAND_SET[name], weight=weight)}
            )
            for name, weight in SENSITIVITY
        },
    }
    return [(name, benchmark.score(model, groups, method=name)) for name, model in variants.items()]


def margin(
    benchmark: QualityBenchmark,
    better: Sequence[Positions],
    worse: Sequence[Positions],
    mask: npt.NDArray[np.bool_],
    draws: int = 2000,
) -> tuple[float, float, float]:
    """Mean NDCG@10 difference over the masked queries, with a 95 % paired bootstrap interval."""
    first, _ = benchmark.query_metrics(better)
    second, _ = benchmark.query_metrics(worse)
    difference = (first - second)[mask]
    resamples = np.random.default_rng(0).integers(0, difference.size, (draws, difference.size))
    low, high = np.percentile(difference[resamples].mean(axis=1), [2.5, 97.5])
    return float(difference.mean()), float(low), float(high)


def failure_examples(
    benchmark: QualityBenchmark, taxonomy: Taxonomy, groups: frozenset[str]
) -> list[str]:
    """The full ranker's worst standard skills-only queries, with what was recognised."""
    recogniser = recogniser_for(taxonomy)
    rankings = benchmark.rankings(hand_set_ranker())
    ndcg, _ = benchmark.query_metrics(rankings)
    chosen = (
        (benchmark.query_kind == SKILLS_ONLY)
        & (benchmark.query_variant == STANDARD)
        & np.isin(benchmark.query_group, sorted(groups))
    )
    worst = [int(q) for q in np.argsort(ndcg, kind="stable") if chosen[q]][:FAILURES]
    lines = []
    for query in worst:
        text = str(benchmark.query_text[query])
        concepts = recogniser.recognise(text)
        skills = sorted(taxonomy.skills[s].label for s in concepts.skills)
        occupation = taxonomy.occupations[str(benchmark.query_occupation[query])]
        group = taxonomy.groups[occupation.ssyk]
        top = []
        for position in rankings[query][:3]:
            item_group = taxonomy.groups[str(benchmark.item_group[position])]
            top.append(f"{benchmark.item_title[position]} ({item_group.code} {item_group.label})")
        lines.append(
            f"- NDCG@10 {ndcg[query]:.2f}, made from *{occupation.label}* "
            f"({group.code} {group.label}): “{text}” — recognised skills: "
            f"{', '.join(f'“{label}”' for label in skills) or 'none'}; top 3: {'; '.join(top)}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--groups", type=int, default=SetSize().groups)
    parser.add_argument("--rebuild", action="store_true", help="ignore a stored benchmark")
    parser.add_argument("--no-write", action="store_true", help="do not update the report")
    args = parser.parse_args(argv)

    settings = Settings()
    size = replace(SetSize(), groups=args.groups)
    started = time.perf_counter()
    benchmark = QualityBenchmark.load_or_build(
        settings, seed=args.seed, size=size, rebuild=args.rebuild, track=track
    )
    prepared = time.perf_counter() - started
    load, cores = os.getloadavg()[2], os.cpu_count() or 1
    busy = f"15-minute load average {load:.1f} on {cores} cores" + (
        ": other jobs shared the machine" if load > cores else ""
    )

    development = benchmark.development_groups
    held_out = benchmark.held_out_groups
    started = time.perf_counter()
    full = benchmark.score(hand_set_ranker(), development)
    scoring_ms = (time.perf_counter() - started) * 1000
    methods = [
        *(benchmark.baseline(name, development) for name in BASELINES),
        benchmark.score(taxonomy_only_ranker(), development, method="taxonomy features only"),
        full,
    ]
    methods_held_out = [
        *(benchmark.baseline(name, held_out) for name in BASELINES),
        benchmark.score(taxonomy_only_ranker(), held_out, method="taxonomy features only"),
        benchmark.score(hand_set_ranker(), held_out),
    ]
    table = results_table(methods, methods_held_out)
    ablation_reports = ablation_rows(benchmark, development)
    ablation = markdown_table(
        ["ranker (development groups)", *(title for _, title in COLUMNS)],
        [[name, *(cell(report, part) for part, _ in COLUMNS)] for name, report in ablation_reports],
    )
    baselines = methods[: len(BASELINES)]
    best_overall = max(r.ndcg("overall") for r in baselines)
    best_skills = max(r.ndcg(SKILLS_ONLY) for r in baselines)
    met = (
        full.ndcg("overall") >= TARGET_OVERALL
        and full.ndcg(SKILLS_ONLY) >= TARGET_SKILLS_ONLY
        and full.ndcg("overall") > best_overall
        and full.ndcg(SKILLS_ONLY) > best_skills
    )
    full_rankings = benchmark.rankings(hand_set_ranker())
    margins = []
    for part in ("overall", SKILLS_ONLY):
        best = max(baselines, key=lambda report: report.ndcg(part))
        name = next(n for n in BASELINES if METHOD_NAMES[n] == best.method)
        mean, low, high = margin(
            benchmark,
            full_rankings,
            benchmark.baseline_ranking(name),
            benchmark.slice_mask(part, development),
        )
        margins.append(
            f"{part}: +{mean:.3f} over {best.method} (95 % paired bootstrap {low:+.3f} to "
            f"{high:+.3f})"
        )
    verdict = (
        f"Targets (full ranker NDCG@10 ≥ {TARGET_OVERALL:.2f} overall and ≥ "
        f"{TARGET_SKILLS_ONLY:.2f} skills-only, above every single-signal baseline): "
        f"**{'met' if met else 'not met'}** — {full.ndcg('overall'):.3f} overall (best "
        f"baseline {best_overall:.3f}), {full.ndcg(SKILLS_ONLY):.3f} skills-only (best "
        f"baseline {best_skills:.3f}). Margins: {'; '.join(margins)}."
    )
    taxonomy = load_taxonomy(settings.taxonomy_dir)
    failures = failure_examples(benchmark, taxonomy, development)
    size_facts = benchmark.describe()
    print(table, "\n", ablation, "\n", verdict, sep="\n")
    print("\n".join(failures))
    print(f"prepared in {prepared:.1f} s; one model scored in {scoring_ms:.0f} ms")
    if args.no_write:
        return 0
    taxonomy_only = methods[len(BASELINES)]
    hard_cost = full.ndcg(f"hard_{SKILLS_ONLY}") - taxonomy_only.ndcg(f"hard_{SKILLS_ONLY}")
    sensitivity = {name: report for name, report in ablation_reports if name.startswith("what")}
    recall = full.slices["overall"].recall_at_50
    best_what_if = max(sensitivity.values(), key=lambda report: report.ndcg())
    body = f"""
A relevance-labelled Swedish set made from the shipped JobTech Taxonomy extract
(`training/quality.py`, seed {benchmark.seed}): {size_facts["groups"]} SSYK-4 groups
({size_facts["held_out_groups"]} of them held out), {size_facts["openings"]} synthetic openings
of {size_facts["occupations"]} occupations ({size_facts["coded_openings"]} carry the employer's
occupation code, the rest are left to the recogniser), and {size_facts["participants"]}
participants: {size_facts[f"{STANDARD}_{TITLE_SKILLS}"]} "title + skills" ("Vill arbeta som
X" and three skills), {size_facts[f"{STANDARD}_{SKILLS_ONLY}"]} "skills only" (skills and
experience, no occupation named), and a harder variant of each
({size_facts[f"{HARD}_{TITLE_SKILLS}"]} + {size_facts[f"{HARD}_{SKILLS_ONLY}"]}) whose skills
are ones no opening of the group names, slightly inflected, with the occupation named
without its qualifier. The taxonomy links skills to groups, not occupations, so each
occupation gets a seeded profile of its group's skills; openings and participants sample
their skills from it independently. Relevance: same occupation 2, same SSYK-4 group 1.
Hours, place and dates are the same for every opening, so only the text decides. Each
participant ran through the real pipeline (temporary SQLite database, `MatchingEngine`,
`candidates_for` in the jobs lane; on average {size_facts["mean_candidates"]} candidates);
the full ranker ranks only its candidates (anything else counts as not retrieved), the
baselines rank every opening over the same texts (`matching.catalogue.item_text`).

Cells are NDCG@10 / recall@50 (graded gains 2/1; recall of items with grade ≥ 1). The first
six columns are the development groups (the only ones looked at when judging weights), the
last two the held-out groups, which encoder or ranker training must leave out
(`training.quality.group_split`).

{table}

{verdict}

**Read with care.** The set is synthetic and made from the same taxonomy the recogniser
knows: openings and "standard" participants use taxonomy skill labels verbatim and title
participants name a taxonomy occupation, so the taxonomy features (and, through shared
labels, BM25 and TF-IDF) find them far more easily than in real free text. The
single-signal baselines therefore score higher here than on a comparable benchmark of real
ad texts (MiniLM alone ≈ 0.22, word BM25 ≈ 0.48, character n-gram TF-IDF ≈ 0.55,
skills-only 0.13–0.31), and the full ranker's absolute figures are an upper bound for real
participants. The hard variant removes the shared skill labels: the lexical baselines drop
sharply, while the taxonomy features still find the group because the participant's skills
are on the group's skill list — real participants will not echo that list as neatly. The
English MiniLM is the weakest signal throughout: it does not read Swedish well. Skills-only
participants cannot reach 1: nothing but overlapping skill profiles tells the occupations of
one group apart.

Ablations and single-weight changes (development groups):

{ablation}

The taxonomy features carry the ranking; the text signals add to it on the standard set
but cost on hard skills-only participants ({hard_cost:+.3f} against the taxonomy features
alone), where character n-grams reward surface overlap with other groups' ads. The hand-set
weights (`matching/ranker.py`, `handset-1`) were **not changed**: the targets are met by a
wide margin, and the best single change tried ("{best_what_if.method}") moves overall
NDCG@10 by only {best_what_if.ndcg() - full.ndcg():+.3f}. Tuning the served weights towards
the taxonomy signals on a set built from the recogniser's own taxonomy would fit the set's
bias rather than real participants; the trained ranker learns them from coach feedback,
with this benchmark as one of its gates. The candidate counts in `matching/service.py` were
not changed either: recall@50 of the full ranker is already {recall:.3f}.

Worst skills-only participants of the full ranker (development groups; regenerated on
every run):

{chr(10).join(failures)}

Preparing the benchmark (generation, database, engine start, encoding, candidates for every
participant) took {prepared:.0f} s{" (loaded from var/quality/)" if prepared < 30 else ""}
({busy}); scoring one ranker on the stored feature rows takes {scoring_ms:.0f} ms, which is
what a promotion gate pays.
"""
    write_section("quality", "Matching quality", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
