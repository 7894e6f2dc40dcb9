"""Gradients through ODE solves: pysciml's sensitivity methods against diffrax and torchdiffeq.

1. Lotka–Volterra: the gradient with respect to the 4 parameters of loss = Σ u(t_i)² over 100 save points
   on [0, 10], rtol 1e-6 / atol 1e-8, Tsit5 (torchdiffeq: dopri5). Error = max relative error against an
   independent reference: scipy's DOP853 at rtol = atol = 1e-13 on the forward sensitivity equations
   (hand-written Jacobians; no pysciml code). "default" is `solve(...)` without sensealg (forward mode for
   this size). Then the default at tighter tolerances, until its gradient error is at most that of
   diffrax's fastest adjoint, timed head to head against it (the comparison at equal or smaller error).
2. The spiral neural ODE of torchdiffeq's `ode_demo`: MLP 2→50→2 (tanh) applied to y³, batch_time 10,
   batch_size 20, one training step = loss (mean |pred − true|) and its gradient, rtol 1e-7 / atol 1e-9
   (the demo's defaults), same initial weights and batch in every library.
3. The 2-D Brusselator (`pysciml.testing.brusselator_2d`, N = 4, 8, 16, 32; 2N² states) on t ∈ [0, 1.5]
   (across the forcing switched on at t = 1.1): the gradient with respect to p = (A, B, α, dx) of
   loss = Σ u(t_i)² over 5 save points, rtol 1e-6 / atol 1e-8. pysciml's adjoints with Rodas5P / KenCarp4
   (dense LU at small N, matrix-free GMRES) against diffrax's default, Kvaerno5 with
   RecursiveCheckpointAdjoint (and BacksolveAdjoint). Error = max relative error against pysciml
   GaussAdjoint at rtol 1e-10, itself checked at small N against ForwardDiffSensitivity at rtol 1e-10.
   Its table goes to a section of its own in RESULTS.md.

One pinned core, float64; JAX functions are jitted as functions of the parameters (trace and compile
timed separately, not in the run times); medians over repeats.

    python benchmarks/gradients.py [--quick] [--write] [--problems lotka_volterra,spiral,brusselator]
"""
import argparse
import json
import sys
import time
from types import SimpleNamespace

import _harness as H

CORE = H.setup_env()

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import pysciml as ps  # noqa: E402

torch = H.setup_torch()
try:
    import diffrax
except ImportError:
    diffrax = None
try:
    from torchdiffeq import odeint as torch_odeint, odeint_adjoint as torch_odeint_adjoint
except ImportError:
    torch_odeint = None

NAME = "gradients"
HEADING = "Gradients through solves (`benchmarks/gradients.py`)"
BRUSSELATOR_HEADING = "Gradients through solves: the 2-D Brusselator (`benchmarks/gradients.py --problems brusselator`)"
PACKAGES = ["pysciml", "jax", "jaxlib", "diffrax", "equinox", "torch", "torchdiffeq"]
PYSCIML_METHODS = ["DiscreteAdjoint", "ForwardDiffSensitivity", "ForwardSensitivity", "BacksolveAdjoint", "InterpolatingAdjoint",
                   "QuadratureAdjoint", "GaussAdjoint"]
DIFFRAX_ADJOINTS = ["RecursiveCheckpointAdjoint", "BacksolveAdjoint"]


# --- problem 1: Lotka–Volterra -------------------------------------------------------------------------------

LV = SimpleNamespace(u0=np.array([1.0, 1.0]), p=np.array([1.5, 1.0, 3.0, 1.0]), tspan=(0.0, 10.0),
                     ts=np.linspace(0.0, 10.0, 100), rtol=1e-6, atol=1e-8)


def lv_jax(u, p):
    x, y = u[0], u[1]
    return jnp.stack([p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y])


def lv_pysciml_loss(method, rtol=LV.rtol, atol=LV.atol):
    prob = ps.ODEProblem(lambda u, p, t: lv_jax(u, p), jnp.asarray(LV.u0), LV.tspan, jnp.asarray(LV.p))
    ts = jnp.asarray(LV.ts)
    sensealg = None if method == "default" else getattr(ps, method)()

    def loss(p):
        sol = ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=ts, rtol=rtol, atol=atol, sensealg=sensealg)
        return jnp.sum(sol.u ** 2)
    return loss


