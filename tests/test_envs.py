"""Tests for wombet_jax.envs: exact rewards, terminations, resets and auto-reset.

Pointmass tests are fast. Each MJX pair compiles one program (~10-40 s on CPU), marked slow:
it resets 64 source envs and rolls 64 target envs out for 14 steps with a 6-step time limit,
and every MJX assertion for that pair reads that one rollout.
"""
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import helpers
from wombet_jax import envs
from wombet_jax.envs import pointmass

MJX_PAIRS = ("halfcheetah", "hopper", "walker2d", "ant", "reacher", "inverted_double_pendulum")
N_ENVS, N_STEPS, EP_LEN = 64, 14, 6


# ------------------------------------------------------------------ registry

def test_names_and_unknown_name():
  assert envs.names() == ("pointmass",) + MJX_PAIRS
  # Every list of pairs derives from the registry's specs: the MJX pairs (scene, brax env) and
  # the paper's pairs, each with its paper-scale config file.
  assert envs.mjx_names() == MJX_PAIRS and envs.paper_names() == MJX_PAIRS
  assert envs.is_mjx("hopper:source") and not envs.is_mjx("pointmass")
  from wombet_jax.configs import CONFIGS
  for name in envs.paper_names():
    assert os.path.exists(os.path.join(CONFIGS, f"{name}.py")), name
  with pytest.raises(ValueError, match="known pairs: pointmass, halfcheetah.*reacher"):
    envs.make_pair("cheetah")


@pytest.mark.parametrize("bad", [-1, 2.5, "10"])
def test_bad_episode_length(bad):
  with pytest.raises(ValueError, match="episode_length"):
    envs.make_pair("pointmass", episode_length=bad)


def test_default_and_custom_episode_length():
  assert envs.make_pair("pointmass").episode_length == 50
  assert envs.make_pair("pointmass", episode_length=0).episode_length == 50
  assert envs.make_pair("pointmass", episode_length=7).episode_length == 7
  pair = envs.make_pair("reacher")
  assert (pair.name, pair.obs_dim, pair.act_dim, pair.episode_length) == ("reacher", 11, 2, 50)


# ------------------------------------------------------------------ analytic ceilings

def _at(dim: int, **values) -> jnp.ndarray:
  x = np.zeros(dim, np.float32)
  for i, v in values.items():
    x[int(i[1:])] = v
  return jnp.asarray(x)


def _ceiling_cases():
  from wombet_jax.envs import inverted_double_pendulum as idp, mjx_tasks, reacher
  pm = envs.make_pair("pointmass")
  gx, gy = pointmass.TARGET_GOAL
  # (pair, side, reward_fn, obs dim, act dim, a next_obs at which the reward is its maximum)
  return [
      ("pointmass", "target", pm.target.reward_fn, 4, 2, _at(4, i0=gx, i1=gy)),
      ("halfcheetah", "target", mjx_tasks.halfcheetah_target_reward, 18, 6, _at(18, i17=2.0)),
      ("hopper", "target", mjx_tasks.hopper_target_reward, 13, 3, _at(13, i11=1.0)),
      ("walker2d", "target", mjx_tasks.walker2d_target_reward, 18, 6, _at(18, i17=1.0)),
      ("reacher", "target", reacher.reacher_reward, 11, 2, _at(11)),
      ("inverted_double_pendulum", "target", idp.idp_target_reward, 12, 1,
       _at(12, i0=0.5, i8=0.5, i9=2.0)),
      ("inverted_double_pendulum", "source", idp.idp_source_reward, 12, 1,
       _at(12, i0=0.3, i9=2.0)),
  ]


def test_each_bounded_reward_stays_under_its_maximum_and_reaches_it():
  """The per-step maxima behind `return_ceiling`: no random transition exceeds one, the
  hand-built best transition (zero action) attains it, and ceiling = maximum x length."""
  for name, side, reward_fn, obs_dim, act_dim, best in _ceiling_cases():
    key = f"{name}:source" if side == "source" else name
    top = envs.return_ceiling(key, 1)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(len(name)), 3)
    obs = 3.0 * jax.random.normal(k1, (4096, obs_dim))
    nxt = 3.0 * jax.random.normal(k2, (4096, obs_dim))
    act = jax.random.uniform(k3, (4096, act_dim), minval=-1.0, maxval=1.0)
    assert float(jnp.max(reward_fn(obs, act, nxt))) < top, key
    assert float(reward_fn(best, jnp.zeros(act_dim), best)) == top, key
    if not name.startswith("inverted"):  # the pendulum's reward has no control cost
      assert float(reward_fn(best, jnp.full(act_dim, 0.5), best)) < top, key
  assert envs.return_ceiling("halfcheetah", 1000) == 0.0
  assert envs.return_ceiling("hopper") == 1000.0  # the default 1000 steps x 1
  assert envs.return_ceiling("inverted_double_pendulum", 200) == 2000.0
  assert envs.return_ceiling("reacher:source", 50) == 0.0
  # Running forward has no finite maximum.
  assert envs.return_ceiling("hopper:source", 1000) is None
  assert envs.return_ceiling("ant", 1000) is None


