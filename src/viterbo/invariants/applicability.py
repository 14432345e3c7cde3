"""Applicability checks shared by several algorithms (``applicability(polytope) -> None | str``).

Algorithms that need the same structure use one function here, so the reason a user sees for a
polytope is worded the same way wherever it is reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from viterbo.geometry import Polytope


def even_dimension(polytope: Polytope, subject: str = "capacity") -> str | None:
    """``None`` when ``polytope`` has even dimension, else the reason ``subject`` does not apply.

    Symplectic invariants (capacity, certified capacity, systolic ratio) live in R^2n only.

    Parameters
    ----------
    polytope : Polytope
        The polytope.
    subject : str
        What needs the even dimension, the first words of the reason.

    Returns
    -------
    str or None
        ``"<subject> needs an even dimension, got <dim>"`` in odd dimension, else ``None``.
    """
    if polytope.dim % 2:
        return f"{subject} needs an even dimension, got {polytope.dim}"
    return None
