"""Shampine & Reichelt's Rosenbrock23 (MATLAB's ode23s): order 2(3), L-stable. Coefficients as
`RosenbrockTableau` data (transformed form and sign convention: see tableau.py), checked on import."""
import math

from .stepper import Rosenbrock
from .tableau import RosenbrockTableau

# ---------------------------------------------------------------------------------------------------------
# Rosenbrock23: the method of MATLAB's ode23s.
# L. F. Shampine & M. W. Reichelt, "The MATLAB ODE Suite", SIAM J. Sci. Comput. 18 (1997) 1–22, §3.
# With d = 1/(2 + √2), e32 = 6 + √2, W = I − h d J, T = ∂f/∂t:
#     k1 = W⁻¹(f(t0, y0) + h d T)
#     k2 = W⁻¹(f(t0 + h/2, y0 + h k1/2) − k1) + k1,          y1 = y0 + h k2
#     k3 = W⁻¹(f(t1, y1) − e32 (k2 − F1) − 2 (k1 − F0) + h d T)    (F0, F1 the two f values above)
#     error ≈ h (k1 − 2 k2 + k3)/6,   y(t0 + θh) ≈ y0 + h [θ(1−θ) k1 + θ(θ − 2d) k2]/(1 − 2d).
# Although stage 3 reuses F0 and F1, F_j − k_j is a multiple of J·k (from the stage equations), so the
# scheme is an ordinary 3-stage Rosenbrock method. Its original form (K_i = h k_i) has
#     α21 = 1/2, α32 = 1;  Γ = [[d, 0, 0], [−d, d, 0], [d(e32 − 2), −d e32, d]];  b = (0, 1, 0),
#     b̂ = (1, 4, 1)/6 (the published estimate is ŷ − y1, so b − b̂ = −(1, −2, 1)/6),
# and the time-derivative coefficients γ_i = row sums of Γ = (d, 0, −d). Transforming (U = Γ K, so
# Γ⁻¹ = [[1, 0, 0], [1, 1, 0], [2, e32, 1]]/d) gives the closed forms below:
#     U1 = d h k1, U2 = d h (k2 − k1), U3 = d h ((e32 − 2) k1 − e32 k2 + k3).
# The published error estimate is reproduced up to its sign (irrelevant to any norm):
# Σ m_error_i U_i = y1 − ŷ = −h (k1 − 2 k2 + k3)/6, where ŷ = y0 + Σ b̂_i K_i is of order 3 (with the exact
# Jacobian), so embedded_order = 3 > order = 2: the estimate is that of the lower-order solution. The third stage's f(t1, y1) is the next
# step's f(t0, y0) (FSAL in ode23s); this data type does not record that reuse, so a generic stepper pays
# one extra f evaluation per step. Dense output: Shampine & Reichelt's free interpolant, order 2.
# ---------------------------------------------------------------------------------------------------------
_D23 = 1.0 / (2.0 + math.sqrt(2.0))
_E32 = 6.0 + math.sqrt(2.0)

ROSENBROCK23 = RosenbrockTableau(
    name="Rosenbrock23", order=2, embedded_order=3,
    gamma=_D23,
    a=((), (1.0 / (2.0 * _D23),), (1.0 / _D23, 1.0 / _D23)),
    C=((), (-1.0 / _D23,), (-2.0 / _D23, -_E32 / _D23)),
    alpha=(0.0, 0.5, 1.0),
    gamma_i=(_D23, 0.0, -_D23),
    m=(1.0 / _D23, 1.0 / _D23, 0.0),
    m_error=(-1.0 / (6.0 * _D23), -(_E32 - 2.0) / (6.0 * _D23), -1.0 / (6.0 * _D23)),
    dense_order=2,
    # b(θ) = (θ/d, θ(θ − 2d)/(d(1 − 2d)), 0)
    dense_weights=((1.0 / _D23, 0.0),
                   (-2.0 / (1.0 - 2.0 * _D23), 1.0 / (_D23 * (1.0 - 2.0 * _D23))),
                   (0.0, 0.0)),
)


class Rosenbrock23(Rosenbrock):
    """Shampine & Reichelt's ode23s: L-stable, order 2 with an order-3 error estimate and free dense
    output; robust at loose tolerances and for problems with rough Jacobians.

    ``linsolve``: how the implicit stages solve W = M/(γh) − J: None or 'lu' (dense LU, the default),
    'sparse' (sparse W, block-Jacobi GMRES), 'krylov' (matrix-free GMRES), or a `LinearSolver` instance.
    """
    tableau = ROSENBROCK23
