"""Presets: named lists of ``(family, params, count)`` specs that ``atlas enqueue`` expands.

``tiny``: one polytope per family (catalog landmarks, one 2D polygon), every algorithm, well
under a minute.  ``small``: about 1000 polytopes over every family (issue 6).  Both carry the
explicit run :data:`POLICY` (haim-kislev limited to <= 12 facets except on a profiling subset,
time limits for the reeb searches).  A preset may also be a JSON file:
``[{"family": "sphere", "params": {"points": 12}, "count": 10, "policy": {...}}, ...]``.

Polytope ``i`` of a spec is the same in every preset (its seed depends only on family, params
and ``i``), so presets overlap instead of recomputing, and raising a count only adds jobs.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viterbo.atlas.errors import JobParamsError, PresetError
from viterbo.atlas.jobs import (
    GENERATE,
    GENERATE_PRIORITY,
    generate_job_key,
    polytope_key,
    validate_policy,
)
from viterbo.atlas.kinds import known_families, load_plugins
from viterbo.atlas.store import JobSpec
from viterbo.families import FAMILIES, product_ngon_angles, validate_params


@dataclass(frozen=True)
class PresetItem:
    """``count`` polytopes (indices ``0 .. count-1``) of ``family`` with ``params``.

    ``policy`` limits algorithms on these polytopes (see :func:`viterbo.atlas.jobs.validate_policy`):
    ``{"capacity/haim-kislev": {"max_facets": 12}, "spectrum/reeb": {"time_limit_s": 20}}``.
    Jobs it skips are recorded as ``skipped`` with the reason; the report counts them.
    """

    family: str
    params: dict[str, Any] = field(default_factory=dict)
    count: int = 1
    policy: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or not self.family:
            raise PresetError(f"preset item needs a family name, got {self.family!r}")
        if not isinstance(self.params, dict):
            raise PresetError(
                f"params of family {self.family!r} must be a JSON object, got {self.params!r}"
            )
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise PresetError(
                f"count of family {self.family!r} must be an integer >= 0, got {self.count!r}"
            )
        try:
            validate_policy(self.policy, f"policy of family {self.family!r}")
        except JobParamsError as exc:
            raise PresetError(str(exc)) from None


# ------------------------------------------------------------------------- run policy
#
# Where an algorithm cannot finish on every polytope, the presets say so explicitly instead of
# letting a job run into the worker's 600 s limit: the jobs the policy skips are recorded as
# `skipped` (with the reason) and the report counts them as a deliberate deviation.
#
# * haim-kislev enumerates facet cycles: fast up to ~12 facets on random polytopes and products,
#   then it blows up (seconds at 13-17 facets, "more than 5000000 facet cycles" on dense facet
#   graphs).  It runs on <= 12 facets everywhere, and on a documented profiling subset
#   (HK_PROFILE_POLICY: up to 24 facets) that measures the blow-up.  There its budget is
#   deterministic: `max_cycles` facet cycles (HK_PROFILE_CYCLES, counted before any is solved;
#   the largest finished one has 4.4 M cycles, ~10 s with the compiled solve), the time limit
#   a safety net.
# * reeb (capacity and spectrum) are the only exact algorithms for large non-product polytopes;
#   they get deterministic work budgets (`max_paths`: expanded paths) so that a slow polytope
#   becomes a recorded `timed_out` at the same point on every machine -- a wall-clock limit made
#   the published content depend on machine load.  The spectrum's 150,000 paths are 1.25x the
#   most any finished spectrum of atlas-small used (120 k; no spectrum stopped between 150 k
#   and the earlier budget of 400 k, which took 1-6 s where it ran out); the
#   capacity's 3,000,000 keep the slowest finished one (2.6 M paths, 17 s).  Their time limits
#   stay as a safety net, 3x above where the budgets run out here.  With the
#   compiled search both take well under a second on the simple random polytopes (halfspace
#   families, 6-40 facets), so the spectrum runs on every polytope where reeb applies, the
#   symplectic images included (their spectrum must equal the base's: a free cross-check).
# * the one slow path left is the convex hull of random points (`sphere`, `ball`: simplicial
#   polytopes).  Their tubes keep a corner at a polytope vertex where the action lower bound is
#   0, so the spectrum search spirals there (its work budget runs out from 8 facets on), and the
#   capacity search needs 10^6 paths on the 35-facet `ball {"points": 12}`.  The spectrum runs
#   on polytopes 0 and 1 of each such item only (`max_index`), which still records the timeouts.
# The same policy is used by `tiny` and `small`, so a database that holds both presets agrees.

HK_MAX_FACETS = 12
REEB_CAPACITY_PATHS = 3_000_000
SPECTRUM_PATHS = 150_000
HK_PROFILE_CYCLES = 5_000_000
POLICY: dict[str, dict[str, Any]] = {
    "capacity/haim-kislev": {"max_facets": HK_MAX_FACETS, "time_limit_s": 60},
    "capacity/billiard": {"time_limit_s": 60},
    "capacity/reeb": {"time_limit_s": 60, "max_paths": REEB_CAPACITY_PATHS},
    "spectrum/reeb": {"time_limit_s": 20, "max_paths": SPECTRUM_PATHS},
}
SIMPLICIAL_POLICY: dict[str, dict[str, Any]] = {
    **POLICY,
    "spectrum/reeb": {**POLICY["spectrum/reeb"], "max_index": 2},
}
SIMPLICIAL_FAMILIES = ("sphere", "ball")
# Symplectic products have their own closed form; haim-kislev (a cross-check there) needs ~10 s
# at 12 facets on them, so it stops at 10.
SYMPLECTIC_PRODUCT_POLICY: dict[str, dict[str, Any]] = {
    **POLICY,
    "capacity/haim-kislev": {"max_facets": 10, "time_limit_s": 60},
}
HK_PROFILE_POLICY: dict[str, dict[str, Any]] = {
    **POLICY,
    "capacity/haim-kislev": {"max_facets": 24, "max_cycles": HK_PROFILE_CYCLES, "time_limit_s": 60},
}

TINY_CATALOG = ("tesseract", "cross-polytope", "24-cell", "hko-pentagon-product")
SMALL_CATALOG = (
    "tesseract",
    "cross-polytope",
    "standard-simplex",
    "regular-simplex",
    "24-cell",
    "hko-pentagon-product",
    "square-x-diamond",
    "ngon-x-ngon",
    "triangle-x-triangle",
    "ch-6-vertex",
    "permutahedron",
)


def _item(
    family: str,
    params: dict[str, Any],
    count: int = 1,
    policy: dict[str, dict[str, Any]] | None = None,
) -> PresetItem:
    if policy is None:
        policy = SIMPLICIAL_POLICY if family in SIMPLICIAL_FAMILIES else POLICY
    return PresetItem(family, params, count, dict(policy))


def ngon_angle_sample(k_p: int, k_q: int, per_pair: int) -> list[tuple[int, int]]:
    """``per_pair`` relative rotations ``(r, s)`` of the (k_P, k_Q) product, spread evenly over
    the distinct ones that ``product_ngon_angles`` enumerates, both ends included; for 5/5 the
    HK-O angle 1/20 as well.

    The denominators go up to ``max(2L + 1, sqrt(300 L))`` (L = lcm(k_P, k_Q)): enough for
    about 20-50 distinct angles per pair while the enumeration (quadratic in the bound) stays
    cheap enough to run when the presets are imported.
    """
    lcm = math.lcm(k_p, k_q)
    angles = product_ngon_angles(k_p, k_q, max(2 * lcm + 1, math.ceil(math.sqrt(300 * lcm))))
    if len(angles) <= per_pair:
        chosen = list(angles)
    else:
        step = (len(angles) - 1) / (per_pair - 1)
        chosen = [angles[round(i * step)] for i in range(per_pair)]
    if (k_p, k_q) == (5, 5) and (1, 20) not in chosen:
        chosen.append((1, 20))  # the Haim-Kislev-Ostrover counterexample
    return sorted(set(chosen), key=lambda rs: rs[0] / rs[1])


def _tiny() -> list[PresetItem]:
    """One polytope per family (catalog landmarks, one 2D polygon): every algorithm, < 1 min."""
    return [
        *[_item("catalog", {"name": name}) for name in TINY_CATALOG],
        _item("product-ngons", {"k_P": 5, "k_Q": 5, "r": 1, "s": 20}),  # HK-O counterexample
        _item("polygon", {"points": 8}),
        _item("halfspace", {"facets": 8}),
        _item("halfspace-tangent", {"facets": 8}),
        _item("sphere", {"points": 6}),
        _item("ball", {"points": 8}),
        _item("lagrangian-product", {"points": 5}),
        _item("symplectic-product", {"points": 5}, 1, SYMPLECTIC_PRODUCT_POLICY),
        _item("symplectic-image", {"base_family": "halfspace", "base_params": {"facets": 8}}),
    ]


# (family, params, count) of the random part of `small`: facet counts spread over 6-40.
SMALL_RANDOM: tuple[tuple[str, dict[str, Any], int], ...] = (
    *[("halfspace", {"facets": f}, 18) for f in (6, 8, 10, 12, 14, 20, 26, 32, 40)],
    *[("halfspace-tangent", {"facets": f}, 15) for f in (8, 10, 12, 16, 24, 32)],
    *[("sphere", {"points": n}, 14) for n in (6, 7, 8)],
    ("ball", {"points": 8}, 14),
    ("ball", {"points": 12}, 2),  # 30-35 facets, simplicial: where the reeb search hits its limit
    *[("lagrangian-product", {"points": n}, 21) for n in (4, 5, 6, 8, 10, 12)],
    *[("symplectic-product", {"points": n}, 14) for n in (4, 5, 6, 8, 10)],
    *[("polygon", {"points": n}, 8) for n in (3, 5, 8, 12, 20)],
)
# Bases of the symplectic images (the image keeps every invariant but no product structure).
SMALL_IMAGE_BASES: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("halfspace", {"facets": 10}, 20),
    ("halfspace-tangent", {"facets": 12}, 10),
    ("lagrangian-product", {"points": 5}, 20),
    ("symplectic-product", {"points": 5}, 10),
    ("product-ngons", {"k_P": 5, "k_Q": 5, "r": 1, "s": 20}, 5),
    *[("catalog", {"name": name}, 3) for name in ("cross-polytope", "24-cell", "tesseract")],
)
# The haim-kislev profiling subset (HK_PROFILE_POLICY): polytopes just above 12 facets.
SMALL_HK_PROFILE: tuple[tuple[str, dict[str, Any], int], ...] = (
    *[("halfspace", {"facets": f}, 3) for f in (15, 17, 19, 22)],
    ("ball", {"points": 10}, 2),
    *[
        ("product-ngons", {"k_P": a, "k_Q": b, "r": 1, "s": 1000}, 1)
        for a, b in ((6, 7), (7, 7), (6, 8), (7, 8), (8, 8))
    ],
    ("lagrangian-product", {"points": 9}, 3),
)


def _small() -> list[PresetItem]:
    """About 1000 polytopes over every family (issue 6); see the module docs for the policy."""
    items = [_item("catalog", {"name": name}) for name in SMALL_CATALOG]
    for k_p in range(3, 9):
        for k_q in range(k_p, 9):
            items += [
                _item("product-ngons", {"k_P": k_p, "k_Q": k_q, "r": r, "s": s_})
                for r, s_ in ngon_angle_sample(k_p, k_q, 16)
            ]
    items += [
        _item(f, p, n, SYMPLECTIC_PRODUCT_POLICY if f == "symplectic-product" else None)
        for f, p, n in SMALL_RANDOM
    ]
    for base_family, base_params, n in SMALL_IMAGE_BASES:
        # One image of each base polytope 0..n-1 (the image's own index picks the map).
        items += [
            _item(
                "symplectic-image",
                {"base_family": base_family, "base_params": base_params, "base_index": i},
                1,
            )
            for i in range(n)
        ]
    items += [_item(f, p, n, HK_PROFILE_POLICY) for f, p, n in SMALL_HK_PROFILE]
    return items


PRESETS: dict[str, list[PresetItem]] = {"tiny": _tiny(), "small": _small()}
PRESET_DESCRIPTIONS = {
    "tiny": "one polytope per family, a smoke test (under a minute)",
    "small": "about a thousand polytopes over every family (minutes on 2 cores)",
}


def register_preset(name: str, items: Iterable[PresetItem]) -> None:
    """Add or replace a preset (tests register ``test-*`` presets through a plugin module)."""
    PRESETS[name] = list(items)


def preset_names() -> list[str]:
    """Names of the built-in and registered presets."""
    return sorted(PRESETS)


def load_preset(name_or_path: str) -> list[PresetItem]:
    """The items of a named preset, or of a JSON preset file (path ending in ``.json``).

    Raises
    ------
    PresetError
        Unknown name, unreadable file, malformed JSON, or an invalid item (negative count,
        params that are not an object, ...).
    """
    load_plugins()
    if name_or_path in PRESETS:
        return list(PRESETS[name_or_path])
    if name_or_path.endswith(".json"):
        return _load_preset_file(Path(name_or_path))
    raise PresetError(
        f"unknown preset {name_or_path!r} (known: {', '.join(preset_names())}; or a .json file)"
    )


def _load_preset_file(path: Path) -> list[PresetItem]:
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise PresetError(f"cannot read preset file {str(path)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise PresetError(f"preset file {str(path)!r} is not valid JSON: {exc}") from None
    except RecursionError:
        raise PresetError(
            f"preset file {str(path)!r} nests more than {sys.getrecursionlimit()} levels deep"
        ) from None
    if not isinstance(raw, list):
        raise PresetError(
            f"preset file {str(path)!r} must hold a JSON list of {{family, params, count}} objects"
        )
    items = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or set(entry) - {"family", "params", "count", "policy"}:
            raise PresetError(
                f"preset file {str(path)!r}, item {i}: expected keys family, params, count (policy)"
            )
        items.append(
            PresetItem(
                entry.get("family"),
                entry.get("params", {}),
                entry.get("count", 1),
                entry.get("policy") or {},
            )
        )
    return items


def validate_families(items: Iterable[PresetItem]) -> None:
    """Refuse unknown families and params their family rejects (before anything is written)."""
    items = list(items)
    known = known_families()
    unknown = sorted({it.family for it in items if it.family not in known})
    if unknown:
        raise PresetError(
            f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known)) or 'none'})"
        )
    for it in items:
        if it.family in FAMILIES:
            try:
                validate_params(FAMILIES[it.family], it.params)
            except ValueError as exc:
                raise PresetError(f"bad params for family {it.family!r}: {exc}") from None


def generate_specs(items: Iterable[PresetItem]) -> list[JobSpec]:
    """One generate job per polytope of ``items`` (duplicates across items collapse; the first
    item's policy wins, and a polytope already queued keeps the policy it was queued with)."""
    specs: dict[str, JobSpec] = {}
    for it in items:
        for index in range(it.count):
            key = generate_job_key(it.family, it.params, index)
            params: dict[str, Any] = {"family": it.family, "params": it.params, "index": index}
            if it.policy:
                params["policy"] = it.policy
            specs.setdefault(
                key,
                JobSpec(
                    kind=GENERATE,
                    key=key,
                    family=it.family,
                    priority=GENERATE_PRIORITY,
                    params=params,
                ),
            )
    return list(specs.values())


def polytope_keys(items: Iterable[PresetItem]) -> set[str]:
    """Stable ids of every polytope the preset describes (export filters on them)."""
    return {polytope_key(it.family, it.params, i) for it in items for i in range(it.count)}