def lv_reference_gradient(rtol=1e-13, atol=1e-13):
    """d/dp Σ u(t_i)² from the forward sensitivity equations S' = J S + ∂f/∂p, integrated by scipy's DOP853
    with the Jacobians written out by hand: independent of every library under test."""
    from scipy.integrate import solve_ivp
    a, b, c, d = LV.p

    def rhs(t, z):
        x, y = z[0], z[1]
        sens = z[2:].reshape(2, 4)
        jac = np.array([[a - b * y, -b * x], [d * y, -c + d * x]])
        f_p = np.array([[x, -x * y, 0.0, 0.0], [0.0, 0.0, -y, x * y]])
        return np.concatenate([[a * x - b * x * y, -c * y + d * x * y], (jac @ sens + f_p).ravel()])

    sol = solve_ivp(rhs, LV.tspan, np.concatenate([LV.u0, np.zeros(8)]), method="DOP853", t_eval=LV.ts,
                    rtol=rtol, atol=atol)
    u, sens = sol.y[:2].T, sol.y[2:].T.reshape(-1, 2, 4)
    return np.einsum("ti,tij->j", 2 * u, sens)


def lv_diffrax_loss(adjoint):
    term = diffrax.ODETerm(lambda t, y, p: lv_jax(y, p))
    saveat = diffrax.SaveAt(ts=jnp.asarray(LV.ts))
    controller = diffrax.PIDController(rtol=LV.rtol, atol=LV.atol)

    def loss(p):
        sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), LV.tspan[0], LV.tspan[1], None, jnp.asarray(LV.u0),
                                  args=p, saveat=saveat, stepsize_controller=controller,
                                  adjoint=getattr(diffrax, adjoint)(), max_steps=100_000)
        return jnp.sum(sol.ys ** 2)
    return loss


def lv_torch_grad(adjoint):
    class LVModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.tensor(LV.p))

        def forward(self, t, u):
            x, y = u[0], u[1]
            a, b, c, d = self.p
            return torch.stack([a * x - b * x * y, -c * y + d * x * y])

    module = LVModule()
    u0, ts = torch.tensor(LV.u0), torch.tensor(LV.ts)
    solver = torch_odeint_adjoint if adjoint else torch_odeint

    def grad():
        module.zero_grad()
        loss = torch.sum(solver(module, u0, ts, rtol=LV.rtol, atol=LV.atol, method="dopri5") ** 2)
        loss.backward()
        return module.p.grad.detach().numpy().copy()
    return grad


def jax_grad_row(problem, lib, method, loss, p, reference):
    grad = jax.jit(jax.grad(loss))
    trace, compile_, compiled = H.jax_compile_times(grad, p)
    call = lambda: jax.block_until_ready(compiled(p))   # noqa: E731
    timing = H.time_call(call, CFG.repeats, CFG.min_sample)
    return row(problem, lib, method, timing, reference, trace, compile_, call)


def row(problem, lib, method, timing, reference, trace=None, compile_=None, call=None):
    value = np.asarray(timing.result, dtype=float)
    err = float(np.max(np.abs(value - reference) / np.abs(reference))) if reference is not None else None
    return dict(problem=problem, lib=lib, method=method, median_s=timing.median, min_s=timing.min,
                max_s=timing.max, cpu_s=timing.cpu, err=err, trace_s=trace, compile_s=compile_,
                load=H.load_average(), call=call)


LV_TIGHTER = (5e-7, 2.5e-7, 1e-7, 5e-8)     # rtol (atol = rtol / 100) of the matched-error rows


def lotka_volterra_rows():
    p = jnp.asarray(LV.p)
    reference = lv_reference_gradient()
    check = lv_reference_gradient(1e-11, 1e-11)
    print(f"lotka_volterra: reference {reference}, change from rtol 1e-11: "
          f"{np.max(np.abs(check - reference) / np.abs(reference)):.1e}", file=sys.stderr, flush=True)
    rows = [jax_grad_row("lotka_volterra", "pysciml", m, lv_pysciml_loss(m), p, reference)
            for m in ["default"] + PYSCIML_METHODS]
    if diffrax is not None:
        peers = [jax_grad_row("lotka_volterra", "diffrax", a, lv_diffrax_loss(a), p, reference)
                 for a in DIFFRAX_ADJOINTS]
        rows += peers
        fastest = min(peers, key=lambda r: r["median_s"])
        for rtol in LV_TIGHTER:       # the default, tightened until its error is at most the peer's
            if rows[0]["err"] <= fastest["err"]:
                break
            matched = jax_grad_row("lotka_volterra", "pysciml", f"default @ rtol {rtol:g}",
                                   lv_pysciml_loss("default", rtol, rtol / 100), p, reference)
            rows.append(matched)
            if matched["err"] <= fastest["err"]:
                break
    if torch_odeint is not None and not CFG.quick:    # (0.3 and 1.5 s per gradient)
        for adjoint, name in ((False, "odeint (backprop)"), (True, "odeint_adjoint")):
            fn = lv_torch_grad(adjoint)
            rows.append(row("lotka_volterra", "torchdiffeq", name, H.time_call(fn, CFG.repeats, CFG.min_sample),
                            reference, call=fn))
    return rows


