"""Verner's "most efficient" 7(6) pair with its seventh-order interpolant.

Coefficients: J. H. Verner, "Numerically optimal Runge–Kutta pairs with interpolants", Numerical Algorithms
53 (2010) 383–396, and Verner's web page of coefficients (pair RKV76.IIa "efficient", 10 stages, with the
order-7 interpolant that adds 6 stages). The pair is Verner's 2007 one (exact coefficients rounded to double
precision, as in the Float64 listing of OrdinaryDiffEq.jl's ``verner_tableaus.jl``). The interpolant is the
corrected one Verner published in July 2024 (file RKV76.IIa.Efficient.00001675585.240711): the 2007 extra
stages (c = 0.29, 0.125, …) miss order 7 by about 3e-7 in the order conditions, which the check in
`ButcherTableau` rejects. Its extra stages and weights were taken from the 36-digit values listed in CyRK
(jrenaud90/CyRK, ``CyRK/cy/rk.cpp``), which stores the interpolant as its values at seven nodes in θ; those
were converted to the monomial weights below in exact rational arithmetic and rounded once (the converted
θ¹ weights of stages 4–16 vanish to 1e-35, as they must). `ButcherTableau` checks every order condition at
import.

Stages are numbered from 1 as in Verner's listing. Stage 10 enters only the error estimate (b_10 = 0);
extra stage 11 (c = 1) is f(u1), the first of the six stages that the interpolant evaluates lazily.
"""
from .tableau import ButcherTableau
from .erk import ExplicitRK


def _row(n, entries):
    """A tuple of ``n`` floats from a {stage number (from 1): value} mapping, zero elsewhere."""
    return tuple(float(entries.get(j, 0.0)) for j in range(1, n + 1))


_C = (0.0, 0.005, 0.10888888888888888, 0.16333333333333333, 0.4555, 0.6095094489978381, 0.884, 0.925,
      1.0, 1.0)

_A = (
    (),
    _row(1, {1: 0.005}),
    _row(2, {1: -1.07679012345679, 2: 1.185679012345679}),
    _row(3, {1: 0.04083333333333333, 3: 0.1225}),
    _row(4, {1: 0.6389139236255726, 3: -2.455672638223657, 4: 2.272258714598084}),
    _row(5, {1: -2.6615773750187572, 3: 10.804513886456137, 4: -8.3539146573962, 5: 0.820487594956657}),
    _row(6, {1: 6.067741434696772, 3: -24.711273635911088, 4: 20.427517930788895, 5: -1.9061579788166472,
             6: 1.006172249242068}),
    _row(7, {1: 12.054670076253203, 3: -49.75478495046899, 4: 41.142888638604674, 5: -4.461760149974004,
             6: 2.042334822239175, 7: -0.09834843665406107}),
    _row(8, {1: 10.138146522881808, 3: -42.6411360317175, 4: 35.76384003992257, 5: -4.3480228403929075,
             6: 2.0098622683770357, 7: 0.3487490460338272, 8: -0.27143900510483127}),
    _row(9, {1: -45.030072034298676, 3: 187.3272437654589, 4: -154.02882369350186, 5: 18.56465306347536,
             6: -7.141809679295079, 7: 1.3088085781613787}),
)

_B_ENTRIES = {1: 0.04715561848627222, 4: 0.25750564298434153, 5: 0.26216653977412624, 6: 0.15216092656738558,
              7: 0.4939969170032485, 8: -0.29430311714032503, 9: 0.08131747232495111}
_B = _row(10, _B_ENTRIES)

# b − b̂: the embedded sixth-order weights b̂ use stages 1, 4–7 and 10.
_B_ERROR = _row(10, {1: 0.002547011879931045, 4: -0.00965839487279575, 5: 0.04206470975639691,
                     6: -0.0666822437469301, 7: 0.2650097464621281, 8: -0.29430311714032503,
                     9: 0.08131747232495111, 10: -0.02029518466335628})

