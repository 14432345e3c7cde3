"""Geometry benchmarks: volume (target <= 2 ms for a 4-D polytope with 30 facets) and
hull / halfspace canonicalisation.

Run: ``.venv/bin/python benchmarks/geometry.py`` (prints medians and the ratio to each target).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from viterbo.families import generate
from viterbo.geometry import Polytope, lagrangian_product
from viterbo.geometry.volume import volume_cone_decomposition, volume_qhull

VOLUME_TARGET_S = 2e-3


def median_seconds(function: Callable[[], object], repeats: int = 30) -> tuple[float, float]:
    """Median and best wall time of ``function()`` over ``repeats`` runs (after a warm-up).

    The best run is shown too: on a shared, loaded machine it is the steadier estimate.
    """
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def report(label: str, timing: tuple[float, float], target: float | None = None) -> None:
    seconds, best = timing
    line = f"{label:<58s} median {seconds * 1e3:8.3f} ms (best {best * 1e3:7.3f})"
    if target is not None:
        line += f"   target {target * 1e3:.1f} ms   ratio {seconds / target:5.2f}"
    print(line)


def thirty_facet_polytopes() -> dict[str, Polytope]:
    tangent = generate("halfspace-tangent", {"facets": 30}, 0).polytope
    permutahedron = generate("catalog", {"name": "permutahedron"}).polytope
    assert tangent.num_facets == 30 and permutahedron.num_facets == 30
    return {
        f"halfspace-tangent F=30 (V={tangent.num_vertices})": tangent,
        f"permutahedron F=30 (V={permutahedron.num_vertices})": permutahedron,
    }


def fresh(polytope: Polytope) -> Polytope:
    """A copy without cached faces (the face lattice is recomputed, as in a fresh job)."""
    return Polytope(polytope.vertices, polytope.normals, polytope.offsets, polytope.incidence)


def main() -> None:
    print("== volume, 4-D polytopes with 30 facets ==")
    for name, polytope in thirty_facet_polytopes().items():
        report(
            f"qhull               {name}",
            median_seconds(lambda p=polytope: volume_qhull(p)),
            VOLUME_TARGET_S,
        )
        report(
            f"cone-decomposition  {name}",
            median_seconds(lambda p=polytope: volume_cone_decomposition(fresh(p))),
            VOLUME_TARGET_S,
        )
        report(
            f"  (2-faces cached)  {name}",
            median_seconds(lambda p=polytope: volume_cone_decomposition(p)),
            VOLUME_TARGET_S,
        )

    print("== canonicalisation ==")
    rng = np.random.default_rng(0)
    for count in (10, 30, 100, 300):
        points = rng.standard_normal((count, 4))
        points /= np.linalg.norm(points, axis=1)[:, None]
        report(
            f"from_vertices: {count} points on S^3",
            median_seconds(lambda p=points: Polytope.from_vertices(p), 10),
        )
    for facets in (10, 30, 100):
        normals = rng.standard_normal((facets, 4))
        offsets = rng.uniform(0.5, 2.0, facets)
        bounded = normals.copy()
        try:
            Polytope.from_halfspaces(bounded, offsets)
        except ValueError:
            bounded = np.vstack([normals, np.eye(4), -np.eye(4)])
            offsets = np.concatenate([offsets, 2 * np.ones(8)])
        report(
            f"from_halfspaces: {len(bounded)} random halfspaces",
            median_seconds(lambda n=bounded, h=offsets: Polytope.from_halfspaces(n, h), 10),
        )
    pentagon = np.c_[np.cos(2 * np.pi * np.arange(5) / 5), np.sin(2 * np.pi * np.arange(5) / 5)]
    report(
        "lagrangian_product: pentagon x pentagon (exact)",
        median_seconds(lambda: lagrangian_product(pentagon, pentagon)),
    )
    tangent = generate("halfspace-tangent", {"facets": 30}, 0).polytope
    report(
        "two_faces(): halfspace-tangent F=30", median_seconds(lambda: fresh(tangent).two_faces())
    )

    print("== families (one polytope, including rejections) ==")
    for family, params in [
        ("halfspace", {"facets": 12}),
        ("halfspace-tangent", {"facets": 12}),
        ("sphere", {"points": 20}),
        ("ball", {"points": 20}),
        ("lagrangian-product", {"points": 6}),
        ("symplectic-image", {"base_family": "sphere"}),
    ]:
        counter = iter(range(10**9))
        report(
            f"generate {family} {params}",
            median_seconds(lambda f=family, p=params, c=counter: generate(f, p, next(c)), 20),
        )


if __name__ == "__main__":
    main()
