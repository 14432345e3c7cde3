"""Generator families: registry, determinism, exact structured polytopes, validity."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from viterbo.families import (
    CATALOG,
    FAMILIES,
    FamilyGenerationError,
    FamilyParamsError,
    describe,
    generate,
    polytope_seed,
    product_ngon_angles,
)
from viterbo.families.base import Family, register_family
from viterbo.geometry import Polytope, as_lagrangian_product, as_symplectic_product, is_symplectic
from viterbo.geometry.volume import polygon_area, volume_cone_decomposition, volume_qhull

EXPECTED_FAMILIES = {
    "product-ngons",
    "halfspace",
    "halfspace-tangent",
    "sphere",
    "ball",
    "lagrangian-product",
    "symplectic-product",
    "catalog",
    "polygon",
    "symplectic-image",
}

NEARLY_UNBOUNDED = "nearly unbounded (diameter > max_diameter)"

# Small, fast parameters for each family (used by the validity and determinism checks).
SAMPLE_PARAMS: dict[str, dict] = {
    "product-ngons": {"k_P": 5, "k_Q": 4, "r": 1, "s": 7},
    "halfspace": {"facets": 10},
    "halfspace-tangent": {"facets": 10},
    "sphere": {"points": 12},
    "ball": {"points": 12},
    "lagrangian-product": {"points": 6},
    "symplectic-product": {"points": 6},
    "catalog": {"name": "24-cell"},
    "polygon": {"points": 8},
    "symplectic-image": {"base_family": "halfspace", "base_params": {"facets": 9}},
}


def test_registry_contents_and_docs() -> None:
    assert set(FAMILIES) == EXPECTED_FAMILIES
    text = describe()
    for name, family in FAMILIES.items():
        assert f"`{name}`" in text
        assert family.description
        for spec in family.params_schema.values():
            assert spec["type"] in {"integer", "number", "string", "object"} and spec["description"]


# ------------------------------------------------------------------------------ catalog


CATALOG_COUNTS = {
    "tesseract": (16, 8),
    "cross-polytope": (8, 16),
    "standard-simplex": (5, 5),
    "regular-simplex": (5, 5),
    "24-cell": (24, 24),
    "hko-pentagon-product": (25, 10),
    "square-x-diamond": (16, 8),
    "ngon-x-ngon": (25, 10),
    "triangle-x-triangle": (9, 6),
    "ch-6-vertex": (6, 9),
    "permutahedron": (120, 30),
}
CATALOG_VOLUMES = {
    "tesseract": 16.0,
    "cross-polytope": 2.0 / 3.0,
    "standard-simplex": 1.0 / 24.0,
    "regular-simplex": math.sqrt(5.0) / 24.0,  # edge sqrt(2): a^4 sqrt(5) / 96
    "24-cell": 2.0,
    "hko-pentagon-product": (2.5 * math.sin(2 * math.pi / 5)) ** 2,
    "square-x-diamond": 8.0,
    "ngon-x-ngon": (2.5 * math.sin(2 * math.pi / 5)) ** 2,
    "triangle-x-triangle": (3 * math.sqrt(3) / 4) ** 2,
    "ch-6-vertex": 1.0 / 8.0,
    "permutahedron": 125.0 * math.sqrt(5.0),  # n^(n-2) sqrt(n) for n = 5
}


def test_catalog_is_complete() -> None:
    assert set(CATALOG) == set(CATALOG_COUNTS) == set(CATALOG_VOLUMES)


@pytest.mark.parametrize("name", sorted(CATALOG_COUNTS))
def test_catalog_counts_and_volumes(name: str) -> None:
    polytope = generate("catalog", {"name": name}).polytope
    assert (polytope.num_vertices, polytope.num_facets) == CATALOG_COUNTS[name]
    assert volume_qhull(polytope) == pytest.approx(CATALOG_VOLUMES[name], rel=1e-12)
    assert volume_cone_decomposition(polytope) == pytest.approx(CATALOG_VOLUMES[name], rel=1e-12)


def test_catalog_ngon_parameter() -> None:
    for n in (3, 4, 7, 12):
        polytope = generate("catalog", {"name": "ngon-x-ngon", "n": n}).polytope
        assert (polytope.num_vertices, polytope.num_facets) == (n * n, 2 * n)
        area = n / 2 * math.sin(2 * math.pi / n)
        assert volume_qhull(polytope) == pytest.approx(area**2, rel=1e-12)


def test_catalog_lagrangian_two_face_facts() -> None:
    for name in ("cross-polytope", "24-cell"):
        polytope = generate("catalog", {"name": name}).polytope
        assert not any(polytope.is_lagrangian_two_face(*f) for f in polytope.two_faces())
    hko = generate("catalog", {"name": "hko-pentagon-product"}).polytope
    assert any(hko.is_lagrangian_two_face(*f) for f in hko.two_faces())


# ------------------------------------------------------------------------------ product n-gons


def test_hko_is_reproduced_by_product_ngons() -> None:
    hko = generate("catalog", {"name": "hko-pentagon-product"}).polytope
    assert (1, 20) in product_ngon_angles(5, 5, 20)
    family_member = generate("product-ngons", {"k_P": 5, "k_Q": 5, "r": 1, "s": 20}).polytope
    assert (family_member.num_facets, family_member.num_vertices) == (10, 25)
    # The reflection (q1, q2, p1, p2) -> (q1, -q2, p1, -p2) is the cotangent lift of an
    # orthogonal map (symplectic); it carries the family member onto HK-O exactly.
    reflection = np.diag([1.0, -1.0, 1.0, -1.0])
    assert is_symplectic(reflection)
    image = family_member.linear_image(reflection)
    rebuilt = Polytope.from_vertices(image.vertices)
    np.testing.assert_allclose(rebuilt.vertices, hko.vertices, atol=1e-12)
    np.testing.assert_allclose(rebuilt.normals, hko.normals, atol=1e-12)
    assert volume_qhull(family_member) == pytest.approx(volume_qhull(hko), rel=1e-13)
    # Rotating by -90 degrees (as in the paper) is the same set as rotating by -pi/10.
    minus_quarter = generate("product-ngons", {"k_P": 5, "k_Q": 5, "r": -1 % 4, "s": 4}).polytope
    np.testing.assert_allclose(minus_quarter.vertices, hko.vertices, atol=1e-12)


def test_product_ngons_is_exact_lagrangian_product() -> None:
    polytope = generate("product-ngons", {"k_P": 6, "k_Q": 4, "r": 1, "s": 30}).polytope
    assert (polytope.num_facets, polytope.num_vertices) == (10, 24)
    factors = as_lagrangian_product(polytope)
    assert factors is not None
    assert (factors[0].num_vertices, factors[1].num_vertices) == (6, 4)


def test_product_ngon_angles() -> None:
    assert product_ngon_angles(4, 4, 8) == [(0, 1), (1, 8)]
    angles = product_ngon_angles(5, 3, 60)
    assert angles[0] == (0, 1)
    values = [r / s for r, s in angles]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert all(0 <= v <= 1 / 30 for v in values) and (1, 30) in angles and (1, 60) in angles
    assert all(math.gcd(r, s) == 1 for r, s in angles)
    with pytest.raises(FamilyParamsError):
        product_ngon_angles(2, 5, 10)
    with pytest.raises(FamilyParamsError):
        product_ngon_angles(5, 5, 0)


def test_equivalent_rotations_give_equal_volumes() -> None:
    base = generate("product-ngons", {"k_P": 5, "k_Q": 5, "r": 1, "s": 20})
    shifted = generate("product-ngons", {"k_P": 5, "k_Q": 5, "r": 5, "s": 20})  # +2π/5
    mirrored = generate("product-ngons", {"k_P": 5, "k_Q": 5, "r": 3, "s": 20})  # 2π/5 - π/10
    for other in (shifted, mirrored):
        assert other.metadata["canonical_rotation_turns"] == [1, 20]
        assert volume_qhull(other.polytope) == pytest.approx(volume_qhull(base.polytope))


# ------------------------------------------------------------------------------ random families


def test_products_have_product_volume_and_structure() -> None:
    for index in range(10):
        lagrangian = generate("lagrangian-product", {"points": 7}, index).polytope
        factors = as_lagrangian_product(lagrangian)
        assert factors is not None
        expected = polygon_area(factors[0].vertices) * polygon_area(factors[1].vertices)
        assert volume_qhull(lagrangian) == pytest.approx(expected, rel=1e-12)
        symplectic = generate("symplectic-product", {"points": 7}, index).polytope
        assert as_symplectic_product(symplectic) is not None
        assert lagrangian.num_facets == lagrangian.num_vertices**0 * sum(
            f.num_vertices for f in factors
        )


def test_point_families_use_the_requested_number_of_points() -> None:
    sphere = generate("sphere", {"points": 30}, 0).polytope
    assert sphere.num_vertices == 30  # every point on S^3 is a vertex: not just simplices
    np.testing.assert_allclose(np.linalg.norm(sphere.vertices, axis=1), 1.0)
    ball = generate("ball", {"points": 60}, 0).polytope
    assert 5 < ball.num_vertices <= 60 and np.all(np.linalg.norm(ball.vertices, axis=1) <= 1.0)


def test_halfspace_families() -> None:
    for index in range(10):
        polytope = generate(
            "halfspace", {"facets": 15, "min_offset": 0.5, "max_offset": 2.0}, index
        ).polytope
        assert np.all(polytope.offsets >= 0.5 - 1e-12) and np.all(polytope.offsets <= 2.0 + 1e-12)
        tangent = generate("halfspace-tangent", {"facets": 15}, index).polytope
        np.testing.assert_allclose(tangent.offsets, 1.0)


def test_rejections_are_counted_and_deterministic() -> None:
    # Five random halfspaces in R^4 bound a simplex only with probability 1/16 (Wendel).
    draws = [generate("halfspace", {"facets": 5}, index) for index in range(20)]
    rejections = [d.metadata["rejections"] for d in draws]
    assert sum(rejections) > 20
    assert all(d.polytope.num_facets == 5 for d in draws)
    for d in draws:
        if d.metadata["rejections"]:
            reasons = d.metadata["rejection_reasons"]
            assert set(reasons) <= {"UnboundedPolytopeError", NEARLY_UNBOUNDED}
            assert sum(reasons.values()) == d.metadata["rejections"]
    again = generate("halfspace", {"facets": 5}, 7)
    assert again.metadata == draws[7].metadata
    assert again.polytope.vertices.tobytes() == draws[7].polytope.vertices.tobytes()


def test_nearly_unbounded_draws_are_rejected() -> None:
    draws = [
        generate("halfspace-tangent", {"facets": 12, "max_diameter": 8.0}, i) for i in range(10)
    ]
    assert all(d.polytope.diameter <= 8.0 for d in draws)
    assert any(NEARLY_UNBOUNDED in d.metadata.get("rejection_reasons", {}) for d in draws)


def test_generation_error_after_max_attempts() -> None:
    def always_unbounded(params, rng):
        return Polytope.from_halfspaces(np.eye(4), np.ones(4)), {}

    family = Family("test-unbounded", "always rejected", 4, {}, always_unbounded, max_attempts=3)
    register_family(family)
    try:
        with pytest.raises(FamilyGenerationError, match="after 3 draws"):
            generate("test-unbounded")
    finally:
        del FAMILIES["test-unbounded"]


# ------------------------------------------------------------------------------ symplectic image


def test_symplectic_image_keeps_volume_and_breaks_products() -> None:
    params = {"base_family": "lagrangian-product", "base_params": {"points": 6}, "base_index": 3}
    base = generate("lagrangian-product", {"points": 6}, 3)
    for index in range(5):
        image = generate("symplectic-image", params, index)
        assert image.metadata["base_seed"] == base.seed
        matrix = np.array(image.metadata["matrix"])
        assert is_symplectic(matrix)
        assert volume_qhull(image.polytope) == pytest.approx(volume_qhull(base.polytope), rel=1e-10)
        assert (image.polytope.num_vertices, image.polytope.num_facets) == (
            base.polytope.num_vertices,
            base.polytope.num_facets,
        )
        assert as_lagrangian_product(image.polytope) is None
        np.testing.assert_allclose(
            np.sort(image.polytope.vertices, axis=0),
            np.sort(base.polytope.vertices @ matrix.T, axis=0),
            atol=1e-12,
        )


def test_symplectic_image_fills_base_defaults() -> None:
    short = generate("symplectic-image", {"base_family": "sphere"}, 2)
    full = generate("symplectic-image", {"base_family": "sphere", "base_params": {"points": 20}}, 2)
    assert short.params == full.params and short.seed == full.seed
    assert short.polytope.vertices.tobytes() == full.polytope.vertices.tobytes()


def test_symplectic_image_of_a_polygon_is_area_preserving() -> None:
    image = generate("symplectic-image", {"base_family": "polygon"}, 0)
    base = generate("polygon", {}, 0)
    assert image.polytope.dim == 2
    assert polygon_area(image.polytope.vertices) == pytest.approx(
        polygon_area(base.polytope.vertices)
    )


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("family", sorted(SAMPLE_PARAMS))
def test_same_seed_same_bytes(family: str) -> None:
    params = SAMPLE_PARAMS[family]
    first = generate(family, params, 4)
    generate(family, params, 5)  # other draws in between change nothing
    generate("sphere", {"points": 9}, 4)
    second = generate(family, params, 4)
    assert first.seed == second.seed == polytope_seed(family, first.params, 4)
    for attribute in ("vertices", "normals", "offsets", "incidence"):
        assert (
            getattr(first.polytope, attribute).tobytes()
            == getattr(second.polytope, attribute).tobytes()
        )
    assert first.metadata == second.metadata and first.params == second.params


def test_seeds_depend_on_family_params_and_index_only() -> None:
    seeds = {
        polytope_seed("sphere", {"points": 20}, 0),
        polytope_seed("sphere", {"points": 20}, 1),
        polytope_seed("sphere", {"points": 21}, 0),
        polytope_seed("ball", {"points": 20}, 0),
    }
    assert len(seeds) == 4
    assert all(0 <= s < 2**63 for s in seeds)
    default = generate("sphere", None, 0)
    assert (
        default.seed
        == generate("sphere", {"points": 20}, 0).seed
        == polytope_seed("sphere", {"points": 20}, 0)
    )
    assert generate("sphere", {"points": 20.0}, 0).seed == default.seed  # JSON 20.0 is 20
    different = [
        generate("sphere", {"points": 10}, i).polytope.vertices.tobytes() for i in range(5)
    ]
    assert len(set(different)) == 5


def test_seed_derivation_is_pinned() -> None:
    # The derivation is part of every dataset's provenance: changing it re-rolls the atlas.
    key = b'sphere\n{"points":20}\n0'
    expected = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1
    assert polytope_seed("sphere", {"points": 20}, 0) == expected


# ------------------------------------------------------------------------------ validity


@pytest.mark.parametrize("family", sorted(SAMPLE_PARAMS))
def test_families_return_valid_full_dimensional_polytopes(family: str) -> None:
    count = 30 if family in {"catalog", "product-ngons"} else 60
    _check_valid(family, SAMPLE_PARAMS[family], count)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(SAMPLE_PARAMS))
def test_families_valid_over_hundreds_of_draws(family: str) -> None:
    _check_valid(family, SAMPLE_PARAMS[family], 260, start=60)  # with the above: 260 draws


def _check_valid(family: str, params: dict, stop: int, start: int = 0) -> None:
    expected_dim = FAMILIES[family].dimension
    for index in range(start, stop):
        polytope = generate(family, params, index).polytope
        dim = polytope.dim
        assert expected_dim is None or dim == expected_dim
        assert polytope.num_facets >= dim + 1 and polytope.num_vertices >= dim + 1
        assert np.all(np.isfinite(polytope.vertices)) and polytope.diameter < 1e3
        slack = polytope.normals @ polytope.vertices.T - polytope.offsets[:, None]
        assert slack.max() <= 1e-9
        assert volume_qhull(polytope) > 1e-6
        # Bounded and full-dimensional: the Chebyshev ball has positive radius.
        centre = polytope.chebyshev_center()
        assert np.min(polytope.offsets - polytope.normals @ centre) > 1e-6


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("family", "params", "index"),
    [
        ("no-such-family", {}, 0),
        (3, {}, 0),
        ("sphere", {"points": 4}, 0),
        ("sphere", {"points": 5.5}, 0),
        ("sphere", {"points": "20"}, 0),
        ("sphere", {"points": True}, 0),
        ("sphere", {"radius": 2}, 0),
        ("sphere", [("points", 20)], 0),
        ("sphere", {}, -1),
        ("sphere", {}, 1.5),
        ("halfspace", {"min_offset": 2.0, "max_offset": 1.0}, 0),
        ("halfspace", {"min_offset": float("nan")}, 0),
        ("halfspace", {"max_offset": 0.0}, 0),
        ("catalog", {}, 0),
        ("catalog", {"name": "dodecahedron"}, 0),
        ("catalog", {"name": "ngon-x-ngon", "n": 2}, 0),
        ("product-ngons", {"k_P": 2}, 0),
        ("product-ngons", {"s": 0}, 0),
        ("polygon", {"points": 2}, 0),
        ("symplectic-image", {}, 0),
        ("symplectic-image", {"base_family": "nope"}, 0),
        ("symplectic-image", {"base_family": "symplectic-image"}, 0),
        ("symplectic-image", {"base_family": "sphere", "base_params": {"points": 3}}, 0),
        ("symplectic-image", {"base_family": "sphere", "base_params": 5}, 0),
        ("symplectic-image", {"base_family": "sphere", "base_index": -2}, 0),
    ],
)
def test_bad_params_raise(family: object, params: object, index: object) -> None:
    with pytest.raises(FamilyParamsError):
        generate(family, params, index)  # type: ignore[arg-type]


def test_family_params_error_is_value_error() -> None:
    assert issubclass(FamilyParamsError, ValueError)
