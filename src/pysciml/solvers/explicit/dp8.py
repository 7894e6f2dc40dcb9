"""Dormand–Prince 8(5,3) ("DOP853") with its seventh-order dense output.

Method from E. Hairer, S. P. Nørsett and G. Wanner, *Solving Ordinary Differential Equations I*, 2nd ed.,
Springer (1993), Sect. II.10, as implemented in Hairer's Fortran code DOP853 (dop853.f). The coefficients
below are the published decimals of that code (they agree with scipy's ``_dop853_coefficients.py``); stage
numbers follow the code: k1..k12 the step's stages, k13 = f(u1) (FSAL), k14..k16 the extra stages of the
dense output.

Error estimate: DOP853 combines a fifth-order estimate e5 = h Σ er_j k_j (``b_error``) with a third-order
one e3 = h Σ (b − bhh)_j k_j as err = ‖e5‖² / sqrt(‖e5‖² + 0.01 ‖e3‖²), which behaves like O(h^8) but
is more robust for large steps; `DP8.error` does this, and the step-size exponent is 1/8.

Dense output: DOP853 stores rcont1..rcont8 and evaluates, with θ1 = 1 − θ,

    u(t0 + θh) = rcont1 + θ(rcont2 + θ1(rcont3 + θ(rcont4 + θ1(rcont5 + θ(rcont6 + θ1(rcont7 + θ rcont8)))))),

    rcont1 = u0, rcont2 = u1 − u0 = h Σ b_j k_j, rcont3 = h k1 − rcont2, rcont4 = rcont2 − h k13 − rcont3,
    rcont(4+m) = h Σ_j d_{m,j} k_j  (m = 1..4, j over the 16 stages).

`_dense_weights` expands this nested form into the polynomial weights b_j(θ) = Σ_{m=1..7} W[j][m-1] θ^m
that `ButcherTableau` uses.
"""
import jax.numpy as jnp
import numpy as np

from ..._core.trees import linear_combination
from .tableau import ButcherTableau
from .erk import ExplicitRK

_C = (
    0.0,
    0.526001519587677318785587544488e-01,
    0.789002279381515978178381316732e-01,
    0.118350341907227396726757197510,
    0.281649658092772603273242802490,
    0.333333333333333333333333333333,
    0.25,
    0.307692307692307692307692307692,
    0.651282051282051282051282051282,
    0.6,
    0.857142857142857142857142857142,
    1.0,
    1.0,  # k13 = f(u1)
)
_C_EXTRA = (0.1, 0.2, 0.777777777777777777777777777778)  # c14, c15, c16

_B12 = (
    5.42937341165687622380535766363e-2,  # b1
    0.0, 0.0, 0.0, 0.0,
    4.45031289275240888144113950566,  # b6
    1.89151789931450038304281599044,  # b7
    -5.8012039600105847814672114227,  # b8
    3.1116436695781989440891606237e-1,  # b9
    -1.52160949662516078556178806805e-1,  # b10
    2.01365400804030348374776537501e-1,  # b11
    4.47106157277725905176885569043e-2,  # b12
)

_A = (
    (),
    (5.26001519587677318785587544488e-2,),
    (1.97250569845378994544595329183e-2, 5.91751709536136983633785987549e-2),
    (2.95875854768068491816892993775e-2, 0.0, 8.87627564304205475450678981324e-2),
    (2.41365134159266685502369798665e-1, 0.0, -8.84549479328286085344864962717e-1,
     9.24834003261792003115737966543e-1),
    (3.7037037037037037037037037037e-2, 0.0, 0.0, 1.70828608729473871279604482173e-1,
     1.25467687566822425016691814123e-1),
    (3.7109375e-2, 0.0, 0.0, 1.70252211019544039314978060272e-1, 6.02165389804559606850219397283e-2,
     -1.7578125e-2),
    (3.70920001185047927108779319836e-2, 0.0, 0.0, 1.70383925712239993810214054705e-1,
     1.07262030446373284651809199168e-1, -1.53194377486244017527936158236e-2,
     8.27378916381402288758473766002e-3),
    (6.24110958716075717114429577812e-1, 0.0, 0.0, -3.36089262944694129406857109825,
     -8.68219346841726006818189891453e-1, 2.75920996994467083049415600797e1,
     2.01540675504778934086186788979e1, -4.34898841810699588477366255144e1),
    (4.77662536438264365890433908527e-1, 0.0, 0.0, -2.48811461997166764192642586468,
     -5.90290826836842996371446475743e-1, 2.12300514481811942347288949897e1,
     1.52792336328824235832596922938e1, -3.32882109689848629194453265587e1,
     -2.03312017085086261358222928593e-2),
    (-9.3714243008598732571704021658e-1, 0.0, 0.0, 5.18637242884406370830023853209,
     1.09143734899672957818500254654, -8.14978701074692612513997267357,
     -1.85200656599969598641566180701e1, 2.27394870993505042818970056734e1,
     2.49360555267965238987089396762, -3.0467644718982195003823669022),
    (2.27331014751653820792359768449, 0.0, 0.0, -1.05344954667372501984066689879e1,
     -2.00087205822486249909675718444, -1.79589318631187989172765950534e1,
     2.79488845294199600508499808837e1, -2.85899827713502369474065508674,
     -8.87285693353062954433549289258, 1.23605671757943030647266201528e1,
     6.43392746015763530355970484046e-1),
    _B12,  # k13 = f(u1)
)

