"""SRIW1: Rößler's SRI1W1 scheme, strong order 1.5 for diagonal and scalar Itô noise, adaptive.

Tableau: Rößler 2010, SIAM J. Numer. Anal. 48(3), the SRI1W1 tableau; the numbers as tabulated in
StochasticDiffEq.jl (constructSRIW1). Four stages: two drift evaluations (α₃ = α₄ = 0 and no stage reads
f at stages 3–4, so `SRI` skips them) and four diffusion evaluations per step."""
from .sri import SRI, SRITableau

SRIW1_TABLEAU = SRITableau.of(
    c0=[0, 3 / 4, 0, 0],
    c1=[0, 1 / 4, 1, 1 / 4],
    A0=[[0, 0, 0, 0], [3 / 4, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    A1=[[0, 0, 0, 0], [1 / 4, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1 / 4, 0]],
    B0=[[0, 0, 0, 0], [3 / 2, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    B1=[[0, 0, 0, 0], [1 / 2, 0, 0, 0], [-1, 0, 0, 0], [-5, 3, 1 / 2, 0]],
    alpha=[1 / 3, 2 / 3, 0, 0],
    beta1=[-1, 4 / 3, 2 / 3, 0],
    beta2=[-1, 4 / 3, -1 / 3, 0],
    beta3=[2, -4 / 3, -2 / 3, 0],
    beta4=[-2, 5 / 3, -2 / 3, 1],
)


class SRIW1(SRI):
    """Rößler's SRI1W1: strong order 1.5, weak order 2 (diagonal/scalar Itô noise), adaptive (rtol, atol).
    ``delta``: weight of the drift's part in the error estimate (default 1/6)."""
    tableau = SRIW1_TABLEAU
