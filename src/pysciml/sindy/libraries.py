"""Candidate libraries Θ(X): the functions of the state among which SINDy picks the few that make up each
equation. A library maps data X of shape (N, n) to Θ of shape (N, n_terms), names its terms readably
("x*y", "x^2", "sin(2*x)") and writes them as sympy expressions, all in the same order.

`a + b` concatenates the terms of two libraries, `a * b` forms every product of a term of `a` with a
term of `b` (a tensor product). Libraries are immutable and hashable, so they serve as static arguments
of compiled functions.
"""
import dataclasses
import functools
import itertools
import string
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import sympy


def default_names(n_vars: int) -> tuple[str, ...]:
    """x0, x1, ... for data without variable names."""
    return tuple(f"x{i}" for i in range(n_vars))


class Library:
    """Base class: subclasses implement `features(u)` for one state u of shape (n,), `names(variables)`
    and `symbolic(symbols)`; evaluating on data, `+` and `*` come from here."""

    def features(self, u):
        """Returns the library's terms evaluated at one state ``u`` of shape (n,), a (n_terms,) array (subclasses
        implement it)."""
        raise NotImplementedError

    def names(self, variables) -> tuple[str, ...]:
        """Returns the terms' names (a tuple of n_terms strings) built from the variable names ``variables``
        (subclasses implement it)."""
        raise NotImplementedError

    def symbolic(self, symbols) -> list:
        """Returns the terms as sympy expressions (a list of n_terms) of the sympy ``symbols``, one per variable
        (subclasses implement it)."""
        raise NotImplementedError

    def n_terms(self, n_vars: int) -> int:
        """Returns the number of terms the library has for ``n_vars`` state variables."""
        return len(self.names(default_names(n_vars)))

    def __call__(self, X, names=None):
        """Θ(X): X of shape (N, n) -> (N, n_terms). ``names``, if given, are checked against n."""
        X = jnp.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (samples, states); got shape {X.shape}")
        if names is not None and len(names) != X.shape[1]:
            raise ValueError(f"names: expected {X.shape[1]} variable names for X of shape {X.shape}; "
                             f"got {len(names)}")
        return _evaluate(self, X)

    def __add__(self, other):
        if not isinstance(other, Library):
            return NotImplemented
        return ConcatLibrary(_parts(self, ConcatLibrary) + _parts(other, ConcatLibrary))

    def __mul__(self, other):
        if not isinstance(other, Library):
            return NotImplemented
        return TensorLibrary(self, other)


@functools.partial(jax.jit, static_argnums=0)
def _evaluate(library, X):
    return jax.vmap(library.features)(X)


def _parts(lib, kind):
    return lib.libraries if isinstance(lib, kind) else (lib,)


@dataclasses.dataclass(frozen=True)
class PolynomialLibrary(Library):
    """All monomials of the state variables up to total ``degree``, ordered by degree and then
    lexicographically (1, x, y, x^2, x*y, y^2, ...). ``include_bias``: keep the constant term 1.
    ``include_interaction=False`` keeps only powers of single variables.
    """
    degree: int = 2
    include_bias: bool = True
    include_interaction: bool = True

    def __post_init__(self):
        if not isinstance(self.degree, (int, np.integer)) or isinstance(self.degree, bool) or self.degree < 0:
            raise ValueError(f"PolynomialLibrary: degree must be a non-negative integer; got {self.degree!r}")
        if self.degree == 0 and not self.include_bias:
            raise ValueError("PolynomialLibrary: degree=0 without include_bias has no terms")

    def monomials(self, n_vars: int) -> list[tuple[int, ...]]:
        """Returns each term for ``n_vars`` variables as the sorted tuple of the variable indices multiplied (() is
        the constant)."""
        terms = [()] if self.include_bias else []
        for d in range(1, self.degree + 1):
            for combo in itertools.combinations_with_replacement(range(n_vars), d):
                if self.include_interaction or len(set(combo)) == 1:
                    terms.append(combo)
        return terms

    def features(self, u):
        """Returns the library's terms evaluated at one state ``u`` of shape (n,), a (n_terms,) array: the products
        of the entries of u named by `monomials`."""
        n = u.shape[0]
        terms = self.monomials(n)
        # pad each index tuple to `degree` with the index of an appended 1, then one gather and product
        index = np.array([t + (n,) * (self.degree - len(t)) for t in terms], dtype=int).reshape(len(terms), -1)
        padded = jnp.concatenate([u, jnp.ones((1,), u.dtype)])
        return jnp.prod(padded[index], axis=1)

    def names(self, variables):
        """Returns the terms' names (a tuple of n_terms strings) built from the variable names ``variables`` ('1',
        'x', 'x^2', 'x*y', …)."""
        return tuple(_monomial_name(t, variables) for t in self.monomials(len(variables)))

    def symbolic(self, symbols):
        """Returns the terms as sympy expressions (a list of n_terms) of the sympy ``symbols``, one per variable."""
        return [sympy.Mul(*(symbols[i] for i in t)) for t in self.monomials(len(symbols))]


