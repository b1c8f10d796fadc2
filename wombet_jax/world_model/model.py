"""The world model's public face: `make_world_model` and the functions planner, filter and
critic call (predict, sample_next, next_from_noise, uncertainty). Trajectory sampling
(TS-inf/TS-1) is the planner's: it chooses the member that each particle's step uses.

Predictions are always made by the elites (the best K of E members by holdout loss).
"""
from typing import Any, Callable, NamedTuple, Optional

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from wombet_jax.checks import Section
from wombet_jax import replay
from wombet_jax.world_model.networks import (Normalizer, apply_member, apply_shared,
                                             identity_normalizer, init_params, take_members,
                                             weight_decay_mask)
from wombet_jax.world_model.training import make_train

UNCERTAINTY_KINDS = ("max_std", "disagreement")


@flax.struct.dataclass
class ModelState:
  """Everything a trained model is; a pytree (vmappable over seeds, saved by orbax)."""
  params: Any             # stacked, leading axis E (incl. max_logvar / min_logvar (E, obs_dim))
  opt_state: Any          # optax state of the params
  norm: Normalizer        # statistics of the data of the last fit
  elites: jax.Array       # int32 (num_elites,) member indices, best holdout loss first
  holdout_loss: jax.Array  # float32 (E,) best holdout MSE per member at the last fit


