"""Fixed-effect domains and the bound-respecting map between the optimiser's free vector and natural values.

Each domain knows its initial value, how many free coordinates it takes and the smooth bijection from those
coordinates to its natural value (identity, exp, scaled logistic, log-Cholesky, or the flattening of a network's
weights). The outer optimiser works on the free vector only, so bounds hold at every iterate without a
constrained optimiser. A domain may carry a Gaussian prior on its free coordinates (`NetworkWeights`: an L2
penalty that keeps the objective well posed where a network has redundant directions); the space holds it as
one precision per free coordinate, so the penalty is ``Σ precision·u²`` in NumPy and JAX alike.
"""
import jax
import jax.numpy as jnp
import numpy as np

from ..nn import ravel


class Domain:
    size: int
    network = False

    def coerce(self, value):
        """A user-given natural value (``init=``) as NumPy data of this domain's shape."""
        return np.asarray(value, float)

    def as_arrays(self, value):
        """The natural value as JAX arrays (what ``pre`` receives)."""
        return jnp.asarray(value, float)

    def precision(self):
        """Prior precision of each free coordinate (0: no prior), shape (size,)."""
        return np.zeros(self.size)

    def to_free(self, value):
        raise NotImplementedError

    def from_free(self, free):
        raise NotImplementedError

    def natural_entries(self, value):
        """The value's entries reported (estimates, standard errors): a flat vector."""
        return jnp.ravel(jnp.asarray(value))

    def entry_names(self, name):
        return [name]


class Real(Domain):
    """A real fixed effect, optionally bounded: ``Real(init)``, ``Real(init, lower=0.1, upper=5)``
    (NONMEM's ``$THETA (0.1, 3, 5)``; a finite bound maps through exp / a scaled logistic)."""

    size = 1

    def __init__(self, init, lower=-np.inf, upper=np.inf):
        init, lower, upper = float(init), float(lower), float(upper)
        if not lower < upper:
            raise ValueError(f"Real: lower must be < upper; got lower={lower}, upper={upper}")
        if not lower < init < upper:
            raise ValueError(f"Real: init must lie strictly inside (lower, upper) = ({lower}, {upper}); got {init}")
        self.init, self.lower, self.upper = init, lower, upper

    def to_free(self, value):
        """The free coordinate of the natural ``value``: itself when unbounded, log(value − lower) or
        log(upper − value) with one bound, the logit of its position in (lower, upper) with two. Returns an array of
        shape (1,)."""
        lo, hi = self.lower, self.upper
        v = jnp.asarray(value, float)
        if np.isfinite(lo) and np.isfinite(hi):
            x = (v - lo) / (hi - lo)
            return jnp.reshape(jnp.log(x) - jnp.log1p(-x), (1,))
        if np.isfinite(lo):
            return jnp.reshape(jnp.log(v - lo), (1,))
        if np.isfinite(hi):
            return jnp.reshape(jnp.log(hi - v), (1,))
        return jnp.reshape(v, (1,))

    def from_free(self, free):
        """The natural value of the free vector ``free`` (shape (1,)): the inverse of `to_free`, so that it
        lies inside (lower, upper) for every free value. Returns a scalar."""
        lo, hi = self.lower, self.upper
        z = free[0]
        if np.isfinite(lo) and np.isfinite(hi):
            return lo + (hi - lo) * jax.nn.sigmoid(z)
        if np.isfinite(lo):
            return lo + jnp.exp(z)
        if np.isfinite(hi):
            return hi - jnp.exp(z)
        return z


def Positive(init):
    """A positive fixed effect (free coordinate: its log) starting at ``init`` (> 0). Returns the domain,
    ``Real(init, lower=0)``."""
    return Real(init, lower=0.0)


def Bounded(init, lower, upper):
    """A fixed effect in (``lower``, ``upper``) starting at ``init`` (strictly inside); free coordinate: the logit of
    its position in the interval. Returns the domain, ``Real(init, lower, upper)``."""
    return Real(init, lower=lower, upper=upper)


