"""Benchmark of the ``reeb`` capacity (Chaidez–Hutchings search).

Run: ``.venv/bin/python benchmarks/reeb.py [--quick] [--profile]``; the stage table alone
with ``--stages``; this tree against a commit, measured in alternating rounds on the same
host, with ``--against REV [--rounds 3]`` (e.g. ``--against cce08c6``, the start of the
issue-15 session of 2026-12-08).

Prints medians and the ratio to each target (2-core machine): symmetric polytopes (24-cell,
cross-polytope) <= 2 ms, with and without the symmetry reduction side by side, and stage by
stage (interior point, graph, symmetries, packing, search) beside the start of the session;
cross-polytope (16 facets) <= 1 s, 24-cell <= 0.25 s, random 4D polytopes with 30 facets
<= 5 s each; the ``spectrum`` (k = 5, window 3, rotation cap 6) on random 20-facet polytopes
<= 3 s each (the atlas runs it on hundreds of polytopes); the compiled engine against the
pure-Python reference; then the scaling of time and paths expanded with the facet count, and
(with ``--profile``) where the spectrum's time goes.  The kernel's compile (or cache load) is
timed separately first.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from viterbo.families.catalog import twenty_four_cell_roots
from viterbo.geometry import GeometryError, Polytope
from viterbo.invariants import reeb, spectrum
from viterbo.invariants.reeb.kernel import warm_up
from viterbo.invariants.registry import TimeBudgetExceeded


def cross_polytope() -> Polytope:
    return Polytope.from_vertices([s * e for e in np.eye(4) for s in (1, -1)])


def cell_24() -> Polytope:
    half = [np.array(v) / 2 for v in itertools.product([1, -1], repeat=4)]
    return Polytope.from_vertices([s * e for e in np.eye(4) for s in (1, -1)] + half)


def random_halfspace_polytope(facets: int, seed: int) -> Polytope:
    """Random polytope circumscribed about the unit ball: ``facets`` random unit normals, all
    offsets 1, so every halfspace is a facet (its tangent point lies in all the others)."""
    rng = np.random.default_rng(seed)
    while True:
        normals = rng.normal(size=(facets, 4))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        try:
            polytope = Polytope.from_halfspaces(normals, np.ones(facets))
        except GeometryError:
            continue
        if reeb.applicability(polytope) is None:
            return polytope


def report_symmetric(repeats: int, target: float = 0.002) -> None:
    """Warm, in-process medians on symmetric polytopes: one start per symmetry class (now)
    against every node as a start (``use_symmetry=False``, the search before issue 15)."""
    print(
        f"\nsymmetric polytopes (issue 15 target {target * 1e3:.0f} ms, warm, medians of {repeats})"
    )
    print(
        f"  {'polytope':<26} {'starts':>9} {'paths':>13} {'graph ms':>9} {'search ms':>15}"
        f" {'total ms':>15} {'speed-up':>8} {'ratio':>6}"
    )
    cases = [
        ("24-cell (±e_i±e_j)", twenty_four_cell_roots()),
        ("24-cell (±e_i, (±½)^4)", cell_24()),
        ("cross-polytope", cross_polytope()),
    ]
    for name, polytope in cases:
        rows = {}
        for use in (True, False):
            totals, searches, graphs, diag = [], [], [], {}
            for _ in range(repeats):
                started = time.perf_counter()
                diag = reeb.compute(polytope, use_symmetry=use)["diagnostics"]
                totals.append(time.perf_counter() - started)
                searches.append(diag["seconds"])
                graphs.append(diag["graph_seconds"])
            rows[use] = (
                statistics.median(totals),
                statistics.median(searches),
                statistics.median(graphs),
                diag,
            )
        (t1, s1, g1, d1), (t0, s0, _, d0) = rows[True], rows[False]
        print(
            f"  {name:<26} {d1['start_nodes']:>4}/{d0['start_nodes']:<4} "
            f"{d1['paths_expanded']:>6}/{d0['paths_expanded']:<6} {g1 * 1e3:>9.1f} "
            f"{s1 * 1e3:>7.1f}/{s0 * 1e3:<7.1f} {t1 * 1e3:>7.1f}/{t0 * 1e3:<7.1f}"
            f" {t0 / t1:>7.1f}x {t1 / target:>6.1f}"
        )
    print("  (now/before: one start per symmetry class / every node; graph build is shared)")


# Whole reeb.compute, warm, medians in ms at d540093 (the start of the December 2026 session,
# the same 2-core machine), to print beside today's.
STAGE_BASELINE_MS = {
    "24-cell (±e_i±e_j)": 16.4,
    "24-cell (±e_i, (±½)^4)": 18.9,
    "cross-polytope": 8.3,
}
STAGES = (
    ("interior", "interior_seconds"),
    ("graph", None),  # graph_seconds - interior_seconds
    ("symmetry", "symmetry_seconds"),
    ("setup", "setup_seconds"),
    ("search", "seconds"),
)


def _random_seeds(facets: int) -> list[Polytope]:
    return [random_halfspace_polytope(facets, seed) for seed in range(5)]


# The stage-table rows: name and the polytopes they time.
STAGE_CASES: dict[str, Callable[[], list[Polytope]]] = {
    "24-cell (±e_i±e_j)": lambda: [twenty_four_cell_roots()],
    "24-cell (±e_i, (±½)^4)": lambda: [cell_24()],
    "cross-polytope": lambda: [cross_polytope()],
    "random 8-facet (5 seeds)": lambda: _random_seeds(8),
    "random 9-facet (5 seeds)": lambda: _random_seeds(9),
    "random 16-facet (5 seeds)": lambda: _random_seeds(16),
}


def measure_stages(repeats: int) -> dict[str, dict[str, float]]:
    """Per row of ``STAGE_CASES``: the median of each stage and of the total, and the best
    total, in ms (see :func:`report_stages`)."""
    out: dict[str, dict[str, float]] = {}
    for name, make in STAGE_CASES.items():
        polytopes = make()
        samples: dict[str, list[float]] = {key: [] for key, _ in STAGES}
        samples.update(rest=[], total=[])
        for _ in range(repeats):
            for polytope in polytopes:
                started = time.perf_counter()
                diag = reeb.compute(polytope)["diagnostics"]
                total = time.perf_counter() - started
                values = {
                    key: diag.get(field, 0.0)
                    if field
                    else diag["graph_seconds"] - diag.get("interior_seconds", 0.0)
                    for key, field in STAGES
                }
                for key, value in values.items():
                    samples[key].append(value)
                samples["rest"].append(total - sum(values.values()))
                samples["total"].append(total)
        out[name] = {key: statistics.median(values) * 1e3 for key, values in samples.items()}
        out[name]["best"] = min(samples["total"]) * 1e3
    return out


def report_stages(repeats: int, target: float = 0.002) -> None:
    """Where a warm ``reeb.compute`` spends its time, stage by stage (medians, ms).

    best is the least total of the runs (noise on a shared host only ever adds time).
    interior: the Chebyshev centre's linear program; graph: the flow graph; symmetry: the
    symplectic symmetries and renumbering; setup: packing the graph for the kernel; search: the
    tube search; rest: orbit verification and bookkeeping.  ``--against REV`` measures a
    commit in the same minutes instead of quoting ``before`` from another day.
    """
    print(f"\nstages of a warm reeb.compute (ms, medians of {repeats}; issue 15 targets 2 ms)")
    header = "".join(f"{name:>9}" for name, _ in STAGES)
    print(f"  {'polytope':<26}{header}{'rest':>9}{'total':>9}{'best':>9}{'before':>9}{'ratio':>7}")
    for name, medians in measure_stages(repeats).items():
        row = "".join(f"{medians[key]:>9.2f}" for key, _ in STAGES)
        before = STAGE_BASELINE_MS.get(name)
        before_text = f"{before:>9.1f}" if before else f"{'-':>9}"
        print(
            f"  {name:<26}{row}{medians['rest']:>9.2f}{medians['total']:>9.2f}"
            f"{medians['best']:>9.2f}{before_text}{medians['total'] / (target * 1e3):>7.1f}"
        )


def compare_stages(revision: str, rounds: int, repeats: int) -> None:
    """The stage table of this tree against ``revision``, measured in alternating rounds.

    A host whose speed drifts by 2x within minutes makes figures from another day useless as
    a baseline; alternating the two trees (each round one process per tree, the same script)
    exposes both to the same drift.  Prints, per row, the median over rounds of each tree's
    median total and their ratio, the median of the rounds' own ratios, and each tree's best
    run (noise only ever adds time, so best against best is the steadiest figure).
    """
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(baseline), revision],
            check=True,
        )
        try:
            runs: dict[str, list[dict[str, dict[str, float]]]] = {"before": [], "now": []}
            for round_ in range(rounds):
                for label, source in (("before", baseline / "src"), ("now", repo / "src")):
                    print(f"  round {round_ + 1}/{rounds}: {label} ...", flush=True)
                    runs[label].append(_stages_in(source, repeats))
        finally:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(baseline)],
                check=False,
            )
    print(f"\nwhole reeb.compute, warm (ms): {revision} against this tree, {rounds} rounds")
    print(
        f"  {'polytope':<26}{'before':>9}{'now':>9}{'speed-up':>9}{'per round':>10}"
        f"{'best then':>10}{'best now':>9}{'speed-up':>9}"
    )
    for name in STAGE_CASES:
        before = statistics.median(run[name]["total"] for run in runs["before"])
        now = statistics.median(run[name]["total"] for run in runs["now"])
        # Each round's ratio, then their median: drift between rounds cancels.
        per_round = statistics.median(
            then[name]["total"] / later[name]["total"]
            for then, later in zip(runs["before"], runs["now"], strict=True)
        )
        best_then = min(run[name]["best"] for run in runs["before"])
        best_now = min(run[name]["best"] for run in runs["now"])
        print(
            f"  {name:<26}{before:>9.2f}{now:>9.2f}{before / now:>8.2f}x{per_round:>9.2f}x"
            f"{best_then:>10.2f}{best_now:>9.2f}{best_then / best_now:>8.2f}x"
        )
    print("\nstages now (ms, median over rounds):")
    header = "".join(f"{name:>9}" for name, _ in STAGES)
    print(f"  {'polytope':<26}{header}{'rest':>9}")
    for name in STAGE_CASES:
        row = "".join(
            f"{statistics.median(run[name][key] for run in runs['now']):>9.2f}"
            for key in [*(key for key, _ in STAGES), "rest"]
        )
        print(f"  {name:<26}{row}")


def _stages_in(source: Path, repeats: int) -> dict[str, dict[str, float]]:
    """:func:`measure_stages` run by this script in a process that imports ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, __file__, "--stages", "--json", "--repeats", str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"stage run with {source} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(polytope: Polytope, budget: float) -> tuple[float, dict | None]:
    """Seconds and diagnostics of one ``reeb.compute`` (``None`` diagnostics on timeout)."""
    started = time.perf_counter()
    try:
        result = reeb.compute(polytope, time_budget=budget)
    except TimeBudgetExceeded:
        return time.perf_counter() - started, None
    return time.perf_counter() - started, {**result["diagnostics"], "value": result["value"]}


