"""The certified capacity (quantity ``certified_capacity``, algorithm ``certify``).

MATH.md §4: a published capacity comes from an exact algorithm whose minimal-action loop passed
:func:`~viterbo.invariants.certificate.verify_loop` (a verified loop proves c <= value; exact
algorithms agreeing give the lower bound). All verified exact values must agree to ``rtol``;
when they do not, the disagreement is recorded -- never averaged away -- and the published
value is the smallest verified one (the tightest proven upper bound), flagged ``disagreement``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from viterbo.invariants import registry
from viterbo.invariants.applicability import even_dimension
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.registry import Algorithm, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

# Among equal values, publish the loop of the simplest algorithm.
PREFERENCE = ("area-2d", "symplectic-product", "billiard", "haim-kislev", "reeb")


class CertificationError(ValueError):
    """No exact capacity algorithm produced a verified loop."""


def _is_exact(name: str) -> bool:
    try:
        return registry.get("capacity", name).exact
    except KeyError:
        return False


def _rank(name: str) -> int:
    return PREFERENCE.index(name) if name in PREFERENCE else len(PREFERENCE)


def certify(
    results: Mapping[str, Mapping[str, Any]], polytope: Polytope, *, rtol: float = 1e-9
) -> dict[str, Any]:
    """Pick the certified capacity from the results of capacity algorithms.

    Parameters
    ----------
    results : mapping
        Algorithm name (of the quantity ``capacity``) -> its successful result dict (with
        ``value`` and ``loop``). Failed, timed-out or inapplicable runs are simply left out.
    polytope : Polytope
        The polytope the results belong to (every loop is re-verified on it).
    rtol : float
        Relative tolerance for loop verification and for agreement between algorithms.

    Returns
    -------
    dict
        ``value`` (the smallest verified exact value), ``algorithm`` (whose loop is published),
        ``loop``, ``agreeing`` (algorithms within ``rtol`` of the value),
        ``max_relative_difference`` (over verified exact values), ``disagreement`` (list of
        ``{algorithm, value}``, empty when all agree), ``unverified`` (exact algorithms whose
        loop failed, with the reason), ``skipped`` (inexact or unknown algorithms), ``status``
        (``"agreement"``, ``"disagreement"`` or ``"unverified"``), ``seconds``, ``diagnostics``.

    Raises
    ------
    CertificationError
        When no exact algorithm has a verified loop.
    """
    started = time.perf_counter()
    verified: dict[str, float] = {}
    loops: dict[str, Any] = {}
    unverified: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name in sorted(results, key=lambda n: (_rank(n), n)):
        result = results[name]
        if not _is_exact(name):
            skipped.append(name)
            continue
        value = float(result["value"])
        loop = result.get("loop")
        if loop is None:
            unverified.append({"algorithm": name, "value": value, "reason": "no loop"})
            continue
        try:
            verify_loop(polytope, loop, value, rtol=rtol)
        except ValueError as exc:
            unverified.append({"algorithm": name, "value": value, "reason": str(exc)})
            continue
        verified[name] = value
        loops[name] = loop
    if not verified:
        reasons = (
            "; ".join(f"{u['algorithm']}: {u['reason']}" for u in unverified) or "no exact results"
        )
        raise CertificationError(
            f"no exact capacity algorithm produced a verified loop ({reasons})"
        )

    smallest = min(verified.values())
    chosen = min(verified, key=lambda n: (verified[n] > smallest * (1 + rtol), _rank(n), n))
    value = verified[chosen]
    spread = (max(verified.values()) - smallest) / smallest
    agreeing = [n for n, v in verified.items() if abs(v - value) <= rtol * value]
    disagreement: list[dict[str, Any]] = []
    off = [u for u in unverified if abs(u["value"] - value) > rtol * value]
    if spread > rtol or off:
        disagreement = [{"algorithm": n, "value": v} for n, v in verified.items()]
        disagreement += [{"algorithm": u["algorithm"], "value": u["value"]} for u in off]
    status = "disagreement" if disagreement else ("unverified" if unverified else "agreement")
    return {
        "value": value,
        "algorithm": chosen,
        "loop": loops[chosen],
        "agreeing": agreeing,
        "max_relative_difference": spread,
        "disagreement": disagreement,
        "unverified": unverified,
        "skipped": skipped,
        "status": status,
        "seconds": time.perf_counter() - started,
        "diagnostics": {"verified": verified},
    }


def applicability(polytope: Polytope) -> str | None:
    """Applies whenever a capacity can: even dimension."""
    return even_dimension(polytope)


def compute(
    polytope: Polytope,
    *,
    time_budget: float | None = None,
    inputs: registry.Inputs | None = None,
    rtol: float = 1e-9,
) -> dict[str, Any]:
    """Registry entry: :func:`certify` on the finished ``capacity/*`` inputs.

    Parameters
    ----------
    polytope : Polytope
        The polytope.
    time_budget : ignored
        Verification is cheap.
    inputs : mapping
        ``"capacity/NAME" -> {"status", "result"}`` for every capacity algorithm.
    rtol : float
        Relative tolerance (verification and agreement).
    """
    del time_budget
    results: dict[str, Mapping[str, Any]] = {}
    others: dict[str, str] = {}
    for key, entry in (inputs or {}).items():
        quantity, _, name = key.partition("/")
        if quantity != "capacity":
            continue
        if entry.get("status") == "done" and entry.get("result") is not None:
            results[name] = entry["result"]
        else:
            others[name] = str(entry.get("status"))
    outcome = certify(results, polytope, rtol=rtol)
    outcome["diagnostics"]["not_done"] = others
    return outcome


register(
    Algorithm(
        quantity="certified_capacity",
        name="certify",
        compute=compute,
        applicability=applicability,
        exact=True,
        depends_on=("capacity",),
        description="verified value of the exact capacity algorithms; disagreements recorded",
    )
)
