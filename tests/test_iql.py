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


def test_expectile_and_awr_weights_by_hand():
  u = np.array([-2.0, 1.0, 0.5, -0.1])
  want = np.mean([0.3 * 4, 0.7 * 1, 0.7 * 0.25, 0.3 * 0.01])
  np.testing.assert_allclose(iql.expectile_loss(u, TAU), want, rtol=1e-6)
  adv = np.array([-1.0, 0.0, 0.2, 1.0])
  np.testing.assert_allclose(iql.awr_weights(adv, BETA, W_MAX),
                             [np.exp(-3.0), 1.0, np.exp(0.6), W_MAX], rtol=1e-6)


def test_losses_equal_iql_equations(agent):
  ag, c = agent
  st = ag.init(jax.random.PRNGKey(0))
  st = st.replace(target_critic_params=ag.init(jax.random.PRNGKey(1)).critic_params)
  batch = bu.random_batch(jax.random.PRNGKey(2))
  e = {k: (lambda *a, f=f: np.asarray(f(st, *a))) for k, f in ag.extras.items()}
  obs, act = batch["obs"], batch["action"]
  q_t = np.min(e["target_q_values"](obs, act), 0)
  v = e["value"](obs)
  u = q_t - v
  v_loss = np.mean(np.where(u < 0, 1 - TAU, TAU) * u ** 2)
  mean, log_std = (np.asarray(x) for x in ag.extras["policy"](st, obs))
  logp = np.sum(-0.5 * ((np.asarray(act) - mean) / np.exp(log_std)) ** 2 - log_std
                - 0.5 * np.log(2 * np.pi), -1)
  a_loss = -np.mean(np.minimum(np.exp(BETA * u), W_MAX) * logp)
  y = (np.asarray(batch["reward"]) + c.agent.discount * (1 - np.asarray(batch["terminal"]))
       * e["value"](batch["next_obs"]))
  c_loss = np.mean((e["q_values"](obs, act) - y) ** 2)
  got = ag.losses(st, None, batch, None)
  np.testing.assert_allclose(got["value_loss"], v_loss, rtol=1e-5)
  np.testing.assert_allclose(got["actor_loss"], a_loss, rtol=1e-5)
  np.testing.assert_allclose(got["critic_loss"], c_loss, rtol=1e-5)


def test_updates_lower_the_losses_on_a_fixed_batch(agent):
  ag, _ = agent
  st0 = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  st = bu.fast(lambda s: jax.lax.scan(lambda s, _: (ag.update(s, None, batch, None)[0], None),
                                      s, None, length=200)[0])(st0)
  before, after = ag.losses(st0, None, batch, None), ag.losses(st, None, batch, None)
  assert after["critic_loss"] < 0.5 * before["critic_loss"]
  # V and pi against the final critics: the trained ones beat the initial ones.
  for name, field in (("value_loss", "value_params"), ("actor_loss", "actor_params")):
    initial = ag.losses(st.replace(**{field: getattr(st0, field)}), None, batch, None)
    assert after[name] < initial[name], name
