"""Layer 7: sparse identification of nonlinear dynamics (SINDy): equation discovery from trajectories.

    lib = sindy.PolynomialLibrary(degree=2) + sindy.FourierLibrary(n_frequencies=1)
    model = sindy.SINDy(lib, optimizer=sindy.STLSQ(threshold=0.1), names=("x", "y")).fit(X, t=t)
    print(model)                                   # x' = 1.300 x - 0.900 x*y ...
    f = model.to_function()                        # f(u, p, t) for ps.ODEProblem
    sweep = sindy.lambda_sweep(X, x_dot, lib, thresholds=jnp.logspace(-3, 0, 20), criterion="aic")
    better = sindy.refit(model, t, X).model         # active coefficients refitted through the ODE solve

Candidate libraries (`+` concatenates, `*` multiplies), derivative estimates (finite differences,
smoothed differences, exact derivatives of a known or learned f), sparse regression (`STLSQ`, `SR3`) in
pure, compiled JAX, a λ sweep chosen by AIC/BIC, a refit of the chosen terms' coefficients on the
trajectory (`refit`), and output as text, sympy and JAX.
"""
from .derivatives import FiniteDifference, SmoothedFiniteDifference, derivatives_from
from .libraries import (ConcatLibrary, CustomLibrary, FourierLibrary, Library, PolynomialLibrary,
                        TensorLibrary)
from .model import SINDy
from .optimizers import SR3, STLSQ
from .refit import Refit, forward, refit
from .sweep import LambdaSweep, SweepRow, extended_bic, information_criteria, lambda_sweep

__all__ = ["ConcatLibrary", "CustomLibrary", "FiniteDifference", "FourierLibrary", "LambdaSweep", "Library",
           "PolynomialLibrary", "Refit", "SINDy", "SR3", "STLSQ", "SmoothedFiniteDifference", "SweepRow",
           "TensorLibrary", "derivatives_from", "extended_bic", "information_criteria", "lambda_sweep", "forward",
           "refit"]
