"""Right-hand sides that close over traced values: hoisted into the parameters.

Users write ``f = lambda u, p, t: -c * p * u`` with ``c`` computed inside the function being
differentiated or jitted. The right-hand side is a static part of the compiled loop (it keys
`pipeline.compiled_loop`) and of every sensitivity method's custom derivative rule, so a closed-over tracer
would be baked into a cached program of another trace (JAX: "No constant handler for DynamicJaxprTracer",
leaked tracers) and would get no derivative. Here, under a trace, f (each part of a split f), the user's
Jacobian and the callbacks' functions are traced once to jaxprs; their closed-over tracers are taken out and
passed to the loop beside p, as ``(p, hoisted)``, so every sensitivity method differentiates the float ones
like parameters (integer ones travel as non-differentiable leaves of p, see `sensitivity.inputs`). The
callbacks then see the user's p (`_OnUserP`). An ordinary solve (nothing closes over a tracer) is left
exactly as it was: same right-hand side object, same compile-cache key; outside any trace nothing is
looked at.

SDE and DDE solves hoist at the level of the user's functions instead (`hoist_functions`), since their
right-hand sides call them with the user's p read from the loop's (p, noise data) or (p, lags): f and g, or
h and the dependent lags, become functions of P = (p, hoisted) that call their jaxprs with p, and P takes
p's place. A DDE's f calls the history h, which is no array: `_TracedWithHistory` traces it with h's results
as inputs. Callbacks of such solves see the user's p (`_OnUserP`); callbacks closing over tracers themselves
still get a clear error (`refuse_closed_over_tracers`).
"""
import jax
import jax.numpy as jnp

from ..callbacks.callbacks import Effect
from ..problems import FlatRHS, SplitFunction
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
        from jax.extend.core import ClosedJaxpr, jaxpr_as_fun   # lazily: jax.extend loads Pallas
        out = jaxpr_as_fun(ClosedJaxpr(self.jaxpr, consts))(*jax.tree_util.tree_leaves(args))
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(self.out_shape), out)


class _ReadsHoisted:
    """A user function called with P = (p, hoisted) at argument ``p_at`` in place of p: it runs its traced form on
    p and hoisted[``slot``], or (``traced`` None: it closes over no tracer) the function itself on p. Equal by
    identity (one per traced solve, as `HoistedRHS`)."""

    def __init__(self, fn, traced, slot, p_at):
        # (the traced form replaces fn, which must not stay referenced: it closes over tracers)
        self.fn, self.traced, self.slot, self.p_at = (fn if traced is None else None), traced, slot, p_at

    def __call__(self, *args):
        p, hoisted = args[self.p_at]
        args = args[:self.p_at] + (p,) + args[self.p_at + 1:]
        if self.traced is None:
            return self.fn(*args)
        return self.traced(hoisted[self.slot], *args)


class _DelayReadsHoisted(_ReadsHoisted):
    """A DDE's f(u, h, P, t) (`_ReadsHoisted` at p's place 2) whose history h, itself called with P = (p, hoisted)
    (the hoisted h), is handed to the user's f as h(p, s): f calls it with the p it was given."""

    def __call__(self, u, h, q, t):
        p, hoisted = q
        user_h = lambda p_, s: h((p_, hoisted), s)
        if self.traced is None:
            return self.fn(u, user_h, p, t)
        return self.traced(hoisted[self.slot], u, user_h, p, t)


class _TracedWithHistory:
    """A DDE's f(u, h, p, t) as a jaxpr, with the closed-over tracers as extra arguments. h is a function, not
    an array, so f is traced with its calls h(p_, s) answered by inputs y_k, and the calls' arguments (p_, s)
    returned beside f's value: one jaxpr of (u, p, t, y_0 … y_{K−1}). At run time the calls are answered in
    order, y_k = h(arguments of call k), which may depend on y_j (j < k): K + 1 evaluations, of which XLA
    keeps one where the arguments do not depend on the answers (common subexpressions, dead code)."""

    def __init__(self, traced, n_calls, h_shape):
        self.traced, self.n_calls, self.h_shape = traced, n_calls, h_shape

    @classmethod
    def of(cls, f, args, h_shape):
        """(the traced f, its closed-over tracers) for example ``args`` = (u, p, t); ``h_shape``: what h returns
        (a pytree of `jax.ShapeDtypeStruct`)."""
        u, p, t = args
        zeros = lambda: jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), h_shape)
        calls = []      # one None per call (the arguments are tracers of this probe: not kept)
        jax.eval_shape(lambda u_, p_, t_: f(u_, lambda *a: calls.append(None) or zeros(), p_, t_), u, p, t)
        n_calls = len(calls)

        def opened(u_, p_, t_, answers):
            asked, it = [], iter(answers)
            value = f(u_, lambda *a: asked.append(a) or next(it), p_, t_)
            return value, tuple(asked)
        traced, tracers = _Traced.of(opened, (u, p, t, tuple(zeros() for _ in range(n_calls))))
        return cls(traced, n_calls, h_shape), tracers

    def __call__(self, hoisted, u, h, p, t):
        answers = [jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), self.h_shape)
                   for _ in range(self.n_calls)]
        for k in range(self.n_calls):
            _, asked = self.traced(hoisted, u, p, t, tuple(answers))
            answers[k] = h(*asked[k])
        value, _ = self.traced(hoisted, u, p, t, tuple(answers))
        return value


