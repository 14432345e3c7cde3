"""``symplectic-image``: a random linear symplectic map applied to a member of another family.

The map keeps every symplectic invariant (capacity, volume, systolic ratio) but destroys
coordinate product structure, so it is a strong cross-check of the capacity algorithms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viterbo.families.base import (
    Family,
    FamilyParamsError,
    generate,
    get_family,
    register_family,
    validate_params,
)
from viterbo.geometry import Polytope, random_symplectic_matrix
from viterbo.geometry.polytope import _sorted

NAME = "symplectic-image"


def _normalize(params: dict[str, Any]) -> dict[str, Any]:
    base = get_family(params["base_family"])
    if base.name == NAME:
        raise FamilyParamsError(f"{NAME}: base_family must be another family, not {NAME}")
    if base.dimension is not None and base.dimension % 2:
        raise FamilyParamsError(f"{NAME}: base family {base.name} has odd dimension")
    # Fill the base family's defaults so equal polytopes have equal parameters (and seeds).
    return {**params, "base_params": validate_params(base, params["base_params"])}


def _symplectic_image(
    params: dict[str, Any], rng: np.random.Generator
) -> tuple[Polytope, dict[str, Any]]:
    base = generate(params["base_family"], params["base_params"], params["base_index"])
    matrix = random_symplectic_matrix(rng, base.polytope.dim // 2)
    image = base.polytope.linear_image(matrix)
    image = Polytope(*_sorted(image.vertices, image.normals, image.offsets, image.incidence))
    metadata = {
        "base_seed": base.seed,
        "base_rejections": base.metadata["rejections"],
        "matrix": matrix.tolist(),
    }
    return image, metadata


register_family(
    Family(
        name=NAME,
        description=(
            "A random linear symplectic map (unitary x cotangent lift x shears) applied to "
            "polytope base_index of base_family with base_params; all symplectic invariants are "
            "those of the base polytope."
        ),
        dimension=None,
        params_schema={
            "base_family": {"type": "string", "description": "the family of the base polytope"},
            "base_params": {
                "type": "object",
                "default": {},
                "description": "parameters of the base family",
            },
            "base_index": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "index of the base polytope in its family",
            },
        },
        generate=_symplectic_image,
        normalize=_normalize,
    )
)
