"""Layer 7: universal differential equations — known physics plus networks, trained through the solver.

    model = ude.UDE(known, ps.nn.MLP(2, (5, 5, 5), 2, activation="rbf"))
    loss = ude.TrajectoryLoss(model, ts, data)              # or MultipleShooting, Collocation
    result = ude.fit(loss, model.init, optimizers=(ude.Adam(0.05, 300), ude.LBFGS(1000)), seed=0)
    result.params, result.history

`fit` minimizes any loss of a parameter pytree, so it also estimates the parameters of ordinary models; for
a few physical parameters, `LevenbergMarquardt` on the least-squares losses converges in a few iterations:

    ude.fit(ude.TrajectoryLoss(f, ts, data), p0, (ude.LevenbergMarquardt(50),))
"""
from ..optim import LBFGS, Adam, LevenbergMarquardt
from .fit import EarlyStopping, FitInfo, FitResult, fit
from .losses import Collocation, LeastSquares, MultipleShooting, TrajectoryLoss
from .model import UDE
from .smoothing import smoothed_derivatives

__all__ = ["Adam", "Collocation", "EarlyStopping", "FitInfo", "FitResult", "LBFGS", "LeastSquares",
           "LevenbergMarquardt", "MultipleShooting", "TrajectoryLoss", "UDE", "fit", "smoothed_derivatives"]