def report_target(
    name: str, polytope: Polytope, target: float, repeats: int, budget: float
) -> None:
    times, diag = [], None
    for _ in range(repeats):
        seconds, diag = run(polytope, budget)
        times.append(seconds)
        if diag is None:
            break
    median = statistics.median(times)
    status = "TIMEOUT" if diag is None else f"value {diag['value']:.12g}"
    paths = "-" if diag is None else diag["paths_expanded"]
    print(
        f"{name:<28} facets {polytope.num_facets:>3}  median {median:8.3f} s  target {target:5.2f} s"
        f"  ratio {median / target:6.2f}  paths {paths}  {status}"
    )


def report_engines(polytopes: list[tuple[str, Polytope]], budget: float) -> None:
    """Compiled vs pure-Python engine on the same polytopes (same search, same tubes)."""
    print("\nengines (reeb capacity, one run each): compiled vs python reference, total and search")
    for name, polytope in polytopes:
        seconds, search = {}, {}
        for engine in ("compiled", "python"):
            started = time.perf_counter()
            result = reeb.compute(polytope, time_budget=budget, engine=engine)
            seconds[engine] = time.perf_counter() - started
            search[engine] = result["diagnostics"]["seconds"]
        print(
            f"  {name:<16} total: compiled {seconds['compiled']:6.3f} s python {seconds['python']:6.3f} s"
            f"  search: compiled {search['compiled']:6.3f} s python {search['python']:6.3f} s"
            f" ({search['python'] / search['compiled']:5.1f}x)  value {result['value']:.12g}"
        )


