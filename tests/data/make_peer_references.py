"""Regenerate the stored peer references the suite checks against when the peers are not installed.

    .venv/bin/python -m pip install jitcdde pysindy     # the bench extra has both
    PYTHONPATH=src .venv/bin/python tests/data/make_peer_references.py

- ``mackey_glass_jitcdde.npz``: Mackey–Glass (β, γ, n, τ = 0.2, 0.1, 10, 17; history 0.5) from jitcdde
  (Ansmann 2018; its own Bogacki–Shampine integrator with Hermite history) at rtol 1e-11, atol 1e-13.
- ``sindy_pysindy.npz``: the noisy Lorenz samples and derivative estimates used in test_sindy, and PySINDy's
  STLSQ/SR3 coefficients on exactly those inputs (so the stored inputs, not our solver, define the case).
"""
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def mackey_glass():
    import jitcdde
    from jitcdde import t, y
    from test_dde import MG_P, MG_TIMES
    beta, gamma, n, tau = (float(x) for x in MG_P)
    dde = jitcdde.jitcdde([beta * y(0, t - tau) / (1 + y(0, t - tau) ** n) - gamma * y(0)], verbose=False)
    dde.compile_C(verbose=False)
    dde.constant_past([0.5])
    dde.set_integration_parameters(rtol=1e-11, atol=1e-13, first_step=0.01, max_step=1.0)
    dde.step_on_discontinuities()
    times = MG_TIMES[MG_TIMES > 17.0]
    values = np.array([dde.integrate(time)[0] for time in times])
    np.savez(os.path.join(HERE, "mackey_glass_jitcdde.npz"), times=times, values=values,
             jitcdde_version=jitcdde.__version__ if hasattr(jitcdde, "__version__") else "unknown")


def sindy_cases():
    import pysindy
    from test_sindy import SINDY_PEER_CASES, peer_inputs
    t, x_noisy, dX = peer_inputs()
    coefficients = []
    for theirs, _ in SINDY_PEER_CASES(pysindy):
        peer = pysindy.SINDy(feature_library=pysindy.PolynomialLibrary(degree=2, include_bias=True), optimizer=theirs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer.fit(np.asarray(x_noisy), t=np.asarray(t), x_dot=dX)
        coefficients.append(peer.coefficients())
    np.savez(os.path.join(HERE, "sindy_pysindy.npz"), t=np.asarray(t), x_noisy=np.asarray(x_noisy), x_dot=dX,
             coefficients=np.stack(coefficients), pysindy_version=pysindy.__version__)


if __name__ == "__main__":
    mackey_glass()
    sindy_cases()
