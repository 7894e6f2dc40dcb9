"""Classic test problems as `ODEProblem`s (Hairer, Nørsett & Wanner, Solving ODEs I), some with exact solutions."""
import jax.numpy as jnp
import numpy as np

from ..problems import ODEProblem


def _lotka_volterra_rhs(u, p, t):
    x, y = u[0], u[1]
    a, b, c, d = p[0], p[1], p[2], p[3]
    return jnp.stack([a * x - b * x * y, -c * y + d * x * y])


def lotka_volterra(tspan=(0.0, 10.0)):
    """Predator–prey: x' = a x − b x y, y' = −c y + d x y with p = (1.5, 1, 3, 1), u0 = (1, 1).

    Returns the `ODEProblem` on ``tspan``.
    """
    return ODEProblem(_lotka_volterra_rhs, jnp.array([1.0, 1.0]), tspan, jnp.array([1.5, 1.0, 3.0, 1.0]))


def _lorenz_rhs(u, p, t):
    sigma, rho, beta = p[0], p[1], p[2]
    x, y, z = u[0], u[1], u[2]
    return jnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def lorenz(tspan=(0.0, 1.0)):
    """Lorenz attractor: σ = 10, ρ = 28, β = 8/3, u0 = (1, 0, 0).

    Returns the `ODEProblem` on ``tspan``.
    """
    return ODEProblem(_lorenz_rhs, jnp.array([1.0, 0.0, 0.0]), tspan, jnp.array([10.0, 28.0, 8.0 / 3.0]))


def _pleiades_rhs(u, p, t):
    x, y, vx, vy = u[0:7], u[7:14], u[14:21], u[21:28]
    m = p
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    r3 = (dx ** 2 + dy ** 2) ** 1.5
    r3 = jnp.where(r3 == 0, 1.0, r3)             # the diagonal (a body with itself) contributes nothing
    ax = jnp.sum(m[None, :] * dx / r3, axis=1)
    ay = jnp.sum(m[None, :] * dy / r3, axis=1)
    return jnp.concatenate([vx, vy, ax, ay])


def pleiades(tspan=(0.0, 3.0)):
    """Seven bodies in the plane (HNW I, II.10): masses m_i = i, state (x, y, x', y') of 28 components.

    Returns the `ODEProblem` on ``tspan``.
    """
    x = [3.0, 3.0, -1.0, -3.0, 2.0, -2.0, 2.0]
    y = [3.0, -3.0, 2.0, 0.0, 0.0, -4.0, 4.0]
    vx = [0.0, 0.0, 0.0, 0.0, 0.0, 1.75, -1.5]
    vy = [0.0, 0.0, 0.0, -1.25, 1.0, 0.0, 0.0]
    u0 = jnp.array(x + y + vx + vy)
    return ODEProblem(_pleiades_rhs, u0, tspan, jnp.arange(1.0, 8.0))


def _decay_rhs(u, p, t):
    return -p * u


def exact_decay_problem(tspan=(0.0, 1.0)):
    """u' = −p u, u(0) = (1, 2), p = 0.7: returns (problem, exact(t)).

    ``tspan``: the interval (the exact solution starts at tspan[0]).
    """
    prob = ODEProblem(_decay_rhs, jnp.array([1.0, 2.0]), tspan, 0.7)
    return prob, lambda t: np.exp(-0.7 * (np.asarray(t)[..., None] - tspan[0])) * np.array([1.0, 2.0])


def _nonlinear_rhs(u, p, t):
    # y' = y cos t (y = exp(sin t): non-autonomous) and logistic growth z' = z (1 − z) / 2 (non-linear).
    return jnp.stack([u[0] * jnp.cos(t), 0.5 * u[1] * (1.0 - u[1])])


def nonlinear_exact_problem(tspan=(0.0, 10.0)):
    """A non-linear, non-autonomous system with a known solution, for convergence tests: (problem, exact(t)).

    Its solution is smooth and its error behaves regularly, so measured orders settle at moderate steps.

    Returns (problem on ``tspan``, exact(t)), exact a NumPy function of the time(s) t.
    """
    t0 = float(tspan[0])

    def exact(t):
        t = np.asarray(t, dtype=float)
        return np.stack([np.exp(np.sin(t)), 1.0 / (1.0 + 9.0 * np.exp(-0.5 * t))], axis=-1)

    return ODEProblem(_nonlinear_rhs, jnp.asarray(exact(t0)), tspan), exact


def _robertson_rhs(u, p, t):
    k1, k2, k3 = p[0], p[1], p[2]
    y1, y2, y3 = u[0], u[1], u[2]
    return jnp.stack([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, k2 * y2 ** 2])


def robertson(tspan=(0.0, 1e5)):
    """Robertson's chemical kinetics (HNW II, IV.1): stiff, k = (0.04, 3e7, 1e4), u0 = (1, 0, 0).

    Returns the `ODEProblem` on ``tspan``.
    """
    return ODEProblem(_robertson_rhs, jnp.array([1.0, 0.0, 0.0]), tspan, jnp.array([0.04, 3e7, 1e4]))


