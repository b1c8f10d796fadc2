"""Planner tests: CEM against an analytic LQR optimum, the uncertainty penalty, MPPI, the
termination and member-assignment rules, and vmapping over start states."""
import importlib.util
import pathlib

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from wombet_jax.planner import Dynamics, PlanState, make_planner, validate_planner_config

_BASE = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "configs" / "base.py"


def with_propagation(cfg, propagation):
  """`cfg` with planner.propagation set (the field of the planner section)."""
  return ml_collections.ConfigDict({**cfg.to_dict(), "propagation": propagation})


def planner_config(**overrides):
  spec = importlib.util.spec_from_file_location("base_config", _BASE)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return ml_collections.ConfigDict({**mod.get_config().planner.to_dict(), **overrides})


# Discrete double integrator (dt = 0.5) with quadratic cost; chosen so the unconstrained
# optimum stays inside [-1, 1] (max |a*| = 0.67), hence equals the constrained one.
A = np.array([[1.0, 0.5], [0.0, 1.0]])
B = np.array([0.125, 0.5])
Q = np.diag([1.0, 0.1])
R = 1.0
X0 = np.array([1.0, 0.0])
H, GAMMA = 10, 0.95


def lqr_objective_terms(x0):
  """J(a) = -(a'Ma + 2g'a + c): the discounted objective as an explicit quadratic in a."""
  phi = [np.linalg.matrix_power(A, t + 1) for t in range(H)]
  gmat = np.zeros((H, 2, H))
  for t in range(H):
    for k in range(t + 1):
      gmat[t][:, k] = np.linalg.matrix_power(A, t - k) @ B
  m, g, c = np.zeros((H, H)), np.zeros(H), 0.0
  for t in range(H):
    m += GAMMA**t * (gmat[t].T @ Q @ gmat[t] + R * np.eye(H)[t][:, None] * np.eye(H)[t][None])
    g += GAMMA**t * gmat[t].T @ Q @ phi[t] @ x0
    c += GAMMA**t * x0 @ phi[t].T @ Q @ phi[t] @ x0
  return m, g, c


def lqr_objective(actions, x0=X0):
  m, g, c = lqr_objective_terms(x0)
  return -(actions @ m @ actions + 2 * g @ actions + c)


def lqr_reward(o, a, o2):
  return -(o2 @ jnp.asarray(Q, jnp.float32) @ o2 + R * a[0] ** 2)


LQR_DYN = Dynamics(
    step=lambda p, k, o, a, m: jnp.asarray(A, jnp.float32) @ o + jnp.asarray(B, jnp.float32) * a[0],
    uncertainty=lambda p, o, a: jnp.float32(0.0), num_members=1)


@pytest.fixture(scope="module")
def lqr_optimum():
  m, g, c = lqr_objective_terms(X0)
  a_star = -np.linalg.solve(m, g)
  assert np.abs(a_star).max() < 1.0  # unconstrained optimum is feasible
  return a_star, lqr_objective(a_star)


@pytest.fixture(scope="module")
def cem_lqr():
  cfg = planner_config(horizon=H, population=200, iterations=10, num_elites=20, particles=1,
                       discount=GAMMA)
  return make_planner(cfg, 1, LQR_DYN, lqr_reward)


def planned_sequence(action, state):
  """The optimised mean sequence, rebuilt from the returned action and the shifted warm start."""
  return jnp.concatenate([action[None], state.mean[:-1]], axis=0)


def test_cem_matches_lqr_optimum(cem_lqr, lqr_optimum):
  a_star, j_star = lqr_optimum
  plan = jax.jit(jax.vmap(cem_lqr.plan, in_axes=(None, 0, None, None, None)))
  act, state, info = plan(cem_lqr.init(), jax.random.split(jax.random.key(0), 3),
                          jnp.asarray(X0, jnp.float32), None, 0.0)
  seqs = np.asarray(jax.vmap(planned_sequence)(act, state))[..., 0]
  j_cem = np.array([lqr_objective(s) for s in seqs])
  assert lqr_objective(np.zeros(H)) < 3 * j_star  # doing nothing is far from optimal
  assert np.all(j_cem >= j_star - 0.05 * abs(j_star)), (j_cem, j_star)
  np.testing.assert_allclose(np.asarray(act)[:, 0], a_star[0], atol=0.1)
  # The reported objective is that of the returned plan under the same dynamics.
  np.testing.assert_allclose(np.asarray(info["objective"]), j_cem, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(state.mean[:, -1]), np.asarray(state.mean[:, -2]))


