"""Population pharmacokinetics of theophylline with `pysciml.nlme`, side by side with nlmixr2 and NONMEM.

Twelve subjects, one oral dose each, eleven concentrations (NONMEM's THEOPP data, R's Theoph). Two reference
models:
  * nlmixr2's one-compartment model (exp η on ka, CL, V; additive error) fitted by FOCEI, compared with the
    values nlmixr2 prints for it (`pysciml.nlme.reference.NLMIXR2_FOCEI`);
  * NONMEM's THEOPP control stream (additive η on KA, K and CL/WT, full Ω, additive error): its FO objective
    at the initial estimates against NONMEM's listing, then fitted by FO, FOCE, FOCEI and Laplace.
The nlmixr2 model is also fitted by SAEM and compared with nlmixr2's published SAEM fit
(`reference.NLMIXR2_SAEM`) and with the FOCEI fit.
Then goodness-of-fit plots (DV vs PRED / IPRED, CWRES vs time) and a visual predictive check from
`nlme.simulate`.

Writes theophylline_gof.png and theophylline_vpc.png.
Run: python examples/theophylline.py [--small] [--out DIR]     (--small: the FOCEI fit and the plots only)
"""
import argparse
import pathlib
import time

import jax
import numpy as np

from pysciml import nlme
from pysciml.nlme import reference


def nlmixr2_comparison():
    pop = reference.theophylline()
    model = reference.nlmixr2_one_compartment()
    t = time.perf_counter()
    fit = nlme.fit(model, pop, nlme.FOCEI())
    first = time.perf_counter() - t
    t = time.perf_counter()
    fit = nlme.fit(model, pop, nlme.FOCEI())
    again = time.perf_counter() - t
    ref = reference.NLMIXR2_FOCEI
    print(f"nlmixr2 one-compartment model, FOCEI  (first fit incl. compilation {first:.1f} s; "
          f"fit after compilation {again:.2f} s)")
    print(f"{'':14}{'pysciml':>12}{'nlmixr2':>12}{'rel. diff':>11}{'SE pysciml':>12}{'SE nlmixr2':>12}")
    print(f"{'OFV':14}{fit.ofv:>12.4f}{ref['ofv']:>12.4f}{fit.ofv - ref['ofv']:>+11.4f}  (difference, not relative)")
    est = dict(zip(fit.names, fit.estimates))
    se = dict(zip(fit.names, fit.se))
    for name, value in ref["estimates"].items():
        print(f"{name:14}{est[name]:>12.4f}{value:>12.4f}{est[name] / value - 1:>+11.2%}{se[name]:>12.4f}"
              f"{ref['se'][name]:>12.4f}")
    cv = 100 * np.sqrt(np.exp(np.diagonal(fit.params["omega"])) - 1)
    for i, name in enumerate(("ka", "cl", "v")):
        print(f"{'BSV CV% ' + name:14}{cv[i]:>12.2f}{ref['bsv_cv_percent'][i]:>12.2f}"
              f"{cv[i] / ref['bsv_cv_percent'][i] - 1:>+11.2%}")
    for i, name in enumerate(("ka", "cl", "v")):
        print(f"{'shrink% ' + name:14}{fit.shrinkage[i]:>12.2f}{ref['shrinkage_percent'][i]:>12.2f}")
    return model, pop, fit


def saem_comparison(focei):
    pop = reference.theophylline()
    model = reference.nlmixr2_one_compartment()
    t = time.perf_counter()
    fit = nlme.fit(model, pop, nlme.SAEM())
    first = time.perf_counter() - t
    ref = reference.NLMIXR2_SAEM
    print(f"\nnlmixr2 one-compartment model, SAEM (200 + 300 iterations, 3 chains; {first:.1f} s incl. compilation); "
          f"FOCEI objective at the SAEM estimates {fit.ofv:.4f} (FOCEI minimum {focei.ofv:.4f})")
    print(f"{'':14}{'pysciml':>12}{'nlmixr2':>12}{'rel. diff':>11}{'FOCEI':>12}{'rel. diff':>11}")
    est, foc = dict(zip(fit.names, fit.estimates)), dict(zip(focei.names, focei.estimates))
    for name, value in ref["estimates"].items():
        print(f"{name:14}{est[name]:>12.4f}{value:>12.4f}{est[name] / value - 1:>+11.2%}{foc[name]:>12.4f}"
              f"{est[name] / foc[name] - 1:>+11.2%}")
    cv = 100 * np.sqrt(np.exp(np.diagonal(fit.params["omega"])) - 1)
    cv_f = 100 * np.sqrt(np.exp(np.diagonal(focei.params["omega"])) - 1)
    for i, name in enumerate(("ka", "cl", "v")):
        print(f"{'BSV CV% ' + name:14}{cv[i]:>12.2f}{ref['bsv_cv_percent'][i]:>12.2f}"
              f"{cv[i] / ref['bsv_cv_percent'][i] - 1:>+11.2%}{cv_f[i]:>12.2f}{cv[i] / cv_f[i] - 1:>+11.2%}")


