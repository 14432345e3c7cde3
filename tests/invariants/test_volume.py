"""The registered quantity ``volume`` (thin wrappers over viterbo.geometry.volume)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from viterbo.geometry import Polytope
from viterbo.invariants import registry


def test_both_algorithms_registered_and_agree() -> None:
    names = [a.name for a in registry.algorithms("volume")]
    assert names == ["cone-decomposition", "qhull"]
    polytope = Polytope.from_vertices(np.random.default_rng(0).standard_normal((20, 4)))
    values = []
    for name in names:
        algorithm = registry.get("volume", name)
        assert algorithm.applicability(polytope) is None and algorithm.exact
        result = algorithm.compute(polytope, time_budget=1.0, inputs=None)
        assert set(result) == {"value", "loop", "seconds", "diagnostics"}
        assert result["loop"] is None and result["seconds"] >= 0.0
        json.dumps(result)
        values.append(result["value"])
    assert values[0] == pytest.approx(values[1], rel=1e-10)