# Extra stages 11–16 of the interpolant; each row runs over stages 1..(its number − 1). Stage 11 (c = 1) is
# f(u1); stages 12–16 are those of Verner's corrected interpolant (July 2024, see the module docstring).
_C_EXTRA = (1.0, 0.6716626365038747, 0.125, 0.25, 0.53, 0.79)
_A_EXTRA = (
    _row(10, _B_ENTRIES),
    _row(11, {1: 0.04608828480030098, 4: 0.26095211559122217, 5: 0.2593539886572149, 6: 0.10712848532313586,
              7: -0.07335737007803501, 8: 0.09516817597231149, 9: -0.05557470923733998,
              11: 0.03190366547506434}),
    _row(12, {1: 0.05837333975598387, 4: 0.08577524236694001, 5: -0.03429204581002123, 6: -0.02818259731103036,
              7: -0.02078116148802372, 8: -0.0036707401444410195, 9: 0.011406452584364688,
              11: -0.002750153913374408, 12: 0.05912166395960217}),
    _row(13, {1: 0.037816201678944845, 4: 0.031346785326310744, 5: 0.02225110077526238,
              6: 0.009958131955421001, 7: 0.015223096043899926, 8: -0.007547047454118317,
              9: 0.0013158882065466297, 11: -0.002347519033359897, 12: -0.024269839327928092,
              13: 0.16625320182902079}),
    _row(14, {1: 0.05345075085525607, 4: 0.34301733821384506, 5: 0.20767427262033986, 6: 0.07722675619395836,
              7: 0.00013272687985611353, 8: 0.022219958202462402, 9: -0.017410228868402326,
              11: 0.0071975937699150306, 12: -0.08645504868462665, 13: -0.07705411918260392}),
    _row(15, {1: 0.05681087911635884, 4: 0.36852219016184323, 5: 0.22940605301030753, 6: 0.08854425014313802,
              7: 0.02937879283098644, 8: 0.005463456745004648, 9: -0.01311750049635595,
              11: 0.005109093689745297, 12: 0.12419640895877533, 13: -0.1043136241598034}),
)

# b_j(θ) = Σ_{m=1..7} W[j][m−1] θ^m; stages 2, 3 and 10 have zero weight.
_W_ENTRIES = {
    1: (1.0, -8.366136708817907, 33.45564674491339, -70.50417466572665, 80.67397907967836, -47.49724826833688,
        11.28508943677596),
    4: (0.0, 13.822881552117133, -112.04150066933103, 378.80182330392614, -626.3590532637976, 497.1667710334457,
        -151.13341631337596),
    5: (0.0, 14.07307810511366, -114.06947125956815, 385.6582019903894, -637.6962607392367, 506.1655757984283,
        -153.86895735535242),
    6: (0.0, 8.16798591450387, -66.20568915797485, 223.8352361965341, -370.11761297318577, 293.7774709021209,
        -89.3052299554309),
    7: (0.0, 26.517713521571906, -214.93958449070786, 726.6906103441299, -1201.602565533699, 953.7610488090023,
        -289.9332257332943),
    8: (0.0, -15.798166912004106, 128.05219533798348, -432.93248289538707, 715.865561966764, -568.2117438592624,
        172.7303332447658),
    9: (0.0, 4.36511516811192, -35.38148338938862, 119.62148256700969, -197.79735460926827, 156.99984154077703,
        -47.72628380491679),
    11: (0.0, -3.274137494621028, 27.15609115402443, -93.85378772108284, 158.59209585933854, -128.87650569842114,
         40.25624390076204),
    12: (0.0, 5.921404526401594, -27.552998537066152, 37.272033018740885, 3.387133200887934, -37.98539394174189,
         18.957821732777628),
    13: (0.0, 8.487477767791544, -39.493242097657294, 53.42407366300933, 4.8549660153948455, -54.44657346814621,
         27.17329811960779),
    14: (0.0, -19.186819751360847, 167.14983136102234, -537.8357359160404, 827.7451797910091, -614.6483785211819,
         176.77592303655177),
    15: (0.0, -15.883752349342663, 109.64035230222805, -328.15049709039147, 514.4013813786597, -403.4939189483438,
         123.4864347071902),
    16: (0.0, -18.84664333946508, 144.22985270152228, -462.026782795111, 728.0525498274546, -552.71094537834,
         161.3019689839392),
}
_W = tuple(tuple(float(x) for x in _W_ENTRIES.get(j, (0.0,) * 7)) for j in range(1, 17))

VERN7 = ButcherTableau(name="Vern7", order=7, embedded_order=6, fsal=False, dense_order=7,
                       c=_C, a=_A, b=_B, b_error=_B_ERROR,
                       dense_weights=_W, c_extra=_C_EXTRA, a_extra=_A_EXTRA)


class Vern7(ExplicitRK):
    """Verner's "most efficient" 7(6) pair: ten stages per step (the tenth only feeds the sixth-order error
    estimate), local extrapolation with the seventh-order solution, and a seventh-order continuous
    extension that costs six more function evaluations, made only on steps where dense output is used.
    A good default for smooth problems at tight tolerances (about 1e-7 to 1e-12) where Tsitouras 5(4)
    or Dormand–Prince take too many steps."""
    tableau = VERN7
