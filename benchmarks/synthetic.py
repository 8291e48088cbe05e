"""A large, realistic benchmark database derived from the demo fixtures, built once and reused.

    python benchmarks/synthetic.py [--openings 100000] [--variants 7] [--seed 0]

`bench_database(openings=...)` returns a SQLite database under var/bench/ holding the whole
fixture set (organisations, users, employers, ASF providers and places, participants with
their consents and coach history, the fixture openings), 20 participants with long texts
(each text joins those of six fixture participants), synthetic openings up to `openings`,
and the lane indexes built next to it. The synthetic openings replicate the
fixture openings: each fixture opening gets `variants` text variants (its municipality
moved, its hours changed, its description's sentences recombined, partly with sentences of
openings of the same occupation, its title varied), and every replica takes one variant
with its own employer branch, coordinates jittered around a locality of the variant's
municipality in Stockholm County, positions, publication and expiry dates. So there are
about (variants + 1) × 3,100 distinct texts: the vector cache encodes each text once.

A build is cached: its folder carries a manifest with a key over the generator version,
the size, the seed, the fixture files, the text format and the schema revision; a folder
whose key matches is reused, any other is rebuilt. Encoding is the slow part (about
20 texts/s on two cores); vectors already encoded in another benchmark database of the
same folder are copied instead of encoded again, and encoding commits every few hundred
texts, so an interrupted build keeps what it encoded (a rebuild copies it from the stale folder).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fcntl
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from embeddings.cache import item_vectors
from embeddings.encoder import Encoder, load_encoder
from embeddings.index import write_atomically
from embeddings.lanes import item_text
from embeddings.texts import TEXT_FORMAT_VERSION
from matching.db import migrate
from matching.db.models import Employer, Opening
from matching.db.repositories import searchable_items
from matching.db.session import make_engine, make_session_factory
from matching.domain import Lane, OpeningSource, OpeningStatus
from matching.engine import lane_indexes
from matching.fixtures import (
    FixtureSet,
    OpeningRecord,
    ParticipantRecord,
    load_fixtures,
    read_fixture_set,
)
from matching.schemas import MAX_LIST, MAX_TEXT
from matching.settings import BUNDLED_MODEL, REPOSITORY_ROOT, Settings

T = TypeVar("T")
log = logging.getLogger("benchmarks.synthetic")

#: Change whenever the generated data changes: every cached database is then rebuilt.
GENERATOR_VERSION = 2
BENCH_ROOT = REPOSITORY_ROOT / "var" / "bench"
FIXTURES = REPOSITORY_ROOT / "data" / "fixtures"
LOCALITIES = REPOSITORY_ROOT / "data" / "geo" / "stockholm_localities.csv"
MANIFEST = "manifest.json"
#: Holds the id of the process building a folder, while it builds.
BUILDING = "BUILDING"
DEFAULT_OPENINGS = 100_000
#: Text variants per fixture opening: (3 + 1) × 3,100 ≈ 12k distinct texts, each shared by
#: about 8 of the 100k openings. Encoding is the slow part of a build: about 20 texts/s on
#: two quiet cores, several times slower while other work shares them.
DEFAULT_VARIANTS = 3
#: Texts encoded per committed transaction during a build.
ENCODE_CHUNK = 640
#: Participants with long texts added to the fixture participants.
LONG_PROFILES = 20
INSERT_CHUNK = 5_000
#: Coordinates are jittered around a locality by this many degrees (standard deviation):
#: about 1 km north-south and east-west at 59.3° N.
JITTER_LAT, JITTER_LON = 0.009, 0.018
#: The synthetic employers' organisation numbers start here (no fixture uses the range).
SYNTHETIC_ORG_BASE = 800_000_0000

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_HOURS_SENTENCE = re.compile(
    r"(?:Tjänsten omfattar|Deltid, cirka|Omfattning|Heltid,)[^.]*timmar[^.]*\."
)
_TITLE_FORMS = (
    "{title}",
    "{title}",
    "{title} i {municipality}",
    "{title} till vårt team",
    "{title}, {scope}",
    "Vi söker {lower}",
    "{title} (vikariat)",
    "{title} sökes",
)


def progress(items: Iterable[T], description: str, total: int) -> Iterable[T]:
    """A tqdm bar on stderr (also the `track` hook of the engine and the index)."""
    return tqdm(items, desc=description, total=total, leave=False, file=sys.stderr)


@dataclass(frozen=True)
class BenchDatabase:
    """A built benchmark database: where it lives and what it holds."""

    folder: Path
    key: str
    openings: int
    searchable_openings: int
    distinct_texts: int
    #: The moment the fixture day offsets were anchored to: "now" for reproducible runs.
    anchor: datetime
    build_seconds: dict[str, float]

    @property
    def path(self) -> Path:
        return self.folder / "stegvis.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path.as_posix()}"

    def settings(self, **overrides: Any) -> Settings:
        """Settings of an engine serving this database and its indexes."""
        values: dict[str, Any] = {
            "data_dir": self.folder,
            "database_url": self.url,
            "index_dir": self.folder / "index",
            "embedding_model": BUNDLED_MODEL,
        }
        return Settings(**(values | overrides))

    @contextmanager
    def connect(self) -> Iterator[sessionmaker[Session]]:
        """A session factory on the database; its connections close on exit."""
        engine = make_engine(self.url)
        try:
            yield make_session_factory(engine)
        finally:
            engine.dispose()


# --- the synthetic openings (pure) ----------------------------------------------------------------


@dataclass(frozen=True)
class Locality:
    name: str
    municipality: str
    lat: float
    lon: float


def read_localities(path: Path = LOCALITIES) -> list[Locality]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Locality(
                row["locality"],
                row["municipality"],
                float(row["latitude"]),
                float(row["longitude"]),
            )
            for row in csv.DictReader(handle)
        ]


@dataclass(frozen=True)
class TextVariant:
    """What a replica takes from its variant: everything that enters the text, and the place."""

    title: str
    description: str
    municipality: str
    hours_min: int | None
    hours_max: int | None


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _hours_sentence(hours_min: int, hours_max: int) -> str:
    if hours_min == hours_max:
        return (
            f"Heltid, {hours_max} timmar i veckan."
            if hours_max >= 35
            else (f"Tjänsten omfattar {hours_max} timmar per vecka.")
        )
    return f"Deltid, cirka {hours_min}–{hours_max} timmar i veckan."


def _move(text: str, old: str | None, new: str) -> str:
    """The text with the old municipality's name (as a word) replaced by the new one."""
    if not old or old == new:
        return text
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)