class DiagonalCov(Domain):
    """A diagonal covariance matrix (Ω or Σ) given by its diagonal of variances (free: log variances)."""

    def __init__(self, variances):
        v = np.atleast_1d(np.asarray(variances, float))
        if v.ndim != 1 or not np.all(v > 0):
            raise ValueError(f"DiagonalCov: variances must be a 1-D array of positive numbers; got {variances!r}")
        self.init = np.diag(v)
        self.dim = self.size = v.size

    def to_free(self, value):
        """The free coordinates of the diagonal covariance matrix ``value``: returns the log of its
        diagonal, shape (dim,)."""
        return jnp.log(jnp.diagonal(jnp.asarray(value)))

    def from_free(self, free):
        """The diagonal covariance matrix of the free vector ``free`` (log variances): returns
        diag(exp(free)), shape (dim, dim)."""
        return jnp.diag(jnp.exp(free))

    def natural_entries(self, value):
        """The reported entries of the covariance matrix ``value``: returns its diagonal (the
        variances)."""
        return jnp.diagonal(value)

    def entry_names(self, name):
        """Names of the reported entries for the fixed effect called ``name``: returns
        ["name[0,0]", "name[1,1]", ...]."""
        return [f"{name}[{i},{i}]" for i in range(self.dim)]


class FullCov(Domain):
    """A full (block) covariance matrix; free coordinates: the log-Cholesky factor (log of its diagonal and
    its strict lower triangle), so every iterate is positive definite."""

    def __init__(self, matrix):
        m = np.atleast_2d(np.asarray(matrix, float))
        if m.ndim != 2 or m.shape[0] != m.shape[1] or not np.allclose(m, m.T):
            raise ValueError(f"FullCov: matrix must be a symmetric square matrix; got {matrix!r}")
        try:
            np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            raise ValueError("FullCov: the initial matrix must be positive definite") from None
        self.init = m
        self.dim = m.shape[0]
        self.size = self.dim * (self.dim + 1) // 2
        self._rows, self._cols = np.tril_indices(self.dim)

    def to_free(self, value):
        """The free coordinates of the positive definite matrix ``value``: returns its Cholesky factor's
        lower triangle (row by row) with the diagonal replaced by its log, shape (dim (dim + 1) / 2,)."""
        L = jnp.linalg.cholesky(jnp.asarray(value))
        L = L.at[np.diag_indices(self.dim)].set(jnp.log(jnp.diagonal(L)))
        return L[self._rows, self._cols]

    def from_free(self, free):
        """The covariance matrix of the free vector ``free`` (log-Cholesky coordinates): returns L Lᵀ,
        positive definite for every free value."""
        L = jnp.zeros((self.dim, self.dim)).at[self._rows, self._cols].set(free)
        L = L.at[np.diag_indices(self.dim)].set(jnp.exp(jnp.diagonal(L)))
        return L @ L.T

    def natural_entries(self, value):
        """The reported entries of the covariance matrix ``value``: returns its lower triangle, row by
        row (variances and covariances)."""
        return value[self._rows, self._cols]

    def entry_names(self, name):
        """Names of the reported entries for the fixed effect called ``name``: returns
        ["name[0,0]", "name[1,0]", "name[1,1]", ...], in the order of `natural_entries`."""
        return [f"{name}[{i},{j}]" for i, j in zip(self._rows, self._cols)]