_A_EXTRA = (
    # k14: row a14,j, j = 1..13
    (5.61675022830479523392909219681e-2, 0.0, 0.0, 0.0, 0.0, 0.0,
     2.53500210216624811088794765333e-1, -2.46239037470802489917441475441e-1,
     -1.24191423263816360469010140626e-1, 1.5329179827876569731206322685e-1,
     8.20105229563468988491666602057e-3, 7.56789766054569976138603589584e-3, -8.298e-3),
    # k15: row a15,j, j = 1..14
    (3.18346481635021405060768473261e-2, 0.0, 0.0, 0.0, 0.0, 2.83009096723667755288322961402e-2,
     5.35419883074385676223797384372e-2, -5.49237485713909884646569340306e-2, 0.0, 0.0,
     -1.08347328697249322858509316994e-4, 3.82571090835658412954920192323e-4,
     -3.40465008687404560802977114492e-4, 1.41312443674632500278074618366e-1),
    # k16: row a16,j, j = 1..15
    (-4.28896301583791923408573538692e-1, 0.0, 0.0, 0.0, 0.0, -4.69762141536116384314449447206,
     7.68342119606259904184240953878, 4.06898981839711007970213554331,
     3.56727187455281109270669543021e-1, 0.0, 0.0, 0.0, -1.39902416515901462129418009734e-3,
     2.9475147891527723389556272149, -9.15095847217987001081870187138),
)

# Fifth-order error weights er_j (b − b̂ for the fifth-order embedded method), j = 1..13.
_ER = (
    0.1312004499419488073250102996e-01, 0.0, 0.0, 0.0, 0.0,
    -0.1225156446376204440720569753e+01,
    -0.4957589496572501915214079952,
    0.1664377182454986536961530415e+01,
    -0.3503288487499736816886487290,
    0.3341791187130174790297318841,
    0.8192320648511571246570742613e-01,
    -0.2235530786388629525884427845e-01,
    0.0,
)

# Third-order embedded weights bhh (stages 1, 9 and 12).
_BHH = {0: 0.244094488188976377952755905512, 8: 0.733846688281611857341361741547,
        11: 0.220588235294117647058823529412e-01}

# d_{m,j} of DOP853 (m = 4..7 in the code's naming, rcont5..rcont8), j = 1..16.
_D = (
    (-0.84289382761090128651353491142e+01, 0.0, 0.0, 0.0, 0.0, 0.56671495351937776962531783590,
     -0.30689499459498916912797304727e+01, 0.23846676565120698287728149680e+01,
     0.21170345824450282767155149946e+01, -0.87139158377797299206789907490,
     0.22404374302607882758541771650e+01, 0.63157877876946881815570249290,
     -0.88990336451333310820698117400e-01, 0.18148505520854727256656404962e+02,
     -0.91946323924783554000451984436e+01, -0.44360363875948939664310572000e+01),
    (0.10427508642579134603413151009e+02, 0.0, 0.0, 0.0, 0.0, 0.24228349177525818288430175319e+03,
     0.16520045171727028198505394887e+03, -0.37454675472269020279518312152e+03,
     -0.22113666853125306036270938578e+02, 0.77334326684722638389603898808e+01,
     -0.30674084731089398182061213626e+02, -0.93321305264302278729567221706e+01,
     0.15697238121770843886131091075e+02, -0.31139403219565177677282850411e+02,
     -0.93529243588444783865713862664e+01, 0.35816841486394083752465898540e+02),
    (0.19985053242002433820987653617e+02, 0.0, 0.0, 0.0, 0.0, -0.38703730874935176555105901742e+03,
     -0.18917813819516756882830838328e+03, 0.52780815920542364900561016686e+03,
     -0.11573902539959630126141871134e+02, 0.68812326946963000169666922661e+01,
     -0.10006050966910838403183860980e+01, 0.77771377980534432092869265740,
     -0.27782057523535084065932004339e+01, -0.60196695231264120758267380846e+02,
     0.84320405506677161018159903784e+02, 0.11992291136182789328035130030e+02),
    (-0.25693933462703749003312586129e+02, 0.0, 0.0, 0.0, 0.0, -0.15418974869023643374053993627e+03,
     -0.23152937917604549567536039109e+03, 0.35763911791061412378285349910e+03,
     0.93405324183624310003907691704e+02, -0.37458323136451633156875139351e+02,
     0.10409964950896230045147246184e+03, 0.29840293426660503123344363579e+02,
     -0.43533456590011143754432175058e+02, 0.96324553959188282948394950600e+02,
     -0.39177261675615439165231486172e+02, -0.14972683625798562581422125276e+03),
)


