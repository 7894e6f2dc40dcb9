"""Reaction networks: `Reaction` (rate, substrates → products, stoichiometry, mass-action or custom rate
law) and `ReactionSystem`, converted to the mass-action ODE (`to_ode_system`, or `md.ODEProblem` directly),
to the chemical Langevin SDE (`SDEProblem`), and to a jump process (`JumpProblem`, for `pysciml.Direct`,
`SortingDirect`, `RSSA`, `TauLeaping`).

Rate laws follow Catalyst's conventions: a mass-action reaction k, 2A + B → C has the ODE rate
k·A²·B/2! and the propensity k·A(A−1)/2!·B (combinatoric factors on by default); a custom law (mass_action=False)
is used as written in both. The chemical Langevin equation is built on the propensities (Gillespie, "The
chemical Langevin equation", J. Chem. Phys. 113, 297 (2000), eq. 23): dX = Σ_j ν_j a_j(X) dt + Σ_j ν_j √a_j(X) dW_j,
so its mean follows the jump process's (Catalyst's SDEProblem uses the ODE rate law instead, which differs
from a_j by O(1/X) for reactions with a repeated substrate).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from ..jumps.problem import JumpProblem as _JumpProblem
from .codegen import lambdify_array
from .symbols import Equation, is_unknown, name_of, t, unknowns_in
from .system import ODESystem


class Reaction:
    """rate, substrates → products. ``substoich``/``prodstoich``: positive integers (default 1 each).
    mass_action=True: ``rate`` is the rate constant (an expression in parameters, t, even species);
    False: ``rate`` is the whole rate law."""

    def __init__(self, rate, substrates, products, substoich=None, prodstoich=None, mass_action=True):
        self.rate = sp.sympify(rate)
        if self.rate.is_number and float(self.rate) < 0:
            raise ValueError(f"Reaction: the rate must be non-negative; got {self.rate}")
        self.substrates = self._species(substrates, "substrates")
        self.products = self._species(products, "products")
        self.substoich = self._stoich(substoich, self.substrates, "substoich")
        self.prodstoich = self._stoich(prodstoich, self.products, "prodstoich")
        if not self.substrates and not self.products:
            raise ValueError("Reaction: give at least one substrate or product")
        self.mass_action = bool(mass_action)

    @staticmethod
    def _species(items, label):
        items = [] if items is None else list(items) if isinstance(items, (list, tuple)) else [items]
        for s in items:
            if not is_unknown(s):
                raise TypeError(f"Reaction: {label} must be species from md.variables (functions of t); got {s!r}")
        if len(set(items)) != len(items):
            raise ValueError(f"Reaction: {label} repeats a species; use the stoichiometry instead")
        return tuple(items)

    @staticmethod
    def _stoich(values, species, label):
        if values is None:
            return (1,) * len(species)
        values = tuple(values)
        if len(values) != len(species):
            raise ValueError(f"Reaction: {label} needs one entry per species ({len(species)}); got {len(values)}")
        for v in values:
            if int(v) != v or v <= 0:
                raise ValueError(f"Reaction: {label} must hold positive integers; got {values}")
        return tuple(int(v) for v in values)

    def net(self):
        """Returns {species: net change} of one firing of the reaction."""
        out = {}
        for s, n in zip(self.substrates, self.substoich):
            out[s] = out.get(s, 0) - n
        for s, n in zip(self.products, self.prodstoich):
            out[s] = out.get(s, 0) + n
        return out

    def ode_rate(self, combinatoric=True):
        """Returns the reaction's rate in the reaction-rate equations: the rate law itself, or for mass action
        rate·Π s^n (divided by Π n! when ``combinatoric``).
        """
        if not self.mass_action:
            return self.rate
        law = self.rate
        for s, n in zip(self.substrates, self.substoich):
            law = law * s ** n / (math.factorial(n) if combinatoric else 1)
        return law

    def propensity(self, combinatoric=True):
        """Returns the reaction's propensity for the jump process: the rate law itself, or for mass action
        rate·Π s(s − 1)…(s − n + 1) (divided by Π n! when ``combinatoric``), the number of ways to pick the substrates.
        """
        if not self.mass_action:
            return self.rate
        law = self.rate
        for s, n in zip(self.substrates, self.substoich):
            falling = sp.Mul(*[s - k for k in range(n)])
            law = law * falling / (math.factorial(n) if combinatoric else 1)
        return law

    def __repr__(self):
        side = lambda sp_, st: " + ".join(f"{n if n > 1 else ''}{name_of(s)}" for s, n in zip(sp_, st)) or "∅"
        return f"{self.rate}, {side(self.substrates, self.substoich)} --> {side(self.products, self.prodstoich)}"


class ReactionSystem:
    """The ``reactions`` over ``species`` (default: every species in the reactions, in order of appearance).
    ``name``: the system's name; ``defaults``: {species or parameter: value} used where u0 or p leave gaps;
    ``combinatoric``: divide mass-action rates by n! for n identical substrates (as Catalyst does).
    """

    def __init__(self, reactions, name="reactions", defaults=None, species=None, combinatoric=True):
        self.reactions = tuple(reactions)
        if not self.reactions:
            raise ValueError("ReactionSystem: reactions must not be empty")
        for r in self.reactions:
            if not isinstance(r, Reaction):
                raise TypeError(f"ReactionSystem: expected md.Reaction items; got {type(r).__name__}")
        found = []
        for r in self.reactions:
            for s in r.substrates + r.products + tuple(sorted(unknowns_in(r.rate), key=str)):
                if s not in found:
                    found.append(s)
        if species is not None:
            species = list(species)
            stray = [name_of(s) for s in found if s not in species]
            if stray:
                raise ValueError(f"ReactionSystem: reactions use {stray}, which are not among the species")
            found = species
        self.species = tuple(found)
        self.name = name
        self.combinatoric = combinatoric
        self.defaults = dict(defaults or {})
        symbols = set()
        for r in self.reactions:
            symbols |= r.rate.free_symbols
        symbols.discard(t)
        self.parameters = tuple(sorted(symbols, key=sp.default_sort_key))

    def stoichiometry(self):
        """Returns (net (R, S), substrate (R, S)) integer matrices, R reactions by S species."""
        index = {s: j for j, s in enumerate(self.species)}
        net = np.zeros((len(self.reactions), len(self.species)), np.int64)
        sub = np.zeros_like(net)
        for i, r in enumerate(self.reactions):
            for s, n in r.net().items():
                net[i, index[s]] = n
            for s, n in zip(r.substrates, r.substoich):
                sub[i, index[s]] = n
        return net, sub

    def to_ode_system(self):
        """Returns the reaction-rate equations D(s) = Σ_r net[r, s] · rate_r (mass action where declared) as an
        `ODESystem`."""
        net, _ = self.stoichiometry()
        rates = [r.ode_rate(self.combinatoric) for r in self.reactions]
        eqs = []
        for j, s in enumerate(self.species):
            rhs = sp.Add(*[int(net[i, j]) * rates[i] for i in np.nonzero(net[:, j])[0]])
            eqs.append(Equation(sp.Derivative(s, t), rhs))
        return ODESystem(eqs, name=self.name, defaults=self.defaults, unknowns=list(self.species),
                         parameters=list(self.parameters))

    def __repr__(self):
        return "\n".join([f"ReactionSystem {self.name}: {len(self.species)} species, {len(self.reactions)} reactions"]
                         + [f"  {r}" for r in self.reactions])


def _start(system, u0, p, label, counts):
    """(the reaction-rate ODE system, initial values in species order, parameter vector) from {species or
    name: value} / {parameter: value} and the defaults; missing values are named. counts=True: u0 must hold
    non-negative integers (a jump process); otherwise non-negative numbers. Negative rate constants refused."""
    from .problem import _number, parameter_vector
    ode = system.to_ode_system()
    values, missing = [], []
    given = {ode._resolve(k, "u0"): v for k, v in dict(u0 or {}).items()}
    for s in system.species:
        value = given.get(s, ode.defaults.get(s))
        if value is None:
            missing.append(name_of(s))
            continue
        value = _number(value, "u0", s)
        if value < 0 or (counts and value != round(value)):
            what = "a non-negative integer count" if counts else "non-negative"
            raise ValueError(f"{label}: u0: {name_of(s)} must be {what}; got {value}")
        values.append(value)
    if missing:
        raise ValueError(f"{label}: u0 is missing value(s) for {missing} (no default either)")
    p_vec = parameter_vector(ode, p)
    numbers = {prm: sp.Float(float(v)) for prm, v in zip(system.parameters, np.asarray(p_vec))}
    for r in system.reactions:
        if r.mass_action:
            k = sp.sympify(r.rate.xreplace(numbers))
            if k.is_number and float(k) < 0:
                raise ValueError(f"{label}: the rate of {r} is {float(k)} < 0; rates must be non-negative")
    return ode, values, p_vec


def _propensities(system):
    """a(u, p, t) -> (R,): every reaction's propensity, generated as one JAX function."""
    return lambdify_array([r.propensity(system.combinatoric) for r in system.reactions],
                          list(system.species), list(system.parameters))