def test_the_ceiling_beside_a_reference_is_normalised_by_hand():
  from wombet_jax.harness import reference
  ref = {"random": -2275.9, "reference": -689.0}
  # 100 * (0 - -2275.9) / (-689.0 - -2275.9) = 227590 / 1586.9 = 143.42
  assert reference.ceiling_text("halfcheetah", 1000, ref) == (
      "the target return's analytic ceiling is 0.0 (normalised 143.4)")
  assert reference.ceiling_text("hopper", 1000, None) == (
      "the target return's analytic ceiling is 1000.0")
  assert reference.ceiling_text("ant", 1000, ref) == (
      "the target reward has no analytic ceiling")


# ------------------------------------------------------------------ pointmass

@pytest.fixture(scope="module")
def pm():
  return envs.make_pair("pointmass", episode_length=3)


def test_pointmass_step_by_hand(pm):
  state = pm.source.reset(jax.random.PRNGKey(0))
  state = state.replace(obs=jnp.array([0.2, -0.1, 0.5, 0.0]),
                        inner=jnp.array([0.2, -0.1, 0.5, 0.0]))
  new_state, tr = jax.jit(pm.source.step)(state, jnp.array([0.5, -3.0]))  # -3 clips to -1
  # v' = v + 0.1 (a - 0.5 v) = (0.525, -0.1); p' = p + 0.1 v' = (0.2525, -0.11)
  np.testing.assert_allclose(tr.next_obs, [0.2525, -0.11, 0.525, -0.1], atol=1e-6)
  np.testing.assert_allclose(tr.action, [0.5, -1.0])
  expected_src = -math.hypot(0.2525 - 1.0, -0.11) - 0.01 * 1.25
  np.testing.assert_allclose(tr.reward, expected_src, atol=1e-6)
  np.testing.assert_allclose(new_state.obs, tr.next_obs)
  assert (int(new_state.t), float(tr.done), float(tr.terminal)) == (1, 0.0, 0.0)
  np.testing.assert_allclose(new_state.episode_return, expected_src, atol=1e-6)
  expected_tgt = -math.hypot(0.2525 - 1.0, -0.11 - 0.5) - 0.01 * 1.25
  np.testing.assert_allclose(pm.target.reward_fn(tr.obs, tr.action, tr.next_obs),
                             expected_tgt, atol=1e-6)


def test_pointmass_reward_fns_broadcast(pm):
  obs = jax.random.normal(jax.random.PRNGKey(1), (5, 7, 4))
  act = jax.random.uniform(jax.random.PRNGKey(2), (5, 7, 2), minval=-1, maxval=1)
  nxt = pointmass.dynamics(obs, act)
  for task, goal in ((pm.source, pointmass.SOURCE_GOAL), (pm.target, pointmass.TARGET_GOAL)):
    r = task.reward_fn(obs, act, nxt)
    assert r.shape == (5, 7)
    expected = (-np.linalg.norm(np.asarray(nxt[..., :2]) - np.asarray(goal), axis=-1)
                - 0.01 * np.sum(np.asarray(act) ** 2, axis=-1))
    np.testing.assert_allclose(r, expected, atol=1e-5)
    assert task.termination_fn(obs, act, nxt).shape == (5, 7)
    assert not bool(task.termination_fn(obs, act, nxt).any())


def test_pointmass_reset_distributions_differ(pm):
  keys = jax.random.split(jax.random.PRNGKey(3), 256)
  src = jax.vmap(pm.source.reset)(keys).obs
  tgt = jax.vmap(pm.target.reset)(keys).obs
  assert float(jnp.abs(src[:, :2]).max()) <= 0.1 and float(jnp.abs(src[:, 2:]).max()) <= 0.05
  # U[-c, c] has std c / sqrt(3); the target's position spread is 5x the source's.
  np.testing.assert_allclose(src.std(0), np.array([0.1, 0.1, 0.05, 0.05]) / np.sqrt(3), rtol=0.15)
  np.testing.assert_allclose(tgt.std(0), np.array([0.5, 0.5, 0.2, 0.2]) / np.sqrt(3), rtol=0.15)