def _dense_weights():
    """Expand DOP853's nested dense output into W with b_j(θ) = Σ_{m=1..7} W[j][m-1] θ^m.

    Each rcont_i / h is a coefficient vector over the 16 stages (rcont1 = u0 is the constant term and
    drops out). The nested form is evaluated from the inside out with polynomials in θ whose coefficients
    are those stage vectors: an array of shape (degree + 1, 16), row m holding the θ^m coefficients.
    """
    n = 16
    b = np.zeros(n)
    b[:12] = _B12
    e1, e13 = np.eye(n)[0], np.eye(n)[12]
    r2 = b
    r3 = e1 - b
    r4 = r2 - e13 - r3
    r5, r6, r7, r8 = (np.asarray(d) for d in _D)

    def times_theta(vec_poly):
        """θ × (polynomial with vector coefficients): shift every coefficient up one power."""
        return np.vstack([np.zeros((1, n)), vec_poly])

    def times_theta1(vec_poly):
        """(1 − θ) × (polynomial with vector coefficients)."""
        return np.vstack([vec_poly, np.zeros((1, n))]) - times_theta(vec_poly)

    def plus(vec, vec_poly):
        out = vec_poly.copy()
        out[0] += vec
        return out

    poly = r8[None, :]
    for r, times in ((r7, times_theta), (r6, times_theta1), (r5, times_theta), (r4, times_theta1),
                     (r3, times_theta), (r2, times_theta1)):
        poly = plus(r, times(poly))
    poly = times_theta(poly)        # the outer θ( … )
    assert np.all(poly[0] == 0.0) and poly.shape == (8, n)
    return tuple(tuple(float(x) for x in poly[1:, j]) for j in range(n))


DP8_TABLEAU = ButcherTableau(
    name="DP8",
    order=8,
    c=_C,
    a=_A,
    b=_B12 + (0.0,),
    b_error=_ER,
    embedded_order=5,
    fsal=True,
    dense_order=7,
    dense_weights=_dense_weights(),
    c_extra=_C_EXTRA,
    a_extra=_A_EXTRA,
)


class DP8(ExplicitRK):
    """Dormand–Prince 8(5,3) as in Hairer's DOP853: an eighth-order method with twelve stages plus f(u1)
    reused as the next step's first stage (FSAL), whose error is estimated by combining a fifth- and a
    third-order estimate, err = ‖e5‖² / sqrt(‖e5‖² + 0.01 ‖e3‖²), with step-size exponent 1/8. Its
    seventh-order dense output costs three further function evaluations per step, made only when the
    interpolant is used. The method of choice for smooth non-stiff problems at tight tolerances."""
    tableau = DP8_TABLEAU

    # Weights of the third-order estimate e3 = h Σ (b − bhh)_j k_j, j = 1..13.
    B_ERROR3 = tuple(b - _BHH.get(j, 0.0) for j, b in enumerate(_B12)) + (0.0,)

    @property
    def controller_order(self) -> int:
        return 7

    def error(self, ks, dt, u, u_new, error_norm):
        """DOP853's combined error estimate ‖e5‖² / sqrt(‖e5‖² + 0.01 ‖e3‖²), 0 when both vanish (Hairer,
        Nørsett & Wanner, Solving ODEs I, II.10). ``ks``: the stages of the step of size ``dt`` from ``u`` to
        ``u_new``; ``error_norm(err, u, u_new)``: the scaled tolerance norm. Returns the scalar scaled error.
        """
        e5 = error_norm(dt * linear_combination(None, dt, self.tableau.b_error, ks), u, u_new)
        e3 = error_norm(dt * linear_combination(None, dt, self.B_ERROR3, ks), u, u_new)
        denominator = e5 * e5 + 0.01 * e3 * e3
        positive = denominator > 0
        return jnp.where(positive, e5 * e5 / jnp.sqrt(jnp.where(positive, denominator, 1.0)), 0.0)
