"""Search spaces: fixed-facet-count parametrisations of polytopes in R^4.

A space maps a parameter vector ``x`` to raw halfspaces ``(normals, offsets)`` (one row per
parameter facet, before canonicalisation), pulls a gradient with respect to those
halfspaces back to ``x``, and fixes the gauge (translation and scale, which leave the
systolic ratio unchanged) so that long climbs stay well conditioned.

* :class:`HalfspaceSpace` -- general polytopes ``{<n_i, x> <= h_i}`` with ``m`` facets;
  ``x`` holds the (unnormalised) normals and the offsets.
* :class:`LagrangianProductSpace` -- ``K x T`` with ``K`` a k-gon in the q-plane and ``T``
  an l-gon in the p-plane; ``x`` holds each polygon's normal angles and support numbers.
* :class:`SymplecticProductSpace` -- ``P1 x P2`` with ``P1`` in ``(q1, p1)`` and ``P2`` in
  ``(q2, p2)``, parametrised like the Lagrangian products.

Parameter vectors are plain float arrays and every space is described by a JSON-able
``spec`` (:func:`space_from_spec` rebuilds it), so a search's state is JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from viterbo.geometry import GeometryError, Polytope
from viterbo.geometry.products import as_lagrangian_product, as_symplectic_product
from viterbo.geometry.volume import polygon_area, volume_qhull


class SearchSpaceError(ValueError):
    """A parameter vector or a space description that does not define a polytope."""


class SearchSpace(Protocol):
    """What the climb needs from a space (see the module docstring)."""

    name: str

    @property
    def spec(self) -> dict[str, Any]: ...

    @property
    def num_facets(self) -> int: ...

    def halfspaces(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def pullback(self, x: np.ndarray, d_normals: np.ndarray, d_offsets: np.ndarray) -> np.ndarray:
        """The gradient with respect to ``x`` from one with respect to the raw halfspaces."""
        ...

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """The same polytope up to translation and scale, in a fixed gauge."""
        ...

    def random_start(self, rng: np.random.Generator) -> np.ndarray: ...

    def from_polytope(self, polytope: Polytope) -> np.ndarray: ...


def polytope_of(space: SearchSpace, x: np.ndarray) -> Polytope:
    """The canonical polytope of ``x`` (``SearchSpaceError`` if it is not a bounded body)."""
    normals, offsets = space.halfspaces(np.asarray(x, dtype=float))
    try:
        return Polytope.from_halfspaces(normals, offsets)
    except GeometryError as exc:
        raise SearchSpaceError(f"parameters give no polytope: {exc}") from exc


@dataclass(frozen=True)
class HalfspaceSpace:
    """General polytopes in R^4 with ``facets`` halfspaces; ``x = (normals.ravel(), offsets)``."""

    facets: int
    name: str = "halfspace"

    def __post_init__(self) -> None:
        if not 5 <= self.facets <= 64:
            raise SearchSpaceError(f"a halfspace search needs 5..64 facets, got {self.facets}")

    @property
    def spec(self) -> dict[str, Any]:
        return {"space": self.name, "facets": self.facets}

    @property
    def num_facets(self) -> int:
        return self.facets

    def _split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.facets
        if x.shape != (5 * m,):
            raise SearchSpaceError(f"expected {5 * m} parameters, got {x.shape}")
        return x[: 4 * m].reshape(m, 4), x[4 * m :]

    def halfspaces(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw, offsets = self._split(x)
        lengths = np.linalg.norm(raw, axis=1)
        if np.any(lengths <= 1e-12):
            raise SearchSpaceError("a normal vanished")
        # {<u, x> <= h} = {<u/|u|, x> <= h/|u|}: the space works with unit normals.
        return raw / lengths[:, None], offsets / lengths

    def pullback(self, x: np.ndarray, d_normals: np.ndarray, d_offsets: np.ndarray) -> np.ndarray:
        raw, offsets = self._split(x)
        lengths = np.linalg.norm(raw, axis=1)
        unit = raw / lengths[:, None]
        # n = u/|u|, h' = h/|u|: chain rule through the normalisation.
        d_raw = (d_normals - np.einsum("ij,ij->i", d_normals, unit)[:, None] * unit) / lengths[
            :, None
        ]
        d_raw -= (d_offsets * offsets / lengths**2)[:, None] * unit
        return np.concatenate([d_raw.ravel(), d_offsets / lengths])

    def normalise(self, x: np.ndarray) -> np.ndarray:
        normals, offsets = self.halfspaces(x)
        polytope = polytope_of(self, x)
        centre = polytope.vertices.mean(axis=0)
        offsets = offsets - normals @ centre
        polytope = polytope.translate(-centre)
        volume = volume_qhull(polytope)
        return np.concatenate([normals.ravel(), offsets / volume**0.25])

    def random_start(self, rng: np.random.Generator) -> np.ndarray:
        # Unit normals uniform on the sphere and unit offsets; redraw until every halfspace
        # is a facet of a bounded polytope (so the start has the space's facet count).
        for _ in range(1000):
            normals = rng.standard_normal((self.facets, 4))
            normals /= np.linalg.norm(normals, axis=1)[:, None]
            try:
                polytope = Polytope.from_halfspaces(normals, np.ones(self.facets))
            except GeometryError:
                continue
            if polytope.num_facets == self.facets:
                return self.normalise(np.concatenate([normals.ravel(), np.ones(self.facets)]))
        raise SearchSpaceError(f"no bounded random polytope with {self.facets} facets found")

    def from_polytope(self, polytope: Polytope) -> np.ndarray:
        if polytope.dim != 4 or polytope.num_facets != self.facets:
            raise SearchSpaceError(
                f"the start has {polytope.num_facets} facets in R^{polytope.dim}; "
                f"the space has {self.facets} in R^4"
            )
        return self.normalise(np.concatenate([polytope.normals.ravel(), polytope.offsets]))


# Coordinates (in R^4) of the two planes of each kind of product.
_LAGRANGIAN_PLANES = ((0, 1), (2, 3))
_SYMPLECTIC_PLANES = ((0, 2), (1, 3))


@dataclass(frozen=True)
class _ProductSpace:
    """Products of a k-gon and an l-gon; ``x = (angles_1, supports_1, angles_2, supports_2)``."""

    k: int
    l: int  # noqa: E741 (the issue's and the literature's name for the second polygon)
    name: str = "product"
    planes: tuple[tuple[int, int], tuple[int, int]] = _LAGRANGIAN_PLANES
    jitter: float = 0.5  # of random starts (see random_start); not part of the space

    def __post_init__(self) -> None:
        if not (3 <= self.k <= 32 and 3 <= self.l <= 32):
            raise SearchSpaceError(f"polygons need 3..32 sides, got {self.k} and {self.l}")
        if not 0.0 <= self.jitter < 1.0:
            raise SearchSpaceError(f"jitter must be in [0, 1), got {self.jitter}")

    @property
    def spec(self) -> dict[str, Any]:
        return {"space": self.name, "k": self.k, "l": self.l, "jitter": self.jitter}

    @property
    def num_facets(self) -> int:
        return self.k + self.l

    def _factors(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if x.shape != (2 * (self.k + self.l),):
            raise SearchSpaceError(f"expected {2 * (self.k + self.l)} parameters, got {x.shape}")
        k = self.k
        first, second = x[: 2 * k], x[2 * k :]
        return [(first[:k], first[k:]), (second[: self.l], second[self.l :])]

    def halfspaces(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        normals, offsets = [], []
        for (angles, supports), plane in zip(self._factors(x), self.planes, strict=True):
            block = np.zeros((len(angles), 4))
            block[:, plane[0]], block[:, plane[1]] = np.cos(angles), np.sin(angles)
            normals.append(block)
            offsets.append(supports)
        return np.vstack(normals), np.concatenate(offsets)

    def pullback(self, x: np.ndarray, d_normals: np.ndarray, d_offsets: np.ndarray) -> np.ndarray:
        parts, row = [], 0
        for (angles, _), plane in zip(self._factors(x), self.planes, strict=True):
            rows = slice(row, row + len(angles))
            # d n / d theta = (-sin, cos) in the factor's plane.
            d_angles = (
                -np.sin(angles) * d_normals[rows, plane[0]]
                + np.cos(angles) * d_normals[rows, plane[1]]
            )
            parts += [d_angles, d_offsets[rows]]
            row += len(angles)
        return np.concatenate(parts)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        # Translations of either factor change neither c nor vol: centre each polygon at
        # its vertex centroid. Scaling: see _scales.
        angles, centred, areas = [], [], []
        for theta, supports in self._factors(x):
            normals = np.c_[np.cos(theta), np.sin(theta)]
            polygon = _polygon(normals, supports)
            angles.append(np.mod(theta, 2 * np.pi))
            centred.append(supports - normals @ polygon.vertices.mean(axis=0))
            areas.append(polygon_area(polygon.vertices))
        scales = self._scales(areas[0], areas[1])
        return np.concatenate(
            [angles[0], centred[0] * scales[0], angles[1], centred[1] * scales[1]]
        )

    def _scales(self, area_1: float, area_2: float) -> tuple[float, float]:
        # Lagrangian: (q, p) -> (λq, μp) is conformally symplectic, so c(λK x μT) =
        # λμ c(K x T) while vol scales by (λμ)^2: give each polygon area 1.
        return 1.0 / np.sqrt(area_1), 1.0 / np.sqrt(area_2)

    def random_start(self, rng: np.random.Generator) -> np.ndarray:
        # A random convex k-gon inscribed in the unit circle: a random orientation, and each
        # vertex moved off the regular position by up to `jitter` of half the angular gap.
        # Uniform random angles (jitter 1 and beyond) start many climbs next to polygons
        # with a vanishing side, which end on the boundary of the fixed-facet-count space.
        parts = []
        for sides in (self.k, self.l):
            gap = 2 * np.pi / sides
            angles = (
                rng.uniform(0.0, 2 * np.pi)
                + gap * np.arange(sides)
                + rng.uniform(-self.jitter, self.jitter, sides) * gap / 2
            )
            polygon = Polytope.from_vertices(np.c_[np.cos(angles), np.sin(angles)])
            parts += list(_support_parameters(polygon))
        return self.normalise(np.concatenate(parts))

    def from_polytope(self, polytope: Polytope) -> np.ndarray:
        split = (
            as_lagrangian_product if self.planes == _LAGRANGIAN_PLANES else as_symplectic_product
        )
        factors = split(polytope)
        if factors is None or (factors[0].num_facets, factors[1].num_facets) != (self.k, self.l):
            raise SearchSpaceError(
                f"the start is not a {self.name} of a {self.k}-gon and an {self.l}-gon"
            )
        return self.normalise(np.concatenate([p for f in factors for p in _support_parameters(f)]))


@dataclass(frozen=True)
class LagrangianProductSpace(_ProductSpace):
    """``K x T``: a k-gon ``K`` in the q-plane, an l-gon ``T`` in the p-plane."""

    name: str = "lagrangian-product"
    planes: tuple[tuple[int, int], tuple[int, int]] = _LAGRANGIAN_PLANES


@dataclass(frozen=True)
class SymplecticProductSpace(_ProductSpace):
    """``P1 x P2``: a k-gon in the (q1, p1)-plane, an l-gon in the (q2, p2)-plane."""

    name: str = "symplectic-product"
    planes: tuple[tuple[int, int], tuple[int, int]] = _SYMPLECTIC_PLANES

    def _scales(self, area_1: float, area_2: float) -> tuple[float, float]:
        # c = min(area_1, area_2) is not invariant under scaling one factor: only a common
        # scale is a gauge. Scale both so that vol = area_1 * area_2 = 1.
        common = (area_1 * area_2) ** -0.25
        return common, common


SPACES: dict[str, type] = {
    "halfspace": HalfspaceSpace,
    "lagrangian-product": LagrangianProductSpace,
    "symplectic-product": SymplecticProductSpace,
}


def space_from_spec(spec: dict[str, Any]) -> SearchSpace:
    """Rebuild a space from its ``spec`` (``{"space": name, ...sizes}``)."""
    params = dict(spec)
    name = params.pop("space", None)
    if name not in SPACES:
        raise SearchSpaceError(f"unknown search space {name!r} (known: {', '.join(SPACES)})")
    try:
        return SPACES[name](**{k: float(v) if k == "jitter" else int(v) for k, v in params.items()})
    except (TypeError, ValueError) as exc:
        raise SearchSpaceError(f"bad parameters for the {name} space: {exc}") from None


def _polygon(normals: np.ndarray, supports: np.ndarray) -> Polytope:
    try:
        return Polytope.from_halfspaces(normals, supports)
    except GeometryError as exc:
        raise SearchSpaceError(f"a factor is no polygon: {exc}") from exc


def _support_parameters(polygon: Polytope) -> tuple[np.ndarray, np.ndarray]:
    normals = polygon.normals
    return np.arctan2(normals[:, 1], normals[:, 0]), np.asarray(polygon.offsets, dtype=float)


def parse_space(text: str) -> SearchSpace:
    """A space from its command-line name: ``halfspace:M``, ``lagrangian-product:K,L``,
    ``symplectic-product:K,L`` (``SearchSpaceError`` naming the valid forms otherwise)."""
    name, _, sizes = text.partition(":")
    forms = "halfspace:M, lagrangian-product:K,L or symplectic-product:K,L"
    try:
        numbers = [int(s) for s in sizes.split(",")] if sizes else []
    except ValueError:
        raise SearchSpaceError(f"bad search space {text!r}: expected {forms}") from None
    if name == "halfspace" and len(numbers) == 1:
        return HalfspaceSpace(numbers[0])
    if name in ("lagrangian-product", "symplectic-product") and len(numbers) == 2:
        return space_from_spec({"space": name, "k": numbers[0], "l": numbers[1]})
    raise SearchSpaceError(f"bad search space {text!r}: expected {forms}")
