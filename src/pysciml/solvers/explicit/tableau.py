"""Explicit Runge–Kutta methods as validated data.

A `ButcherTableau` holds the coefficients of one method, its embedded error estimate and its continuous
extension (dense output). Construction checks the row sums and the order conditions of the method, the
embedded method and the interpolant, so a mistyped coefficient fails at import instead of giving quietly
wrong numbers.

Dense output has one form for every method:

    u(t0 + θh) = u0 + h · Σ_j b_j(θ) k_j,      b_j(θ) = Σ_{m=1..d} W[j][m-1] θ^m,

where k_1..k_s are the step's stages and k_{s+1}..k_{s+e} are *extra* stages evaluated lazily, only when
the interpolant is used: k_{s+i} = f(u0 + h Σ_j A_extra[i][j] k_j, t0 + c_extra[i] h) with j running over
all earlier stages (main and extra).
"""
from dataclasses import dataclass, field

import numpy as np

from ..rk_conditions import lower_triangular, order_defects

_TOL = 1e-10


def hermite_dense_weights(b, fsal: bool):
    """Cubic Hermite dense output (third order) from u0, u1, f(u0) = k_1 and f(u1).

    For an FSAL method f(u1) is the last stage; otherwise it is one extra stage with row ``b``. Returns
    ``(weights, c_extra, a_extra)`` in the form described in the module docstring.
    """
    s = len(b)
    n = s if fsal else s + 1
    # Hermite basis in θ: h01 = 3θ² − 2θ³ (weight of u1 − u0), h10 = θ − 2θ² + θ³ (of h f0), h11 = −θ² + θ³ (of h f1)
    h01, h10, h11 = np.array([0, 3, -2.0]), np.array([1, -2, 1.0]), np.array([0, -1, 1.0])
    w = np.zeros((n, 3))
    w[:s] = np.outer(b, h01)
    w[0] += h10
    w[n - 1] += h11
    extra_c, extra_a = ((), ()) if fsal else ((1.0,), (tuple(b),))
    return tuple(tuple(float(x) for x in row) for row in w), extra_c, extra_a


@dataclass(frozen=True, eq=False)
class ButcherTableau:
    """Coefficients of an explicit Runge–Kutta method with embedded error estimate and dense output.

    name: the method's name (messages). order: the order of ``b``. c: the nodes. a: strictly lower-triangular
    rows; ``a[i]`` has ``i`` entries. b: the weights. b_error: weights of the local error estimate (b − b̂), or
    None for a fixed-step method; embedded_order: the order of b̂. fsal: the last stage is f(u1), reused as the
    next step's first stage. dense_order: the order of the continuous extension; dense_weights / c_extra /
    a_extra: its coefficients (module docstring; None builds a Hermite interpolant). The order conditions, row
    sums and the dense output's order are checked on construction (a `ValueError` lists what fails).
    """
    name: str
    order: int
    c: tuple
    a: tuple
    b: tuple
    b_error: tuple | None = None
    embedded_order: int | None = None
    fsal: bool = False
    dense_order: int = 3
    dense_weights: tuple | None = None
    c_extra: tuple = ()
    a_extra: tuple = ()
    stability_boundary: float = field(init=False)

    def __post_init__(self):
        if self.dense_weights is None:
            w, c_extra, a_extra = hermite_dense_weights(self.b, self.fsal)
            object.__setattr__(self, "dense_weights", w)
            object.__setattr__(self, "c_extra", c_extra)
            object.__setattr__(self, "a_extra", a_extra)
        self._validate()
        object.__setattr__(self, "stability_boundary", _real_stability_boundary(self.a_matrix, self.b))

    @property
    def stages(self) -> int:
        return len(self.b)

    @property
    def a_matrix(self) -> np.ndarray:
        return lower_triangular(self.a, self.stages)

    def extended_matrices(self):
        """Returns (A, c) over the main and extra stages together, used by the dense-output order check."""
        rows = tuple(self.a) + tuple(self.a_extra)
        return lower_triangular(rows, len(rows)), np.concatenate([self.c, self.c_extra])

    def dense_b(self, theta: float) -> np.ndarray:
        """Returns the weights b(θ) of the continuous extension at ``theta`` ∈ [0, 1] (b(1) = b), a NumPy array."""
        w = np.asarray(self.dense_weights, float)
        powers = theta ** np.arange(1, w.shape[1] + 1)
        return w @ powers

    def _validate(self):
        s = self.stages
        problems = []
        if len(self.c) != s or len(self.a) != s:
            problems.append(f"c has {len(self.c)} and a has {len(self.a)} rows; b has {s} stages")
        for i, row in enumerate(self.a):
            if len(row) != i:
                problems.append(f"row {i} of a has {len(row)} entries, expected {i}")
        if problems:
            raise ValueError(f"tableau {self.name}: " + "; ".join(problems))
        a = self.a_matrix
        row_sums = np.abs(a.sum(axis=1) - np.asarray(self.c)).max()
        if row_sums > _TOL:
            problems.append(f"row sums of a differ from c by {row_sums:.2e}")
        defects = order_defects(a, self.b, self.c, self.order)
        if max(defects) > _TOL:
            problems.append(f"order-{self.order} conditions fail: defects by order {_fmt(defects)}")
        if self.b_error is not None:
            b_hat = np.asarray(self.b) - np.asarray(self.b_error)
            defects = order_defects(a, b_hat, self.c, self.embedded_order)
            if max(defects) > _TOL:
                problems.append(f"embedded order-{self.embedded_order} conditions fail: {_fmt(defects)}")
        a_ext, c_ext = self.extended_matrices()
        if len(self.dense_weights) != len(c_ext):
            problems.append(f"dense_weights has {len(self.dense_weights)} rows for {len(c_ext)} stages")
        else:
            ext_sums = np.abs(a_ext.sum(axis=1) - c_ext).max()
            if ext_sums > _TOL:
                problems.append(f"row sums of the extra stages differ from c_extra by {ext_sums:.2e}")
            if np.abs(self.dense_b(1.0)[:s] - self.b).max() > _TOL or np.abs(self.dense_b(1.0)[s:]).max(initial=0) > _TOL:
                problems.append("dense output at θ=1 does not reproduce the step's solution")
            for theta in (0.3, 0.7):
                defects = order_defects(a_ext, self.dense_b(theta), c_ext, self.dense_order, theta)
                if max(defects) > _TOL:
                    problems.append(f"dense output fails order {self.dense_order} at θ={theta}: {_fmt(defects)}")
        if problems:
            raise ValueError(f"tableau {self.name}: " + "; ".join(problems))


def _fmt(values):
    return "[" + ", ".join(f"{v:.1e}" for v in values) + "]"


def _real_stability_boundary(a, b) -> float:
    """Largest x with |R(−y)| ≤ 1 for all 0 ≤ y ≤ x, R(z) = 1 + z bᵀ(I − zA)⁻¹1 the stability function."""
    s = len(b)
    ones = np.ones(s)
    ys = np.linspace(0.0, 40.0, 8001)[1:]
    for y in ys:
        r = 1.0 - y * (np.asarray(b) @ np.linalg.solve(np.eye(s) + y * a, ones))
        if abs(r) > 1.0 + 1e-12:
            return float(y)
    return float(ys[-1])
