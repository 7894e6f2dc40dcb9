"""Layer 8: Bayesian parameter estimation and Bayesian UDEs — posteriors over physical parameters, initial
conditions, noise scales and network weights, with the likelihood differentiated through `ps.solve`.

    model = bayes.Model(prob, priors={"p": bayes.LogNormal(0, 0.5)}, likelihood=bayes.Gaussian(bayes.HalfNormal(1)),
                        data=y, times=ts)
    post = bayes.sample(model, bayes.NUTS(), num_warmup=500, num_samples=500, chains=4, key=0)
    print(post.summary_table()); post.to_arviz()
    pred = post.predict(times=jnp.linspace(0, 10, 200)); pred.band(0.9); pred.plot()

For UDE + SINDy, `bayes.missing_term_inclusion(post, library)` gives each candidate term's posterior inclusion
probability (the probability that the mechanism is present). Also `bayes.find_map` (MAP), `bayes.Laplace()`,
`bayes.MeanFieldVI()` and `bayes.SGLD()` (`bayes.SGLD(preconditioned=True)`: pSGLD) through `bayes.sample`.

Why BlackJAX (not NumPyro) supplies the samplers: pysciml already owns the model — priors with support
transforms, the observation model and the solve — and hands over one log density of a flat vector. BlackJAX
is built for exactly that: pure functions of (key, state) that we jit, vmap over chains and over data sets,
scan in chunks (a progress bar and resumable checkpoints without host callbacks in the compiled loop), with
NUTS + Stan's window adaptation, SGLD and mean-field VI behind one interface. NumPyro's strength is its
modelling language (sample sites, effect handlers), which would duplicate what `Model` does; its MCMC driver
owns the loop, so chunking, checkpoints and shared compiled kernels across data sets would fight it. Results
come out in ArviZ's layout (`Posterior.to_dict`), with R-hat/ESS computed here (`bayes.diagnostics`), so ArviZ
stays optional.
"""
try:
    import blackjax  # noqa: F401
except ImportError as e:          # the samplers come from BlackJAX, an optional dependency
    raise ImportError("pysciml.bayes needs BlackJAX: pip install 'pysciml[bayes]' (or pip install blackjax)") from e

from . import diagnostics
from .approximate import MAP, Laplace, MAPResult, MeanFieldVI, find_map
from .likelihoods import Gaussian, Likelihood, LogNormal as LogNormalNoise, Poisson
from .model import Model
from .nuts import NUTS
from .posterior import Posterior
from .predictive import Predictive, posterior_predictive
from .priors import (Beta, Cauchy, Exponential, Gamma, HalfCauchy, HalfNormal, Horseshoe, InverseGamma, LogNormal,
                     Normal, Prior, TruncatedNormal, Uniform)
from .sample import initial_positions, sample
from .selection import InclusionResult, inclusion_probabilities, missing_term_inclusion
from .sgld import SGLD

__all__ = ["Beta", "Cauchy", "Exponential", "Gamma", "Gaussian", "HalfCauchy", "HalfNormal", "Horseshoe",
           "InclusionResult", "InverseGamma", "Laplace", "Likelihood", "LogNormal", "LogNormalNoise", "MAP",
           "MAPResult", "MeanFieldVI",
           "Model", "NUTS", "Normal", "Poisson", "Posterior", "Predictive", "Prior", "SGLD", "TruncatedNormal",
           "Uniform", "diagnostics", "find_map", "inclusion_probabilities", "initial_positions",
           "missing_term_inclusion", "posterior_predictive", "sample"]
