"""Fitting the ensemble (docs/method.md, step 1): bootstrapped Gaussian NLL, holdout early
stopping, elites.

The whole fit is one jittable function: a `lax.while_loop` over epochs (stopping after
`patience` epochs without holdout improvement, or at `max_epochs`), each epoch a `fori_loop`
whose trip count ceil(n_train / batch_size) is a traced value, so buffers of any fill level
share one compiled program. Nothing inside raises; a finite-flag in the metrics is turned into
an error on the host by `check_finite`.
"""
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from wombet_jax.errors import NonFiniteError
from wombet_jax import replay
from wombet_jax.world_model.networks import apply_per_member, apply_shared, fit_normalizer


def holdout_slots(capacity: int, fraction: float) -> np.ndarray:
  """Static bool (capacity,) marking holdout slots: every 1/fraction-th slot, interleaved.

  Slot i is holdout iff floor((i+1) f) > floor(i f), so any prefix [0, size) holds a fraction f
  of holdout rows (up to one row) and a circular buffer never needs a reshuffle.
  """
  i = np.arange(capacity, dtype=np.float64)
  eps = 1e-9  # guards e.g. 5 * 0.2 landing just below 1.0
  return np.floor((i + 1) * fraction + eps) > np.floor(i * fraction + eps)


def gaussian_nll(mean: jax.Array, logvar: jax.Array, target: jax.Array) -> jax.Array:
  """Elementwise Gaussian NLL up to the constant log(2 pi) and a factor 1/2 (PETS eq. 2)."""
  return jnp.square(mean - target) * jnp.exp(-logvar) + logvar


def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
  return jnp.all(jnp.stack(leaves))


class _EpochCarry(NamedTuple):
  params: Any
  opt_state: Any
  best_params: Any
  best_loss: jax.Array    # (E,) best holdout MSE so far, per member
  epoch: jax.Array        # int32, epochs run
  since: jax.Array        # int32, epochs since any member improved
  steps: jax.Array        # int32, SGD steps run
  train_loss: jax.Array   # mean training NLL of the last epoch
  finite: jax.Array       # bool, no NaN/inf seen so far
  bad_epoch: jax.Array    # int32, epoch of the first NaN/inf (-1: none)
  bad_step: jax.Array     # int32, step within that epoch (-1: in the holdout evaluation)
  key: jax.Array


