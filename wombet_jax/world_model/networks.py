"""Stacked-ensemble Gaussian MLP of PETS (Chua et al., 2018) and its normaliser.

All E members share one pytree of parameters whose leaves carry a leading member axis E; a
member is applied with `apply_member` and the ensemble with `jax.vmap` over that axis, so no
Python loop over members exists anywhere.
"""
from typing import Any

import flax
import jax
import jax.numpy as jnp

Params = Any

# PETS / mbrl-lib initial values of the learned log-variance bounds (in normalised target units).
INIT_MAX_LOGVAR = 0.5
INIT_MIN_LOGVAR = -10.0
# Smallest standard deviation used for normalising; constant features get std 1 instead.
MIN_STD = 1e-6


@flax.struct.dataclass
class Normalizer:
  """Affine normalisation of model inputs (obs, action) and targets (state delta)."""
  in_mean: jax.Array   # (obs_dim + act_dim,)
  in_std: jax.Array    # (obs_dim + act_dim,)
  out_mean: jax.Array  # (obs_dim,)
  out_std: jax.Array   # (obs_dim,)


def identity_normalizer(in_dim: int, out_dim: int) -> Normalizer:
  """The normaliser of an untrained model: zero mean, unit std."""
  zeros, ones = jnp.zeros, jnp.ones
  return Normalizer(in_mean=zeros((in_dim,), jnp.float32), in_std=ones((in_dim,), jnp.float32),
                    out_mean=zeros((out_dim,), jnp.float32), out_std=ones((out_dim,), jnp.float32))


def _masked_moments(x: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  w = mask.astype(x.dtype)[:, None]
  n = jnp.maximum(jnp.sum(w), 1.0)
  mean = jnp.sum(x * w, axis=0) / n
  var = jnp.sum(jnp.square(x - mean) * w, axis=0) / n
  std = jnp.sqrt(var)
  # A feature that is constant in the data would otherwise be divided by ~0.
  return mean, jnp.where(std < MIN_STD, 1.0, std)


def fit_normalizer(inputs: jax.Array, targets: jax.Array, mask: jax.Array) -> Normalizer:
  """Mean/std of the rows selected by `mask` (N,); rows outside the mask do not count."""
  in_mean, in_std = _masked_moments(inputs, mask)
  out_mean, out_std = _masked_moments(targets, mask)
  return Normalizer(in_mean=in_mean, in_std=in_std, out_mean=out_mean, out_std=out_std)


def _truncated_normal(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
  # PETS initialisation: truncated normal (2 std) with std 1 / (2 sqrt(fan_in)).
  std = 1.0 / (2.0 * jnp.sqrt(fan_in))
  return std * jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)


def init_params(key: jax.Array, ensemble_size: int, in_dim: int, out_dim: int,
                hidden_size: int, num_layers: int) -> Params:
  """Stacked parameters of E Gaussian MLPs with `num_layers` hidden layers of `hidden_size`.

  Leaves: layers[i].w (E, fan_in, hidden), layers[i].b (E, hidden), head.w (E, hidden, 2 out),
  head.b (E, 2 out), max_logvar / min_logvar (E, out). Each member has its own bounds so that
  every leaf has the member axis and slicing elites is one `tree_map`.
  """
  sizes = [in_dim] + [hidden_size] * num_layers
  keys = jax.random.split(key, num_layers + 1)
  layers = []
  for i in range(num_layers):
    w = _truncated_normal(keys[i], (ensemble_size, sizes[i], sizes[i + 1]), sizes[i])
    layers.append({"w": w, "b": jnp.zeros((ensemble_size, sizes[i + 1]), jnp.float32)})
  head = {"w": _truncated_normal(keys[-1], (ensemble_size, hidden_size, 2 * out_dim), hidden_size),
          "b": jnp.zeros((ensemble_size, 2 * out_dim), jnp.float32)}
  return {
      "layers": layers,
      "head": head,
      "max_logvar": jnp.full((ensemble_size, out_dim), INIT_MAX_LOGVAR, jnp.float32),
      "min_logvar": jnp.full((ensemble_size, out_dim), INIT_MIN_LOGVAR, jnp.float32),
  }


def _dense(h: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
  """h @ w + b. With float32 weights exactly that program; with lower-precision weights (see
  `cast_weights`) the inputs are cast to their dtype and the products accumulate in float32,
  so everything after the matmul stays float32."""
  if w.dtype == h.dtype:
    return h @ w + b
  return jnp.matmul(h.astype(w.dtype), w, preferred_element_type=jnp.float32) + b


def cast_weights(params: Params, dtype) -> Params:
  """The weight matrices in `dtype` (e.g. bfloat16 for planning on an accelerator's matrix
  units); biases and log-variance bounds stay float32."""
  mask = weight_decay_mask(params)
  return jax.tree.map(lambda p, is_w: p.astype(dtype) if is_w else p, params, mask)


def apply_member(params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """One member (params without the E axis) on normalised inputs x (N, in).

  Returns the normalised delta mean (N, out) and log-variance (N, out), the latter squashed
  softly into [min_logvar, max_logvar] (PETS appendix A.1).
  """
  h = x
  for layer in params["layers"]:
    h = jax.nn.silu(_dense(h, layer["w"], layer["b"]))
  out = _dense(h, params["head"]["w"], params["head"]["b"])
  mean, raw_logvar = jnp.split(out, 2, axis=-1)
  max_lv, min_lv = params["max_logvar"], params["min_logvar"]
  logvar = max_lv - jax.nn.softplus(max_lv - raw_logvar)
  logvar = min_lv + jax.nn.softplus(logvar - min_lv)
  return mean, logvar


# All members on one shared batch x (N, in) -> (E, N, out).
apply_shared = jax.vmap(apply_member, in_axes=(0, None))
# Member e on its own batch x[e] (E, N, in) -> (E, N, out); used in training (bootstraps).
apply_per_member = jax.vmap(apply_member, in_axes=(0, 0))


def take_members(params: Params, members: jax.Array) -> Params:
  """The sub-ensemble `members` (K,) int32 of stacked params (e.g. the elites)."""
  return jax.tree.map(lambda p: p[members], params)


def weight_decay_mask(params: Params) -> Params:
  """True on weight matrices only: biases and log-variance bounds are not decayed."""
  def is_weight(path, _):
    return bool(path) and getattr(path[-1], "key", None) == "w"
  return jax.tree_util.tree_map_with_path(is_weight, params)
