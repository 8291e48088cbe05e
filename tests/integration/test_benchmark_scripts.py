"""`make bench` runs the scripts in benchmarks/: the retrieval benchmark at toy size.

No times are asserted (tests never assert wall-clock time): the script must run end to end
and report every method, with brute force agreeing with the exact index.
"""

from __future__ import annotations

import subprocess
import sys

from matching.settings import REPOSITORY_ROOT


def test_the_retrieval_benchmark_runs_at_toy_size() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            str(REPOSITORY_ROOT / "benchmarks" / "retrieval.py"),
            "--quick",
            "--sizes",
            "2000",
            "--no-model",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPOSITORY_ROOT,
        timeout=600,
    )
    rows = [line for line in finished.stdout.splitlines() if line.startswith("| 2,000 |")]
    methods = [row.split(" | ")[1] for row in rows]
    assert methods[0] == "this index, exact (flat)"
    assert methods[1].startswith("this index, approximate (IVF)")
    assert methods[2:] == ["NumPy brute force", "scikit-learn NearestNeighbors (brute, cosine)"]
    recalls = {method: row.split(" | ")[5] for method, row in zip(methods, rows, strict=True)}
    assert recalls["NumPy brute force"] == "1.000"
    assert recalls["scikit-learn NearestNeighbors (brute, cosine)"] == "1.000"