def text_variants(
    opening: OpeningRecord,
    siblings: Sequence[OpeningRecord],
    count: int,
    *,
    municipalities: Sequence[str],
    weights: Sequence[float],
    hours: Sequence[tuple[int, int]],
    rng: random.Random,
) -> list[TextVariant]:
    """`count` variants of one fixture opening (`siblings`: others of its occupation)."""
    variants: list[TextVariant] = []
    for _ in range(count):
        municipality = opening.municipality or "Stockholm"
        if rng.random() < 0.7:
            municipality = rng.choices(municipalities, weights)[0]
        hours_min, hours_max = opening.hours_min, opening.hours_max
        description = _move(opening.description, opening.municipality, municipality)
        if rng.random() < 0.5:
            hours_min, hours_max = rng.choice(hours)
            description = _HOURS_SENTENCE.sub(_hours_sentence(hours_min, hours_max), description)
        sentences = _sentences(description)
        # Keep the introduction and the closing call to apply; recombine the middle.
        head, middle, tail = sentences[:2], sentences[2:-1], sentences[-1:]
        rng.shuffle(middle)
        if middle and rng.random() < 0.4:
            middle.pop(rng.randrange(len(middle)))
        donors = [s for s in siblings if s.ref != opening.ref]
        if donors and rng.random() < 0.5:
            # A sibling's middle sentence, unless it states hours (this variant has its own).
            donor = [
                s for s in _sentences(rng.choice(donors).description)[2:-1] if "timmar" not in s
            ]
            if donor:
                middle.insert(rng.randrange(len(middle) + 1), rng.choice(donor))
        title = _move(opening.title, opening.municipality, municipality)
        form = rng.choice(_TITLE_FORMS)
        scope = "heltid" if (hours_max or 0) >= 35 else "deltid"
        title = form.format(
            title=title, municipality=municipality, scope=scope, lower=title[:1].lower() + title[1:]
        )[:200]
        variants.append(
            TextVariant(
                title=title,
                description=" ".join([*head, *middle, *tail]),
                municipality=municipality,
                hours_min=hours_min,
                hours_max=hours_max,
            )
        )
    return variants