def report_spectrum(seeds: int, budget: float, facets: int = 20, target: float = 3.0) -> None:
    """Median seconds of ``spectrum.compute`` over random ``facets``-facet polytopes."""
    print(f"\nspectrum (k=5, window 3, rotation cap 6) on random {facets}-facet polytopes")
    times, timeouts = [], 0
    for seed in range(seeds):
        polytope = random_halfspace_polytope(facets, 20000 + seed)
        started = time.perf_counter()
        try:
            result = spectrum.compute(polytope, time_budget=budget)
        except TimeBudgetExceeded:
            timeouts += 1
            times.append(time.perf_counter() - started)
            print(f"  seed {seed}: TIMEOUT after {times[-1]:.1f} s")
            continue
        times.append(time.perf_counter() - started)
        actions = ", ".join(f"{a:.10g}" for a in result["value"])
        print(
            f"  seed {seed}: {times[-1]:7.3f} s  paths {result['diagnostics']['paths_expanded']}"
            f"  actions [{actions}]"
        )
    median = statistics.median(times)
    print(
        f"spectrum median {median:8.3f} s  target {target:5.2f} s  ratio {median / target:6.2f}"
        f"  timeouts {timeouts}"
    )


def scaling(facet_counts: list[int], seeds: int, budget: float) -> None:
    print("\nscaling (random halfspace polytopes; medians over seeds)")
    print(
        f"{'facets':>6} {'n':>3} {'seconds':>9} {'paths':>8} {'nodes':>6} {'edges':>6} {'timeouts':>8}"
    )
    for facets in facet_counts:
        times, paths, nodes, edges, timeouts = [], [], [], [], 0
        for seed in range(seeds):
            polytope = random_halfspace_polytope(facets, 1000 * facets + seed)
            seconds, diag = run(polytope, budget)
            times.append(seconds)
            if diag is None:
                timeouts += 1
                continue
            paths.append(diag["paths_expanded"])
            nodes.append(diag["nodes"])
            edges.append(diag["edges"])
        print(
            f"{facets:>6} {seeds:>3} {med(times):>9.3f} {med(paths):>8.0f} {med(nodes):>6.0f}"
            f" {med(edges):>6.0f} {timeouts:>8}"
        )


