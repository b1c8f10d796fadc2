"""Lower-bound diagnostic (eqs. 4-5): replay in the real env, penalised return, the fraction."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from wombet_jax import filtering, generation
from wombet_jax.harness import lower_bound
from wombet_jax.envs import base, make_pair, pointmass
from wombet_jax.world_model import WorldModel

M, H, GAMMA = 8, 12, 0.9


def oracle_model(num_elites: int = 2) -> WorldModel:
  """A "world model" whose state is (u level, force scale): scale 1 is the true pointmass
  dynamics, scale > 1 an optimistic model that believes the mass accelerates faster."""
  def sample_next(state, key, obs, act, member):
    del key, member
    return pointmass.dynamics(obs, state[1] * jnp.clip(act, -1.0, 1.0))

  def uncertainty(state, obs, act):
    del act
    return jnp.full(obs.shape[:-1], state[0], jnp.float32)

  return WorldModel(init=None, train=None, predict=None, sample_next=sample_next,
                    next_from_noise=sample_next, uncertainty=uncertainty,
                    num_elites=num_elites)


@pytest.fixture(scope="module")
def oracle():
  """One compiled diagnose on pointmass with the oracle model; the model state is traced."""
  c = helpers.make_config(planner=dict(horizon=6, population=32, iterations=2, num_elites=4,
                                       particles=2))
  pair = make_pair("pointmass")
  wm = oracle_model()
  planner = generation.make_model_planner(c, pair, wm, pair.source.reward_fn)
  diag = jax.jit(lambda key, state, lam: lower_bound.diagnose(pair, wm, planner, M, H, key,
                                                              state, lam, GAMMA))
  gen = jax.jit(lambda key, state, obs0: generation.generate(pair, wm, planner, M, H, key, state,
                                                             jnp.float32(1.0), obs0=obs0))
  return diag, gen, pair


def test_start_states_are_the_ones_generate_draws(oracle):
  _, gen, pair = oracle
  key, state = jax.random.PRNGKey(5), jnp.array([0.1, 1.0])
  env0 = lower_bound.start_states(pair, key, M)
  own = gen(key, state, None)       # generate draws its own starts from rho_S
  given = gen(key, state, env0.obs)
  np.testing.assert_array_equal(given.obs[:, 0], env0.obs)
  np.testing.assert_allclose(own.obs[:, 0], env0.obs, atol=1e-6)
  # Same key use either way: the same plans and model samples follow.
  np.testing.assert_allclose(own.action, given.action, atol=1e-4)


def test_exact_model_replays_to_its_own_return(oracle):
  # With the true dynamics as the model, the real replay of the model's actions from the same
  # start states retraces the model trajectory: true return == model return.
  d = oracle[0](jax.random.PRNGKey(0), jnp.array([0.0, 1.0]), jnp.float32(0.0))
  assert d.model_return.shape == (M,) and d.true_return.shape == (M,)
  np.testing.assert_allclose(d.true_return, d.model_return, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(d.model_steps, H)
  np.testing.assert_array_equal(d.true_steps, H)
  # The returns are of real behaviour, not zeros: pointmass rewards are <= -0.5 per step here.
  assert bool(jnp.all(d.true_return < -1.0))


def test_exact_model_with_a_penalty_is_a_strict_lower_bound(oracle):
  u, lam = 0.3, 2.0
  d = oracle[0](jax.random.PRNGKey(1), jnp.array([u, 1.0]), jnp.float32(lam))
  np.testing.assert_allclose(d.model_penalty, u * (1 - GAMMA ** H) / (1 - GAMMA), rtol=1e-5)
  np.testing.assert_allclose(d.mean_u, u, rtol=1e-6)
  row = lower_bound.summarize(d, lam)
  assert float(row["fraction_bound_holds"]) == 1.0
  np.testing.assert_allclose(row["mean_penalised_return"],
                             row["mean_true_return"] - lam * u * (1 - GAMMA ** H) / (1 - GAMMA),
                             rtol=1e-4)


def test_optimistic_model_violates_the_bound_until_penalised(oracle):
  # A model with twice the true force promises more return than the real env delivers; with
  # u = 0.5 per step a large enough lambda restores the bound.
  d = oracle[0](jax.random.PRNGKey(2), jnp.array([0.5, 2.0]), jnp.float32(0.0))
  assert float(jnp.mean(d.model_return)) > float(jnp.mean(d.true_return)) + 0.5
  assert float(lower_bound.summarize(d, 0.0)["fraction_bound_holds"]) <= 0.25
  assert float(lower_bound.summarize(d, 20.0)["fraction_bound_holds"]) == 1.0


def test_penalised_return_by_hand():
  r = jnp.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
  u = jnp.array([[0.5, 0.0, 1.0], [1.0, 1.0, 1.0]])
  valid = jnp.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
  # Eq. (4)'s surrogate sum_t gamma^t (r_t - lambda u_t) at lambda = 2, gamma = 0.5:
  # row 0: (1 - 1) + 0.5 (2 - 0) + 0.25 (3 - 2) = 1.25; row 1: (1 - 2) + 0.5 (1 - 2) = -1.5.
  # summarize's linear form R_M - lambda * penalty equals that direct sum.
  ro = generation.Rollouts(jnp.zeros((2, 3, 4)), jnp.zeros((2, 3, 2)), jnp.zeros((2, 3, 4)), r,
                           u, jnp.zeros((2, 3)), valid)
  rep = lower_bound.Replay(reward=jnp.array([[0.0, 1.0, 1.0], [0.0, 0.0, 5.0]]),
                           next_obs=jnp.zeros((2, 3, 4)), counted=valid, done=jnp.zeros((2, 3)))
  d = lower_bound.evaluate(ro, rep, 0.5)
  np.testing.assert_allclose(d.model_return - 2.0 * d.model_penalty, [1.25, -1.5], rtol=1e-6)
  np.testing.assert_allclose(d.true_return, [0.75, 0.0])  # the 5.0 is past the valid window
  np.testing.assert_allclose(d.mean_u, [0.5, 1.0])
  row = lower_bound.summarize(d, 2.0)
  assert float(row["fraction_bound_holds"]) == 0.5  # 1.25 > 0.75, -1.5 <= 0
  assert int(row["num_trajectories"]) == 2
  assert float(row["fraction_real_ended_first"]) == 0.0
  # If the real episode of the first trajectory had ended after one step, only the second
  # (where the bound holds) would cover the full window.
  row = lower_bound.summarize(d.replace(true_steps=jnp.array([1.0, 2.0])), 2.0)
  assert float(row["fraction_real_ended_first"]) == 0.5
  assert float(row["fraction_bound_holds_full_window"]) == 1.0


def test_fraction_grows_weakly_with_lambda_on_a_fixed_batch():
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(4), 3)
  n = 200
  d = lower_bound.Diagnostic(
      model_return=jax.random.normal(k1, (n,)) + 1.0,
      model_penalty=jnp.abs(jax.random.normal(k2, (n,))) + 0.2,
      true_return=jax.random.normal(k3, (n,)), mean_u=jnp.ones((n,)),
      model_steps=jnp.ones((n,)), true_steps=jnp.ones((n,)))
  lams = [0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 100.0]
  frac = np.array([float(lower_bound.summarize(d, lam)["fraction_bound_holds"]) for lam in lams])
  expected0 = float(jnp.mean(d.model_return <= d.true_return))
  assert frac[0] == pytest.approx(expected0)
  assert np.all(np.diff(frac) >= 0), frac
  assert frac[0] < 0.5 and frac[-1] == 1.0, frac


def _terminating_pair(episode_length: int) -> base.TaskPair:
  """Pointmass from the origin that terminates once px > 0.05; reward = px'."""
  def step_inner(inner, action):
    nxt = pointmass.dynamics(inner, action)
    return nxt, nxt

  task = base.make_task(pointmass.uniform_reset(0.0, 0.0), step_inner,
                        lambda o, a, n: n[..., 0], lambda o, a, n: n[..., 0] > 0.05,
                        pointmass.OBS_DIM, pointmass.ACT_DIM, episode_length)
  return base.TaskPair("term", pointmass.OBS_DIM, pointmass.ACT_DIM, episode_length, task, task)


