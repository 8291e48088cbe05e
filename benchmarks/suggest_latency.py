"""Latency of `suggest` for one participant over 100k openings and at the fixture size.

    python benchmarks/suggest_latency.py [--sizes 100000,3100] [--requests 400] [--label NAME]

Target (the matching issue): with the model loaded, `suggest` for one participant over
100k openings takes a median under 30 ms and a p99 under 80 ms.

Each size runs in its own process (so start-up time and memory are that size's alone, and
string hashing is seeded alike, see `in_own_process`) on a database from
`benchmarks/synthetic.py`. The process loads the model, starts the engine
(`MatchingEngine.start`: taxonomy, recogniser, lane indexes, catalogues) and then times
what one API request does: a transaction that runs `suggest(k=10, lane=jobs)`, which logs
the shown suggestions, and commits. Before timing, one warm-up request per participant
fills what is kept per profile text (its vector in the database; in memory, the concepts
and the n-gram query of its texts), as in steady use: a profile edited since its last
request misses them all, measured separately as "first request after a profile edit". Then
a pass with timers around the stages (installed from here, not in the product code) gives
the breakdown. All requests use the database's anchor time as "now", so runs are
comparable and rankings reproducible; the suggestions written are deleted at the end.

Rankings must not change when the engine gets faster: the first run stores the top-100
slates (ids, scores, contributions, feature values, facts) of 40 participants next to the
database, and every later run compares against them exactly. Other work changes rankings
legitimately (the concept recogniser, the taxonomy, the ranker's weights): the reference
records digests of those inputs, and a difference after they changed is reported as such.
To compare an engine change alone, make the reference with the old engine and everything
else as it is now, from a copy of the tree:

    rsync -a --exclude .venv --exclude var --exclude mlruns ./ /tmp/stegvis-before/
    git show HEAD:matching/service.py > /tmp/stegvis-before/matching/service.py  # and so on
    PYTHONPATH=/tmp/stegvis-before .venv/bin/python \
        /tmp/stegvis-before/benchmarks/suggest_latency.py --reference-only "engine at HEAD" \
        --bench-root var/bench --sizes 100000,3100
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction, selectinload, sessionmaker

from matching.settings import REPOSITORY_ROOT

# `python benchmarks/suggest_latency.py` puts only benchmarks/ on the path.
sys.path.insert(0, str(REPOSITORY_ROOT))
from benchmarks.report import markdown_table, median, percentile, write_section
from benchmarks.synthetic import BENCH_ROOT, BenchDatabase, bench_database, progress
from embeddings.encoder import load_encoder
from matching import service
from matching.db.models import Participant, Suggestion
from matching.db.session import transaction
from matching.domain import ConsentScope, Lane
from matching.engine import MatchingEngine

TARGET_MEDIAN_MS = 30.0
TARGET_P99_MS = 80.0
K = 10
DEFAULT_SIZES = (100_000, 3_100)
DEFAULT_REQUESTS = 400
COLD_REQUESTS = 30
REFERENCE_PARTICIPANTS = 40
REFERENCE_K = 100
RUNS = BENCH_ROOT / "suggest_latency_runs.jsonl"
HASH_SEED = "0"
REFERENCE = "suggest_reference.json"
#: Files whose change may legitimately change rankings (the engine's own modules may not).
RANKING_INPUTS = (
    "matching/concepts.py",
    "matching/taxonomy.py",
    "matching/geo.py",
    "matching/domain.py",
    "matching/db/repositories.py",
    "embeddings/texts.py",
    "embeddings/encoder.py",
    "data/taxonomy",
    "data/geo",
)


def resident_mib() -> float:
    """Current resident set size of this process (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the participants ----------------------------------------------------------------------------


def kind_of(participant: Participant) -> str:
    """skills only (no stated wish), long texts, or the rest."""
    if participant.external_ref.startswith("LONG-"):
        return "long texts"
    wishes = (
        participant.preferred_occupations_text.strip()
        or participant.preferred_tasks_text.strip()
        or participant.preferred_occupation_ids
    )
    if not wishes and participant.skills_text.strip():
        return "skills only"
    return "with wishes"


def request_plan(factory: sessionmaker[Session], requests: int) -> list[tuple[int, str]]:
    """(participant id, kind) per request: every long-text profile, then a seeded sample."""
    with factory() as session:
        everyone = session.scalars(
            sa.select(Participant).options(selectinload(Participant.consents))
        ).all()
        consenting = [
            (p.id, kind_of(p)) for p in everyone if service.has_consent(p, ConsentScope.MATCHING)
        ]
    rng = random.Random(7)
    long = [entry for entry in consenting if entry[1] == "long texts"]
    rest = [entry for entry in consenting if entry[1] != "long texts"]
    rng.shuffle(rest)
    chosen = long + rest
    plan = [chosen[i % len(chosen)] for i in range(max(requests, len(long)))]
    rng.shuffle(plan)
    return plan


# --- the requests --------------------------------------------------------------------------------


def one_request(
    factory: sessionmaker[Session], engine: MatchingEngine, participant_id: int, now: datetime
) -> tuple[float, int]:
    """(milliseconds, candidates) of one API-like request: suggest in a committed transaction."""
    start = time.perf_counter()
    with transaction(factory) as session:
        slate = service.suggest(
            session=session,
            engine=engine,
            participant_id=participant_id,
            lane=Lane.JOBS,
            k=K,
            now=now,
        )
    return (time.perf_counter() - start) * 1000, slate.considered


def after_profile_change(
    factory: sessionmaker[Session],
    engine: MatchingEngine,
    participant_id: int,
    now: datetime,
    number: int,
) -> float:
    """Milliseconds of the first request after the coach edited the profile's skills text.

    The new text misses every cache keyed by text (profile vector, concepts, query vector),
    as after a real edit; the original text is put back afterwards.
    """
    with factory.begin() as session:
        participant = session.get(Participant, participant_id)
        assert participant is not None
        original = participant.skills_text
        participant.skills_text = f"{original} Har även hjälpt till i en matbutik {number} gånger."
    try:
        return one_request(factory, engine, participant_id, now)[0]
    finally:
        with factory.begin() as session:
            participant = session.get(Participant, participant_id)
            assert participant is not None
            participant.skills_text = original


def slate_record(slate: service.Slate) -> dict[str, Any]:
    return {
        "considered": slate.considered,
        "suggestions": [
            {
                "item_id": s.item_id,
                "rank": s.rank,
                "score": s.score,
                "bias": s.bias,
                "contributions": s.contributions,
                "values": s.values,
                "facts": s.facts,
            }
            for s in slate.suggestions
        ],
    }


def ranking_inputs(engine: MatchingEngine) -> dict[str, str]:
    """Digests of what may legitimately change rankings: not the engine's speed-ups, but the
    concept recogniser, taxonomy, geography, texts, ranker weights and candidate counts."""
    digests = {}
    for name in RANKING_INPUTS:
        path = REPOSITORY_ROOT / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(file.relative_to(REPOSITORY_ROOT).as_posix().encode())
                digest.update(file.read_bytes())
        digests[name] = digest.hexdigest()[:16]
    model, version = engine.ranker.current()
    ranker = json.dumps({"version": version, "model": model.to_dict()}, sort_keys=True)
    digests["serving ranker"] = hashlib.sha256(ranker.encode()).hexdigest()[:16]
    digests["candidate counts"] = json.dumps(
        [
            service.SEMANTIC_CANDIDATES,
            service.LEXICAL_CANDIDATES,
            service.TAXONOMY_CANDIDATES,
            service.SKILL_GROUP_MIN_OVERLAP,
            service.SKILL_GROUPS,
        ]
    )
    return digests


def first_difference(expected: Any, found: Any, path: str = "") -> str | None:
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            if key not in expected or key not in found:
                return f"{path}.{key}: present in only one"
            difference = first_difference(expected[key], found[key], f"{path}.{key}")
            if difference:
                return difference
        return None
    if isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            return f"{path}: {len(expected)} entries, now {len(found)}"
        for index, (a, b) in enumerate(zip(expected, found, strict=True)):
            difference = first_difference(a, b, f"{path}[{index}]")
            if difference:
                return difference
        return None
    return None if expected == found else f"{path}: {expected!r}, now {found!r}"


def check_rankings(
    factory: sessionmaker[Session],
    engine: MatchingEngine,
    database: BenchDatabase,
    participants: list[int],
    *,
    store_as: str | None = None,
) -> str:
    """Compare the top-100 slates with the stored reference (or store them as it)."""
    slates: dict[str, Any] = {}
    for participant_id in participants:
        with factory() as session:
            slate = service.suggest(
                session=session,
                engine=engine,
                participant_id=participant_id,
                lane=Lane.JOBS,
                k=REFERENCE_K,
                now=database.anchor,
            )
            slates[str(participant_id)] = slate_record(slate)
            session.rollback()
    slates = json.loads(json.dumps(slates))  # as stored: tuples become lists
    inputs = ranking_inputs(engine)
    path = database.folder / REFERENCE
    if store_as is not None or not path.exists():
        label = store_as or "the first run"
        document = {"label": label, "created_at": _now(), "inputs": inputs, "slates": slates}
        path.write_text(json.dumps(document), encoding="utf-8")
        return f"reference stored now from {label} ({len(slates)} participants, top-{REFERENCE_K})"
    reference = json.loads(path.read_text(encoding="utf-8"))
    source = f"the reference from {reference['label']} ({reference['created_at']})"
    changed = sorted(k for k, v in inputs.items() if reference["inputs"].get(k) != v)
    difference = first_difference(reference["slates"], slates)
    if difference is None:
        return (
            f"identical to {source}: {len(slates)} participants, top-{REFERENCE_K} each, same "
            "ids, ranks, scores, contributions, feature values and facts"
        )
    if changed:
        return (
            f"differ from {source}, but what rankings depend on changed since "
            f"({', '.join(changed)}): make a new reference (see the module docstring)"
        )
    return f"**CHANGED** against {source}: {difference}"


# --- the breakdown -------------------------------------------------------------------------------


class StageTimers:
    """Exclusive time per stage: a timed call inside another pauses the outer one."""

    def __init__(self) -> None:
        self.totals: defaultdict[str, float] = defaultdict(float)
        self._stack: list[tuple[str, float]] = []
        self._undo: list[Callable[[], None]] = []

    def wrap(self, stage: str, owner: Any, name: str) -> None:
        original = getattr(owner, name)
        is_class = isinstance(owner, type)
        raw = owner.__dict__[name] if is_class else original

        def timed(*args: Any, **kwargs: Any) -> Any:
            now = time.perf_counter()
            if self._stack:
                outer, since = self._stack[-1]
                self.totals[outer] += now - since
            self._stack.append((stage, now))
            try:
                return (raw if is_class else original)(*args, **kwargs)
            finally:
                end = time.perf_counter()
                _, since = self._stack.pop()
                self.totals[stage] += end - since
                if self._stack:
                    self._stack[-1] = (self._stack[-1][0], end)

        setattr(owner, name, timed)
        if is_class:
            self._undo.append(lambda: setattr(owner, name, raw))
        elif isinstance(owner, type(sys)):
            self._undo.append(lambda: setattr(owner, name, original))
        else:
            self._undo.append(lambda: owner.__dict__.pop(name, None))

    def remove(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def stages(engine: MatchingEngine) -> dict[str, list[tuple[Any, str]]]:
    """Where a request's time goes: (object, attribute) of the calls timed for each stage."""
    catalogue = engine.catalogues[Lane.JOBS]
    model, _ = engine.ranker.current()
    return {
        "participant rows (profile, consents, vector row)": [
            (Session, "get"),
            (service, "has_consent"),
        ],
        "participant facts (concepts in texts)": [(service, "participant_facts")],
        "participant text and vector (hash, cached vector)": [
            (service, "participant_text"),
            (service, "participant_vector"),
        ],
        "coach feedback state": [(service, "feedback_state")],
        "FAISS search (candidates, then similarities)": [(engine.indexes, "search")],
        "lexical (vectorise, search, similarities)": [
            (catalogue.lexical, "vectorise"),
            (catalogue.lexical, "search"),
            (catalogue.lexical, "similarities"),
        ],
        "taxonomy candidates": [
            (service, "target_groups"),
            (catalogue, "ids_in_groups"),
            (service, "_nearest"),
        ],
        "features": [(service, "compute_features")],
        "ranking (matrix, contributions)": [
            (service.Candidates, "matrix"),
            (model, "explain"),
        ],
        "DB writes (log rows, flush, commit)": [
            (Session, "flush"),
            (Session, "scalars"),
            (SessionTransaction, "commit"),
        ],
    }


def breakdown(
    factory: sessionmaker[Session], engine: MatchingEngine, plan: list[int], now: datetime
) -> tuple[dict[str, float], float]:
    """Mean milliseconds per request in each stage, and the mean total, over `plan`."""
    timers = StageTimers()
    for stage, calls in stages(engine).items():
        for owner, name in calls:
            timers.wrap(stage, owner, name)
    total = 0.0
    try:
        for participant_id in plan:
            total += one_request(factory, engine, participant_id, now)[0]
    finally:
        timers.remove()
    means = {stage: 1000 * seconds / len(plan) for stage, seconds in timers.totals.items()}
    mean_total = total / len(plan)
    means["other (sessions, candidate union, slate, Python glue)"] = mean_total - sum(
        means.values()
    )
    return means, mean_total


# --- one size, in its own process ----------------------------------------------------------------


@dataclass
class SizeResult:
    openings: int
    searchable: int
    distinct_texts: int
    build_seconds: dict[str, float]
    model_load_s: float
    start_s: float
    rss_before_mib: float
    rss_model_mib: float
    rss_started_mib: float
    peak_mib: float
    latencies_ms: list[float]
    kinds: list[str]
    cold_ms: list[float]
    considered: list[int]
    breakdown_ms: dict[str, float]
    breakdown_total_ms: float
    rankings: str
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    requests_warmup: int = 0
    notes: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def suggestions_removed_after(factory: sessionmaker[Session]) -> Iterator[None]:
    """Delete the suggestions written inside the block (keeps the database as built)."""
    with factory() as session:
        before = session.scalar(sa.select(sa.func.max(Suggestion.id))) or 0
    try:
        yield
    finally:
        with factory.begin() as session:
            session.execute(sa.delete(Suggestion).where(Suggestion.id > before))


def store_reference(openings: int, requests: int, label: str, root: Path) -> str:
    """Start the engine on the database and store its top-100 slates as the reference."""
    database = bench_database(openings, root=root)
    settings = database.settings()
    with database.connect() as factory:
        engine = MatchingEngine.start(settings, factory, track=progress)
        plan = request_plan(factory, requests)
        distinct = list(dict.fromkeys(participant_id for participant_id, _ in plan))
        return check_rankings(
            factory, engine, database, distinct[:REFERENCE_PARTICIPANTS], store_as=label
        )


def measure(openings: int, requests: int, root: Path) -> SizeResult:
    database = bench_database(openings, root=root)
    rss_before = resident_mib()
    started = time.perf_counter()
    settings = database.settings()
    load_encoder(settings.embedding_model, max_seq_length=settings.embedding_max_seq_length)
    model_load = time.perf_counter() - started
    rss_model = resident_mib()
    with database.connect() as factory:
        started = time.perf_counter()
        engine = MatchingEngine.start(settings, factory, track=progress)
        start_s = time.perf_counter() - started
        rss_started = resident_mib()
        plan = request_plan(factory, requests)
        ids = [participant_id for participant_id, _ in plan]
        distinct = list(dict.fromkeys(ids))
        now = database.anchor
        with suggestions_removed_after(factory):
            for participant_id in progress(
                distinct, "warm-up (caches profile vectors)", len(distinct)
            ):
                one_request(factory, engine, participant_id, now)
            rankings = check_rankings(factory, engine, database, distinct[:REFERENCE_PARTICIPANTS])
            gc.collect()
            load_start = os.getloadavg()
            timed = [
                one_request(factory, engine, participant_id, now)
                for participant_id in progress(ids, "timed requests", len(ids))
            ]
            load_end = os.getloadavg()
            latencies = [ms for ms, _ in timed]
            considered = [count for _, count in timed]
            means, mean_total = breakdown(factory, engine, ids, now)
            # Last: an edited profile's vector is encoded again on its next request.
            cold = [
                after_profile_change(factory, engine, participant_id, now, number)
                for number, participant_id in enumerate(distinct[:COLD_REQUESTS])
            ]
    return SizeResult(
        openings=database.openings,
        searchable=database.searchable_openings,
        distinct_texts=database.distinct_texts,
        build_seconds=database.build_seconds,
        model_load_s=model_load,
        start_s=start_s,
        rss_before_mib=rss_before,
        rss_model_mib=rss_model,
        rss_started_mib=rss_started,
        peak_mib=peak_mib(),
        latencies_ms=latencies,
        kinds=[kind for _, kind in plan],
        cold_ms=cold,
        considered=considered,
        breakdown_ms=means,
        breakdown_total_ms=mean_total,
        rankings=rankings,
        load_start=load_start,
        load_end=load_end,
        requests_warmup=len(distinct),
    )


# --- the report ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def latency_row(name: str, samples: list[float]) -> list[str]:
    return [
        name,
        str(len(samples)),
        _ms(median(samples)),
        _ms(percentile(samples, 90)),
        _ms(percentile(samples, 99)),
        _ms(max(samples)),
    ]


def report(results: list[SizeResult]) -> tuple[str, list[tuple[str, str, bool]]]:
    header = ["requests", "n", "median ms", "p90 ms", "p99 ms", "max ms"]
    parts = [
        "One request = a transaction around `suggest(lane=jobs, k=10)` (candidates from "
        "FAISS, character n-grams and the taxonomy; features; additive ranker; the 10 shown "
        "suggestions logged) and its commit, on SQLite (WAL), after `MatchingEngine.start` "
        "with the all-MiniLM-L6-v2 model loaded. Participants: the fixture participants with "
        "consent to matching plus 20 with long texts (each text joins six profiles); every "
        "profile's vector is cached by a warm-up request, as in steady use. Flat (exact) "
        "FAISS index. Benchmark database: `benchmarks/synthetic.py`.",
    ]
    checks: list[tuple[str, str, bool]] = []
    for result in results:
        by_kind: defaultdict[str, list[float]] = defaultdict(list)
        for kind, value in zip(result.kinds, result.latencies_ms, strict=True):
            by_kind[kind].append(value)
        rows = [latency_row("all", result.latencies_ms)]
        rows += [latency_row(kind, values) for kind, values in sorted(by_kind.items())]
        rows.append(latency_row("first request after a profile edit (encodes it)", result.cold_ms))
        parts += [
            "",
            f"### {result.openings:,} openings ({result.searchable:,} searchable, "
            f"{result.distinct_texts:,} distinct texts)",
            "",
            f"Load average (1/5/15 min) {_load(result.load_start)} before the timed requests, "
            f"{_load(result.load_end)} after. Candidates per request: median "
            f"{median([float(c) for c in result.considered]):.0f}.",
            "",
            markdown_table(header, rows),
            "",
            f"Start-up: model load {result.model_load_s:.1f} s, `MatchingEngine.start` "
            f"{result.start_s:.1f} s. Resident memory: {result.rss_before_mib:,.0f} MiB before, "
            f"{result.rss_model_mib:,.0f} MiB with the model, {result.rss_started_mib:,.0f} MiB "
            f"after start-up (peak {result.peak_mib:,.0f} MiB).",
            "",
            f"Rankings: {result.rankings}.",
            "",
            f"Where the time goes (profiling pass with timers around each stage, "
            f"{len(result.latencies_ms)} requests; mean per request "
            f"{_ms(result.breakdown_total_ms)} ms, exclusive times):",
            "",
            markdown_table(
                ["stage", "mean ms", "share"],
                [
                    [stage, _ms(ms), f"{100 * ms / result.breakdown_total_ms:.0f} %"]
                    for stage, ms in sorted(result.breakdown_ms.items(), key=lambda kv: -kv[1])
                ],
            ),
        ]
        if result.openings >= 100_000:
            p50, p99 = median(result.latencies_ms), percentile(result.latencies_ms, 99)
            checks += [
                (
                    f"median under {TARGET_MEDIAN_MS:.0f} ms at {result.openings:,}",
                    _ms(p50),
                    p50 < TARGET_MEDIAN_MS,
                ),
                (
                    f"p99 under {TARGET_P99_MS:.0f} ms at {result.openings:,}",
                    _ms(p99),
                    p99 < TARGET_P99_MS,
                ),
            ]
    if checks:
        parts += [
            "",
            "### Targets (this run)",
            "",
            markdown_table(
                ["target", "measured ms", "met"],
                [[name, value, "yes" if met else "**no**"] for name, value, met in checks],
            ),
        ]
    history = _history()
    if history:
        parts += [
            "",
            "### Runs so far",
            "",
            markdown_table(
                ["run", "when", "openings", "median ms", "p99 ms", "load (1 min) before/after"],
                history,
            ),
        ]
    return "\n".join(parts), checks


def _history() -> list[list[str]]:
    if not RUNS.exists():
        return []
    rows = []
    for line in RUNS.read_text(encoding="utf-8").splitlines():
        run = json.loads(line)
        for size in run["sizes"]:
            rows.append(
                [
                    run["label"],
                    run["at"],
                    f"{size['openings']:,}",
                    _ms(size["median_ms"]),
                    _ms(size["p99_ms"]),
                    f"{size['load_start']:.2f}/{size['load_end']:.2f}",
                ]
            )
    return rows


def _record_run(results: list[SizeResult], label: str) -> None:
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "label": label,
        "at": _now(),
        "sizes": [
            {
                "openings": r.openings,
                "median_ms": median(r.latencies_ms),
                "p99_ms": percentile(r.latencies_ms, 99),
                "load_start": r.load_start[0],
                "load_end": r.load_end[0],
            }
            for r in results
        ],
    }
    with RUNS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def in_own_process(size: int, *arguments: str, bench_root: Path, requests: int) -> None:
    """Run this script for one size in a fresh process with a fixed hash seed.

    Rankings depend on set iteration order where skill groups tie (`target_groups`), and
    that order follows Python's per-process string hashing: a fixed seed makes runs
    comparable with each other and with the reference.
    """
    subprocess.run(  # noqa: S603 - this script, with numbers and a label as arguments
        [
            sys.executable,
            __file__,
            "--size",
            str(size),
            "--requests",
            str(requests),
            "--bench-root",
            str(bench_root),
            *arguments,
        ],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": HASH_SEED},
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--label", default="", help="names this run in the history table")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--reference-only",
        metavar="LABEL",
        help="store the rankings of this code as the reference (no timing), named LABEL",
    )
    parser.add_argument("--bench-root", type=Path, default=BENCH_ROOT)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size:  # inside the process of one size
        if os.environ.get("PYTHONHASHSEED") != HASH_SEED:
            raise SystemExit(f"run with PYTHONHASHSEED={HASH_SEED} (main() does)")
        if args.reference_only:
            outcome = store_reference(
                args.size, args.requests, args.reference_only, args.bench_root
            )
            print(f"{args.size:,} openings: {outcome}")
        else:
            result = measure(args.size, args.requests, args.bench_root)
            args.out.write_text(json.dumps(asdict(result)), encoding="utf-8")
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.reference_only:
        for size in sizes:
            in_own_process(
                size,
                "--reference-only",
                args.reference_only,
                bench_root=args.bench_root,
                requests=args.requests,
            )
        return
    results = []
    for size in sizes:
        out = args.bench_root / f"suggest_latency-{size}.json"
        in_own_process(size, "--out", str(out), bench_root=args.bench_root, requests=args.requests)
        results.append(SizeResult(**json.loads(out.read_text(encoding="utf-8"))))
    label = args.label or "run"
    if not args.no_write:
        _record_run(results, label)
    body, checks = report(results)
    print(body)
    for name, value, met in checks:
        print(f"{'MET' if met else 'NOT MET'}: {name}: {value}")
    if not args.no_write:
        write_section("suggest_latency", "Suggest latency", body)


if __name__ == "__main__":
    main()
