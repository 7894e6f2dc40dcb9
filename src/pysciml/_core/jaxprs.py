"""The jaxpr classes (Literal, Jaxpr, ClosedJaxpr) for the interpreters that walk a traced f (sparsity
detection, the GPU kernel's lanes), without importing ``jax.extend``: importing any part of it imports all
of it, Pallas and its GPU backends included (about 0.3 s), which ``import pysciml`` must not pay for options
most solves never use. The classes are read off a tiny traced function at first use."""
import functools

import jax
import numpy as np


@functools.cache
def _classes():
    closed = jax.make_jaxpr(lambda x: x + 1.0)(1.0)
    return closed.jaxpr.eqns[0].invars[1].__class__, closed.jaxpr.__class__, closed.__class__


def is_literal(v):
    """True for a jaxpr constant operand (``jax.extend.core.Literal``), False for a variable."""
    return isinstance(v, _classes()[0])


def is_jaxpr(x):
    return isinstance(x, _classes()[1])


def is_closed_jaxpr(x):
    return isinstance(x, _classes()[2])


def primitive_names(closed):
    """The names of every primitive a (closed) jaxpr uses, its sub-jaxprs' (loop bodies, branches, nested
    calls) included."""
    return {eqn.primitive.name for eqn in _equations(closed)}


def largest_array(closed):
    """The number of elements of the largest array any equation of a (closed) jaxpr makes, sub-jaxprs
    included."""
    sizes = [int(np.prod(v.aval.shape)) for eqn in _equations(closed) for v in eqn.outvars
             if hasattr(v.aval, "shape")]
    return max(sizes, default=0)


def _equations(closed):
    stack = [closed.jaxpr if is_closed_jaxpr(closed) else closed]
    while stack:
        jaxpr = stack.pop()
        for eqn in jaxpr.eqns:
            yield eqn
            for value in eqn.params.values():
                for sub in (value if isinstance(value, (tuple, list)) else (value,)):
                    if is_closed_jaxpr(sub):
                        stack.append(sub.jaxpr)
                    elif is_jaxpr(sub):
                        stack.append(sub)
