"""``atlas compute FILE|-``: every applicable invariant of one polytope, as one JSON object.

Input JSON: ``{"vertices": [[...], ...]}`` or ``{"normals": [[...], ...], "offsets": [...]}``
(halfspaces ``<n_i, x> <= offsets_i``). Output (DESIGN.md "CLI contract")::

    {"dimension": 4, "num_vertices": 16, "num_facets": 8, "volume": 16.0,
     "capacity": 4.0, "systolic_ratio": 0.5,
     "capacities": {"haim-kislev": {"value": 4.0, "seconds": 0.01}, ...,
                    "reeb": {"not_applicable": "..."}},
     "cycle": [[q1, q2, p1, p2], ...], "spectrum": [...],
     "certificate": {"algorithm": ..., "level": "confirmed", "agreeing": [...], ...},
     "missing": {"spectrum": "reeb: failed (SearchTooLarge: ...)"}}

Algorithms run in this process, in dependency order with the headline first and the spectrum
last, within a total ``--budget`` (default 60 s) and optionally a per-algorithm ``--timeout``.
Every value that is ``null`` has its one-line reason under ``"missing"``. Bad input prints one
line on stderr and exits with status 2 (no traceback).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click
import numpy as np

from viterbo.geometry import Polytope
from viterbo.invariants import registry
from viterbo.invariants.certified import LEVELS
from viterbo.invariants.evaluate import (
    CERTIFY,
    DONE,
    NOT_APPLICABLE,
    SKIPPED,
    TIMED_OUT,
    Outcome,
    Policy,
    Record,
    evaluate,
)

EXIT_BAD_INPUT = 2


class InputError(ValueError):
    """The input file is not a valid polytope description."""


# --------------------------------------------------------------------------- input


def _matrix(data: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"'{name}' must be a list of equal-length lists of numbers") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"'{name}' must be a non-empty list of equal-length lists of numbers")
    if not np.all(np.isfinite(array)):
        raise InputError(f"'{name}' contains NaN or infinite values")
    return array


def parse_polytope(text: str) -> Polytope:
    """The polytope described by the JSON ``text`` (vertices, or normals and offsets).

    Raises
    ------
    InputError or viterbo.geometry.GeometryError
        Both are ``ValueError``; the message is one line naming the problem.
    """
    try:
        data = json.loads(text, parse_constant=lambda c: float(c))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(
            f"the JSON nests more than {sys.getrecursionlimit()} levels deep"
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            "the input must be a JSON object with 'vertices' or 'normals' and 'offsets'"
        )
    has_vertices = "vertices" in data
    has_halfspaces = "normals" in data or "offsets" in data
    if has_vertices == has_halfspaces:
        raise InputError(
            "give either 'vertices' or 'normals' and 'offsets' (exactly one of the two)"
        )
    if has_vertices:
        return Polytope.from_vertices(_matrix(data["vertices"], "vertices"))
    if "normals" not in data or "offsets" not in data:
        raise InputError("halfspace input needs both 'normals' and 'offsets'")
    normals = _matrix(data["normals"], "normals")
    try:
        offsets = np.asarray(data["offsets"], dtype=float)
    except (TypeError, ValueError):
        raise InputError("'offsets' must be a list of numbers") from None
    if offsets.ndim != 1 or offsets.shape[0] != normals.shape[0]:
        raise InputError(
            f"'offsets' must be a list of {normals.shape[0]} numbers (one per normal), got shape {offsets.shape}"
        )
    if not np.all(np.isfinite(offsets)):
        raise InputError("'offsets' contains NaN or infinite values")
    return Polytope.from_halfspaces(normals, offsets)


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read {source}: not UTF-8 text") from None


# --------------------------------------------------------------------------- running

DEFAULT_BUDGET = 60.0


def _summary(outcome: Outcome) -> dict[str, Any]:
    """One algorithm's entry under ``"capacities"``."""
    if outcome.status == DONE:
        return {"value": outcome.value, "seconds": outcome.seconds}
    if outcome.status == TIMED_OUT:
        return {"timed_out": outcome.seconds, "budget": outcome.timed_out_by}
    key = {NOT_APPLICABLE: "not_applicable", SKIPPED: "skipped"}.get(outcome.status, "error")
    return {key: outcome.reason}


def _missing_reasons(output: dict[str, Any], outcomes: dict[str, Outcome]) -> dict[str, str]:
    """Why each headline value and the spectrum that is ``None`` is missing, one line each."""

    def reason(prefix: str) -> str:
        parts = [
            f"{key.partition('/')[2]}: {outcomes[key].status} ({outcomes[key].reason})"
            for key in sorted(outcomes)
            if key.startswith(prefix + "/") and outcomes[key].status != DONE
        ]
        return "; ".join(parts) or "no algorithm computes it"

    missing: dict[str, str] = {}
    for field, quantity in (
        ("volume", "volume"),
        ("capacity", "certified_capacity"),
        ("systolic_ratio", "systolic_ratio"),
        ("spectrum", "spectrum"),
    ):
        if field in output and output[field] is None:
            missing[field] = reason(quantity)
    if output["capacity"] is None and "capacity" in missing:
        missing["capacity"] += "; " + reason("capacity")
    return missing


