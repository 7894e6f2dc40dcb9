"""SRA1: Rößler's two-stage SRA1 scheme, strong order 1.5 for additive noise (deterministic order 2),
adaptive. Tableau: Rößler 2010, SIAM J. Numer. Anal. 48(3), the SRA1 tableau; numbers as tabulated in
StochasticDiffEq.jl (constructSRA1)."""
from .sra import SRA, SRATableau

SRA1_TABLEAU = SRATableau.of(
    c0=[0, 3 / 4],
    c1=[1, 0],
    A0=[[0, 0], [3 / 4, 0]],
    B0=[[0, 0], [3 / 2, 0]],
    alpha=[1 / 3, 2 / 3],
    beta1=[1, 0],
    beta2=[-1, 1],
)


class SRA1(SRA):
    """Rößler's SRA1: strong order 1.5 for additive noise (Itô = Stratonovich), adaptive (rtol, atol).
    ``delta``: weight of the drift's part in the error estimate (default 1/6)."""
    tableau = SRA1_TABLEAU
