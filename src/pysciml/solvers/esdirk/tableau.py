"""ESDIRK methods (explicit first stage, singly diagonally implicit Runge–Kutta) as validated data.

An s-stage method has the Butcher matrix

    A = [[0,    0,    0, …],
         [a21,  γ,    0, …],
         [a31,  a32,  γ, …], …]

(first row zero, the same diagonal γ for every later stage). One step solves, for i = 2..s,

    z_i = u + h Σ_{j<i} a_ij k_j + h γ k_i,      k_i = f(z_i, t + c_i h),      k_1 = f(u, t),

and every method here is stiffly accurate (b equals the last row of A), so u1 = z_s and k_s = f(u1),
which the next step reuses as its first stage (FSAL).

Dense output has the common form u(t + θh) = u + h Σ_j b_j(θ) k_j, b_j(θ) = Σ_m W[j][m−1] θ^m.

An IMEX pair (additive Runge–Kutta) adds an explicit matrix A_E with the same b, b̂, c and dense weights:
for du/dt = f1 + f2, stage i solves z_i = u + h Σ_{j<i} (a_ij k1_j + aE_ij k2_j) + h γ k1_i with
k1_j = f1(z_j) and k2_j = f2(z_j), and u1 = u + h Σ_j b_j (k1_j + k2_j).

Construction checks, with `order_defects` on the full A (diagonal included): row sums against c, stiff
accuracy, the order conditions of the method and of the embedded method, and those of the dense output
at θ = 0.3 and 0.7 (and that it reproduces u1 at θ = 1), so a mistyped coefficient fails at import. With
an explicit part, the same conditions are checked for the additive pair (`additive_order_defects`: the
explicit method's own conditions and the coupling conditions).
"""
from dataclasses import dataclass

import numpy as np

from ..explicit.tableau import hermite_dense_weights
from ..rk_conditions import additive_order_defects, lower_triangular, order_defects

_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class EsdirkTableau:
    name: str
    order: int
    embedded_order: int
    gamma: float             # the diagonal of stages 2..s
    a: tuple                 # rows i = 0..s-1, a[i] has i entries (strictly lower part of A)
    c: tuple                 # stage times t + c_i h (c_1 = 0)
    b: tuple                 # solution weights (= last row of A: stiffly accurate)
    b_error: tuple           # b − b̂ (error estimate h Σ b_error_j k_j)
    dense_order: int
    dense_weights: tuple     # s rows of θ¹..θᵈ coefficients
    explicit_a: tuple | None = None   # IMEX pairs: strictly lower rows of the explicit part's A_E

    def __post_init__(self):
        self._validate()

    @property
    def stages(self) -> int:
        return len(self.b)

    # The dense output needs no extra stages (interface shared with ButcherTableau).
    c_extra = ()
    a_extra = ()

    def matrix(self):
        """The full Butcher matrix A (explicit first row, γ on the diagonal of the other rows)."""
        out = lower_triangular(self.a, self.stages)
        out[np.arange(1, self.stages), np.arange(1, self.stages)] = self.gamma
        return out

    def explicit_matrix(self):
        """A_E of the explicit part of an IMEX pair (None for a purely implicit method)."""
        return None if self.explicit_a is None else lower_triangular(self.explicit_a, self.stages)

    def dense_b(self, theta):
        """b(θ) of the dense output."""
        w = np.asarray(self.dense_weights, float)
        return w @ (theta ** np.arange(1, w.shape[1] + 1))

    def _validate(self):
        s = self.stages
        problems = []
        if len(self.a) != s or any(len(r) != i for i, r in enumerate(self.a)):
            problems.append(f"a must have {s} strictly lower-triangular rows")
        if len(self.c) != s or len(self.b_error) != s or len(self.dense_weights) != s:
            problems.append(f"c, b_error and dense_weights need {s} entries")
        if self.explicit_a is not None and (len(self.explicit_a) != s
                                            or any(len(r) != i for i, r in enumerate(self.explicit_a))):
            problems.append(f"explicit_a must have {s} strictly lower-triangular rows")
        if problems:
            raise ValueError(f"tableau {self.name}: " + "; ".join(problems))
        A, b, c = self.matrix(), np.asarray(self.b, float), np.asarray(self.c, float)
        if self.explicit_a is not None:
            problems += self._explicit_part_problems(A, b, c)
        if c[0] != 0.0:
            problems.append("the first stage must be explicit at c_1 = 0")
        if np.abs(A.sum(axis=1) - c).max() > _TOL:
            problems.append(f"row sums of A {np.round(A.sum(axis=1), 10)} differ from c")
        if np.abs(A[-1] - b).max() > _TOL:
            problems.append("not stiffly accurate: b differs from the last row of A")
        defects = order_defects(A, b, c, self.order)
        if max(defects) > _TOL:
            problems.append(f"order-{self.order} conditions fail: {['%.1e' % d for d in defects]}")
        b_hat = b - np.asarray(self.b_error, float)
        defects = order_defects(A, b_hat, c, self.embedded_order)
        if max(defects) > _TOL:
            problems.append(f"embedded order-{self.embedded_order} conditions fail: {['%.1e' % d for d in defects]}")
        if np.abs(self.dense_b(1.0) - b).max() > _TOL:
            problems.append("dense output at θ=1 does not reproduce the step's solution")
        for theta in (0.3, 0.7):
            defects = order_defects(A, self.dense_b(theta), c, self.dense_order, theta)
            if max(defects) > _TOL:
                problems.append(f"dense output order-{self.dense_order} conditions fail at θ={theta}: "
                                f"{['%.1e' % d for d in defects]}")
        if problems:
            raise ValueError(f"tableau {self.name}: " + "; ".join(problems))

    def _explicit_part_problems(self, A, b, c):
        """Row sums of A_E and the additive order conditions of the pair, its embedded pair and its
        dense output."""
        problems = []
        matrices = (A, self.explicit_matrix())
        if np.abs(matrices[1].sum(axis=1) - c).max() > _TOL:
            problems.append(f"row sums of the explicit A_E {np.round(matrices[1].sum(axis=1), 10)} differ from c")
        checks = [("IMEX", b, self.order, 1.0),
                  ("embedded IMEX", b - np.asarray(self.b_error, float), self.embedded_order, 1.0)]
        checks += [(f"IMEX dense output at θ={theta}", self.dense_b(theta), self.dense_order, theta)
                   for theta in (0.3, 0.7)]
        for what, weights, order, theta in checks:
            defects = additive_order_defects(matrices, weights, c, order, theta)
            if max(defects) > _TOL:
                problems.append(f"{what} order-{order} conditions fail: {['%.1e' % d for d in defects]}")
        return problems


def lower_rows(matrix):
    """Strictly lower-triangular rows (row i has i entries) of a lower-triangular nested list."""
    return tuple(tuple(float(x) for x in row[:i]) for i, row in enumerate(matrix))


def hermite_weights(b):
    """Cubic Hermite dense output from u0, u1, k_1 = f(u0) and k_s = f(u1) (stiffly accurate)."""
    weights, _, _ = hermite_dense_weights(b, fsal=True)
    return weights
