"""Per-subject objective functions (−2 log-likelihood without the n·log 2π constant, NONMEM's convention) for
FO, FOCE, FOCEI, Laplace and LaplaceI, and the inner empirical-Bayes (EBE) optimisation.

With residuals r = y − f(η) (transformed data for log-scale errors), variances R and
l(η) = Σ_j [r_j²/R_j + log R_j] + ηᵀΩ⁻¹η, the conditional methods approximate
−2 log ∫ p(y|η) p(η) dη by the Laplace form

    OFV_i = l(η̂) + log det Ω + log det H,     η̂ = argmin l,

where H is (half) the curvature of l at η̂:
  FOCE     R at η = 0 (no interaction);  H = Ω⁻¹ + GᵀR⁻¹G               (G = ∂f/∂η at η̂)
  FOCEI    R at η̂ (interaction);        H = Ω⁻¹ + GᵀR⁻¹G + ½ Σ_j ∇R_j∇R_jᵀ/R_j²
           (the expected information, as in Almquist et al., J Pharmacokinet Pharmacodyn 2015, 42:191, which
           nlmixr2's FOCEi follows)
  Laplace  R at η = 0;  H = ½ ∇²l(η̂) (exact Hessian);   LaplaceI: R at η̂, H = ½ ∇²l(η̂)
FO linearises around η = 0: OFV_i = log det V + rᵀV⁻¹r, V = GΩGᵀ + diag R, all at η = 0 (Beal & Sheiner).

Censored observations (Beal's M3, J Pharmacokinet Pharmacodyn 2001, 28:481) replace r²/R + log R by
−2 log Φ(c·r/√R) (c = 1: the limit in DV is a lower limit of quantification, P(y < LLOQ); c = −1: an upper
one). In the FOCE(I) curvature they add their Gauss–Newton term ½c''(z)∇z∇zᵀ, c''(z) = 2λ(z)(z + λ(z)) with
λ = φ/Φ (positive: log Φ is concave), the analogue of GᵀR⁻¹G; Laplace differentiates them exactly.
For FOCE the Laplace form equals NONMEM's log det Ṽ + r̃ᵀṼ⁻¹r̃ at the conditional mode (a matrix identity).

η̂ is found by a damped Newton iteration (modified to a positive definite Hessian) and differentiated
implicitly through `jax.lax.custom_root`: dη̂/dθ = −(∇²_ηη l)⁻¹ ∇²_ηθ l, never by unrolling the iterations.
"""
import jax
import jax.numpy as jnp
import jax.scipy.special
import jax.scipy.stats

from . import expansion


class Method:
    """Base of the estimation methods passed to `fit` (``method=``): the class attributes say whether the
    objective is conditional on the EBEs η̂ (``conditional``), whether the residual variance is evaluated at η̂
    (``interaction``) and whether the curvature at η̂ is the exact Hessian (``exact_hessian``); see the module
    notes for the objective of each."""
    interaction = False
    conditional = True
    exact_hessian = False
    name = "?"

    def __repr__(self):
        return f"{type(self).__name__}()"


class FO(Method):
    """First order (Beal & Sheiner): the model linearised around η = 0, OFV_i = log det V + rᵀV⁻¹r with
    V = GΩGᵀ + diag R; no inner EBE optimisation."""
    conditional, name = False, "FO"


class FOCE(Method):
    """First order conditional estimation: the Laplace form at the EBEs η̂ with R at η = 0 (no interaction) and
    the Gauss–Newton curvature H = Ω⁻¹ + GᵀR⁻¹G."""
    name = "FOCE"


class FOCEI(Method):
    """FOCE with interaction: R evaluated at η̂, and the expected-information curvature (Almquist et al. 2015,
    as nlmixr2's FOCEi)."""
    interaction, name = True, "FOCEI"


class Laplace(Method):
    """Laplace approximation at the EBEs η̂ with R at η = 0 and the exact Hessian of the conditional objective
    (second derivatives of the model in η)."""
    exact_hessian, name = True, "Laplace"


class LaplaceI(Method):
    """Laplace with interaction: R evaluated at η̂ and the exact Hessian of the conditional objective."""
    interaction, exact_hessian, name = True, True, "LaplaceI"