def med(values: list[float]) -> float:
    """Median, NaN for an empty list."""
    return statistics.median(values) if values else float("nan")


def profile(polytope: Polytope) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    spectrum.compute(polytope)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    print("\nprofile (tottime, top 12):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:4000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--stages", action="store_true", help="only the stage table")
    parser.add_argument("--json", action="store_true", help="with --stages: print it as JSON")
    parser.add_argument("--repeats", type=int, default=7, help="runs per stage-table row")
    parser.add_argument(
        "--against",
        metavar="REV",
        help="the whole-compute times of this tree against a commit, in alternating rounds",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds for --against")
    args = parser.parse_args()
    if args.against:
        compare_stages(args.against, args.rounds, args.repeats)
        return
    if args.stages:
        warm_up()
        if args.json:
            print(json.dumps(measure_stages(args.repeats)))
        else:
            report_stages(args.repeats)
        return
    repeats = 1 if args.quick else 3
    print("reeb capacity benchmark (targets from issue 5; 2-core machine)")
    print(f"kernel compile or cache load: {warm_up():.2f} s (excluded from the timings below)")
    report_symmetric(3 if args.quick else 7)
    report_stages(3 if args.quick else 7)
    report_target("cross-polytope", cross_polytope(), 1.0, repeats, args.budget)
    report_target("24-cell", cell_24(), 0.25, 1, args.budget)
    for seed in range(1 if args.quick else 3):
        polytope = random_halfspace_polytope(30, seed)
        report_target(f"random 30-facet (seed {seed})", polytope, 5.0, 1, args.budget)
    report_engines(
        [
            ("cross-polytope", cross_polytope()),
            ("24-cell", cell_24()),
            ("random 20-facet", random_halfspace_polytope(20, 5)),
        ],
        args.budget,
    )
    report_spectrum(1 if args.quick else 3, args.budget)
    counts = [8, 12, 16, 20] if args.quick else [8, 12, 16, 20, 25, 30]
    scaling(counts, 2 if args.quick else 3, args.budget)
    if args.profile:
        profile(random_halfspace_polytope(20, 20001))


if __name__ == "__main__":
    main()