@dataclass(frozen=True)
class SyntheticOpening:
    """One replica: the fixture opening it copies, its variant, and what varies per replica."""

    source: OpeningRecord
    variant: TextVariant
    branch: tuple[str, str]  # (fixture employer's org number, municipality)
    ref: str
    lat: float
    lon: float
    evenings: bool
    weekends: bool
    nights: bool
    positions: int
    positions_filled: int
    published_days_ago: int
    expires_in_days: int | None


def synthetic_openings(
    fixtures: FixtureSet, count: int, *, variants: int, seed: int, localities: Sequence[Locality]
) -> Iterator[SyntheticOpening]:
    """`count` replicas of the fixture openings, round-robin over openings and variants."""
    rng = random.Random(seed)
    openings = fixtures.openings
    by_occupation: defaultdict[str, list[OpeningRecord]] = defaultdict(list)
    for opening in openings:
        by_occupation[opening.occupation_id or opening.ssyk_code or opening.title].append(opening)
    places = Counter(o.municipality for o in openings if o.municipality)
    by_municipality: defaultdict[str, list[Locality]] = defaultdict(list)
    for locality in localities:
        by_municipality[locality.municipality].append(locality)
    municipalities = sorted(m for m in places if m in by_municipality)
    weights = [float(places[m]) for m in municipalities]
    hours = sorted(
        {(o.hours_min, o.hours_max) for o in openings if o.hours_min and o.hours_max},
        key=lambda pair: (pair[0], pair[1]),
    )
    hour_pairs = [(int(a), int(b)) for a, b in hours]
    pools: dict[str, list[TextVariant]] = {}
    south, north = min(p.lat for p in localities), max(p.lat for p in localities)
    west, east = min(p.lon for p in localities), max(p.lon for p in localities)
    for number in range(count):
        source = openings[number % len(openings)]
        if source.ref not in pools:
            pools[source.ref] = text_variants(
                source,
                by_occupation[source.occupation_id or source.ssyk_code or source.title],
                variants,
                municipalities=municipalities,
                weights=weights,
                hours=hour_pairs,
                rng=rng,
            )
        variant = pools[source.ref][(number // len(openings)) % variants]
        locality = rng.choice(by_municipality[variant.municipality])
        lat = min(north, max(south, rng.gauss(locality.lat, JITTER_LAT)))
        lon = min(east, max(west, rng.gauss(locality.lon, JITTER_LON)))
        positions = rng.choice((1, 1, 1, 1, 2, 2, 3, 5))
        yield SyntheticOpening(
            source=source,
            variant=variant,
            branch=(source.employer, variant.municipality),
            ref=f"SYN-{number + 1:07d}",
            lat=round(lat, 5),
            lon=round(lon, 5),
            evenings=source.evenings if rng.random() < 0.85 else not source.evenings,
            weekends=source.weekends if rng.random() < 0.85 else not source.weekends,
            nights=source.nights if rng.random() < 0.95 else not source.nights,
            positions=positions,
            positions_filled=rng.randrange(positions),
            published_days_ago=rng.randint(0, 60),
            expires_in_days=None if rng.random() < 0.15 else rng.randint(1, 60),
        )


def _opening_row(replica: SyntheticOpening, employer_id: int, anchor: datetime) -> dict[str, Any]:
    source, variant = replica.source, replica.variant
    published = anchor - timedelta(days=replica.published_days_ago)
    return {
        "employer_id": employer_id,
        "title": variant.title,
        "description": variant.description,
        "occupation_id": source.occupation_id,
        "occupation_label": source.occupation_label,
        "ssyk_code": source.ssyk_code,
        "required_skills": list(source.required_skills),
        "nice_skills": list(source.nice_skills),
        "hours_min": variant.hours_min,
        "hours_max": variant.hours_max,
        "evenings": replica.evenings,
        "weekends": replica.weekends,
        "nights": replica.nights,
        "environment": [str(e) for e in source.environment],
        "municipality": variant.municipality,
        "lat": replica.lat,
        "lon": replica.lon,
        "accommodations_offered": [str(a) for a in source.accommodations_offered],
        "positions": replica.positions,
        "positions_filled": replica.positions_filled,
        "status": OpeningStatus.OPEN,
        "published_at": published,
        "expires_at": None
        if replica.expires_in_days is None
        else anchor + timedelta(days=replica.expires_in_days),
        "source": OpeningSource.FIXTURE,
        "source_ref": replica.ref,
        "created_at": published,
        "updated_at": published,
    }


LONG_TEXT_FIELDS = (
    "preferred_occupations_text",
    "preferred_tasks_text",
    "environment_text",
    "skills_text",
    "experience_text",
    "education_text",
    "interests_text",
)


def long_profiles(
    participants: Sequence[ParticipantRecord], count: int, *, seed: int
) -> list[ParticipantRecord]:
    """`count` participants with long texts: each text field joins those of six participants.

    The fixture profiles are short (at most ~400 characters in all); a coach may paste much
    longer notes, which cost more to analyse, vectorise and encode.
    """
    rng = random.Random(seed)
    consenting = [
        p
        for p in participants
        if any(c.scope.value == "matching" and c.withdrawn_days_ago is None for c in p.consents)
    ]
    profiles = []
    for number in range(count):
        group = rng.sample(consenting, 6)
        texts = {
            name: " ".join(getattr(p, name) for p in group if getattr(p, name))[:MAX_TEXT]
            for name in LONG_TEXT_FIELDS
        }
        coded = list(dict.fromkeys(o for p in group for o in p.preferred_occupation_ids))
        profiles.append(
            group[0].model_copy(
                update={
                    "ref": f"LONG-{number + 1:02d}",
                    "preferred_occupation_ids": coded[:MAX_LIST],
                    **texts,
                }
            )
        )
    return profiles


def _write_fixture_copy(source: Path, target: Path, extra: list[ParticipantRecord]) -> None:
    """The fixture files in `target`, with `extra` participants added."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.json"):
        shutil.copyfile(path, target / path.name)
    participants = json.loads((source / "participants.json").read_text(encoding="utf-8"))
    participants += [p.model_dump(mode="json", exclude_defaults=True) for p in extra]
    (target / "participants.json").write_text(
        json.dumps(participants, ensure_ascii=False), encoding="utf-8"
    )


# --- building -------------------------------------------------------------------------------------


def _fixtures_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.json")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_key(*, openings: int, variants: int, seed: int, fixtures_dir: Path) -> str:
    parts = {
        "generator": GENERATOR_VERSION,
        "openings": openings,
        "variants": variants,
        "seed": seed,
        "fixtures": _fixtures_digest(fixtures_dir),
        "text_format": TEXT_FORMAT_VERSION,
        "schema": migrate.head_revision(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _from_manifest(folder: Path, document: dict[str, Any]) -> BenchDatabase:
    return BenchDatabase(
        folder=folder,
        key=document["key"],
        openings=document["openings"],
        searchable_openings=document["searchable_openings"],
        distinct_texts=document["distinct_texts"],
        anchor=datetime.fromisoformat(document["anchor"]),
        build_seconds=document["build_seconds"],
    )


def _insert_openings(
    session: Session,
    fixtures: FixtureSet,
    count: int,
    *,
    variants: int,
    seed: int,
    anchor: datetime,
) -> None:
    """Add `count` synthetic openings and the employer branches they need."""
    employers = {e.org_number: e for e in fixtures.employers}
    ids = dict(session.execute(sa.select(Employer.org_number, Employer.id)).all())
    branches: dict[tuple[str, str], int] = {}
    pending: list[tuple[SyntheticOpening, tuple[str, str]]] = []
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        new = sorted({branch for _, branch in pending if branch not in branches})
        if new:
            first = SYNTHETIC_ORG_BASE + len(branches)
            numbers = [f"{first + n:010d}" for n in range(len(new))]
            session.execute(
                sa.insert(Employer),
                [
                    {
                        "name": f"{employers[org].name} {municipality}",
                        "org_number": f"{number[:6]}-{number[6:]}",
                        "municipality": municipality,
                        "created_at": anchor,
                    }
                    for (org, municipality), number in zip(new, numbers, strict=True)
                ],
            )
            found = dict(
                session.execute(
                    sa.select(Employer.org_number, Employer.id).where(
                        Employer.org_number.in_([f"{n[:6]}-{n[6:]}" for n in numbers])
                    )
                ).all()
            )
            for branch, number in zip(new, numbers, strict=True):
                branches[branch] = found[f"{number[:6]}-{number[6:]}"]
        for replica, branch in pending:
            own = employers[branch[0]].municipality == branch[1]
            employer_id = ids[branch[0]] if own else branches[branch]
            rows.append(_opening_row(replica, employer_id, anchor))
        session.execute(sa.insert(Opening), rows)
        pending.clear()
        rows.clear()

    replicas = synthetic_openings(
        fixtures, count, variants=variants, seed=seed, localities=read_localities()
    )
    for replica in progress(replicas, "synthetic openings", count):
        pending.append((replica, replica.branch))
        if len(pending) >= INSERT_CHUNK:
            flush()
    if pending:
        flush()


def _copy_cached_vectors(database: Path, root: Path) -> int:
    """Copy the vector caches of the other benchmark databases under `root`."""
    copied = 0
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        for other in sorted(root.glob("*/stegvis.db")):
            if other == database:
                continue
            connection.execute("ATTACH DATABASE ? AS other", (str(other),))
            before = connection.total_changes
            # Rows are keyed by model and content hash: any database's rows are valid here.
            with contextlib.suppress(sqlite3.OperationalError):  # no table: an early failure
                connection.execute(
                    "INSERT OR IGNORE INTO item_embeddings SELECT * FROM other.item_embeddings"
                )
            copied += connection.total_changes - before
            connection.execute("DETACH DATABASE other")
    finally:
        connection.close()
    return copied


def _encode_in_chunks(factory: sessionmaker[Session], encoder: Encoder) -> None:
    """Fill the vector cache with every searchable item's text, committing chunk by chunk."""
    with factory() as session:
        texts = list(
            dict.fromkeys(
                item_text(item) for lane in Lane for item in searchable_items(session, lane)
            )
        )
    chunks = range(0, len(texts), ENCODE_CHUNK)
    for start in progress(chunks, f"encoding {len(texts):,} distinct texts", len(chunks)):
        with factory.begin() as session:
            item_vectors(session, encoder, texts[start : start + ENCODE_CHUNK])


def bench_database(
    openings: int = DEFAULT_OPENINGS,
    *,
    variants: int = DEFAULT_VARIANTS,
    seed: int = 0,
    root: Path = BENCH_ROOT,
    fixtures_dir: Path = FIXTURES,
) -> BenchDatabase:
    """The benchmark database with `openings` openings: reused when built, else built now.

    Safe to call from several processes: one builds, the others wait and reuse its build.
    """
    key = build_key(openings=openings, variants=variants, seed=seed, fixtures_dir=fixtures_dir)
    folder = root / f"openings-{openings}"
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{folder.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _wait_for_builder(folder)
        document = _read_manifest(folder)
        if document is not None and document.get("key") == key:
            return _from_manifest(folder, document)
        return _build(
            folder,
            key,
            openings,
            variants=variants,
            seed=seed,
            root=root,
            fixtures_dir=fixtures_dir,
        )


def _wait_for_builder(folder: Path) -> None:
    """Wait while a live process (one without the lock: an older builder) builds `folder`."""
    marker = folder / BUILDING
    while marker.exists():
        try:
            os.kill(int(marker.read_text(encoding="utf-8").strip()), 0)
        except (ValueError, ProcessLookupError):
            return
        log.warning("waiting for the process building %s", folder)
        time.sleep(30)


def _build(
    folder: Path,
    key: str,
    openings: int,
    *,
    variants: int,
    seed: int,
    root: Path,
    fixtures_dir: Path,
) -> BenchDatabase:
    if folder.exists():
        # Kept until the rebuild has copied its vector cache: its texts are mostly the same.
        log.warning("benchmark database %s is stale or incomplete: rebuilding", folder)
        folder.rename(folder.with_name(f"{folder.name}.stale-{time.time_ns()}"))
    folder.mkdir(parents=True)
    (folder / BUILDING).write_text(str(os.getpid()), encoding="utf-8")
    fixtures = read_fixture_set(fixtures_dir)
    if openings < len(fixtures.openings):
        raise ValueError(f"openings must be at least the {len(fixtures.openings)} fixture openings")
    anchor = datetime.now(UTC).replace(microsecond=0)
    seconds: dict[str, float] = {}
    database = BenchDatabase(folder, key, openings, 0, 0, anchor, seconds)

    started = time.perf_counter()
    migrate.upgrade(database.url)
    with database.connect() as factory:
        extended = folder / "fixtures"
        _write_fixture_copy(
            fixtures_dir,
            extended,
            long_profiles(fixtures.participants, LONG_PROFILES, seed=seed),
        )
        with factory.begin() as session:
            load_fixtures(session=session, directory=extended, now=anchor, track=progress)
        shutil.rmtree(extended)
        seconds["fixtures"] = time.perf_counter() - started

        started = time.perf_counter()
        with factory.begin() as session:
            _insert_openings(
                session,
                fixtures,
                openings - len(fixtures.openings),
                variants=variants,
                seed=seed,
                anchor=anchor,
            )
        seconds["synthetic openings"] = time.perf_counter() - started

        copied = _copy_cached_vectors(database.path, root)
        for stale in root.glob(f"{folder.name}.stale-*"):
            shutil.rmtree(stale, ignore_errors=True)
        started = time.perf_counter()
        settings = database.settings()
        encoder = load_encoder(settings.embedding_model)
        _encode_in_chunks(factory, encoder)
        indexes = lane_indexes(settings, encoder, factory, track=progress)
        reports = indexes.open()
        seconds["lane indexes"] = time.perf_counter() - started

        with factory() as session:
            searchable = searchable_items(session, Lane.JOBS)
            distinct = len({item_text(item) for item in searchable})
    database = BenchDatabase(folder, key, openings, len(searchable), distinct, anchor, seconds)
    document = {
        "key": key,
        "generator_version": GENERATOR_VERSION,
        "openings": openings,
        "variants": variants,
        "seed": seed,
        "searchable_openings": len(searchable),
        "distinct_texts": distinct,
        "vectors_copied_from_other_databases": copied,
        "anchor": anchor.isoformat(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": {name: round(value, 1) for name, value in seconds.items()},
        "lanes": [report.summary() for report in reports],
    }
    # The manifest is written last: a folder without one is an interrupted build.
    write_atomically(folder / MANIFEST, json.dumps(document, indent=1).encode())
    (folder / BUILDING).unlink()
    log.info(
        "benchmark database %s: %d openings (%d searchable, %d distinct texts) in %s",
        folder,
        openings,
        len(searchable),
        distinct,
        ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items()),
    )
    return database


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openings", type=int, default=DEFAULT_OPENINGS)
    parser.add_argument("--variants", type=int, default=DEFAULT_VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    database = bench_database(args.openings, variants=args.variants, seed=args.seed)
    print(json.dumps(_read_manifest(database.folder), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