def _pieces(model, theta, subject, amounts=None):
    """Closures for one subject: f(η), R(f), transformed data, the mask of observed (uncensored) values and the
    censoring sign c of each observation (0 where observed or padded). ``amounts``: `Model.predict`'s."""
    mask = subject.obs_mask
    y = model.error.transform(jnp.where(mask > 0, subject.dv, 1.0))
    f = lambda eta: model.predict(theta, eta, subject, amounts)
    ft = lambda fe: model.error.transform(jnp.where(mask > 0, fe, 1.0))
    R = lambda fe: jnp.where(mask > 0, model.error.variance(theta, fe), 1.0)
    c = mask * subject.cens
    return f, ft, R, y, mask * (1.0 - jnp.abs(c)), c


def data_terms(r, R, observed, c):
    """−2 log p(y | η) per observation, without log 2π: r²/R + log R where observed, −2 log Φ(c·r/√R) where
    censored (Beal's M3), 0 on padding."""
    censored = -2.0 * jax.scipy.special.log_ndtr(c * r / jnp.sqrt(R))
    return observed * (r * r / R + jnp.log(R)) + jnp.where(c != 0, censored, 0.0)


def variance_at_zero(model, method, theta, subject):
    """R at η = 0, the residual variances of a method without interaction (None with interaction)."""
    if method.interaction:
        return None
    f, _, R, _, _, _ = _pieces(model, theta, subject)
    return R(f(jnp.zeros(model.n_eta)))


def conditional_objective(model, method, theta, subject, R0=None, amounts=None):
    """l(η) for the EBE search (the interaction decides whether R moves with η; without it, R is ``R0``,
    `variance_at_zero`, computed here when not given). ``amounts``: `Model.predict`'s (an expansion of the
    solve, `expansion.polynomial`)."""
    f, ft, R, y, observed, c = _pieces(model, theta, subject, amounts)
    Omega_inv = jnp.linalg.inv(model.omega(theta))
    if not method.interaction and R0 is None:
        R0 = variance_at_zero(model, method, theta, subject)

    def l(eta):
        fe = f(eta)
        Re = R(fe) if method.interaction else R0
        return jnp.sum(data_terms(y - ft(fe), Re, observed, c)) + eta @ Omega_inv @ eta
    return l


def _gradient(l, forward):
    """∇l by reverse mode, or by forward mode (one tangent per η: cheap for the few η of a subject, and the
    only mode an ODE solve differentiated through its while loop supports at every nesting level)."""
    return jax.jacfwd(l) if forward else jax.grad(l)


def _value_grad_hessian(l, forward=False):
    """x -> (l, ∇l, ∇²l) from one trace of l (forward over reverse, or forward over forward, the value and
    gradient as auxiliaries)."""
    def with_value(x):
        v = l(x)
        return v, v

    def vg(x):
        # forward: the value as jacfwd's auxiliary, from the same trace (a separate l(x) is one more solve)
        v, g = jax.jacfwd(with_value, has_aux=True)(x)[::-1] if forward else jax.value_and_grad(l)(x)
        return g, (v, g)
    jac = jax.jacfwd(vg, has_aux=True)
    return lambda x: (lambda H, aux: (aux[0], aux[1], H))(*jac(x))


