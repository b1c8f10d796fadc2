"""The online phase of the loop as module-level pure functions of one seed's `RunState`.

`env_step` (act and step the target env), `learn` (the updates of one env step and the beta
rule), `tick`, then `online_step` and `online_chunk` over every seed: the one online step that
`loop.make_pipeline` jits and that tests and benchmarks call. Their static inputs are an
`Online` (built from a config by `online_spec`, or by hand).

Why the time scan sits outside the seed vmap: the "has learning started" predicate depends
only on the global step, which is the same for every seed. Kept unbatched, `lax.cond` really
skips the updates during warm-up; inside a vmap it would run both branches.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp

from wombet_jax import beta as beta_lib
from wombet_jax import replay
from wombet_jax import world_model as wm_lib
from wombet_jax.agents import registry
from wombet_jax.envs import TaskPair
from wombet_jax.health import Health, health_flags, init_health, no_flags, record_health


@flax.struct.dataclass
class RunState:
  """Everything one seed carries between pieces; all of it is checkpointed."""
  key: jax.Array
  eval_key: jax.Array       # fixed; evaluation keys are fold_in(eval_key, target_steps)
  model: Any                # world_model.ModelState
  real: Any                 # replay.Buffer of world_model.Rows: real transitions (D_src +
                            # D_on) the model is fitted on
  offline: Any              # replay.Buffer: D_off, relabelled with r_T
  online: Any               # replay.Buffer: D_on
  agent: Any
  beta: Any                 # beta.BetaState: the offline/online ratio, updated by the loop
  env: Any                  # envs.EnvState of the target env
  episode_return: jax.Array  # running return of the current training episode
  train_return: jax.Array   # return of the last finished training episode (nan before)
  metrics: dict             # the agent's `metrics` entries of the last step's update_many
                            # info (nan before the first update)
  accept_rate: jax.Array    # fraction of generated trajectories the filter kept
  n_offline: jax.Array      # transitions in D_off
  source_steps: jax.Array   # int32
  target_steps: jax.Array   # int32


def over_seeds(fn: Callable, in_axes=0) -> Callable:
  """jax.vmap(fn, in_axes) over the leading seed axis, except that a single seed calls fn on
  the arguments without that axis and puts it back on the results. XLA's CPU matmuls with a
  batch dimension of 1 run about 1.5x slower than the same matmuls without one
  (experiments/benchmarks/peers.py, "vmapped over 1 seed"), so a one-seed run would pay that
  on every update. The seed count is a static shape, so the choice is made at trace time."""
  def mapped(*args):
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    sizes = {leaf.shape[0] for a, ax in zip(args, axes) if ax is not None
             for leaf in jax.tree_util.tree_leaves(a)}
    if sizes != {1}:
      return jax.vmap(fn, in_axes=in_axes)(*args)
    inner = [a if ax is None else jax.tree_util.tree_map(lambda x: x[0], a)
             for a, ax in zip(args, axes)]
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], fn(*inner))
  return mapped


class Online(NamedTuple):
  """What one seed's online step needs besides its `RunState`; static under jit. Built by
  `online_spec` from a run config, or by hand where a test or benchmark drives the step."""
  pair: TaskPair
  agent: Any
  sampling: Any            # the config's sampling section (the beta rule)
  uses_offline: bool       # batches mix D_off in (the algorithm's spec)
  uses_model_penalty: bool  # the agent's aux is the world-model state
  keeps_model_data: bool   # target transitions also go to the model's real data
  explore_randomly: bool   # uniform actions before `start_steps` (algorithms without D_off)
  start_steps: int
  learn_start: int         # the first env step (counted from 1) followed by updates
  steps: int               # env steps per chunk (loop.eval_every)


def online_spec(config, spec: registry.AlgoSpec, pair: TaskPair, agent) -> Online:
  lo, batch = config.loop, config.agent.batch_size
  explore = not spec.uses_offline
  return Online(pair=pair, agent=agent, sampling=config.sampling,
                uses_offline=spec.uses_offline, uses_model_penalty=spec.uses_model_penalty,
                keeps_model_data=spec.uses_offline and spec.refresh_each_iteration,
                explore_randomly=explore, start_steps=lo.start_steps,
                learn_start=max(batch, lo.start_steps if explore else batch),
                steps=lo.eval_every)


def aux_of(uses_model_penalty: bool, s: RunState):
  """The agent's aux argument: the world-model state where the penalty needs it."""
  return s.model if uses_model_penalty else None


