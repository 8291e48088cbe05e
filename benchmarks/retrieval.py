"""Retrieval and indexing benchmark: search latency, throughput, recall, build cost, re-indexing.

    python benchmarks/retrieval.py [--sizes 10000,100000,1000000] [--quick]

On synthetic clustered unit vectors (d=384, a seeded Gaussian mixture) it compares this
index, exact (`VectorIndex` flat) and approximate (`VectorIndex` IVF, nprobe tuned for
recall@50 >= 0.98 on held-out tuning queries), with NumPy brute force and scikit-learn's
brute-force `NearestNeighbors`. With the real model it measures encoder throughput on the
fixture opening texts and the time to re-index one changed opening through
`LaneIndexes.refresh` in a copy of the 100k-opening benchmark database of
`benchmarks/synthetic.py` (`--quick`: a new lane of 300). Results go to the console and, unless
`--quick`, to the "retrieval" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from sklearn.neighbors import NearestNeighbors
from tqdm import tqdm

from embeddings.cache import ENCODE_BATCH
from embeddings.encoder import Encoder, load_encoder
from embeddings.index import IndexKind, IndexParams, VectorIndex
from embeddings.lanes import LaneIndexes
from embeddings.texts import opening_text
from matching.db import migrate
from matching.db.models import Employer, Opening
from matching.db.session import make_engine, make_session_factory
from matching.domain import Lane, OpeningStatus
from matching.fixtures import OpeningRecord
from matching.settings import BUNDLED_MODEL, REPOSITORY_ROOT

# `python benchmarks/retrieval.py` puts only benchmarks/ on the path; report is shared.
sys.path.insert(0, str(REPOSITORY_ROOT))
from benchmarks.report import markdown_table, median, percentile, write_section
from benchmarks.synthetic import bench_database

T = TypeVar("T")
Vectors = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]

DIMENSION = 384
K = 50
QUERY_BATCH = 64
#: Single queries are timed in blocks of this many per method (see measure_size).
SINGLE_BLOCK = 25
BLOCK_PAUSE_S = 0.2
RECALL_TARGET = 0.98
SPEEDUP_TARGET = 20.0
REINDEX_TARGET_MS = 100.0
#: Re-indexing is measured in the benchmark database of this many openings.
BENCH_OPENINGS = 100_000
NPROBES = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
FIXTURE_OPENINGS = REPOSITORY_ROOT / "data" / "fixtures" / "openings.json"


def progress(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    """A tqdm bar on stderr for a long phase (also the `track` hook of LaneIndexes)."""
    return tqdm(items, desc=description, total=total, leave=False, file=sys.stderr)


# --- synthetic data -------------------------------------------------------------------------------


class Mixture:
    """A seeded Gaussian mixture on the unit sphere, shaped like sentence embeddings.

    Component centres gather around a few topics, component sizes are heavy-tailed and
    spreads differ, so neighbours of a query sit in a handful of k-means cells: approximate
    search needs to probe several cells, but not all of them.
    """

    def __init__(self, *, components: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        topics = _normalised(rng.standard_normal((max(components // 20, 2), DIMENSION)))
        offsets = 0.8 * rng.standard_normal((components, DIMENSION)) / np.sqrt(DIMENSION)
        self.centres = _normalised(topics[rng.integers(0, len(topics), components)] + offsets)
        weights = rng.pareto(1.5, components) + 1.0
        self.weights = weights / weights.sum()
        self.spreads = rng.uniform(0.5, 1.0, components).astype(np.float32)

    def sample(self, n: int, *, seed: int, chunk: int = 50_000) -> Vectors:
        """`n` unit vectors, generated in chunks into one array (no full-size temporaries)."""
        rng = np.random.default_rng(seed)
        out = np.empty((n, DIMENSION), dtype=np.float32)
        starts = range(0, n, chunk)
        for start in progress(starts, f"sampling {n:,} vectors", len(starts)):
            size = min(chunk, n - start)
            labels = rng.choice(len(self.weights), size, p=self.weights)
            noise = rng.standard_normal((size, DIMENSION), dtype=np.float32)
            noise *= (self.spreads[labels] / np.float32(np.sqrt(DIMENSION)))[:, None]
            block = out[start : start + size]
            np.add(self.centres[labels], noise, out=block)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        return out


def _normalised(x: npt.NDArray[np.floating]) -> Vectors:
    unit: Vectors = np.asarray(x, dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return unit


def resident_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


# --- the methods compared -------------------------------------------------------------------------


def numpy_top_k(vectors: Vectors, queries: Vectors, k: int) -> Ids:
    """Brute force: one matrix product, argpartition, then order the k best."""
    scores = queries @ vectors.T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


@dataclass(frozen=True)
class BuildCost:
    seconds: float
    memory_bytes: int  # resident-set growth over the build, i.e. what the result keeps


@dataclass
class Method:
    name: str
    search: Callable[[Vectors], Ids]  # (q, d) queries -> (q, K) ids, best first
    cost: BuildCost
    single_ms: list[float] = field(default_factory=list)
    batch_qps: float = float("nan")
    recall: float = float("nan")


def measured_build(make: Callable[[], T]) -> tuple[T, BuildCost]:
    """What `make` builds, the seconds it took and the resident memory it keeps."""
    gc.collect()
    before = resident_bytes()
    start = time.perf_counter()
    built = make()
    seconds = time.perf_counter() - start
    gc.collect()
    return built, BuildCost(seconds, max(resident_bytes() - before, 0))


def vector_index_search(index: VectorIndex) -> Callable[[Vectors], Ids]:
    def search(queries: Vectors) -> Ids:
        return index.search(queries, K)[0]

    return search


def recall_at_k(truth: Ids, found: Ids) -> float:
    return float(
        np.mean([len(set(t) & set(f)) / len(t) for t, f in zip(truth, found, strict=True)])
    )


def tune_nprobe(index: VectorIndex, queries: Vectors, truth: Ids) -> tuple[int, list[str]]:
    """The smallest nprobe whose recall@K on the tuning queries reaches the target + 0.005."""
    curve = []
    for nprobe in NPROBES:
        index.params = replace(index.params, nprobe=nprobe)
        recall = recall_at_k(truth, index.search(queries, K)[0])
        curve.append(f"{nprobe}: {recall:.3f}")
        if recall >= RECALL_TARGET + 0.005:
            return nprobe, curve
    return NPROBES[-1], curve


@dataclass
class SizeResult:
    size: int
    methods: list[Method]
    nlist: int
    nprobe: int
    recall_curve: list[str]
    queries: int


def measure_size(n: int, *, queries: int, batches: int, seed: int) -> SizeResult:
    mixture = Mixture(components=max(n // 1000, 20), seed=seed)
    vectors = mixture.sample(n, seed=seed + 1)
    test_queries = mixture.sample(queries, seed=seed + 2)
    tuning_queries = mixture.sample(200, seed=seed + 3)
    ids = np.arange(n, dtype=np.int64)
    hashes = [""] * n
    nlist = int(np.sqrt(n))
    tqdm.write(f"{n:,} items: building ...", file=sys.stderr)

    exact_index, exact_cost = measured_build(
        lambda: VectorIndex.build(ids, vectors, hashes, dimension=DIMENSION)
    )
    ivf_params = IndexParams(kind=IndexKind.IVF, nlist=nlist)
    approximate_index, approximate_cost = measured_build(
        lambda: VectorIndex.build(ids, vectors, hashes, dimension=DIMENSION, params=ivf_params)
    )
    sklearn, sklearn_cost = measured_build(
        lambda: NearestNeighbors(n_neighbors=K, metric="cosine", algorithm="brute").fit(vectors)
    )
    exact = Method("this index, exact (flat)", vector_index_search(exact_index), exact_cost)
    methods = [
        exact,
        Method(
            "this index, approximate (IVF)",
            vector_index_search(approximate_index),
            approximate_cost,
        ),
        # NumPy keeps nothing beyond the data matrix itself.
        Method(
            "NumPy brute force", lambda queries: numpy_top_k(vectors, queries, K), BuildCost(0.0, 0)
        ),
        Method(
            "scikit-learn NearestNeighbors (brute, cosine)",
            lambda queries: sklearn.kneighbors(queries, K, return_distance=False),
            sklearn_cost,
        ),
    ]

    tuning_truth = exact.search(tuning_queries)
    nprobe, curve = tune_nprobe(approximate_index, tuning_queries, tuning_truth)
    approximate_index.params = replace(approximate_index.params, nprobe=nprobe)

    for method in methods:  # warm caches and thread pools
        method.search(test_queries[:2])
    # Single queries run in blocks: each round takes the next SINGLE_BLOCK queries and runs
    # them through every method, the methods in a shuffled order, one method's whole block at
    # a time. Every query is still timed by every method (paired comparisons, and a burst of
    # load elsewhere hits all alike), but a method's queries never wait for cores that another
    # method's thread pool (OpenBLAS, OpenMP) is still spinning on, as they would in a serving
    # process that uses one method. A short pause and one untimed query open each block.
    found: dict[str, list[Ids]] = {method.name: [] for method in methods}
    order = np.random.default_rng(seed)
    rounds = range(0, queries, SINGLE_BLOCK)
    for first in progress(rounds, f"{n:,}: single queries, rounds of {SINGLE_BLOCK}", len(rounds)):
        block = range(first, min(first + SINGLE_BLOCK, queries))
        for position in order.permutation(len(methods)):
            method = methods[position]
            time.sleep(BLOCK_PAUSE_S)
            method.search(tuning_queries[first % len(tuning_queries)][None, :])
            for row in block:
                query = test_queries[row : row + 1]
                start = time.perf_counter()
                result = method.search(query)
                method.single_ms.append(1000 * (time.perf_counter() - start))
                found[method.name].append(result[0])
    truth = np.stack(found[exact.name])
    for method in methods:
        method.recall = recall_at_k(truth, np.stack(found[method.name]))

    batch_queries = mixture.sample(batches * QUERY_BATCH, seed=seed + 4)
    for method in methods:
        start = time.perf_counter()
        for batch in progress(range(batches), f"{n:,}: batches, {method.name}", batches):
            method.search(batch_queries[batch * QUERY_BATCH : (batch + 1) * QUERY_BATCH])
        method.batch_qps = batches * QUERY_BATCH / (time.perf_counter() - start)
    return SizeResult(n, methods, nlist, nprobe, curve, queries)


# --- with the real model --------------------------------------------------------------------------


def fixture_opening_texts() -> list[str]:
    """Texts of the fixture openings; waits while another process is still writing the file."""
    for waited in range(60):
        if FIXTURE_OPENINGS.exists():
            try:
                records = json.loads(FIXTURE_OPENINGS.read_text(encoding="utf-8"))
                return [opening_text(OpeningRecord.model_validate(r)) for r in records]
            except ValueError:
                pass  # half-written: try again
        tqdm.write(f"waiting for {FIXTURE_OPENINGS} ({waited} min)", file=sys.stderr)
        time.sleep(60)
    raise SystemExit(f"{FIXTURE_OPENINGS} did not appear; generate the fixtures first")


@dataclass
class ModelResult:
    texts: int
    texts_per_second: float
    single_text_ms: list[float]
    lane_size: int
    reindex_ms: list[float]


def measure_encoder(encoder: Encoder, texts: list[str], count: int) -> float:
    """Texts per second encoding `count` fixture texts in batches of ENCODE_BATCH."""
    sample = [texts[i % len(texts)] for i in range(count)]
    encoder.encode(texts[-ENCODE_BATCH:], batch_size=ENCODE_BATCH)  # warm-up, other texts
    start = time.perf_counter()
    for first in progress(range(0, count, ENCODE_BATCH), "encoding", -(-count // ENCODE_BATCH)):
        encoder.encode(sample[first : first + ENCODE_BATCH], batch_size=ENCODE_BATCH)
    return count / (time.perf_counter() - start)


def small_lane(folder: Path, lane_size: int) -> str:
    """A new database in `folder` with `lane_size` copies of the fixture openings (encoded
    when its index is first opened); returns its URL."""
    url = f"sqlite:///{folder / 'stegvis.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    records = [OpeningRecord.model_validate(r) for r in json.loads(FIXTURE_OPENINGS.read_text())]
    with make_session_factory(engine).begin() as session:
        employer = Employer(name="Benchmark AB", org_number="556000-0000")
        session.add(employer)
        session.flush()
        for number in range(lane_size):
            record = records[number % len(records)]
            copy = number // len(records)  # beyond the fixtures: numbered copies
            session.add(
                Opening(
                    employer_id=employer.id,
                    title=f"{record.title} ({copy})" if copy else record.title,
                    description=record.description,
                    occupation_label=record.occupation_label,
                    required_skills=record.required_skills,
                    nice_skills=record.nice_skills,
                    environment=list(record.environment),
                    positions=1,
                    positions_filled=0,
                    status=OpeningStatus.OPEN,
                )
            )
    engine.dispose()
    return url


def bench_lane(folder: Path, openings: int) -> str:
    """A private copy in `folder` of the benchmark database of `benchmarks/synthetic.py` and
    its built indexes (re-indexing changes them); returns its URL."""
    source = bench_database(openings).folder
    for name in ("stegvis.db", "stegvis.db-wal", "stegvis.db-shm"):
        if (source / name).exists():
            shutil.copy2(source / name, folder / name)
    shutil.copytree(source / "index", folder / "index")
    return f"sqlite:///{folder / 'stegvis.db'}"


def measure_reindex(
    encoder: Encoder, texts: list[str], *, url: str, changes: int, folder: Path
) -> tuple[int, list[float], list[float]]:
    """(lane size, milliseconds of `LaneIndexes.refresh` after one opening's text changed,
    milliseconds of encoding that same text alone), per change.

    The path of a real change: read the row, build its text, miss the vector cache, encode,
    store the vector, upsert into the index and append it to the fsynced change log.
    """
    engine = make_engine(url)
    session_factory = make_session_factory(engine)
    indexes = LaneIndexes(
        folder=folder / "index",
        encoder=encoder,
        session_factory=session_factory,
        track=progress,
    )
    indexes.open()
    rng = np.random.default_rng(7)
    opening_ids = sorted(int(i) for i in indexes.stored(Lane.JOBS).index.ids())
    single: list[float] = []
    reindex: list[float] = []
    for change in progress(range(changes), "re-indexing changed openings", changes):
        opening_id = opening_ids[int(rng.integers(len(opening_ids)))]
        with session_factory.begin() as session:
            opening = session.get_one(Opening, opening_id)
            opening.description = f"{texts[change % len(texts)][:200]} Uppdaterad {change}."
            session.flush()
            text = opening_text(opening)
        start = time.perf_counter()
        indexes.refresh(Lane.JOBS, [opening_id])
        reindex.append(1000 * (time.perf_counter() - start))
        # The same text again: the encoder keeps no cache, so this is its encoding time.
        start = time.perf_counter()
        encoder.encode_one(text)
        single.append(1000 * (time.perf_counter() - start))
    engine.dispose()
    return len(opening_ids), reindex, single


def measure_model(*, encoded_texts: int, lane: int | None, changes: int) -> ModelResult:
    """Encoder throughput, and re-indexing in the 100k benchmark database (`lane` None) or
    in a new lane of `lane` fixture copies."""
    encoder = load_encoder(BUNDLED_MODEL)
    texts = fixture_opening_texts()
    texts_per_second = measure_encoder(encoder, texts, encoded_texts)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        url = bench_lane(folder, BENCH_OPENINGS) if lane is None else small_lane(folder, lane)
        lane_size, reindex, single = measure_reindex(
            encoder, texts, url=url, changes=changes, folder=folder
        )
    return ModelResult(encoded_texts, texts_per_second, single, lane_size, reindex)


# --- report ---------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def search_table(results: list[SizeResult]) -> str:
    rows = []
    for result in results:
        for method in result.methods:
            rows.append(
                [
                    f"{result.size:,}",
                    method.name
                    + (
                        f" nlist {result.nlist}, nprobe {result.nprobe}"
                        if "IVF" in method.name
                        else ""
                    ),
                    _ms(median(method.single_ms)),
                    _ms(percentile(method.single_ms, 99)),
                    f"{method.batch_qps:,.0f}",
                    f"{method.recall:.3f}",
                    f"{method.cost.seconds:.1f}",
                    f"{method.cost.memory_bytes / 2**20:,.0f}",
                ]
            )
    return markdown_table(
        [
            "items",
            "method",
            "single query median (ms)",
            "p99 (ms)",
            f"batched throughput (queries/s, batches of {QUERY_BATCH})",
            f"recall@{K} vs exact",
            "build (s)",
            "memory kept by the build (MiB, RSS growth)",
        ],
        rows,
    )


def paired_ratio(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Median of per-query time ratios a/b, with a bootstrap 95% interval."""
    ratios = np.asarray(a) / np.asarray(b)
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(ratios, size=(2000, len(ratios))), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(np.median(ratios)), float(low), float(high)


