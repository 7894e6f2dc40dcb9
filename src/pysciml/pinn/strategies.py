"""Training strategies: where the residuals are evaluated.

Each strategy turns the box of a term (the whole domain for an equation, a face for a boundary
condition) into points and quadrature weights. Losses are weighted means Σ wᵢ rᵢ² / Σ wᵢ, so a
zero weight marks an unused slot: point sets keep static shapes even when refinement adds points.
"""
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


def _empty_box(lo):
    return len(lo) == 0


def _point_condition():
    """A condition that fixes every variable (an initial value of an ODE) is one point."""
    return np.zeros((1, 0)), np.ones(1)


@dataclass(frozen=True)
class GridTraining:
    """A uniform grid with spacing ``dx`` (a number, or one per variable in domain order), ends included."""

    dx: object

    def points(self, lo, hi, kind, key, free):
        """Returns (points (N, d), weights (N,)) for one term over the box [``lo``, ``hi``] of its ``free`` variables
        (``kind``: "pde" for an equation, else a condition; ``key``: a PRNG key): the uniform grid, weights 1.
        """
        if _empty_box(lo):
            return _point_condition()
        dx = np.asarray(self.dx, dtype=float)
        dx = np.full(len(lo), float(dx)) if dx.ndim == 0 else dx[list(free)]
        axes = [np.linspace(a, b, max(2, int(round((b - a) / h)) + 1)) for a, b, h in zip(lo, hi, dx)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(lo))
        return grid, np.ones(len(grid))


@dataclass(frozen=True)
class StochasticTraining:
    """``n`` uniform random points per equation (``n_boundary`` per condition), redrawn every
    ``resample_every`` optimizer steps inside the compiled loop."""

    n: int
    n_boundary: int | None = None
    resample_every: int = 1

    def count(self, kind):
        """Returns the number of points per term of ``kind`` ("pde": n, a condition: n_boundary, default max(n/4,
        8))."""
        return self.n if kind == "pde" else (self.n_boundary or max(self.n // 4, 8))

    def points(self, lo, hi, kind, key, free):
        """Returns (points (N, d), weights (N,)) for one term over the box [``lo``, ``hi``] of its ``free`` variables
        (``kind``: "pde" for an equation, else a condition; ``key``: a PRNG key): the first uniform draw (redrawn in
        the compiled loop), weights 1.
        """
        if _empty_box(lo):
            return _point_condition()
        return np.asarray(self.draw(key, jnp.asarray(lo), jnp.asarray(hi), self.count(kind))), \
            np.ones(self.count(kind))

    @staticmethod
    def draw(key, lo, hi, n):
        return lo + (hi - lo) * jax.random.uniform(key, (n, lo.shape[0]), dtype=lo.dtype)


_SAMPLERS = ("sobol", "lhs", "halton")


@dataclass(frozen=True)
class QuasiRandomTraining:
    """``n`` low-discrepancy points per equation (``n_boundary`` per condition), drawn once at set-up with
    scipy.stats.qmc: ``sampler`` is "sobol" (scrambled), "lhs" (Latin hypercube) or "halton"; ``seed`` offsets
    the seed drawn from the training key.
    """

    n: int
    n_boundary: int | None = None
    sampler: str = "sobol"
    seed: int = 0

    def __post_init__(self):
        if self.sampler not in _SAMPLERS:
            raise ValueError(f"sampler must be one of {_SAMPLERS}, got {self.sampler!r}")

    def count(self, kind):
        """Returns the number of points per term of ``kind`` ("pde": n, a condition: n_boundary, default max(n/4,
        8))."""
        return self.n if kind == "pde" else (self.n_boundary or max(self.n // 4, 8))

    def points(self, lo, hi, kind, key, free):
        """Returns (points (N, d), weights (N,)) for one term over the box [``lo``, ``hi``] of its ``free`` variables
        (``kind``: "pde" for an equation, else a condition; ``key``: a PRNG key): the quasi-random sample, weights 1.
        """
        if _empty_box(lo):
            return _point_condition()
        n = self.count(kind)
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1)) + self.seed
        return quasi_random(self.sampler, n, lo, hi, seed), np.ones(n)


def quasi_random(sampler, n, lo, hi, seed):
    from scipy.stats import qmc
    d = len(lo)
    engine = {"sobol": lambda: qmc.Sobol(d, scramble=True, seed=seed),
              "lhs": lambda: qmc.LatinHypercube(d, seed=seed),
              "halton": lambda: qmc.Halton(d, scramble=True, seed=seed)}[sampler]()
    with warnings.catch_warnings():          # Sobol prefers powers of two; any n is still a valid sample
        warnings.simplefilter("ignore", UserWarning)
        unit = engine.random(n)
    return qmc.scale(unit, lo, hi)


@dataclass(frozen=True)
class QuadratureTraining:
    """Tensor-product Gauss–Legendre nodes, ``nodes`` per variable (``boundary_nodes`` on faces), with
    their weights: the loss is then the quadrature of the mean squared residual."""

    nodes: int = 16
    boundary_nodes: int | None = None

    def points(self, lo, hi, kind, key, free):
        """Returns (points (N, d), weights (N,)) for one term over the box [``lo``, ``hi``] of its ``free`` variables
        (``kind``: "pde" for an equation, else a condition; ``key``: a PRNG key): the Gauss–Legendre tensor grid, with
        its normalized quadrature weights.
        """
        if _empty_box(lo):
            return _point_condition()
        n = self.nodes if kind == "pde" else (self.boundary_nodes or self.nodes)
        x, w = np.polynomial.legendre.leggauss(n)
        axes = [(a + b) / 2 + (b - a) / 2 * x for a, b in zip(lo, hi)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(lo))
        weights = np.ones(1)
        for _ in lo:
            weights = np.multiply.outer(weights, w).ravel()
        return grid, weights / weights.sum()


@dataclass(frozen=True)
class AdaptiveRefinement:
    """Residual-based adaptive refinement (RAR, Lu et al., SIAM Rev. 63 (2021)) on top of the fixed-point
    strategy ``base`` (grid, quasi-random or quadrature): every ``every`` Adam steps, the ``n_add`` points with the
    largest residual among ``n_candidates`` quasi-random candidates join each equation's points, up to
    ``max_added`` in all.
    """

    base: object
    every: int = 500
    n_add: int = 32
    max_added: int = 256
    n_candidates: int = 2048

    def __post_init__(self):
        if isinstance(self.base, (StochasticTraining, AdaptiveRefinement)):
            raise ValueError("AdaptiveRefinement needs a fixed-point base strategy (grid, quasi-random, "
                             "quadrature)")

    def points(self, lo, hi, kind, key, free):
        """Returns (points (N, d), weights (N,)) for one term over the box [``lo``, ``hi``] of its ``free`` variables
        (``kind``: "pde" for an equation, else a condition; ``key``: a PRNG key): the base strategy's points plus
        ``max_added`` zero-weight slots that refinement fills.
        """
        points, weights = self.base.points(lo, hi, kind, key, free)
        if kind != "pde" or _empty_box(lo):
            return points, weights
        weights = np.full(len(points), weights.mean())       # refined sets are plain means
        pad = np.repeat(points[:1], self.max_added, axis=0)
        return np.concatenate([points, pad]), np.concatenate([weights, np.zeros(self.max_added)])

    def candidates(self, lo, hi, seed):
        """Returns ``n_candidates`` Sobol points over the box [``lo``, ``hi``] drawn with ``seed``, among which
        refinement picks."""
        return quasi_random("sobol", self.n_candidates, lo, hi, seed)
