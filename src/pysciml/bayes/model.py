"""`Model`: a problem, priors on its free quantities, an observation model and data -> one log density.

The log density is a pure JAX function of one flat unconstrained vector θ (what samplers move on): θ is cut
into blocks, each prior maps its block onto its support (adding the log-Jacobian), the values are written into
the problem's ``p`` and ``u0``, the problem is solved at the data times with ``ps.solve`` (any algorithm and any
``sensealg``), and the observation model scores the data. A solve that fails (a return code other than
Success, or NaN) gives −∞, which samplers treat as a divergence and reject; its gradient is set to zero so that
no NaN leaks into an optimiser or a sampler's state.
"""
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._core.retcode import ReturnCode
from ..solve import solve
from ..solvers import Tsit5

from .likelihoods import Likelihood
from .priors import Prior

_ELEMENT = re.compile(r"^(.*)\[(\d+)\]$")


class Model:
    """Bayesian model of ``problem`` given ``data`` observed at ``times``.

        model = bayes.Model(prob, priors={"p": [bayes.LogNormal(0, 0.5)] * 4, "u0": bayes.LogNormal(0, 1)},
                            likelihood=bayes.Gaussian(sigma=bayes.HalfNormal(0.5)), data=y, times=ts)
        post = bayes.sample(model, bayes.NUTS(), num_warmup=500, num_samples=500, chains=4)

    priors      name -> `Prior` (or a list of priors, one per element of a 1-D array). Names are paths into the
                problem: ``"p"`` (all of p), ``"p[2]"`` (one element of an array p), ``"p.physics"`` /
                ``"p.network"`` (entries of a dict p, e.g. a `pysciml.ude.UDE`'s parameters; a prior on a
                subtree covers each of its arrays), ``"u0"``, ``"u0[0]"``. Every element of ``p`` is free and
                needs a prior unless listed in ``fixed``; ``u0`` is fixed unless it has a prior. Noise
                parameters of the likelihood (``sigma`` given as a Prior) join automatically.
    likelihood  `bayes.Gaussian`, `bayes.LogNormalNoise` or `bayes.Poisson` (pysciml.bayes.likelihoods).
    data        (len(times), *obs_shape) observations; finite, and valid for the likelihood.
    times       1-D increasing times inside problem.tspan.
    observe     what is observed: None (the whole state), a list of state indices, or observe(u, p, t) -> y.
    fixed       names (as in ``priors``) of elements of p held at the problem's values.
    alg         the solver (default Tsit5()); sensealg and any other solve options (rtol, atol, max_steps, ...)
                go to ``ps.solve`` (defaults here: rtol=1e-6, atol=1e-8).
    """

    def __init__(self, problem, priors, likelihood, data, times, *, observe=None, fixed=(), alg=None,
                 sensealg=None, **solve_options):
        if not hasattr(problem, "remake") or not hasattr(problem, "tspan"):
            raise TypeError(f"Model: problem must be a pysciml problem (e.g. ODEProblem); got {type(problem).__name__}")
        if not isinstance(likelihood, Likelihood):
            raise TypeError(f"Model: likelihood must be bayes.Gaussian, bayes.LogNormalNoise or bayes.Poisson (a "
                            f"bayes.Likelihood); got {likelihood!r}")
        if not isinstance(priors, dict):
            raise TypeError(f"Model: priors must be a dict of name -> Prior; got {type(priors).__name__}")
        self.problem, self.likelihood, self.alg, self.sensealg = problem, likelihood, alg or Tsit5(), sensealg
        self.solve_options = {"rtol": 1e-6, "atol": 1e-8, **solve_options}
        self.times = _check_times(times, problem.tspan)
        self.observe = _observe_fn(observe, problem)
        self.fixed = tuple(fixed)
        self._blocks, self._noise = _blocks(problem, priors, likelihood, self.fixed)
        self.dim = sum(b.size for b in self._blocks) + sum(b.size for b in self._noise)
        obs_shape = jax.eval_shape(lambda u: self.observe(u, problem.p, self.times[0]), problem.u0).shape
        self.data = _check_data(data, (len(self.times), *obs_shape), likelihood)
        likelihood.check_prediction_shape(self.data.shape)
        for b in self._noise:
            b.shape = tuple(likelihood.noise_shape(self.data.shape))
            b.size = b.prior.unconstrained_size(b.shape)
        self.dim = sum(b.size for b in self._blocks) + sum(b.size for b in self._noise)
        offset = 0
        for b in (*self._blocks, *self._noise):
            b.offset, offset = offset, offset + b.size
        self._cache = {}          # compiled samplers and optimisers, shared by models that differ only in data
        self._logdensity_jit = jax.jit(self._logdensity_with_data)

    # --- structure ---------------------------------------------------------------------------------------------
    @property
    def names(self):
        """The posterior's variables: each free array of p or u0 (whole, fixed elements included) and noise."""
        return tuple(dict.fromkeys([b.var for b in self._blocks] + [b.var for b in self._noise]))

    def with_data(self, data):
        """Returns the same model with new ``data`` of the same shape; compiled samplers are shared (no
        recompilation)."""
        new = object.__new__(Model)
        new.__dict__.update(self.__dict__)
        new.data = _check_data(data, self.data.shape, self.likelihood)
        return new

    def constrain(self, theta):
        """Returns (p, u0, noise, log prior density) for one unconstrained vector ``theta`` (θ, shape (dim,))."""
        theta = jnp.asarray(theta)
        p_leaves, p_def = jax.tree_util.tree_flatten(self.problem.p)
        u_leaves, u_def = jax.tree_util.tree_flatten(self.problem.u0)
        trees = {"p": [jnp.asarray(x) for x in p_leaves], "u0": [jnp.asarray(x) for x in u_leaves]}
        logp = 0.0
        for b in self._blocks:
            x, lp = b.prior.constrain(theta[b.offset:b.offset + b.size], b.shape)
            leaves = trees[b.target]
            x = x.astype(jnp.result_type(leaves[b.leaf], float))
            leaves[b.leaf] = x if b.element is None else leaves[b.leaf].at[b.element].set(x)
            logp = logp + lp
        noise = {}
        for b in self._noise:
            noise[b.var], lp = b.prior.constrain(theta[b.offset:b.offset + b.size], b.shape)
            logp = logp + lp
        return (jax.tree_util.tree_unflatten(p_def, trees["p"]), jax.tree_util.tree_unflatten(u_def, trees["u0"]),
                noise, logp)

    def values(self, theta):
        """Returns name -> constrained value, for ``theta`` (θ) of shape (dim,) or (..., dim) (then every value gets
        those axes)."""
        theta = jnp.asarray(theta)
        if theta.ndim > 1:
            flat = theta.reshape(-1, theta.shape[-1])
            out = jax.vmap(self.values)(flat)
            return {k: v.reshape(theta.shape[:-1] + v.shape[1:]) for k, v in out.items()}
        p, u0, noise, _ = self.constrain(theta)
        leaves = {"p": _named_leaves(p, "p"), "u0": _named_leaves(u0, "u0")}
        out = {b.var: leaves[b.target][b.var] for b in self._blocks}
        out.update(noise)
        return out

    def unconstrain(self, values=None):
        """θ from a dict name -> value (missing names: the problem's own values, or the prior's typical value
        where the problem's value lies outside the prior's support)."""
        values = {} if values is None else dict(values)
        unknown = set(values) - set(self.names)
        if unknown:
            raise KeyError(f"unconstrain: unknown name(s) {sorted(unknown)}; the model's are {list(self.names)}")
        leaves = {"p": _named_leaves(self.problem.p, "p"), "u0": _named_leaves(self.problem.u0, "u0")}
        parts = []
        for b in self._blocks:
            full = jnp.asarray(values.get(b.var, leaves[b.target][b.var]), dtype=float)
            v = full if b.element is None else full[b.element]
            if not np.all(b.prior.support.contains(np.asarray(v))):
                v = jnp.broadcast_to(b.prior.typical, b.shape)
            parts.append(b.prior.unconstrain(v, b.shape))
        for b in self._noise:
            v = values.get(b.var, b.prior.typical)
            parts.append(b.prior.unconstrain(jnp.broadcast_to(jnp.asarray(v, float), b.shape), b.shape))
        return jnp.concatenate(parts) if parts else jnp.zeros(0)

    # --- densities ---------------------------------------------------------------------------------------------
    def predict(self, p, u0, times=None):
        """(observed predictions at ``times`` (default: the data times), return code) for given p and u0."""
        times = self.times if times is None else times
        sol = solve(self.problem.remake(p=p, u0=u0), self.alg, saveat=times, sensealg=self.sensealg,
                    **self.solve_options)
        return jax.vmap(lambda u, t: self.observe(u, p, t))(sol.u, sol.t), sol.retcode

    def _raw_logdensity(self, theta, data):
        p, u0, noise, logprior = self.constrain(theta)
        pred, retcode = self.predict(p, u0)
        ll = self.likelihood.log_prob(data, pred, noise)
        value = jnp.where(retcode == int(ReturnCode.Success), ll, -jnp.inf) + logprior
        return jnp.where(jnp.isnan(value), -jnp.inf, value)

    def _logdensity_with_data(self, theta, data):
        return _finite_gradient(self._raw_logdensity)(theta, data)

    def logdensity(self, theta):
        """Returns the unnormalised log posterior density of ``theta`` (θ, shape (dim,)); compiled; −∞ where the
        solve fails."""
        return self._logdensity_jit(jnp.asarray(theta, dtype=float), self.data)

    def logdensity_batch(self, thetas):
        """Returns the log densities of a batch ``thetas`` of shape (n, dim), compiled and vmapped: shape (n,)."""
        if "logdensity-batch" not in self._cache:
            self._cache["logdensity-batch"] = jax.jit(jax.vmap(self._logdensity_with_data, in_axes=(0, None)))
        return self._cache["logdensity-batch"](jnp.asarray(thetas, dtype=float), self.data)

    def logdensity_fn(self, data=None):
        """θ -> log density for this data, a pure function to hand to any JAX sampler or optimiser."""
        data = self.data if data is None else data
        return lambda theta: self._logdensity_with_data(theta, data)

    def simulate(self, key, values=None, times=None):
        """Synthetic data from the observation model at ``values`` (default: the problem's own parameters), at
        ``times`` (default: the model's data times), drawn with the PRNG ``key``. Returns an array shaped like the data.
        """
        p, u0, noise, _ = self.constrain(self.unconstrain(values))
        times = self.times if times is None else _check_times(times, self.problem.tspan)
        with warnings.catch_warnings():          # a failed solve is reported below, as an error naming simulate
            warnings.simplefilter("ignore", RuntimeWarning)
            pred, retcode = self.predict(p, u0, times)
        if int(retcode) != int(ReturnCode.Success) or not np.all(np.isfinite(np.asarray(pred))):
            raise ValueError(f"simulate: the solve at these values fails ({ReturnCode(int(retcode)).name}); no data "
                             "can be simulated there")
        return self.likelihood.sample(key, pred, noise)

    def __repr__(self):
        return (f"bayes.Model({type(self.problem).__name__}, {len(self.times)} times, dim={self.dim}, "
                f"variables={list(self.names)}, likelihood={self.likelihood!r})")


