"""TD3 (wombet_jax.agents.td3): target-policy smoothing, delayed actor update, learning."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import baseline_utils as bu
from wombet_jax.agents import common, td3

SIGMA, CLIP = 1.0, 0.3   # large noise so that the clip is active on many entries


@pytest.fixture(scope="module")
def agent():
  c = bu.small_config(td3=dict(policy_noise=SIGMA, noise_clip=CLIP, policy_delay=2))
  return bu.fast_agent(td3.make_td3(bu.make_ctx(c))), c


@pytest.fixture(scope="module")
def parts(agent):
  """The module's networks and numbers for the agent's config, and its losses at a state
  (jitted): what update differentiates, with update's key use."""
  _, c = agent
  nets, hp = td3.make_networks(c, bu.ACT), td3.hyperparameters(c)

  def losses(st, key, batch):
    y = td3.critic_target(nets, hp, st.target_actor_params, st.target_critic_params, batch, key)
    return dict(critic_loss=td3.critic_loss(nets, st.critic.params, batch, y)[0],
                actor_loss=td3.actor_loss(nets, st.actor.params, st.critic.params, batch.obs),
                td_abs=common.td_abs(y, td3.q_values(nets, st.critic.params, batch.obs,
                                                     batch.action)))
  return nets, hp, bu.fast(losses)


def test_smoothed_target_action_is_clipped_noise_then_clipped_action():
  key = jax.random.PRNGKey(3)
  mu = jnp.array([[0.9, -0.2], [0.0, -0.95]])
  got = td3.smoothed_target_action(mu, key, SIGMA, CLIP)
  eps = SIGMA * np.asarray(jax.random.normal(key, mu.shape))
  want = np.clip(np.asarray(mu) + np.clip(eps, -CLIP, CLIP), -1, 1)
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert np.any(np.abs(eps) > CLIP)  # the noise clip mattered


def test_critic_loss_equals_td3_target_by_hand(agent, parts):
  ag, c = agent
  nets, hp, losses_at = parts
  st = ag.init(jax.random.PRNGKey(0))
  # Distinct targets, so the hand computation must use the target networks.
  st = st.replace(target_actor_params=ag.init(jax.random.PRNGKey(1)).actor.params,
                  target_critic_params=ag.init(jax.random.PRNGKey(2)).critic.params)
  batch = bu.random_batch(jax.random.PRNGKey(4))
  key = jax.random.PRNGKey(5)
  mu_next = nets.actor.deterministic(st.target_actor_params, batch.next_obs)
  eps = np.clip(SIGMA * np.asarray(jax.random.normal(key, mu_next.shape)), -CLIP, CLIP)
  a_next = np.clip(np.asarray(mu_next) + eps, -1, 1)
  q_next = td3.q_values(nets, st.target_critic_params, batch.next_obs, jnp.asarray(a_next))
  y = (np.asarray(batch.reward) + c.agent.discount * (1 - np.asarray(batch.terminal))
       * np.min(np.asarray(q_next), 0))
  np.testing.assert_allclose(td3.critic_target(nets, hp, st.target_actor_params,
                                               st.target_critic_params, batch, key),
                             y, rtol=1e-5, atol=1e-5)
  q = np.asarray(td3.q_values(nets, st.critic.params, batch.obs, batch.action))
  losses = losses_at(st, key, batch)
  np.testing.assert_allclose(losses["critic_loss"], np.mean((q - y) ** 2), rtol=1e-5)
  mu = ag.act_deterministic(st, batch.obs)
  q1 = np.asarray(td3.q_values(nets, st.critic.params, batch.obs, mu))[0]
  np.testing.assert_allclose(losses["actor_loss"], -np.mean(q1), rtol=1e-5)


def test_actor_and_targets_move_only_every_policy_delay_steps(agent):
  ag, _ = agent
  st0 = ag.init(jax.random.PRNGKey(0))
  batch = bu.random_batch(jax.random.PRNGKey(1))
  st1, info1 = ag.update(st0, jax.random.PRNGKey(2), batch, None)   # step 0: actor step
  st2, info2 = ag.update(st1, jax.random.PRNGKey(3), batch, None)   # step 1: critic only
  changed = lambda a, b: any(not np.allclose(x, y) for x, y in
                             zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
  assert changed(st0.actor, st1.actor)
  assert changed(st0.target_actor_params, st1.target_actor_params)
  assert changed(st0.target_critic_params, st1.target_critic_params)
  assert np.isfinite(info1["actor_loss"]) and np.isnan(info2["actor_loss"])
  assert changed(st1.critic, st2.critic)
  assert not changed(st1.actor, st2.actor)
  assert not changed(st1.target_actor_params, st2.target_actor_params)
  assert not changed(st1.target_critic_params, st2.target_critic_params)
  assert int(st2.step) == 2


def test_updates_lower_both_losses_on_a_fixed_batch(agent, parts):
  ag, _ = agent
  losses_at = parts[2]
  st0, st, batch = bu.train_on_fixed_batch(ag, 300)
  key = jax.random.PRNGKey(9)
  before, after = losses_at(st0, key, batch), losses_at(st, key, batch)
  assert after["critic_loss"] < 0.5 * before["critic_loss"]
  # The actor ascends the critic: under the final critic it beats the initial actor.
  initial_actor = losses_at(st.replace(actor=st0.actor), key, batch)
  assert after["actor_loss"] < initial_actor["actor_loss"]


def test_update_many_from_scratch_skips_td_error_and_bad_config_raises(agent, parts):
  ag, c = agent
  st = ag.init(jax.random.PRNGKey(0))
  online = bu.pd_dataset(jax.random.PRNGKey(1), n=200)
  new, info = ag.update_many(st, jax.random.PRNGKey(2), None, online, jnp.float32(0.5), None)
  # No D_off: beta selects nothing, so the TD batch is skipped; the G updates ran.
  assert np.isnan(info["td_error"]) and float(info["offline_fraction"]) == 0.0
  assert int(new.step) == int(st.step) + c.agent.utd
  td = parts[2](st, jax.random.PRNGKey(3), bu.replay.sample(online, jax.random.PRNGKey(4),
                                                         c.agent.batch_size))["td_abs"]
  assert np.isfinite(td) and td > 0
  with pytest.raises(ValueError, match="td3.policy_delay"):
    td3.make_td3(bu.make_ctx(bu.small_config(td3=dict(policy_delay=0))))
