"""The one registry of methods the tests run over. A new method is one line here: every test that loops
over its family (tableau conditions, convergence order, accuracy, stiff convergence, test set) picks it up.
A family's own tests may still need a per-method number (e.g. the base step count of a convergence test);
they look it up by method and fail loudly (KeyError) when it is missing."""
import pysciml as ps

# explicit Runge–Kutta methods, fixed-step ones first (every tableau, convergence orders)
EXPLICIT = [ps.Euler, ps.Midpoint, ps.Heun, ps.RK4, ps.BS3, ps.DP5, ps.Tsit5, ps.Vern7, ps.Vern9, ps.DP8]
ROSENBROCK = [ps.Rosenbrock23, ps.Rodas4, ps.Rodas5P]
ESDIRK = [ps.TRBDF2, ps.KenCarp4, ps.Kvaerno5]
RADAU = [ps.RadauIIA5]
BDF = [ps.FBDF]
ONE_STEP_STIFF = ROSENBROCK + ESDIRK + RADAU     # stiff methods with an order-of-convergence claim per step
STIFF = ONE_STEP_STIFF + BDF
# switching methods, as instances (they wrap two methods)
COMPOSITE = {"AutoTsit5(Rosenbrock23())": lambda: ps.AutoTsit5(ps.Rosenbrock23()),
             "AutoVern7(Rodas5P())": lambda: ps.AutoVern7(ps.Rodas5P())}

# SDE methods (tests/sde: strong order on geometric Brownian motion in the method's interpretation, against
# the class's strong_order; adaptive ones are also run at fixed steps)
SDE = [ps.EM, ps.EulerHeun, ps.RKMil, ps.LambaEM]

# sensitivity methods, as instances
ADJOINTS = [ps.DiscreteAdjoint(), ps.BacksolveAdjoint(), ps.InterpolatingAdjoint(),
            ps.InterpolatingAdjoint(checkpointing=True), ps.QuadratureAdjoint(), ps.GaussAdjoint()]
SENSITIVITY = [ps.ForwardDiffSensitivity(), ps.ForwardSensitivity()] + ADJOINTS


def name(method):
    """A test id: the class name of a method class, the repr of an instance."""
    return method.__name__ if isinstance(method, type) else repr(method)