def make_train(ensemble_size: int, num_elites: int, config: ml_collections.ConfigDict,
               optimizer: optax.GradientTransformation) -> Callable:
  """Returns train(state, key, data) -> (state, metrics); see `WorldModel.train`."""
  num_members, batch = ensemble_size, config.batch_size
  max_epochs, patience = config.max_epochs, config.patience
  threshold, bound_coef = config.improvement_threshold, config.logvar_bound_coef
  fraction = config.holdout_fraction

  def loss_fn(params, x, y, weight):
    """Sum over members of each member's mean NLL on its own batch, plus the bound penalty."""
    mean, logvar = apply_per_member(params, x)  # (E, B, obs_dim)
    nll = jnp.mean(gaussian_nll(mean, logvar, y), axis=-1)  # (E, B)
    per_member = jnp.sum(nll * weight, axis=-1) / jnp.maximum(jnp.sum(weight), 1.0)
    # PETS: keep the learned log-variance bounds tight, or they would never become active.
    bounds = bound_coef * (jnp.sum(params["max_logvar"]) - jnp.sum(params["min_logvar"]))
    return jnp.sum(per_member) + bounds, per_member

  def train(state, key: jax.Array, data: replay.Buffer):
    rows = data.data  # world_model.data.Rows
    capacity = rows.obs.shape[0]
    is_hold = holdout_slots(capacity, fraction)
    train_slots = jnp.asarray(np.flatnonzero(~is_hold), jnp.int32)
    hold_slots = jnp.asarray(np.flatnonzero(is_hold), jnp.int32)
    size = data.size.astype(jnp.int32)
    n_train = jnp.sum(train_slots < size, dtype=jnp.int32)
    n_hold = jnp.sum(hold_slots < size, dtype=jnp.int32)

    valid = (jnp.arange(capacity) < size)[:, None]
    obs, next_obs = rows.obs.astype(jnp.float32), rows.next_obs.astype(jnp.float32)
    inputs = jnp.concatenate([obs, rows.action.astype(jnp.float32)], axis=-1)
    targets = next_obs - obs  # the model predicts the state delta
    data_finite = (jnp.all(jnp.isfinite(inputs) | ~valid)
                   & jnp.all(jnp.isfinite(targets) | ~valid))
    # Stale or garbage rows beyond `size` must not reach the statistics or gradients.
    inputs, targets = jnp.where(valid, inputs, 0.0), jnp.where(valid, targets, 0.0)
    norm = fit_normalizer(inputs, targets, valid[:, 0] & jnp.asarray(~is_hold))
    x_all = (inputs - norm.in_mean) / norm.in_std
    y_all = (targets - norm.out_mean) / norm.out_std
    x_hold, y_hold = x_all[hold_slots], y_all[hold_slots]
    hold_weight = (hold_slots < size).astype(jnp.float32)

    def holdout_mse(params):
      """Per-member MSE of the mean on valid holdout rows (mbrl-lib ranks elites by it)."""
      mean, _ = apply_shared(params, x_hold)
      err = jnp.mean(jnp.square(mean - y_hold), axis=-1)  # (E, H)
      return jnp.sum(err * hold_weight, axis=-1) / jnp.maximum(n_hold, 1).astype(jnp.float32)

    key, boot_key = jax.random.split(key)
    n_cap = train_slots.shape[0]
    # Each member's bootstrap: n_cap i.i.d. draws from the valid training rows, fixed for the
    # fit; the first n_train of them form a bootstrap sample of the size of the data.
    draws = jax.random.randint(boot_key, (num_members, n_cap), 0, jnp.maximum(n_train, 1))
    boot = train_slots[draws]
    steps_per_epoch = (n_train + batch - 1) // batch
    position = jnp.arange(n_cap)

    def epoch_body(c: _EpochCarry) -> _EpochCarry:
      key, perm_key = jax.random.split(c.key)
      # Shuffle each member's bootstrap sample; positions >= n_train sort to the end.
      u = jnp.where(position < n_train, jax.random.uniform(perm_key, (num_members, n_cap)), 2.0)
      order = jnp.take_along_axis(boot, jnp.argsort(u, axis=-1), axis=-1)
      order = jnp.pad(order, ((0, 0), (0, batch)))  # the last batch may run past n_cap

      def sgd_step(i, sc):
        params, opt_state, finite, bad_step, loss_sum = sc
        rows = jax.lax.dynamic_slice_in_dim(order, i * batch, batch, axis=1)  # (E, B)
        weight = (i * batch + jnp.arange(batch) < n_train).astype(jnp.float32)
        (loss, per_member), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, x_all[rows], y_all[rows], weight)
        ok = jnp.isfinite(loss) & _all_finite(grads)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        bad_step = jnp.where(finite & ~ok, i, bad_step)
        return params, opt_state, finite & ok, bad_step, loss_sum + jnp.mean(per_member)

      params, opt_state, finite, bad_step, loss_sum = jax.lax.fori_loop(
          0, steps_per_epoch, sgd_step,
          (c.params, c.opt_state, c.finite, jnp.int32(-1), jnp.float32(0.0)))
      epoch = c.epoch + 1
      hold = holdout_mse(params)
      hold_ok = jnp.all(jnp.isfinite(hold))
      newly_bad = c.finite & ~(finite & hold_ok)
      # A member improves when its holdout loss drops by more than `threshold` (relative).
      # Without holdout rows there is nothing to compare, so the latest parameters are kept.
      improved = (c.best_loss - hold > threshold * jnp.abs(c.best_loss)) | (n_hold == 0)
      best_params = jax.tree.map(
          lambda b, p: jnp.where(improved.reshape((-1,) + (1,) * (p.ndim - 1)), p, b),
          c.best_params, params)
      return _EpochCarry(
          params=params, opt_state=opt_state, best_params=best_params,
          best_loss=jnp.where(improved, hold, c.best_loss), epoch=epoch,
          since=jnp.where(jnp.any(improved), 0, c.since + 1),
          steps=c.steps + steps_per_epoch,
          train_loss=loss_sum / jnp.maximum(steps_per_epoch, 1).astype(jnp.float32),
          finite=finite & hold_ok,
          bad_epoch=jnp.where(newly_bad, epoch, c.bad_epoch),
          bad_step=jnp.where(newly_bad, bad_step, c.bad_step), key=key)

    def cond(c: _EpochCarry) -> jax.Array:
      return (c.epoch < max_epochs) & (c.since < patience) & c.finite

    init_hold = holdout_mse(state.params)
    init_ok = jnp.all(jnp.isfinite(init_hold))
    carry = _EpochCarry(
        params=state.params, opt_state=state.opt_state, best_params=state.params,
        best_loss=init_hold, epoch=jnp.int32(0), since=jnp.int32(0), steps=jnp.int32(0),
        train_loss=jnp.float32(jnp.nan), finite=data_finite & init_ok,
        bad_epoch=jnp.where(data_finite & init_ok, -1, 0).astype(jnp.int32),
        bad_step=jnp.int32(-1), key=key)
    carry = jax.lax.while_loop(cond, epoch_body, carry)

    elites = jnp.argsort(carry.best_loss)[:num_elites].astype(jnp.int32)
    new_state = state.replace(params=carry.best_params, opt_state=carry.opt_state, norm=norm,
                              elites=elites, holdout_loss=carry.best_loss)
    metrics = {
        "holdout_loss": jnp.mean(carry.best_loss[elites]),  # normalised MSE, mean over elites
        "member_holdout_loss": carry.best_loss,
        "train_loss": carry.train_loss,
        "epochs": carry.epoch,
        "steps": carry.steps,
        "num_train": n_train,
        "num_holdout": n_hold,
        "finite": carry.finite,
        "data_finite": data_finite,
        "nonfinite_epoch": carry.bad_epoch,
        "nonfinite_step": carry.bad_step,
    }
    return new_state, metrics

  return train


