"""Tableaus are checked on construction: a wrong coefficient must fail, the real ones must pass."""
import numpy as np
import pytest

import pysciml as ps
from pysciml.solvers.rk_conditions import order_defects, trees_of_order
from pysciml.solvers.explicit.tableau import ButcherTableau
from helpers import EXPLICIT

ALL_METHODS = EXPLICIT


def test_number_of_rooted_trees_matches_oeis_a000081():
    assert [len(trees_of_order(n)) for n in range(1, 10)] == [1, 1, 2, 4, 9, 20, 48, 115, 286]


@pytest.mark.parametrize("method", ALL_METHODS, ids=lambda m: m.__name__)
def test_every_tableau_meets_its_orders(method):
    tab = method.tableau
    a, b, c = tab.a_matrix, np.asarray(tab.b), np.asarray(tab.c)
    assert max(order_defects(a, b, c, tab.order)) < 1e-12
    # and not one order more: the claimed order is the true order
    assert order_defects(a, b, c, tab.order + 1)[-1] > 1e-8


def test_published_stability_boundaries():
    # Real stability intervals: RK4 2.785, DP5 3.31, Tsit5 ≈ 3.5, Vern7 ≈ 4.64 (Hairer–Wanner; Verner)
    assert ps.RK4.tableau.stability_boundary == pytest.approx(2.785, abs=0.01)
    assert ps.DP5.tableau.stability_boundary == pytest.approx(3.307, abs=0.01)
    assert ps.Vern7.tableau.stability_boundary == pytest.approx(4.64, abs=0.02)


def test_wrong_coefficient_is_rejected():
    with pytest.raises(ValueError, match="order-4 conditions fail"):
        ButcherTableau(name="bad RK4", order=4, c=(0.0, 0.5, 0.5, 1.0),
                       a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), b=(1 / 6, 1 / 3, 1 / 3 + 1e-6, 1 / 6 - 1e-6))
    with pytest.raises(ValueError, match="row sums"):
        ButcherTableau(name="bad c", order=1, c=(0.0, 0.6), a=((), (0.5,)), b=(1.0, 0.0))
    with pytest.raises(ValueError, match="row 1 of a"):
        ButcherTableau(name="bad shape", order=1, c=(0.0, 0.5), a=((), (0.5, 0.1)), b=(1.0, 0.0))


def test_wrong_dense_output_is_rejected():
    w = [list(row) for row in ps.DP5.tableau.dense_weights]
    w[2][1] += 1e-4
    with pytest.raises(ValueError, match="dense output"):
        ButcherTableau(name="bad dense", order=5, embedded_order=4, fsal=True, dense_order=4,
                       c=ps.DP5.tableau.c, a=ps.DP5.tableau.a, b=ps.DP5.tableau.b,
                       b_error=ps.DP5.tableau.b_error, dense_weights=tuple(map(tuple, w)))