# --- problem 2: the spiral neural ODE training step ----------------------------------------------------------

SPIRAL = SimpleNamespace(data_size=1000, batch_time=10, batch_size=20, t1=25.0, rtol=1e-7, atol=1e-9, hidden=50)


def spiral_data():
    """True trajectory of torchdiffeq's demo (dy/dt = (y³) A) by a tight scipy solve, and one fixed batch."""
    from scipy.integrate import solve_ivp
    a = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    ts = np.linspace(0.0, SPIRAL.t1, SPIRAL.data_size)
    sol = solve_ivp(lambda t, y: (y ** 3) @ a, (0.0, SPIRAL.t1), [2.0, 0.0], t_eval=ts, method="DOP853",
                    rtol=1e-12, atol=1e-12)
    ys = sol.y.T
    rng = np.random.default_rng(0)
    starts = rng.choice(SPIRAL.data_size - SPIRAL.batch_time, SPIRAL.batch_size, replace=False)
    batch_y0 = ys[starts]                                         # (20, 2)
    batch_t = ts[:SPIRAL.batch_time]                              # (10,)
    batch_y = np.stack([ys[starts + i] for i in range(SPIRAL.batch_time)])   # (10, 20, 2)
    return batch_y0, batch_t, batch_y


def spiral_weights():
    rng = np.random.default_rng(1)
    return dict(w1=rng.normal(0, 0.1, (2, SPIRAL.hidden)), b1=np.zeros(SPIRAL.hidden),
                w2=rng.normal(0, 0.1, (SPIRAL.hidden, 2)), b2=np.zeros(2))


def spiral_reference(mlp, y0, t, y_true, w, rtol=1e-12):
    """The spiral loss's gradient from a peer at a tight tolerance, independent of every pysciml method timed:
    diffrax Dopri8 at rtol = atol = 1e-12 differentiated through its steps; its change from rtol 1e-11 is
    printed. Falls back to None (errors not reported) without diffrax."""
    if diffrax is None:
        return None

    def gradient(tol):
        def loss(params):
            sol = diffrax.diffeqsolve(diffrax.ODETerm(lambda t_, y, p: mlp(p, y)), diffrax.Dopri8(), float(t[0]),
                                      float(t[-1]), None, jnp.asarray(y0), args=params,
                                      saveat=diffrax.SaveAt(ts=jnp.asarray(t)), max_steps=100_000,
                                      stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol),
                                      adjoint=diffrax.RecursiveCheckpointAdjoint())
            return jnp.mean(jnp.abs(sol.ys - jnp.asarray(y_true)))
        g = jax.jit(jax.grad(loss))(w)
        return np.concatenate([np.ravel(g[k]) for k in sorted(w)])

    ref, check = gradient(rtol), gradient(rtol * 10)
    print(f"spiral: reference change from rtol {rtol * 10:g}: {np.max(np.abs(check - ref)) / np.max(np.abs(ref)):.1e}",
          file=sys.stderr, flush=True)
    return ref


