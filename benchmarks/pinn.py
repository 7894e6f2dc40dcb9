"""Physics-informed networks: pysciml against DeepXDE (PyTorch backend) in one process, one pinned core.

1. The seed's 2-D Poisson problem, u_xx + u_yy = −sin(πx)sin(πy) on [0, 1]², u = 0 on the boundary: the
   same 2→16→16→1 tanh network (Glorot normal), the same 21×21 grid of points, the same optimizer budget
   (Adam lr 1e-3, then L-BFGS) in float64. Reported: relative L2 error after each budget and the time
   (compilation included) of the first budget that reaches 1e-3.
2. DeepXDE's Lorenz inverse example: σ, ρ, β of x' = σ(y − x), y' = x(ρ − z) − y, z' = xy − βz
   (true 10, 15, 8/3, x(0) = (−8, 7, 27)) from 25 observations on t ∈ [0, 3], starting at 1, 1, 1:
   DeepXDE as in its example (1→40→40→40→3 net, 400 points, Adam 20 000 iterations); pysciml's PINN with
   the same network and points (Adam, then L-BFGS; the initial value as a hard constraint u0 + t·N(t) and
   the observations weighted 100); and pysciml's differentiable ODE solver (Tsit5) with Levenberg–Marquardt
   on the same data: time and largest relative parameter error.

    python benchmarks/pinn.py              # full run (minutes)
    python benchmarks/pinn.py --quick      # tiny budgets: checks that everything runs end to end
    python benchmarks/pinn.py --write      # ... and write the table into RESULTS.md
"""
import argparse
import os
import sys
import time

import _harness as H

CORE = H.setup_env()        # before numpy / jax / torch are imported
os.environ.setdefault("DDE_BACKEND", "pytorch")

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import pysciml as ps  # noqa: E402

torch = H.setup_torch()
try:
    import deepxde as dde
    dde.config.set_default_float("float64")
except ImportError:
    dde = None

NAME = "pinn"
HEADING = "Physics-informed networks (`benchmarks/pinn.py`)"
PACKAGES = ["pysciml", "jax", "jaxlib", "optax", "deepxde", "torch"]
LORENZ_TRUE = np.array([10.0, 15.0, 8.0 / 3.0])
LORENZ_U0 = np.array([-8.0, 7.0, 27.0])


# --- problems -------------------------------------------------------------------------------------------

def poisson_exact(points):
    return np.sin(np.pi * points[:, 0]) * np.sin(np.pi * points[:, 1]) / (2 * np.pi ** 2)


def poisson_grid(dx=0.05):
    axis = np.linspace(0.0, 1.0, int(round(1 / dx)) + 1)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def lorenz_data():
    """25 observations of the Lorenz system on [0, 3] (as DeepXDE's example), solved at rtol 1e-12."""
    f = lambda u, p, t: jnp.array([p[0] * (u[1] - u[0]), u[0] * (p[1] - u[2]) - u[1], u[0] * u[1] - p[2] * u[2]])
    prob = ps.ODEProblem(f, jnp.asarray(LORENZ_U0), (0.0, 3.0), jnp.asarray(LORENZ_TRUE))
    ts = np.linspace(0.0, 3.0, 25)
    sol = ps.solve(prob, ps.Vern9(), rtol=1e-12, atol=1e-12, saveat=jnp.asarray(ts))
    return prob, ts, np.asarray(sol.u)


# --- pysciml --------------------------------------------------------------------------------------------

def pysciml_poisson(adam, lbfgs, dx=0.05):
    x, y = sp.symbols("x y")
    u = sp.Function("u")
    eq = sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), -sp.sin(sp.pi * x) * sp.sin(sp.pi * y))
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)]
    system = ps.pinn.PDESystem([eq], bcs, {x: (0, 1), y: (0, 1)}, [x, y], [u])
    stages = tuple(s for s in (ps.pinn.Adam(1e-3, adam) if adam else None,
                               ps.pinn.LBFGS(lbfgs) if lbfgs else None) if s is not None)
    start = time.perf_counter()
    sol = ps.pinn.train(system, ps.nn.MLP(2, (16, 16), 1), ps.pinn.GridTraining(dx), optimizers=stages,
                        key=jax.random.key(0), progress=False)
    seconds = time.perf_counter() - start
    return seconds, sol.relative_l2(poisson_exact, TEST_POINTS)