@pytest.mark.parametrize("use_jit", [True, False])
def test_pointmass_auto_reset(pm, use_jit):
  task = pm.target
  step = jax.jit(task.step) if use_jit else task.step
  state = task.reset(jax.random.key(4))  # typed keys work as well as raw uint32 keys
  first_obs, rewards = state.obs, []
  for i in range(3):
    prev = state
    state, tr = step(state, jnp.array([1.0, 1.0]))
    rewards.append(float(tr.reward))
    np.testing.assert_allclose(tr.obs, prev.obs)
    np.testing.assert_allclose(tr.next_obs, pointmass.dynamics(prev.obs, tr.action), atol=1e-6)
    np.testing.assert_allclose(tr.reward, task.reward_fn(tr.obs, tr.action, tr.next_obs))
    assert float(tr.terminal) == 0.0
    assert float(tr.done) == (1.0 if i == 2 else 0.0)
  # The done step reported the true last obs; the returned state is a fresh random reset.
  assert int(state.t) == 0 and float(state.episode_return) == 0.0
  assert float(jnp.abs(state.obs - tr.next_obs).max()) > 0.05
  assert float(jnp.abs(state.obs - first_obs).max()) > 1e-3
  assert float(jnp.abs(state.obs[:2]).max()) <= 0.5 and float(jnp.abs(state.obs[2:]).max()) <= 0.2
  np.testing.assert_allclose(float(prev.episode_return) + rewards[-1], sum(rewards), rtol=1e-5)


def _pd_return(task, goal, episodes, key, random=False):
  """Mean 50-step return of the PD controller toward ``goal`` (or of uniform actions)."""
  if random:
    policy = lambda k, obs: jax.random.uniform(k, (2,), minval=-1.0, maxval=1.0)
  else:
    policy = lambda k, obs: helpers.pd_action(obs, goal)
  returns = jax.jit(lambda k: helpers.episode_returns(task, policy, k, episodes, 50))(key)
  return float(returns.mean())


def test_pointmass_return_scale():
  """The return scale documented in pointmass's docstring."""
  pair, key = envs.make_pair("pointmass"), jax.random.PRNGKey(5)
  assert -12.0 < _pd_return(pair.source, pointmass.SOURCE_GOAL, 256, key) < -10.0
  assert -14.5 < _pd_return(pair.target, pointmass.TARGET_GOAL, 256, key) < -11.5
  assert -35.0 < _pd_return(pair.target, pointmass.SOURCE_GOAL, 256, key) < -29.0
  assert -70.0 < _pd_return(pair.target, None, 256, key, random=True) < -56.0


# ------------------------------------------------------------------ MJX reward / termination fns

def _ctrl(a, w):
  return w * float(np.sum(np.square(a)))


def test_mjx_reward_fns_by_hand():
  a6 = np.full((6,), 0.5, np.float32)
  hc = envs.make_pair("halfcheetah")
  nxt = np.zeros((3, 18), np.float32)
  nxt[:, 17] = [2.5, 0.0, 2.0]
  r_src, r_tgt = hc.source.reward_fn(nxt, a6, nxt), hc.target.reward_fn(nxt, a6, nxt)
  np.testing.assert_allclose(r_src, np.array([2.5, 0.0, 2.0]) - _ctrl(a6, 0.1), atol=1e-6)
  np.testing.assert_allclose(r_tgt, -np.array([0.5, 2.0, 0.0]) - _ctrl(a6, 0.1), atol=1e-6)

  ant, a8 = envs.make_pair("ant"), np.full((8,), -0.5, np.float32)
  nxt = np.zeros((30,), np.float32)
  nxt[27:30] = [1.0, math.sqrt(3.0), 0.5]  # along 60 degrees: 0.5 + 1.5 = 2
  np.testing.assert_allclose(ant.target.reward_fn(nxt, a8, nxt), 2.0 + 1.0 - _ctrl(a8, 0.5),
                             atol=1e-5)
  np.testing.assert_allclose(ant.source.reward_fn(nxt, a8, nxt), 1.0 + 1.0 - _ctrl(a8, 0.5),
                             atol=1e-5)

  for name, dim, vx, act_dim in (("hopper", 13, 11, 3), ("walker2d", 18, 17, 6)):
    pair, a = envs.make_pair(name), np.ones((act_dim,), np.float32)
    nxt = np.zeros((dim,), np.float32)
    nxt[vx] = 0.25  # source: 0.25 + 1 - ctrl; target: -|0.25 - 1| + 1 - ctrl
    np.testing.assert_allclose(pair.source.reward_fn(nxt, a, nxt), 1.25 - 1e-3 * act_dim,
                               atol=1e-6)
    np.testing.assert_allclose(pair.target.reward_fn(nxt, a, nxt), 0.25 - 1e-3 * act_dim,
                               atol=1e-6)

  idp = envs.make_pair("inverted_double_pendulum")
  nxt = np.zeros((12,), np.float32)
  nxt[[0, 8, 9, 10, 11]] = [0.3, 0.4, 1.1, 2.0, -1.0]
  vel = 1e-3 * 4.0 + 5e-3 * 1.0
  np.testing.assert_allclose(idp.source.reward_fn(nxt, None, nxt),
                             10.0 - (0.01 * 0.16 + 0.81) - vel, atol=1e-5)
  np.testing.assert_allclose(idp.target.reward_fn(nxt, None, nxt),
                             10.0 - (0.01 * 0.01 + 0.81) - vel - 0.2, atol=1e-5)
  nxt[9] = 1.0  # fallen: no alive bonus
  np.testing.assert_allclose(idp.source.reward_fn(nxt, None, nxt),
                             -(0.01 * 0.16 + 1.0) - vel, atol=1e-5)


