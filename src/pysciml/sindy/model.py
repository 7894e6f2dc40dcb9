"""`SINDy`: a library, a sparse regression and a derivative estimate put together; `fit` returns a new,
fitted model whose equations print readably and export as sympy expressions or as a JAX right-hand side
f(u, p, t) for `ODEProblem`.

    model = SINDy(PolynomialLibrary(2), optimizer=STLSQ(threshold=0.1), names=("x", "y")).fit(X, t=t)
    print(model)              # x' = 1.300 x - 0.900 x*y ...
"""
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from ..problems import ODEProblem
from ..solve import solve
from ._checks import check_data, check_names, check_x_dot
from .derivatives import FiniteDifference
from .libraries import Library, PolynomialLibrary
from .optimizers import SR3, STLSQ, prepare


@functools.partial(jax.jit, static_argnums=0)
def fit_coefficients(library, optimizer, X, x_dot):
    """Ξ (n_states, n_terms) from data: Θ(X), then the optimizer's regression. Compiled once per library,
    optimizer options and data shape; the optimizer's numbers (threshold, alpha, nu) are traced."""
    return optimizer.regress(prepare(library(X), x_dot))


def check_library(library, names):
    """The term names of ``library`` for these variable names; duplicate terms are an error (they make
    the regression singular)."""
    if not isinstance(library, Library):
        raise TypeError(f"library must be a pysciml.sindy library (PolynomialLibrary, ...); got "
                        f"{type(library).__name__}")
    terms = library.names(names)
    repeated = sorted({n for n in terms if terms.count(n) > 1})
    if repeated:
        raise ValueError(f"library: the terms {repeated} appear more than once (e.g. a bias in both factors of "
                         "a product); remove the duplicates, they make the regression singular")
    return terms


def check_optimizer(optimizer):
    if not isinstance(optimizer, (STLSQ, SR3)):
        raise TypeError(f"optimizer must be STLSQ(...) or SR3(...); got {type(optimizer).__name__}")
    return optimizer


def format_equation(lhs, coefficients, terms, precision):
    """"x' = 1.300 x - 0.900 x*y": terms whose coefficient rounds to zero at ``precision`` are left out."""
    parts = []
    for c, name in zip(np.asarray(coefficients, dtype=float), terms):
        if round(abs(c), precision) == 0:
            continue
        number = f"{abs(c):.{precision}f}"
        body = number if name == "1" else f"{number} {name}"
        parts.append(("-" if c < 0 else "") + body if not parts else (" - " if c < 0 else " + ") + body)
    return f"{lhs}' = " + ("".join(parts) if parts else "0")


