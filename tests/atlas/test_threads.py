"""Atlas processes run one BLAS thread each (the parallelism is the worker processes)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import viterbo.atlas, os; print(os.environ['OPENBLAS_NUM_THREADS'])"


def test_importing_the_atlas_limits_blas_threads_unless_the_operator_chose() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    default = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert default.stdout.strip() == "1", default.stderr
    chosen = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**env, "OPENBLAS_NUM_THREADS": "3"},
        capture_output=True,
        text=True,
    )
    assert chosen.stdout.strip() == "3", chosen.stderr