def env_step(o: Online, s: RunState, random_phase) -> RunState:
  """One target env step of one seed: the policy's sampled action (uniform while
  `random_phase`), the transition into D_on (and the model's data), episode returns."""
  key, k_act, k_rand = jax.random.split(s.key, 3)
  a_pol = o.agent.act(s.agent, k_act, s.env.obs)
  a_rand = jax.random.uniform(k_rand, (o.pair.act_dim,), minval=-1.0, maxval=1.0)
  action = jnp.where(random_phase, a_rand, a_pol)
  env, tr = o.pair.target.step(s.env, action)
  ep_ret = s.episode_return + tr.reward
  s = s.replace(
      key=key, env=env, online=replay.add(s.online, tr),
      episode_return=jnp.where(tr.done > 0, 0.0, ep_ret),
      train_return=jnp.where(tr.done > 0, ep_ret, s.train_return),
      target_steps=s.target_steps + 1)
  if o.keeps_model_data:
    s = s.replace(real=wm_lib.add_to_data(s.real, tr.obs[None], tr.action[None],
                                          tr.next_obs[None]))
  return s


def learn(o: Online, s: RunState) -> tuple[RunState, dict]:
  """The updates of one env step (`agent.update_many`), then the beta rule stepped with the
  agent's delta (where it can move). Returns the state and the update's health flags."""
  key, k = jax.random.split(s.key)
  offline = s.offline if o.uses_offline else None
  ag, info = o.agent.update_many(s.agent, k, offline, s.online, s.beta.beta,
                                 aux_of(o.uses_model_penalty, s))
  beta = beta_lib.step(s.beta, info["td_error"], o.sampling, o.uses_offline)
  s = s.replace(key=key, agent=ag, beta=beta,
                metrics={name: info[name] for name in o.agent.metrics})
  return s, health_flags(o.agent, info, ag)


def tick(o: Online, s: RunState) -> RunState:
  """An env step without an update for agents with an `update_period` (PPO)."""
  key, _ = jax.random.split(s.key)  # the same key use as learn
  ag, info = o.agent.tick(s.agent)
  return s.replace(key=key, agent=ag, metrics={name: info[name] for name in o.agent.metrics})


def step_updates(o: Online, states: RunState, t, none_bad: dict) -> tuple[RunState, dict]:
  """(states, flags) after the updates that follow env step t (0-based, shared by all seeds);
  `none_bad` are the flags of a step without updates."""
  period = o.agent.update_period
  if not period:
    return over_seeds(functools.partial(learn, o))(states)
  # learn runs from t = learn_start - 1 on, so this is call number t - learn_start + 2;
  # t is shared by all seeds, so this cond stays a branch under the seed vmap.
  due = (t - o.learn_start + 2) % period == 0
  return jax.lax.cond(due, over_seeds(functools.partial(learn, o)),
                      lambda x: (over_seeds(functools.partial(tick, o))(x), none_bad), states)


def no_update_flags(o: Online, states: RunState) -> dict:
  """The health flags of an env step without updates (all False), shaped as learn's."""
  return no_flags(jax.eval_shape(over_seeds(functools.partial(learn, o)), states)[1])


def online_step(o: Online, states: RunState, health: Health, t, none_bad: dict
                ) -> tuple[RunState, Health]:
  """Global env step t (0-based) of every seed: act and step, then, once learning has
  started, the updates; `health` records the first step with a non-finite update."""
  random_phase = (t < o.start_steps) if o.explore_randomly else jnp.bool_(False)
  states = over_seeds(functools.partial(env_step, o), in_axes=(0, None))(states, random_phase)
  states, flags = jax.lax.cond(t + 1 >= o.learn_start,
                               lambda x: step_updates(o, x, t, none_bad),
                               lambda x: (x, none_bad), states)
  return states, record_health(health, t + 1, flags)


def online_chunk(o: Online, states: RunState, t0) -> tuple[RunState, dict]:
  """`o.steps` env steps of every seed from global step t0 (a `lax.scan` of `online_step`).
  info["nonfinite_step"] is the first target step count (t + 1 after env step t) whose
  updates produced a non-finite value, per seed."""
  none_bad = no_update_flags(o, states)

  def body(carry, t):
    return online_step(o, *carry, t, none_bad), None

  health = init_health(none_bad, states.target_steps.shape)
  (states, health), _ = jax.lax.scan(body, (states, health), t0 + jnp.arange(o.steps))
  return states, {"beta": states.beta.beta, "train_return": states.train_return,
                  "metrics": states.metrics, "nonfinite_step": health.step,
                  "nonfinite": health.flags}


def online_state(key, agent_state, env, online, sampling, metrics: tuple,
                 offline=None, model=None, real=None) -> RunState:
  """One seed's `RunState` for driving `env_step` / `learn` / `online_chunk` outside a run
  (tests, benchmarks): the pieces the online step touches, the rest empty."""
  nan = jnp.float32(jnp.nan)
  return RunState(
      key=key, eval_key=key, model=model, real=real, offline=offline, online=online,
      agent=agent_state, beta=beta_lib.init(sampling), env=env,
      episode_return=jnp.float32(0.0), train_return=nan, metrics={n: nan for n in metrics},
      accept_rate=nan, n_offline=jnp.int32(0), source_steps=jnp.int32(0),
      target_steps=jnp.int32(0))