def spiral_rows():
    y0, t, y_true = spiral_data()
    w = {k: jnp.asarray(v) for k, v in spiral_weights().items()}

    def mlp(params, y):
        return jnp.tanh((y ** 3) @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]

    def pysciml_loss(method):
        prob = ps.ODEProblem(lambda u, p, t_: mlp(p, u), jnp.asarray(y0), (float(t[0]), float(t[-1])), w)

        def loss(params):
            sol = ps.solve(prob.remake(p=params), ps.Tsit5(), saveat=jnp.asarray(t), rtol=SPIRAL.rtol,
                           atol=SPIRAL.atol, sensealg=getattr(ps, method)())
            return jnp.mean(jnp.abs(sol.u - jnp.asarray(y_true)))
        return loss

    flat_ref, rows = spiral_reference(mlp, y0, t, y_true, w), []
    for method in ("DiscreteAdjoint", "BacksolveAdjoint", "InterpolatingAdjoint", "GaussAdjoint", "ForwardDiffSensitivity"):
        loss = pysciml_loss(method)
        grad = jax.jit(jax.grad(loss))
        trace, compile_, compiled = H.jax_compile_times(grad, w)
        call = lambda compiled=compiled: jax.block_until_ready(compiled(w))  # noqa: E731
        timing = H.time_call(call, CFG.repeats, CFG.min_sample)
        flat = np.concatenate([np.ravel(timing.result[k]) for k in sorted(w)])
        rows.append(dict(problem="spiral", lib="pysciml", method=method, median_s=timing.median, min_s=timing.min,
                         max_s=timing.max, cpu_s=timing.cpu, err=float(np.max(np.abs(flat - flat_ref)) / np.max(np.abs(flat_ref))),
                         trace_s=trace, compile_s=compile_, load=H.load_average(), call=call))
    if diffrax is not None:
        term = diffrax.ODETerm(lambda t_, y, p: mlp(p, y))
        for adjoint in DIFFRAX_ADJOINTS:
            def loss(params, adjoint=adjoint):
                sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), float(t[0]), float(t[-1]), None, jnp.asarray(y0),
                                          args=params, saveat=diffrax.SaveAt(ts=jnp.asarray(t)),
                                          stepsize_controller=diffrax.PIDController(rtol=SPIRAL.rtol, atol=SPIRAL.atol),
                                          adjoint=getattr(diffrax, adjoint)())
                return jnp.mean(jnp.abs(sol.ys - jnp.asarray(y_true)))
            grad = jax.jit(jax.grad(loss))
            trace, compile_, compiled = H.jax_compile_times(grad, w)
            call = lambda compiled=compiled: jax.block_until_ready(compiled(w))  # noqa: E731
            timing = H.time_call(call, CFG.repeats, CFG.min_sample)
            flat = np.concatenate([np.ravel(timing.result[k]) for k in sorted(w)])
            rows.append(dict(problem="spiral", lib="diffrax", method=adjoint, median_s=timing.median,
                             min_s=timing.min, max_s=timing.max, cpu_s=timing.cpu,
                             err=float(np.max(np.abs(flat - flat_ref)) / np.max(np.abs(flat_ref))),
                             trace_s=trace, compile_s=compile_, load=H.load_average(), call=call))
    if torch_odeint is not None:
        net = torch.nn.Sequential(torch.nn.Linear(2, SPIRAL.hidden), torch.nn.Tanh(), torch.nn.Linear(SPIRAL.hidden, 2))
        with torch.no_grad():
            weights = spiral_weights()
            net[0].weight.copy_(torch.tensor(weights["w1"].T)); net[0].bias.copy_(torch.tensor(weights["b1"]))
            net[2].weight.copy_(torch.tensor(weights["w2"].T)); net[2].bias.copy_(torch.tensor(weights["b2"]))

        class Func(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, t_, y):
                return self.net(y ** 3)

        func = Func()
        ty0, tt, ty = torch.tensor(y0), torch.tensor(t), torch.tensor(y_true)

        def step():
            func.zero_grad()
            pred = torch_odeint(func, ty0, tt, rtol=SPIRAL.rtol, atol=SPIRAL.atol)
            torch.mean(torch.abs(pred - ty)).backward()
            return net[0].weight.grad
        timing = H.time_call(step, CFG.repeats, CFG.min_sample)
        rows.append(dict(problem="spiral", lib="torchdiffeq", method="odeint (backprop)", median_s=timing.median,
                         min_s=timing.min, max_s=timing.max, cpu_s=timing.cpu, err=None, trace_s=None,
                         compile_s=None, load=H.load_average(), call=step))
    return rows


# --- problem 3: the 2-D Brusselator --------------------------------------------------------------------------

BRUSS = SimpleNamespace(sizes=(4, 8, 16, 32), tspan=(0.0, 1.5), ts=np.linspace(0.0, 1.5, 6)[1:], rtol=1e-6,
                        atol=1e-8, ref_rtol=1e-10, ref_atol=1e-12, check_sizes=(4, 8), dense_max=16,
                        budget_s=60.0, slow_s=1.0, single_s=20.0, paired_max_s=0.2)

