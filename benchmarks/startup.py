"""Start-up benchmark (issue 15): wall time of whole `atlas` commands, cold processes.

    .venv/bin/python benchmarks/startup.py [--repeat N]

Each command runs N times as a fresh process (imports, numba cache load, the work itself);
prints the median, the spread and the ratio to its target. `atlas status` reads a small atlas
built once in a temporary folder; `atlas compute` computes the tesseract with the default
budget (volume, every capacity, certificate, systolic ratio, spectrum).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ATLAS = [sys.executable, "-m", "viterbo.atlas"]
TESSERACT = {
    "normals": [[1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0],
                [0, 0, 1, 0], [0, 0, -1, 0], [0, 0, 0, 1], [0, 0, 0, -1]],
    "offsets": [1] * 8,
}  # fmt: skip
TARGETS = {"atlas --help": 0.4, "atlas status": 0.4, "atlas compute (tesseract)": 0.8}


def _time(command: list[str], stdin: str | None = None) -> float:
    start = time.perf_counter()
    out = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {out.stderr.strip()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'atlas.sqlite'}"
        subprocess.run([*ATLAS, "enqueue", "tiny", "--db", db], capture_output=True, check=True)
        commands = {
            "atlas --help": ([*ATLAS, "--help"], None),
            "atlas status": ([*ATLAS, "status", "--db", db], None),
            "atlas compute (tesseract)": ([*ATLAS, "compute", "-"], json.dumps(TESSERACT)),
        }
        _time(*commands["atlas compute (tesseract)"])  # the numba cache is written once
        print(
            f"{'command':28s} {'median':>8s} {'min':>7s} {'max':>7s} {'target':>7s} {'ratio':>6s}"
        )
        for name, (command, stdin) in commands.items():
            times = [_time(command, stdin) for _ in range(args.repeat)]
            median = statistics.median(times)
            print(
                f"{name:28s} {median:7.3f}s {min(times):6.3f}s {max(times):6.3f}s "
                f"{TARGETS[name]:6.1f}s {median / TARGETS[name]:6.2f}"
            )


if __name__ == "__main__":
    main()
