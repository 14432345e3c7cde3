"""Shared applicability checks: one wording of the even-dimension reason everywhere."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.invariants.capacity_cases import SQUARE, tesseract
from viterbo.geometry import Polytope
from viterbo.invariants import registry
from viterbo.invariants.applicability import even_dimension


def _cube3() -> Polytope:
    return Polytope.from_vertices(np.array(list(itertools.product([0.0, 1.0], repeat=3))))


def test_even_dimension_reason() -> None:
    assert even_dimension(_cube3()) == "capacity needs an even dimension, got 3"
    assert even_dimension(_cube3(), "the systolic ratio").startswith("the systolic ratio needs")
    assert even_dimension(tesseract()) is None
    assert even_dimension(Polytope.from_vertices(SQUARE)) is None


@pytest.mark.parametrize(
    ("quantity", "name", "subject"),
    [
        ("capacity", "haim-kislev", "capacity"),
        ("certified_capacity", "certify", "capacity"),
        ("systolic_ratio", "formula", "the systolic ratio"),
    ],
)
def test_algorithms_share_the_even_dimension_check(quantity: str, name: str, subject: str) -> None:
    algorithm = registry.get(quantity, name)
    assert algorithm.applicability(_cube3()) == even_dimension(_cube3(), subject)
    assert algorithm.applicability(tesseract()) is None
