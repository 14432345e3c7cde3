"""The generator-family registry: deterministic polytopes from ``(family, params, index)``.

Every polytope gets its own random stream. Its seed is derived from the family name, the
canonical JSON of its (validated, defaults-filled) parameters and its index, via SHA-256, and
feeds :class:`numpy.random.SeedSequence`. So polytope ``i`` of a family never changes when the
number of polytopes or the other families change (no slicing of one big random draw).
Rejected draws (unbounded, degenerate, ...) are resampled from the same stream and counted.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viterbo.geometry import GeometryError, Polytope

# A family's builder: validated params and the polytope's random stream -> polytope, metadata.
# It raises Rejected (or a GeometryError) for a draw that must be resampled.
Builder = Callable[[dict[str, Any], np.random.Generator], tuple[Polytope, dict[str, Any]]]

DEFAULT_MAX_ATTEMPTS = 10_000


class FamilyParamsError(ValueError):
    """Unknown family, or parameters that do not match the family's schema."""


class FamilyGenerationError(RuntimeError):
    """A family could not produce a valid polytope within its attempt limit."""


class Rejected(Exception):
    """Raised by a builder for a draw that must be resampled (the reason is the message)."""


@dataclass(frozen=True)
class Family:
    """A generator family.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"halfspace"``.
    description : str
        What the family produces (one or two sentences, for docs).
    dimension : int | None
        Ambient dimension of its polytopes (``None``: depends on the parameters).
    params_schema : dict
        ``{param: {"type": "integer"|"number"|"string"|"object", "description": str,
        "default"?: value, "minimum"?: x, "maximum"?: x, "enum"?: [...]}}``; a parameter
        without ``"default"`` is required.
    generate : Builder
        ``(params, rng) -> (Polytope, metadata)``; raises :class:`Rejected` to resample.
    deterministic : bool
        True when the polytope does not depend on the random stream (catalog entries).
    max_attempts : int
        Draws allowed before :class:`FamilyGenerationError`.
    normalize : callable, optional
        Cross-parameter checks after the per-parameter ones: ``params -> params`` (may fill
        nested defaults), raising :class:`FamilyParamsError`.
    """

    name: str
    description: str
    dimension: int | None
    params_schema: dict[str, dict[str, Any]]
    generate: Builder
    deterministic: bool = False
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class GeneratedPolytope:
    """One generated polytope with its provenance.

    ``metadata`` is JSON-safe and always holds ``rejections`` (the number of resampled draws).
    """

    polytope: Polytope
    family: str
    params: dict[str, Any]
    index: int
    seed: int
    metadata: dict[str, Any] = field(default_factory=dict)


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add a family to :data:`FAMILIES` (the name must be new)."""
    if family.name in FAMILIES:
        raise ValueError(f"family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def get_family(name: Any) -> Family:
    """The family called ``name``, or :class:`FamilyParamsError` listing the known ones."""
    if not isinstance(name, str) or name not in FAMILIES:
        raise FamilyParamsError(f"unknown family {name!r} (known: {', '.join(sorted(FAMILIES))})")
    return FAMILIES[name]


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------


def _check_value(family: str, name: str, spec: Mapping[str, Any], value: Any) -> Any:
    kind = spec["type"]
    where = f"{family}: parameter {name!r}"
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # JSON round trips may turn 5 into 5.0
            else:
                raise FamilyParamsError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise FamilyParamsError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise FamilyParamsError(f"{where} must be finite, got {value!r}")
    elif kind == "string":
        if not isinstance(value, str):
            raise FamilyParamsError(f"{where} must be a string, got {value!r}")
    elif kind == "object":
        if not isinstance(value, Mapping):
            raise FamilyParamsError(f"{where} must be an object (dict), got {value!r}")
        value = dict(value)
    if "enum" in spec and value not in spec["enum"]:
        raise FamilyParamsError(f"{where} must be one of {spec['enum']}, got {value!r}")
    if "minimum" in spec and value < spec["minimum"]:
        raise FamilyParamsError(f"{where} must be >= {spec['minimum']}, got {value!r}")
    if "maximum" in spec and value > spec["maximum"]:
        raise FamilyParamsError(f"{where} must be <= {spec['maximum']}, got {value!r}")
    return value


def validate_params(family: Family, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check ``params`` against the family's schema; return them with defaults filled in.

    Raises
    ------
    FamilyParamsError
        Unknown or missing parameters, wrong types, values out of range.
    """
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise FamilyParamsError(f"{family.name}: params must be an object (dict), got {params!r}")
    unknown = sorted(set(params) - set(family.params_schema))
    if unknown:
        known = ", ".join(family.params_schema) or "none"
        raise FamilyParamsError(f"{family.name}: unknown parameter(s) {unknown} (known: {known})")
    validated: dict[str, Any] = {}
    for name, spec in family.params_schema.items():
        if name in params:
            validated[name] = _check_value(family.name, name, spec, params[name])
        elif "default" in spec:
            validated[name] = spec["default"]
        else:
            raise FamilyParamsError(f"{family.name}: missing required parameter {name!r}")
    if family.normalize is not None:
        validated = family.normalize(validated)
    try:
        canonical_params_json(validated)
    except (TypeError, ValueError) as exc:
        raise FamilyParamsError(f"{family.name}: params are not JSON-serialisable: {exc}") from None
    return validated


