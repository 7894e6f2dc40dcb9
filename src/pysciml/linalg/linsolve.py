"""`linsolve=` values of implicit methods: a `LinearSolver` instance or one of the names below."""
from .krylov import KrylovGMRES
from .linear_solver import DenseLU, LinearSolver
from .sparse_w import SparseGMRES

LINSOLVE_NAMES = {"lu": DenseLU, "dense": DenseLU, "sparse": SparseGMRES, "krylov": KrylovGMRES,
                  "gmres": KrylovGMRES}


def as_linear_solver(linsolve) -> LinearSolver:
    """None → `DenseLU()`; a name ('lu'/'dense', 'sparse', 'krylov'/'gmres') → that strategy with its
    defaults; a `LinearSolver` instance as is."""
    if linsolve is None:
        return DenseLU()
    if isinstance(linsolve, LinearSolver):
        return linsolve
    if isinstance(linsolve, type) and issubclass(linsolve, LinearSolver):
        return linsolve()
    if isinstance(linsolve, str):
        kind = LINSOLVE_NAMES.get(linsolve.lower())
        if kind is None:
            raise ValueError(f"linsolve: unknown linear solver {linsolve!r}; use one of "
                             f"{sorted(LINSOLVE_NAMES)} or an instance such as KrylovGMRES(tol=1e-6)")
        return kind()
    raise TypeError(f"linsolve: expected a name such as 'sparse' or a linear solver such as DenseLU(), "
                    f"SparseGMRES(), KrylovGMRES(); got {linsolve!r}")
