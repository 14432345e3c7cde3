"""Shared polytopes for the geometry tests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from viterbo.geometry import Polytope


@pytest.fixture
def tesseract() -> Polytope:
    return Polytope.from_vertices(list(itertools.product([-1.0, 1.0], repeat=4)))


@pytest.fixture
def cross_polytope() -> Polytope:
    return Polytope.from_vertices(np.vstack([np.eye(4), -np.eye(4)]))


@pytest.fixture
def twenty_four_cell() -> Polytope:
    halves = np.array(list(itertools.product([-0.5, 0.5], repeat=4)))
    return Polytope.from_vertices(np.vstack([np.eye(4), -np.eye(4), halves]))


@pytest.fixture
def simplex() -> Polytope:
    return Polytope.from_vertices(np.vstack([np.zeros(4), np.eye(4)]))