class WorldModel(NamedTuple):
  """Pure, jittable functions of a probabilistic ensemble; see `make_world_model`.

  init(key) -> state. train(state, key, data) -> (state, metrics): a full fit from the current
  parameters with holdout early stopping; recomputes the normaliser and reselects the elites;
  metrics hold holdout_loss, epochs, steps, finite (see training.make_train). predict(state,
  obs, act) -> per-elite (mean, var) of s', each (K, ..., obs_dim). sample_next(state, key, obs,
  act, member) -> s' (..., obs_dim) from elite `member` in [0, K). next_from_noise(state, eps,
  obs, act, member) -> the same sample for a given standard-normal draw eps (broadcastable to
  obs), mu + sigma * eps (the planner shares eps between candidates). uncertainty(state, obs,
  act) -> u (...,), of the kind fixed by config.uncertainty.
  """
  init: Callable[[jax.Array], ModelState]
  train: Callable[[ModelState, jax.Array, replay.Buffer], tuple[ModelState, dict]]
  predict: Callable[[ModelState, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
  sample_next: Callable[[ModelState, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
  next_from_noise: Callable[[ModelState, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
  uncertainty: Callable[[ModelState, jax.Array, jax.Array], jax.Array]
  num_elites: int
  # (state, eps, obs, act, member) -> (next_from_noise's s', uncertainty's u) from one pass of
  # all elites: the planner's stepping pass when it also needs u.
  next_and_uncertainty: Optional[Callable] = None


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises UserError naming the first invalid field of the ``world_model`` config section."""
  s = Section(config, "world_model")
  for f in ("ensemble_size", "num_elites", "hidden_size", "num_layers", "batch_size",
            "max_epochs", "patience", "capacity"):
    s.integer(f)
  s.at_most("num_elites", "ensemble_size")
  # A batch larger than the buffer would be mostly zero-weight padding rows: memory and
  # compute spent on nothing.
  s.at_most("batch_size", "capacity")
  s.number("learning_rate", 1e-8, 1.0)
  for f in ("weight_decay", "improvement_threshold", "logvar_bound_coef"):
    s.nonnegative(f)
  s.number("holdout_fraction", 0.01, 0.5)
  s.choice("uncertainty", UNCERTAINTY_KINDS)


def _check_last_dim(name: str, x: jax.Array, dim: int) -> None:
  if x.ndim < 1 or x.shape[-1] != dim:
    raise ValueError(f"{name} must have shape (..., {dim}), got {x.shape}")


def make_world_model(obs_dim: int, act_dim: int,
                     config: ml_collections.ConfigDict) -> WorldModel:
  """A PETS probabilistic ensemble predicting s' = s + delta, delta ~ N(mu, sigma^2).

  `config` is the `world_model` section of the experiment config. Sizes, the uncertainty kind
  and all hyper-parameters are static; the returned functions are pure and jittable, and
  vmappable over a leading seed axis of their state/key/data arguments.
  """
  validate_config(config)
  num_members, num_elites = config.ensemble_size, config.num_elites
  in_dim = obs_dim + act_dim
  # Coupled L2 weight decay before Adam, as torch.optim.Adam(weight_decay) in PETS/mbrl-lib.
  optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay, weight_decay_mask),
                          optax.adam(config.learning_rate))

  def init(key: jax.Array) -> ModelState:
    params = init_params(key, num_members, in_dim, obs_dim, config.hidden_size, config.num_layers)
    return ModelState(params=params, opt_state=optimizer.init(params),
                      norm=identity_normalizer(in_dim, obs_dim),
                      elites=jnp.arange(num_elites, dtype=jnp.int32),
                      holdout_loss=jnp.full((num_members,), jnp.inf, jnp.float32))

  def predict(state: ModelState, obs: jax.Array, act: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-elite mean and variance of s', each (K, ..., obs_dim), in raw state units."""
    _check_last_dim("obs", obs, obs_dim)
    _check_last_dim("act", act, act_dim)
    if obs.shape[:-1] != act.shape[:-1]:
      raise ValueError(f"obs {obs.shape} and act {act.shape} must share their batch shape")
    batch = obs.shape[:-1]
    obs_flat = obs.reshape((-1, obs_dim)).astype(jnp.float32)
    x = jnp.concatenate([obs_flat, act.reshape((-1, act_dim)).astype(jnp.float32)], axis=-1)
    norm = state.norm
    mean, logvar = apply_shared(take_members(state.params, state.elites),
                                (x - norm.in_mean) / norm.in_std)  # (K, N, obs_dim)
    mean_next = obs_flat + mean * norm.out_std + norm.out_mean
    var_next = jnp.exp(logvar) * jnp.square(norm.out_std)
    shape = (num_elites,) + batch + (obs_dim,)
    return mean_next.reshape(shape), var_next.reshape(shape)

  def next_from_noise(state: ModelState, eps: jax.Array, obs: jax.Array, act: jax.Array,
                      member: jax.Array) -> jax.Array:
    """s' = mu_m + sigma_m * eps for elite `member` (int, broadcastable to obs.shape[:-1]).

    eps: standard-normal draws broadcastable to obs. A scalar `member` runs only that elite
    (its weights gathered once): under the planner's vmap over member groups this becomes one
    batched matmul per layer, K times cheaper than evaluating every elite. Per-row members
    evaluate all elites and select.
    """
    member = jnp.asarray(member, jnp.int32)
    eps = jnp.asarray(eps, jnp.float32)
    if member.ndim == 0:
      _check_last_dim("obs", obs, obs_dim)
      _check_last_dim("act", act, act_dim)
      batch = obs.shape[:-1]
      obs_flat = obs.reshape((-1, obs_dim)).astype(jnp.float32)
      x = jnp.concatenate([obs_flat, act.reshape((-1, act_dim)).astype(jnp.float32)], axis=-1)
      norm = state.norm
      params = jax.tree.map(lambda p: p[state.elites[member]], state.params)
      mean, logvar = apply_member(params, (x - norm.in_mean) / norm.in_std)
      mu = obs_flat + mean * norm.out_std + norm.out_mean
      sigma = jnp.exp(0.5 * logvar) * norm.out_std
      eps_flat = jnp.broadcast_to(eps, obs.shape).reshape(mu.shape)
      return (mu + sigma * eps_flat).reshape(batch + (obs_dim,))
    mean, var = predict(state, obs, act)
    member = jnp.broadcast_to(member, obs.shape[:-1])
    pick = member[None, ..., None]
    mu = jnp.take_along_axis(mean, pick, axis=0)[0]
    sigma = jnp.sqrt(jnp.take_along_axis(var, pick, axis=0)[0])
    return mu + sigma * eps

  def sample_next(state: ModelState, key: jax.Array, obs: jax.Array, act: jax.Array,
                  member: jax.Array) -> jax.Array:
    """s' ~ N(mu_m, sigma_m^2) of elite `member`: next_from_noise with eps ~ N(0, I)."""
    return next_from_noise(state, jax.random.normal(key, obs.shape, jnp.float32), obs, act,
                           member)

  def uncertainty_of(mean: jax.Array, var: jax.Array) -> jax.Array:
    if config.uncertainty == "max_std":
      return jnp.max(jnp.linalg.norm(jnp.sqrt(var), axis=-1), axis=0)
    return jnp.linalg.norm(jnp.std(mean, axis=0), axis=-1)

  def uncertainty(state: ModelState, obs: jax.Array, act: jax.Array) -> jax.Array:
    """u(s, a) (...,): max_i ||sigma_i||_2 over elites (MOPO) or the ensemble disagreement.

    Disagreement is ||std_i(mu_i)||_2, the per-dimension std of the elites' means, normed.
    """
    return uncertainty_of(*predict(state, obs, act))

  def next_and_uncertainty(state: ModelState, eps: jax.Array, obs: jax.Array, act: jax.Array,
                           member: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(s', u): next_from_noise and uncertainty from one pass of all elites; the particle's
    own elite `member` steps it (mu + sigma * eps), all elites' outputs give u. Equal to the
    two calls to float rounding (sigma is sqrt(var) here, exp(logvar / 2) there)."""
    mean, var = predict(state, obs, act)
    member = jnp.broadcast_to(jnp.asarray(member, jnp.int32), obs.shape[:-1])
    pick = member[None, ..., None]
    mu = jnp.take_along_axis(mean, pick, axis=0)[0]
    sigma = jnp.sqrt(jnp.take_along_axis(var, pick, axis=0)[0])
    return mu + sigma * jnp.asarray(eps, jnp.float32), uncertainty_of(mean, var)

  return WorldModel(init=init, train=make_train(num_members, num_elites, config, optimizer),
                    predict=predict, sample_next=sample_next,
                    next_from_noise=next_from_noise, uncertainty=uncertainty,
                    num_elites=num_elites, next_and_uncertainty=next_and_uncertainty)