def test_icem_matches_lqr_optimum_within_cem_tolerance(lqr_optimum):
  """The CEM test's tolerances at about CEM's model evaluations: population 400 decaying to 53
  plus 6 kept elites, 1,841 evaluations against CEM's 2,000. Pink noise (exponent 1): over 10
  steps red noise (2, the default for 30-step locomotion plans) is nearly a ramp and ends
  2-3% from this optimum with first actions 0.1 off (pink: under 1%, within 0.07)."""
  a_star, j_star = lqr_optimum
  cfg = planner_config(method="icem", horizon=H, population=400, iterations=10, num_elites=20,
                       particles=1, discount=GAMMA, icem_noise_beta=1.0)
  planner = make_planner(cfg, 1, LQR_DYN, lqr_reward)
  plan = jax.jit(jax.vmap(planner.plan, in_axes=(None, 0, None, None, None)))
  act, state, info = plan(planner.init(), jax.random.split(jax.random.key(0), 3),
                          jnp.asarray(X0, jnp.float32), None, 0.0)
  seqs = np.asarray(jax.vmap(planned_sequence)(act, state))[..., 0]
  j_icem = np.array([lqr_objective(s) for s in seqs])
  assert np.all(j_icem >= j_star - 0.05 * abs(j_star)), (j_icem, j_star)
  np.testing.assert_allclose(np.asarray(act)[:, 0], a_star[0], atol=0.1)
  np.testing.assert_allclose(np.asarray(info["objective"]), j_icem, rtol=1e-4)
  # 6 of the last iteration's 20 elites are kept, shifted by one step into the next MPC step.
  assert state.kept.shape == (3, 6, H, 1)
  np.testing.assert_array_equal(state.kept[:, :, -1], state.kept[:, :, -2])
  assert np.all(np.abs(np.asarray(state.kept)) <= 1.0)


def test_icem_sizes_by_hand():
  from wombet_jax.optimizers import icem_sizes
  cfg = planner_config(population=400, iterations=5, num_elites=64, icem_population_decay=1.25,
                       icem_keep_fraction=0.3)
  # 400 / 1.25^i = 400, 320, 256, 204.8, 163.84; never below 2 x 64; 0.3 x 64 = 19.2 kept.
  assert icem_sizes(cfg) == ([400, 320, 256, 204, 163], 19)
  cfg.num_elites = 100
  assert icem_sizes(cfg)[0] == [400, 320, 256, 204, 200]


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_colored_noise_has_the_power_law_spectrum(beta):
  """The mean periodogram of 2000 sequences of 64 steps falls as f^-beta (least-squares
  slope in log-log over the interior frequencies), and every entry has unit variance."""
  from wombet_jax.optimizers import colored_noise
  x = np.asarray(colored_noise(jax.random.key(0), beta, (2000, 64)))
  np.testing.assert_allclose(x.var(), 1.0, atol=0.05)
  power = np.mean(np.abs(np.fft.rfft(x, axis=-1)) ** 2, axis=0)[1:-1]
  f = np.fft.rfftfreq(64)[1:-1]
  slope = np.polyfit(np.log(f), np.log(power), 1)[0]
  np.testing.assert_allclose(slope, -beta, atol=0.1)


def test_vmapped_plan_matches_single_plans(cem_lqr):
  """Data generation vmaps plan over start states and warm starts; it must not mix them."""
  x0s = jnp.array([[1.0, 0.0], [-0.5, 0.3], [0.2, -0.4]])
  keys = jax.random.split(jax.random.key(1), 3)
  states = PlanState(mean=jnp.stack([jnp.full((H, 1), v) for v in (0.0, 0.3, -0.3)]))
  lam = jnp.float32(0.5)
  act_v, st_v, info_v = jax.jit(jax.vmap(cem_lqr.plan, in_axes=(0, 0, 0, None, None)))(
      states, keys, x0s, None, lam)
  single = jax.jit(cem_lqr.plan)
  for i in range(3):
    st_i = jax.tree.map(lambda x: x[i], states)
    act, st, info = single(st_i, keys[i], x0s[i], None, lam)
    np.testing.assert_allclose(act_v[i], act, atol=1e-5)
    np.testing.assert_allclose(st_v.mean[i], st.mean, atol=1e-5)
    np.testing.assert_allclose(info_v["objective"][i], info["objective"], rtol=1e-5)
  assert cem_lqr.init(batch_size=4).mean.shape == (4, H, 1)


