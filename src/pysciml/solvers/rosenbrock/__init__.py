"""Rosenbrock (linearly implicit) methods for stiff problems: each one tableau run by `Rosenbrock`. One file
per method: its published coefficients (validated by the order conditions on import) and its class."""
from .rodas4 import Rodas4
from .rodas5p import Rodas5P
from .rosenbrock23 import Rosenbrock23
from .stepper import Rosenbrock

__all__ = ["Rodas4", "Rodas5P", "Rosenbrock", "Rosenbrock23"]