def _by_name(result: SizeResult, prefix: str) -> Method:
    return next(m for m in result.methods if m.name.startswith(prefix))


def targets(results: list[SizeResult], model: ModelResult | None) -> list[tuple[str, str, bool]]:
    checks: list[tuple[str, str, bool]] = []
    sizes = {r.size: r for r in results}
    if 100_000 in sizes:
        exact = _by_name(sizes[100_000], "this index, exact").single_ms
        brute = _by_name(sizes[100_000], "NumPy").single_ms
        ratio, low, high = paired_ratio(exact, brute)
        checks.append(
            (
                "exact search at 100k no slower than NumPy brute force (single queries; "
                "not significantly slower: the 95% interval of the median paired time ratio "
                "reaches 1.00 or below)",
                f"{_ms(median(exact))} ms vs {_ms(median(brute))} ms; paired ratio "
                f"{ratio:.3f} (95% interval {low:.3f}–{high:.3f})",
                low <= 1.0,
            )
        )
    if 1_000_000 in sizes:
        result = sizes[1_000_000]
        approximate = _by_name(result, "this index, approximate")
        speedup = median(_by_name(result, "this index, exact").single_ms) / median(
            approximate.single_ms
        )
        checks.append(
            (
                f"approximate at 1M >= {SPEEDUP_TARGET:.0f}x faster than exact, "
                f"recall@{K} >= {RECALL_TARGET}",
                f"{speedup:.0f}x faster, recall {approximate.recall:.3f} (nprobe {result.nprobe})",
                speedup >= SPEEDUP_TARGET and approximate.recall >= RECALL_TARGET,
            )
        )
    if model is not None:
        reindex = median(model.reindex_ms)
        checks.append(
            (
                f"re-index of one changed opening < {REINDEX_TARGET_MS:.0f} ms (median)",
                f"{_ms(reindex)} ms on a lane of {model.lane_size:,}",
                reindex < REINDEX_TARGET_MS,
            )
        )
    return checks