def newton_minimize(l, x0, max_iter=60, forward=False, derivatives=None, extra0=None):
    """Minimise a smooth l from x0: Newton steps on the Hessian with its eigenvalues lifted to stay positive.
    Far from the minimum a step is halved until l decreases (Armijo); once the Newton decrement gᵀH⁻¹g is
    below 1e-8·(1 + |l|) the full step is taken (quadratic convergence), and the iteration ends after a full
    step from a decrement below 1e-16·(1 + |l|), where η is exact to round-off (|Δη|² ~ decrement), or when
    such a full step no longer lowers l (the round-off floor of an ill-conditioned Hessian).
    Returns (x, converged).

    ``derivatives``: x -> (l, ∇l, ∇²l, extra) in place of l's own derivatives, where ``extra`` (shaped like
    ``extra0``) is something computed with them, e.g. an expansion of the model (`expansion.expand`). Then the
    iteration ends with one more evaluation at the final x (no step), and returns (x, converged, extra at x)."""
    carry_extra = derivatives is not None
    if not carry_extra:
        d = _value_grad_hessian(l, forward)
        derivatives = lambda x: d(x) + ((),)
        extra0 = ()

    def step(carry):
        x, k, done, ok, previous, final, _ = carry
        fx, g, H, extra = derivatives(x)
        # with an extra, the pass after the last step (or at the iteration limit) only evaluates
        hold = (final | (k >= max_iter)) if carry_extra else jnp.asarray(False)
        w, V = jnp.linalg.eigh(0.5 * (H + H.T))
        floor = 1e-8 * jnp.maximum(jnp.max(jnp.abs(w)), 1e-12)
        w = jnp.maximum(jnp.abs(w), floor)
        p = -V @ ((V.T @ g) / w)
        decrement = -g @ p
        scale = 1.0 + jnp.abs(fx)
        local = decrement <= 1e-8 * scale

        def try_step(c):
            a, _, _ = c
            a = 0.5 * a
            xn = x + a * p
            return a, xn, l(xn)

        def search(c):
            a, _, fn = c
            first = fn == jnp.inf
            return ~hold & (first | (~local & (~(fn <= fx - 1e-4 * a * decrement) | ~jnp.isfinite(fn))
                                     & (a > 1e-10)))

        a, xn, fn = jax.lax.while_loop(search, try_step, (2.0, x, jnp.asarray(jnp.inf, x.dtype)))
        improved = jnp.isfinite(fn) & (fn <= fx)
        # near the optimum the full Newton step is always taken (l's decrease is then below its round-off);
        # done when the decrement is at round-off or stops shrinking (the round-off floor of an
        # ill-conditioned curvature, e.g. a nearly singular Ω); quadratic convergence shrinks it by orders
        moved = (local & jnp.isfinite(fn) | improved) & ~hold
        x_new = jnp.where(moved, xn, x)
        finished = local & ((decrement <= 1e-16 * scale) | (decrement >= 0.25 * previous))
        stop = finished | ~(improved | local)
        if carry_extra:
            return (x_new, k + 1, hold | (stop & ~moved), jnp.where(hold, ok, finished | ok),
                    jnp.where(local, decrement, jnp.inf), stop, extra)
        return x_new, k + 1, stop, finished | ok, jnp.where(local, decrement, jnp.inf), final, extra

    def cond(carry):
        return ~carry[2] & (carry[1] <= max_iter if carry_extra else carry[1] < max_iter)

    x, k, done, ok, _, _, extra = jax.lax.while_loop(
        cond, step, (x0, 0, False, False, jnp.asarray(jnp.inf, x0.dtype), False, extra0))
    return (x, ok, extra) if carry_extra else (x, ok)


def ebe(model, method, theta, subject, eta0, R0=None):
    """η̂ = argmin l (differentiable in θ by the implicit function theorem), whether the search converged, and
    the ``amounts`` argument of `Model.predict` to use around η̂ (the expansion of an ODE model's solve at η̂,
    `expansion`; None: the model's own dynamics). ``R0``: `variance_at_zero`, computed here when not given."""
    forward = model.forward_only
    # R at η = 0 is computed out here, never inside `gradient`: custom_root traces `gradient` to a jaxpr, and a
    # solve there that does not depend on η is not differentiated during that trace, so JAX traces the solve's
    # derivative rule (`sensitivity.forward`'s custom_jvp) only later, when custom_root's JVP differentiates
    # the jaxpr in θ. ODE dynamics' right-hand side and dose callback close over values of `gradient`'s trace
    # (dose times, rates), dead by then: FOCE and Laplace with ODE dynamics failed with UnexpectedTracerError
    # (issue 16). Computed here, the solve is differentiated with θ's other dependencies.
    if R0 is None:
        R0 = variance_at_zero(model, method, theta, subject)
    theta_sg, R0_sg, eta0 = jax.lax.stop_gradient(theta), jax.lax.stop_gradient(R0), jax.lax.stop_gradient(eta0)
    l_sg = conditional_objective(model, method, theta_sg, subject, R0_sg)

    def tangent_solve(g, y):
        return jnp.linalg.solve(jax.jacfwd(g)(y), y)

    if expansion.applies(model, method, theta, eta0, subject):
        # The search expands the solve at each iterate (the one solve it differentiates) and returns the
        # expansion at η̂, through which everything after it (implicit derivative, curvature, outer gradient)
        # is differentiated: no further solve (module notes of `expansion`)
        def derivatives(x):
            jet = expansion.expand(model, theta_sg, x, subject)
            lx = conditional_objective(model, method, theta_sg, subject, R0_sg, expansion.polynomial(jet))
            return _value_grad_hessian(lx, True)(x) + (jet,)

        x, ok, jet = newton_minimize(l_sg, eta0, forward=True, derivatives=derivatives,
                                     extra0=expansion.zeros(model, theta_sg, eta0, subject))
        amounts = expansion.polynomial(jet)
        gradient = jax.jacfwd(conditional_objective(model, method, theta, subject, R0, amounts))
        # the root is already found: custom_root only supplies its implicit derivative
        eta_hat = jax.lax.custom_root(gradient, jax.lax.stop_gradient(x), lambda _, x0: x0, tangent_solve)
        return eta_hat, jax.lax.stop_gradient(ok), amounts

    def gradient(eta):
        return _gradient(conditional_objective(model, method, theta, subject, R0), forward)(eta)

    def solve(_, x0):
        x, ok = newton_minimize(l_sg, x0, forward=forward)
        return x, ok.astype(x.dtype)       # a float auxiliary: custom_root gives it a (zero) tangent

    # converged: the Newton decrement fell below 1e-16·(1 + |l|) (scale-free, unlike a gradient test, which
    # fails for nearly singular Ω whose inverse dominates the curvature)
    eta_hat, converged = jax.lax.custom_root(gradient, eta0, solve, tangent_solve, has_aux=True)
    return eta_hat, jax.lax.stop_gradient(converged) > 0.5, None


