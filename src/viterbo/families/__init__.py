"""Generator families: deterministic polytopes from ``(family, params, index)``.

>>> from viterbo.families import generate
>>> generate("catalog", {"name": "tesseract"}).polytope
Polytope(dim=4, num_vertices=16, num_facets=8)

Families are registered in :data:`FAMILIES`; :func:`describe` documents them all.
"""

from viterbo.families import catalog, images, products, random_polytopes  # registers families
from viterbo.families.base import (
    FAMILIES,
    Family,
    FamilyGenerationError,
    FamilyParamsError,
    GeneratedPolytope,
    describe,
    generate,
    get_family,
    polytope_seed,
    rng_from_seed,
    validate_params,
)
from viterbo.families.catalog import CATALOG
from viterbo.families.products import product_ngon_angles

__all__ = [
    "CATALOG",
    "FAMILIES",
    "Family",
    "FamilyGenerationError",
    "FamilyParamsError",
    "GeneratedPolytope",
    "catalog",
    "describe",
    "generate",
    "get_family",
    "images",
    "polytope_seed",
    "product_ngon_angles",
    "products",
    "random_polytopes",
    "rng_from_seed",
    "validate_params",
]