# (sensealg, method, linsolve, largest N). Dense LU (2N² states) stops at BRUSS.dense_max; the forward
# sensitivity equations (n(n + m + 1) states) at N = 4 (59 s per gradient at N = 8 in the recorded run). DiscreteAdjoint needs a method without Newton
# iterations and a linear solve it can differentiate in reverse mode (dense LU: the GMRES loop is not).
# The continuous adjoints have no sparsity pattern for the adjoint equation, so `linsolve="sparse"` is out.
BRUSS_PYSCIML = [("DiscreteAdjoint", "Rodas5P", "lu", 16), ("GaussAdjoint", "KenCarp4", "lu", 16),
                 ("GaussAdjoint", "KenCarp4", "krylov", 32), ("InterpolatingAdjoint", "KenCarp4", "krylov", 32),
                 ("QuadratureAdjoint", "KenCarp4", "krylov", 32), ("ForwardSensitivity", "KenCarp4", "krylov", 4)]
BRUSS_DIFFRAX = ["RecursiveCheckpointAdjoint", "BacksolveAdjoint"]


def bruss_problem(n):
    """`brusselator_2d(n)` on BRUSS.tspan, with its sparsity pattern detected ("auto") so dense LU forms
    ∂f/∂u by colored forward-mode AD."""
    lib = ps.testing.brusselator_2d(n, tspan=BRUSS.tspan)
    return ps.ODEProblem(lib.f, lib.u0, lib.tspan, lib.p, jac_prototype="auto")


def bruss_pysciml_loss(n, sensealg, alg, rtol=BRUSS.rtol, atol=BRUSS.atol, **solve_options):
    prob, ts = bruss_problem(n), jnp.asarray(BRUSS.ts)

    def loss(p):
        sol = ps.solve(prob.remake(p=p), alg, saveat=ts, rtol=rtol, atol=atol, sensealg=getattr(ps, sensealg)(),
                       **solve_options)
        return jnp.sum(sol.u ** 2)
    return loss


def bruss_diffrax_loss(n, adjoint):
    prob = bruss_problem(n)
    term = diffrax.ODETerm(lambda t, y, p: prob.f(y, p, t))
    saveat = diffrax.SaveAt(ts=jnp.asarray(BRUSS.ts))
    controller = diffrax.PIDController(rtol=BRUSS.rtol, atol=BRUSS.atol)

    def loss(p):
        sol = diffrax.diffeqsolve(term, diffrax.Kvaerno5(), BRUSS.tspan[0], BRUSS.tspan[1], None, prob.u0, args=p,
                                  saveat=saveat, stepsize_controller=controller, adjoint=getattr(diffrax, adjoint)())
        return jnp.sum(sol.ys ** 2)
    return loss


def bruss_reference(n):
    """(reference gradient, max relative difference of the cross-check or None): GaussAdjoint with KenCarp4
    at rtol 1e-10 (dense LU up to BRUSS.dense_max, above it GMRES at a 1e-12 residual), checked at
    N ∈ BRUSS.check_sizes against ForwardDiffSensitivity with Rodas5P (dense LU) at the same tolerance,
    stepping onto the forcing's switch (tstops = 1.1): ForwardDiffSensitivity differentiates the step-size
    control too, and a step across the switch makes that derivative wrong by ~20 % on this problem."""
    p = bruss_problem(n).p
    linsolve = "lu" if n <= BRUSS.dense_max else ps.KrylovGMRES(tol=1e-12)
    ref = np.asarray(jax.jit(jax.grad(bruss_pysciml_loss(n, "GaussAdjoint", ps.KenCarp4(linsolve=linsolve),
                                                         BRUSS.ref_rtol, BRUSS.ref_atol)))(p))
    if n not in BRUSS.check_sizes:
        return ref, None
    check = np.asarray(jax.jit(jax.grad(bruss_pysciml_loss(n, "ForwardDiffSensitivity", ps.Rodas5P(), BRUSS.ref_rtol,
                                                           BRUSS.ref_atol, tstops=jnp.array([1.1]))))(p))
    return ref, float(np.max(np.abs(check - ref) / np.abs(ref)))


def bruss_time(call):
    """A gradient slower than BRUSS.slow_s: 3 single calls, the first included (one over BRUSS.single_s:
    that call alone); any other with time_call."""
    c0, w0 = time.process_time(), time.perf_counter()
    first = call()
    walls, cpus = [time.perf_counter() - w0], [time.process_time() - c0]
    if walls[0] <= BRUSS.slow_s:
        return H.time_call(call, CFG.repeats, CFG.min_sample)
    for _ in range(0 if walls[0] > BRUSS.single_s else 2):
        c0, w0 = time.process_time(), time.perf_counter()
        call()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return H.Timing(float(np.median(walls)), min(walls), max(walls), float(np.median(cpus)), 1, len(walls), first)