def _finite_gradient(f):
    """f with its gradient replaced by zero wherever f is −∞ or the gradient is not finite (a failed solve)."""
    @jax.custom_jvp
    def g(theta, data):
        return f(theta, data)

    @g.defjvp
    def g_jvp(primals, tangents):
        theta, data = primals
        value, grad = jax.value_and_grad(f)(theta, data)
        grad = jnp.where(jnp.isfinite(value) & jnp.isfinite(grad), grad, 0.0)
        return value, jnp.dot(grad, tangents[0])

    return g


class _Block:
    def __init__(self, target, leaf, element, shape, prior, var, name):
        self.target, self.leaf, self.element, self.shape, self.prior = target, leaf, element, tuple(shape), prior
        self.var, self.name = var, name
        self.size = prior.unconstrained_size(self.shape)

    def __repr__(self):
        return f"_Block({self.name}, {self.prior!r}, size={self.size})"


def _named_leaves(tree, root):
    """name -> leaf, names as in priors: 'p', 'p.physics', 'p.network[0][1]'."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        out[root + _path_name(path)] = leaf
    return out


def _path_name(path):
    parts = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            parts.append(f".{k.key}")
        elif isinstance(k, jax.tree_util.SequenceKey):
            parts.append(f"[{k.idx}]")
        elif isinstance(k, jax.tree_util.GetAttrKey):
            parts.append(f".{k.name}")
        else:
            parts.append(str(k))
    return "".join(parts)


def _blocks(problem, priors, likelihood, fixed):
    """Match every prior to the leaves (or leaf elements) it covers; refuse gaps, overlaps and unknown names."""
    leaves = {"p": _named_leaves(problem.p, "p"), "u0": _named_leaves(problem.u0, "u0")}
    index = {t: {name: i for i, name in enumerate(names)} for t, names in leaves.items()}
    noise = likelihood.noise_priors()
    covered = {}          # (leaf name, element or None) -> prior name
    blocks = []

    def cover(target, leaf_name, element, prior, key):
        leaf = jnp.asarray(leaves[target][leaf_name])
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(f"priors[{key!r}]: {leaf_name} has dtype {leaf.dtype}; estimated quantities must be "
                            "floating point")
        for other in ((leaf_name, None), (leaf_name, element)) if element is not None else \
                [(leaf_name, None)] + [k for k in covered if k[0] == leaf_name]:
            if other in covered:
                raise ValueError(f"priors: {leaf_name if other[1] is None else f'{leaf_name}[{other[1]}]'} is "
                                 f"covered twice (by {covered[other]!r} and {key!r})")
        covered[(leaf_name, element)] = key
        shape = leaf.shape if element is None else leaf.shape[1:]
        if not isinstance(prior, Prior):
            raise TypeError(f"priors[{key!r}]: expected a bayes Prior (Normal, LogNormal, ...); got {prior!r}")
        prior.check_shape(shape, key)
        name = leaf_name if element is None else f"{leaf_name}[{element}]"
        blocks.append(_Block(target, index[target][leaf_name], element, shape, prior, leaf_name, name))

    for key, prior in priors.items():
        if not isinstance(key, str):
            raise TypeError(f"priors: keys are names such as 'p', 'p[0]', 'u0'; got {key!r}")
        if key in noise:
            raise ValueError(f"priors[{key!r}]: the noise scale's prior is given in the likelihood "
                             f"({type(likelihood).__name__}(sigma=...)), not in priors")
        target = "u0" if key.startswith("u0") else "p" if key.startswith("p") else None
        matches = [] if target is None else [n for n in leaves[target]
                                             if n == key or n.startswith(key + ".") or n.startswith(key + "[")]
        element = None
        if not matches and target is not None and _ELEMENT.match(key):
            base, i = _ELEMENT.match(key).groups()
            if base in leaves[target]:
                leaf = jnp.asarray(leaves[target][base])
                if leaf.ndim == 0 or int(i) >= leaf.shape[0]:
                    raise ValueError(f"priors[{key!r}]: {base} has shape {leaf.shape}; index {i} is out of range")
                matches, element = [base], int(i)
        if not matches:
            known = list(leaves["p"]) + list(leaves["u0"])
            raise KeyError(f"priors: {key!r} names nothing in the problem; its arrays are {known} (index an array "
                           f"with [i])")
        if isinstance(prior, (list, tuple)):
            leaf = jnp.asarray(leaves[target][matches[0]]) if len(matches) == 1 else None
            if leaf is None or element is not None or leaf.ndim != 1 or len(prior) != leaf.shape[0]:
                raise ValueError(f"priors[{key!r}]: a list of priors needs one entry per element of a 1-D array; "
                                 f"{key} has shape {None if leaf is None else leaf.shape}, the list {len(prior)} entries")
            for i, pr in enumerate(prior):
                cover(target, matches[0], i, pr, key)
        else:
            for m in matches:
                cover(target, m, element, prior, key)

    fixed_set = set()
    for key in fixed:
        m = _ELEMENT.match(key)
        if key in leaves["p"]:
            fixed_set.add((key, None))
        elif m and m.group(1) in leaves["p"]:
            fixed_set.add((m.group(1), int(m.group(2))))
        else:
            raise KeyError(f"fixed: {key!r} names nothing in p; its arrays are {list(leaves['p'])}")
    missing = []
    for name, leaf in leaves["p"].items():
        leaf = jnp.asarray(leaf)
        if (name, None) in covered or (name, None) in fixed_set:
            continue
        elements = range(leaf.shape[0]) if leaf.ndim else []
        if leaf.ndim and all((name, i) in covered or (name, i) in fixed_set for i in elements):
            continue
        gaps = [f"{name}[{i}]" for i in elements if (name, i) not in covered and (name, i) not in fixed_set]
        missing.extend(gaps or [name])
    held = [f"{name}" if el is None else f"{name}[{el}]" for name, el in sorted(fixed_set, key=str)
            if not np.all(np.isfinite(np.asarray(leaves["p"][name] if el is None else leaves["p"][name][el])))]
    if held:
        raise ValueError(f"problem: the held (not estimated) value(s) {held} are not finite; set them in the problem "
                         "(remake) or give them a prior")   # (u0 is checked by the problem itself)
    if missing:
        raise ValueError(f"priors: no prior for the free parameter(s) {missing}; give each a prior (e.g. "
                         f"priors={{{missing[0]!r}: bayes.Normal(...)}}) or hold it at the problem's value with "
                         f"fixed=[{missing[0]!r}]")
    blocks.sort(key=lambda b: (b.target != "p", b.leaf, -1 if b.element is None else b.element))
    noise_blocks = [_Block("noise", None, None, (), prior, name, name) for name, prior in noise.items()]
    return blocks, noise_blocks


def _check_times(times, tspan):
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times: expected a non-empty 1-D array of observation times; got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("times: must be finite")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("times: must be strictly increasing")
    t0, t1 = (float(np.asarray(x)) for x in tspan)
    lo, hi = min(t0, t1), max(t0, t1)
    outside = t[(t < lo) | (t > hi)]
    if outside.size:
        raise ValueError(f"times: {outside.size} observation time(s) lie outside the problem's tspan ({t0}, {t1}), "
                         f"e.g. {outside[0]}; extend tspan or drop those observations")
    return jnp.asarray(t)


def _check_data(data, shape, likelihood):
    d = np.asarray(data, dtype=float)
    if d.shape != tuple(shape):
        raise ValueError(f"data: expected shape {tuple(shape)} (len(times), observed shape); got {d.shape}")
    bad = ~np.isfinite(d)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"data: {int(bad.sum())} non-finite value(s) (NaN or inf), first at index {tuple(where)}; "
                         "drop those observations (and their times)")
    likelihood.check_data(d)
    return jnp.asarray(d)


def _observe_fn(observe, problem):
    if observe is None:
        return lambda u, p, t: u
    if callable(observe):
        return observe
    idx = np.asarray(observe)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"observe: expected None, a list of state indices or a function observe(u, p, t); "
                        f"got {observe!r}")
    n = np.size(problem.u0)
    if np.any(idx >= n) or np.any(idx < -n):
        raise ValueError(f"observe: state indices {idx.tolist()} out of range for a state of size {n}")
    return lambda u, p, t: jnp.ravel(u)[idx]