def _px_sequence(ax: float, steps: int) -> list[float]:
  """Semi-implicit Euler of the x axis by hand (pointmass docstring)."""
  p, v, out = 0.0, 0.0, []
  for _ in range(steps):
    v = v + pointmass.DT * (pointmass.FORCE * ax - pointmass.DAMPING * v)
    p = p + pointmass.DT * v
    out.append(p)
  return out


def test_replay_stops_at_termination_time_limit_and_valid_mask():
  horizon, ep_len = 8, 6
  pair = _terminating_pair(ep_len)
  env0 = lower_bound.start_states(pair, jax.random.PRNGKey(0), 3)
  push = jnp.zeros((horizon, 2)).at[:, 0].set(1.0)
  actions = jnp.stack([push, -push, push])   # right (falls), left (time limit), right (cut)
  valid = jnp.ones((3, horizon)).at[2, 2:].set(0.0)
  rep = jax.jit(lower_bound.replay, static_argnums=0)(pair.source, env0, actions, valid)
  assert rep.reward.shape == (3, horizon) and rep.next_obs.shape == (3, horizon, 4)
  # px' = 0.01, 0.0295, 0.058025 > 0.05: terminates at the third step; after it the env has
  # auto-reset to the origin and keeps earning reward, which must not count.
  np.testing.assert_allclose(rep.reward[0, :3], [0.01, 0.0295, 0.058025], rtol=1e-5)
  np.testing.assert_array_equal(rep.counted, [[1, 1, 1, 0, 0, 0, 0, 0],
                                              [1, 1, 1, 1, 1, 1, 0, 0],
                                              [1, 1, 0, 0, 0, 0, 0, 0]])
  assert float(rep.done[0, 2]) == 1.0 and float(rep.done[1, ep_len - 1]) == 1.0
  assert float(rep.reward[0, 3]) == pytest.approx(0.01, rel=1e-5)  # the fresh episode
  true = filtering.trajectory_return(rep.reward, 1.0, valid=rep.counted)
  np.testing.assert_allclose(true, [0.097525, -sum(_px_sequence(1.0, ep_len)), 0.0395],
                             rtol=1e-5)
