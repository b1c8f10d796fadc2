"""AWAC (wombet_jax.agents.awac): critic target, advantage weights, offline-to-online run."""
import jax
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax.agents import awac
from wombet_jax.networks import gaussian_sample

LAM, W_MAX = 0.5, 4.0


@pytest.fixture(scope="module")
def agent():
  c = bu.small_config(awac=dict(temperature=LAM, max_weight=W_MAX))
  return bu.fast_agent(awac.make_awac(bu.make_ctx(c))), c


@pytest.fixture(scope="module")
def parts(agent):
  """The module's networks for the agent's config and its losses at a state (jitted)."""
  _, c = agent
  nets, hp = awac.make_networks(c, bu.ACT), awac.hyperparameters(c)
  return nets, bu.fast(lambda st, key, batch: awac.losses(nets, hp, st, key, batch))


def test_losses_equal_awac_equations(agent, parts):
  ag, c = agent
  nets, losses = parts
  st = ag.init(jax.random.PRNGKey(0))
  st = st.replace(target_critic_params=ag.init(jax.random.PRNGKey(1)).critic.params)
  batch = bu.random_batch(jax.random.PRNGKey(2))
  key = jax.random.PRNGKey(3)
  k_t, k_a = jax.random.split(key)   # documented key use: target, then advantage sample
  obs, act = batch.obs, batch.action
  q = lambda o, a: np.asarray(awac.q_values(nets, st.critic.params, o, a))
  q_targ = lambda o, a: np.asarray(awac.q_values(nets, st.target_critic_params, o, a))
  m_next, ls_next = nets.actor.apply(st.actor.params, batch.next_obs)
  a_next = gaussian_sample(k_t, m_next, ls_next)
  y = (np.asarray(batch.reward) + c.agent.discount * (1 - np.asarray(batch.terminal))
       * np.min(q_targ(batch.next_obs, a_next), 0))
  mean, log_std = nets.actor.apply(st.actor.params, obs)
  a_pi = gaussian_sample(k_a, mean, log_std)
  adv = np.min(q(obs, act), 0) - np.min(q(obs, a_pi), 0)
  mean, log_std = np.asarray(mean), np.asarray(log_std)
  logp = np.sum(-0.5 * ((np.asarray(act) - mean) / np.exp(log_std)) ** 2 - log_std
                - 0.5 * np.log(2 * np.pi), -1)
  w = np.minimum(np.exp(adv / LAM), W_MAX)
  got = losses(st, key, batch)
  np.testing.assert_allclose(got["critic_loss"], np.mean((q(obs, act) - y) ** 2), rtol=1e-5)
  np.testing.assert_allclose(got["actor_loss"], -np.mean(w * logp), rtol=1e-5)
  assert np.any(w == W_MAX) or np.all(np.exp(adv / LAM) <= W_MAX)


def test_updates_lower_the_losses_on_a_fixed_batch(agent, parts):
  ag, _ = agent
  losses = parts[1]
  st0, st, batch = bu.train_on_fixed_batch(ag, 200)
  key = jax.random.PRNGKey(9)
  before, after = losses(st0, key, batch), losses(st, key, batch)
  assert after["critic_loss"] < 0.5 * before["critic_loss"]
  initial_actor = losses(st.replace(actor=st0.actor), key, batch)
  assert after["actor_loss"] < initial_actor["actor_loss"]


def test_bad_config_raises():
  with pytest.raises(ValueError, match="awac.temperature"):
    awac.make_awac(bu.make_ctx(bu.small_config(awac=dict(temperature=0.0))))