class NetworkWeights(Domain):
    """The weights of a network (any pytree of float arrays, e.g. ``nn.MLP(...).init(key)``) as one fixed effect:
    ``pre`` (or an ODE right-hand side, through ``pre``'s output) receives the pytree and calls the network,
    ``mlp(x, theta["w"])``. Free coordinates: the weights themselves, flattened (`pysciml.nn.ravel`).

    ``prior_sd``: a Gaussian prior N(0, prior_sd²) on every weight, which adds Σ w²/prior_sd² (−2 log prior
    without constants) to the minimised objective: an L2 penalty that pins the directions the data leave free
    (a network's output bias against a typical value, dead or duplicated units), so the objective has an
    isolated minimum. ``None``: no prior (the objective may then be flat along such directions).
    ``init``: the initial weights (the pytree's structure and shapes are fixed from it).
    Standard errors are not reported for weights (see `fit`)."""

    network = True

    def __init__(self, init, prior_sd=1.0):
        leaves, self.treedef = jax.tree_util.tree_flatten(init)
        if not leaves:
            raise ValueError("NetworkWeights: init must be a pytree holding at least one array of weights (e.g. "
                             "nn.MLP(...).init(key)); got an empty tree")
        arrays = []
        for x in leaves:
            a = np.asarray(x)
            if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
                raise ValueError(f"NetworkWeights: init must hold finite float arrays; got a leaf of dtype {a.dtype} "
                                 f"and shape {a.shape}")
            arrays.append(a.astype(float))
        if prior_sd is not None and not (np.isscalar(prior_sd) and float(prior_sd) > 0):
            raise ValueError(f"NetworkWeights: prior_sd must be a positive number or None; got {prior_sd!r}")
        self.shapes = tuple(a.shape for a in arrays)
        self.init = jax.tree_util.tree_unflatten(self.treedef, arrays)
        flat, self._unravel = ravel(jax.tree_util.tree_map(jnp.asarray, self.init))
        self.size = int(flat.size)
        self.prior_sd = None if prior_sd is None else float(prior_sd)

    def coerce(self, value):
        """A user-given ``value`` (``init=`` of `fit`) checked against the initial weights' structure
        and shapes (ValueError otherwise): returns it with NumPy float leaves."""
        leaves, treedef = jax.tree_util.tree_flatten(value)
        shapes = tuple(np.shape(x) for x in leaves)
        if treedef != self.treedef or shapes != self.shapes:
            raise ValueError(f"NetworkWeights: a value must have the structure and shapes of the initial weights "
                             f"{self.shapes}; got {shapes}")
        return jax.tree_util.tree_map(lambda x: np.asarray(x, float), value)

    def as_arrays(self, value):
        """The weights ``value`` as JAX arrays (what ``pre`` receives): returns the pytree with float
        JAX leaves."""
        return jax.tree_util.tree_map(lambda x: jnp.asarray(x, float), value)

    def to_free(self, value):
        """The free coordinates of the weights ``value``: returns them flattened into one vector
        (`pysciml.nn.ravel`), shape (size,)."""
        return ravel(self.as_arrays(value))[0]

    def from_free(self, free):
        """The weights of the free vector ``free``: returns the pytree of the initial weights'
        structure, unflattened."""
        return self._unravel(free)

    def natural_entries(self, value):
        """The reported entries of the weights ``value``: returns them flattened, shape (size,)."""
        return ravel(self.as_arrays(value))[0]

    def entry_names(self, name):
        """Names of the flattened weights for the fixed effect called ``name``: returns
        ["name[0]", "name[1]", ...]."""
        return [f"{name}[{i}]" for i in range(self.size)]

    def precision(self):
        """Prior precision of each weight: returns 1/prior_sd² for every free coordinate, or zeros
        without a prior (``prior_sd=None``)."""
        return np.full(self.size, 0.0 if self.prior_sd is None else 1.0 / self.prior_sd ** 2)


class ParameterSpace:
    """The ordered fixed effects of a model: free vector <-> dict of natural values."""

    def __init__(self, domains):
        for name, d in domains.items():
            if not isinstance(d, Domain):
                raise TypeError(f"Model: fixed effect {name!r} must be a domain (Real, Positive, Bounded, "
                                f"DiagonalCov, FullCov, NetworkWeights); got {d!r}")
        self.domains = dict(domains)
        self.names = list(domains)
        offsets = np.cumsum([0] + [d.size for d in domains.values()])
        self.slices = {n: slice(int(a), int(b)) for n, a, b in zip(self.names, offsets[:-1], offsets[1:])}
        self.size = int(offsets[-1])
        self.precision = np.concatenate([np.zeros(0)] + [d.precision() for d in domains.values()])
        # the free coordinates of network weights: the outer optimiser and the standard errors treat them apart
        self.network = np.concatenate([np.zeros(0, bool)] + [np.full(d.size, d.network) for d in domains.values()])

    @property
    def has_network(self):
        return bool(self.network.any())

    def penalty(self, free):
        """The priors' −2 log density without constants, Σ precision·u² (NumPy or traced)."""
        return (self.precision * free) @ free

    def arrays(self, values):
        """Natural values (a dict, e.g. from `initial`) as JAX arrays, as ``pre`` receives them."""
        return {n: self.domains[n].as_arrays(values[n]) for n in self.names}

    def initial(self, overrides=None):
        values = {n: d.init for n, d in self.domains.items()}
        for n, v in (overrides or {}).items():
            if n not in self.domains:
                raise ValueError(f"init: unknown fixed effect {n!r}; the model has {self.names}")
            values[n] = self.domains[n].coerce(v)
        return values

    def to_free(self, values):
        return jnp.concatenate([self.domains[n].to_free(values[n]) for n in self.names])

    def from_free(self, free):
        return {n: self.domains[n].from_free(free[self.slices[n]]) for n in self.names}

    def natural_vector(self, values):
        return jnp.concatenate([jnp.atleast_1d(self.domains[n].natural_entries(values[n])) for n in self.names])

    def entry_names(self):
        return [e for n in self.names for e in self.domains[n].entry_names(n)]
