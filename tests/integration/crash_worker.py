"""The process the crash-safety tests kill: runs real updates until a crash point fires.

    python -m tests.integration.crash_worker api PLAN.json
        starts the app (`create_app`, its own engine: the start-up verify/repair included)
        and sends the requests of the plan one by one, printing one JSON line per answer;
    python -m tests.integration.crash_worker train BENCHMARK.npz
        retrains the ranker (`training.train.train`, promote when the gates pass).

Settings come from STEGVIS_* variables as for `stegvis serve`, STEGVIS_CRASH_AT included.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from matching import crashpoints
from matching.db.session import make_engine, make_session_factory, transaction
from matching.settings import Settings
from training.quality import QualityBenchmark
from training.registry import ModelRegistry
from training.train import train


def run_plan(settings: Settings, plan_file: Path) -> None:
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    with TestClient(create_app(settings)) as client:
        for step, request in enumerate(plan["requests"], start=1):
            response = client.request(
                request["method"],
                request["path"],
                json=request.get("json"),
                headers={"Authorization": f"Bearer {plan['token']}"},
            )
            print(
                json.dumps({"step": step, "status": response.status_code, "body": response.json()})
            )
            sys.stdout.flush()


def run_training(settings: Settings, benchmark_file: Path) -> None:
    crashpoints.arm(settings.crash_at)
    database = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(database)) as session:
            result = train(
                settings=settings,
                session=session,
                registry=ModelRegistry(settings),
                benchmark=QualityBenchmark.load(benchmark_file),
                promote=True,
            )
        print(json.dumps({"version": result.logged.label, "promoted": result.promoted}))
    finally:
        database.dispose()


if __name__ == "__main__":
    mode, argument = sys.argv[1], Path(sys.argv[2])
    {"api": run_plan, "train": run_training}[mode](Settings(), argument)
