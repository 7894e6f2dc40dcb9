"""The `linsolve=` option shared by implicit methods: which `LinearSolver` handles W = M/(γh) − J."""
import copy

from ..linalg import DenseLU, as_linear_solver


class WithLinearSolver:
    """Mixin for implicit method families: ``Method(linsolve=...)`` picks the linear solver (default
    `DenseLU()`; 'sparse' → `SparseGMRES()`, 'krylov' → `KrylovGMRES()`, or an instance). The choice
    is part of the method's configuration, so equal choices share compiled loops."""

    linsolve = DenseLU()

    def __init__(self, linsolve=None):
        self.linsolve = as_linear_solver(linsolve)

    def _config(self) -> tuple:
        own = () if self.linsolve == DenseLU() else (("linsolve", self.linsolve),)
        return own + super()._config()     # (the family's options, e.g. NewtonImplicit's refresh_on_failure)

    def with_linear_solver(self, linsolve):
        """Returns a copy of this method that uses the linear solver ``linsolve`` (a `LinearSolver` or anything
        `as_linear_solver` accepts); `solve` uses it to switch refinement on. The original is unchanged."""
        method = copy.copy(self)
        method.linsolve = as_linear_solver(linsolve)
        return method
