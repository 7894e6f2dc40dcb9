"""DeepNLME check kept out of the test suite for its compile time (~100 s): a UDE term (a network's weights as
a fixed effect, passed to the ODE right-hand side) fitted by FOCEI. Prints the gradient in the weights against
central differences of the objective, and a FOCEI fit from a perturbed start.

    python benchmarks/nlme_deep_ude.py
"""
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_nlme_deep import TIMES, UDE, design  # noqa: E402  (the model and design the tests use)

from pysciml import nlme  # noqa: E402


def main():
    pop = nlme.simulate(UDE, design(4, TIMES[:-1]), {}, jax.random.key(1))[0]
    obj = nlme.Objective(UDE, pop, nlme.FOCEI())
    space = UDE.space
    u = np.asarray(obj.free())
    t0 = time.perf_counter()
    value, grad = obj.evaluate(u, obj.zero_etas)[:2]
    print(f"first objective + gradient (compile included): {time.perf_counter() - t0:.1f} s; load {os.getloadavg()[0]:.1f}")
    worst = 0.0
    # the gradient in the weights (forward tangents through the solver and the implicit EBE derivative) against
    # central differences of the objective
    for j in np.arange(space.size)[space.slices["w"]][::5]:
        e = np.zeros(u.size); e[j] = 1e-5
        fd = (obj.evaluate(u + e, obj.zero_etas)[0] - obj.evaluate(u - e, obj.zero_etas)[0]) / 2e-5
        print(f"weight {j}: gradient {grad[j]:+.9e}  central difference {fd:+.9e}  rel. diff {abs(fd - grad[j]) / max(abs(fd), 1e-12):.1e}")
        worst = max(worst, abs(fd - grad[j]) / max(abs(fd), 1e-6))
    print(f"largest relative difference {worst:.1e} (expected < 1e-5)")
    t0 = time.perf_counter()
    res = nlme.fit(UDE, pop, nlme.FOCEI(), init={"cl": 0.8, "v": 12.0}, se=False)
    print(f"FOCEI fit: converged {res.converged}, objective {res.objective:.6f} (at the simulating values "
          f"{value:.6f}), {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

