"""Right-hand sides that close over traced values: hoisted into the parameters.

Users write ``f = lambda u, p, t: -c * p * u`` with ``c`` computed inside the function being
differentiated or jitted. The right-hand side is a static part of the compiled loop (it keys
`pipeline.compiled_loop`) and of every sensitivity method's custom derivative rule, so a closed-over tracer
would be baked into a cached program of another trace (JAX: "No constant handler for DynamicJaxprTracer",
leaked tracers) and would get no derivative. Here, under a trace, f is traced once to a jaxpr; its
closed-over tracers are taken out and passed to the loop beside p, as ``(p, hoisted)``, so every sensitivity
method differentiates the float ones like parameters (integer ones travel as non-differentiable leaves of
p, see `sensitivity.inputs`). The callbacks then see the user's p (`_OnUserP`). An ordinary solve (f closes
over no tracer) is left exactly as it was: same right-hand side object, same compile-cache key.
"""
import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, jaxpr_as_fun

from ..callbacks.callbacks import Effect
from ..problems import FlatRHS
from ..problems.terms import RightHandSide
from . import checks

_CALLBACK_FUNCTIONS = ("condition", "affect", "affect_neg", "save_func")


def _tracing() -> bool:
    """Whether any JAX transformation is active (only then can f close over a tracer)."""
    try:
        from jax._src.core import trace_state_clean
    except ImportError:   # a JAX without it: look at f every time
        return True
    return not trace_state_clean()


class _Traced:
    """A function of fixed argument layout as its jaxpr, with the closed-over tracers as extra arguments.
    It keeps no tracer (it keys cached compiled loops): `of` returns them beside it."""

    def __init__(self, jaxpr, out_shape, mask, kept):
        self.jaxpr, self.out_shape, self.mask, self.kept = jaxpr, out_shape, mask, kept

    @classmethod
    def of(cls, fn, args):
        """(the traced function, its closed-over tracers)."""
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        mask = tuple(isinstance(c, jax.core.Tracer) for c in closed.consts)
        kept = tuple(None if m else c for c, m in zip(closed.consts, mask))
        return cls(closed.jaxpr, out_shape, mask, kept), tuple(c for c, m in zip(closed.consts, mask) if m)

    def __call__(self, hoisted, *args):
        it = iter(hoisted)
        consts = [next(it) if m else c for c, m in zip(self.kept, self.mask)]
        out = jaxpr_as_fun(ClosedJaxpr(self.jaxpr, consts))(*jax.tree_util.tree_leaves(args))
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(self.out_shape), out)


class HoistedRHS(RightHandSide):
    """f (and the user's Jacobian) with their closed-over tracers read from the loop's parameters
    ``(p, (f's, jac's))``. Keeps the sparsity pattern. Hashed by identity (one per traced solve)."""

    def __init__(self, f, jac, sparsity):
        self.f_traced, self.jac_traced, self.sparsity = f, jac, sparsity
        self.jac = None if jac is None else self._jac

    def __call__(self, u, q, t):
        p, (hf, _) = q
        return self.f_traced(hf, u, p, t)

    def _jac(self, u, q, t):
        p, (_, hj) = q
        return self.jac_traced(hj, u, p, t)


class _OnUserP:
    """A callback function called with the loop's ``(p, hoisted)``: it sees the user's p, and a new p it
    returns (in an `Effect`) is put back beside the hoisted values."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, u, q, t, *extra):
        out = self.fn(u, q[0], t, *extra)
        if isinstance(out, Effect) and out.p is not None:
            return out._replace(p=(out.p, q[1]))
        return out


def hoist(rhs, p, u0, t0, event_plan):
    """(rhs, loop p, event plan) with f's closed-over tracers hoisted into p, or None when f closes over
    none (or the right-hand side is not a plain ODE's, whose f the loop calls directly)."""
    if type(rhs) is not FlatRHS or not _tracing():
        return None
    t = jnp.asarray(t0)
    f, f_hoisted = _Traced.of(rhs, (u0, p, t))
    jac, jac_hoisted = (None, ()) if rhs.jac is None else _Traced.of(rhs.jac, (u0, p, t))
    if not f_hoisted and not jac_hoisted:
        return None
    checks.forget(rhs.f, rhs.user_jac)
    q = (p, (f_hoisted, jac_hoisted))
    if event_plan is not None:
        callbacks = tuple(cb._replace(**{name: _OnUserP(getattr(cb, name)) for name in _CALLBACK_FUNCTIONS
                                         if getattr(cb, name, None) is not None})
                          for cb in event_plan.callbacks)
        event_plan = event_plan._replace(callbacks=callbacks)
    return HoistedRHS(f, jac, rhs.sparsity), q, event_plan
