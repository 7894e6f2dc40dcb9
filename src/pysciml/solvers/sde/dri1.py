"""DRI1: the weak-order-2 stochastic Runge–Kutta method of Debrabant & Rößler (2009, "Families of efficient
second order Runge–Kutta methods for the weak approximation of Itô stochastic differential equations",
Appl. Numer. Math. 59(3–4), the scheme DRI1, with minimized error constant), in the
efficient form of that paper (Rößler's RI class, SIAM J. Numer. Anal. 47(3), 2009, with the Ĥ stages
driven by b^l(H^(l)) √h). Itô, weak order 2 for any noise type (diagonal, scalar, general); no strong
(pathwise) order, as its random variables are discrete. Fixed steps: pass dt.

With h the step, b^k the k-th column of the noise matrix (g·e_k through the problem's noise product),
Î_k three-point and Ĩ_k two-point random variables (below) and Î_(k,l) their iterated-integral stand-ins
(Rößler 2009): Î_(k,k) = (Î_k² − h)/2, Î_(k,l) = (Î_kÎ_l − √h Ĩ_k)/2 for k < l and
(Î_kÎ_l + √h Ĩ_l)/2 for k > l,

    H⁰₁ = u,  H⁰_i = u + h Σ_j A⁰_ij f(H⁰_j) + Σ_j B⁰_ij Σ_l b^l(H^(l)_j) Î_l
    H^(k)_i = u + h Σ_j A¹_ij f(H⁰_j) + √h Σ_j B¹_ij b^k(H^(k)_j)
    Ĥ^(l)_i = u + √h Σ_j B²_ij b^l(H^(l)_j)
    u⁺ = u + h Σ α_i f(H⁰_i) + Σ_k Σ_i b^k(H^(k)_i)(β⁽¹⁾_i Î_k + β⁽²⁾_i Î_(k,k)/√h)
           + Σ_k Σ_i Σ_{l≠k} b^k(Ĥ^(l)_i)(β⁽³⁾_i Î_k + β⁽⁴⁾_i Î_(k,l)/√h)

(the last line vanishes for one Wiener process). The tableau's B⁰, B¹ use only stage 1, so H⁰ and H^(k)
read b(u) alone.

Random variables. A weak method needs only the moments of its increments, so it may use discrete ones; they
are derived from the solve's own Brownian increment (ΔW, H) rather than drawn from a further key, so the
solve stays a pure function of its key (vmappable, the same bits for the same key, and a NoiseGrid path
drives it too): Î_k = ±√(3h) when ΔW_k/√h lies beyond the 1/6-quantile q of N(0, 1) on that side (so
P(±√(3h)) = 1/6 each, P(0) = 2/3: Î_k has the first five moments of ΔW_k), and Ĩ_k = √h·sign(H_k) (H_k, the
space-time Lévy area, is symmetric and independent of ΔW, so Ĩ_k = ±√h with probability 1/2 each,
independent of Î). The quantile construction is that of StochasticDiffEq.jl's DRI1.
"""
import jax
import jax.numpy as jnp
import numpy as np

from ...noise import DiagonalNoise, GeneralNoise, ScalarNoise
from ...problems.sde import Ito
from .base import StochasticRungeKutta

# Φ⁻¹(1/6): P(Z < −q) = P(Z > q) = 1/6 for Z ~ N(0, 1)
NORMAL_ONESIX_QUANTILE = 0.9674215661017014

_r6 = np.sqrt(6.0)
_b1 = 3 * np.sqrt(38 / 491)
_b2a = 214 / 513 * np.sqrt(1105 / 991)
_b2b = 491 / 513 * np.sqrt(221 / 4955)
_beta2 = np.sqrt(491 / 38) / 6
_beta4 = np.sqrt(4955 / 221) / 8

# Debrabant & Rößler 2009, DRI1; numbers as tabulated in StochasticDiffEq.jl (constructDRI1).
DRI1_TABLEAU = dict(
    c0=np.array([0, 1 / 2, 1]),
    c1=np.array([0, 342 / 491, 342 / 491]),
    c2=np.array([0, 0, 0]),
    A0=np.array([[0, 0, 0], [1 / 2, 0, 0], [-1, 2, 0]]),
    A1=np.array([[0, 0, 0], [342 / 491, 0, 0], [342 / 491, 0, 0]]),
    A2=np.zeros((3, 3)),
    B0=np.array([[0, 0, 0], [(6 - _r6) / 10, 0, 0], [(3 + 2 * _r6) / 5, 0, 0]]),
    B1=np.array([[0, 0, 0], [_b1, 0, 0], [-_b1, 0, 0]]),
    B2=np.array([[0, 0, 0], [-_b2a, -_b2b, -_b2b], [_b2a, _b2b, _b2b]]),
    alpha=np.array([1 / 6, 2 / 3, 1 / 6]),
    beta1=np.array([193 / 684, 491 / 1368, 491 / 1368]),
    beta2=np.array([0, _beta2, -_beta2]),
    beta3=np.array([-4955 / 7072, 4955 / 14144, 4955 / 14144]),
    beta4=np.array([0, -_beta4, _beta4]),
)