def test_mppi_improves_over_random(lqr_optimum):
  _, j_star = lqr_optimum
  cfg = planner_config(method="mppi", horizon=H, population=200, iterations=10, particles=1,
                       discount=GAMMA, mppi_temperature=0.05)
  planner = make_planner(cfg, 1, LQR_DYN, lqr_reward)
  act, state, _ = jax.jit(planner.plan)(planner.init(), jax.random.key(2),
                                        jnp.asarray(X0, jnp.float32), None, 0.0)
  j_mppi = lqr_objective(np.asarray(planned_sequence(act, state))[:, 0])
  rand = np.random.default_rng(0).uniform(-1, 1, (500, H))
  j_rand = np.mean([lqr_objective(a) for a in rand])
  # Closes at least 95% of the gap between random actions and the optimum.
  assert j_mppi >= j_rand + 0.95 * (j_star - j_rand), (j_mppi, j_rand, j_star)


def test_actions_stay_in_bounds_when_optimum_is_outside():
  cfg = planner_config(horizon=H, population=100, iterations=5, num_elites=10, particles=1)
  planner = make_planner(cfg, 1, LQR_DYN, lqr_reward)
  x0 = np.array([6.0, 2.0])  # the unconstrained optimum here starts far below -1
  m, g, _ = lqr_objective_terms(x0)
  assert (-np.linalg.solve(m, g))[0] < -2.0
  act, state, _ = jax.jit(planner.plan)(planner.init(), jax.random.key(3),
                                        jnp.asarray(x0, jnp.float32), None, 0.0)
  assert np.all(np.abs(np.asarray(state.mean)) <= 1.0)
  assert float(act[0]) < -0.9  # saturates at the bound


# Uncertainty avoidance: x' = x + 0.25 a in 2D from (-1, 0) to the goal (1, 0) around an
# obstacle centred slightly below the axis, so the short way round is through y > 0, where the
# fake model is uncertain (u = sigmoid(10 y)); the way through y < 0 is longer but certain.
GOAL, OBST = jnp.array([1.0, 0.0]), jnp.array([0.0, -0.15])


def nav_reward(o, a, o2):
  return -jnp.linalg.norm(o2 - GOAL) - 5.0 * jnp.exp(-jnp.sum((o2 - OBST) ** 2) / 0.18)


NAV_DYN = Dynamics(step=lambda p, k, o, a, m: o + 0.25 * a,
                   uncertainty=lambda p, o, a: jax.nn.sigmoid(10.0 * o[1]), num_members=1)


def test_penalty_avoids_uncertain_region():
  cfg = planner_config(horizon=10, population=100, iterations=5, num_elites=10, particles=1)
  planner = make_planner(cfg, 2, NAV_DYN, nav_reward)

  @jax.jit
  def closed_loop(key, lam):
    def body(carry, k):
      s, st = carry
      a, st, info = planner.plan(st, k, s, None, lam)
      return (s + 0.25 * a, st), s + 0.25 * a
    _, xs = jax.lax.scan(body, (jnp.array([-1.0, 0.0]), planner.init()),
                         jax.random.split(key, 14))
    return xs

  for seed in range(2):
    key = jax.random.key(seed)
    xs0, xs2 = np.asarray(closed_loop(key, 0.0)), np.asarray(closed_loop(key, 2.0))
    visits0, visits2 = (xs0[:, 1] > 0.05).sum(), (xs2[:, 1] > 0.05).sum()
    assert visits0 >= 5 and visits2 < visits0, (visits0, visits2)
    assert visits2 == 0
    # Both still reach the goal: the penalty changes the route, not the task.
    for xs in (xs0, xs2):
      assert np.linalg.norm(xs[-1] - np.asarray(GOAL)) < 0.5


