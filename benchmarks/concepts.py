"""Measure taxonomy recognition (matching.concepts): build time, throughput and accuracy.

Accuracy is measured on the demo fixtures, treating an opening's explicit occupation code
as the truth: the primary occupation guessed from title and description, whether the
recognised groups contain the true group, and how many of the listed required skills are
recognised. Because the fixture texts are written from taxonomy labels, the same figures
are also given without the title, and for the participants' own free texts against their
preferred occupations.

Times are CPU time of the measuring thread: the build machine is shared, and wall-clock
time there says more about the neighbours than about this code. Wall-clock rates and the
load average are reported alongside.

    .venv/bin/python -m benchmarks.concepts [--fixtures data/fixtures] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import markdown_table, percentile, write_section
from matching import concepts as concepts_module
from matching.concepts import ConceptRecogniser
from matching.settings import Settings
from matching.taxonomy import Taxonomy, load_taxonomy

PARTICIPANT_TEXT_FIELDS = (
    "preferred_occupations_text",
    "preferred_tasks_text",
    "experience_text",
    "skills_text",
    "interests_text",
    "education_text",
)

cpu = time.thread_time


def clear_word_caches() -> None:
    for cached in (
        concepts_module._analyse,
        concepts_module._label_keys,
        concepts_module._text_keys,
        concepts_module._base_forms,
        concepts_module._job_of,
    ):
        cached.cache_clear()


def measure_build(taxonomy: Taxonomy, repeats: int = 5) -> dict[str, float]:
    """Seconds to build a recogniser, cold (empty word caches) and warm; medians."""
    cold, warm, wall = [], [], []
    for _ in range(repeats):
        clear_word_caches()
        started, started_wall = cpu(), time.perf_counter()
        ConceptRecogniser(taxonomy)
        cold.append(cpu() - started)
        wall.append(time.perf_counter() - started_wall)
        started = cpu()
        ConceptRecogniser(taxonomy)
        warm.append(cpu() - started)
    return {
        "cold": statistics.median(cold),
        "warm": statistics.median(warm),
        "cold_wall": statistics.median(wall),
    }


def measure_throughput(
    taxonomy: Taxonomy, texts: Sequence[str], passes: int = 3
) -> dict[str, float]:
    """Texts per CPU second on a fresh recogniser: the first pass (every word new) and
    later passes (words known), the time per text, and the wall-clock rate."""
    clear_word_caches()
    recogniser = ConceptRecogniser(taxonomy)
    started = cpu()
    for text in texts:
        recogniser.recognise(text)
    first = cpu() - started
    per_text: list[float] = []
    started, started_wall = cpu(), time.perf_counter()
    for _ in range(passes):
        for text in texts:
            one = cpu()
            recogniser.recognise(text)
            per_text.append(cpu() - one)
    warm = (cpu() - started) / passes
    wall = (time.perf_counter() - started_wall) / passes
    return {
        "texts": len(texts),
        "words": statistics.mean(len(t.split()) for t in texts),
        "cold_per_second": len(texts) / first,
        "warm_per_second": len(texts) / warm,
        "wall_per_second": len(texts) / wall,
        "mean_us": statistics.mean(per_text) * 1e6,
        "p95_us": percentile(per_text, 95) * 1e6,
    }


def texts_of_words(texts: Sequence[str], words: int) -> list[str]:
    """The texts run together and cut into texts of exactly `words` words."""
    stream = " ".join(texts).split()
    return [" ".join(stream[i : i + words]) for i in range(0, len(stream) - words, words)]


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def load(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return rows


def evaluate_openings(
    recogniser: ConceptRecogniser,
    taxonomy: Taxonomy,
    openings: Sequence[dict[str, Any]],
    *,
    title: Callable[[dict[str, Any]], str],
    misses: Counter[tuple[str, str]] | None = None,
) -> dict[str, float]:
    coded = [o for o in openings if o.get("ssyk_code")]
    right_group = right_occupation = guessed = contains = contains_inferred = 0
    group_counts: list[int] = []
    inferred_counts: list[int] = []
    confident_right = confident = 0
    for opening in coded:
        truth, body = opening["ssyk_code"], opening.get("description", "")
        guess = recogniser.primary_occupation(title(opening), body)
        if guess is not None:
            guessed += 1
            right_group += guess.ssyk == truth
            right_occupation += guess.occupation_id == opening.get("occupation_id")
            if guess.confidence >= 0.8:
                confident += 1
                confident_right += guess.ssyk == truth
        if misses is not None and (guess is None or guess.ssyk != truth):
            said = "—" if guess is None else f"{guess.label} ({guess.ssyk})"
            true_label = taxonomy.groups[truth].label if truth in taxonomy.groups else truth
            misses[f"{true_label} ({truth})", said] += 1
        concepts = recogniser.recognise(f"{title(opening)}\n{body}")
        with_inferred = concepts.groups | {concepts.inferred_group} - {None}
        contains += truth in concepts.groups
        contains_inferred += truth in with_inferred
        group_counts.append(len(concepts.groups))
        inferred_counts.append(len(with_inferred))
    n = max(len(coded), 1)
    return {
        "openings": len(coded),
        "group_right": right_group / n,
        "occupation_right": right_occupation / n,
        "guessed": guessed / n,
        "confident_share": confident / n,
        "confident_precision": confident_right / max(confident, 1),
        "contains_group": contains / n,
        "mean_groups": statistics.mean(group_counts) if group_counts else 0.0,
        "contains_with_inferred": contains_inferred / n,
        "mean_with_inferred": statistics.mean(inferred_counts) if inferred_counts else 0.0,
    }


def evaluate_skills(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy, openings: Sequence[dict[str, Any]]
) -> dict[str, float]:
    listed = found = recognised_total = related = named = named_found = 0
    for opening in openings:
        required = set(opening.get("required_skills", []))
        wanted = required | set(opening.get("nice_skills", []))
        text = f"{opening.get('title', '')}\n{opening.get('description', '')}"
        labels = {taxonomy.skills[s].label for s in recogniser.recognise(text).skills}
        listed += len(required)
        found += len(required & labels)
        # The generator does not write every required skill into the text: count apart
        # the ones whose first word (its first five letters) the text does contain.
        lower = text.lower()
        in_text = {s for s in required if _first_word(s)[:5] in lower}
        named += len(in_text)
        named_found += len(in_text & labels)
        recognised_total += len(labels)
        related += len(labels & wanted)
    return {
        "required_listed": listed,
        "required_recall": found / max(listed, 1),
        "named": named,
        "named_recall": named_found / max(named, 1),
        "skills_per_opening": recognised_total / max(len(openings), 1),
        "listed_share": related / max(recognised_total, 1),
    }


def _first_word(label: str) -> str:
    return label.split(",")[0].split("/")[0].split("(")[0].split()[0].lower()


def evaluate_participants(
    recogniser: ConceptRecogniser, taxonomy: Taxonomy, participants: Sequence[dict[str, Any]]
) -> dict[str, float]:
    with_preferences = recalled = wanted = any_hit = 0
    group_counts: list[int] = []
    for participant in participants:
        profile = participant.get("profile", participant)
        preferred = {
            taxonomy.occupations[o].ssyk
            for o in profile.get("preferred_occupation_ids", [])
            if o in taxonomy.occupations
        }
        if not preferred:
            continue
        with_preferences += 1
        text = "\n".join(str(profile.get(field, "")) for field in PARTICIPANT_TEXT_FIELDS)
        groups = recogniser.recognise(text).groups
        recalled += len(preferred & groups)
        wanted += len(preferred)
        any_hit += bool(preferred & groups)
        group_counts.append(len(groups))
    return {
        "participants": with_preferences,
        "preferred_group_recall": recalled / max(wanted, 1),
        "any_preferred_group": any_hit / max(with_preferences, 1),
        "mean_groups": statistics.mean(group_counts) if group_counts else 0.0,
    }


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def speed_rows(
    build: dict[str, float], speeds: dict[str, dict[str, float]]
) -> list[tuple[str, str]]:
    rows = [
        (
            "build the recogniser, empty / warm word caches",
            f"{build['cold']:.2f} s ({build['cold_wall']:.2f} s wall) / {build['warm']:.2f} s",
        )
    ]
    for name, result in speeds.items():
        rows.append(
            (
                f"recognise {name} ({result['texts']:,.0f} texts, {result['words']:.0f} words)",
                f"{result['warm_per_second']:,.0f} texts/s ({result['wall_per_second']:,.0f} "
                f"wall); {result['cold_per_second']:,.0f}/s on a first pass over new words",
            )
        )
        rows.append(
            (
                f"time per text, {name}: mean / p95",
                f"{result['mean_us']:.0f} µs / {result['p95_us']:.0f} µs",
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    settings = Settings()
    parser.add_argument("--fixtures", type=Path, default=settings.fixtures_dir)
    parser.add_argument("--no-write", action="store_true", help="do not update the report")
    parser.add_argument("--misses", type=int, default=15, help="show this many top misses")
    args = parser.parse_args(argv)

    taxonomy = load_taxonomy(settings.taxonomy_dir)
    openings_path = args.fixtures / "openings.json"
    if not openings_path.exists():
        print(f"{openings_path} is missing: generate the fixtures first", file=sys.stderr)
        return 1
    openings = load(openings_path)
    participants_path = args.fixtures / "participants.json"
    participants = load(participants_path) if participants_path.exists() else []

    load_before = load_average()
    build = measure_build(taxonomy)
    texts = [f"{o.get('title', '')}\n{o.get('description', '')}" for o in openings]
    speeds = {
        "opening texts": measure_throughput(taxonomy, texts),
        "150-word texts": measure_throughput(taxonomy, texts_of_words(texts, 150)),
    }
    machine_load = f"{load_before} before, {load_average()} after"
    timing = markdown_table(("measure, CPU time of one thread", "value"), speed_rows(build, speeds))
    print(f"load average {machine_load}")
    print(timing)

    recogniser = ConceptRecogniser(taxonomy)
    misses: Counter[tuple[str, str]] = Counter()
    full = evaluate_openings(
        recogniser, taxonomy, openings, title=lambda o: o.get("title", ""), misses=misses
    )
    untitled = evaluate_openings(recogniser, taxonomy, openings, title=lambda o: "")
    skills = evaluate_skills(recogniser, taxonomy, openings)
    people = evaluate_participants(recogniser, taxonomy, participants)

    accuracy = markdown_table(
        (
            "text",
            "openings with a code",
            "primary: right group",
            "primary: right occupation",
            "primary: any guess",
            "confidence ≥ 0.8: share / right",
            "`groups` contain the truth",
            "mean `groups`",
            "… with `inferred_group`",
            "mean with `inferred_group`",
        ),
        [
            (
                variant,
                f"{result['openings']:,.0f}",
                percent(result["group_right"]),
                percent(result["occupation_right"]),
                percent(result["guessed"]),
                f"{percent(result['confident_share'])} / {percent(result['confident_precision'])}",
                percent(result["contains_group"]),
                f"{result['mean_groups']:.2f}",
                percent(result["contains_with_inferred"]),
                f"{result['mean_with_inferred']:.2f}",
            )
            for variant, result in (("title + description", full), ("description only", untitled))
        ],
    )
    print(accuracy)
    skill_line = (
        f"Required skills: {percent(skills['required_recall'])} of "
        f"{skills['required_listed']:,.0f} listed labels recognised in the text "
        f"({percent(skills['named_recall'])} of the {skills['named']:,.0f} whose first word "
        "the text contains); "
        f"{skills['skills_per_opening']:.1f} skills recognised per opening, "
        f"{percent(skills['listed_share'])} of them listed as required or nice to have."
    )
    print(skill_line)
    people_line = (
        f"Participants' own texts ({people['participants']:,.0f} with preferred occupations): "
        f"{percent(people['preferred_group_recall'])} of preferred groups recognised, at least "
        f"one for {percent(people['any_preferred_group'])}, "
        f"{people['mean_groups']:.2f} groups recognised on average."
    )
    print(people_line)
    top_misses = markdown_table(
        ("true group", "primary guess", "openings"),
        [(true, said, count) for (true, said), count in misses.most_common(args.misses)],
    )
    print(top_misses)

    if not args.no_write:
        body = "\n\n".join(
            (
                "`benchmarks/concepts.py`: `matching.concepts` on the demo fixtures "
                f"({len(openings):,} openings, {len(participants):,} participants). Times are "
                "CPU time of one thread, since the build machine is shared (load average "
                f"{machine_load}); wall-clock rates in brackets.",
                timing,
                "The 150-word texts are the opening texts run together and cut into pieces of "
                "150 words. A first pass meets every word for the first time (the analysis of "
                "a word is cached, up to 32k words per cache).",
                "Accuracy, the opening's explicit occupation code taken as the truth. "
                "*Primary* is `primary_occupation(title, description)`; *`groups`* those of "
                "`recognise(title + description)`; *`inferred_group`* the group that two or "
                "more skills point to when a text names no occupation. The description-only "
                "row drops the title, since the fixture titles are often taxonomy labels.",
                accuracy,
                skill_line,
                people_line,
                "Most frequent misses of the primary occupation (title + description):",
                top_misses,
            )
        )
        write_section("concepts", "Taxonomy recognition", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
