"""Network modules shared by the SAC agent and the baseline algorithms.

Ensembles are plain modules whose parameters are stacked along a leading member axis
(``init_ensemble``) and applied with ``jax.vmap`` (``apply_ensemble``), so one compiled program
evaluates every member.

Policies: ``Actor`` pairs an actor module with its two action rules (deterministic, sampled).
Agents act through it and expose it, and a policy artefact (``wombet_jax.harness.policy``)
rebuilds the same ``Actor`` from its kind, so an exported policy acts as the agent did.

Layer names are fixed ("hidden_i", "norm_i", "out") so tests and baselines can address them.
"""
import math
from typing import Callable, NamedTuple, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_STD_MIN = -10.0  # exp(-10) ~ 4.5e-5: near-deterministic actions still have finite log-probs
LOG_STD_MAX = 2.0    # exp(2) ~ 7.4 pre-tanh std already saturates tanh; larger only hurts
GAUSS_LOG_STD_MIN = -5.0  # std >= 6.7e-3: keeps log-likelihood weights of BC/AWR bounded
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def hidden_dims(hidden_size: int, num_layers: int) -> tuple:
  """(hidden_size,) * num_layers, validated."""
  if hidden_size < 1 or num_layers < 1:
    raise ValueError(f"hidden_size={hidden_size}, num_layers={num_layers}: both must be >= 1")
  return (int(hidden_size),) * int(num_layers)


class MLP(nn.Module):
  """Dense -> [LayerNorm] -> activation per hidden layer, then an optional linear output layer.

  ``layer_norm=True`` is the RLPD critic: normalising every hidden layer bounds the features,
  hence Q, for inputs far outside the data (paper eq. 8).
  """
  hidden: Sequence[int]
  out_dim: Optional[int] = None
  layer_norm: bool = False
  activation: Callable = nn.relu

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, h in enumerate(self.hidden):
      x = nn.Dense(h, name=f"hidden_{i}")(x)
      if self.layer_norm:
        x = nn.LayerNorm(name=f"norm_{i}")(x)
      x = self.activation(x)
    if self.out_dim is not None:
      x = nn.Dense(self.out_dim, name="out")(x)
    return x


class Critic(nn.Module):
  """Q(s, a): MLP on [obs, action] with LayerNorm after every hidden layer; output (...,)."""
  hidden: Sequence[int]
  layer_norm: bool = True

  @nn.compact
  def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
    x = jnp.concatenate([obs, action], axis=-1)
    return MLP(self.hidden, 1, self.layer_norm, name="mlp")(x)[..., 0]


class ValueNet(nn.Module):
  """V(s): MLP on obs; output (...,). For baselines that learn a state value (IQL)."""
  hidden: Sequence[int]
  layer_norm: bool = True

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    return MLP(self.hidden, 1, self.layer_norm, name="mlp")(obs)[..., 0]


class TanhGaussianActor(nn.Module):
  """pi(a|s) = tanh(N(mean(s), exp(log_std(s))^2)); returns (mean, log_std), log_std clipped."""
  act_dim: int
  hidden: Sequence[int]

  @nn.compact
  def __call__(self, obs: jax.Array):
    x = MLP(self.hidden, None, False, name="trunk")(obs)
    mean = nn.Dense(self.act_dim, name="mean")(x)
    log_std = nn.Dense(self.act_dim, name="log_std")(x)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class DeterministicActor(nn.Module):
  """a = tanh(MLP(s)) in [-1, 1]^act_dim. For deterministic-policy baselines (TD3)."""
  act_dim: int
  hidden: Sequence[int]

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    return jnp.tanh(MLP(self.hidden, self.act_dim, False, name="mlp")(obs))


def _log_one_minus_tanh_sq(x: jax.Array) -> jax.Array:
  """log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x)), stable for large |x|."""
  return 2.0 * (math.log(2.0) - x - jax.nn.softplus(-2.0 * x))


def tanh_gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array):
  """Reparameterised sample a = tanh(mean + std * eps) and its log-density log pi(a|s).

  eps = jax.random.normal(key, mean.shape); log pi sums over the last (action) axis.
  """
  eps = jax.random.normal(key, mean.shape, mean.dtype)
  pre = mean + jnp.exp(log_std) * eps
  log_prob = jnp.sum(-0.5 * eps ** 2 - _HALF_LOG_2PI - log_std - _log_one_minus_tanh_sq(pre),
                     axis=-1)
  return jnp.tanh(pre), log_prob