def test_termination_zeroes_later_rewards_and_penalties():
  dyn = Dynamics(step=lambda p, k, o, a, m: o + a, uncertainty=lambda p, o, a: jnp.float32(1.0),
                 num_members=1)
  cfg = planner_config(horizon=5, population=4, num_elites=2, particles=2, discount=0.9)
  planner = make_planner(cfg, 1, dyn, lambda o, a, o2: jnp.float32(1.0),
                         termination_fn=lambda o, a, o2: jnp.abs(o2[0]) > 1.5)
  seqs = jnp.stack([jnp.ones((5, 1)), jnp.zeros((5, 1))])
  out = jax.jit(planner.evaluate)(None, jax.random.key(0), jnp.zeros(1), seqs, 0.5)
  # all +1: x' = 1 then 2 (terminates; that transition still counts), nothing afterwards.
  np.testing.assert_allclose(out["return"], [1 + 0.9, sum(0.9**t for t in range(5))], rtol=1e-6)
  np.testing.assert_allclose(out["objective"], 0.5 * np.asarray(out["return"]), rtol=1e-6)
  np.testing.assert_allclose(out["uncertainty"], [1.0, 1.0])


# Member bookkeeping: obs = (last member, number of steps whose member repeated the last one);
# reward = 1 when the member repeats; u(s, a) = last member + 1 (0 at the start, obs[0] = -1).
def member_step(p, k, o, a, m):
  return jnp.array([m, o[1] + (m == o[0])], jnp.float32)


MEMBER_DYN = Dynamics(step=member_step, uncertainty=lambda p, o, a: o[0] + 1.0, num_members=4)


@pytest.mark.parametrize("particles", [8, 5])
def test_member_assignment_ts_inf_and_ts1(particles):
  cfg = planner_config(horizon=6, population=4, num_elites=2, particles=particles, discount=1.0)
  reward = lambda o, a, o2: o2[1] - o[1]
  x0 = jnp.array([-1.0, 0.0])
  ts_inf = make_planner(with_propagation(cfg, "ts_inf"), 1, MEMBER_DYN, reward)
  out = jax.jit(ts_inf.evaluate)(None, jax.random.key(0), x0, jnp.zeros((3, 6, 1)), 0.0)
  np.testing.assert_allclose(out["return"], 5.0)  # fixed member: every later step repeats
  mean_member = np.asarray(out["uncertainty"]) * 6 / 5 - 1  # u averages (0, m+1, ..., m+1)
  assert np.all((mean_member >= 0) & (mean_member <= 3))
  if particles == 8:  # two particles per member for every sequence
    np.testing.assert_allclose(mean_member, 1.5, rtol=1e-6)
  ts1 = make_planner(with_propagation(cfg, "ts1"), 1, MEMBER_DYN, reward)
  many_keys = jax.vmap(ts1.evaluate, in_axes=(None, 0, None, None, None))
  out1 = jax.jit(many_keys)(None, jax.random.split(jax.random.key(1), 200), x0,
                            jnp.zeros((3, 6, 1)), 0.0)
  # Members redrawn uniformly each step repeat with probability 1/4: 5/4 repeats expected
  # (std of this mean over 200 keys is about 0.03).
  np.testing.assert_allclose(float(jnp.mean(out1["return"])), 1.25, atol=0.15)
  np.testing.assert_allclose(float(jnp.mean(out1["uncertainty"])) * 6 / 5 - 1, 1.5, atol=0.15)


# Common random numbers: s' = s + a + eps with reward s'[0] (discount 1) gives a return whose
# noise part, sum_t (H - t) eps_t, does not depend on the actions. With shared noise the
# difference between two candidates is exactly the noise-free difference.
WALK_DYN = Dynamics(step=lambda p, eps, o, a, m: o + a + eps,
                    uncertainty=lambda p, o, a: jnp.float32(0.0), num_members=2)


@pytest.mark.parametrize("propagation", ["ts_inf", "ts1"])
@pytest.mark.parametrize("common_noise", [True, False])
def test_common_noise_cancels_between_candidates(common_noise, propagation):
  h = 5
  cfg = planner_config(horizon=h, population=4, num_elites=2, particles=6, discount=1.0,
                       common_noise=common_noise)
  planner = make_planner(with_propagation(cfg, propagation), 1, WALK_DYN, lambda o, a, o2: o2[0])
  seqs = jnp.stack([jnp.zeros((h, 1)), jnp.full((h, 1), 0.1), jnp.zeros((h, 1))])
  ret = np.asarray(jax.jit(planner.evaluate)(None, jax.random.key(3), jnp.zeros(1), seqs,
                                             0.0)["return"])
  noise_free_gap = 0.1 * sum(h - t for t in range(h))  # 1.5
  if common_noise:
    np.testing.assert_allclose(ret[1] - ret[0], noise_free_gap, rtol=1e-5)
    np.testing.assert_allclose(ret[2], ret[0], rtol=1e-6)
  else:  # independent draws: equal sequences get different returns
    assert abs(ret[2] - ret[0]) > 1e-3
  # The particles' draws are independent of each other: the mean over 6 particles is noisy.
  assert abs(ret[0]) > 1e-3