def load_line(start: tuple[float, float, float], end: tuple[float, float, float]) -> str:
    return (
        f"Load average (1/5/15 min) at start {start[0]:.2f}/{start[1]:.2f}/{start[2]:.2f}, "
        f"at end {end[0]:.2f}/{end[1]:.2f}/{end[2]:.2f}."
    )


def report(
    results: list[SizeResult],
    model: ModelResult | None,
    *,
    load: str,
    threads: str,
) -> str:
    queries = results[0].queries if results else 0
    parts = [
        f"Synthetic data: a seeded Gaussian mixture of unit vectors, d={DIMENSION}, float32, "
        f"about one component per 1,000 items with heavy-tailed sizes; queries come from the "
        f"same mixture. Top-{K} search. Single-query latency over {queries} "
        f"queries in rounds of {SINGLE_BLOCK}: each round runs the same queries through every "
        "method, one method's whole block at a time in a shuffled order (per-query times stay "
        "paired, and no method waits for cores another method's thread pool still spins on); "
        "batched throughput over batches of "
        f"{QUERY_BATCH}. The IVF index uses nlist = sqrt(n) and the smallest nprobe whose "
        f"recall@{K} on 200 separate tuning queries reaches {RECALL_TARGET + 0.005:.3f}; its "
        "recall below is on the test queries. Memory is the growth of the process's resident "
        "set over the build (what the built structure keeps: vectors, ids, the id-to-hash map; "
        "NumPy brute force and scikit-learn keep a reference to the data matrix, so ~0). "
        f"{threads} {load}",
        "",
        search_table(results),
        "",
        "IVF recall@50 by nprobe on the tuning queries: "
        + "; ".join(f"{r.size:,}: {', '.join(r.recall_curve)}" for r in results),
    ]
    if model is not None:
        overhead = [r - e for r, e in zip(model.reindex_ms, model.single_text_ms, strict=True)]
        parts += [
            "",
            markdown_table(
                ["with the real model (all-MiniLM-L6-v2, CPU)", "result"],
                [
                    [
                        f"encoder throughput, {model.texts} fixture opening texts, "
                        f"batch size {ENCODE_BATCH}",
                        f"{model.texts_per_second:,.0f} texts/s",
                    ],
                    [
                        f"re-index one changed opening, lane of {model.lane_size:,} "
                        f"(`LaneIndexes.refresh`, {len(model.reindex_ms)} changes; median / p99)",
                        f"{_ms(median(model.reindex_ms))} / "
                        f"{_ms(percentile(model.reindex_ms, 99))} ms",
                    ],
                    [
                        "encoding the same text alone, right after (median / p99)",
                        f"{_ms(median(model.single_text_ms))} / "
                        f"{_ms(percentile(model.single_text_ms, 99))} ms",
                    ],
                    [
                        "re-index minus encoding, per change (median / p99)",
                        f"{_ms(median(overhead))} / {_ms(percentile(overhead, 99))} ms",
                    ],
                ],
            ),
            "",
            "Re-indexing includes reading the row from SQLite, the vector-cache lookup and "
            "insert, encoding the new text, the index upsert and the fsynced change-log append.",
        ]
    checks = targets(results, model)
    if checks:
        parts += [
            "",
            "### Targets",
            "",
            markdown_table(
                ["target", "measured", "met"],
                [[name, value, "yes" if met else "**no**"] for name, value, met in checks],
            ),
        ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and counts; prints, writes nothing"
    )
    parser.add_argument("--no-model", action="store_true", help="skip the real-model part")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    queries, batches, changes, texts, lane = 200, 8, 60, 512, None
    if args.quick:
        sizes = [s for s in sizes if s <= 100_000] or [10_000]
        queries, batches, changes, texts, lane = 50, 2, 10, 128, 300
    load_start = os.getloadavg()
    results = [
        measure_size(n, queries=queries, batches=batches, seed=20_000 + i)
        for i, n in enumerate(sizes)
    ]
    model = (
        None if args.no_model else measure_model(encoded_texts=texts, lane=lane, changes=changes)
    )
    threads = (
        f"FAISS (OpenMP) and NumPy (OpenBLAS) use their default thread counts on "
        f"{os.cpu_count()} cores."
    )
    body = report(results, model, load=load_line(load_start, os.getloadavg()), threads=threads)
    print(body)
    for name, value, met in targets(results, model):
        print(f"{'MET' if met else 'NOT MET'}: {name}: {value}")
    if not args.quick:
        write_section("retrieval", "Retrieval and indexing", body)


if __name__ == "__main__":
    main()
