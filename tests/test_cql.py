"""CQL and Cal-QL (wombet_jax.agents.cql): logsumexp term, calibration by Monte-Carlo returns,
offline and offline-to-online runs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax import replay
from wombet_jax.agents import cql

ALPHA, N = 2.0, 3


def _config(**kw):
  return bu.small_config(cql=dict(alpha=ALPHA, num_action_samples=N), **kw)


@pytest.fixture(scope="module")
def agents():
  ctx = bu.make_ctx(_config())
  return bu.fast_agent(cql.make_cql(ctx)), bu.fast_agent(cql.make_cal_ql(ctx))


@pytest.fixture(scope="module")
def learner():
  """The module's networks and numbers for the agents' config, and its losses at a state
  (jitted; CQL's batch roles: Q pushed down at the batch's states, up on its (s, a))."""
  lr = cql.conservative_sac(_config(), bu.ACT, ALPHA, N)
  losses = bu.fast(lambda st, key, b, lower: cql.losses(lr.nets, lr.hp, st, key, b, b.obs,
                                                       b.next_obs, b.obs, b.action, lower))
  return lr, losses


def _with_mc(batch, mc_return):
  return cql.MCTransition(obs=batch.obs, action=batch.action, reward=batch.reward,
                          next_obs=batch.next_obs, terminal=batch.terminal, done=batch.done,
                          mc_return=mc_return)


def test_conservative_logsumexp_by_hand():
  # One critic, one sample of each proposal, two states; |A| = 2 so -log 0.5^2 = log 4.
  q_rand, q_pi, q_next = (jnp.array([[[a, b]]]) for a, b in ((1.0, 0.0), (2.0, -3.0),
                                                              (0.5, 1.0)))
  logp_pi, logp_next = jnp.array([[0.5, -1.0]]), jnp.array([[0.0, 2.0]])
  got = cql.conservative_logsumexp(q_rand, q_pi, logp_pi, q_next, logp_next, 2)
  lse = lambda *x: np.log(np.sum(np.exp(x)))
  want = [lse(1 + np.log(4), 2 - 0.5, 0.5 - 0.0), lse(0 + np.log(4), -3 + 1.0, 1.0 - 2.0)]
  np.testing.assert_allclose(got[0], want, rtol=1e-6)
  # Cal-QL: policy-action values are raised to V_mc before subtracting log pi.
  bound = jnp.array([0.0, 5.0])
  got = cql.conservative_logsumexp(q_rand, q_pi, logp_pi, q_next, logp_next, 2, bound)
  want = [lse(1 + np.log(4), 2 - 0.5, 0.5 - 0.0), lse(0 + np.log(4), 5 + 1.0, 5 - 2.0)]
  np.testing.assert_allclose(got[0], want, rtol=1e-6)


def test_mc_returns_follow_episodes_through_a_wrapped_buffer():
  buf = replay.init_buffer(bu.example_transition(), 6)
  for i in range(1, 9):     # items 1..8; 1 and 2 are overwritten by 7 and 8
    tr = bu.example_transition().replace(reward=jnp.float32(i),
                                         done=jnp.float32(i in (4, 7)))
    buf = replay.add(buf, tr)
  idx = jnp.array([2, 3, 4, 5, 0, 1])   # items 3, 4, 5, 6, 7, 8
  got = cql.mc_returns(buf, idx, 0.5, 4)
  np.testing.assert_allclose(got, [3 + 0.5 * 4, 4, 5 + 3 + 1.75, 6 + 3.5, 7, -np.inf])
  # An episode end beyond max_len steps is not seen: no calibration for that row.
  np.testing.assert_allclose(cql.mc_returns(buf, idx, 0.5, 2)[2], -np.inf)


def _check_loss(ag, learner, c, batch, lower):
  lr, losses = learner
  nets, hp = lr.nets, lr.hp
  st = ag.init(jax.random.PRNGKey(0))
  st = st.replace(target_critic_params=ag.init(jax.random.PRNGKey(1)).critic.params)
  key = jax.random.PRNGKey(3)
  k_t, k_p, _ = jax.random.split(key, 3)
  y = cql.critic_target(nets, hp, st.actor.params, st.target_critic_params, batch, k_t)
  want, gap = bu.hand_conservative_critic_loss(
      lambda o, a: cql.q_values(nets, st.critic.params, o, a),
      lambda o: nets.actor.apply(st.actor.params, o), k_p,
      batch, y, batch.obs, batch.next_obs, batch.obs, batch.action, ALPHA, N, lower)
  got = losses(st, key, batch, None if lower is None else jnp.asarray(lower))
  np.testing.assert_allclose(got["critic_loss"], want, rtol=1e-4)
  np.testing.assert_allclose(got["conservative_gap"], gap, rtol=1e-4, atol=1e-5)
  # Target without entropy: y = r + gamma (1 - d) min_i Q'_i(s', a'), a' ~ pi(s').
  mean, log_std = nets.actor.apply(st.actor.params, batch.next_obs)
  a_next = bu.tanh_gaussian_sample(k_t, mean, log_std)[0]
  q_next = cql.q_values(nets, st.target_critic_params, batch.next_obs, a_next)
  y_hand = batch.reward + c.agent.discount * (1 - batch.terminal) * q_next.min(0)
  np.testing.assert_allclose(y, y_hand, rtol=1e-5, atol=1e-6)
  return st, got


def test_cql_critic_loss_equals_equation(agents, learner):
  _check_loss(agents[0], learner, _config(), bu.random_batch(jax.random.PRNGKey(2)), None)


def test_cal_ql_critic_loss_uses_the_calibrated_bound(agents, learner):
  batch = bu.random_batch(jax.random.PRNGKey(2))
  n = batch.obs.shape[0]
  # Half the states get a bound far above any Q (active), half -inf (inactive).
  lower = np.where(np.arange(n) % 2 == 0, 3.0, -np.inf).astype(np.float32)
  _, got = _check_loss(agents[1], learner, _config(), batch, lower)
  _, plain = _check_loss(agents[0], learner, _config(), batch, None)
  assert got["conservative_gap"] > plain["conservative_gap"] + 0.5
  # Cal-QL's update reads the bound off the batch (the gap is taken before its step, with
  # _check_loss's key); a batch without one is refused.
  st, key = agents[1].init(jax.random.PRNGKey(0)), jax.random.PRNGKey(3)
  with pytest.raises(ValueError, match="mc_return"):
    agents[1].update(st, key, batch, None)
  _, info = agents[1].update(st, key, _with_mc(batch, jnp.asarray(lower)), None)
  _, info_plain = agents[0].update(st, key, batch, None)
  np.testing.assert_allclose(info["conservative_gap"], got["conservative_gap"], rtol=1e-5)
  np.testing.assert_allclose(info_plain["conservative_gap"], plain["conservative_gap"],
                             rtol=1e-5)


def test_update_lowers_the_critic_loss_and_sample_offline_adds_mc_returns(agents, learner):
  ag, cal = agents
  losses = learner[1]
  st0, st, batch = bu.train_on_fixed_batch(ag, 200)
  key = jax.random.PRNGKey(9)
  before, after = losses(st0, key, batch, None), losses(st, key, batch, None)
  # The logsumexp over 3n actions keeps the gap above ~0, so the loss cannot vanish.
  assert after["critic_loss"] < 0.8 * before["critic_loss"]
  assert after["conservative_gap"] < before["conservative_gap"]
  assert after["td_loss"] < before["td_loss"]
  data = bu.pd_dataset(jax.random.PRNGKey(3), n=200)
  b = cal.sample_offline(data, jax.random.PRNGKey(4), 16)
  assert isinstance(b, cql.MCTransition)
  idx = jax.random.randint(jax.random.PRNGKey(4), (16,), 0, data.size)
  np.testing.assert_allclose(b.obs, data.data.obs[idx])
  c = _config()
  max_len = max(bu.EP_LEN, c.generation.horizon)
  np.testing.assert_allclose(b.mc_return, cql.mc_returns(data, idx, c.agent.discount, max_len))
  assert np.all(np.isfinite(b.mc_return))   # 200 = 4 whole episodes
  # Fine-tuning batches mix D_off and D_on through replay.sample_mixed, MC returns on both.
  mixed = bu.replay.sample_mixed(data, data, jax.random.PRNGKey(5), 16, 0.5,
                                 sample_fn=cal.sample_offline)
  assert isinstance(mixed, cql.MCTransition) and np.all(np.isfinite(mixed.mc_return))
