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

and, optionally, each with its default: how pretraining draws batches of D_off
(``sample_offline``), a periodic update (``update_period``, ``tick``), the losses that are nan
by design on some updates (``optional_losses``), the info entries written to metrics.jsonl
(``metrics``) and the policy network a run exports (``actor``, ``actor_params``).

An algorithm's losses are module-level functions of its agent module (networks,
hyperparameters, parameters, batch), which tests import; the factory composes them with the
optimisers into these functions.

The loop owns beta (``wombet_jax.beta``): it passes the current fraction in and updates the
rule from info["td_error"]. ``aux`` is the world-model state when the algorithm's spec sets
``uses_model_penalty``, else None.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from wombet_jax import beta as beta_lib
from wombet_jax import replay
from wombet_jax.networks import Actor


class AgentContext(NamedTuple):
  """What an agent's factory may close over; all static."""
  obs_dim: int
  act_dim: int
  config: Any                 # the whole run config, after the spec's adjust_config
  pair: Any                   # envs.TaskPair (reward/termination functions of both tasks)
  wm: Any                     # world_model.WorldModel (pure functions)
  penalty_fn: Any             # (model_state, obs, act) -> u, or None


class Agent(NamedTuple):
  """The agent protocol (module docstring): what the loop and the harness call."""
  init: Callable
  act: Callable
  act_deterministic: Callable
  update: Callable
  update_many: Callable
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
  # The policy a run exports (wombet_jax.harness.policy): the actor act_deterministic and act
  # use, and actor_params(state) -> its parameters inside the agent state (also under a
  # leading seed axis). None: no policy artefact.
  actor: Optional[Actor] = None
  actor_params: Optional[Callable] = None


def make_update_many(update: Callable, td_fn: Optional[Callable], batch_size: int, utd: int,
                     sampling_cfg, sample_fn: Callable = replay.sample,
                     ignore_nan: bool = False) -> Callable:
  """The updates of one env step: G = ``utd`` calls of ``update`` (lax.scan), each on a fresh
  batch, then delta = ``td_fn`` on a separate batch of D_on, taken after the G updates.

  With an offline buffer every batch is ``replay.sample_mixed(offline, online, key, B, beta)``:
  round(beta B) rows of D_off and the rest of D_on, all G batches with the beta passed in.
  Without one, batches come from D_on only. ``sample_fn(buffer, key, B)`` draws each
  buffer's rows (Cal-QL's adds their Monte-Carlo returns). Where beta cannot change
  (``beta.can_move``: no offline buffer, or mode "fixed", or beta_min == beta_max; decided at
  trace time), or for an agent without a TD error (``td_fn`` None: no critic), the TD batch
  is skipped and td_error is nan. The other info entries are means over the G steps of
  ``update``'s (``ignore_nan``: of the finite ones, for agents whose losses are nan by design
  on some steps), plus offline_fraction, the fraction of the batch drawn from D_off.
  """
  beta_lib.validate(sampling_cfg)
  mean = jnp.nanmean if ignore_nan else jnp.mean

  def update_many(state, key, offline, online, beta, aux):
    k_scan, k_batch, k_td = jax.random.split(key, 3)

    def body(st, k):
      k_sample, k_update = jax.random.split(k)
      if offline is None:
        batch = sample_fn(online, k_sample, batch_size)
        frac = jnp.zeros((), jnp.float32)
      else:
        batch = replay.sample_mixed(offline, online, k_sample, batch_size, beta,
                                    sample_fn=sample_fn)
        frac = replay.offline_count(beta, batch_size, offline.size, online.size) / batch_size
      st, info = update(st, k_update, batch, aux)
      return st, dict(info, offline_fraction=frac)

    state, infos = jax.lax.scan(body, state, jax.random.split(k_scan, utd))
    if td_fn is not None and beta_lib.can_move(sampling_cfg, offline is not None):
      delta = td_fn(state, k_td, sample_fn(online, k_batch, batch_size), aux)
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
      update_many=jax.jit(agent.update_many),
      sample_offline=jax.jit(agent.sample_offline, static_argnums=2),
      tick=None if agent.tick is None else jax.jit(agent.tick))