def _monomial_name(term, variables):
    if not term:
        return "1"
    counts = {i: term.count(i) for i in sorted(set(term))}
    return "*".join(variables[i] if k == 1 else f"{variables[i]}^{k}" for i, k in counts.items())


@dataclasses.dataclass(frozen=True)
class FourierLibrary(Library):
    """sin(k x) and cos(k x) for k = 1..``n_frequencies`` and every variable x, ordered by frequency, then
    variable, sine before cosine. ``include_sin`` / ``include_cos``: keep the sines / cosines (not both False).
    """
    n_frequencies: int = 1
    include_sin: bool = True
    include_cos: bool = True

    def __post_init__(self):
        if not isinstance(self.n_frequencies, (int, np.integer)) or self.n_frequencies < 1:
            raise ValueError(f"FourierLibrary: n_frequencies must be a positive integer; got {self.n_frequencies!r}")
        if not (self.include_sin or self.include_cos):
            raise ValueError("FourierLibrary: include_sin and include_cos are both False, so it has no terms")

    def _kinds(self):
        return [k for k, on in (("sin", self.include_sin), ("cos", self.include_cos)) if on]

    def features(self, u):
        """Returns the library's terms evaluated at one state ``u`` of shape (n,), a (n_terms,) array: sin(k u_i),
        cos(k u_i)."""
        columns = []
        for k in range(1, self.n_frequencies + 1):
            for i in range(u.shape[0]):
                columns += [getattr(jnp, kind)(k * u[i]) for kind in self._kinds()]
        return jnp.stack(columns)

    def names(self, variables):
        """Returns the terms' names (a tuple of n_terms strings) built from the variable names ``variables``
        ('sin(x)', 'cos(2*x)', …)."""
        return tuple(f"{kind}({'' if k == 1 else f'{k}*'}{v})" for k in range(1, self.n_frequencies + 1)
                     for v in variables for kind in self._kinds())

    def symbolic(self, symbols):
        """Returns the terms as sympy expressions (a list of n_terms) of the sympy ``symbols``, one per variable."""
        return [getattr(sympy, kind)(k * s) for k in range(1, self.n_frequencies + 1) for s in symbols
                for kind in self._kinds()]