def check_finite(metrics: dict, where: str, seeds: Sequence[int] | None = None) -> None:
  """Host side: raises errors.NonFiniteError (a ValueError) if a jitted fit reported NaN/inf,
  naming epoch and step.

  `metrics` may carry leading (seed) axes; the first failing seed is reported, by its number
  in `seeds` (one per entry of a single seed axis) when given, else by its index.
  """
  finite = np.asarray(jax.device_get(metrics["finite"]))
  if finite.all():
    return
  first = tuple(np.argwhere(~finite)[0])
  if seeds is not None and len(first) == 1:
    bad = [int(s) for s, ok in zip(seeds, finite) if not ok]
    seed_txt = f" (seed{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))})"
  else:
    seed_txt = f" (seed index {first[0] if len(first) == 1 else first})" if first else ""

  def at(name):
    value = metrics.get(name)
    return None if value is None else int(np.asarray(jax.device_get(value))[first])

  if "data_finite" in metrics and not np.asarray(jax.device_get(metrics["data_finite"]))[first]:
    raise NonFiniteError(f"{where}: the training data has NaN/inf in its valid rows{seed_txt}; "
                         "no training step was run")
  epoch, step = at("nonfinite_epoch"), at("nonfinite_step")
  if epoch is None:
    place = ""
  elif epoch == 0:
    place = " at epoch 0 (holdout loss of the initial parameters)"
  elif step is None or step < 0:
    place = f" at epoch {epoch} (holdout loss after the epoch)"
  else:
    place = f" at epoch {epoch}, step {step} of that epoch"
  raise NonFiniteError(f"{where}: non-finite loss or gradient{place}{seed_txt}; the model is "
                       "unusable (lower the learning rate or check the data scale)")