def hoist_functions(functions, p):
    """Hoist the tracers that a solve's user functions close over: ``functions`` lists (fn, example arguments,
    position of p in them), or (fn, (u, p, t), 2, h_shape) for a DDE's f(u, h, p, t) whose history returns values
    shaped like ``h_shape`` (it is handed h(P, s): pass the history function hoisted too, p at place 0).
    Returns None when not tracing or none closes over a tracer; else (the functions to use, taking
    P = (p, hoisted) in p's place, and P)."""
    if not _tracing():
        return None
    traced = [_Traced.of(entry[0], entry[1]) if len(entry) == 3 else _TracedWithHistory.of(*entry[:2], entry[3])
              for entry in functions]
    if not any(tracers for _, tracers in traced):
        return None
    out, hoisted = [], []
    for entry, (fn_traced, tracers) in zip(functions, traced):
        checks.forget(entry[0])
        kind = _ReadsHoisted if len(entry) == 3 else _DelayReadsHoisted
        if tracers:
            out.append(kind(entry[0], fn_traced, len(hoisted), entry[2]))
            hoisted.append(tracers)
        else:
            out.append(kind(entry[0], None, None, entry[2]))
    return out, (p, tuple(hoisted))


def callbacks_on_user_p(event_plan):
    """An event plan whose callbacks' functions, called with P = (p, hoisted) (`hoist_functions`), see p."""
    if event_plan is None:
        return None
    callbacks = []
    for cb in event_plan.callbacks:
        fields = {name: _OnUserP(fn) for name, fn in cb._asdict().items()
                  if name in _CALLBACK_FUNCTIONS and fn is not None}
        callbacks.append(cb._replace(**fields))
    return event_plan._replace(callbacks=tuple(callbacks))


class HoistedRHS(RightHandSide):
    """A flat right-hand side (and the user's Jacobian) whose closed-over tracers are read from the loop's
    parameters ``(p, hoisted)``, at ``hoisted[slot]`` (f's) and ``hoisted[slot + 1]`` (the Jacobian's).
    Keeps the sparsity pattern. Hashed by identity (one per traced solve)."""

    def __init__(self, f, jac, sparsity, slot, symbols=None):
        self.f_traced, self.jac_traced, self.sparsity, self.slot = f, jac, sparsity, slot
        self.jac = None if jac is None else self._jac
        if symbols is not None:   # a symbolic system's f: the solution indexes by its symbols (sol[x])
            self.f = symbols

    def __call__(self, u, q, t):
        p, hoisted = q
        return self.f_traced(hoisted[self.slot], u, p, t)

    def _jac(self, u, q, t):
        p, hoisted = q
        return self.jac_traced(hoisted[self.slot + 1], u, p, t)


class _OnUserP:
    """A callback function called with the loop's ``(p, hoisted)``: it sees the user's p (and, when it
    closes over tracers itself, its own hoisted values, ``slot``), and a new p it returns (in an `Effect`) is
    put back beside the hoisted values."""

    def __init__(self, fn, traced=None, slot=None):
        # (the traced form replaces fn, which must not stay referenced: it closes over tracers)
        self.fn, self.traced, self.slot = (fn if traced is None else None), traced, slot

    def __call__(self, u, q, t, *extra):
        p, hoisted = q
        if self.traced is None:
            out = self.fn(u, p, t, *extra)
        else:
            out = self.traced(hoisted[self.slot], u, p, t, *extra)
        if isinstance(out, Effect) and out.p is not None:
            return out._replace(p=(out.p, hoisted))
        return out


def _callback_functions(event_plan, u, p, t):
    """[(callback position, field, function, its traced form or None, its closed-over tracers)]."""
    found = []
    for i, cb in enumerate(event_plan.callbacks):
        for name in _CALLBACK_FUNCTIONS:
            fn = getattr(cb, name, None)
            if fn is None:
                continue
            # a VectorContinuousCallback's affect also receives the index of the component that fired
            extra = (jnp.zeros((), jnp.int32),) if name.startswith("affect") and getattr(cb, "length", None) else ()
            traced, tracers = _Traced.of(fn, (u, p, t) + extra)
            found.append((i, name, fn, traced if tracers else None, tracers))
    return found


def _flat_parts(rhs):
    """The plain ODE right-hand sides the loop calls with p: rhs itself, or a split f's two parts."""
    if type(rhs) is FlatRHS:
        return [rhs]
    if type(rhs) is SplitFunction and type(rhs.stiff) is FlatRHS and type(rhs.nonstiff) is FlatRHS:
        return [rhs.stiff, rhs.nonstiff]
    return None