def subject_ofv(model, method, theta, subject, eta0):
    """(OFV_i, η̂_i, converged_i) for one subject."""
    Omega = model.omega(theta)
    q = model.n_eta
    f, ft, R, y, mask, c = _pieces(model, theta, subject)
    if not method.conditional:       # (censored data are refused before compiling: FO has no M3 form)
        zero = jnp.zeros(q)
        G, f0 = jax.jacfwd(lambda e: (lambda fe: (ft(fe), fe))(f(e)), has_aux=True)(zero)   # one solve
        G = G * mask[:, None]
        R0 = R(f0)
        r = mask * (y - ft(f0))
        V = G @ Omega @ G.T + jnp.diag(R0)
        L = jnp.linalg.cholesky(V)
        z = jax.scipy.linalg.solve_triangular(L, r, lower=True)
        return 2.0 * jnp.sum(mask * jnp.log(jnp.diagonal(L))) + z @ z, zero, jnp.asarray(True)
    R0 = variance_at_zero(model, method, theta, subject)     # one solve, shared with the EBE search
    eta_hat, converged, amounts = ebe(model, method, theta, subject, eta0, R0)
    f, ft, R, y, mask, c = _pieces(model, theta, subject, amounts)
    Omega_inv = jnp.linalg.inv(Omega)
    if method.exact_hessian:
        value, _, H2 = _value_grad_hessian(conditional_objective(model, method, theta, subject, R0),
                                           model.forward_only)(eta_hat)
        H = 0.5 * H2
    else:
        def outputs(e):
            fe = f(e)
            fte, Re = ft(fe), (R(fe) if method.interaction else R0)
            z = c * (y - fte) / jnp.sqrt(Re)          # the censored observations' standardised limits
            return (fte, Re, z), (fte, Re, z)
        (G, dR, dz), (fte, Re, z) = jax.jacfwd(outputs, has_aux=True)(eta_hat)
        G = G * mask[:, None]
        r = y - fte
        value = jnp.sum(data_terms(r, Re, mask, c)) + eta_hat @ Omega_inv @ eta_hat
        H = Omega_inv + G.T @ (G / Re[:, None])
        if method.interaction:
            dR = dR * mask[:, None]
            H = H + 0.5 * dR.T @ (dR / (Re * Re)[:, None])
        mills = jnp.exp(jax.scipy.stats.norm.logpdf(z) - jax.scipy.special.log_ndtr(z))
        weight = jnp.where(c != 0, mills * (z + mills), 0.0)
        H = H + dz.T @ (dz * weight[:, None])
    sign_H, logdet_H = jnp.linalg.slogdet(H)
    _, logdet_O = jnp.linalg.slogdet(Omega)
    # an indefinite curvature (possible for the exact Hessian away from a minimum) has no Laplace value
    return jnp.where(sign_H > 0, value + logdet_O + logdet_H, jnp.inf), eta_hat, converged