def canonical_params_json(params: Mapping[str, Any]) -> str:
    """Canonical JSON of validated parameters (sorted keys, no spaces)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)


def polytope_seed(family: str, params: Mapping[str, Any], index: int) -> int:
    """The per-polytope seed: 63 bits of SHA-256 of ``family``, canonical params and ``index``.

    63 bits keep it a non-negative signed 64-bit integer (SQLite/PostgreSQL ``BIGINT``).
    """
    key = f"{family}\n{canonical_params_json(params)}\n{index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


def rng_from_seed(seed: int) -> np.random.Generator:
    """The random stream of a polytope with the given seed."""
    return np.random.default_rng(np.random.SeedSequence(seed))


# --------------------------------------------------------------------------------------------
# generation
# --------------------------------------------------------------------------------------------


def _check_index(index: Any) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
        raise FamilyParamsError(f"index must be a non-negative integer, got {index!r}")
    return int(index)


def generate(
    family: str, params: Mapping[str, Any] | None = None, index: int = 0
) -> GeneratedPolytope:
    """Polytope number ``index`` of ``family`` with ``params`` (deterministic).

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    params : dict, optional
        Family parameters (validated; missing ones take their defaults).
    index : int
        Which polytope of the family (>= 0). Each index has its own random stream.

    Returns
    -------
    GeneratedPolytope
        With ``metadata["rejections"]`` counting resampled draws.

    Raises
    ------
    FamilyParamsError
        Unknown family, bad parameters or index.
    FamilyGenerationError
        No valid draw within the family's attempt limit.
    """
    spec = get_family(family)
    validated = validate_params(spec, params)
    index = _check_index(index)
    seed = polytope_seed(spec.name, validated, index)
    rng = rng_from_seed(seed)
    rejections = 0
    reasons: dict[str, int] = {}
    for _ in range(spec.max_attempts):
        try:
            polytope, metadata = spec.generate(validated, rng)
        except (Rejected, GeometryError) as exc:
            rejections += 1
            reason = type(exc).__name__ if isinstance(exc, GeometryError) else str(exc)
            reasons[reason] = reasons.get(reason, 0) + 1
            continue
        metadata = {**metadata, "rejections": rejections}
        if reasons:
            metadata["rejection_reasons"] = dict(sorted(reasons.items()))
        return GeneratedPolytope(polytope, spec.name, validated, index, seed, metadata)
    raise FamilyGenerationError(
        f"{spec.name}: no valid polytope after {spec.max_attempts} draws (reasons: {reasons})"
    )


def describe() -> str:
    """Markdown documentation of every registered family and its parameters."""
    lines = ["| family | dimension | parameters | description |", "|---|---|---|---|"]
    for name in sorted(FAMILIES):
        family = FAMILIES[name]
        params = []
        for param, spec in family.params_schema.items():
            text = f"`{param}` ({spec['type']}"
            if "default" in spec:
                text += f", default {json.dumps(spec['default'])}"
            if "enum" in spec:
                text += ", one of " + ", ".join(f"`{v}`" for v in spec["enum"])
            if "minimum" in spec or "maximum" in spec:
                text += f", {spec.get('minimum', '')}..{spec.get('maximum', '')}"
            params.append(text + f"): {spec.get('description', '')}")
        dimension = "varies" if family.dimension is None else str(family.dimension)
        lines.append(
            f"| `{name}` | {dimension} | {'<br>'.join(params) or '—'} | {family.description} |"
        )
    return "\n".join(lines)
