"""DeepNLME: a neural network inside a population PK model learns how clearance depends on body weight.

Simulated data (`nlme.simulate`): IV bolus one-compartment kinetics whose clearance depends on weight through a
saturating (Hill) curve, CL(WT) = 0.5 + 4·WT⁴/(80⁴ + WT⁴), with 14 % between-subject variability and 10 %
proportional error (`pysciml.nlme.reference.saturating_clearance_truth`).
  * DeepNLME: CL = exp(tcl + MLP((WT − 80)/40) + η), a small tanh network in ``pre`` whose 16 weights are fixed
    effects (`nlme.NetworkWeights`), fitted by `nlme.JointMAP` (weights and η together: the fast route), then
    refined by FOCE from there (not with --small).
  * The usual log-linear covariate model, CL = exp(tcl + dcl·(WT − 80)/40 + η): the best such curve for the true
    CL(WT) (least squares in relative error over the subjects' weights: a bound no fit of that model can beat),
    and, without --small, its FOCE fit to the data.
The learned typical CL(WT) is compared with the truth over the subjects' weights (relative rms and max error).

Writes deep_nlme.png (the CL(WT) curves with the individual clearances, and their relative errors).
Run: python examples/deep_nlme.py [--small] [--out DIR]     (--small: fewer subjects, JointMAP only)
"""
import argparse
import pathlib
import time

import jax
import numpy as np
import scipy.optimize

from pysciml import nlme
from pysciml.nlme import reference

TIMES = (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0)


def errors(cl, wt):
    """Relative error of a typical CL(WT) (values ``cl`` at the weights ``wt``) against the truth: (rms, max |·|)."""
    e = cl / reference.cl_saturating(wt) - 1
    return float(np.sqrt(np.mean(e ** 2))), float(np.max(np.abs(e)))


def best_log_linear(wt):
    """The log-linear CL(WT) = exp(a + b·(WT − 80)/40) closest to the truth in relative rms error over ``wt``:
    returns CL(WT) as a function."""
    x, cl = (wt - 80.0) / 40.0, reference.cl_saturating(wt)
    ab = scipy.optimize.least_squares(lambda p: np.exp(p[0] + p[1] * x) / cl - 1, [np.log(np.mean(cl)), 0.0]).x
    return lambda w: np.exp(ab[0] + ab[1] * (w - 80.0) / 40.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="30 subjects, JointMAP only (for CI)")
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    n = 30 if args.small else 60
    wt = np.round(np.random.default_rng(1).uniform(40.0, 120.0, n), 1)
    truth = reference.saturating_clearance_truth()
    pop = nlme.simulate(truth, reference.iv_bolus_design(n, TIMES, wt), {}, jax.random.key(0))[0]
    linear, network, _, _ = reference.clearance_models()

    start = time.perf_counter()
    net = nlme.fit(network, pop, nlme.JointMAP())
    how = "JointMAP"
    if not args.small:
        # FOCE from the joint modes (Ω from their spread): the marginal likelihood's estimates
        net = nlme.fit(network, pop, nlme.FOCE(), init=dict(net.params, omega=np.diag([np.var(net.eta)])))
        how = "JointMAP, then FOCE"
    t_net = time.perf_counter() - start
    print(f"{n} subjects, {pop.total_obs} observations; true CL(WT) = 0.5 + 4·WT⁴/(80⁴ + WT⁴)")
    rms_n, worst_n = errors(reference.typical_clearance(network, net.params, wt), wt)
    print(f"network in pre ({how}, {t_net:.1f} s incl. compilation): "
          + (f"OFV {net.ofv:.2f}; " if np.isfinite(net.ofv) else "")
          + f"CL(WT) relative error rms {100 * rms_n:.2f} %, max {100 * worst_n:.2f} %")
    best = best_log_linear(wt)
    rms_b, worst_b = errors(best(wt), wt)
    print(f"best log-linear CL(WT) for the true curve: relative error rms {100 * rms_b:.2f} %, "
          f"max {100 * worst_b:.2f} %")
    lin = None
    if not args.small:
        start = time.perf_counter()
        lin = nlme.fit(linear, pop, nlme.FOCE(), se=False)
        rms_l, worst_l = errors(reference.typical_clearance(linear, lin.params, wt), wt)
        print(f"log-linear covariate model (FOCE, {time.perf_counter() - start:.1f} s incl. compilation): "
              f"OFV {lin.ofv:.2f} (network {net.ofv:.2f}); CL(WT) relative error rms {100 * rms_l:.2f} %, "
              f"max {100 * worst_l:.2f} %")
    print(f"network CL(WT) rms error {rms_n:.4f} best log-linear {rms_b:.4f}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = np.linspace(wt.min(), wt.max(), 200)
    cl_net = reference.typical_clearance(network, net.params, grid)
    cl_true = reference.cl_saturating(grid)
    individual = reference.typical_clearance(network, net.params, wt) * np.exp(net.eta[:, 0])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.plot(grid, cl_true, "k-", lw=2, label="truth")
    a.plot(grid, best(grid), "C0:", label="best log-linear curve")
    if lin is not None:
        a.plot(grid, reference.typical_clearance(linear, lin.params, grid), "C0--", label="log-linear model (FOCE)")
    a.plot(grid, cl_net, "C3-", label=f"network ({how})")
    a.plot(wt, individual, "C3.", alpha=0.5, label="individual CL (network, EBEs)")
    a.set(xlabel="body weight (kg)", ylabel="typical CL (L/h)", title="learned covariate effect")
    a.legend()
    b.plot(grid, 100 * (best(grid) / cl_true - 1), "C0:", label="best log-linear curve")
    b.plot(grid, 100 * (cl_net / cl_true - 1), "C3-", label="network")
    b.axhline(0.0, color="k", lw=0.8)
    b.set(xlabel="body weight (kg)", ylabel="relative error of typical CL (%)", title="error against the truth")
    b.legend()
    fig.tight_layout()
    fig.savefig(out / "deep_nlme.png", dpi=110)


if __name__ == "__main__":
    main()