def _with(obs, **index_values):
  obs = np.array(obs, np.float32)
  for i, v in index_values.items():
    obs[..., int(i[1:])] = v
  return obs


def test_mjx_termination_fns_by_hand():
  hop = envs.make_pair("hopper").source.termination_fn
  ok = np.zeros((13,), np.float32)
  ok[0] = 1.25
  cases = [(ok, False), (_with(ok, i0=0.7), True), (_with(ok, i1=0.25), True),
           (_with(ok, i1=-0.19), False), (_with(ok, i3=-100.5), True),
           (_with(ok, i12=150.0), True), (_with(ok, i12=99.0), False)]
  for obs, expected in cases:
    assert bool(hop(obs, None, obs)) == expected, (obs, expected)
  walker = envs.make_pair("walker2d").target.termination_fn
  ok = _with(np.zeros((18,)), i0=1.2)
  for obs, expected in [(ok, False), (_with(ok, i0=0.79), True), (_with(ok, i0=2.01), True),
                        (_with(ok, i1=1.1), True), (_with(ok, i1=-0.9), False)]:
    assert bool(walker(obs, None, obs)) == expected
  ant = envs.make_pair("ant").source.termination_fn
  z = np.zeros((4, 30), np.float32)
  z[:, 29] = [0.55, 0.19, 1.01, 0.21]
  np.testing.assert_array_equal(ant(z, None, z), [False, True, True, False])
  idp = envs.make_pair("inverted_double_pendulum").target.termination_fn
  tip = np.zeros((3, 12), np.float32)
  tip[:, 9] = [1.2, 1.0, 0.9]
  np.testing.assert_array_equal(idp(tip, None, tip), [False, True, True])
  reacher = envs.make_pair("reacher").target.termination_fn
  assert not bool(reacher(np.zeros((11,)), None, np.ones((11,))))


# ------------------------------------------------------------------ MJX rollouts

@pytest.fixture(scope="module", params=MJX_PAIRS)
def mjx_rollout(request):
  """One compiled program per pair: 64 source resets, a 64-env target rollout with resets."""
  pair = envs.make_pair(request.param, episode_length=EP_LEN)

  def run(key):
    k_src, k_tgt, k_act = jax.random.split(key, 3)
    source_obs = jax.vmap(pair.source.reset)(jax.random.split(k_src, N_ENVS)).obs
    state = jax.vmap(pair.target.reset)(jax.random.split(k_tgt, N_ENVS))

    def body(s, k):
      # Slightly outside [-1, 1] so that clipping is exercised.
      a = jax.random.uniform(k, (N_ENVS, pair.act_dim), minval=-1.2, maxval=1.2)
      s_next, tr = jax.vmap(pair.target.step)(s, a)
      return s_next, (s, tr, s_next, s_next.inner.reward, s_next.inner.done)
    _, traj = jax.lax.scan(body, state, jax.random.split(k_act, N_STEPS))
    return source_obs, traj

  return pair, jax.jit(run)(jax.random.PRNGKey(7))


