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
import time
from typing import Any

import click
import numpy as np

from viterbo.geometry import Polytope
from viterbo.invariants import registry
from viterbo.invariants.certified import LEVELS
from viterbo.invariants.registry import Algorithm, TimeBudgetExceeded

EXIT_BAD_INPUT = 2
PREFERRED_VOLUME = "qhull"


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


def _dependency_order(algorithms: list[Algorithm]) -> list[Algorithm]:
    """Algorithms ordered so that every quantity comes after the quantities it depends on."""
    by_quantity: dict[str, list[Algorithm]] = {}
    for algorithm in algorithms:
        by_quantity.setdefault(algorithm.quantity, []).append(algorithm)
    ordered: list[Algorithm] = []
    done: set[str] = set()
    pending = sorted(by_quantity)
    while pending:
        ready = [
            q
            for q in pending
            if all(d in done or d not in by_quantity for a in by_quantity[q] for d in a.depends_on)
        ]
        if not ready:  # a dependency cycle: run the rest as they are
            ready = pending
        for quantity in ready:
            ordered.extend(by_quantity[quantity])
            done.add(quantity)
        pending = [q for q in pending if q not in done]
    return ordered


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_algorithm(
    algorithm: Algorithm, polytope: Polytope, inputs: dict[str, Any], timeout: float | None
) -> dict[str, Any]:
    """Run one algorithm; return its job-like entry ``{"status", "result", "summary"}``."""
    reason = algorithm.applicability(polytope)
    if reason is not None:
        return {"status": "not_applicable", "result": None, "summary": {"not_applicable": reason}}
    missing = [
        q
        for q in algorithm.depends_on
        if not any(k.startswith(q + "/") and v["status"] == "done" for k, v in inputs.items())
    ]
    if missing:
        reason = f"no finished input for {', '.join(missing)}"
        return {"status": "failed", "result": None, "summary": {"error": reason}}
    started = time.perf_counter()
    try:
        result = algorithm.compute(polytope, time_budget=timeout, inputs=inputs)
    except TimeBudgetExceeded as exc:
        return {"status": "timed_out", "result": None, "summary": {"timed_out": exc.seconds}}
    except Exception as exc:  # an algorithm's failure is reported, not fatal
        return {"status": "failed", "result": None, "summary": {"error": _one_line(exc)}}
    seconds = float(result.get("seconds", time.perf_counter() - started))
    return {
        "status": "done",
        "result": result,
        "summary": {"value": result.get("value"), "seconds": seconds},
    }


def _summary_reason(entry: dict[str, Any]) -> str | None:
    """Why an entry that is not done gave no value, from its summary."""
    summary = entry["summary"]
    if "timed_out" in summary:
        which = f" ({summary['budget']})" if summary.get("budget") else ""
        return f"time budget exceeded after {summary['timed_out']:.3g} s{which}"
    for key in ("not_applicable", "skipped", "error"):
        if summary.get(key):
            return str(summary[key])
    return None


DEFAULT_BUDGET = 60.0
# What the one-line headline (capacity, certificate, systolic ratio, volume, loop) is made of;
# everything else (the spectrum) runs after it, with what is left of the total budget.
HEADLINE = ("volume", "capacity", "certified_capacity", "systolic_ratio")


def _headline_rank(alg: Algorithm) -> int:
    """Sort key: headline quantities in HEADLINE's (dependency-respecting) order, then the rest."""
    return HEADLINE.index(alg.quantity) if alg.quantity in HEADLINE else len(HEADLINE)


def _not_run(status: str, key: str, reason: str) -> dict[str, Any]:
    return {"status": status, "result": None, "summary": {key: reason}}


def _skip_entry(alg: Algorithm, polytope: Polytope, reason: str) -> dict[str, Any]:
    """The entry of an algorithm that was not run: not applicable, else skipped for ``reason``."""
    inapplicable = alg.applicability(polytope)
    if inapplicable is not None:
        return _not_run("not_applicable", "not_applicable", inapplicable)
    return _not_run("skipped", "skipped", reason)


