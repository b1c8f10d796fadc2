"""Pieces shared by the baseline agents (paper sec. 5): the agent container, config checks,
the Gaussian policy with a tanh mean, optimiser steps and the generic ``update_many``.

Every baseline follows the agent protocol of ``wombet_jax.algos``. Networks come from
``wombet_jax.networks``; only the Gaussian policy with a squashed *mean* (IQL, AWAC, BC, as in
their reference implementations) is defined here, because a tanh-squashed *sample* has an
unbounded log-density at the saturated actions (|a| = 1) that scripted or clipped data contain.
"""
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wombet_jax import replay, sampling
from wombet_jax.agents import sac
from wombet_jax.config import invalid
from wombet_jax.networks import MLP, LOG_STD_MAX, Critic, hidden_dims

GAUSS_LOG_STD_MIN = -5.0  # std >= 6.7e-3: keeps log-likelihood weights of BC/AWR bounded
_HALF_LOG_2PI = 0.5 * jnp.log(2.0 * jnp.pi)


class Agent(NamedTuple):
  """The agent protocol of ``wombet_jax.algos`` plus what tests and diagnostics read.

  losses(state, key, batch, aux) -> dict of the scalar losses ``update`` differentiates,
  evaluated at ``state`` with the same key use as ``update``. ``extras`` holds
  algorithm-specific pure functions (Q values, policy parameters). ``sample_offline``,
  when set, replaces ``replay.sample`` for batches of D_off (Cal-QL adds MC returns).
  """
  init: Callable
  act: Callable
  act_deterministic: Callable
  update: Callable
  update_many: Callable
  td_abs: Callable
  losses: Callable
  extras: Mapping[str, Callable]
  sample_offline: Optional[Callable] = None
  # Agents whose update_many does real work only on every `update_period`-th call (PPO) say
  # so, and give `tick(state, beta_state) -> (state, beta_state, info)`, equal to
  # update_many on the other calls. Under the loop's vmap over seeds a lax.cond on a per-seed
  # counter becomes a select that runs the update on every call; the loop instead branches
  # on the shared, unbatched step count, so the update runs only when due.
  update_period: int = 0
  tick: Optional[Callable] = None
  # Info entries that are nan by design on updates without that loss (TD3's delayed actor,
  # PPO between rollouts): the loop's finiteness check counts them only when infinite.
  optional_losses: tuple = ()


def field(batch, name: str) -> jax.Array:
  """A transition field from a dict or an attribute-style pytree (envs.Transition)."""
  return batch[name] if isinstance(batch, Mapping) else getattr(batch, name)


def check_batch(batch, obs_dim: int, act_dim: int) -> None:
  """Trace-time shape check of a transition batch at an agent's boundary."""
  obs = field(batch, "obs")
  chex.assert_shape(obs, (None, obs_dim))
  n = obs.shape[0]
  chex.assert_shape([field(batch, "action")], (n, act_dim))
  chex.assert_shape([field(batch, f) for f in ("reward", "terminal", "done")], (n,))
  chex.assert_shape(field(batch, "next_obs"), (n, obs_dim))


def require(ok: bool, name: str, value: Any, allowed: str) -> None:
  """Raise UserError (a ValueError) naming config field ``name`` unless ``ok``."""
  if not ok:
    raise invalid(name, value, allowed)


def check_positive(section, prefix: str, names: Sequence[str], integer: bool = False) -> None:
  for n in names:
    v = section[n]
    if integer:
      require(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{prefix}.{n}", v,
              "must be an integer >= 1")
    else:
      require(isinstance(v, (int, float)) and v > 0, f"{prefix}.{n}", v, "must be > 0")


def check_agent(cfg, obs_dim: int, act_dim: int) -> None:
  """The ``agent`` section, by its one validator (``sac.validate``), and the env's sizes."""
  sac.check_dims(obs_dim, act_dim)
  sac.validate(cfg)


def twin_critic(config) -> tuple:
  """Critic module and member count from ``config.baselines`` (twin critics by default)."""
  b = config.baselines
  check_positive(b, "baselines", ("num_critics",), integer=True)
  hid = hidden_dims(config.agent.hidden_size, config.agent.num_layers)
  return Critic(hid, layer_norm=bool(b.layer_norm)), int(b.num_critics)


