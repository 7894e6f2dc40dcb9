"""NLME: pysciml.nlme on the theophylline data against the published nlmixr2 and NONMEM results, one core.

1. nlmixr2's one-compartment model (exp η on ka, CL, V; additive error) by FOCEI: objective, estimates and
   standard errors side by side with the values nlmixr2 prints (`pysciml.nlme.reference.NLMIXR2_FOCEI`,
   nlmixr2 vignette "Modifying nlmixr2 models by piping"); compile time, time per objective-and-gradient
   evaluation (all 12 subjects: EBE search, implicit derivative) and time per whole fit after compilation
   (BFGS, Newton polish, finite-difference Hessian of the exact gradient for the standard errors, tables).
   nlmixr2's own timings in that vignette: optimize 1.5 s, covariance 4.3 s (its machine).
2. NONMEM's THEOPP control stream: the FO objective at its initial estimates against NONMEM 7.3's listing
   (110.244), then fits by FO, FOCE, FOCEI, Laplace and LaplaceI (no published NONMEM estimates for these
   were found to compare with; the table reports ours).

    python benchmarks/nlme.py            # writes benchmarks/results/nlme.md
    python benchmarks/nlme.py --quick    # part 1 only
"""
import argparse
import time

import _harness as H

CORE = H.setup_env()        # before numpy / jax are imported

import numpy as np  # noqa: E402

jax = H.setup_jax()
from pysciml import nlme  # noqa: E402
from pysciml.nlme import reference  # noqa: E402


def part1(lines):
    pop, model = reference.theophylline(), reference.nlmixr2_one_compartment()
    obj = nlme.Objective(model, pop, nlme.FOCEI())
    u = np.asarray(obj.free())
    t = time.perf_counter()
    obj.evaluate(u, obj.zero_etas)
    compile_s = time.perf_counter() - t
    ev = H.time_call(lambda: obj.evaluate(u, obj.zero_etas), repeats=7)
    fit = nlme.fit(model, pop, nlme.FOCEI())
    tf = H.time_call(lambda: nlme.fit(model, pop, nlme.FOCEI()), repeats=5, min_sample=0.0)
    ref = reference.NLMIXR2_FOCEI
    est, se = dict(zip(fit.names, fit.estimates)), dict(zip(fit.names, fit.se))
    lines += ["## Theophylline, nlmixr2's one-compartment model, FOCEI", "",
              "| | pysciml | nlmixr2 (published) | difference |", "|---|---|---|---|",
              f"| OFV (−2LL without n·log 2π) | {fit.ofv:.4f} | {ref['ofv']:.3f} | {fit.ofv - ref['ofv']:+.4f} |"]
    for n, v in ref["estimates"].items():
        lines.append(f"| {n} | {est[n]:.4f} (SE {se[n]:.4f}) | {v:.4f} (SE {ref['se'][n]:.4f}) | "
                     f"{est[n] / v - 1:+.2%} |")
    cv = 100 * np.sqrt(np.exp(np.diagonal(fit.params["omega"])) - 1)
    for i, n in enumerate(("ka", "cl", "v")):
        lines.append(f"| BSV CV% {n} | {cv[i]:.2f} | {ref['bsv_cv_percent'][i]:.2f} | "
                     f"{cv[i] / ref['bsv_cv_percent'][i] - 1:+.2%} |")
    lines += ["", f"compile (objective + gradient): {compile_s:.1f} s; one objective-and-gradient evaluation: "
              f"{1e3 * ev.median:.2f} ms; whole FOCEI fit after compilation: {tf.median:.3f} s "
              f"(min {tf.min:.3f}; {fit.n_evaluations} evaluations, standard errors and tables included); "
              f"load average {H.load_average():.1f}", ""]


def part2(lines):
    pop, model = reference.theophylline(dose_scale=None), reference.nonmem_theopp()
    fo0 = nlme.Objective(model, pop, nlme.FO())()
    lines += ["## NONMEM THEOPP control stream", "",
              f"FO objective at the initial estimates: {fo0:.4f} (NONMEM 7.3: "
              f"{reference.NONMEM_THEOPP_FO_AT_INITIAL}; difference {fo0 - reference.NONMEM_THEOPP_FO_AT_INITIAL:+.4f})",
              "", "| method | OFV | KA | K | CL/WT | ω² KA | ω² K | ω² CL | σ² | fit s (after compile) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for method in (nlme.FO(), nlme.FOCE(), nlme.FOCEI(), nlme.Laplace(), nlme.LaplaceI()):
        nlme.fit(model, pop, method)
        t = time.perf_counter()
        fit = nlme.fit(model, pop, method)
        dt = time.perf_counter() - t
        p, om = fit.params, np.diagonal(fit.params["omega"])
        lines.append(f"| {method.name} | {fit.ofv:.4f} | {float(p['ka']):.4f} | {float(p['k']):.5f} | "
                     f"{float(p['cl']):.5f} | {om[0]:.4f} | {om[1]:.3g} | {om[2]:.4f} | {float(p['sigma2']):.4f} | "
                     f"{dt:.2f} |")
    lines.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    info = H.machine_info(["pysciml", "jax", "jaxlib", "numpy", "scipy"])
    lines = ["# NLME benchmark (`benchmarks/nlme.py`)", "", H.machine_markdown(info), ""]
    part1(lines)
    if not args.quick:
        part2(lines)
    text = "\n".join(lines)
    print(text)
    H.RESULTS_DIR.mkdir(exist_ok=True)
    (H.RESULTS_DIR / "nlme.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