def bruss_skipped(n, lib, method, why):
    return dict(problem="brusselator", n=n, states=2 * n * n, lib=lib, method=method, median_s=None, min_s=None,
                max_s=None, cpu_s=None, err=None, trace_s=None, compile_s=None, load=H.load_average(), call=None,
                skipped=why)


def brusselator_rows():
    configs = [("pysciml", f"{sens} · {method} {linsolve}", (sens, method, linsolve), largest)
               for sens, method, linsolve, largest in BRUSS_PYSCIML]
    if diffrax is not None:
        configs += [("diffrax", f"{adjoint} · Kvaerno5", adjoint, 32) for adjoint in BRUSS_DIFFRAX]
    last = {}        # label -> (N, median seconds) of its latest run
    rows = []
    for n in CFG.sizes:
        p = bruss_problem(n).p
        reference, check = bruss_reference(n)
        print(f"brusselator N={n}: reference {reference}, cross-check {check}", file=sys.stderr, flush=True)
        for lib, label, spec, largest in configs:
            if n > largest:
                rows.append(bruss_skipped(n, lib, label, f"not run above N = {largest}"))
                continue
            if label in last and last[label][1] > BRUSS.budget_s:
                took = "failed" if last[label][1] == float("inf") else f"took {last[label][1]:.0f} s"
                rows.append(bruss_skipped(n, lib, label, f"skipped: {took} at N = {last[label][0]}"))
                continue
            if lib == "pysciml":
                sens, method, linsolve = spec
                loss = bruss_pysciml_loss(n, sens, getattr(ps, method)(linsolve=linsolve))
            else:
                loss = bruss_diffrax_loss(n, spec)
            start = time.perf_counter()
            try:
                trace, compile_, compiled = H.jax_compile_times(jax.jit(jax.grad(loss)), p)
                call = lambda compiled=compiled: jax.block_until_ready(compiled(p))  # noqa: E731
                timing = bruss_time(call)
            except Exception as error:    # a peer's failed solve raises at run time (diffrax's checks)
                message = str(error).strip().splitlines()
                why = next((line for line in message if "maximum number" in line), message[-1] if message else "")
                rows.append(bruss_skipped(n, lib, label, f"FAILED after {time.perf_counter() - start:.0f} s: "
                                                         f"{why.strip()[:100]}"))
                last[label] = (n, float("inf"))
                print(f"brusselator N={n:2d} {lib:8s} {label:46s} {rows[-1]['skipped']}", file=sys.stderr, flush=True)
                continue
            r = dict(row("brusselator", lib, label, timing, reference, trace, compile_, call), n=n, states=2 * n * n,
                     skipped=None, reference_check=check)
            last[label] = (n, timing.median)
            rows.append(r)
            print(f"brusselator N={n:2d} {lib:8s} {label:46s} {timing.median * 1e3:10.4g} ms  err {r['err']:.2e}  "
                  f"{H.compile_cell(r)}", file=sys.stderr, flush=True)
    return rows


def bruss_ratio(ours, peer):
    """time(peer) / time(ours): head to head (interleaved samples) when both are short, else the medians."""
    if max(ours["median_s"], peer["median_s"]) <= BRUSS.paired_max_s and ours.get("call") and peer.get("call"):
        try:
            median, q1, q3 = H.paired_ratio(ours["call"], peer["call"], rounds=5 if CFG.quick else 11,
                                            min_sample=CFG.min_sample / 2)
            return f"{median:.2f}× (quartiles {q1:.2f}–{q3:.2f}, interleaved)"
        except Exception:     # seen once: diffrax's compiled gradient raising NaN checks on a later call
            pass
    return f"{peer['median_s'] / ours['median_s']:.2f}× (ratio of medians)"