# Members matter here: s' = s + a + (member + 1) * eps, so two rollouts agree only when they
# share both the member and the noise. The default's 2 particles over 3 elites is the case
# where particles is not a multiple of the members.
MEMBER_WALK_DYN = Dynamics(step=lambda p, eps, o, a, m: o + a + (m + 1.0) * eps,
                           uncertainty=lambda p, o, a: jnp.float32(0.0), num_members=3)


@pytest.mark.parametrize("propagation", ["ts_inf", "ts1"])
@pytest.mark.parametrize("particles", [2, 4])
def test_identical_candidates_get_identical_objectives(particles, propagation):
  h = 5
  cfg = planner_config(horizon=h, population=32, num_elites=3, particles=particles,
                       discount=1.0, propagation=propagation)
  planner = make_planner(cfg, 1, MEMBER_WALK_DYN, lambda o, a, o2: o2[0])
  seqs = jnp.zeros((32, h, 1)).at[7].set(0.1)
  out = jax.jit(planner.evaluate)(None, jax.random.key(5), jnp.zeros(1), seqs, 0.0)
  ret = np.asarray(out["return"])
  same = np.delete(ret, 7)
  np.testing.assert_array_equal(same, same[0])  # 31 identical candidates, one objective
  np.testing.assert_allclose(ret[7] - ret[0], 0.1 * sum(h - t for t in range(h)), rtol=1e-5)
  assert abs(ret[0]) > 1e-3  # and the noise is there


def test_fewer_particles_than_members_use_every_member():
  # TS-inf with 1 particle over 3 members: the member is drawn per evaluation, uniformly.
  cfg = planner_config(horizon=6, population=4, num_elites=2, particles=1, discount=1.0)
  planner = make_planner(cfg, 1, MEMBER_DYN._replace(num_members=3), lambda o, a, o2: 0.0)
  many = jax.jit(jax.vmap(planner.evaluate, in_axes=(None, 0, None, None, None)))
  out = many(None, jax.random.split(jax.random.key(2), 300), jnp.array([-1.0, 0.0]),
             jnp.zeros((2, 6, 1)), 0.0)
  member = np.round(np.asarray(out["uncertainty"])[:, 0] * 6 / 5 - 1).astype(int)
  np.testing.assert_array_equal(np.asarray(out["uncertainty"])[:, 0],  # both candidates
                                np.asarray(out["uncertainty"])[:, 1])
  counts = np.bincount(member, minlength=3)
  assert counts.min() > 70, counts  # about 100 each of 300


@pytest.mark.parametrize("field,value", [("method", "random"), ("horizon", 0),
                                         ("num_elites", 1000), ("alpha", 1.0),
                                         ("init_std", 0.0), ("discount", 1.5),
                                         ("lambda_plan", -1.0), ("mppi_temperature", 0.0),
                                         ("particles", 2.5), ("common_noise", None),
                                         ("stepping_u", 1), ("icem_noise_beta", -1.0),
                                         ("icem_population_decay", 0.5),
                                         ("icem_keep_fraction", 1.5),
                                         ("penalty_particles", -1),
                                         ("penalty_particles", 21)])
def test_bad_config_raises_naming_field(field, value):
  with pytest.raises(ValueError, match=f"planner.{field}"):
    validate_planner_config(planner_config(**{field: value}))


def test_bad_arguments_raise():
  cfg = planner_config()
  with pytest.raises(ValueError, match="propagation"):
    make_planner(with_propagation(cfg, "random"), 1, LQR_DYN, lqr_reward)
  with pytest.raises(ValueError, match="num_members"):
    make_planner(cfg, 1, LQR_DYN._replace(num_members=0), lqr_reward)
  with pytest.raises(ValueError, match="act_dim"):
    make_planner(cfg, 0, LQR_DYN, lqr_reward)
  chex.assert_shape(make_planner(cfg, 3, LQR_DYN, lqr_reward).init().mean, (cfg.horizon, 3))


