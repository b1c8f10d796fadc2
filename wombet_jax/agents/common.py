"""Pieces shared by the baseline agents (paper sec. 5): config checks, the Gaussian policy with
a tanh mean, optimiser steps, and ``assemble`` (an off-policy agent from its pure functions).

Every baseline follows the agent protocol of ``wombet_jax.agents.protocol``. Networks come from
``wombet_jax.networks``; only the Gaussian policy with a squashed *mean* (IQL, AWAC, BC, as in
their reference implementations) is defined here, because a tanh-squashed *sample* has an
unbounded log-density at the saturated actions (|a| = 1) that scripted or clipped data contain.
"""
from typing import Any, Callable, Mapping, Optional, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wombet_jax.agents import sac
from wombet_jax.agents.protocol import Agent, jit_agent, make_update_many
from wombet_jax.checks import Section, invalid
from wombet_jax.networks import MLP, LOG_STD_MAX, Critic, hidden_dims

GAUSS_LOG_STD_MIN = -5.0  # std >= 6.7e-3: keeps log-likelihood weights of BC/AWR bounded
_HALF_LOG_2PI = 0.5 * jnp.log(2.0 * jnp.pi)


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


def validate_baselines(cfg) -> None:
  """Raises UserError naming the first invalid field of the ``baselines`` config section."""
  s = Section(cfg, "baselines")
  s.integer("num_critics")
  s.boolean("layer_norm")


def twin_critic(config) -> tuple:
  """Critic module and member count from ``config.baselines`` (twin critics by default)."""
  b = config.baselines
  validate_baselines(b)
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


def assemble(cfg, *, init: Callable, act: Callable, act_deterministic: Callable,
             update: Callable, td_abs: Callable, losses: Callable,
             extras: Mapping[str, Callable], batch_size: Optional[int] = None,
             **hooks) -> Agent:
  """The jitted Agent of an off-policy algorithm: its pure functions plus the G-update block
  of ``protocol.make_update_many`` (batch size ``cfg.agent.batch_size`` unless given, G =
  ``cfg.agent.utd``, the TD batch decided by ``cfg.sampling``; means over the G steps ignore
  the losses an agent leaves nan on some steps). ``hooks``: the protocol's optional fields."""
  batch = int(cfg.agent.batch_size if batch_size is None else batch_size)
  update_many = make_update_many(update, td_abs, batch, int(cfg.agent.utd), cfg.sampling,
                                 ignore_nan=True)
  return jit_agent(Agent(init=init, act=act, act_deterministic=act_deterministic,
                         update=update, update_many=update_many, td_abs=td_abs, losses=losses,
                         extras=extras, **hooks))