def brusselator_report(rows, info, seconds):
    checks = {r["n"]: r["reference_check"] for r in rows if r.get("reference_check") is not None}
    lines = [H.machine_markdown(info), "",
             f"Brusselator part: {seconds / 60:.1f} min. `brusselator_2d(N, tspan=(0, 1.5))` (2N² states, forcing "
             f"on from t = 1.1); loss = Σ u(t_i)² at t_i = {', '.join(f'{t:g}' for t in BRUSS.ts)}; gradient "
             f"with respect to p = (A, B, α, dx); rtol {BRUSS.rtol:g}, atol {BRUSS.atol:g} for every library. "
             "pysciml: `ODEProblem(..., jac_prototype=\"auto\")`, `solve(..., saveat=t_i, sensealg=...)`; "
             "\"lu\" = dense LU (J by colored forward-mode AD on the detected pattern), \"krylov\" = matrix-free "
             "GMRES (`KrylovGMRES()` defaults). diffrax: `Kvaerno5()` (default root finder), "
             "`PIDController(rtol, atol)`, `SaveAt(ts=t_i)`. Gradient error: max relative error over the 4 "
             f"components against pysciml GaussAdjoint · KenCarp4 at rtol {BRUSS.ref_rtol:g} / atol "
             f"{BRUSS.ref_atol:g} (dense LU up to N = {BRUSS.dense_max}, GMRES at residual 1e-12 above); "
             "that reference agrees with ForwardDiffSensitivity · Rodas5P at the same tolerance to "
             + ", ".join(f"{v:.1e} (N = {k})" for k, v in sorted(checks.items())) + ". Times: median over "
             f"{CFG.repeats} samples; a gradient over {BRUSS.slow_s:g} s: 3 single calls, the first included "
             f"(over {BRUSS.single_s:g} s: one call). A configuration is skipped at larger N once it took over "
             f"{BRUSS.budget_s:g} s.", ""]
    table = []
    for r in rows:
        if r["skipped"]:
            table.append([r["n"], r["states"], r["lib"], r["method"], r["skipped"], "–", "–", "–"])
        else:
            cell = H.time_cell(r) if r["min_s"] is not None else H.fmt(r["median_s"] * 1e3)
            table.append([r["n"], r["states"], r["lib"], r["method"], cell, H.fmt(r["cpu_s"] and r["cpu_s"] * 1e3),
                          f"{r['err']:.1e}", H.compile_cell(r)])
    lines.append(H.markdown_table(["N", "states", "lib", "method", "time/gradient ms: median [min–max]", "CPU ms",
                                   "gradient error", "JAX trace + compile s"], table))
    for n in dict.fromkeys(r["n"] for r in rows):
        done = [r for r in rows if r["n"] == n and not r["skipped"]]
        ours = [r for r in done if r["lib"] == "pysciml"]
        default = [r for r in done if r["lib"] == "diffrax" and r["method"].startswith("RecursiveCheckpointAdjoint")]
        if not ours or not default:
            continue
        best = min(ours, key=lambda r: r["median_s"])
        lines.append(f"- N = {n}: diffrax default ({default[0]['method']}) {default[0]['median_s'] * 1e3:.4g} ms / "
                     f"best pysciml ({best['method']}) {best['median_s'] * 1e3:.4g} ms = "
                     f"{bruss_ratio(best, default[0])}")
    return "\n".join(lines) + "\n"


# --- report ------------------------------------------------------------------------------------------------

def report(rows, info, seconds):
    lines = [H.machine_markdown(info), "",
             f"Whole script: {seconds / 60:.1f} min. Gradient error: max relative difference from the reference "
             "(Lotka–Volterra: scipy DOP853 on the forward sensitivity equations at rtol = atol = 1e-13, "
             "independent of every library timed; spiral: diffrax Dopri8 at rtol = atol = 1e-12, "
             "differentiated through its steps, independent of every pysciml method timed). Ratio = time of the peer's best / pysciml's best, head to head "
             "(interleaved samples). \"default\" = pysciml without sensealg.", ""]
    table = []
    for r in rows:
        table.append([r["problem"], r["lib"], r["method"], H.time_cell(r), f"{r['cpu_s'] * 1e3:.3g}",
                      "–" if r["err"] is None else f"{r['err']:.1e}", H.compile_cell(r)])
    lines.append(H.markdown_table(["problem", "lib", "method", "time/gradient ms: median [min–max]", "CPU ms",
                                   "gradient error", "JAX trace + compile s"], table))
    for problem in dict.fromkeys(r["problem"] for r in rows):
        group = [r for r in rows if r["problem"] == problem]
        ours = min((r for r in group if r["lib"] == "pysciml"), key=lambda r: r["median_s"])
        if problem == "lotka_volterra":
            lines += lv_matched_lines(group)
        for lib in ("diffrax", "torchdiffeq"):
            peers = [r for r in group if r["lib"] == lib]
            if not peers:
                continue
            best = min(peers, key=lambda r: r["median_s"])
            median, q1, q3 = H.paired_ratio(ours["call"], best["call"], rounds=5 if CFG.quick else 15,
                                            min_sample=CFG.min_sample / 2)
            lines.append(f"- {problem}: pysciml {ours['method']} {ours['median_s'] * 1e3:.3g} ms vs {lib} "
                         f"{best['method']} {best['median_s'] * 1e3:.3g} ms: {median:.2f}× faster "
                         f"(quartiles {q1:.2f}–{q3:.2f})")
    return "\n".join(lines) + "\n"


