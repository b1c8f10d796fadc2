"""MOPO and COMBO (wombet_jax.agents.mopo): penalised model rollouts, the conservative term on
model samples, offline runs with a known stand-in model, and a smoke run with the real one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax import world_model
from wombet_jax.agents import cql, mopo
from wombet_jax.envs import pointmass

ROLL = dict(rollout_batch=8, rollout_length=3, model_capacity=500)
BETA, N = 2.0, 3


@pytest.fixture(scope="module")
def combo():
  c = bu.small_config(combo=dict(ROLL, conservative_weight=BETA, num_action_samples=N,
                                 real_ratio=0.25))
  return bu.fast_agent(mopo.make_combo(bu.make_ctx(c, wm=bu.OracleModel()))), c


@pytest.fixture(scope="module")
def parts(combo):
  """COMBO's learner and model data for the fixture's config, and the module's make_batch
  and losses (jitted)."""
  _, c = combo
  learner = cql.conservative_sac(c, bu.ACT, BETA, N)
  md = mopo.model_data(bu.make_ctx(c, wm=bu.OracleModel()), c.combo, 0.0)
  make_batch = bu.fast(lambda st, k, b, aux: mopo.make_batch(learner, md, st, k, b, aux))
  losses = bu.fast(lambda st, k, b, aux: mopo.losses(learner, md, st, k, b, aux))
  return learner, make_batch, losses


def test_penalized_model_rollouts_by_hand():
  wm, lam, n, h = bu.OracleModel(), 0.7, 5, 3
  obs0 = jax.random.uniform(jax.random.PRNGKey(0), (n, 4), minval=-1.0, maxval=1.0)
  policy = lambda k, o: jnp.clip(-o[:, :2], -1.0, 1.0)
  # Terminates when x' > 0: later steps of that rollout are invalid.
  term_fn = lambda o, a, o2: o2[..., 0] > 0.0
  key = jax.random.PRNGKey(1)
  trs, valid = mopo.model_rollouts(wm, bu.PAIR.target.reward_fn, term_fn, policy,
                                   jnp.float32(2.0), key, obs0, h, lam)
  obs, alive = np.asarray(obs0), np.ones(n)
  for t, k in enumerate(jax.random.split(key, h)):
    _, k_m, _ = jax.random.split(k, 3)
    member = np.asarray(jax.random.randint(k_m, (n,), 0, wm.num_elites))
    a = np.clip(-obs[:, :2], -1, 1)
    nxt = np.asarray(pointmass.dynamics(obs, a)) + wm.bias * member[:, None]
    u = 2.0 * wm.unc_scale * np.sum(a ** 2, -1)
    r = -np.linalg.norm(nxt[:, :2] - np.array(pointmass.TARGET_GOAL), axis=-1) \
        - 0.01 * np.sum(a ** 2, -1)
    rows = slice(t * n, (t + 1) * n)
    np.testing.assert_allclose(trs.next_obs[rows], nxt, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trs.reward[rows], r - lam * u, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(valid[rows], alive > 0)
    alive = alive * (nxt[:, 0] <= 0)
    obs = nxt
  assert 0 < int(valid.sum()) < n * h   # some rollouts ended early
  np.testing.assert_allclose(mopo.penalized_reward(jnp.array([1.0, -2.0]), jnp.array([0.5, 2.0]),
                                                   0.7), [0.65, -3.4], rtol=1e-6)


def test_batches_mix_real_rows_and_the_model_buffer(combo, parts):
  ag, c = combo
  st = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  mixed, model, real, buf = parts[1](st, jax.random.PRNGKey(2), batch, jnp.float32(1.0))
  n_real = int(round(0.25 * c.agent.batch_size))
  np.testing.assert_allclose(mixed.obs[:n_real], batch.obs[:n_real])
  np.testing.assert_allclose(mixed.obs[n_real:], model.obs)
  assert mixed.obs.shape == (c.agent.batch_size, 4)
  assert int(buf.size) == ROLL["rollout_batch"] * ROLL["rollout_length"]
  # Rollouts start at the batch's first states; COMBO has no reward penalty.
  np.testing.assert_allclose(buf.data.obs[:ROLL["rollout_batch"]],
                             batch.obs[:ROLL["rollout_batch"]])
  stored = jax.tree_util.tree_map(lambda x: x[:int(buf.size)], buf.data)
  np.testing.assert_allclose(stored.reward, bu.PAIR.target.reward_fn(
      stored.obs, stored.action, stored.next_obs), rtol=1e-5)


def test_combo_conservative_term_is_on_model_states(combo, parts):
  ag, _ = combo
  learner, make_batch, losses = parts
  nets, hp = learner.nets, learner.hp
  st = ag.init(jax.random.PRNGKey(0))
  ls = st.learner.replace(
      target_critic_params=ag.init(jax.random.PRNGKey(1)).learner.critic.params)
  st = st.replace(learner=ls)
  batch = bu.random_batch(jax.random.PRNGKey(2))
  key, aux = jax.random.PRNGKey(3), jnp.float32(1.0)
  k_data, k_upd = jax.random.split(key)
  mixed, model, real, _ = make_batch(st, k_data, batch, aux)
  k_t, k_p, _ = jax.random.split(k_upd, 3)
  y = cql.critic_target(nets, hp, ls.actor.params, ls.target_critic_params, mixed, k_t)
  want, gap = bu.hand_conservative_critic_loss(
      lambda o, a: cql.q_values(nets, ls.critic.params, o, a),
      lambda o: nets.actor.apply(ls.actor.params, o), k_p,
      mixed, y, model.obs, model.next_obs, real.obs, real.action, BETA, N)
  got = losses(st, key, batch, aux)
  np.testing.assert_allclose(got["critic_loss"], want, rtol=1e-4)
  np.testing.assert_allclose(got["conservative_gap"], gap, rtol=1e-4, atol=1e-5)


def test_update_lowers_the_critic_loss(combo, parts):
  ag, _ = combo
  losses = parts[2]
  aux = jnp.float32(1.0)
  st0, st, batch = bu.train_on_fixed_batch(ag, 200, aux)
  # Same real rows and model buffer contents for both evaluations.
  key = jax.random.PRNGKey(9)
  before = losses(st0.replace(model_buffer=st.model_buffer), key, batch, aux)
  after = losses(st, key, batch, aux)
  assert after["critic_loss"] < 0.8 * before["critic_loss"]
  assert after["conservative_gap"] < before["conservative_gap"]


def test_runs_with_the_real_world_model_and_validates():
  c = bu.small_config(mopo=ROLL)
  c.world_model.update(dict(ensemble_size=2, num_elites=2, hidden_size=8, num_layers=1))
  wm = world_model.make_world_model(4, 2, c.world_model)
  ag = bu.fast_agent(mopo.make_mopo(bu.make_ctx(c, wm=wm)))
  st, info = ag.update(ag.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1),
                       bu.random_batch(jax.random.PRNGKey(2)), wm.init(jax.random.PRNGKey(3)))
  assert np.isfinite(info["critic_loss"]) and int(st.model_buffer.size) == 24
  with pytest.raises(ValueError, match="mopo.rollout_batch"):
    mopo.make_mopo(bu.make_ctx(bu.small_config(mopo=dict(rollout_batch=1000)), wm=wm))
  with pytest.raises(ValueError, match="world model"):
    mopo.make_combo(bu.make_ctx(bu.small_config()))
