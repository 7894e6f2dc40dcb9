"""Bogacki–Shampine 3(2) pair (P. Bogacki & L. F. Shampine, Appl. Math. Lett. 2 (1989) 321–325).

FSAL, so its cubic Hermite dense output (third order) is free: f(u1) is the last stage.
"""
from .tableau import ButcherTableau
from .erk import ExplicitRK

_B = (2 / 9, 1 / 3, 4 / 9, 0.0)
_B_HAT = (7 / 24, 1 / 4, 1 / 3, 1 / 8)

BS3_TABLEAU = ButcherTableau(
    name="BS3", order=3, embedded_order=2, fsal=True, dense_order=3,
    c=(0.0, 1 / 2, 3 / 4, 1.0),
    a=((), (1 / 2,), (0.0, 3 / 4), _B[:3]),
    b=_B,
    b_error=tuple(b - bh for b, bh in zip(_B, _B_HAT)),
)


class BS3(ExplicitRK):
    """Bogacki–Shampine 3(2): cheap (3 new stages a step) for loose tolerances and non-smooth problems."""
    tableau = BS3_TABLEAU
