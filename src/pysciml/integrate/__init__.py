"""Layer 3 (private): the integration loop and the solution type it fills."""
from .loop import LoopConfig, LoopInputs, integrate
from .solution import DenseOutput, ODESolution

__all__ = ["DenseOutput", "LoopConfig", "LoopInputs", "ODESolution", "integrate"]