def weak_order2_conditions(tab) -> np.ndarray:
    """Residuals of the conditions for weak order 2 of Rößler's RI class (Rößler 2009, SIAM J. Numer. Anal.
    47(3): conditions 1–9 for order 1, 10–59 for order 2, as checked by StochasticDiffEq.jl's
    checkRIOrder; then the consistency c⁽ⁱ⁾ = A⁽ⁱ⁾e).
    All zero for a valid tableau."""
    a, b1, b2, b3, b4 = (tab[k] for k in ("alpha", "beta1", "beta2", "beta3", "beta4"))
    A0, A1, A2, B0, B1, B2 = (tab[k] for k in ("A0", "A1", "A2", "B0", "B1", "B2"))
    e = np.ones(len(a))
    A0e, A1e, A2e, B0e, B1e, B2e = A0 @ e, A1 @ e, A2 @ e, B0 @ e, B1 @ e, B2 @ e
    s1 = b1 @ e
    r = [a @ e - 1, b4 @ e, b3 @ e, s1 ** 2 - 1, b2 @ e, b1 @ B1e, b4 @ A2e, b3 @ B2e, b4 @ B2e ** 2,
         a @ A0e - 0.5, a @ B0e ** 2 - 0.5, s1 * (a @ B0e) - 0.5, s1 * (b1 @ A1e) - 0.5, b3 @ A2e,
         b2 @ B1e - 1, b4 @ B2e - 1, s1 * (b1 @ B1e ** 2) - 0.5, s1 * (b3 @ B2e ** 2) - 0.5,
         b1 @ (B1 @ B1e), b3 @ (B2 @ B1e), b3 @ (B2 @ (B1 @ B1e)), b1 @ (A1 @ B0e), b3 @ (A2 @ B0e),
         b4 @ A2e ** 2, b4 @ (A2 @ A0e), a @ (B0 @ B1e), b2 @ A1e, b1 @ (A1e * B1e), b3 @ (A2e * B2e),
         b4 @ (A2 @ B0e), b2 @ (A1 @ B0e), b4 @ (B2e ** 2 * A2e), b4 @ (A2 @ B0e ** 2), b2 @ (A1 @ B0e ** 2),
         b1 @ (B1 @ A1e), b3 @ (B2 @ A1e), b2 @ B1e ** 2, b4 @ (B2 @ B1e), b2 @ (B1 @ B1e), b1 @ B1e ** 3,
         b3 @ B2e ** 3, b1 @ (B1 @ B1e ** 2), b3 @ (B2 @ B1e ** 2), b4 @ B2e ** 4, b4 @ (B2 @ B1e) ** 2,
         b4 @ (B2e * (B2 @ B1e)), a @ (B0e * (B0 @ B1e)), b1 @ ((A1 @ B0e) * B1e), b3 @ ((A2 @ B0e) * B2e),
         b1 @ (A1 @ (B0 @ B1e)), b3 @ (A2 @ (B0 @ B1e)), b4 @ ((B2 @ A1e) * B2e), b1 @ (B1 @ (A1 @ B0e)),
         b3 @ (B2 @ (A1 @ B0e)), b1 @ (B1e * (B1 @ B1e)), b3 @ (B2e * (B2 @ B1e)), b1 @ (B1 @ (B1 @ B1e)),
         b4 @ (B2e * (B2 @ B1e ** 2)), b4 @ (B2e * (B2 @ (B1 @ B1e)))]
    consistency = [tab["c0"] - A0e, tab["c1"] - A1e, tab["c2"] - A2e]
    return np.concatenate([np.asarray(r), *consistency])


def weak_increments(dW, H, h):
    """(Î, Ĩ): the three-point and two-point variables of a step, from its Brownian increment (module doc)."""
    sq = jnp.sqrt(h)
    three = jnp.where(jnp.abs(dW) > NORMAL_ONESIX_QUANTILE * sq, jnp.sign(dW) * jnp.sqrt(3 * h), 0.0)
    two = jnp.where(H >= 0, sq, -sq)
    return three, two


def iterated(three, two, h):
    """Î_(k,l) (m × m) of Rößler 2009 from the three-point Î and two-point Ĩ."""
    m = three.shape[0]
    sq = jnp.sqrt(h)
    k = jnp.arange(m)[:, None]
    l = jnp.arange(m)[None, :]
    prod = three[:, None] * three[None, :]
    upper = (prod - sq * two[:, None]) / 2      # k < l: Ĩ_k
    lower = (prod + sq * two[None, :]) / 2      # k > l: Ĩ_l
    diag = (three ** 2 - h) / 2
    return jnp.where(k < l, upper, jnp.where(k > l, lower, jnp.diag(diag)))