def pysciml_lorenz_pinn(ts, data, adam, lbfgs):
    t = sp.Symbol("t")
    X, Y, Z = sp.Function("x"), sp.Function("y"), sp.Function("z")
    sigma, rho, beta = sp.symbols("sigma rho beta")
    eqs = [sp.Eq(X(t).diff(t), sigma * (Y(t) - X(t))), sp.Eq(Y(t).diff(t), X(t) * (rho - Z(t)) - Y(t)),
           sp.Eq(Z(t).diff(t), X(t) * Y(t) - beta * Z(t))]
    system = ps.pinn.PDESystem(eqs, [], {t: (0, 3)}, [t], [X, Y, Z], parameters={sigma: 1.0, rho: 1.0, beta: 1.0},
                               observations=ps.pinn.Observations(ts[:, None], data))
    u0 = jnp.asarray(LORENZ_U0)
    start = time.perf_counter()
    sol = ps.pinn.train(system, ps.nn.MLP(1, (40, 40, 40), 3), ps.pinn.GridTraining(3 / 399),
                        optimizers=(ps.pinn.Adam(1e-3, adam), ps.pinn.LBFGS(lbfgs)), weights=[1, 1, 1, 100],
                        output_transform=lambda z, out: u0 + 10 * z[0] * out, key=jax.random.key(0), progress=False)
    seconds = time.perf_counter() - start
    found = np.array([sol.parameters[n] for n in ("sigma", "rho", "beta")])
    return seconds, found


def pysciml_lorenz_ode(prob, ts, data, iterations=50):
    """Levenberg–Marquardt on the trajectory misfit, Jacobian by forward-mode AD through the solver."""
    saveat = jnp.asarray(ts)
    target = jnp.asarray(data)
    residual = lambda p: (ps.solve(prob.remake(p=p), ps.Tsit5(), rtol=1e-10, atol=1e-10, saveat=saveat,
                                   max_steps=20_000).u - target).ravel()
    step = jax.jit(lambda p: (residual(p), jax.jacfwd(residual)(p)))
    cost = jax.jit(lambda p: jnp.sum(residual(p) ** 2))
    p = jnp.ones(3)
    compile_start = time.perf_counter()
    step(p), cost(p)
    compile_s = time.perf_counter() - compile_start
    start = time.perf_counter()
    damping, value = 1e-3, float(cost(p))
    for _ in range(iterations):
        r, jac = step(p)
        normal = jac.T @ jac
        trial = p - jnp.linalg.solve(normal + damping * jnp.diag(jnp.diag(normal)), jac.T @ r)
        trial_value = float(cost(trial))
        if np.isfinite(trial_value) and trial_value < value:
            converged = abs(value - trial_value) <= 1e-14 * max(value, 1e-300) or trial_value < 1e-24
            p, value, damping = trial, trial_value, damping / 3
            if converged:
                break
        else:
            damping *= 4
    return time.perf_counter() - start, compile_s, np.asarray(p)


# --- DeepXDE --------------------------------------------------------------------------------------------

def deepxde_poisson(adam, lbfgs, dx=0.05):
    geom = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])

    def pde(x, y):
        lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
        return lap + torch.sin(np.pi * x[:, 0:1]) * torch.sin(np.pi * x[:, 1:2])

    bc = dde.icbc.DirichletBC(geom, lambda x: 0.0, lambda x, on_boundary: on_boundary)
    data = dde.data.PDE(geom, pde, bc, num_domain=0, num_boundary=0, anchors=poisson_grid(dx))
    torch.manual_seed(0)
    model = dde.Model(data, dde.nn.FNN([2, 16, 16, 1], "tanh", "Glorot normal"))
    start = time.perf_counter()
    if adam:
        model.compile("adam", lr=1e-3)
        model.train(iterations=adam, display_every=10 ** 9, verbose=0)
    if lbfgs:
        dde.optimizers.set_LBFGS_options(maxiter=lbfgs)
        model.compile("L-BFGS")
        model.train(display_every=10 ** 9, verbose=0)
    seconds = time.perf_counter() - start
    u = model.predict(TEST_POINTS).ravel()
    ref = poisson_exact(TEST_POINTS)
    return seconds, float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


def deepxde_lorenz(ts, data, iterations):
    c1, c2, c3 = (dde.Variable(1.0) for _ in range(3))

    def lorenz(x, y):
        y1, y2, y3 = y[:, 0:1], y[:, 1:2], y[:, 2:]
        return [dde.grad.jacobian(y, x, i=0) - c1 * (y2 - y1),
                dde.grad.jacobian(y, x, i=1) - y1 * (c2 - y3) + y2,
                dde.grad.jacobian(y, x, i=2) - y1 * y2 + c3 * y3]

    geom = dde.geometry.TimeDomain(0, 3)
    initial = lambda _, on_initial: on_initial
    constant = lambda value: (lambda X: np.full((len(X), 1), value))
    ics = [dde.icbc.IC(geom, constant(v), initial, component=k) for k, v in enumerate(LORENZ_U0)]
    observed = [dde.icbc.PointSetBC(ts[:, None], data[:, k:k + 1], component=k) for k in range(3)]
    pde_data = dde.data.PDE(geom, lorenz, ics + observed, num_domain=400, num_boundary=2, anchors=ts[:, None])
    torch.manual_seed(0)
    model = dde.Model(pde_data, dde.nn.FNN([1, 40, 40, 40, 3], "tanh", "Glorot uniform"))
    model.compile("adam", lr=1e-3, external_trainable_variables=[c1, c2, c3])
    start = time.perf_counter()
    model.train(iterations=iterations, display_every=10 ** 9, verbose=0)
    seconds = time.perf_counter() - start
    return seconds, np.array([float(c.detach()) for c in (c1, c2, c3)])


