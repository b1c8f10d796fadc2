"""AWAC (wombet_jax.agents.awac): critic target, advantage weights, offline-to-online run."""
import jax
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax.agents import awac, common

LAM, W_MAX = 0.5, 4.0


@pytest.fixture(scope="module")
def agent():
  c = bu.small_config(awac=dict(temperature=LAM, max_weight=W_MAX))
  return bu.fast_agent(awac.make_awac(bu.make_ctx(c))), c


def test_losses_equal_awac_equations(agent):
  ag, c = agent
  st = ag.init(jax.random.PRNGKey(0))
  st = st.replace(target_critic_params=ag.init(jax.random.PRNGKey(1)).critic_params)
  batch = bu.random_batch(jax.random.PRNGKey(2))
  key = jax.random.PRNGKey(3)
  k_t, k_a = jax.random.split(key)   # documented key use: target, then advantage sample
  obs, act = batch["obs"], batch["action"]
  q = lambda o, a: np.asarray(ag.extras["q_values"](st, o, a))
  q_targ = lambda o, a: np.asarray(ag.extras["target_q_values"](st, o, a))
  m_next, ls_next = ag.extras["policy"](st, batch["next_obs"])
  a_next = common.gaussian_sample(k_t, m_next, ls_next)
  y = (np.asarray(batch["reward"]) + c.agent.discount * (1 - np.asarray(batch["terminal"]))
       * np.min(q_targ(batch["next_obs"], a_next), 0))
  mean, log_std = ag.extras["policy"](st, obs)
  a_pi = common.gaussian_sample(k_a, mean, log_std)
  adv = np.min(q(obs, act), 0) - np.min(q(obs, a_pi), 0)
  mean, log_std = np.asarray(mean), np.asarray(log_std)
  logp = np.sum(-0.5 * ((np.asarray(act) - mean) / np.exp(log_std)) ** 2 - log_std
                - 0.5 * np.log(2 * np.pi), -1)
  w = np.minimum(np.exp(adv / LAM), W_MAX)
  got = ag.losses(st, key, batch, None)
  np.testing.assert_allclose(got["critic_loss"], np.mean((q(obs, act) - y) ** 2), rtol=1e-5)
  np.testing.assert_allclose(got["actor_loss"], -np.mean(w * logp), rtol=1e-5)
  assert np.any(w == W_MAX) or np.all(np.exp(adv / LAM) <= W_MAX)


def test_updates_lower_the_losses_on_a_fixed_batch(agent):
  ag, _ = agent
  st0, st, batch = bu.train_on_fixed_batch(ag, 200)
  key = jax.random.PRNGKey(9)
  before, after = ag.losses(st0, key, batch, None), ag.losses(st, key, batch, None)
  assert after["critic_loss"] < 0.5 * before["critic_loss"]
  initial_actor = ag.losses(st.replace(actor_params=st0.actor_params), key, batch, None)
  assert after["actor_loss"] < initial_actor["actor_loss"]


def test_bad_config_raises():
  with pytest.raises(ValueError, match="awac.temperature"):
    awac.make_awac(bu.make_ctx(bu.small_config(awac=dict(temperature=0.0))))