def nonmem_comparison():
    pop = reference.theophylline(dose_scale=None)
    model = reference.nonmem_theopp()
    fo0 = nlme.Objective(model, pop, nlme.FO())()
    print(f"\nNONMEM THEOPP model: FO objective at the control stream's initial estimates {fo0:.4f} "
          f"(NONMEM 7.3: {reference.NONMEM_THEOPP_FO_AT_INITIAL})")
    print(f"{'method':10}{'OFV':>11}{'KA':>9}{'K':>9}{'CL/WT':>9}{'ω²KA':>9}{'ω²K':>10}{'ω²CL':>9}{'σ²':>9}{'time s':>8}")
    for method in (nlme.FO(), nlme.FOCE(), nlme.FOCEI(), nlme.Laplace()):
        t = time.perf_counter()
        fit = nlme.fit(model, pop, method)
        p = fit.params
        om = np.diagonal(p["omega"])
        print(f"{method.name:10}{fit.ofv:>11.4f}{float(p['ka']):>9.4f}{float(p['k']):>9.5f}{float(p['cl']):>9.5f}"
              f"{om[0]:>9.4f}{om[1]:>10.2e}{om[2]:>9.4f}{float(p['sigma2']):>9.4f}{time.perf_counter() - t:>8.1f}")


def plots(model, pop, fit, out, n_replicates):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tab = fit.tables
    m = tab["mask"] > 0
    fig, ax = plt.subplots(1, 3, figsize=(13, 4))
    for a, key in zip(ax[:2], ("PRED", "IPRED")):
        a.scatter(tab[key][m], tab["DV"][m], s=10)
        hi = max(tab[key][m].max(), tab["DV"][m].max())
        a.plot([0, hi], [0, hi], "k--", lw=1)
        a.set_xlabel(key), a.set_ylabel("DV (mg/L)")
    ax[2].scatter(tab["TIME"][m], tab["CWRES"][m], s=10)
    ax[2].axhline(0, color="k", lw=1)
    ax[2].set_xlabel("time (h)"), ax[2].set_ylabel("CWRES")
    fig.suptitle(f"Theophylline, FOCEI: OFV {fit.ofv:.3f}")
    fig.tight_layout()
    fig.savefig(out / "theophylline_gof.png", dpi=110)

    # VPC: observed 5/50/95% quantiles per time bin against the same quantiles of simulated replicates
    keys = jax.random.split(jax.random.key(0), n_replicates)
    sims = np.stack([np.asarray(nlme.simulate(model, pop, fit.params, k)[0].subjects.dv) for k in keys])
    edges = np.array([0, 0.4, 0.8, 1.5, 2.5, 4.5, 6, 8, 10, 16, 30])
    mid, obs_q, sim_q = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = m & (tab["TIME"] >= lo) & (tab["TIME"] < hi)
        if sel.sum() < 3:
            continue
        mid.append(np.median(tab["TIME"][sel]))
        obs_q.append(np.percentile(tab["DV"][sel], [5, 50, 95]))
        sim_q.append(np.percentile(sims[:, sel], [5, 50, 95], axis=1))   # (3 quantiles, replicates)
    mid, obs_q, sim_q = np.array(mid), np.array(obs_q), np.array(sim_q)
    fig, a = plt.subplots(figsize=(6, 4))
    for j, c in enumerate(("tab:blue", "tab:red", "tab:blue")):
        lo, hi = np.percentile(sim_q[:, j, :], [2.5, 97.5], axis=1)
        a.fill_between(mid, lo, hi, color=c, alpha=0.25)
        a.plot(mid, obs_q[:, j], color=c, marker="o")
    a.scatter(tab["TIME"][m], tab["DV"][m], s=6, color="gray")
    a.set_xlabel("time (h)"), a.set_ylabel("concentration (mg/L)")
    a.set_title(f"VPC ({n_replicates} replicates): observed 5/50/95% vs 95% CI of simulated")
    fig.tight_layout()
    fig.savefig(out / "theophylline_vpc.png", dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="only the FOCEI fit and the plots (for CI)")
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, pop, fit = nlmixr2_comparison()
    if not args.small:
        saem_comparison(fit)
        nonmem_comparison()
    plots(model, pop, fit, out, 50 if args.small else 500)
    print("\n" + fit.summary())


if __name__ == "__main__":
    main()
