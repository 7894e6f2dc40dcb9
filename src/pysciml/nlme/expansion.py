"""A local second-order expansion of a model's dynamics, so that each objective traces the solve once.

The FOCE(I) objective of a subject needs the predictions f(θ, η) and their derivatives at the EBEs η̂ in several
places: the EBE search (value, ∇_η l, ∇²_η l), the implicit derivative of η̂ (∇_η l, differentiated once more
in θ), the curvature G = ∂f/∂η and the outer gradient in θ. Traced directly, every one of those is its own
copy of the ODE solve differentiated to first or second order (forward-mode AD through the adaptive loop): about
eight solve loops in one program, and their compilation was most of a minute for a one-state model.

The solve depends on (θ, η) only through the table of individual parameters φ it reads (`ODE.table`: a few
numbers per subject). Its amounts are expanded to second order in φ around φ₀:

    A(φ) ≈ A₀ + J δ + ½ δᵀ T δ,   δ = φ − φ₀,

with A₀, J, T from ONE solve differentiated twice in φ (`expand`). The polynomial has the solve's exact value,
first and second derivatives at φ₀, and ``pre``, ``observe`` and the error model are still differentiated
exactly around it, so every quantity FOCE and FOCEI use at η̂ up to second order in (θ, η) — the objective,
its gradient, the implicit derivative dη̂/dθ = −(∇²_ηη l)⁻¹∇²_ηθ l — is the same as through the solve itself.
The EBE search computes the expansion at each iterate (one doubly differentiated solve per Newton iteration,
as before) and returns the one at η̂, which serves everything after it. Third derivatives are not those of
the solve, so Laplace (whose exact η-Hessian is differentiated in θ) keeps the direct solves.
Closed-form dynamics (`pk`) are expanded the same way (`Model.amounts`): their sums of exponentials over the
dosing history, differentiated to second order in a few parameters, are a smaller program than their copies
differentiated in η and θ at every use.
"""
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

# Largest table (floats in φ) expanded: T holds M·S·K² numbers, and the twice-differentiated solve carries K
# tangent directions; a network's weights inside the dynamics (a UDE term) keep the direct solves instead.
MAX_EXPANDED = 16


def size(model, theta, eta, subject):
    """The number of floats in the table φ that ``model``'s solve reads (static: from shapes only)."""
    return ravel_pytree(jax.eval_shape(lambda: model.table(theta, eta, subject)))[0].shape[0]


def applies(model, method, theta, eta, subject):
    """Whether the objective of ``method`` is computed through the expansion: a method that needs no third
    derivatives of the dynamics, and a small table."""
    return not method.exact_hessian and size(model, theta, eta, subject) <= MAX_EXPANDED


def expand(model, theta, eta, subject):
    """(φ₀, A₀, J, T) at (``theta``, ``eta``) for one subject (not differentiated: the derivatives are those of
    the polynomial): φ₀ the flat table (K,), the amounts A₀ (M, S) at the observation times, J (M, S, K) and
    T (M, S, K, K) their first and second derivatives in φ, all from one solve differentiated twice."""
    x0, unravel = ravel_pytree(jax.lax.stop_gradient(model.table(theta, eta, subject)))

    def amounts(x):
        a = model.amounts(unravel(x), subject)
        return a, a

    def first(x):
        J, a = jax.jacfwd(amounts, has_aux=True)(x)
        return J, (J, a)

    T, (J, A) = jax.jacfwd(first, has_aux=True)(x0)
    return x0, A, J, T


def zeros(model, theta, eta, subject):
    """An expansion of the right shapes filled with zeros (the starting carry of the EBE search's loop)."""
    K = size(model, theta, eta, subject)
    M, S = subject.obs_time.shape[0], model.dynamics.n_states
    dtype = subject.obs_time.dtype
    return jnp.zeros(K, dtype), jnp.zeros((M, S), dtype), jnp.zeros((M, S, K), dtype), jnp.zeros((M, S, K, K), dtype)


def polynomial(jet):
    """The amounts as a function of a table, table -> A₀ + J δ + ½ δᵀTδ (for `Model.predict`'s ``amounts``)."""
    x0, A0, J, T = jet

    def amounts(table):
        d = ravel_pytree(table)[0] - x0
        return A0 + J @ d + 0.5 * jnp.einsum("msij,i,j->ms", T, d, d)
    return amounts