def robertson_atol(rtol):
    """Returns the per-component absolute tolerances customary for Robertson at ``rtol`` (y2 is of order 1e-5): a
    (3,) array."""
    return jnp.array([rtol * 1e-2, min(rtol * 1e-2, 1e-10), rtol * 1e-2])


HIRES_U0 = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057)


def hires_terms(u, k):
    """The 8 components of HIRES's right-hand side at the state ``u`` as a list, with k the rate of the fast
    y6·y8 reaction (280): arithmetic only, so the one definition serves JAX (`hires`), numpy (scipy references)
    and the benchmarks' peers (torch). Returns the list of 8 expressions of u's type.
    """
    y1, y2, y3, y4, y5, y6, y7, y8 = (u[i] for i in range(8))
    r = k * y6 * y8
    return [-1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007, 1.71 * y1 - 8.75 * y2,
            -10.03 * y3 + 0.43 * y4 + 0.035 * y5, 8.32 * y2 + 1.71 * y3 - 1.12 * y4,
            -1.745 * y5 + 0.43 * y6 + 0.43 * y7, -r + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
            r - 1.81 * y7, -r + 1.81 * y7]


def hires_jacobian(u, k):
    """Returns ∂f/∂u of `hires_terms` at ``u`` with fast rate ``k``: an (8, 8) NumPy array (for reference solvers
    such as scipy's Radau)."""
    y6, y8 = float(u[5]), float(u[7])
    J = np.zeros((8, 8))
    J[0, :3] = -1.71, 0.43, 8.32
    J[1, :2] = 1.71, -8.75
    J[2, 2:5] = -10.03, 0.43, 0.035
    J[3, 1:4] = 8.32, 1.71, -1.12
    J[4, 4:7] = -1.745, 0.43, 0.43
    J[5, 3:8] = 0.69, 1.71, -0.43 - k * y8, 0.69, -k * y6
    J[6, 5:8] = k * y8, -1.81, k * y6
    J[7, 5:8] = -k * y8, 1.81, -k * y6
    return J


def _hires_rhs(u, p, t):
    return jnp.stack(hires_terms(u, p))


def hires(tspan=(0.0, 321.8122)):
    """HIRES (Hairer & Wanner, Solving ODEs II, IV.10): 8 states of plant-physiology kinetics, stiff; p is
    the rate 280 of the fast y6·y8 reaction.

    Returns the `ODEProblem` on ``tspan``.
    """
    return ODEProblem(_hires_rhs, jnp.array(HIRES_U0), tspan, 280.0)


def _van_der_pol_rhs(u, p, t):
    return jnp.stack([u[1], p * ((1 - u[0] ** 2) * u[1] - u[0])])


def van_der_pol(mu=1e6, tspan=(0.0, 2.0)):
    """Van der Pol in the scaled form x' = y, y' = μ((1 − x²)y − x), u0 = (2, 0): stiff for large μ.

    ``mu``: the stiffness parameter μ (p of the problem). Returns the `ODEProblem` on ``tspan``.
    """
    return ODEProblem(_van_der_pol_rhs, jnp.array([2.0, 0.0]), tspan, mu)


def _brusselator_2d_rhs(u, p, t):
    # u has shape (N, N, 2): u[i, j, 0] = u(x_i, y_j), u[i, j, 1] = v(x_i, y_j); periodic 5-point Laplacian.
    a, b, alpha, dx = p[0], p[1], p[2], p[3]
    n = u.shape[0]
    grid = jnp.linspace(0.0, 1.0, n)
    x, y = grid[:, None], grid[None, :]
    forcing = jnp.where(((x - 0.3) ** 2 + (y - 0.6) ** 2 <= 0.1 ** 2) & (t >= 1.1), 5.0, 0.0)

    def laplacian(w):
        return jnp.roll(w, 1, 0) + jnp.roll(w, -1, 0) + jnp.roll(w, 1, 1) + jnp.roll(w, -1, 1) - 4.0 * w

    c = alpha / dx ** 2
    uu, vv = u[..., 0], u[..., 1]
    reaction = uu ** 2 * vv
    du = c * laplacian(uu) + b + reaction - (a + 1.0) * uu + forcing
    dv = c * laplacian(vv) + a * uu - reaction
    return jnp.stack([du, dv], axis=-1)


def brusselator_2d(n=32, tspan=(0.0, 11.5)):
    """The 2-D Brusselator of the SciML stiff benchmarks on an n×n grid of [0, 1]² with periodic
    boundaries (HNW II, IV.10; the form of DiffEqProblemLibrary's ``prob_ode_brusselator_2d``, see
    https://github.com/SciML/DiffEqProblemLibrary.jl, lib/ODEProblemLibrary/src/brusselator_prob.jl):

        u_t = 1 + u²v − 4.4u + α Δu + f(x, y, t),   v_t = 3.4u − u²v + α Δv,

    p = (A, B, α, dx) = (3.4, 1, 10, 1/(n−1)) with the Laplacian scaled by α/dx², f = 5 inside the disk
    (x−0.3)² + (y−0.6)² ≤ 0.1² for t ≥ 1.1, u(x, y, 0) = 22 (y(1−y))^{3/2}, v(x, y, 0) = 27 (x(1−x))^{3/2}.
    The state has shape (n, n, 2) (species fastest in the flattened order).

    Returns the `ODEProblem` on ``tspan`` (state of shape (n, n, 2)).
    """
    grid = np.linspace(0.0, 1.0, n)
    x, y = np.meshgrid(grid, grid, indexing="ij")
    u0 = np.stack([22.0 * (y * (1.0 - y)) ** 1.5, 27.0 * (x * (1.0 - x)) ** 1.5], axis=-1)
    return ODEProblem(_brusselator_2d_rhs, jnp.asarray(u0), tspan, jnp.array([3.4, 1.0, 10.0, 1.0 / (n - 1)]))


