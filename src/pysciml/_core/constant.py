"""`Constant`: loop inputs that no derivative flows to, whatever their dtype.

The sensitivity methods differentiate the floating-point leaves of the loop's parameters (see
`sensitivity.inputs.InputSplit`). Some float data travels there only to be read, never to be
differentiated: an SDE's Brownian path (its bulk normals, a noise grid), whose tangents would only cost
(forward mode forms one column per flat input: a path of 10⁴ steps would add 2·10⁴·m of them). Wrapped
in `Constant`, such data is carried along like an integer leaf.
"""
import jax


@jax.tree_util.register_pytree_node_class
class Constant:
    """A pytree node holding ``value`` (any pytree); its leaves are never differentiated by `solve`'s
    sensitivity methods."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def tree_flatten(self):
        return (self.value,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0])

    def __repr__(self):
        return f"Constant({self.value!r})"


def is_constant(x) -> bool:
    return isinstance(x, Constant)