def _missing_reasons(output: dict[str, Any], entries: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Why each headline value and the spectrum that is ``None`` is missing, one line each."""

    def reason(prefix: str) -> str:
        parts = [
            f"{key.partition('/')[2]}: {entries[key]['status']} ({_summary_reason(entries[key])})"
            for key in sorted(entries)
            if key.startswith(prefix + "/") and entries[key]["status"] != "done"
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
    want_spectrum = algorithm is None if spectrum is None else spectrum
    ends_at = None if budget is None else time.perf_counter() + budget
    entries: dict[str, dict[str, Any]] = {}
    ordered = sorted(_dependency_order(registry.algorithms()), key=_headline_rank)
    for alg in ordered:
        if alg.quantity == "capacity" and algorithm is not None and alg.name != algorithm:
            entries[alg.key] = _skip_entry(alg, polytope, f"not selected (--algorithm {algorithm})")
            continue
        if alg.quantity == "spectrum" and not want_spectrum:
            entries[alg.key] = _skip_entry(
                alg,
                polytope,
                "not requested (--algorithm computes only the headline; add --spectrum)",
            )
            continue
        limit, by_budget = timeout, False
        if ends_at is not None and not alg.depends_on:  # derived quantities only combine inputs
            remaining = ends_at - time.perf_counter()
            if remaining <= 0:
                entries[alg.key] = _skip_entry(
                    alg, polytope, f"the total budget of {budget:g} s (--budget) was used up"
                )
                continue
            if limit is None or remaining < limit:
                limit, by_budget = remaining, True
        inputs = {
            key: {"status": e["status"], "result": e["result"], "reason": _summary_reason(e)}
            for key, e in entries.items()
            if key.partition("/")[0] in alg.depends_on
        }
        entry = run_algorithm(alg, polytope, inputs, limit)
        if entry["status"] == "timed_out":
            entry["summary"]["budget"] = (
                "the total --budget" if by_budget else "the per-algorithm --timeout"
            )
        entries[alg.key] = entry
    return _headline(polytope, entries)


def _headline(polytope: Polytope, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``atlas compute`` object from the entries of every algorithm."""

    def value_of(key: str) -> Any:
        entry = entries.get(key)
        return entry["result"]["value"] if entry and entry["status"] == "done" else None

    volume = value_of(f"volume/{PREFERRED_VOLUME}")
    if volume is None:
        volume = next(
            (
                e["result"]["value"]
                for k, e in sorted(entries.items())
                if k.startswith("volume/") and e["status"] == "done"
            ),
            None,
        )
    certified = entries.get("certified_capacity/certify")
    certified_result = certified["result"] if certified and certified["status"] == "done" else None
    output: dict[str, Any] = {
        "dimension": polytope.dim,
        "num_vertices": polytope.num_vertices,
        "num_facets": polytope.num_facets,
        "volume": volume,
        "capacity": certified_result["value"] if certified_result else None,
        "systolic_ratio": value_of("systolic_ratio/formula"),
        "capacities": {
            k.partition("/")[2]: e["summary"]
            for k, e in entries.items()
            if k.startswith("capacity/")
        },
        "cycle": certified_result["loop"] if certified_result else None,
    }
    spectra = [e for k, e in sorted(entries.items()) if k.startswith("spectrum/")]
    if spectra:
        done = [e["result"] for e in spectra if e["status"] == "done"]
        output["spectrum"] = _spectrum_values(done[0]) if done else None
    if certified_result:
        output["certificate"] = {
            key: certified_result[key]
            for key in (
                "algorithm",
                "level",
                "agreeing",
                "methods",
                "max_relative_difference",
                "disagreement",
                "unverified",
                "others",
            )
        }
        output["certificate"]["meaning"] = LEVELS.get(certified_result["level"], "")
    elif certified is not None:
        output["certificate"] = certified["summary"]
    output["missing"] = _missing_reasons(output, entries)
    return output


def _spectrum_values(result: dict[str, Any]) -> Any:
    for key in ("spectrum", "actions", "values", "value"):
        if key in result:
            return result[key]
    return None


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
