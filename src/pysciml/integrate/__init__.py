"""Layer 3 (private): the integration loop. It fills buffers (`LoopOutput`); `solve` turns them into the
solution users hold (`pysciml.solution`)."""
from .loop import LoopConfig, LoopInputs, integrate

__all__ = ["LoopConfig", "LoopInputs", "integrate"]