@dataclasses.dataclass(frozen=True, eq=False)
class SINDy:
    """Sparse identification of nonlinear dynamics (Brunton, Proctor & Kutz, PNAS 113, 3932, 2016).

    library: the candidate terms Θ (default polynomials to degree 2). optimizer: `STLSQ` (default) or
    `SR3`. names: one name per state (default x0, x1, ...). derivative: how `fit` estimates Ẋ when given
    t (default `FiniteDifference()`). coefficients: Ξ (n_states, n_terms), set by `fit`.
    """
    library: Library = PolynomialLibrary(degree=2)
    optimizer: Any = STLSQ()
    names: tuple | None = None
    derivative: Any = FiniteDifference()
    coefficients: Any = None

    def __post_init__(self):
        if not isinstance(self.library, Library):
            raise TypeError(f"library must be a pysciml.sindy library (PolynomialLibrary, ...); got "
                            f"{type(self.library).__name__}")
        check_optimizer(self.optimizer)
        if not callable(self.derivative):
            raise TypeError(f"derivative must be callable as derivative(X, t); got {type(self.derivative).__name__}")
        if self.names is not None:
            object.__setattr__(self, "names", check_names(self.names, len(tuple(self.names))))

    def fit(self, X, t=None, x_dot=None) -> "SINDy":
        """Returns a fitted copy of the model. X: samples (N, n). Give x_dot (N, n) directly, or t (times (N,)
        or a spacing dt) for the model's ``derivative`` to estimate it.
        """
        X = check_data(X)
        names = check_names(self.names, X.shape[1])
        check_library(self.library, names)
        if x_dot is None:
            x_dot = self.derivative(X, t)
        x_dot = check_x_dot(x_dot, X)
        coefficients = fit_coefficients(self.library, self.optimizer, X, x_dot)
        if not np.all(np.isfinite(np.asarray(coefficients))):
            raise ValueError("fit: the regression produced non-finite coefficients; the library's columns are "
                             "linearly dependent on these data (e.g. too few samples, or terms that coincide)")
        return dataclasses.replace(self, names=names, coefficients=coefficients)

    # --- fitted model -----------------------------------------------------------------------------------

    def _fitted(self):
        if self.coefficients is None:
            raise ValueError("this SINDy model is not fitted yet: call model = model.fit(X, t=...) first")
        return self.coefficients

    @property
    def terms(self) -> tuple[str, ...]:
        """The library's term names for this model's variables."""
        self._fitted()
        return self.library.names(self.names)

    def predict(self, X):
        """Returns Θ(X) Ξᵀ: the model's derivatives at the samples X (N, n), shape (N, n)."""
        coefficients = self._fitted()
        return self.library(check_data(X)) @ coefficients.T

    def equations(self, precision: int = 3) -> list[str]:
        """Returns one readable equation per state (a list of strings), e.g. "x' = 1.300 x - 0.900 x*y", with
        coefficients printed to ``precision`` decimals (terms that round to zero are left out).
        """
        coefficients, terms = self._fitted(), self.terms
        return [format_equation(name, row, terms, precision) for name, row in zip(self.names, coefficients)]

    def __str__(self):
        if self.coefficients is None:
            return f"SINDy(unfitted; library={self.library!r}, optimizer={self.optimizer!r})"
        return "\n".join(self.equations())

    def to_sympy(self) -> list:
        """Returns the right-hand sides as a list of sympy expressions in the symbols named by ``names``."""
        coefficients = np.asarray(self._fitted(), dtype=float)
        symbols = [sympy.Symbol(n) for n in self.names]
        basis = self.library.symbolic(symbols)
        return [sympy.Add(*(sympy.Float(c) * b for c, b in zip(row, basis) if c != 0)) for row in coefficients]

    def to_function(self):
        """Returns f(u, p, t) = Ξ Θ(u), pure JAX, for `ODEProblem`. p = None uses the fitted Ξ; an array
        (n_states, n_terms) replaces it (e.g. to refine the coefficients by gradient).
        """
        fitted, library = self._fitted(), self.library

        def f(u, p, t):
            return (fitted if p is None else p) @ library.features(jnp.asarray(u))

        return f

    def simulate(self, u0, t, alg=None, rtol=1e-8, atol=1e-10, **solve_options):
        """Integrate the discovered model from u0 and return its states at the times t: (len(t), n).
        Uses `pysciml.solve` with method ``alg`` (default Tsit5) and tolerances ``rtol``, ``atol``; other options
        pass through to it.
        """
        from ..solvers import Tsit5

        coefficients = self._fitted()
        t = jnp.asarray(t)
        u0 = jnp.asarray(u0)
        if t.ndim != 1 or t.shape[0] < 2:
            raise ValueError(f"t must be a 1-D array of at least two times; got shape {t.shape}")
        if u0.shape != (coefficients.shape[0],):
            raise ValueError(f"u0 must have shape ({coefficients.shape[0]},); got {u0.shape}")
        prob = ODEProblem(self.to_function(), u0, (t[0], t[-1]), coefficients)
        sol = solve(prob, Tsit5() if alg is None else alg, rtol=rtol, atol=atol, saveat=t, **solve_options)
        return sol.u
