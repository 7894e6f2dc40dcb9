"""Layer 2: solvers. A method is a tableau (data) run by its family's generic stepper."""
from .explicit import *  # noqa: F401,F403
from .explicit import __all__ as _explicit
from .tableau import ButcherTableau

__all__ = ["ButcherTableau", *_explicit]