def lv_matched_lines(group):
    """The default sensitivity method against diffrax's fastest adjoint: at the same tolerance, and at the
    loosest tolerance where its gradient error is no larger than the peer's."""
    peers = [r for r in group if r["lib"] == "diffrax"]
    default = [r for r in group if r["lib"] == "pysciml" and r["method"].startswith("default")]
    if not peers or not default:
        return []
    fastest = min(peers, key=lambda r: r["median_s"])
    matched = [r for r in default if r["err"] <= fastest["err"]]
    lines = []
    for label, r in [("same tolerance", default[0])] + ([("equal or smaller error", matched[0])] if matched else []):
        median, q1, q3 = H.paired_ratio(r["call"], fastest["call"], rounds=5 if CFG.quick else 15,
                                        min_sample=CFG.min_sample / 2)
        lines.append(f"- lotka_volterra, {label}: pysciml {r['method']} {r['median_s'] * 1e3:.3g} ms (error "
                     f"{r['err']:.1e}) vs diffrax {fastest['method']} {fastest['median_s'] * 1e3:.3g} ms (error "
                     f"{fastest['err']:.1e}): {median:.2f}× faster (quartiles {q1:.2f}–{q3:.2f}, interleaved)")
    if not matched:
        lines.append(f"- lotka_volterra: the default did not reach diffrax {fastest['method']}'s error "
                     f"{fastest['err']:.1e} at rtol down to {LV_TIGHTER[-1]:g}")
    return lines


def keep_other_rows(problems):
    """(metadata, rows) of the previous results file for the problems not run now, so a partial run
    replaces only its own rows."""
    path = H.RESULTS_DIR / f"{NAME}.jsonl"
    if not path.exists():
        return None, []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = lines[0].get("meta") if lines and "meta" in lines[0] else None
    return meta, [r for r in lines if "problem" in r and r["problem"] not in problems]


def main():
    global CFG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer samples; Lotka–Volterra without torchdiffeq (about 1 min for lotka_volterra)")
    ap.add_argument("--problems", default="lotka_volterra,spiral",
                    help="comma-separated: lotka_volterra, spiral, brusselator (the last takes ~15 min)")
    ap.add_argument("--sizes", default=",".join(map(str, BRUSS.sizes)), help="Brusselator grid sizes N")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    CFG = SimpleNamespace(quick=args.quick, repeats=3 if args.quick else 7, min_sample=0.03 if args.quick else 0.1,
                          sizes=tuple(int(n) for n in args.sizes.split(",")))
    runners = {"lotka_volterra": lotka_volterra_rows, "spiral": spiral_rows, "brusselator": brusselator_rows}
    problems = args.problems.split(",")
    unknown = [name for name in problems if name not in runners]
    if unknown:
        ap.error(f"--problems: unknown {unknown}; choose from {sorted(runners)}")
    info = H.machine_info(PACKAGES)
    rows, sections, main_seconds = [], [], 0.0
    for name in problems:
        start = time.perf_counter()
        new = runners[name]()
        rows += new
        if name != "brusselator":
            main_seconds += time.perf_counter() - start
            for r in new:
                print(f"{r['problem']:15s} {r['lib']:12s} {r['method']:28s} {r['median_s'] * 1e3:9.4g} ms  "
                      f"err {r['err'] if r['err'] is None else format(r['err'], '.2e')}  {H.compile_cell(r)}",
                      file=sys.stderr, flush=True)
        else:
            sections.append((BRUSSELATOR_HEADING, brusselator_report(new, info, time.perf_counter() - start)))
    main_rows = [r for r in rows if r["problem"] != "brusselator"]
    if main_rows:
        sections.insert(0, (HEADING, report(main_rows, info, main_seconds)))
    for r in rows:
        r.pop("call", None)
    for heading, text in sections:
        print(f"## {heading}\n\n{text}")
    earlier_meta, kept = keep_other_rows(problems)
    meta = dict(info, quick=args.quick, problems=problems)
    if kept:
        meta["earlier_run"] = earlier_meta     # the run that produced the kept rows of the other problems
    H.write_jsonl(NAME, meta, kept + rows)
    if args.write:
        for heading, text in sections:
            H.write_section(heading, text)


CFG = None

if __name__ == "__main__":
    main()