# Penalty branch: s' = s + a, r = s'[0], u(s, a) = a^2 + 0.1 s, horizon 2, discount 0.5. From
# s0 = 1 with the plan (0.5, -0.25): s1 = 1.5, s2 = 1.25, so R = 1.5 + 0.5 * 1.25 = 2.125 and
# the discounted penalty is (0.25 + 0.1) + 0.5 * (0.0625 + 0.15) = 0.45625.
SUM_DYN = Dynamics(step=lambda p, eps, o, a, m: o + a,
                   uncertainty=lambda p, o, a: a[0] ** 2 + 0.1 * o[0], num_members=1)
HAND_RETURN, HAND_PENALTY = 2.125, 0.45625


@pytest.mark.parametrize("mode", ["jit", "disable_jit"])
def test_penalty_branch_by_hand_jitted_and_eager(mode):
  """One candidate (population 1 keeps only the warm-start mean), so best_objective is the
  objective the penalty ``lax.cond`` computed; an infinite u shows that lambda 0 skips it."""
  cfg = planner_config(horizon=2, population=1, iterations=1, num_elites=1, particles=1,
                       discount=0.5)
  state = PlanState(mean=jnp.array([[0.5], [-0.25]]))
  x0 = jnp.array([1.0])

  def plan(dyn, lam):
    planner = make_planner(cfg, 1, dyn, lambda o, a, o2: o2[0])
    if mode == "jit":
      return jax.jit(planner.plan)(state, jax.random.key(0), x0, None, jnp.float32(lam))
    with jax.disable_jit():
      return planner.plan(state, jax.random.key(0), x0, None, lam)

  for lam in (0.0, 2.0):
    act, _, info = plan(SUM_DYN, lam)
    want = HAND_RETURN - lam * HAND_PENALTY
    np.testing.assert_allclose(float(info["best_objective"]), want, rtol=1e-6)
    np.testing.assert_allclose(float(info["objective"]), want, rtol=1e-6)
    np.testing.assert_allclose(float(info["return"]), HAND_RETURN, rtol=1e-6)
    np.testing.assert_allclose(float(act[0]), 0.5)
  inf_u = SUM_DYN._replace(uncertainty=lambda p, o, a: jnp.float32(jnp.inf))
  _, _, info = plan(inf_u, 0.0)
  np.testing.assert_allclose(float(info["best_objective"]), HAND_RETURN, rtol=1e-6)
  _, _, info = plan(inf_u, 2.0)  # penalised: -inf, ranked as the bad-value sentinel
  assert float(info["best_objective"]) == -1e10
  if mode != "jit":
    return
  # Batched lambda under vmap turns the cond into a select of both branches: same numbers.
  planner = make_planner(cfg, 1, SUM_DYN, lambda o, a, o2: o2[0])
  many = jax.vmap(planner.plan, in_axes=(None, None, None, None, 0))
  _, _, info = jax.jit(many)(state, jax.random.key(0), x0, None, jnp.array([0.0, 2.0]))
  np.testing.assert_allclose(info["best_objective"],
                             [HAND_RETURN, HAND_RETURN - 2.0 * HAND_PENALTY], rtol=1e-6)


# u from the stepping pass: a small random ensemble (3 members, elites 2 and 0, so members
# map to stored indices non-trivially) planned with and without Dynamics.step_and_uncertainty.
def _small_model(uncertainty):
  import helpers
  from wombet_jax import world_model as wm_lib
  cfg = helpers.make_config().world_model
  cfg.update(dict(ensemble_size=3, num_elites=2, hidden_size=8, num_layers=2,
                  uncertainty=uncertainty))
  wm = wm_lib.make_world_model(3, 2, cfg)
  state = wm.init(jax.random.key(7)).replace(elites=jnp.array([2, 0], jnp.int32))
  return wm, state


