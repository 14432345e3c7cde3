"""Capacity benchmarks: haim-kislev and billiard against the issue-4 targets.

Run: ``.venv/bin/python benchmarks/capacity.py [--quick]``. Prints medians of repeated runs,
the ratio to each target (< 1 meets it), candidates examined per second, haim-kislev's compiled
stationary-point solve against the numpy one, and the scaling of haim-kislev with the facet
count (6..14 facets, generic polytopes and Lagrangian products).
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from viterbo.geometry import Polytope, lagrangian_product
from viterbo.invariants import billiard, haim_kislev


def regular_polygon(m: int, phase: float = 0.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(m) / m + phase
    return np.column_stack([np.cos(angles), np.sin(angles)])


def hko() -> Polytope:
    pentagon = regular_polygon(5)
    return lagrangian_product(pentagon, pentagon @ np.array([[0.0, 1.0], [-1.0, 0.0]]).T)


def tesseract() -> Polytope:
    return Polytope.from_vertices(np.array(list(itertools.product([-1.0, 1.0], repeat=4))))


def random_polytope(seed: int, facets: int) -> Polytope:
    rng = np.random.default_rng(seed)
    while True:
        normals = rng.standard_normal((facets, 4))
        normals /= np.linalg.norm(normals, axis=1)[:, None]
        try:
            polytope = Polytope.from_halfspaces(normals, np.ones(facets))
        except ValueError:
            continue
        if polytope.num_facets == facets:
            return polytope


def lagrangian_of(facets: int) -> Polytope:
    m_k = facets // 2
    return lagrangian_product(regular_polygon(m_k), regular_polygon(facets - m_k, 0.3))


def median_run(
    fn: Callable[[Polytope], dict[str, Any]], polytope: Polytope, repeats: int
) -> tuple[float, dict[str, Any]]:
    times, result = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(polytope)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def report(label: str, seconds: float, target: float, result: dict[str, Any]) -> None:
    diag = result.get("diagnostics", {})
    extra = ""
    if "cycles_examined" in diag:
        rate = diag["candidates_solved"] / max(diag["solve_seconds"], 1e-9)
        extra = (
            f"  cycles {diag['cycles_examined']:>8}  supports {diag['supports']:>5}"
            f"  enum {diag['enumeration_seconds']:.3f}s  solve {diag['solve_seconds']:.3f}s"
            f"  {rate:,.0f} candidates/s  {diag['cycles_examined'] / max(seconds, 1e-9):,.0f} cycles/s"
        )
    if "lps_solved" in diag:
        extra = f"  LPs {diag['lps_solved']}/{diag['balanced_tuples']} in {diag['lp_calls']} calls"
    goal = (
        f"target {target * 1e3:7.0f} ms  ratio {seconds / target:5.2f}"
        if math.isfinite(target)
        else " " * 29
    )
    print(f"{label:<40} median {seconds * 1e3:9.1f} ms  {goal}  c = {result['value']:.10f}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 14-facet runs")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    slow_repeats = 1 if args.quick else 3

    print("== haim-kislev ==")
    hk = haim_kislev.compute
    for label, polytope, target, reps in [
        ("tesseract (8 facets)", tesseract(), 0.05, repeats),
        ("HK-O pentagon product (10 facets)", hko(), 0.5, repeats),
        ("random polytope (12 facets)", random_polytope(1, 12), 10.0, slow_repeats),
        ("hexagon x hexagon (12 facets)", lagrangian_of(12), 10.0, slow_repeats),
        (
            "pentagon x heptagon (12 facets)",
            lagrangian_product(regular_polygon(5), regular_polygon(7, 0.1)),
            10.0,
            slow_repeats,
        ),
    ]:
        seconds, result = median_run(hk, polytope, reps)
        report(label, seconds, target, result)

    print("== haim-kislev stationary points: compiled kernel vs numpy (solve stage only) ==")
    haim_kislev.ensure_compiled()  # compile or cache load, not timed
    engines = [
        ("hexagon x hexagon (12 facets)", lagrangian_of(12)),
        ("random polytope (14 facets)", random_polytope(14, 14)),
    ]
    if not args.quick:  # the atlas-small polytope that held a worker for 17-20 s
        engines.append(("heptagon x octagon (15 facets)", lagrangian_of(15)))
    for label, polytope in engines:
        solve = {}
        for engine in ("numpy", "compiled"):
            normals, offsets, _ = haim_kislev._translated(polytope)
            _, stats = haim_kislev.maximise_q(normals, offsets, polytope.incidence, engine=engine)
            solve[engine] = stats.solve_seconds
        print(
            f"{label:<40} cycles {stats.cycles:>9}  solve numpy {solve['numpy']:7.3f} s  "
            f"compiled {solve['compiled']:7.3f} s  speed-up {solve['numpy'] / solve['compiled']:5.1f}x"
        )

    print("== billiard ==")
    for label, polytope, target in [
        ("HK-O pentagon product", hko(), 0.02),
        ("12-gon x 12-gon", lagrangian_product(regular_polygon(12), regular_polygon(12, 0.1)), 0.3),
    ]:
        seconds, result = median_run(billiard.compute, polytope, repeats)
        report(label, seconds, target, result)

    print("== haim-kislev scaling with the facet count ==")
    top = 12 if args.quick else 14
    for facets in range(6, top + 1):
        generic = random_polytope(facets, facets)
        seconds, result = median_run(hk, generic, 1)
        report(f"random, {facets} facets", seconds, math.inf, result)
        seconds, result = median_run(hk, lagrangian_of(facets), 1)
        report(f"Lagrangian n-gon product, {facets} facets", seconds, math.inf, result)


if __name__ == "__main__":
    main()
