"""IQL (wombet_jax.agents.iql): expectile and AWR losses, offline and offline-to-online runs."""
import jax
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax.agents import iql

TAU, BETA, W_MAX = 0.7, 3.0, 5.0


@pytest.fixture(scope="module")
def agent():
  c = bu.small_config(iql=dict(expectile=TAU, temperature=BETA, max_weight=W_MAX))
  return bu.fast_agent(iql.make_iql(bu.make_ctx(c))), c


@pytest.fixture(scope="module")
def parts(agent):
  """The module's networks for the agent's config and its losses at a state (jitted)."""
  _, c = agent
  nets, hp = iql.make_networks(c, bu.ACT), iql.hyperparameters(c)
  return nets, bu.fast(lambda st, batch: iql.losses(nets, hp, st, batch))


def test_expectile_and_awr_weights_by_hand():
  u = np.array([-2.0, 1.0, 0.5, -0.1])
  want = np.mean([0.3 * 4, 0.7 * 1, 0.7 * 0.25, 0.3 * 0.01])
  np.testing.assert_allclose(iql.expectile_loss(u, TAU), want, rtol=1e-6)
  adv = np.array([-1.0, 0.0, 0.2, 1.0])
  np.testing.assert_allclose(iql.awr_weights(adv, BETA, W_MAX),
                             [np.exp(-3.0), 1.0, np.exp(0.6), W_MAX], rtol=1e-6)


def test_losses_equal_iql_equations(agent, parts):
  ag, c = agent
  nets, losses = parts
  st = ag.init(jax.random.PRNGKey(0))
  st = st.replace(target_critic_params=ag.init(jax.random.PRNGKey(1)).critic.params)
  batch = bu.random_batch(jax.random.PRNGKey(2))
  q_values = lambda params, o, a: np.asarray(iql.q_values(nets, params, o, a))
  value = lambda o: np.asarray(nets.value.apply(st.value.params, o))
  obs, act = batch.obs, batch.action
  q_t = np.min(q_values(st.target_critic_params, obs, act), 0)
  v = value(obs)
  u = q_t - v
  assert np.any(u < 0) and np.any(u > 0)   # both sides of the expectile weigh in
  v_loss = np.mean(np.where(u < 0, 1 - TAU, TAU) * u ** 2)
  mean, log_std = (np.asarray(x) for x in nets.actor.apply(st.actor.params, obs))
  logp = np.sum(-0.5 * ((np.asarray(act) - mean) / np.exp(log_std)) ** 2 - log_std
                - 0.5 * np.log(2 * np.pi), -1)
  a_loss = -np.mean(np.minimum(np.exp(BETA * u), W_MAX) * logp)
  y = (np.asarray(batch.reward) + c.agent.discount * (1 - np.asarray(batch.terminal))
       * value(batch.next_obs))
  c_loss = np.mean((q_values(st.critic.params, obs, act) - y) ** 2)
  got = losses(st, batch)
  np.testing.assert_allclose(got["value_loss"], v_loss, rtol=1e-5)
  np.testing.assert_allclose(got["actor_loss"], a_loss, rtol=1e-5)
  np.testing.assert_allclose(got["critic_loss"], c_loss, rtol=1e-5)


def test_updates_lower_the_losses_on_a_fixed_batch(agent, parts):
  ag, _ = agent
  losses = parts[1]
  st0 = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  st = bu.fast(lambda s: jax.lax.scan(lambda s, _: (ag.update(s, None, batch, None)[0], None),
                                      s, None, length=200)[0])(st0)
  before, after = losses(st0, batch), losses(st, batch)
  assert after["critic_loss"] < 0.5 * before["critic_loss"]
  # V and pi against the final critics: the trained ones beat the initial ones.
  for name, field in (("value_loss", "value"), ("actor_loss", "actor")):
    initial = losses(st.replace(**{field: getattr(st0, field)}), batch)
    assert after[name] < initial[name], name