def compute_invariants(
    polytope: Polytope,
    *,
    algorithm: str | None = None,
    timeout: float | None = None,
    budget: float | None = DEFAULT_BUDGET,
    spectrum: bool | None = None,
) -> dict[str, Any]:
    """Every registered, applicable quantity of ``polytope``, as the ``atlas compute`` object.

    A thin layer over :func:`viterbo.invariants.evaluate.evaluate` (the one evaluation path)
    that words the policy as the command's options.

    Parameters
    ----------
    polytope : Polytope
        The polytope.
    algorithm : str, optional
        Run only this capacity algorithm (plus what the headline needs); the others are
        recorded as skipped.
    timeout : float, optional
        Time budget in seconds per algorithm.
    budget : float, optional
        Total time budget in seconds (``None``: unbounded). Each algorithm gets what is left
        of it (or ``timeout`` if smaller); one that starts with nothing left is skipped. The
        headline quantities run first (volume, then the capacities), the spectrum last; the
        derived quantities (certificate, systolic ratio) only combine finished inputs and
        always run.
    spectrum : bool, optional
        Compute the low action spectrum; by default only when ``algorithm`` is not given.
    """
    policy = Policy(
        only=None if algorithm is None else frozenset({algorithm}),
        only_reason=f"not selected (--algorithm {algorithm})",
        spectrum=algorithm is None if spectrum is None else spectrum,
        spectrum_reason="not requested (--algorithm computes only the headline; add --spectrum)",
        budget=budget,
        timeout=timeout,
        budget_name="--budget",
        timeout_name="--timeout",
    )
    return compute_output(evaluate(polytope, policy))


CERTIFICATE_FIELDS = (
    "algorithm",
    "level",
    "agreeing",
    "methods",
    "max_relative_difference",
    "disagreement",
    "unverified",
    "others",
)


def compute_output(record: Record) -> dict[str, Any]:
    """The ``atlas compute`` object of a :class:`Record`: its headline plus every reason."""
    polytope, outcomes = record.polytope, record.outcomes
    top = record.headline()
    output: dict[str, Any] = {
        "dimension": polytope.dim,
        "num_vertices": polytope.num_vertices,
        "num_facets": polytope.num_facets,
        "volume": top["volume"],
        "capacity": top["capacity"],
        "systolic_ratio": top["systolic_ratio"],
        "capacities": {
            k.partition("/")[2]: _summary(o)
            for k, o in outcomes.items()
            if k.startswith("capacity/")
        },
        "cycle": top["minimal_action_cycle"],
    }
    if any(k.startswith("spectrum/") for k in outcomes):
        output["spectrum"] = top["spectrum"]
    certified = outcomes.get(CERTIFY)
    if certified is not None and certified.status == DONE and certified.result:
        output["certificate"] = {key: certified.result[key] for key in CERTIFICATE_FIELDS}
        output["certificate"]["meaning"] = LEVELS.get(certified.result["level"], "")
    elif certified is not None:
        output["certificate"] = _summary(certified)
    output["missing"] = _missing_reasons(output, outcomes)
    return output


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats by ``None`` so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


# --------------------------------------------------------------------------- command


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.command("compute")
@click.argument("source", metavar="FILE|-")
@click.option(
    "--algorithm",
    "algorithm",
    default=None,
    metavar="NAME",
    help="Run only this capacity algorithm (area-2d, symplectic-product, billiard, "
    "haim-kislev, reeb); the others are recorded as skipped, so the certificate level is at "
    "most 'single'.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    metavar="S",
    help="Time budget per algorithm in seconds (default: what is left of --budget).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.0),
    default=DEFAULT_BUDGET,
    show_default=True,
    metavar="S",
    help="Total time budget in seconds (0: unbounded). The headline (volume, capacities, "
    "certificate, systolic ratio) runs first, the spectrum last; an algorithm that runs out "
    "is reported as timed out, one that gets no time as skipped, each with its reason under "
    "'missing'.",
)
@click.option(
    "--spectrum/--no-spectrum",
    default=None,
    help="Compute the low action spectrum (default: yes, unless --algorithm is given).",
)
def compute(
    source: str,
    algorithm: str | None,
    timeout: float | None,
    budget: float,
    spectrum: bool | None,
) -> None:
    """Compute the invariants of one polytope read from FILE (JSON; '-' for stdin).

    Prints one JSON object; every value that is null has its reason under "missing".
    """
    if algorithm is not None:
        known = [a.name for a in registry.algorithms("capacity")]
        if algorithm not in known:
            _fail(f"unknown capacity algorithm {algorithm!r} (known: {', '.join(known)})")
    try:
        polytope = parse_polytope(_read(source))
    except ValueError as exc:
        _fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    if polytope.dim % 2:
        _fail(f"the capacity needs an even dimension, got dimension {polytope.dim}")
    output = compute_invariants(
        polytope, algorithm=algorithm, timeout=timeout, budget=budget or None, spectrum=spectrum
    )
    click.echo(json.dumps(_json_safe(output)))
