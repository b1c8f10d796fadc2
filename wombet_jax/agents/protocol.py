"""The one agent protocol: what the shared loop (``wombet_jax.loop``) calls on every algorithm.

An agent is a set of pure functions of its state (a pytree), built once per run by the
algorithm's factory from an ``AgentContext``; every hook the loop may use is declared here,
with the default that means "not used", so the loop never asks an agent what it has.

  init(key) -> state
  act(state, key, obs) -> action                        exploration
  act_deterministic(state, obs) -> action               evaluation
  update(state, key, batch, aux) -> (state, info)       one gradient step (offline pretraining
                                                        scans over it)
  update_many(state, key, offline|None, online, beta, aux) -> (state, info)
                                                        the updates of one env step: G steps on
                                                        batches of round(beta B) rows of D_off
                                                        and the rest of D_on; info["td_error"]
                                                        is delta_k for the beta rule (nan where
                                                        it cannot move beta)
  td_abs(state, key, batch, aux) -> mean |TD error|
  losses(state, key, batch, aux) -> the scalar losses ``update`` differentiates, at ``state``

The loop owns beta (``wombet_jax.beta``): it passes the current fraction in and updates the
rule from info["td_error"]. ``aux`` is the world-model state when the algorithm's spec sets
``uses_model_penalty``, else None.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp

from wombet_jax import beta as beta_lib
from wombet_jax import replay


class AgentContext(NamedTuple):
  """What an agent's factory may close over; all static."""
  obs_dim: int
  act_dim: int
  config: Any                 # the whole run config, after the spec's adjust_config
  pair: Any                   # envs.TaskPair (reward/termination functions of both tasks)
  wm: Any                     # world_model.WorldModel (pure functions)
  penalty_fn: Any             # (model_state, obs, act) -> u, or None


class Agent(NamedTuple):
  """The agent protocol (module docstring). ``extras`` holds algorithm-specific pure
  functions (Q values, critic targets, policy parameters) for tests and diagnostics."""
  init: Callable
  act: Callable
  act_deterministic: Callable
  update: Callable
  update_many: Callable
  td_abs: Callable
  losses: Callable
  extras: Mapping[str, Callable]
  # Draws batches of D_off for pretraining: (buffer, key, batch_size) -> batch. Cal-QL's
  # batches carry Monte-Carlo returns too.
  sample_offline: Callable = replay.sample
  # Agents whose update_many does real work only on every `update_period`-th call (PPO) say
  # so, and give `tick(state) -> (state, info)`, equal to update_many on the other calls.
  # Under the loop's vmap over seeds a lax.cond on a per-seed counter becomes a select that
  # runs the update on every call; the loop instead branches on the shared, unbatched step
  # count, so the update runs only when due. 0: every call updates.
  update_period: int = 0
  tick: Optional[Callable] = None
  # Info entries that are nan by design on updates without that loss (TD3's delayed actor,
  # PPO between rollouts): the loop's finiteness check counts them only when infinite.
  optional_losses: tuple = ()
  # The entries of update_many's info the loop keeps (the last env step's) and the runner
  # writes into every metrics row, null while non-finite (before the first update).
  metrics: tuple = ("td_error",)


def make_update_many(update: Callable, td_fn: Callable, batch_size: int, utd: int,
                     sampling_cfg, sample_mixed: Callable = replay.sample_mixed,
                     sample_online: Callable = replay.sample,
                     ignore_nan: bool = False) -> Callable:
  """The updates of one env step: G = ``utd`` calls of ``update`` (lax.scan), each on a fresh
  batch, then delta = ``td_fn`` on a separate batch of D_on, taken after the G updates.

  With an offline buffer every batch is ``sample_mixed(offline, online, key, B, beta)``:
  round(beta B) rows of D_off and the rest of D_on, all G batches with the beta passed in.
  Without one, batches come from D_on only. Where beta cannot change (``beta.can_move``: no
  offline buffer, or mode "fixed", or beta_min == beta_max; decided at trace time) the TD
  batch is skipped and td_error is nan. The other
  info entries are means over the G steps of ``update``'s (``ignore_nan``: of the finite
  ones, for agents whose losses are nan by design on some steps), plus offline_fraction, the
  fraction of the batch drawn from D_off.
  """
  beta_lib.validate(sampling_cfg)
  mean = jnp.nanmean if ignore_nan else jnp.mean

  def update_many(state, key, offline, online, beta, aux):
    k_scan, k_batch, k_td = jax.random.split(key, 3)

    def body(st, k):
      k_sample, k_update = jax.random.split(k)
      if offline is None:
        batch = sample_online(online, k_sample, batch_size)
        frac = jnp.zeros((), jnp.float32)
      else:
        batch = sample_mixed(offline, online, k_sample, batch_size, beta)
        frac = replay.offline_count(beta, batch_size, offline.size, online.size) / batch_size
      st, info = update(st, k_update, batch, aux)
      return st, dict(info, offline_fraction=frac)

    state, infos = jax.lax.scan(body, state, jax.random.split(k_scan, utd))
    if beta_lib.can_move(sampling_cfg, offline is not None):
      delta = td_fn(state, k_td, sample_online(online, k_batch, batch_size), aux)
    else:
      delta = jnp.full((), jnp.nan, jnp.float32)
    info = jax.tree_util.tree_map(mean, infos)
    info["td_error"] = delta
    return state, info

  return update_many


def jit_agent(agent: Agent) -> Agent:
  """Every function of ``agent`` jitted (jit inside jit/vmap/scan is free)."""
  return agent._replace(
      init=jax.jit(agent.init), act=jax.jit(agent.act),
      act_deterministic=jax.jit(agent.act_deterministic), update=jax.jit(agent.update),
      update_many=jax.jit(agent.update_many), td_abs=jax.jit(agent.td_abs),
      losses=jax.jit(agent.losses),
      extras={k: jax.jit(f) for k, f in agent.extras.items()},
      sample_offline=jax.jit(agent.sample_offline, static_argnums=2),
      tick=None if agent.tick is None else jax.jit(agent.tick))