@pytest.mark.parametrize("uncertainty", ["disagreement", "max_std"])
@pytest.mark.parametrize("propagation", ["ts_inf", "ts1"])
@pytest.mark.parametrize("common_noise", [True, False])
def test_stepping_pass_u_gives_the_same_plan(uncertainty, propagation, common_noise):
  wm, state = _small_model(uncertainty)
  dyn = Dynamics(step=wm.next_from_noise, uncertainty=wm.uncertainty, num_members=2,
                 step_and_uncertainty=wm.next_and_uncertainty)
  reward = lambda o, a, o2: -jnp.sum(o2 ** 2) - 0.1 * jnp.sum(a ** 2)
  outs = []
  for stepping_u in (False, True):
    cfg = planner_config(horizon=3, population=8, iterations=2, num_elites=3, particles=3,
                         common_noise=common_noise, stepping_u=stepping_u)
    planner = make_planner(with_propagation(cfg, propagation), 2, dyn, reward)
    outs.append(jax.jit(planner.plan)(planner.init(), jax.random.key(1),
                                      jnp.array([0.5, -0.2, 0.1]), state, jnp.float32(3.0)))
  (act0, st0, info0), (act1, st1, info1) = outs
  assert float(info0["uncertainty"]) > 1e-3  # u matters in this objective
  for k in ("objective", "best_objective", "return", "uncertainty"):
    np.testing.assert_allclose(info1[k], info0[k], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(act1, act0, atol=1e-6)
  np.testing.assert_allclose(st1.mean, st0.mean, atol=1e-6)


# Penalty on Q particles: s' = s + a + member, r = s'[0], u(s, a) = s[0]; two particles on two
# members, horizon 2, discount 1, plan (0, 0) from s0 = 0. A particle on member m visits
# s1 = m, s2 = 2m: return 3m, penalty u(s0) + u(s1) = m. Over both particles (members 0 and 1)
# the objective is 1.5 - lambda * 0.5; on the first particle alone it is 1.5 - lambda * m0,
# with m0 = the ts_inf offset, 0 or 1 with probability 1/2 each: unbiased.
OFFSET_DYN = Dynamics(step=lambda p, eps, o, a, m: o + a + m,
                      uncertainty=lambda p, o, a: o[0], num_members=2)


@pytest.mark.parametrize("stepping_u", [False, True])
def test_penalty_on_q_particles_by_hand(stepping_u):
  dyn = OFFSET_DYN._replace(step_and_uncertainty=lambda p, eps, o, a, m: (
      OFFSET_DYN.step(p, eps, o, a, m), OFFSET_DYN.uncertainty(p, o, a)))
  cfg = planner_config(horizon=2, population=1, iterations=1, num_elites=1, particles=2,
                       discount=1.0, penalty_particles=1, stepping_u=stepping_u)
  planner = make_planner(cfg, 1, dyn, lambda o, a, o2: o2[0])
  state, lam = PlanState(mean=jnp.zeros((2, 1))), 2.0
  keys = jax.random.split(jax.random.key(3), 256)
  plan = jax.jit(jax.vmap(planner.plan, in_axes=(None, 0, None, None, None)))
  _, _, info = plan(state, keys, jnp.zeros((1,)), None, jnp.float32(lam))
  ranked = np.asarray(info["best_objective"])  # the optimizer's estimate: first particle's u
  assert set(np.round(ranked, 5)) == {1.5, 1.5 - lam}
  # Mean over keys: 1.5 - lam / 2 (256 fair coin flips: s.e. of the mean lam / 32).
  np.testing.assert_allclose(ranked.mean(), 1.5 - lam / 2, atol=3 * lam / 32)
  # The plan's final evaluation uses every particle.
  np.testing.assert_allclose(info["objective"], 1.5 - lam / 2, rtol=1e-6)
  np.testing.assert_allclose(info["uncertainty"], 0.25, rtol=1e-6)  # mean of 0, m over steps


def test_world_model_next_and_uncertainty_by_parts():
  wm, state = _small_model("disagreement")
  obs, act = jnp.array([[0.5, -0.2, 0.1], [1.0, 0.0, -1.0]]), jnp.array([[0.3, -0.4]] * 2)
  eps = jnp.array([[0.1, -1.0, 2.0], [0.0, 0.5, -0.5]])
  nxt, u = wm.next_and_uncertainty(state, eps, obs, act, jnp.array([1, 0]))
  mean, var = wm.predict(state, obs, act)  # (K, 2, 3)
  want = jnp.stack([mean[1, 0] + jnp.sqrt(var[1, 0]) * eps[0],
                    mean[0, 1] + jnp.sqrt(var[0, 1]) * eps[1]])
  np.testing.assert_allclose(nxt, want, rtol=1e-6)
  np.testing.assert_allclose(u, jnp.linalg.norm(jnp.std(mean, axis=0), axis=-1), rtol=1e-6)
  np.testing.assert_allclose(nxt[0], wm.next_from_noise(state, eps[0], obs[0], act[0], 1),
                             rtol=1e-5)