@pytest.mark.slow
def test_mjx_pair(mjx_rollout):
  pair, (source_obs, (state, tr, state_next, brax_reward, brax_done)) = mjx_rollout
  assert tr.obs.shape == (N_STEPS, N_ENVS, pair.obs_dim)
  assert tr.action.shape == (N_STEPS, N_ENVS, pair.act_dim)
  assert float(jnp.abs(tr.action).max()) <= 1.0 and float(jnp.abs(tr.action).max()) > 0.99
  assert bool(jnp.all(jnp.isfinite(tr.next_obs)))

  # The env's reward and terminal are exactly the task's pure functions.
  np.testing.assert_allclose(tr.reward, pair.target.reward_fn(tr.obs, tr.action, tr.next_obs),
                             atol=1e-5)
  np.testing.assert_array_equal(
      tr.terminal, pair.target.termination_fn(tr.obs, tr.action, tr.next_obs))

  # Brax's own reward and done (kept in the inner state unless it was reset) on the same
  # transitions: the source reward_fn is brax's task, the termination is brax's.
  kept = np.asarray(tr.done) == 0.0
  assert kept.mean() > 0.5
  src_reward = pair.source.reward_fn(tr.obs, tr.action, tr.next_obs)
  np.testing.assert_allclose(np.asarray(src_reward)[kept], np.asarray(brax_reward)[kept],
                             atol=1e-3)
  assert not np.asarray(brax_done)[kept].any()
  if pair.name != "reacher":  # reacher's rewards coincide; its tasks differ in rho only
    assert float(jnp.abs(src_reward - tr.reward).max()) > 1e-2

  # Time limit, truncation vs termination, and continuity of observations within episodes.
  np.testing.assert_array_equal(tr.done, np.maximum(tr.terminal, state.t + 1 >= EP_LEN))
  done = np.asarray(tr.done) == 1.0
  # Envs whose first episode ran to the time limit (all of them, unless one terminated).
  full = ~done[:EP_LEN - 1].any(axis=0)
  assert (np.asarray(state.t)[0] == 0).all() and full.mean() > 0.5 and done[EP_LEN - 1][full].all()
  np.testing.assert_allclose(np.asarray(tr.obs[1:])[~done[:-1]],
                             np.asarray(tr.next_obs[:-1])[~done[:-1]])
  np.testing.assert_array_equal(np.asarray(state_next.t)[done], 0)
  np.testing.assert_array_equal(np.asarray(state_next.episode_return)[done], 0.0)

  # Auto-reset: the done step reports the true last obs, and the next episode starts from a
  # new random draw (different from the last obs and from the previous episode's start).
  fresh, last = np.asarray(state_next.obs)[done], np.asarray(tr.next_obs)[done]
  assert np.abs(fresh - last).max(axis=-1).min() > 1e-4
  starts = np.asarray(state.obs)
  assert np.abs(starts[EP_LEN][full] - starts[0][full]).max(axis=-1).min() > 1e-6

  # rho_S != rho_T: some feature's mean or spread differs well beyond sampling error.
  target_obs = np.asarray(tr.obs[0])
  src_obs = np.asarray(source_obs)
  se = np.sqrt((src_obs.var(0) + target_obs.var(0)) / N_ENVS) + 1e-8
  mean_z = np.abs(src_obs.mean(0) - target_obs.mean(0)) / se
  std_ratio = (target_obs.std(0) + 1e-8) / (src_obs.std(0) + 1e-8)
  assert mean_z.max() > 6.0 or std_ratio.max() > 1.6, (mean_z.max(), std_ratio.max())
  if pair.name == "reacher":  # goal (x, y) sits at obs[4:6]
    assert (src_obs[:, 5] >= 0).all() and (target_obs[:, 5] <= 0).all()
    goals = np.linalg.norm(target_obs[:, 4:6], axis=-1)
    assert goals.max() <= 0.2 + 1e-6 and goals.std() > 0.02


def test_source_suffix_puts_the_source_task_in_the_targets_place():
  from wombet_jax.envs import registry
  pair = registry.make_pair("pointmass:source")
  base = registry.make_pair("pointmass")
  assert pair.name == "pointmass:source" and pair.target is pair.source
  assert pair.episode_length == base.episode_length
  obs, act = jnp.ones(pair.obs_dim), jnp.zeros(pair.act_dim)
  np.testing.assert_allclose(pair.target.reward_fn(obs, act, obs),
                             base.source.reward_fn(obs, act, obs))
  assert registry.is_known("hopper:source") and not registry.is_known("hopper:target")
  with pytest.raises(ValueError, match="hopper:target"):
    registry.default_episode_length("hopper:target")
