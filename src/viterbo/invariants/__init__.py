"""Symplectic invariants: capacity algorithms, certificates, spectrum, systolic ratio."""

from viterbo.invariants.registry import (
    Algorithm,
    TimeBudgetExceeded,
    algorithms,
    get,
    quantities,
    register,
)

__all__ = ["Algorithm", "TimeBudgetExceeded", "algorithms", "get", "quantities", "register"]
