"""Small shape helpers shared by the geometry tests."""

from __future__ import annotations

import numpy as np


def regular_polygon(k: int, phase: float = 0.0) -> np.ndarray:
    """Vertices (cos(phase + 2πj/k), sin(phase + 2πj/k)), counter-clockwise."""
    angles = phase + 2 * np.pi * np.arange(k) / k
    return np.c_[np.cos(angles), np.sin(angles)]