def hoist(rhs, p, u0, t0, event_plan):
    """(rhs, loop p, event plan) with the tracers that f, its Jacobian and the callbacks' functions close
    over hoisted into the loop's parameters, or None when they close over none (or the right-hand side is
    not a plain or split ODE's, whose f the loop calls directly)."""
    if not _tracing():
        return None
    parts = _flat_parts(rhs)
    if parts is None:
        _refuse_closed_over_tracers(rhs, event_plan)
        return None
    t = jnp.asarray(t0)
    traced = []   # per part: (f, f's tracers, jac, jac's tracers)
    for part in parts:
        f, f_hoisted = _Traced.of(part, (u0, p, t))
        jac, jac_hoisted = (None, ()) if part.jac is None else _Traced.of(part.jac, (u0, p, t))
        traced.append((f, f_hoisted, jac, jac_hoisted))
    functions = [] if event_plan is None else _callback_functions(event_plan, event_plan.spec.unravel(u0), p, t)
    if not any(fh or jh for _, fh, _, jh in traced) and not any(tracers for *_, tracers in functions):
        return None
    hoisted, new_parts = [], []
    for part, (f, f_hoisted, jac, jac_hoisted) in zip(parts, traced):
        checks.forget(part.f, part.user_jac)
        symbols = part.f if hasattr(part.f, "symbolic_values") else None
        new_parts.append(HoistedRHS(f, jac, part.sparsity, len(hoisted), symbols))
        hoisted += [f_hoisted, jac_hoisted]
    if event_plan is not None:
        callbacks = [cb._asdict() for cb in event_plan.callbacks]
        for i, name, fn, fn_traced, tracers in functions:
            callbacks[i][name] = _OnUserP(fn, fn_traced, len(hoisted) if fn_traced is not None else None)
            if fn_traced is not None:
                hoisted.append(tracers)
        event_plan = event_plan._replace(callbacks=tuple(type(cb)(**new) for cb, new
                                                         in zip(event_plan.callbacks, callbacks)))
    new_rhs = new_parts[0] if len(new_parts) == 1 else SplitFunction(*new_parts)
    return new_rhs, (p, tuple(hoisted)), event_plan


def _refuse_closed_over_tracers(rhs, event_plan):
    """For the right-hand sides not hoisted here (SDEs, DDEs: their functions were, by `hoist_functions`): a
    clear error, before compiling, when their functions or the callbacks' visibly close over a tracer (JAX's
    own error would name no cause)."""
    for where, obj in (("the problem's functions (f, g, h)", rhs),
                       ("a callback's function", None if event_plan is None else event_plan.callbacks)):
        tracer = _find_tracer(obj, 5, set())
        if tracer is not None:
            raise TypeError(
                f"solve: {where} close over a traced value ({type(tracer).__name__} of shape {tracer.shape}, "
                f"dtype {tracer.dtype}) computed inside the function being transformed by jax.jit/grad/vmap. "
                f"{'Callbacks of ' if obj is not rhs else ''}{type(rhs).__name__} right-hand sides cannot carry "
                "such values yet: pass them through the problem's p (e.g. p=(p, c)) and read them there")


def _find_tracer(obj, depth, seen):
    """A tracer reachable from ``obj`` through closures, partial arguments, bound instances, attributes and
    containers (a few levels deep), or None."""
    if isinstance(obj, jax.core.Tracer):
        return obj
    if depth == 0 or id(obj) in seen or obj is None or isinstance(obj, (type, str, bytes, int, float, complex)):
        return None
    seen.add(id(obj))
    if isinstance(obj, (tuple, list, set, frozenset)):
        children = list(obj)
    elif isinstance(obj, dict):
        children = list(obj.values())
    elif callable(obj) and hasattr(obj, "__code__"):     # a Python function: its closure and defaults
        children = [c.cell_contents for c in (obj.__closure__ or ()) if _has_contents(c)]
        children += list(obj.__defaults__ or ()) + list((obj.__kwdefaults__ or {}).values())
    elif hasattr(obj, "__func__") and hasattr(obj, "__self__"):   # a bound method
        children = [obj.__func__, obj.__self__]
    elif hasattr(obj, "func") and hasattr(obj, "args") and hasattr(obj, "keywords"):   # functools.partial
        children = [obj.func, *obj.args, *obj.keywords.values()]
    elif hasattr(obj, "__dict__") and not isinstance(obj, type(jax)):
        children = list(vars(obj).values())
    elif hasattr(obj, "_fields"):
        children = list(obj)
    else:
        return None
    for child in children:
        found = _find_tracer(child, depth - 1, seen)
        if found is not None:
            return found
    return None


def _has_contents(cell):
    try:
        cell.cell_contents
    except ValueError:   # an empty cell
        return False
    return True
