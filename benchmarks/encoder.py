"""Encoder adaptation: the default `stegvis encoder train` run (and named ablations), timed.

Each run fine-tunes the serving encoder on the taxonomy pairs exactly as the command does,
measures it on the quality benchmark's held-out groups, and logs it to a temporary MLflow
store (nothing is registered in the real one, nothing is promoted). Writes the `encoder`
section of docs/benchmarks.md: NDCG@10 before/after (semantic-only and full ranker),
training time (wall and CPU), peak memory and the load average around each run.

    .venv/bin/python benchmarks/encoder.py                      # the default run
    .venv/bin/python benchmarks/encoder.py --runs default,no-hard-negatives,len-32
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from matching.settings import REPOSITORY_ROOT, Settings

# `python benchmarks/encoder.py` puts only benchmarks/ on the path; report is shared.
sys.path.insert(0, str(REPOSITORY_ROOT))
from benchmarks.report import markdown_table, write_section
from training.finetune import FinetuneConfig, run_encoder_training
from training.quality import QualityBenchmark

DEFAULT = FinetuneConfig()
#: Named settings, each one change from the default.
RUNS: dict[str, FinetuneConfig] = {
    "default": DEFAULT,
    "no-hard-negatives": dataclasses.replace(DEFAULT, hard_negatives=False),
    "skills-pairs-only": dataclasses.replace(
        DEFAULT, kinds=("occupation_skills", "skills_occupation")
    ),
    "one-epoch": dataclasses.replace(DEFAULT, epochs=1),
    "len-32": dataclasses.replace(DEFAULT, max_seq_length=32),
    "lr-2e-5": dataclasses.replace(DEFAULT, learning_rate=2e-5),
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="default", help=f"of: {', '.join(RUNS)}")
    names = [n.strip() for n in parser.parse_args().runs.split(",") if n.strip()]
    settings = Settings()
    benchmark = QualityBenchmark.load_or_build(settings)
    rows = []
    before = None
    for name in names:
        config = RUNS[name]
        with tempfile.TemporaryDirectory(prefix="stegvis-encoder-bench-") as folder:
            scratch = Path(folder)
            run_settings = settings.model_copy(
                update={
                    "mlflow_tracking_uri": f"sqlite:///{scratch / 'mlflow.db'}",
                    "mlflow_artifact_root": scratch / "artifacts",
                }
            )
            load_before = os.getloadavg()[0]
            cpu, wall = _cpu_seconds(), time.perf_counter()
            run = run_encoder_training(run_settings, config=config, benchmark=benchmark)
            cpu, wall = _cpu_seconds() - cpu, time.perf_counter() - wall
            load_after = os.getloadavg()[0]
        before = run.before
        rows.append(
            [
                name,
                ", ".join(f"{k} {v}" for k, v in run.pair_counts.items()),
                f"{config.epochs} × len {config.max_seq_length}, lr {config.learning_rate:g}, "
                f"hard negatives {'yes' if config.hard_negatives else 'no'}",
                f"{run.after.semantic_held_out:.3f}",
                f"{run.after.semantic_held_out_skills_only:.3f}",
                f"{run.after.full_held_out:.3f}",
                f"{run.after.full_development:.3f}",
                "passed"
                if run.gates.passed
                else "refused: " + ", ".join(g.name for g in run.gates.failed),
                f"{run.result.steps} steps, {run.result.seconds:.0f} s training; "
                f"{wall:.0f} s wall, {cpu:.0f} s CPU in all",
                f"{run.result.peak_memory_mb:.0f} MB",
                f"{load_before:.1f} → {load_after:.1f}",
            ]
        )
    assert before is not None
    header = [
        "run",
        "pairs",
        "settings",
        "semantic held-out",
        "… skills only",
        "full ranker held-out",
        "full ranker development",
        "gates",
        "time",
        "peak memory",
        "load average (1 min)",
    ]
    baseline = [
        "serving encoder (before)",
        "–",
        "–",
        f"{before.semantic_held_out:.3f}",
        f"{before.semantic_held_out_skills_only:.3f}",
        f"{before.full_held_out:.3f}",
        f"{before.full_development:.3f}",
        "–",
        "–",
        "–",
        "–",
    ]
    body = (
        "`benchmarks/encoder.py`: `stegvis encoder train` settings on the quality benchmark's "
        "held-out SSYK groups (NDCG@10; the full ranker re-scored with the new encoder's "
        "similarities over the stored candidates, `training/encoder_eval.py`).\n\n"
        + markdown_table(header, [baseline, *rows])
    )
    write_section("encoder", "Encoder adaptation", body)


if __name__ == "__main__":
    main()
