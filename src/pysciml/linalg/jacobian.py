"""∂f/∂u and ∂f/∂t for implicit methods: the user's ``jac`` when given, else forward-mode AD."""
import jax
import jax.numpy as jnp


def jacobian(f, u, p, t):
    """Dense ∂f/∂u at (u, t): ``f.jac(u, p, t)`` when the right-hand side carries a user Jacobian,
    else `jax.jacfwd` (n Jacobian–vector products, one per column)."""
    user = getattr(f, "jac", None)
    if user is not None:
        return user(u, p, t)
    return jax.jacfwd(lambda x: f(x, p, t))(u)


def time_derivative(f, u, p, t):
    """∂f/∂t at (u, t) by one forward-mode product (zero for autonomous f, at the cost of one evaluation)."""
    return jax.jvp(lambda s: f(u, p, s), (t,), (jnp.ones_like(t),))[1]