# POLLU: Verwer (1994), "Gauss–Seidel iteration for stiff ODEs from chemical kinetics", SIAM J. Sci.
# Comput. 15(5), 1243–1259, as in the Test Set for IVP Solvers (Mazzia, Magherini et al., problem
# "pollu"). Each reaction: (rate constant, reactants, products), mass action, species numbered from 1.
_POLLU_REACTIONS = (
    (0.35, (1,), (2, 3)), (26.6, (2, 4), (1,)), (1.23e4, (5, 2), (1, 6)), (8.6e-4, (7,), (5, 5, 8)),
    (8.2e-4, (7,), (8,)), (1.5e4, (7, 6), (5, 8)), (1.3e-4, (9,), (5, 8, 10)), (2.4e4, (9, 6), (11,)),
    (1.65e4, (11, 2), (1, 10, 12)), (9.0e3, (11, 1), (13,)), (0.022, (13,), (1, 11)),
    (1.2e4, (10, 2), (1, 14)), (1.88, (14,), (5, 7)), (1.63e4, (1, 6), (15,)), (4.8e6, (3,), (4,)),
    (3.5e-4, (4,), (16,)), (0.0175, (4,), (3,)), (1.0e8, (16,), (6, 6)), (4.44e11, (16,), (3,)),
    (1.24e3, (17, 6), (5, 18)), (2.1, (19,), (2,)), (5.78, (19,), (1, 3)), (0.0474, (1, 4), (19,)),
    (1.78e3, (19, 1), (20,)), (3.12, (20,), (1, 19)),
)
_POLLU_SPECIES = 20


def _pollu_tables():
    n = _POLLU_SPECIES
    first = np.array([r[1][0] - 1 for r in _POLLU_REACTIONS])
    second = np.array([r[1][1] - 1 if len(r[1]) > 1 else n for r in _POLLU_REACTIONS])   # n: the constant 1
    stoichiometry = np.zeros((n, len(_POLLU_REACTIONS)))
    for j, (_, reactants, products) in enumerate(_POLLU_REACTIONS):
        for s in reactants:
            stoichiometry[s - 1, j] -= 1.0
        for s in products:
            stoichiometry[s - 1, j] += 1.0
    return first, second, stoichiometry


_POLLU_FIRST, _POLLU_SECOND, _POLLU_STOICHIOMETRY = _pollu_tables()


def _pollu_rhs(u, p, t):
    extended = jnp.concatenate([u, jnp.ones((1,), u.dtype)])
    rates = p * extended[_POLLU_FIRST] * extended[_POLLU_SECOND]
    return jnp.asarray(_POLLU_STOICHIOMETRY, u.dtype) @ rates


# Reference solution at t = 60 from the Test Set for IVP Solvers (pollu.f, subroutine solut; RADAU5 in
# "true double precision" on a Cray C90, uround = 1.01e-19, rtol = atol = 1.1e-18).
POLLU_REFERENCE = np.array([
    0.5646255480022769e-01, 0.1342484130422339e+00, 0.4139734331099427e-08, 0.5523140207484359e-02,
    0.2018977262302196e-06, 0.1464541863493966e-06, 0.7784249118997964e-01, 0.3245075353396018e+00,
    0.7494013383880406e-02, 0.1622293157301561e-07, 0.1135863833257075e-07, 0.2230505975721359e-02,
    0.2087162882798630e-03, 0.1396921016840158e-04, 0.8964884856898295e-02, 0.4352846369330103e-17,
    0.6899219696263405e-02, 0.1007803037365946e-03, 0.1772146513969984e-05, 0.5682943292316392e-04,
])


def pollu(tspan=(0.0, 60.0)):
    """POLLU, the air-pollution chemistry of Verwer (1994): 20 species, 25 mass-action reactions, stiff,
    with a sparse Jacobian; p holds the 25 rate constants. The reference solution at t = 60 is
    `POLLU_REFERENCE` (Test Set for IVP Solvers).

    Returns the `ODEProblem` on ``tspan``.
    """
    u0 = np.zeros(_POLLU_SPECIES)
    u0[[1, 3, 6, 7, 8, 16]] = [0.2, 0.04, 0.1, 0.3, 0.01, 0.007]
    return ODEProblem(_pollu_rhs, jnp.asarray(u0), tspan, jnp.array([r[0] for r in _POLLU_REACTIONS]))