# --- driver ---------------------------------------------------------------------------------------------

TEST_POINTS = np.random.default_rng(1).random((4000, 2))


def poisson_rows(cfg):
    rows = []
    for lib, run in (("pysciml", pysciml_poisson), ("deepxde", deepxde_poisson)):
        if lib == "deepxde" and dde is None:
            continue
        for lbfgs in cfg.lbfgs_budgets:
            seconds, err = run(cfg.poisson_adam, lbfgs)
            rows.append(dict(problem="poisson", lib=lib, adam=cfg.poisson_adam, lbfgs=lbfgs, seconds=seconds, err=err))
            print(f"poisson {lib:8s} Adam {cfg.poisson_adam} + L-BFGS {lbfgs}: {seconds:.2f} s, rel L2 {err:.3g}",
                  file=sys.stderr, flush=True)
    return rows


def lorenz_rows(cfg):
    prob, ts, data = lorenz_data()
    rows = []
    seconds, compile_s, found = pysciml_lorenz_ode(prob, ts, data)
    rows.append(dict(problem="lorenz", lib="pysciml ODE solve + LM", seconds=seconds, compile_s=compile_s,
                     params=found.tolist(), err=float(np.max(np.abs(found / LORENZ_TRUE - 1)))))
    seconds, found = pysciml_lorenz_pinn(ts, data, *cfg.lorenz_pinn)
    rows.append(dict(problem="lorenz", lib=f"pysciml PINN (Adam {cfg.lorenz_pinn[0]} + L-BFGS {cfg.lorenz_pinn[1]})",
                     seconds=seconds, compile_s=None, params=found.tolist(),
                     err=float(np.max(np.abs(found / LORENZ_TRUE - 1)))))
    if dde is not None:
        seconds, found = deepxde_lorenz(ts, data, cfg.deepxde_lorenz)
        rows.append(dict(problem="lorenz", lib=f"DeepXDE example (Adam {cfg.deepxde_lorenz})", seconds=seconds,
                         compile_s=None, params=found.tolist(), err=float(np.max(np.abs(found / LORENZ_TRUE - 1)))))
    for row in rows:
        print(f"lorenz {row['lib']}: {row['seconds']:.2f} s, params {np.round(row['params'], 6)}, "
              f"max rel err {row['err']:.3g}", file=sys.stderr, flush=True)
    return rows


def report(poisson, lorenz, info):
    lines = [H.machine_markdown(info), "\n**2-D Poisson** (2→16→16→1 tanh, 21×21 grid, float64; time includes "
             "pysciml's compilation):\n"]
    table = [[r["lib"], f"{r['adam']} + {r['lbfgs']}", H.fmt(r["seconds"]), H.fmt(r["err"])] for r in poisson]
    lines.append(H.markdown_table(["library", "Adam + L-BFGS steps", "time (s)", "relative L2 error"], table))
    for lib in ("pysciml", "deepxde"):
        reached = [r for r in poisson if r["lib"] == lib and r["err"] <= 1e-3]
        lines.append(f"- {lib}: time to relative L2 ≤ 1e-3: "
                     f"{H.fmt(reached[0]['seconds']) + ' s' if reached else 'not reached in these budgets'}\n")
    lines.append("\n**Lorenz inverse problem** (σ, ρ, β from 25 observations on [0, 3], start 1, 1, 1):\n")
    table = [[r["lib"], H.fmt(r["seconds"]), H.fmt(r["compile_s"]), ", ".join(f"{p:.6g}" for p in r["params"]),
              H.fmt(r["err"])] for r in lorenz]
    lines.append(H.markdown_table(["method", "time (s)", "compile (s)", "σ, ρ, β", "max relative error"], table))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets: an end-to-end check, not a measurement")
    ap.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    args = ap.parse_args()
    if args.quick:
        cfg = argparse.Namespace(poisson_adam=20, lbfgs_budgets=(10, 20), lorenz_pinn=(20, 20), deepxde_lorenz=50)
    else:
        cfg = argparse.Namespace(poisson_adam=500, lbfgs_budgets=(250, 500, 1000, 2000, 4000, 8000),
                                 lorenz_pinn=(1000, 10_000), deepxde_lorenz=20_000)
    info = H.machine_info(PACKAGES)
    print(f"# pinned to core {CORE}; load {info['load_average']}", file=sys.stderr)
    poisson, lorenz = poisson_rows(cfg), lorenz_rows(cfg)
    text = report(poisson, lorenz, info)
    print(text)
    if not args.quick:
        H.write_jsonl(NAME, info, poisson + lorenz)
    if args.write:
        H.write_section(HEADING, text)


if __name__ == "__main__":
    main()
