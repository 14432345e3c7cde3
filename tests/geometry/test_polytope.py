"""Canonical form, faces and transformations of Polytope."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from viterbo.geometry import (
    DegeneratePolytopeError,
    EmptyPolytopeError,
    GeometryError,
    InvalidInputError,
    Polytope,
    UnboundedPolytopeError,
    block_rotation,
    random_symplectic_matrix,
)


def test_tesseract_counts_and_exact_h_representation(tesseract: Polytope) -> None:
    assert (tesseract.num_vertices, tesseract.num_facets, tesseract.dim) == (16, 8, 4)
    np.testing.assert_allclose(np.abs(tesseract.normals).sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(tesseract.offsets, 1.0, atol=1e-14)
    assert tesseract.incidence.sum(axis=1).tolist() == [8] * 8
    assert tesseract.incidence.sum(axis=0).tolist() == [4] * 16
    assert len(tesseract.two_faces()) == 24


def test_cross_polytope_and_24_cell_counts(
    cross_polytope: Polytope, twenty_four_cell: Polytope
) -> None:
    assert (cross_polytope.num_vertices, cross_polytope.num_facets) == (8, 16)
    np.testing.assert_allclose(cross_polytope.offsets, 0.5, atol=1e-14)
    assert (twenty_four_cell.num_vertices, twenty_four_cell.num_facets) == (24, 24)
    assert len(twenty_four_cell.two_faces()) == 96
    # Neither has a Lagrangian 2-face (MATH.md §2).
    for polytope in (cross_polytope, twenty_four_cell):
        assert not any(polytope.is_lagrangian_two_face(i, j) for i, j in polytope.two_faces())


def test_tesseract_has_lagrangian_two_faces(tesseract: Polytope) -> None:
    lagrangian = [f for f in tesseract.two_faces() if tesseract.is_lagrangian_two_face(*f)]
    # Pairs of normals e_a, e_b with {a, b} not a (q_k, p_k) pair: 24 - 2 * 4 = 16.
    assert len(lagrangian) == 16


def test_duplicates_and_interior_points_are_removed(tesseract: Polytope) -> None:
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    rng = np.random.default_rng(3)
    interior = rng.uniform(-0.9, 0.9, (40, 4))
    edge_midpoints = (corners[:4] + corners[1:5]) / 2  # may lie on edges or faces
    noisy_copies = corners + 1e-13 * rng.standard_normal(corners.shape)
    polytope = Polytope.from_vertices(np.vstack([corners, interior, edge_midpoints, noisy_copies]))
    assert (polytope.num_vertices, polytope.num_facets) == (16, 8)
    np.testing.assert_allclose(polytope.vertices, tesseract.vertices, atol=1e-12)


def test_coplanar_boundary_points_merge_into_facets() -> None:
    # Many points on each facet of the cube: Qhull triangulates, the facets must be merged.
    rng = np.random.default_rng(6)
    points = rng.uniform(-1.0, 1.0, (400, 4))
    axis = rng.integers(0, 4, 400)
    points[np.arange(400), axis] = rng.choice([-1.0, 1.0], 400)
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    polytope = Polytope.from_vertices(np.vstack([points, corners]))
    assert (polytope.num_vertices, polytope.num_facets) == (16, 8)
    assert polytope.incidence.sum() == 64


def test_far_from_origin_and_tiny_or_huge_scales(tesseract: Polytope) -> None:
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    for shift, scale in [(1e6, 1.0), (0.0, 1e-6), (0.0, 1e6), (-3e4, 1e3)]:
        polytope = Polytope.from_vertices(corners * scale + shift)
        assert (polytope.num_vertices, polytope.num_facets) == (16, 8)
        again = Polytope.from_halfspaces(polytope.normals, polytope.offsets)
        assert (again.num_vertices, again.num_facets) == (16, 8)
        np.testing.assert_allclose(again.vertices, polytope.vertices, rtol=1e-9, atol=1e-9 * scale)


def test_non_simple_polytopes_from_halfspaces(
    cross_polytope: Polytope, twenty_four_cell: Polytope
) -> None:
    for polytope in (cross_polytope, twenty_four_cell):
        again = Polytope.from_halfspaces(polytope.normals, polytope.offsets)
        assert (again.num_vertices, again.num_facets) == (
            polytope.num_vertices,
            polytope.num_facets,
        )
        np.testing.assert_allclose(again.vertices, polytope.vertices, atol=1e-12)
        np.testing.assert_array_equal(again.incidence, polytope.incidence)


def test_from_halfspaces_drops_redundant_and_duplicate_rows() -> None:
    normals = np.vstack([np.eye(4), -np.eye(4), 3 * np.eye(4), [[1, 1, 0, 0]], [[1, 1e-14, 0, 0]]])
    offsets = np.concatenate([np.ones(8), 3 * np.ones(4), [5.0], [1.0]])
    polytope = Polytope.from_halfspaces(normals, offsets)
    assert (polytope.num_vertices, polytope.num_facets) == (16, 8)
    np.testing.assert_allclose(np.abs(polytope.vertices), 1.0, atol=1e-12)


def test_weakly_redundant_halfspace_through_a_vertex_is_dropped() -> None:
    normals = np.vstack([np.eye(4), -np.eye(4), [[1, 1, 1, 1]]])
    offsets = np.concatenate([np.ones(8), [4.0]])  # touches the cube only at (1, 1, 1, 1)
    polytope = Polytope.from_halfspaces(normals, offsets)
    assert (polytope.num_vertices, polytope.num_facets) == (16, 8)


def test_vertex_and_halfspace_constructors_agree() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        polytope = Polytope.from_vertices(rng.standard_normal((25, 4)))
        again = Polytope.from_halfspaces(polytope.normals * 2.5, polytope.offsets * 2.5)
        assert (again.num_vertices, again.num_facets) == (
            polytope.num_vertices,
            polytope.num_facets,
        )
        np.testing.assert_allclose(again.vertices, polytope.vertices, atol=1e-9)
        np.testing.assert_allclose(again.normals, polytope.normals, atol=1e-9)
        np.testing.assert_allclose(again.offsets, polytope.offsets, atol=1e-9)
        np.testing.assert_array_equal(again.incidence, polytope.incidence)


def test_every_facet_has_d_independent_vertices_and_vertices_are_feasible() -> None:
    rng = np.random.default_rng(11)
    for n_points in (5, 9, 40):
        polytope = Polytope.from_vertices(rng.standard_normal((n_points, 4)))
        slack = polytope.normals @ polytope.vertices.T - polytope.offsets[:, None]
        assert slack.max() <= 1e-12
        np.testing.assert_array_equal(np.abs(slack) <= polytope.tolerance(), polytope.incidence)
        for i in range(polytope.num_facets):
            on_facet = polytope.vertices[polytope.facet_vertices(i)]
            assert np.linalg.matrix_rank(on_facet[1:] - on_facet[0], tol=1e-9) == 3
        np.testing.assert_allclose(np.linalg.norm(polytope.normals, axis=1), 1.0, atol=1e-14)


def test_arrays_are_read_only(tesseract: Polytope) -> None:
    for array in (tesseract.vertices, tesseract.normals, tesseract.offsets, tesseract.incidence):
        with pytest.raises(ValueError):
            array[0] = 0


def test_pickle_round_trip_keeps_arrays_read_only(tesseract: Polytope) -> None:
    clone = pickle.loads(pickle.dumps(tesseract))
    np.testing.assert_array_equal(clone.vertices, tesseract.vertices)
    np.testing.assert_array_equal(clone.incidence, tesseract.incidence)
    assert not clone.vertices.flags.writeable and not clone.incidence.flags.writeable
    assert clone.two_faces() == tesseract.two_faces()


def test_output_is_deterministic_and_order_independent() -> None:
    rng = np.random.default_rng(5)
    points = rng.standard_normal((30, 4))
    first = Polytope.from_vertices(points)
    second = Polytope.from_vertices(points[rng.permutation(30)])
    assert first.vertices.tobytes() == Polytope.from_vertices(points).vertices.tobytes()
    np.testing.assert_allclose(second.vertices, first.vertices, atol=1e-12)
    np.testing.assert_allclose(second.normals, first.normals, atol=1e-12)


def _cross2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


def test_polygon_vertices_are_counter_clockwise() -> None:
    rng = np.random.default_rng(2)
    polygon = Polytope.from_vertices(rng.standard_normal((30, 2)))
    v = polygon.vertices
    cross = _cross2(np.roll(v, -1, axis=0) - v, np.roll(v, -2, axis=0) - np.roll(v, -1, axis=0))
    assert np.all(cross > 0)
    flipped = polygon.linear_image(np.diag([1.0, -1.0]))
    w = flipped.vertices
    cross = _cross2(np.roll(w, -1, axis=0) - w, np.roll(w, -2, axis=0) - np.roll(w, -1, axis=0))
    assert np.all(cross > 0)
    np.testing.assert_array_equal(
        np.abs(flipped.normals @ w.T - flipped.offsets[:, None]) <= 1e-9, flipped.incidence
    )


def test_transformations_keep_incidence_consistent(tesseract: Polytope) -> None:
    rng = np.random.default_rng(0)
    matrix = random_symplectic_matrix(rng, 2)
    for image in (
        tesseract.translate([1.0, 2.0, -3.0, 0.5]),
        tesseract.scale(2.5),
        tesseract.linear_image(matrix),
        tesseract.linear_image(block_rotation(0.3, -1.1)),
    ):
        slack = image.normals @ image.vertices.T - image.offsets[:, None]
        np.testing.assert_array_equal(
            np.abs(slack) <= 1e-9 * max(1, image.diameter), image.incidence
        )
        assert slack.max() <= 1e-9
        np.testing.assert_allclose(np.linalg.norm(image.normals, axis=1), 1.0)


def test_translate_to_interior_and_chebyshev_center(tesseract: Polytope) -> None:
    moved = tesseract.translate([5.0, -2.0, 0.0, 1.0])
    centred, shift = moved.translate_to_interior()
    np.testing.assert_allclose(shift, [5.0, -2.0, 0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(centred.offsets, 1.0, atol=1e-9)
    assert moved.contains(shift) and not moved.contains([0.0, 0.0, 0.0, 0.0])


def test_diameter_and_tolerance(tesseract: Polytope) -> None:
    assert tesseract.diameter == pytest.approx(4.0)
    assert tesseract.tolerance(1e-9) == pytest.approx(4e-9)


def test_dict_round_trip(tesseract: Polytope) -> None:
    data = tesseract.to_dict()
    assert set(data) == {"vertices", "normals", "offsets"}
    for rebuilt in (
        Polytope.from_dict(data),
        Polytope.from_dict({"normals": data["normals"], "offsets": data["offsets"]}),
    ):
        np.testing.assert_allclose(rebuilt.vertices, tesseract.vertices)
        np.testing.assert_allclose(rebuilt.normals, tesseract.normals)


@pytest.mark.parametrize(
    ("points", "error"),
    [
        ([[0.0, 0.0], [1.0, np.nan], [0.0, 1.0]], InvalidInputError),
        ([[0.0, 0.0], [1.0, np.inf], [0.0, 1.0]], InvalidInputError),
        ([1.0, 2.0, 3.0], InvalidInputError),
        ([[1.0], [2.0]], InvalidInputError),
        (np.zeros((0, 4)), InvalidInputError),
        ("not points", InvalidInputError),
        ([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], DegeneratePolytopeError),
        (np.vstack([np.zeros(4), np.eye(4)[:3]]), DegeneratePolytopeError),
        (
            np.c_[np.random.default_rng(0).standard_normal((20, 3)), np.zeros(20)],
            DegeneratePolytopeError,
        ),
        ([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], DegeneratePolytopeError),
        ([[1.0, 1.0]] * 5, DegeneratePolytopeError),
    ],
)
def test_bad_vertex_input_raises(points: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        Polytope.from_vertices(points)


@pytest.mark.parametrize(
    ("normals", "offsets", "error"),
    [
        (np.eye(2), [1.0, 1.0], UnboundedPolytopeError),
        ([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], [1.0, 1.0, 1.0], UnboundedPolytopeError),
        (
            [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
            [1.0, 1.0, 1.0, 2.0],
            UnboundedPolytopeError,
        ),
        (
            [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]],
            [1.0, -2.0, 1.0, 1.0],
            EmptyPolytopeError,
        ),
        (
            [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]],
            [1.0, -1.0, 1.0, 1.0],
            DegeneratePolytopeError,
        ),
        (
            [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [-1.0, -1.0]],
            [1.0, 1.0, 1.0, 1.0],
            InvalidInputError,
        ),
        ([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], [1.0, 1.0], InvalidInputError),
        ([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], [1.0, np.nan, 1.0], InvalidInputError),
        ([[1.0, np.nan], [0.0, 1.0], [-1.0, -1.0]], [1.0, 1.0, 1.0], InvalidInputError),
    ],
)
def test_bad_halfspace_input_raises(
    normals: object, offsets: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Polytope.from_halfspaces(normals, offsets)


def test_errors_are_value_errors() -> None:
    for error in (
        InvalidInputError,
        DegeneratePolytopeError,
        UnboundedPolytopeError,
        EmptyPolytopeError,
    ):
        assert issubclass(error, GeometryError) and issubclass(error, ValueError)


def test_bad_transformation_arguments_raise(tesseract: Polytope) -> None:
    with pytest.raises(InvalidInputError):
        tesseract.linear_image(np.zeros((4, 4)))
    with pytest.raises(InvalidInputError):
        tesseract.linear_image(np.eye(3))
    with pytest.raises(InvalidInputError):
        tesseract.scale(0.0)
    with pytest.raises(InvalidInputError):
        tesseract.translate([1.0, 2.0])
    with pytest.raises(InvalidInputError):
        tesseract.contains([0.0])
    with pytest.raises(InvalidInputError):
        Polytope.from_dict({"offsets": [1.0]})
    with pytest.raises(InvalidInputError):
        Polytope.from_vertices(np.eye(3), rtol=-1.0)


def _edge_count(polytope: Polytope) -> int:
    """Vertex pairs whose common facets cut out exactly that pair, with normals of rank d - 1."""
    count = 0
    for u in range(polytope.num_vertices):
        for v in range(u + 1, polytope.num_vertices):
            common = polytope.incidence[:, u] & polytope.incidence[:, v]
            if common.sum() < polytope.dim - 1:
                continue
            on_all = polytope.incidence[common].all(axis=0)
            rank = np.linalg.matrix_rank(polytope.normals[common], tol=1e-9)
            count += int(on_all.sum() == 2 and rank == polytope.dim - 1)
    return count


@pytest.mark.parametrize("seed", range(4))
def test_face_lattice_satisfies_euler_relation(
    seed: int, cross_polytope: Polytope, twenty_four_cell: Polytope
) -> None:
    """f0 - f1 + f2 - f3 = 0 for every 4-polytope: a global check of the canonical form."""
    rng = np.random.default_rng(seed)
    sphere = rng.standard_normal((40, 4))
    sphere /= np.linalg.norm(sphere, axis=1)[:, None]
    normals = rng.standard_normal((20, 4))
    polytopes = [
        Polytope.from_vertices(sphere),
        Polytope.from_vertices(rng.uniform(-1.0, 1.0, (50, 4))),
        Polytope.from_halfspaces(
            normals, rng.uniform(0.5, 2.0, 20) * np.linalg.norm(normals, axis=1)
        ),
        cross_polytope,
        twenty_four_cell,
    ]
    for polytope in polytopes:
        f0, f1 = polytope.num_vertices, _edge_count(polytope)
        f2, f3 = len(polytope.two_faces()), polytope.num_facets
        assert f0 - f1 + f2 - f3 == 0, (f0, f1, f2, f3)
        # Every vertex lies on >= 4 facets and every facet has >= 4 vertices.
        assert polytope.incidence.sum(axis=0).min() >= 4
        assert polytope.incidence.sum(axis=1).min() >= 4


def test_polygon_drops_points_on_edges() -> None:
    square = np.array(
        [[0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [1, 2], [0, 2], [0, 1], [1, 1]], float
    )
    nearly = square + 1e-12 * np.random.default_rng(0).standard_normal(square.shape)
    for points in (square, nearly):
        polygon = Polytope.from_vertices(points)
        assert (polygon.num_vertices, polygon.num_facets) == (4, 4)
        np.testing.assert_allclose(polygon.vertices, [[0, 0], [2, 0], [2, 2], [0, 2]], atol=1e-11)
        assert polygon.incidence.sum(axis=0).tolist() == [2, 2, 2, 2]


def test_a_translate_reuses_the_cached_faces_and_they_are_its_own() -> None:
    rng = np.random.default_rng(3)
    polytope = Polytope.from_vertices(rng.normal(size=(12, 4)))
    faces = polytope.two_faces()
    moved = polytope.translate(np.array([0.3, -1.0, 2.0, 0.5]))
    assert moved.__dict__["_two_faces"] is polytope.__dict__["_two_faces"]
    fresh = Polytope(moved.vertices, moved.normals, moved.offsets, moved.incidence)
    assert fresh.two_faces() == faces == moved.two_faces()
    assert polytope.is_lagrangian_two_face(*faces[0]) == moved.is_lagrangian_two_face(*faces[0])
