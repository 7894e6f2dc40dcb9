"""pysciml.modeling: compiled systems give the same solutions as hand-written right-hand sides, analytic
Jacobians equal forward-mode AD, sparsity patterns are exact, index reduction keeps the pendulum on its
circle, and bad input is refused before compiling."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
import pysciml.modeling as md
from pysciml.modeling.library import electrical as el
from pysciml.modeling.library import thermal as th
from pysciml.modeling.library import translational as tr

D = md.D
TIGHT = dict(rtol=1e-10, atol=1e-12)


def random_points(n, k=3, seed=0, scale=1.0):
    return np.random.default_rng(seed).uniform(0.2, 1.2, (k, n)) * scale


def check_jacobian_and_pattern(prob, points):
    """Analytic J == jax.jacfwd of the generated f; the pattern == the non-zeros of J at generic points."""
    pattern = np.asarray(prob.jac_prototype.to_scipy().todense())
    seen = np.zeros_like(pattern)
    for u in points:
        u = jnp.asarray(u)
        analytic = np.asarray(prob.jac(u, prob.p, 0.3))
        ad = np.asarray(jax.jacfwd(lambda x: prob.f(x, prob.p, 0.3))(u))
        np.testing.assert_allclose(analytic, ad, rtol=1e-13, atol=1e-13 * np.abs(ad).max())
        assert not np.any((ad != 0) & ~pattern), "a non-zero outside the sparsity pattern"
        seen |= ad != 0
    np.testing.assert_array_equal(seen, pattern)     # no structural entry that is always zero


# --- Robertson ----------------------------------------------------------------------------------------
y1, y2, y3 = md.variables("y1 y2 y3")
k1, k2, k3 = md.parameters("k1 k2 k3")
ROBER_P = {k1: 0.04, k2: 3e7, k3: 1e4}


def rober_f(u, p, t):     # hand-written, p = (k1, k2, k3)
    return jnp.array([-p[0] * u[0] + p[2] * u[1] * u[2], p[0] * u[0] - p[1] * u[1] ** 2 - p[2] * u[1] * u[2],
                      p[1] * u[1] ** 2])


@pytest.fixture(scope="module")
def rober():
    sys = md.ODESystem([md.Eq(D(y1), -k1 * y1 + k3 * y2 * y3), md.Eq(D(y2), k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3),
                        md.Eq(D(y3), k2 * y2 ** 2)], name="robertson")
    return md.ODEProblem(sys, u0={y1: 1.0, "y2": 0.0, y3: 0.0}, tspan=(0.0, 1e5), p=ROBER_P, jac=True, sparse=True)


def test_robertson_matches_hand_written_f(rober):
    ts = jnp.array([1e-2, 1.0, 1e2, 1e4, 1e5])
    assert [str(s) for s in rober.f.unknowns] == ["y1(t)", "y2(t)", "y3(t)"]
    sol = md.solve(rober, ps.Rodas5P(), saveat=ts, **TIGHT)
    p = jnp.array([0.04, 3e7, 1e4])
    ref = ps.solve(ps.ODEProblem(rober_f, jnp.array([1.0, 0.0, 0.0]), (0.0, 1e5), p), ps.Rodas5P(), saveat=ts, **TIGHT)
    np.testing.assert_allclose(sol.u, ref.u, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(sol[y3], ref.u[:, 2], rtol=1e-8)
    # 1e-6 relative change of k1 moves y1(1e5) by ~1e-7 relative: the comparison above would see it
    perturbed = ps.solve(rober.remake(p=rober.p * jnp.array([1 + 1e-6, 1, 1])), ps.Rodas5P(), saveat=ts, **TIGHT)
    assert abs(perturbed.u[-1, 0] / ref.u[-1, 0] - 1) > 1e-8


def test_robertson_jacobian_and_sparsity(rober):
    check_jacobian_and_pattern(rober, random_points(3) * np.array([1, 1e-4, 1]))
    assert rober.jac_prototype.nnz == 7     # ∂ẏ3/∂y1 = ∂ẏ3/∂y3 = 0 = ∂ẏ1/∂y2 ... exactly 7 structural entries


def test_robertson_as_index1_dae_with_mass_matrix():
    """y3 = 1 − y1 − y2 kept algebraic (tearing=False): a singular mass matrix, solved by Rodas5P."""
    sys = md.ODESystem([md.Eq(D(y1), -k1 * y1 + k3 * y2 * y3), md.Eq(D(y2), k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3),
                        md.Eq(0, y1 + y2 + y3 - 1)], name="rober_dae")
    simple = md.structural_simplify(sys, tearing=False)
    assert simple.algebraic == (y3,)
    prob = md.ODEProblem(simple, u0={y1: 1.0, y2: 0.0, y3: 0.0}, tspan=(0.0, 1e5), p=ROBER_P, jac=True)
    np.testing.assert_array_equal(np.diag(prob.mass_matrix), [1.0, 1.0, 0.0])
    ts = jnp.array([1.0, 1e2, 1e5])
    sol = md.solve(prob, ps.Rodas5P(), saveat=ts, **TIGHT)
    ref = ps.solve(ps.ODEProblem(rober_f, jnp.array([1.0, 0.0, 0.0]), (0.0, 1e5), jnp.array([0.04, 3e7, 1e4])),
                   ps.Rodas5P(), saveat=ts, **TIGHT)
    np.testing.assert_allclose(sol[[y1, y2, y3]], ref.u, rtol=1e-7, atol=1e-13)
    # with tearing the same system becomes an ODE in (y1, y2) and y3 is observed
    torn = md.structural_simplify(sys)
    assert torn.unknowns == (y1, y2) and y3 in [e.lhs for e in torn.observed]


# --- reaction network -----------------------------------------------------------------------------------
G, M, P, P2 = md.variables("G M P P2")
kt, kp, kd, ku, dm, dp = md.parameters("kt kp kd ku dm dp")
NET_P = {kt: 2.0, kp: 5.0, kd: 0.01, ku: 0.1, dm: 0.5, dp: 0.2}


def gene_network():
    """Transcription, translation, dimerisation 2P <-> P2, degradation; a Hill-repressed extra transcription
    (custom rate law) makes it more than mass action."""
    K = md.parameters("K")
    return md.ReactionSystem([
        md.Reaction(kt, [G], [G, M]), md.Reaction(kp, [M], [M, P]), md.Reaction(kd, [P], [P2], substoich=[2]),
        md.Reaction(ku, [P2], [P], prodstoich=[2]), md.Reaction(dm, [M], None), md.Reaction(dp, [P], None),
        md.Reaction(kt * K ** 2 / (K ** 2 + P2 ** 2), None, [M], mass_action=False)], defaults={K: 20.0})


def gene_f(u, p, t):      # hand-written: u = (G, M, P, P2), p = (kt, kp, kd, ku, dm, dp, K)
    g, m, pr, p2 = u
    kt_, kp_, kd_, ku_, dm_, dp_, K_ = p
    dim = kd_ * pr ** 2 / 2 - ku_ * p2      # combinatoric factor 1/2! on 2P (Catalyst's convention)
    return jnp.array([0.0, kt_ * g - dm_ * m + kt_ * K_ ** 2 / (K_ ** 2 + p2 ** 2), kp_ * m - 2 * dim - dp_ * pr, dim])


def test_reaction_network_ode_matches_hand_written_f():
    rs = gene_network()
    prob = md.ODEProblem(rs, u0={G: 1, M: 0, P: 0, P2: 0}, tspan=(0.0, 30.0), p=NET_P, jac=True, sparse=True)
    names = [str(s) for s in prob.f.parameters]
    assert names == ["K", "kd", "kp", "kt", "ku", "dm", "dp"] or len(names) == 7
    pvals = {**{str(k): v for k, v in NET_P.items()}, "K": 20.0}
    hand_p = jnp.array([pvals[n] for n in ("kt", "kp", "kd", "ku", "dm", "dp", "K")])
    ts = jnp.linspace(0.0, 30.0, 7)
    sol = md.solve(prob, ps.Rodas5P(), saveat=ts, **TIGHT)
    ref = ps.solve(ps.ODEProblem(gene_f, jnp.array([1.0, 0, 0, 0]), (0.0, 30.0), hand_p), ps.Rodas5P(), saveat=ts, **TIGHT)
    np.testing.assert_allclose(sol[[G, M, P, P2]], ref.u, rtol=1e-8, atol=1e-10)
    check_jacobian_and_pattern(prob, random_points(4, scale=10.0))


def test_stoichiometry_and_propensities():
    net, sub = gene_network().stoichiometry()
    np.testing.assert_array_equal(net[2], [0, 0, -2, 1])
    np.testing.assert_array_equal(sub[2], [0, 0, 2, 0])
    np.testing.assert_array_equal(net[6], [0, 1, 0, 0])
    jp = md.JumpProblem(gene_network(), u0={G: 1, M: 3, P: 5, P2: 2}, tspan=(0.0, 1.0), p=NET_P)
    a = np.asarray(jp.propensity(jp.u0, jp.p, 0.0))
    # mass-action propensities on counts: 2P -> P2 fires at kd·P(P−1)/2
    np.testing.assert_allclose(a, [2.0, 15.0, 0.01 * 5 * 4 / 2, 0.2, 1.5, 1.0, 2.0 * 400 / 404], rtol=1e-14)
    assert not jp.monotone       # the Hill law decreases with P2


# --- components -----------------------------------------------------------------------------------------
def rlc_circuit():
    R = el.Resistor("resistor", R=2.0)
    C = el.Capacitor("capacitor", C=0.5, v0=0.1)
    L = el.Inductor("inductor", L=0.25)
    V = el.ConstantVoltage("source", V=1.5)
    Gnd = el.Ground("ground")
    return md.compose([R, C, L, V, Gnd], [md.connect(V.p, R.p), md.connect(R.n, L.p), md.connect(L.n, C.p),
                                          md.connect(C.n, V.n, Gnd.g)], name="rlc")


def test_rlc_circuit_from_components_matches_hand_written_f():
    rlc = rlc_circuit()
    prob = md.ODEProblem(rlc, tspan=(0.0, 5.0), jac=True, sparse=True)
    assert {str(s) for s in prob.f.unknowns} == {"capacitor.v(t)", "inductor.i(t)"}
    ts = jnp.linspace(0.0, 5.0, 11)
    sol = ps.solve(prob, ps.Tsit5(), saveat=ts, **TIGHT)     # plain ps.solve: the problem carries its symbols

    def f(u, p, t):       # u = (v_C, i_L): C v' = i, L i' = V − R i − v
        return jnp.array([u[1] / 0.5, (1.5 - 2.0 * u[1] - u[0]) / 0.25])
    ref = ps.solve(ps.ODEProblem(f, jnp.array([0.1, 0.0]), (0.0, 5.0)), ps.Tsit5(), saveat=ts, **TIGHT)
    np.testing.assert_allclose(sol[rlc.capacitor.v], ref.u[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sol["inductor.i"], ref.u[:, 1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sol[rlc.resistor.v], 2.0 * ref.u[:, 1], rtol=1e-9, atol=1e-12)   # observed
    np.testing.assert_allclose(sol["ground.g.i"], 0.0, atol=1e-15)
    dense = md.solve(prob, ps.Tsit5(), **TIGHT)
    np.testing.assert_allclose(dense(2.5, idxs=rlc.resistor.v), 2.0 * dense(2.5, idxs="inductor.i"), rtol=1e-12)
    np.testing.assert_allclose(dense(ts, idxs=[rlc.capacitor.v, rlc.resistor.v]),
                               np.stack([ref.u[:, 0], 2.0 * ref.u[:, 1]], axis=-1), rtol=1e-8, atol=1e-10)
    with pytest.raises(TypeError, match="symbolic system"):
        ref["inductor.i"]
    with pytest.raises(KeyError, match="not an unknown"):
        sol[md.variables("elsewhere")]
    check_jacobian_and_pattern(prob, random_points(2))


def msd_chain(n):
    wall = tr.Fixed("wall")
    masses = [tr.Mass(f"m{k}", m=1.0 + 0.5 * k, s0=float(k + 1) + 0.1 * k) for k in range(n)]
    springs = [tr.Spring(f"spring{k}", c=10.0 + k, s_rel0=1.0) for k in range(n)]
    dampers = [tr.Damper(f"damper{k}", d=0.5 + 0.1 * k) for k in range(n)]
    conns = [md.connect(wall.flange, springs[0].flange_a, dampers[0].flange_a)]
    for k in range(n):
        nxt = [springs[k + 1].flange_a, dampers[k + 1].flange_a] if k + 1 < n else []
        conns.append(md.connect(springs[k].flange_b, dampers[k].flange_b, masses[k].flange_a, *nxt))
    return md.compose([wall] + masses + springs + dampers, conns, name="chain")


@pytest.mark.slow
def test_mass_spring_damper_chain_matches_hand_written_f():
    n = 4
    chain = msd_chain(n)
    prob = md.ODEProblem(chain, tspan=(0.0, 10.0), jac=True, sparse=True)
    order = [f"m{k}.{q}(t)" for k in range(n) for q in ("s", "v")]
    assert [str(s) for s in prob.f.unknowns] == order
    m = 1.0 + 0.5 * np.arange(n)
    c = 10.0 + np.arange(n)
    d = 0.5 + 0.1 * np.arange(n)

    def f(u, p, t):      # u = (s0, v0, s1, v1, ...); spring k between mass k−1 (the wall at 0) and mass k
        s, v = u[0::2], u[1::2]
        s_left = jnp.concatenate([jnp.zeros(1), s[:-1]])
        v_left = jnp.concatenate([jnp.zeros(1), v[:-1]])
        force = c * (s - s_left - 1.0) + d * (v - v_left)            # tension of link k
        net = -force + jnp.concatenate([force[1:], jnp.zeros(1)])
        return jnp.stack([v, net / m], axis=1).ravel()
    u0 = np.ravel(np.stack([np.arange(1, n + 1) + 0.1 * np.arange(n), np.zeros(n)], axis=1))
    np.testing.assert_allclose(prob.u0, u0)
    ts = jnp.linspace(0.0, 10.0, 11)
    sol = md.solve(prob, ps.Rodas5P(), saveat=ts, **TIGHT)
    ref = ps.solve(ps.ODEProblem(f, jnp.asarray(u0), (0.0, 10.0)), ps.Rodas5P(), saveat=ts, **TIGHT)
    np.testing.assert_allclose(sol.u, ref.u, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sol["spring1.f"], c[1] * (ref.u[:, 2] - ref.u[:, 0] - 1.0), rtol=1e-8, atol=1e-9)
    check_jacobian_and_pattern(prob, random_points(2 * n))
    assert prob.jac_prototype.nnz == n + (3 * n - 2) * 2     # ṡ_k = v_k; v̇_k couples s, v of k−1, k, k+1


def test_thermal_conductor_relaxes_two_capacities_exponentially():
    a = th.HeatCapacitor("a", C=2.0, T0=350.0)
    b = th.HeatCapacitor("b", C=3.0, T0=300.0)
    k = th.ThermalConductor("k", G=1.5)
    sys = md.compose([a, b, k], [md.connect(a.port, k.port_a), md.connect(k.port_b, b.port)])
    prob = md.ODEProblem(sys, tspan=(0.0, 4.0))
    ts = jnp.linspace(0.0, 4.0, 5)
    sol = md.solve(prob, ps.Tsit5(), saveat=ts, **TIGHT)
    # ΔT decays at rate G (1/C_a + 1/C_b); the energy-weighted mean is conserved
    rate, mean = 1.5 * (1 / 2 + 1 / 3), (2 * 350 + 3 * 300) / 5
    dT = 50 * np.exp(-rate * np.asarray(ts))
    np.testing.assert_allclose(sol[a.T], mean + 3 / 5 * dT, rtol=1e-10)
    np.testing.assert_allclose(sol["k.Q_flow"], 1.5 * dT, atol=2e-7)     # a difference of ~300 K values


# --- index reduction --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cartesian_pendulum_after_index_reduction():
    x, y, vx, vy, lam = md.variables("x y vx vy lam")
    g, L = md.parameters("g L")
    pendulum = md.ODESystem([md.Eq(D(x), vx), md.Eq(D(y), vy), md.Eq(D(vx), -lam * x), md.Eq(D(vy), -lam * y - g),
                             md.Eq(x ** 2 + y ** 2, L ** 2)], name="pendulum")
    theta0 = 0.6
    prob = md.ODEProblem(pendulum, u0={x: np.sin(theta0), y: -np.cos(theta0), vx: 0.0, vy: 0.0}, tspan=(0.0, 5.0),
                         p={g: 9.81, L: 1.0}, jac=True, sparse=True)
    simple = prob.f.system
    assert simple.n_differential == 2 and len(simple.residuals) == 3    # index 3 -> index 1 with dummy derivatives
    check_jacobian_and_pattern(prob, random_points(5))
    for rtol in (1e-6, 1e-9):
        sol = md.solve(prob, ps.Rodas5P(), rtol=rtol, atol=rtol / 100)
        assert sol.retcode == ps.ReturnCode.Success
        assert np.max(np.abs(sol[x] ** 2 + sol[y] ** 2 - 1.0)) < 10 * rtol     # the constraint holds to tolerance
    # against the pendulum in its angle, θ'' = −g/L sin θ (an independent formulation)
    ref = ps.solve(ps.ODEProblem(lambda u, p, t: jnp.array([u[1], -9.81 * jnp.sin(u[0])]), jnp.array([theta0, 0.0]),
                                 (0.0, 5.0)), ps.Vern9(), rtol=1e-12, atol=1e-12, saveat=sol.t)
    theta, omega = ref.u[:, 0], ref.u[:, 1]
    np.testing.assert_allclose(sol[x], np.sin(theta), atol=1e-7)
    np.testing.assert_allclose(sol[vy], np.sin(theta) * omega, atol=1e-6)     # observed through a dummy derivative
    np.testing.assert_allclose(sol[lam], 9.81 * np.cos(theta) + omega ** 2, atol=1e-5)   # tension / (m L)


def test_second_order_equations_become_first_order():
    x = md.variables("x")
    w = md.parameters("w")
    prob = md.ODEProblem(md.ODESystem([md.Eq(D(x, 2), -w ** 2 * x)]), u0={x: 1.0}, tspan=(0.0, 3.0), p={w: 2.0})
    sol = md.solve(prob, ps.Vern9(), saveat=jnp.array([3.0]), **TIGHT)
    np.testing.assert_allclose(sol[x], np.cos(6.0), rtol=1e-9)
    np.testing.assert_allclose(sol[D(x)], -2 * np.sin(6.0), rtol=1e-9)


# --- bad input ---------------------------------------------------------------------------------------------
def test_bad_input_is_refused_before_compiling():
    x, y, z = md.variables("x y z")
    a, b = md.parameters("a b")
    with pytest.raises(ValueError, match=r"undefined symbol\(s\) \['b'\]"):
        md.ODESystem([md.Eq(D(x), a * x + b)], parameters=[a])
    with pytest.raises(ValueError, match=r"'y'.*appear in no equation|1 equations for 2 unknowns"):
        md.structural_simplify(md.ODESystem([md.Eq(D(x), a * x)], unknowns=[x, y]))
    # y² = a and y³ = b compete for y; which other unknown is then reported depends on the matching's order
    with pytest.raises(ValueError, match=r"structurally singular: no equation determines \['[xz]'\]"):
        md.structural_simplify(md.ODESystem([md.Eq(D(x), -a * x + z), md.Eq(y ** 2, a), md.Eq(y ** 3, b)]))
    with pytest.raises(ValueError, match="2 equations for 3 unknowns"):
        md.structural_simplify(md.ODESystem([md.Eq(D(x), y * z), md.Eq(y, z + x)]))
    sys = md.ODESystem([md.Eq(D(x), -a * x), md.Eq(D(y), b * x)])
    with pytest.raises(ValueError, match=r"missing value\(s\) for the parameter\(s\) \['b'\]"):
        md.ODEProblem(sys, u0={x: 1.0, y: 0.0}, tspan=(0, 1), p={a: 1.0})
    with pytest.raises(ValueError, match=r"missing initial value\(s\) for \['y'\]"):
        md.ODEProblem(sys, u0={x: 1.0}, tspan=(0, 1), p={a: 1.0, b: 2.0})
    with pytest.raises(KeyError, match="'q' is not an unknown"):
        md.ODEProblem(sys, u0={x: 1.0, "q": 0.0}, tspan=(0, 1), p={a: 1.0, b: 2.0})
    with pytest.raises(ValueError, match="must be a number"):
        md.ODEProblem(sys, u0={x: 1.0, y: "one"}, tspan=(0, 1), p={a: 1.0, b: 2.0})
    with pytest.raises(ValueError, match="sympy evaluated it"):
        md.ODESystem([x - x == 0])
    with pytest.raises(ValueError, match="rate must be non-negative"):
        md.Reaction(-1.0, [x], [y])
    rs = md.ReactionSystem([md.Reaction(a, [x], [y])])
    with pytest.raises(ValueError, match="rate of .* < 0"):
        md.JumpProblem(rs, u0={x: 3, y: 0}, tspan=(0, 1), p={a: -2.0})
    with pytest.raises(ValueError, match="non-negative integer count"):
        md.JumpProblem(rs, u0={x: -3, y: 0}, tspan=(0, 1), p={a: 2.0})
    with pytest.raises(ValueError, match="cannot connect different kinds"):
        md.connect(el.Resistor("r").p, tr.Mass("m").flange_a)
    r1 = el.Resistor("r1")
    with pytest.raises(ValueError, match="connected twice"):
        md.compose([r1, el.Ground("gnd")], [md.connect(r1.p, r1.n), md.connect(r1.n, md.library.electrical.Ground("gnd").g)])


def test_pinn_shares_the_residual_helper():
    from pysciml.pinn import symbolic
    assert symbolic.residual_expr is md.symbols.residual_expr


def test_vectorised_and_scalar_code_agree_on_a_generated_network():
    """Large models are generated as gathered term groups; both strategies evaluate the same expressions."""
    from pysciml.modeling.codegen import lambdify_array
    rng = np.random.default_rng(3)
    S = 40
    X = md.variables([f"X{i}" for i in range(S)])
    ks = md.parameters([f"k{r}" for r in range(2 * S)])
    rxs = []
    for r in range(2 * S):
        a, b, c = (X[i] for i in rng.choice(S, 3, replace=False))
        rxs.append(md.Reaction(ks[r], [[a], [a, b], [a], []][r % 4], [[b], [c], [], [a]][r % 4]))
    rxs.append(md.Reaction(ks[0] * X[0] / (1 + X[1] ** 2), [X[2]], [X[3]], mass_action=False))
    simple = md.structural_simplify(md.ReactionSystem(rxs).to_ode_system())
    exprs = list(simple.rhs)
    scalar = lambdify_array(exprs, simple.unknowns, simple.parameters, strategy="scalar")
    vector = lambdify_array(exprs, simple.unknowns, simple.parameters, strategy="vectorized")
    u, p = jnp.asarray(rng.uniform(0.1, 2, S)), jnp.asarray(rng.uniform(0.1, 1, len(simple.parameters)))
    np.testing.assert_allclose(vector(u, p, 0.0), scalar(u, p, 0.0), rtol=1e-14, atol=1e-14)
    prob = md.ODEProblem(md.ReactionSystem(rxs), u0={x: 1.0 for x in X}, tspan=(0.0, 1.0),
                         p={k: float(v) for k, v in zip(simple.parameters, p)}, jac=True, sparse=True)
    check_jacobian_and_pattern(prob, random_points(S))


# --- events -----------------------------------------------------------------------------------------------
def test_bouncing_ball_events_hit_the_analytic_bounce_times():
    """A ball dropped from h with restitution e: the first impact at sqrt(2h/g) with speed v1 = g·t1, then
    flights of 2·e^k·v1/g; the height between impacts is the free-fall parabola."""
    x, v = md.variables("x v")
    g, e = md.parameters("g e")
    ball = md.ODESystem([md.Eq(md.D(x), v), md.Eq(md.D(v), -g)], name="ball",
                        continuous_events=[md.ContinuousEvent([md.Eq(x, 0)], [md.Eq(v, -e * v)], direction="down")])
    h, G, E, T = 10.0, 9.81, 0.8, 8.0
    prob = md.ODEProblem(ball, u0={x: h, v: 0.0}, tspan=(0.0, T), p={g: G, e: E})
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12)
    t1 = np.sqrt(2 * h / G)
    v1 = G * t1
    bounces = t1 + np.cumsum([0.0] + [2 * E ** k * v1 / G for k in range(1, 12)])
    bounces = bounces[bounces < T]
    n = int(sol.events.n)
    assert n == bounces.size == 4
    np.testing.assert_allclose(np.asarray(sol.events.t[:n]), bounces, rtol=1e-9)
    # between the 2nd and 3rd impacts: x = w(t − t2) − g(t − t2)²/2 with w = e²·v1
    ts = np.linspace(bounces[1] + 0.05, bounces[2] - 0.05, 5)
    w = E ** 2 * v1
    np.testing.assert_allclose(sol(ts, idxs=x), w * (ts - bounces[1]) - G * (ts - bounces[1]) ** 2 / 2, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(sol(ts, idxs="v"), w - G * (ts - bounces[1]), rtol=1e-7, atol=1e-8)


def test_discrete_events_at_times_and_on_a_relation_set_states_and_parameters():
    """x' = −k·x from 1, k = 0.5: at t = 1 a dose x += 2 and k doubles (one preset event), so x = e^{−t/2}
    before and (e^{−1/2} + 2)·e^{−(t−1)} after; a relation x < 0.2 then stops the decay (k → 0) at the end
    of the first step where it holds, so x stays just under 0.2."""
    x = md.variables("x")
    k = md.parameters("k")
    sys = md.ODESystem([md.Eq(md.D(x), -k * x)], name="decay", discrete_events=[
        md.DiscreteEvent([1.0], {x: x + 2.0, k: 2 * k}), md.DiscreteEvent(x < 0.2, [md.Eq(k, 0)])])
    prob = md.ODEProblem(sys, u0={x: 1.0}, tspan=(0.0, 4.0), p={k: 0.5})
    ts = jnp.array([0.5, 1.5, 2.0])
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=ts, dtmax=0.01)
    before, after = np.exp(-0.5 * 0.5), (np.exp(-0.5) + 2.0) * np.exp(-1.0 * (ts[1:] - 1.0))
    np.testing.assert_allclose(np.asarray(sol[x]), np.concatenate([[before], after]), rtol=1e-8)
    end = ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, save_everystep=False, dtmax=0.01)
    stop = 1.0 + np.log((np.exp(-0.5) + 2.0) / 0.2)          # where x reaches 0.2 with k = 1
    # without the event x(4) = 0.2·e^{−(4 − stop)} ≈ 0.13; with it x stops within one step (≤ 0.01) of 0.2
    assert 0.2 * np.exp(-1.0 * 0.01) <= float(end[x][-1]) < 0.2 and stop < 4.0
    # the parameters: sol.p is where the solve started, sol.p_final / sol[k] where the events left them
    assert float(end.p[0]) == 0.5 and float(end.p_final[0]) == 0.0 and float(end[k]) == 0.0
    early = ps.solve(prob.remake(tspan=(0.0, 2.0)), ps.Tsit5(), rtol=1e-10, atol=1e-12, save_everystep=False,
                     dtmax=0.01)
    assert float(early[k]) == 1.0 and float(early.p[0]) == 0.5        # doubled at t = 1, x not yet < 0.2
    final_k = lambda k0: ps.solve(prob.remake(p=jnp.array([k0]), tspan=(0.0, 2.0)), ps.Tsit5(),
                                  save_everystep=False).p_final[0]
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(final_k)))(jnp.array([0.5, 0.25]))   # under jit, vmap, grad
    np.testing.assert_array_equal(values, [1.0, 0.5])
    np.testing.assert_allclose(grads, [2.0, 2.0], rtol=1e-12)          # k(2) = 2·k0
    with pytest.raises(ValueError, match="eliminated"):
        y = md.variables("y")
        md.ODEProblem(md.ODESystem([md.Eq(md.D(x), -k * x), md.Eq(y, 2 * x)], name="s",
                                   discrete_events=[md.DiscreteEvent([1.0], {y: 0.0})]), u0={x: 1.0}, tspan=(0, 2), p={k: 1.0})
    with pytest.raises(ValueError, match="each target once"):
        md.ContinuousEvent(x, [md.Eq(x, 1), md.Eq(x, 2)])


def test_nested_components_two_rc_stages_match_hand_written_f():
    """A subcircuit (resistor + capacitor to ground, ports p and out) used twice in a ladder driven by 1 V:
    names gain the instance's prefix, and the ladder equals C1 v1' = (1 − v1)/R1 − (v1 − v2)/R2,
    C2 v2' = (v1 − v2)/R2; the out port's current is the inner node's, −(v1 − v2)/R2."""
    def rc(name, R, C):
        r, c, g = el.Resistor("resistor", R=R), el.Capacitor("capacitor", C=C), el.Ground("ground")
        return md.compose([r, c, g], [md.connect(r.n, c.p), md.connect(c.n, g.g)], name=name,
                          connectors={"p": r.p, "out": r.n})
    V, G = el.ConstantVoltage("source", V=1.0), el.Ground("ground")
    rc1, rc2 = rc("rc1", 1.0, 0.5), rc("rc2", 2.0, 0.25)
    ladder = md.compose([V, G, rc1, rc2], [md.connect(V.p, rc1.p), md.connect(rc1.out, rc2.p), md.connect(V.n, G.g)],
                        name="ladder")
    prob = md.ODEProblem(ladder, tspan=(0.0, 3.0))
    assert {str(s) for s in prob.f.unknowns} == {"rc1.capacitor.v(t)", "rc2.capacitor.v(t)"}
    ts = jnp.linspace(0.0, 3.0, 7)
    sol = ps.solve(prob, ps.Tsit5(), saveat=ts, **TIGHT)

    def f(u, p, t):
        i1, i2 = (1.0 - u[0]) / 1.0, (u[0] - u[1]) / 2.0
        return jnp.array([(i1 - i2) / 0.5, i2 / 0.25])
    ref = ps.solve(ps.ODEProblem(f, jnp.zeros(2), (0.0, 3.0)), ps.Tsit5(), saveat=ts, **TIGHT)
    np.testing.assert_allclose(sol[ladder.rc1.capacitor.v], ref.u[:, 0], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(sol["rc2.capacitor.v"], ref.u[:, 1], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(sol["rc1.out.i"], -(ref.u[:, 0] - ref.u[:, 1]) / 2.0, rtol=1e-8, atol=1e-11)
    with pytest.raises(ValueError, match="two ports"):
        r, c = el.Resistor("resistor"), el.Capacitor("capacitor")
        md.compose([r, c], [md.connect(r.n, c.p)], name="x", connectors={"a": r.n, "b": c.p})