class DRI1(StochasticRungeKutta):
    """Debrabant–Rößler DRI1: weak order 2 for Itô SDEs with any noise type (fixed step: pass dt)."""
    noise_types = (DiagonalNoise, ScalarNoise, GeneralNoise)
    interpretations = (Ito,)
    # No pathwise convergence: its three-/two-point variables are moment-matched stand-ins for ΔW, not the
    # path (a strong error against the exact solution on the path does not shrink with dt).
    strong_order = 0.0
    weak_order = 2.0
    evals_per_step = 3
    levy_area = True     # the two-point Ĩ_k = √h sign(H_k)

    def step(self, f, t, u, control, p, state, error_norm):
        """One DRI1 step (weak order 2; the increment's W drawn as the scheme's random variables). ``f``: the
        problem's `problems.sde.SDETerms` (drift f(u, p, t), diffusion ``f.g(u, p, t)``, noise term ``f.noise(g,
        ΔW)``); ``t``, ``u``: the time and state at the start of the step; ``control``: (dt,
        `noise.BrownianIncrement`) — the step size and the Brownian increment ΔW (and Lévy area H) over it; ``p``:
        the parameters; ``state``: the method's carried state, passed through; ``error_norm``: the loop's scaled
        error norm, unused (fixed step).
        Returns the `StepResult` (error 0: no error estimate)."""
        dt, inc = control
        T = DRI1_TABLEAU
        # a zero step leaves u unchanged: the variables use dt itself, only the divisor √h is guarded
        h = jnp.abs(dt)
        sq = jnp.sqrt(jnp.where(dt == 0, 1.0, h))
        three, two = weak_increments(inc.W, inc.H, h)
        m = three.shape[0]
        eye = jnp.eye(m, dtype=u.dtype)
        column = lambda gv, e: f.noise(gv, e)                        # b^k = g·e_k
        columns = lambda gv: jax.vmap(lambda e: column(gv, e))(eye)  # (m, n): row k is b^k

        k1 = f(u, p, t)
        g1 = f.g(u, p, t)
        b1 = columns(g1)
        noise1 = f.noise(g1, three)                                  # Σ_l b^l(u) Î_l
        H02 = u + dt * T["A0"][1, 0] * k1 + T["B0"][1, 0] * noise1
        k2 = f(H02, p, t + T["c0"][1] * dt)
        H03 = u + dt * (T["A0"][2, 0] * k1 + T["A0"][2, 1] * k2) + T["B0"][2, 0] * noise1
        k3 = f(H03, p, t + T["c0"][2] * dt)

        # H^(k)_2, H^(k)_3 for every k at once (row k perturbed along b^k), and b^k at them
        def b_k(stage, k_row, e):
            H = u + dt * T["A1"][stage, 0] * k1 + jnp.sqrt(h) * T["B1"][stage, 0] * k_row
            return column(f.g(H, p, t + T["c1"][stage] * dt), e)
        b2 = jax.vmap(lambda row, e: b_k(1, row, e))(b1, eye)        # (m, n)
        b3 = jax.vmap(lambda row, e: b_k(2, row, e))(b1, eye)

        j = iterated(three, two, h)                                  # Î_(k,l)
        jkk = jnp.diagonal(j)
        be = T["beta1"]
        w1 = be[0] * three
        w2 = be[1] * three + T["beta2"][1] * jkk / sq
        w3 = be[2] * three + T["beta2"][2] * jkk / sq
        u_new = u + dt * (T["alpha"][0] * k1 + T["alpha"][1] * k2 + T["alpha"][2] * k3) \
            + w1 @ b1 + w2 @ b2 + w3 @ b3
        if m > 1:
            B2, b3_, b4_ = T["B2"], T["beta3"], T["beta4"]
            off = 1.0 - eye                                          # l ≠ k
            # Ĥ^(l)_1 = u: Σ_{l≠k} b^k(u) β⁽³⁾_1 Î_k = (m − 1) β⁽³⁾_1 b^k(u) Î_k  (β⁽⁴⁾_1 = 0)
            u_new = u_new + (m - 1) * b3_[0] * (three @ b1)
            for stage in (1, 2):
                rows = jnp.sqrt(h) * (B2[stage, 0] * b1 + B2[stage, 1] * b2 + B2[stage, 2] * b3)     # (m_l, n)
                hat = jax.vmap(lambda r: columns(f.g(u + r, p, t + T["c2"][stage] * dt)))(rows)  # (l, k, n)
                # weight[l, k] = β⁽³⁾ Î_k + β⁽⁴⁾ Î_(k,l)/√h for l ≠ k
                weight = off * (b3_[stage] * three[None, :] + b4_[stage] * j.T / sq)
                u_new = u_new + jnp.einsum("lk,lkn->n", weight, hat)
        return self.result(u, u_new, dt, state)
