"""Classic test problems as `ODEProblem`s (Hairer, Nørsett & Wanner, Solving ODEs I), some with exact solutions."""
import jax.numpy as jnp
import numpy as np

from ..problems import ODEProblem


def _lotka_volterra_rhs(u, p, t):
    x, y = u[0], u[1]
    a, b, c, d = p[0], p[1], p[2], p[3]
    return jnp.stack([a * x - b * x * y, -c * y + d * x * y])


def lotka_volterra(tspan=(0.0, 10.0)):
    """Predator–prey: x' = a x − b x y, y' = −c y + d x y with p = (1.5, 1, 3, 1), u0 = (1, 1)."""
    return ODEProblem(_lotka_volterra_rhs, jnp.array([1.0, 1.0]), tspan, jnp.array([1.5, 1.0, 3.0, 1.0]))


def _lorenz_rhs(u, p, t):
    sigma, rho, beta = p[0], p[1], p[2]
    x, y, z = u[0], u[1], u[2]
    return jnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def lorenz(tspan=(0.0, 1.0)):
    """Lorenz attractor: σ = 10, ρ = 28, β = 8/3, u0 = (1, 0, 0)."""
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
    """Seven bodies in the plane (HNW I, II.10): masses m_i = i, state (x, y, x', y') of 28 components."""
    x = [3.0, 3.0, -1.0, -3.0, 2.0, -2.0, 2.0]
    y = [3.0, -3.0, 2.0, 0.0, 0.0, -4.0, 4.0]
    vx = [0.0, 0.0, 0.0, 0.0, 0.0, 1.75, -1.5]
    vy = [0.0, 0.0, 0.0, -1.25, 1.0, 0.0, 0.0]
    u0 = jnp.array(x + y + vx + vy)
    return ODEProblem(_pleiades_rhs, u0, tspan, jnp.arange(1.0, 8.0))


def _decay_rhs(u, p, t):
    return -p * u


def exact_decay_problem(tspan=(0.0, 1.0)):
    """u' = −p u, u(0) = (1, 2), p = 0.7: returns (problem, exact(t))."""
    prob = ODEProblem(_decay_rhs, jnp.array([1.0, 2.0]), tspan, 0.7)
    return prob, lambda t: np.exp(-0.7 * (np.asarray(t)[..., None] - tspan[0])) * np.array([1.0, 2.0])


def _nonlinear_rhs(u, p, t):
    # y' = y cos t (y = exp(sin t): non-autonomous) and logistic growth z' = z (1 − z) / 2 (non-linear).
    return jnp.stack([u[0] * jnp.cos(t), 0.5 * u[1] * (1.0 - u[1])])


def nonlinear_exact_problem(tspan=(0.0, 10.0)):
    """A non-linear, non-autonomous system with a known solution, for convergence tests: (problem, exact(t)).

    Its solution is smooth and its error behaves regularly, so measured orders settle at moderate steps.
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
    """Robertson's chemical kinetics (HNW II, IV.1): stiff, k = (0.04, 3e7, 1e4), u0 = (1, 0, 0)."""
    return ODEProblem(_robertson_rhs, jnp.array([1.0, 0.0, 0.0]), tspan, jnp.array([0.04, 3e7, 1e4]))


def robertson_atol(rtol):
    """The per-component absolute tolerances customary for Robertson (y2 is of order 1e-5)."""
    return jnp.array([rtol * 1e-2, min(rtol * 1e-2, 1e-10), rtol * 1e-2])


def _van_der_pol_rhs(u, p, t):
    return jnp.stack([u[1], p * ((1 - u[0] ** 2) * u[1] - u[0])])


def van_der_pol(mu=1e6, tspan=(0.0, 2.0)):
    """Van der Pol in the scaled form x' = y, y' = μ((1 − x²)y − x), u0 = (2, 0): stiff for large μ."""
    return ODEProblem(_van_der_pol_rhs, jnp.array([2.0, 0.0]), tspan, mu)