def JumpProblem(system, u0=None, tspan=None, p=None, key=0):
    """A `pysciml.JumpProblem` of the network ``system`` (a `ReactionSystem`) over ``tspan``: counts u0
    {species or name: count}, p {parameter: value} (defaults fill gaps; missing ones are named), propensities
    generated as one JAX function; ``key``: a jax.random key or an integer seed. Returns the `pysciml.JumpProblem`.
    """
    if not isinstance(system, ReactionSystem):
        raise TypeError(f"md.JumpProblem: expected a ReactionSystem; got {type(system).__name__}")
    if tspan is None:
        raise ValueError("md.JumpProblem: tspan=(t0, t1) is required")
    _, counts, p_vec = _start(system, u0, p, "md.JumpProblem", counts=True)
    monotone = all(r.mass_action and not unknowns_in(r.rate) for r in system.reactions)
    net, _ = system.stoichiometry()
    return _JumpProblem(_propensities(system), np.asarray(counts), tspan, p_vec, net, key=key, monotone=monotone)


def SDEProblem(system, u0=None, tspan=None, p=None, noise=None):
    """Returns the chemical Langevin equation of the network ``system`` (a `ReactionSystem`) over ``tspan``
    as a `pysciml.SDEProblem` (Itô, general noise: one Wiener process per reaction): drift Σ_j ν_j a_j(u),
    diffusion column j = ν_j √|a_j(u)| (the absolute value, as Catalyst, keeps g real where a trajectory
    dips below the range a_j ≥ 0 is derived on). u0 {species or name: amount} (copy numbers, not
    necessarily integers), p {parameter: value}; defaults fill gaps and missing ones are named. noise: as
    for `pysciml.SDEProblem` (None: solve picks the Brownian path). Solve with an Itô method for general
    noise (`pysciml.EM`, `LambaEM`) and ``key=``; the solution is indexable by species (``sol[X]``). The CLE
    approximates the jump process where every reaction fires many times per unit of change of the state
    (large copy numbers)."""
    from .. import problems as _problems
    from .problem import CompiledRHS
    if not isinstance(system, ReactionSystem):
        raise TypeError(f"md.SDEProblem: expected a ReactionSystem; got {type(system).__name__}")
    if tspan is None:
        raise ValueError("md.SDEProblem: tspan=(t0, t1) is required")
    ode, values, p_vec = _start(system, u0, p, "md.SDEProblem", counts=False)
    propensity = _propensities(system)
    nu = jnp.asarray(system.stoichiometry()[0].T, jnp.float64)        # (S, R): column j is ν_j

    def drift(u, q, tt):
        return nu @ propensity(u, q, tt)

    def diffusion(u, q, tt):
        return nu * jnp.sqrt(jnp.abs(propensity(u, q, tt)))[None, :]

    # the drift carries the species/parameter map, so sol[X] works as for md.ODEProblem's solutions
    f = CompiledRHS(ode, drift)
    return _problems.SDEProblem(f, jax.jit(diffusion), jnp.asarray(values, jnp.float64), tspan, p_vec,
                                noise_type="general", noise_rate_prototype=np.zeros(nu.shape), noise=noise)