class TanhMeanGaussianActor(nn.Module):
  """pi(a|s) = N(tanh(MLP(s)), exp(log_std)^2), log_std a state-independent parameter.

  The policy of the IQL/AWAC reference code: the mean is squashed, samples are clipped to
  [-1, 1] when acting, and log pi(a|s) of any a in [-1, 1] (also a = +-1) is finite.
  """
  act_dim: int
  hidden: Sequence[int]

  @nn.compact
  def __call__(self, obs: jax.Array):
    mean = jnp.tanh(MLP(self.hidden, self.act_dim, False, name="mlp")(obs))
    log_std = self.param("log_std", nn.initializers.zeros, (self.act_dim,))
    log_std = jnp.clip(log_std, GAUSS_LOG_STD_MIN, LOG_STD_MAX)
    return mean, jnp.broadcast_to(log_std, mean.shape)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
  """log N(action; mean, exp(log_std)^2), summed over the action axis."""
  z = (action - mean) * jnp.exp(-log_std)
  return jnp.sum(-0.5 * z ** 2 - _HALF_LOG_2PI - log_std, axis=-1)


def gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
  """mean + std * eps clipped to the action box [-1, 1]."""
  eps = jax.random.normal(key, mean.shape, mean.dtype)
  return jnp.clip(mean + jnp.exp(log_std) * eps, -1.0, 1.0)


def apply_grads(tx, grads, opt_state, params):
  """One optax step: returns (new params, new optimiser state)."""
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def polyak(params, target, tau: float):
  """target <- tau * params + (1 - tau) * target."""
  return optax.incremental_update(params, target, tau)


def make_update_many(update: Callable, td_abs: Callable, batch_size: int, utd: int,
                     sampling_cfg, sample_mixed: Callable = replay.sample_mixed,
                     sample_online: Callable = replay.sample) -> Callable:
  """G = ``utd`` calls of ``update`` (lax.scan), then one beta update from a D_on batch.

  With an offline buffer, every batch is ``sample_mixed(offline, online, key, B, beta)``:
  round(beta B) rows of D_off and the rest of D_on, beta held by the loop's BetaState
  (the off-to-online baselines fix it at 0.5, the symmetric sampling of RLPD and Cal-QL).
  Without one, batches come from D_on only. info["td_error"] = ``td_abs`` on a separate
  batch of D_on after the G updates, fed to the beta rule, as for SAC. Without an offline
  buffer, or with a rule that cannot move beta (``sampling.beta_moves``: the fixed 0.5 of the
  off-to-online baselines), that batch and the beta update are skipped (decided at trace
  time): beta_state comes back unchanged and td_error is nan. info["beta"] is the beta after
  the call; the other entries are means over the G steps.
  """
  beta_moves = sampling.beta_moves(sampling_cfg)

  def update_many(state, beta_state, key, offline, online, aux):
    k_scan, k_batch, k_td = jax.random.split(key, 3)

    def body(st, k):
      k_sample, k_update = jax.random.split(k)
      if offline is None:
        batch = sample_online(online, k_sample, batch_size)
      else:
        batch = sample_mixed(offline, online, k_sample, batch_size, beta_state.beta)
      return update(st, k_update, batch, aux)

    state, infos = jax.lax.scan(body, state, jax.random.split(k_scan, utd))
    if offline is not None and beta_moves:
      delta = td_abs(state, k_td, sample_online(online, k_batch, batch_size), aux)
      beta_state = sampling.update_beta(beta_state, delta, sampling_cfg)
    else:
      delta = jnp.full((), jnp.nan, jnp.float32)
    info = jax.tree_util.tree_map(jnp.nanmean, infos)  # nan: step without that loss
    info.update(td_error=delta, beta=beta_state.beta)
    return state, beta_state, info

  return update_many


def assemble(cfg, *, init: Callable, act: Callable, act_deterministic: Callable,
             update: Callable, td_abs: Callable, losses: Callable,
             extras: Mapping[str, Callable], batch_size: Optional[int] = None) -> Agent:
  """The jitted Agent of an off-policy algorithm: its pure functions plus the G-update block
  of ``make_update_many`` (batch size ``cfg.agent.batch_size`` unless given, G =
  ``cfg.agent.utd``, beta from ``cfg.sampling``)."""
  batch = int(cfg.agent.batch_size if batch_size is None else batch_size)
  update_many = make_update_many(update, td_abs, batch, int(cfg.agent.utd), cfg.sampling)
  return jit_agent(Agent(init=init, act=act, act_deterministic=act_deterministic,
                         update=update, update_many=update_many, td_abs=td_abs, losses=losses,
                         extras=extras))


def jit_agent(agent: Agent) -> Agent:
  """Every function of ``agent`` jitted (jit inside jit/vmap/scan is free)."""
  return agent._replace(
      init=jax.jit(agent.init), act=jax.jit(agent.act),
      act_deterministic=jax.jit(agent.act_deterministic), update=jax.jit(agent.update),
      update_many=jax.jit(agent.update_many), td_abs=jax.jit(agent.td_abs),
      losses=jax.jit(agent.losses),
      extras={k: jax.jit(f) for k, f in agent.extras.items()},
      sample_offline=(None if agent.sample_offline is None
                      else jax.jit(agent.sample_offline, static_argnums=2)),
      tick=None if agent.tick is None else jax.jit(agent.tick))
