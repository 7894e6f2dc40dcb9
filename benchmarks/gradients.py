"""Gradients through ODE solves: pysciml's sensitivity methods against diffrax and torchdiffeq.

1. Lotka–Volterra: the gradient with respect to the 4 parameters of loss = Σ u(t_i)² over 100 save points
   on [0, 10], rtol 1e-6 / atol 1e-8, Tsit5 (torchdiffeq: dopri5). Error = max relative error against
   pysciml's ForwardDiffSensitivity at rtol = atol = 1e-12.
2. The spiral neural ODE of torchdiffeq's `ode_demo`: MLP 2→50→2 (tanh) applied to y³, batch_time 10,
   batch_size 20, one training step = loss (mean |pred − true|) and its gradient, rtol 1e-7 / atol 1e-9
   (the demo's defaults), same initial weights and batch in every library.

One pinned core, float64; JAX functions are jitted as functions of the parameters (trace and compile
timed separately, not in the run times); medians over repeats.

    python benchmarks/gradients.py [--quick] [--write]
"""
import argparse
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

    def loss(p):
        sol = ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=ts, rtol=rtol, atol=atol,
                       sensealg=getattr(ps, method)())
        return jnp.sum(sol.u ** 2)
    return loss


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


def lotka_volterra_rows():
    p = jnp.asarray(LV.p)
    reference = np.asarray(jax.grad(lv_pysciml_loss("ForwardDiffSensitivity", 1e-12, 1e-12))(p))
    rows = [jax_grad_row("lotka_volterra", "pysciml", m, lv_pysciml_loss(m), p, reference) for m in PYSCIML_METHODS]
    if diffrax is not None:
        rows += [jax_grad_row("lotka_volterra", "diffrax", a, lv_diffrax_loss(a), p, reference)
                 for a in DIFFRAX_ADJOINTS]
    if torch_odeint is not None:
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

    flat_ref = None
    rows = []
    for method in ("DiscreteAdjoint", "BacksolveAdjoint", "InterpolatingAdjoint", "GaussAdjoint", "ForwardDiffSensitivity"):
        loss = pysciml_loss(method)
        grad = jax.jit(jax.grad(loss))
        trace, compile_, compiled = H.jax_compile_times(grad, w)
        call = lambda compiled=compiled: jax.block_until_ready(compiled(w))  # noqa: E731
        timing = H.time_call(call, CFG.repeats, CFG.min_sample)
        flat = np.concatenate([np.ravel(timing.result[k]) for k in sorted(w)])
        flat_ref = flat if flat_ref is None else flat_ref
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


# --- report ------------------------------------------------------------------------------------------------

def report(rows, info, seconds):
    lines = [H.machine_markdown(info), "",
             f"Whole script: {seconds / 60:.1f} min. Gradient error: max relative difference from the reference "
             "(Lotka–Volterra: pysciml ForwardDiffSensitivity at rtol 1e-12; spiral: pysciml BacksolveAdjoint at "
             "the same tolerance). Ratio = time of the peer's best / pysciml's best, head to head "
             "(interleaved samples).", ""]
    table = []
    for r in rows:
        table.append([r["problem"], r["lib"], r["method"], H.time_cell(r), f"{r['cpu_s'] * 1e3:.3g}",
                      "–" if r["err"] is None else f"{r['err']:.1e}", H.compile_cell(r)])
    lines.append(H.markdown_table(["problem", "lib", "method", "time/gradient ms: median [min–max]", "CPU ms",
                                   "gradient error", "JAX trace + compile s"], table))
    for problem in dict.fromkeys(r["problem"] for r in rows):
        group = [r for r in rows if r["problem"] == problem]
        ours = min((r for r in group if r["lib"] == "pysciml"), key=lambda r: r["median_s"])
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


def main():
    global CFG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--problems", default="lotka_volterra,spiral")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    CFG = SimpleNamespace(quick=args.quick, repeats=3 if args.quick else 7, min_sample=0.03 if args.quick else 0.1)
    info = H.machine_info(PACKAGES)
    start, rows = time.perf_counter(), []
    runners = {"lotka_volterra": lotka_volterra_rows, "spiral": spiral_rows}
    for name in args.problems.split(","):
        for r in runners[name]():
            rows.append(r)
            print(f"{r['problem']:15s} {r['lib']:12s} {r['method']:28s} {r['median_s'] * 1e3:9.4g} ms  "
                  f"err {r['err'] if r['err'] is None else format(r['err'], '.2e')}  {H.compile_cell(r)}",
                  file=sys.stderr, flush=True)
    text = report(rows, info, time.perf_counter() - start)
    for r in rows:
        r.pop("call", None)
    print(text)
    H.write_jsonl(NAME, dict(info, quick=args.quick), rows)
    if args.write:
        H.write_section(HEADING, text)


CFG = None

if __name__ == "__main__":
    main()
