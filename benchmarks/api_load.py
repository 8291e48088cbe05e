"""API load: the suggestions endpoint over HTTP at 100k openings, at 1, 8 and 32 clients.

    python benchmarks/api_load.py [--openings 100000] [--seconds 30] [--clients 1,8,32]
                                  [--lane jobs] [--postgres URL] [--no-write]
                                  [--workers N] [--connections keep-alive|per-request]

Takes the benchmark database of `benchmarks/synthetic.py` (built once, reused), copies it
and its indexes to var/bench/api_load/ (the benchmark logs suggestions and audit rows, which
must not change the shared database), issues a token to one coach of each organisation,
starts `stegvis serve` (`api.cli.serve.run_server`: a real uvicorn, `--workers` serving
processes, one per core by default) on loopback in a subprocess, waits for `/ready`,
warms every participant's profile vector once, then for each number of clients runs that
many concurrent clients (threads with keep-alive httpx connections, or a new connection
per request with `--connections per-request`) for a fixed time, each
asking `GET /participants/{id}/suggestions?lane=jobs&k=10` for random consenting
participants of its coach's organisation. It reports requests per second, p50/p90/p99/max
latency and errors (any non-200 or transport error) to the console and, unless
`--no-write`, to the "api_load" section of docs/benchmarks.md.

With `--postgres URL` the same data is also copied into a fresh database
`stegvis_api_load` on that server (ids kept, so the same indexes serve it) and measured
there too: SQLite has one writer, so the app takes a writer lock to log what a request
showed (ranking runs outside it); PostgreSQL needs no such lock.

Targets: 0 errors; p99 under 150 ms at 8 clients.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from matching.settings import REPOSITORY_ROOT, Settings

# `python benchmarks/api_load.py` puts only benchmarks/ on the path; report is shared.
sys.path.insert(0, str(REPOSITORY_ROOT))
from benchmarks.report import markdown_table, percentile, write_section
from benchmarks.synthetic import BENCH_ROOT, bench_database

SCRATCH = BENCH_ROOT / "api_load"
P99_TARGET_MS = 150.0
READY_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Caller:
    """A coach's token and the consenting participants of the coach's organisation."""

    token: str
    participants: tuple[int, ...]


@dataclass
class Level:
    clients: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    error_kinds: dict[str, int]

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scratch_copy(source: Path) -> Path:
    """A private copy of the benchmark database and its indexes (replaced each run)."""
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)
    SCRATCH.mkdir(parents=True)
    for name in ("stegvis.db", "stegvis.db-wal", "stegvis.db-shm"):
        if (source / name).exists():
            shutil.copy2(source / name, SCRATCH / name)
    shutil.copytree(source / "index", SCRATCH / "index")
    return SCRATCH


def copy_to_postgres(sqlite_url: str, server_url: str, name: str = "stegvis_api_load") -> str:
    """A fresh PostgreSQL database with every row of the SQLite one, ids kept."""
    from sqlalchemy.engine import make_url

    from matching.db import migrate
    from matching.db.models import Base
    from matching.db.session import make_engine

    admin = sa.create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    target_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(target_url)
    source, target = make_engine(sqlite_url), make_engine(target_url)
    try:
        with source.connect() as reading, target.begin() as writing:
            for table in Base.metadata.sorted_tables:
                rows = reading.execute(sa.select(table)).mappings()
                while chunk := rows.fetchmany(5000):
                    writing.execute(table.insert(), [dict(row) for row in chunk])
                if "id" in table.c:
                    # Table names come from our own metadata, not from input.
                    after_last = f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1"  # noqa: S608
                    writing.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"{after_last}, false)"
                    )
    finally:
        source.dispose()
        target.dispose()
    return target_url


def callers(url: str, *, per_organisation: int = 40) -> list[Caller]:
    """One coach per organisation with a fresh token, and its consenting participants."""
    from matching.db.models import Consent, Participant, User
    from matching.db.session import make_engine, make_session_factory, transaction
    from matching.domain import ConsentScope, ParticipantStatus, Role
    from matching.users import issue_token

    engine = make_engine(url)
    found: list[Caller] = []
    try:
        with transaction(make_session_factory(engine)) as session:
            coaches = session.scalars(
                sa.select(User).where(User.role == Role.COACH).order_by(User.id)
            ).all()
            seen: set[int] = set()
            for coach in coaches:
                if coach.organisation_id in seen or coach.organisation_id is None:
                    continue
                seen.add(coach.organisation_id)
                participants = session.scalars(
                    sa.select(Participant.id)
                    .where(
                        Participant.organisation_id == coach.organisation_id,
                        Participant.status == ParticipantStatus.ACTIVE,
                        sa.exists().where(
                            Consent.participant_id == Participant.id,
                            Consent.scope == ConsentScope.MATCHING,
                            Consent.withdrawn_at.is_(None),
                        ),
                    )
                    .order_by(Participant.id)
                    .limit(per_organisation)
                ).all()
                if participants:
                    secret = issue_token(
                        session=session, user_id=coach.id, name="api_load", valid_days=1
                    ).secret
                    found.append(Caller(secret, tuple(participants)))
    finally:
        engine.dispose()
    return found


def start_server(
    folder: Path, database_url: str, port: int, workers: int
) -> subprocess.Popen[bytes]:
    environment = os.environ | {
        "STEGVIS_WORKERS": str(workers),
        "STEGVIS_PORT": str(port),
        "STEGVIS_LOG_LEVEL": "WARNING",
        "STEGVIS_DATA_DIR": str(folder),
        "STEGVIS_DATABASE_URL": database_url,
        "STEGVIS_INDEX_DIR": str(folder / "index"),
        "STEGVIS_ENVIRONMENT": "test",
        "STEGVIS_SECRET_KEY": "api-load-benchmark-" + "x" * 32,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return subprocess.Popen(  # noqa: S603 - this script itself, with a fixed argument list
        [sys.executable, __file__, "--serve"],
        env=environment,
        cwd=REPOSITORY_ROOT,
    )


def serve() -> None:
    """The server process: `stegvis serve` without the migration (the copy is at head),
    settings from STEGVIS_* variables; one line per request is not logged (WARNING)."""
    from api.cli.serve import run_server
    from matching.settings import configure_logging

    settings = Settings()
    configure_logging(settings)
    run_server(settings)


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            response = httpx.get(f"{base}/ready", timeout=30)
            if response.status_code == 200:
                return time.perf_counter() - started
            if response.status_code == 503 and "not loaded" not in response.text:
                raise SystemExit(f"the server is not ready: {response.text}")
        except httpx.TransportError:
            pass
        time.sleep(2)
    raise SystemExit("the server did not become ready in time")


def suggest_url(base: str, participant: int, lane: str) -> str:
    return f"{base}/participants/{participant}/suggestions?lane={lane}&k=10"


def warm(base: str, everyone: list[Caller], lane: str) -> None:
    """One request per participant: encodes and caches every profile vector."""
    with httpx.Client(timeout=120) as client:
        for caller in everyone:
            headers = {"Authorization": f"Bearer {caller.token}"}
            for participant in caller.participants:
                response = client.get(suggest_url(base, participant, lane), headers=headers)
                response.raise_for_status()


def run_level(
    base: str,
    everyone: list[Caller],
    clients: int,
    seconds: float,
    lane: str,
    seed: int,
    *,
    keep_alive: bool = True,
) -> Level:
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def client_loop(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        caller = everyone[number % len(everyone)]
        headers = {"Authorization": f"Bearer {caller.token}"}
        mine: list[float] = []
        failures: dict[str, int] = {}
        # Without keep-alive each request opens a connection of its own, which the
        # supervisor hands to the serving process with the fewest open at that moment,
        # instead of staying with the process a kept connection was handed to.
        limits = httpx.Limits(max_keepalive_connections=None if keep_alive else 0)
        with httpx.Client(timeout=60, limits=limits) as client:
            start.wait()
            while time.perf_counter() < deadline:
                url = suggest_url(base, rng.choice(caller.participants), lane)
                began = time.perf_counter()
                try:
                    response = client.get(url, headers=headers)
                    kind = None if response.status_code == 200 else str(response.status_code)
                except httpx.TransportError as error:
                    kind = type(error).__name__
                if kind is None:
                    mine.append((time.perf_counter() - began) * 1000)
                else:
                    failures[kind] = failures.get(kind, 0) + 1
        with lock:
            latencies.extend(mine)
            for kind, count in failures.items():
                kinds[kind] = kinds.get(kind, 0) + count

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return Level(clients, elapsed, latencies, sum(kinds.values()), kinds)


SQLITE_NOTE = (
    "on SQLite a suggestions request ranks without the writer lock, side by side with other "
    "requests (WAL readers), and takes the lock only to log its slate and audit row "
    "(`api.deps.Work.begin_writes`); the lock spans the serving processes (a `flock`)"
)

INTRODUCTION = (
    "`GET /participants/{id}/suggestions` over HTTP against `stegvis serve` (a real uvicorn; "
    "with several serving processes each holds its own engine and follows the change feed) "
    "on loopback. Each client is a thread asking, back to back, for random consenting "
    "participants of its coach's organisation, over one keep-alive connection unless said "
    "otherwise (the supervising process hands each new connection to the serving process "
    "with the fewest open, and a kept connection stays there); every answer is a ranked, "
    "explained slate logged as shown."
)


def index_description(settings: Settings) -> str:
    """How the server indexes and computes, from the settings it inherits (STEGVIS_*)."""
    kind = settings.index_kind
    if kind == "auto":
        kind = f"auto (flat below {settings.index_ivf_from:,} items per lane, ivf from there)"
    threads = settings.native_threads or "the libraries' default"
    return (
        f"`STEGVIS_INDEX_KIND` {kind}, nprobe {settings.index_nprobe}; candidates' "
        f"similarities scored exactly; threads per numeric operation: {threads}"
    )


def report_facts(facts: dict[str, str]) -> str:
    return "\n".join(f"- {name}: {value}" for name, value in facts.items())


def report(levels: list[Level]) -> str:
    rows = [
        (
            level.clients,
            level.requests,
            level.errors,
            f"{level.rps:.1f}",
            f"{percentile(level.latencies_ms, 50):.0f}",
            f"{percentile(level.latencies_ms, 90):.0f}",
            f"{percentile(level.latencies_ms, 99):.0f}",
            f"{max(level.latencies_ms, default=float('nan')):.0f}",
        )
        for level in levels
    ]
    table = markdown_table(
        ["clients", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows
    )
    at_eight = next((level for level in levels if level.clients == 8), None)
    verdict = ""
    if at_eight is not None and at_eight.latencies_ms:
        p99 = percentile(at_eight.latencies_ms, 99)
        errors = sum(level.errors for level in levels)
        verdict = (
            f"\n\nTarget (0 errors, p99 < {P99_TARGET_MS:.0f} ms at 8 clients): "
            f"{errors} errors, p99 {p99:.0f} ms at 8 clients — "
            f"{'met' if errors == 0 and p99 < P99_TARGET_MS else 'not met'}."
        )
    kinds = {k: v for level in levels for k, v in level.error_kinds.items()}
    errors_line = f"\n\nErrors by kind: {kinds}" if kinds else ""
    return f"{table}{verdict}{errors_line}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openings", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="Per level.")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--lane", choices=("jobs", "asf"), default="jobs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--folder",
        type=Path,
        help="Use this folder (stegvis.db and index/) instead of the synthetic database.",
    )
    parser.add_argument(
        "--postgres", help="Also measure on a copy in this PostgreSQL server (admin URL)."
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--connections",
        choices=("keep-alive", "per-request"),
        default="keep-alive",
        help="keep-alive: each client keeps one connection (pinned to one serving process); "
        "per-request: a new connection for every request.",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="Serving processes (STEGVIS_WORKERS); default: one per core, the best measured "
        "on two cores (docs/benchmarks.md).",
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return

    if args.folder is None:
        database = bench_database(args.openings)
        source = database.folder
        described = (
            f"{database.openings:,} openings ({database.searchable_openings:,} searchable), "
            "the fixtures' participants"
        )
    else:
        source, described = args.folder, f"the database in {args.folder}"
    print(f"database: {described}", flush=True)
    folder = scratch_copy(source)
    sqlite_url = f"sqlite:///{(folder / 'stegvis.db').as_posix()}"
    backends = {"SQLite": sqlite_url}
    if args.postgres:
        print("copying the database to PostgreSQL", flush=True)
        backends["PostgreSQL"] = copy_to_postgres(sqlite_url, args.postgres)
    sections = [
        report_facts(
            {
                "data": f"{described}, lane `{args.lane}`, k = 10",
                "index": index_description(Settings()),
                "serving processes": f"{args.workers} (STEGVIS_WORKERS)",
                "connections": args.connections,
                "time per level": f"{args.seconds:.0f} s",
            }
        )
    ]
    for backend, url in backends.items():
        levels, facts = measure(folder, url, args)
        sections.append(f"### {backend}\n\n{report_facts(facts)}\n\n{report(levels)}")
    body = INTRODUCTION + "\n\n" + "\n\n".join(sections)
    print(body)
    if not args.no_write:
        write_section("api_load", "API load", body)


def measure(folder: Path, url: str, args: argparse.Namespace) -> tuple[list[Level], dict[str, str]]:
    """Serve `url` with a real uvicorn and run every level of clients against it."""
    everyone = callers(url)
    participants = sum(len(c.participants) for c in everyone)
    print(f"{url.split(':')[0]}: {len(everyone)} coaches, {participants} participants", flush=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(folder, url, port, args.workers)
    try:
        startup = wait_ready(base, server)
        print(f"ready after {startup:.0f} s; warming {participants} profiles", flush=True)
        warm(base, everyone, args.lane)
        levels = []
        for clients in (int(c) for c in args.clients.split(",") if c):
            level = run_level(
                base,
                everyone,
                clients,
                args.seconds,
                args.lane,
                args.seed,
                keep_alive=args.connections == "keep-alive",
            )
            levels.append(level)
            print(
                f"{clients:>3} clients: {level.requests} requests, {level.errors} errors, "
                f"{level.rps:.1f} req/s, p50 {percentile(level.latencies_ms, 50):.0f} ms, "
                f"p99 {percentile(level.latencies_ms, 99):.0f} ms "
                f"(load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=60)
    facts = {
        "participants": f"{participants} in {len(everyone)} organisations, profiles warmed",
        **({"requests": SQLITE_NOTE} if url.startswith("sqlite") else {}),
        "server start-up to ready": f"{startup:.0f} s",
        "load average (1 min) after the run": f"{os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores (other work shares the machine)",
    }
    return levels, facts


if __name__ == "__main__":
    main()
