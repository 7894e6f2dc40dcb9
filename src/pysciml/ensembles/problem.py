"""`EnsembleProblem`: a base problem plus how to vary it, what to keep, and how to reduce."""
from dataclasses import dataclass
from typing import Any, Callable


def _same_problem(prob, i, repeat):
    return prob


def _keep_solution(sol, i):
    return sol


@dataclass(frozen=True, eq=False)
class EnsembleProblem:
    """Trajectories i = 0..N−1 of ``prob``.

    prob_func(prob, i, repeat) -> problem of trajectory i (e.g. ``prob.remake(u0=...)``); under
    `EnsembleVmap` ``i`` is a traced integer, so index arrays with it rather than Python lists.
    output_func(sol, i) -> what to keep of each solution (default: the solution itself).
    reduction(acc, batch, indices) -> (acc, converged): folds each batch of outputs into ``acc``, starting
    from ``u_init``; a batch that returns converged=True stops the ensemble early. Without a reduction the
    outputs are stacked along a leading trajectory axis.
    """
    prob: Any
    prob_func: Callable = _same_problem
    output_func: Callable = _keep_solution
    reduction: Callable | None = None
    u_init: Any = None

    def __post_init__(self):
        for name in ("prob_func", "output_func"):
            if not callable(getattr(self, name)):
                raise TypeError(f"EnsembleProblem: {name} must be callable")
        if self.reduction is not None and not callable(self.reduction):
            raise TypeError("EnsembleProblem: reduction must be callable as reduction(acc, batch, indices)")
