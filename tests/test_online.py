"""The one online step (`wombet_jax.online`), driven with a counting agent whose every call can
be predicted by hand: when the updates start, how often a periodic agent updates, which env
steps act randomly, what goes into D_on and when the beta rule moves."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wombet_jax import online, replay
from wombet_jax.configs.base import get_config
from wombet_jax.envs import pointmass
from wombet_jax.envs.base import Transition

PAIR = pointmass.make_pair()
SEEDS = 2


class Counter(NamedTuple):
  """Acts with zeros; update_many counts its calls and reports |D_on| as its TD error, so the
  last update's metric says how many env steps preceded it; tick counts the other calls."""
  update_period: int = 0
  metrics: tuple = ("td_error",)
  optional_losses: tuple = ()

  def act(self, state, key, obs):
    del state, key, obs
    return jnp.zeros(PAIR.act_dim)

  def update_many(self, state, key, offline, online_buf, beta, aux):
    del key, offline, beta, aux
    return dict(state, updates=state["updates"] + 1), {
        "td_error": online_buf.size.astype(jnp.float32), "critic_loss": jnp.float32(0.0)}

  def tick(self, state):
    return dict(state, ticks=state["ticks"] + 1), {"td_error": jnp.float32(jnp.nan),
                                                   "critic_loss": jnp.float32(0.0)}


def _example():
  z = jnp.zeros(())
  return Transition(obs=jnp.zeros(PAIR.obs_dim), action=jnp.zeros(PAIR.act_dim), reward=z,
                    next_obs=jnp.zeros(PAIR.obs_dim), terminal=z, done=z)


def _spec(agent, steps=10, start_steps=3, learn_start=5, uses_offline=False):
  return online.Online(pair=PAIR, agent=agent, sampling=get_config().sampling,
                       uses_offline=uses_offline, uses_model_penalty=False,
                       keeps_model_data=False, explore_randomly=True, start_steps=start_steps,
                       learn_start=learn_start, steps=steps)


def _states(agent, offline=None):
  def one(key):
    k_env, k = jax.random.split(key)
    st = {"updates": jnp.int32(0), "ticks": jnp.int32(0)}
    return online.online_state(k, st, PAIR.target.reset(k_env),
                               replay.init_buffer(_example(), 64), get_config().sampling,
                               agent.metrics, offline=offline)
  return jax.vmap(one)(jax.random.split(jax.random.PRNGKey(0), SEEDS))


def test_updates_follow_every_env_step_from_learn_start_and_random_actions_end_at_start_steps():
  agent = Counter()
  states, info = online.online_chunk(_spec(agent), _states(agent), jnp.int32(0))
  # Env steps t = 0..9; updates after steps with t + 1 >= 5: t = 4..9, six calls.
  np.testing.assert_array_equal(states.agent["updates"], [6] * SEEDS)
  np.testing.assert_array_equal(states.agent["ticks"], [0] * SEEDS)
  np.testing.assert_array_equal(states.target_steps, [10] * SEEDS)
  np.testing.assert_array_equal(states.online.size, [10] * SEEDS)
  # The last update ran after the 10th transition was stored.
  np.testing.assert_array_equal(info["metrics"]["td_error"], [10.0] * SEEDS)
  # Uniform actions for t < 3, the agent's zeros after; rows in D_on are in step order.
  actions = np.asarray(states.online.data.action[:, :10])
  assert np.all(np.abs(actions[:, :3]).sum(-1) > 0) and np.all(np.abs(actions[:, :3]) <= 1)
  np.testing.assert_array_equal(actions[:, 3:], 0.0)
  np.testing.assert_array_equal(info["nonfinite_step"], [-1] * SEEDS)
  # No D_off: the beta rule cannot move, so beta stays where it was initialised.
  np.testing.assert_array_equal(states.beta.beta, _states(agent).beta.beta)


def test_a_periodic_agent_updates_on_every_period_th_call_and_ticks_otherwise():
  agent = Counter(update_period=3)
  states, _ = online.online_chunk(_spec(agent), _states(agent), jnp.int32(0))
  # Calls number t - 5 + 2 for t = 4..9 (1..6); due on calls 3 and 6.
  np.testing.assert_array_equal(states.agent["updates"], [2] * SEEDS)
  np.testing.assert_array_equal(states.agent["ticks"], [4] * SEEDS)


def test_a_chunk_from_a_later_global_step_counts_from_that_step():
  agent = Counter()
  spec = _spec(agent, steps=4)
  states, _ = online.online_chunk(spec, _states(agent), jnp.int32(0))  # t = 0..3: none
  np.testing.assert_array_equal(states.agent["updates"], [0] * SEEDS)
  states, _ = online.online_chunk(spec, states, jnp.int32(4))  # t = 4..7: all four
  np.testing.assert_array_equal(states.agent["updates"], [4] * SEEDS)
  # Random actions only before global step 3, i.e. in the first chunk.
  np.testing.assert_array_equal(np.asarray(states.online.data.action[:, 3:8]), 0.0)


@pytest.mark.parametrize("mode,moves", [("adaptive", True), ("fixed", False)])
def test_learn_steps_the_beta_rule_with_the_agents_delta_only_where_it_can_move(mode, moves):
  agent = Counter()
  offline = replay.add_batch(replay.init_buffer(_example(), 8),
                             jax.tree_util.tree_map(lambda x: jnp.stack([x] * 8), _example()))
  spec = _spec(agent, uses_offline=True, learn_start=1)
  spec = spec._replace(sampling=spec.sampling.copy_and_resolve_references())
  spec.sampling.mode = mode
  states = _states(agent, offline)
  s0 = jax.tree_util.tree_map(lambda x: x[0], states)
  s1, flags = online.learn(spec, online.env_step(spec, s0, jnp.bool_(False)))
  assert int(s1.agent["updates"]) == 1 and not any(bool(v) for v in flags.values())
  from wombet_jax import beta as beta_lib
  want = beta_lib.step(s0.beta, jnp.float32(1.0), spec.sampling, True)
  for got_leaf, want_leaf in zip(jax.tree_util.tree_leaves(s1.beta),
                                 jax.tree_util.tree_leaves(want)):
    np.testing.assert_array_equal(got_leaf, want_leaf)
  changed = any(not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(s1.beta),
                                                         jax.tree_util.tree_leaves(s0.beta)))
  assert changed == moves
