"""Solutions indexed by symbol: ``sol[x]``, ``sol[resistor.v]``, ``sol[observed]``, ``sol(t, idxs=x)``.

A problem from `md.ODEProblem` carries its symbol map in its f (`CompiledRHS.symbolic_values`), and
`pysciml.ODESolution` asks its f, so any solve of such a problem (``ps.solve``, an ensemble member, a
jitted solve) is indexable; `solve` here is `pysciml.solve` with a check that the problem is symbolic."""


def solve(prob, alg=None, *args, **kwargs):
    """`pysciml.solve` of ``prob`` (from md.ODEProblem) by ``alg``, other arguments passed through. Returns the
    solution, indexable by symbol or name (``sol[x]``, ``sol["resistor.v"]``), observed variables included.
    """
    # Imported here: modeling (layer 2) must not import the solve pipeline (layer 5) at import time.
    from ..solve import solve as _solve
    if not hasattr(getattr(prob, "f", None), "symbolic_values"):
        raise TypeError("md.solve: prob must come from md.ODEProblem (its f carries the system); use ps.solve otherwise")
    return _solve(prob, alg, *args, **kwargs)