@dataclasses.dataclass(frozen=True, init=False)
class CustomLibrary(Library):
    """User functions applied to the state variables. ``functions``: JAX functions of one or more arrays;
    ``names``: one format string per function with one ``{}`` per argument (e.g. "exp({})",
    "{}/{}"), or a callable returning the name from the variable names. A function of k arguments is
    applied to every combination of k distinct variables. ``sympy_functions`` (optional) gives the
    sympy counterpart of each function for `SINDy.to_sympy`; by default the sympy function of the same
    name (jnp.exp -> sympy.exp), else an undefined sympy Function."""
    functions: tuple
    names_: tuple = None
    sympy_functions: tuple = None

    def __init__(self, functions, names=None, sympy_functions=None):
        functions = tuple(functions)
        if not functions or not all(callable(f) for f in functions):
            raise ValueError("CustomLibrary: functions must be a non-empty sequence of callables")
        if names is None:
            names = tuple(_default_format(f) for f in functions)
        names = tuple(names)
        if len(names) != len(functions):
            raise ValueError(f"CustomLibrary: names must have one entry per function ({len(functions)}); "
                             f"got {len(names)}")
        if sympy_functions is not None:
            sympy_functions = tuple(sympy_functions)
            if len(sympy_functions) != len(functions):
                raise ValueError(f"CustomLibrary: sympy_functions must have one entry per function "
                                 f"({len(functions)}); got {len(sympy_functions)}")
        object.__setattr__(self, "functions", functions)
        object.__setattr__(self, "names_", names)
        object.__setattr__(self, "sympy_functions", sympy_functions)

    def _arity(self, j):
        name = self.names_[j]
        if callable(name):
            return _callable_arity(self.functions[j])
        return sum(1 for _, field, _, _ in string.Formatter().parse(name) if field is not None)

    def _argument_sets(self, j, n_vars):
        return list(itertools.combinations(range(n_vars), self._arity(j)))

    def features(self, u):
        """Returns the library's terms evaluated at one state ``u`` of shape (n,), a (n_terms,) array: each function
        applied to every combination of as many distinct variables as it takes arguments."""
        columns = [f(*(u[i] for i in args)) for j, f in enumerate(self.functions)
                   for args in self._argument_sets(j, u.shape[0])]
        return jnp.stack([jnp.asarray(c, u.dtype) for c in columns])

    def names(self, variables):
        """Returns the terms' names (a tuple of n_terms strings) built from the variable names ``variables`` with the
        format strings (or callables) given as ``names``."""
        out = []
        for j, name in enumerate(self.names_):
            for args in self._argument_sets(j, len(variables)):
                vs = [variables[i] for i in args]
                out.append(name(*vs) if callable(name) else name.format(*vs))
        return tuple(out)

    def symbolic(self, symbols):
        """Returns the terms as sympy expressions (a list of n_terms) of the sympy ``symbols``, one per variable
        (``sympy_functions``, or the sympy function of the same name)."""
        out = []
        for j, f in enumerate(self.functions):
            g = self.sympy_functions[j] if self.sympy_functions else _sympy_counterpart(f)
            out += [g(*(symbols[i] for i in args)) for args in self._argument_sets(j, len(symbols))]
        return out


def _callable_arity(f) -> int:
    import inspect
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(1 for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)) or 1


def _default_format(f) -> str:
    name = getattr(f, "__name__", "f")
    name = "f" if name == "<lambda>" else name
    return f"{name}(" + ",".join(["{}"] * _callable_arity(f)) + ")"


def _sympy_counterpart(f) -> Callable:
    name = getattr(f, "__name__", "f")
    fn = getattr(sympy, name, None)
    return fn if callable(fn) and name != "<lambda>" else sympy.Function(name if name != "<lambda>" else "f")


@dataclasses.dataclass(frozen=True)
class ConcatLibrary(Library):
    """The terms of several libraries side by side (made by `a + b`)."""
    libraries: tuple

    def features(self, u):
        """Returns the library's terms evaluated at one state ``u`` of shape (n,), a (n_terms,) array: the libraries'
        terms side by side."""
        return jnp.concatenate([lib.features(u) for lib in self.libraries])

    def names(self, variables):
        """Returns the terms' names (a tuple of n_terms strings) built from the variable names ``variables``."""
        return tuple(n for lib in self.libraries for n in lib.names(variables))

    def symbolic(self, symbols):
        """Returns the terms as sympy expressions (a list of n_terms) of the sympy ``symbols``, one per variable."""
        return [e for lib in self.libraries for e in lib.symbolic(symbols)]


@dataclasses.dataclass(frozen=True)
class TensorLibrary(Library):
    """Every product of a term of ``left`` with a term of ``right`` (made by `a * b`), left-major order; a
    constant factor "1" is dropped from the name."""
    left: Library
    right: Library

    def features(self, u):
        """Returns the library's terms evaluated at one state ``u`` of shape (n,), a (n_terms,) array: every product
        of a term of ``left`` and a term of ``right``."""
        return jnp.outer(self.left.features(u), self.right.features(u)).reshape(-1)

    def names(self, variables):
        """Returns the terms' names (a tuple of n_terms strings) built from the variable names ``variables`` ('1'
        factors dropped)."""
        return tuple(_product_name(a, b) for a in self.left.names(variables) for b in self.right.names(variables))

    def symbolic(self, symbols):
        """Returns the terms as sympy expressions (a list of n_terms) of the sympy ``symbols``, one per variable."""
        return [a * b for a in self.left.symbolic(symbols) for b in self.right.symbolic(symbols)]


def _product_name(a, b):
    return b if a == "1" else a if b == "1" else f"{a}*{b}"
