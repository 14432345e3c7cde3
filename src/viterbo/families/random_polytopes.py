"""Random full-dimensional polytopes in R^4: halfspace and point-cloud families."""

from __future__ import annotations

from typing import Any

import numpy as np

from viterbo.families.base import Family, FamilyParamsError, Rejected, register_family
from viterbo.geometry import Polytope

DIMENSION = 4


def _unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` points uniform on the unit sphere S^3 (normalised Gaussians)."""
    gauss = rng.standard_normal((count, DIMENSION))
    return gauss / np.linalg.norm(gauss, axis=1)[:, None]


def _bounded(normals: np.ndarray, offsets: np.ndarray, max_diameter: float) -> Polytope:
    # Unbounded draws raise UnboundedPolytopeError, which the sampler counts and resamples.
    polytope = Polytope.from_halfspaces(normals, offsets)
    if polytope.diameter > max_diameter:
        # Normals that barely positively span R^4 give huge, needle-like polytopes.
        raise Rejected("nearly unbounded (diameter > max_diameter)")
    return polytope


def _halfspace(params: dict[str, Any], rng: np.random.Generator) -> tuple[Polytope, dict[str, Any]]:
    count = params["facets"]
    normals = _unit_vectors(rng, count)
    offsets = rng.uniform(params["min_offset"], params["max_offset"], count)
    polytope = _bounded(normals, offsets, params["max_diameter"])
    return polytope, {"drawn_halfspaces": count}


def _halfspace_tangent(
    params: dict[str, Any], rng: np.random.Generator
) -> tuple[Polytope, dict[str, Any]]:
    count = params["facets"]
    normals = _unit_vectors(rng, count)
    polytope = _bounded(normals, np.ones(count), params["max_diameter"])
    return polytope, {"drawn_halfspaces": count}


def _sphere(params: dict[str, Any], rng: np.random.Generator) -> tuple[Polytope, dict[str, Any]]:
    return Polytope.from_vertices(_unit_vectors(rng, params["points"])), {}


def _ball(params: dict[str, Any], rng: np.random.Generator) -> tuple[Polytope, dict[str, Any]]:
    count = params["points"]
    # Uniform in B^4: uniform direction, radius with density ~ r^3, i.e. U^(1/4).
    radii = rng.uniform(0.0, 1.0, count) ** (1.0 / DIMENSION)
    return Polytope.from_vertices(_unit_vectors(rng, count) * radii[:, None]), {}


def _check_offset_range(params: dict[str, Any]) -> dict[str, Any]:
    if params["min_offset"] > params["max_offset"]:
        raise FamilyParamsError(
            f"halfspace: min_offset ({params['min_offset']}) must be <= max_offset "
            f"({params['max_offset']})"
        )
    return params


_FACETS = {
    "type": "integer",
    "minimum": 5,
    "maximum": 500,
    "default": 12,
    "description": "number of random halfspaces drawn (redundant ones are dropped)",
}
_MAX_DIAMETER = {
    "type": "number",
    "minimum": 1.0,
    "maximum": 1e6,
    "default": 1000.0,
    "description": "draws with a larger diameter are rejected as nearly unbounded",
}
_POINTS = {
    "type": "integer",
    "minimum": 5,
    "maximum": 5000,
    "default": 20,
    "description": "number of random points whose convex hull is taken",
}

register_family(
    Family(
        name="halfspace",
        description=(
            "Intersection of F halfspaces <n_i, x> <= h_i with n_i uniform on S^3 and h_i uniform "
            "in [min_offset, max_offset]; unbounded draws (and nearly unbounded ones, diameter > max_diameter) are rejected and resampled."
        ),
        dimension=DIMENSION,
        params_schema={
            "facets": _FACETS,
            "min_offset": {
                "type": "number",
                "minimum": 0.01,
                "maximum": 100.0,
                "default": 0.5,
                "description": "lower end of the offset range",
            },
            "max_offset": {
                "type": "number",
                "minimum": 0.01,
                "maximum": 100.0,
                "default": 2.0,
                "description": "upper end of the offset range (>= min_offset)",
            },
            "max_diameter": _MAX_DIAMETER,
        },
        generate=_halfspace,
        normalize=_check_offset_range,
    )
)

register_family(
    Family(
        name="halfspace-tangent",
        description=(
            "Intersection of F halfspaces tangent to the unit ball (n_i uniform on S^3, all "
            "offsets 1); unbounded draws (and nearly unbounded ones, diameter > max_diameter) are rejected and resampled."
        ),
        dimension=DIMENSION,
        params_schema={"facets": _FACETS, "max_diameter": _MAX_DIAMETER},
        generate=_halfspace_tangent,
    )
)

register_family(
    Family(
        name="sphere",
        description="Convex hull of N points uniform on the unit sphere S^3 (all of them are vertices).",
        dimension=DIMENSION,
        params_schema={"points": _POINTS},
        generate=_sphere,
    )
)

register_family(
    Family(
        name="ball",
        description="Convex hull of N points uniform in the unit ball B^4 (some are interior).",
        dimension=DIMENSION,
        params_schema={"points": _POINTS},
        generate=_ball,
    )
)
