"""The real transitions the world model is fitted on: a `replay.Buffer` of `Rows`.

The project has one circular buffer type (`wombet_jax.replay`); the model's data is one of
them, with rows (s, a, s'). Shapes never depend on how much data there is (rows [0, size) are
valid, written in slot order from slot 0 and then circularly over the oldest), so a fit
compiles once for the whole run; the holdout split is by slot (`training.holdout_slots`).
"""
import flax
import jax
import jax.numpy as jnp
import numpy as np

from wombet_jax import replay


@flax.struct.dataclass
class Rows:
  """One real transition (s, a, s') of the source or target task."""
  obs: jax.Array       # (obs_dim,)
  action: jax.Array    # (act_dim,)
  next_obs: jax.Array  # (obs_dim,)


def _positive_int(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name} must be a positive int, got {value!r}")
  return int(value)


def make_data(capacity: int, obs_dim: int, act_dim: int) -> replay.Buffer:
  """An empty buffer of `capacity` float32 rows."""
  capacity = _positive_int("capacity", capacity)
  obs_dim = _positive_int("obs_dim", obs_dim)
  act_dim = _positive_int("act_dim", act_dim)
  return replay.init_buffer(Rows(obs=jnp.zeros((obs_dim,), jnp.float32),
                                 action=jnp.zeros((act_dim,), jnp.float32),
                                 next_obs=jnp.zeros((obs_dim,), jnp.float32)), capacity)


def add_to_data(data: replay.Buffer, obs: jax.Array, action: jax.Array, next_obs: jax.Array,
                mask: jax.Array | None = None) -> replay.Buffer:
  """Appends the rows of (obs, action, next_obs) (n, dim) selected by `mask` (n,) bool, as
  `replay.add_batch` does (in order, overwriting the oldest rows once full). Pure and
  jittable; raises ValueError naming the array whose shape does not match the buffer."""
  n = obs.shape[0]
  rows = data.data
  for name, value in (("obs", obs), ("action", action), ("next_obs", next_obs)):
    expected = (n, getattr(rows, name).shape[-1])
    if value.shape != expected:
      raise ValueError(f"add_to_data: {name} has shape {value.shape}, expected {expected} "
                       "(rows, dim) matching the buffer")
  return replay.add_batch(data, Rows(obs=obs.astype(jnp.float32),
                                     action=action.astype(jnp.float32),
                                     next_obs=next_obs.astype(jnp.float32)), mask=mask)