def tanh_gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array,
                           eps: float = 1e-6) -> jax.Array:
  """log pi(action|s) for a given action in [-1, 1] (BC, AWAC); actions are clipped off +-1."""
  pre = jnp.arctanh(jnp.clip(action, -1.0 + eps, 1.0 - eps))
  z = (pre - mean) * jnp.exp(-log_std)
  return jnp.sum(-0.5 * z ** 2 - _HALF_LOG_2PI - log_std - _log_one_minus_tanh_sq(pre), axis=-1)


def init_ensemble(module: nn.Module, key: jax.Array, num_members: int, *example_inputs):
  """Independently initialised parameters of ``num_members`` copies, stacked on axis 0."""
  if num_members < 1:
    raise ValueError(f"num_members={num_members}: must be >= 1")
  keys = jax.random.split(key, num_members)
  return jax.vmap(lambda k: module.init(k, *example_inputs))(keys)


def apply_ensemble(module: nn.Module, params, *inputs) -> jax.Array:
  """Every member on the same inputs, mapped over the stacked parameters; output has a
  leading member axis (N, ...)."""
  return jax.vmap(lambda p: module.apply(p, *inputs))(params)


class TanhMeanGaussianActor(nn.Module):
  """pi(a|s) = N(tanh(MLP(s)), exp(log_std)^2), log_std a state-independent parameter.

  The policy of the IQL/AWAC reference code: the mean is squashed, samples are clipped to
  [-1, 1] when acting, and log pi(a|s) of any a in [-1, 1] (also a = +-1) is finite, unlike a
  tanh-squashed *sample*, whose log-density is unbounded at the saturated actions (|a| = 1)
  that scripted or clipped data contain.
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


# Actor kinds and the algorithms that use them:
#   "tanh_gaussian" (SAC, WOMBET, RLPD, CQL, Cal-QL, MOPO, COMBO, PPO): deterministic action
#     tanh(mean); sampling draws tanh(mean + std eps).
#   "tanh_mean_gaussian" (BC, IQL, IQL->online, AWAC): the squashed mean; sampling draws
#     mean + std eps clipped to [-1, 1].
#   "deterministic" (TD3): tanh(MLP(s)); sampling adds N(0, noise^2), clipped to [-1, 1].
ACTOR_KINDS = ("tanh_gaussian", "tanh_mean_gaussian", "deterministic")


class Actor(NamedTuple):
  """A policy network of one of ``ACTOR_KINDS`` with its action rules."""
  kind: str
  module: nn.Module
  noise: float = 0.0  # exploration noise of the "deterministic" kind

  def init(self, key: jax.Array, obs: jax.Array):
    return self.module.init(key, obs)

  def apply(self, params, obs: jax.Array):
    return self.module.apply(params, obs)

  def deterministic(self, params, obs: jax.Array) -> jax.Array:
    """The evaluation action."""
    out = self.module.apply(params, obs)
    if self.kind == "tanh_gaussian":
      return jnp.tanh(out[0])
    return out[0] if self.kind == "tanh_mean_gaussian" else out

  def sample(self, params, key: jax.Array, obs: jax.Array) -> jax.Array:
    """The exploration action."""
    out = self.module.apply(params, obs)
    if self.kind == "tanh_gaussian":
      return tanh_gaussian_sample(key, *out)[0]
    if self.kind == "tanh_mean_gaussian":
      return gaussian_sample(key, *out)
    return jnp.clip(out + self.noise * jax.random.normal(key, out.shape, out.dtype), -1.0, 1.0)


def make_actor(kind: str, act_dim: int, hidden: Sequence[int], noise: float = 0.0) -> Actor:
  """The ``Actor`` of ``kind`` for ``act_dim`` actions with hidden layer sizes ``hidden``."""
  hidden = tuple(hidden)
  if kind == "tanh_gaussian":
    return Actor(kind, TanhGaussianActor(act_dim, hidden))
  if kind == "tanh_mean_gaussian":
    return Actor(kind, TanhMeanGaussianActor(act_dim, hidden))
  if kind == "deterministic":
    return Actor(kind, DeterministicActor(act_dim, hidden), float(noise))
  raise ValueError(f"actor kind {kind!r} is unknown; allowed: {list(ACTOR_KINDS)}")
